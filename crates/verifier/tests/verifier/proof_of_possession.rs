//! Sender-constrained passports: `cnf.jkt` binds each passport to its own
//! holder's key; a policy can require it.

use passport_jose::{Algorithm, SigningKey};
use passport_testkit::*;
use passport_verifier::Verification;
use serde_json::json;

fn jkt() -> String {
    SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .verifying_key()
        .thumbprint()
        .unwrap()
}

#[test]
fn a_child_is_bound_to_its_own_holder_not_the_parents() {
    let f = Kit::new();
    let (alice_key, bob_key) = (jkt(), jkt());
    let root = f
        .issuer
        .issue(issuance(alice(), AUD, "agent-a", "m", &["files:*"]).holder_jkt(&alice_key))
        .unwrap();
    assert_eq!(root.claims().cnf_jkt.as_deref(), Some(alice_key.as_str()));
    let parent = match f
        .verifier(f.policy())
        .verify_str_pending_proof(root.bundle())
        .unwrap()
    {
        Verification::ProofRequired(pending) => pending.confirm(&alice_key).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(parent.bound_jkt(), Some(alice_key.as_str()));
    let child = f
        .issuer
        .delegate(delegation(&parent, AUD, "agent-b", "m", &["files:read"]).holder_jkt(&bob_key))
        .unwrap();
    let strict = f.verifier(f.policy().require_proof_of_possession(true));
    let verified = match strict.verify_str_pending_proof(child.bundle()).unwrap() {
        Verification::ProofRequired(pending) => {
            assert_eq!(pending.bound_jkt(), bob_key);
            pending.confirm(&bob_key).unwrap()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(verified.bound_jkt(), Some(bob_key.as_str()));
    assert!(
        String::from_utf8(child.claims().to_json())
            .unwrap()
            .contains(&format!(r#""cnf":{{"jkt":"{bob_key}"}}"#))
    );
}

#[test]
fn a_policy_requiring_possession_refuses_bearer_passports() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let err = f
        .verify_with(f.policy().require_proof_of_possession(true), root.bundle())
        .unwrap_err();
    assert_eq!(err.code(), "pop_required");
    f.verify(root.bundle()).unwrap();
}

#[test]
fn unsupported_confirmation_methods_are_refused_not_ignored() {
    let f = Kit::new();
    for cnf in [
        json!({"jwk": {"kty": "OKP"}}),
        json!({"jkt": "a", "jwk": {}}),
        json!({"jkt": ""}),
        json!("jkt"),
        json!({}),
    ] {
        let token = f.sign_raw(&f.header(json!({})), &f.payload(json!({ "cnf": cnf })));
        let err = f.verify(&token).unwrap_err();
        assert_eq!(err.code(), "invalid_claim", "{cnf}");
    }
}

#[test]
fn the_issuer_refuses_a_holder_key_that_is_not_a_thumbprint() {
    let f = Kit::new();
    let err = f
        .issuer
        .issue(issuance(alice(), AUD, "a", "m", &[]).holder_jkt("not-a-thumbprint"))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");
}

/// A stolen bound bundle must not verify as a bearer token anywhere — not
/// only in the HTTP layer (review finding F1).
#[test]
fn a_bound_passport_never_verifies_as_a_bearer_token() {
    let f = Kit::new();
    let key = jkt();
    let root = f
        .issuer
        .issue(issuance(alice(), AUD, "a", "m", &["files:read"]).holder_jkt(&key))
        .unwrap();
    assert_eq!(
        f.verify(root.bundle()).unwrap_err().code(),
        "dpop_proof_required"
    );
    assert_eq!(
        f.verifier(f.policy())
            .verify(root.token(), &[])
            .unwrap_err()
            .code(),
        "dpop_proof_required"
    );
    // Pending a proof, another key's proof is refused.
    let Verification::ProofRequired(pending) = f
        .verifier(f.policy())
        .verify_str_pending_proof(root.bundle())
        .unwrap()
    else {
        panic!("a bound passport must be pending")
    };
    assert_eq!(
        pending.confirm(&jkt()).unwrap_err().code(),
        "dpop_key_mismatch"
    );
    // A bearer passport is simply verified.
    let bearer = f.root(&["files:read"]);
    assert!(matches!(
        f.verifier(f.policy())
            .verify_str_pending_proof(bearer.bundle())
            .unwrap(),
        Verification::Verified(_)
    ));
}

/// Delegating from a bound parent without binding the child would downgrade
/// a sender-constrained passport to a bearer one (review finding F2).
#[test]
fn a_bound_parents_child_must_name_its_own_holder_key() {
    let f = Kit::new();
    let key = jkt();
    let root = f
        .issuer
        .issue(issuance(alice(), AUD, "a", "m", &["files:*"]).holder_jkt(&key))
        .unwrap();
    let Verification::ProofRequired(pending) = f
        .verifier(f.policy())
        .verify_str_pending_proof(root.bundle())
        .unwrap()
    else {
        panic!("a bound passport must be pending")
    };
    let parent = pending.confirm(&key).unwrap();
    let err = f
        .issuer
        .delegate(delegation(&parent, AUD, "b", "m", &["files:read"]))
        .unwrap_err();
    assert_eq!(err.code(), "holder_key_required");
    f.issuer
        .delegate(delegation(&parent, AUD, "b", "m", &["files:read"]).holder_jkt(jkt()))
        .unwrap();
}
