//! Sender-constrained passports: `cnf.jkt` binds each passport to its own
//! holder's key; a policy can require it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use passport_claims::ScopeSet;
use passport_issuer::{DelegationRequest, IssuanceRequest};
use passport_jose::{Algorithm, SigningKey};
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
    let f = Fixture::new();
    let (alice_key, bob_key) = (jkt(), jkt());
    let assertion = passport_claims::IdentityAssertion::new("https://idp.example", "alice");
    let root = f
        .issuer
        .issue(
            IssuanceRequest::new(
                assertion,
                AUD,
                "agent-a",
                "m",
                ScopeSet::parse(["files:*"]).unwrap(),
            )
            .holder_jkt(&alice_key),
        )
        .unwrap();
    assert_eq!(root.claims().cnf_jkt.as_deref(), Some(alice_key.as_str()));
    let parent = f.verify(root.bundle()).unwrap();
    assert_eq!(parent.bound_jkt(), Some(alice_key.as_str()));
    let child = f
        .issuer
        .delegate(
            DelegationRequest::new(
                &parent,
                AUD,
                "agent-b",
                "m",
                ScopeSet::parse(["files:read"]).unwrap(),
            )
            .holder_jkt(&bob_key),
        )
        .unwrap();
    let verified = f
        .verify_with(f.policy().require_proof_of_possession(true), child.bundle())
        .unwrap();
    assert_eq!(verified.bound_jkt(), Some(bob_key.as_str()));
    assert!(
        String::from_utf8(child.claims().to_json())
            .unwrap()
            .contains(&format!(r#""cnf":{{"jkt":"{bob_key}"}}"#))
    );
}

#[test]
fn a_policy_requiring_possession_refuses_bearer_passports() {
    let f = Fixture::new();
    let root = f.root(&["files:read"]);
    let err = f
        .verify_with(f.policy().require_proof_of_possession(true), root.bundle())
        .unwrap_err();
    assert_eq!(err.code(), "pop_required");
    f.verify(root.bundle()).unwrap();
}

#[test]
fn unsupported_confirmation_methods_are_refused_not_ignored() {
    let f = Fixture::new();
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
    let f = Fixture::new();
    let assertion = passport_claims::IdentityAssertion::new("https://idp.example", "alice");
    let err = f
        .issuer
        .issue(
            IssuanceRequest::new(assertion, AUD, "a", "m", ScopeSet::empty())
                .holder_jkt("not-a-thumbprint"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");
}
