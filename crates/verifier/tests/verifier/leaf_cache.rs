//! The signature cache serves the leaf as it serves ancestors: a bundle
//! presented again costs a hash, yet every time, policy, chain, key and
//! status rule runs again on each use, and a bound leaf still needs its
//! proof of possession every time. A leaf is kept the second time it is
//! verified (an ancestor the first): `crate::cache_bundle` verifies twice.

use std::sync::Arc;

use passport_jose::{JWK_RETIRED_AT, VerifyingKey};
use passport_testkit::*;
use passport_verifier::{LinkStatus, Verification};

#[test]
fn a_repeated_bundle_is_cached_leaf_and_ancestors() {
    let f = Kit::new();
    let [root, _, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy());
    verifier.verify_str(root.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 0, "a leaf seen once is not kept");
    verifier.verify_str(root.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 1, "a root alone, seen again, is");
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 2, "its ancestors at once");
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 3);
    let again = verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(verifier.cached_tokens(), 3);
    assert_eq!(again.agent_id(), "agent-c");
    assert_eq!(again.depth(), 3);
}

#[test]
fn time_rules_apply_to_a_cached_leaf() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy());
    crate::cache_bundle(&verifier, root.bundle());
    assert_eq!(verifier.cached_tokens(), 1);
    // Expired: 30 s of skew, then refused.
    f.clock.set(root.claims().exp + 30);
    verifier.verify_str(root.bundle()).unwrap();
    f.clock.set(root.claims().exp + 31);
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "expired"
    );
    // Not yet valid: the clock set back before `nbf` (= `iat`) beyond the skew.
    f.clock.set(root.claims().nbf - 31);
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "not_yet_valid"
    );
    f.clock.set(NOW);
    verifier.verify_str(root.bundle()).unwrap();
    assert_eq!(
        verifier.cached_tokens(),
        1,
        "served from the cache throughout"
    );
}

#[test]
fn the_audience_and_scope_rules_apply_to_a_cached_leaf() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    // Signature valid, audience not this verifier's: refused, and refused
    // again when the signature result comes from the cache (kept the
    // second time, used the third).
    let elsewhere = f.verifier(passport_verifier::VerificationPolicy::new(
        ISS,
        "https://other.example",
    ));
    for _ in 0..3 {
        let err = elsewhere.verify_str(root.bundle()).unwrap_err();
        assert_eq!(err.code(), "audience_mismatch");
    }
    assert_eq!(elsewhere.cached_tokens(), 1);
    let needs_mail = f.verifier(f.policy().required_scope("mail:send"));
    for _ in 0..3 {
        let err = needs_mail.verify_str(root.bundle()).unwrap_err();
        assert_eq!(err.code(), "scope_violation");
    }
    assert_eq!(needs_mail.cached_tokens(), 1);
}

#[test]
fn another_policy_shares_nothing_with_a_warm_verifier() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let lenient = f.verifier(f.policy());
    lenient.verify_str(grandchild.bundle()).unwrap();
    lenient.verify_str(grandchild.bundle()).unwrap();
    // A second verifier with a stricter policy: its own (empty) cache, its
    // own rules, whatever the first one learnt.
    let strict = f.verifier(f.policy().allowed_actors(["agent-a", "agent-b"]));
    assert_eq!(strict.cached_tokens(), 0);
    let err = strict.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.link(), err.code()), (0, "actor_not_allowed"));
    let other_issuer = f.verifier(passport_verifier::VerificationPolicy::new(
        "https://someone-else.example",
        AUD,
    ));
    assert_eq!(
        other_issuer
            .verify_str(grandchild.bundle())
            .unwrap_err()
            .code(),
        "untrusted_issuer"
    );
}

#[test]
fn a_cached_leaf_revoked_later_is_refused() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let table = Arc::new(StatusTable::default());
    let verifier = f.verifier(f.policy()).with_status_source(table.clone());
    verifier.verify_str(grandchild.bundle()).unwrap();
    verifier.verify_str(grandchild.bundle()).unwrap();
    table.set(&grandchild.claims().jti, LinkStatus::Revoked);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.link(), err.code()), (0, "revoked"));
    table.set(&grandchild.claims().jti, LinkStatus::Suspended);
    assert_eq!(
        verifier.verify_str(grandchild.bundle()).unwrap_err().code(),
        "suspended"
    );
}

#[test]
fn a_key_removed_or_replaced_takes_the_cached_leaf_with_it() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy());
    crate::cache_bundle(&verifier, root.bundle());
    assert_eq!(verifier.cached_tokens(), 1);
    f.keys.remove(ISS, f.key.kid());
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "unknown_kid"
    );
    assert_eq!(verifier.cached_tokens(), 0, "the entry died with its key");
    // Another key under the same kid: the cached result is not used, the
    // signature is checked against the new key and fails.
    let other = passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA).unwrap();
    let mut jwk = other.public_jwk().clone();
    jwk.insert("kid".into(), f.key.kid().into());
    f.keys
        .insert(ISS, VerifyingKey::from_jwk_map(jwk).unwrap())
        .unwrap();
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "bad_signature"
    );
}

#[test]
fn a_cached_leaf_issued_after_its_keys_retirement_is_refused() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let verifier = f.verifier(f.policy());
    crate::cache_bundle(&verifier, root.bundle());
    assert_eq!(verifier.cached_tokens(), 1);
    // The store learns the key's retirement: it republishes the key, which
    // gives a new key object, so the cached entry (tied to the old object)
    // is not used and the cold path refuses the leaf. (`retired_at` lives
    // in the immutable key object, so a hit — the very same object — sees
    // the retirement it was verified against; the hit path checks it again
    // all the same.)
    let mut jwk = f.key.public_jwk().clone();
    jwk.insert(JWK_RETIRED_AT.into(), (NOW - 1).into());
    f.keys
        .insert(ISS, VerifyingKey::from_jwk_map(jwk).unwrap())
        .unwrap();
    let err = verifier.verify_str(root.bundle()).unwrap_err();
    assert_eq!((err.link(), err.code()), (0, "key_retired"));
}

#[test]
fn chain_rules_apply_to_a_cached_leaf() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy());
    crate::cache_bundle(&verifier, grandchild.bundle());
    assert_eq!(verifier.cached_tokens(), 3);
    // The cached leaf without its ancestors.
    assert_eq!(
        verifier.verify_str(grandchild.token()).unwrap_err().code(),
        "chain_broken"
    );
    // The cached leaf with its grandparent in place of its parent.
    let skipped = format!("{}~{}", grandchild.token(), root.token());
    let err = verifier.verify_str(&skipped).unwrap_err();
    assert_eq!(err.code(), "chain_broken");
    assert!(matches!(
        err.root_cause(),
        passport_verifier::VerifyError::Chain { link: 0, .. }
    ));
    // The cached leaf of one chain on the cached parent of another.
    let [_, other_child, _] = f.chain3();
    let spliced = format!("{}~{}", grandchild.token(), other_child.bundle());
    assert_eq!(
        verifier.verify_str(&spliced).unwrap_err().code(),
        "chain_broken"
    );
    // The cached child presented as a leaf with a surplus parent behind its root.
    let surplus = format!("{}~{}", child.bundle(), root.token());
    assert_eq!(
        verifier.verify_str(&surplus).unwrap_err().code(),
        "chain_broken"
    );
    verifier.verify_str(grandchild.bundle()).unwrap();
}

#[test]
fn a_cached_bound_leaf_still_needs_its_proof_every_time() {
    let f = Kit::new();
    let holder = passport_jose::SigningKey::generate(passport_jose::Algorithm::ES256).unwrap();
    let jkt = holder.verifying_key().thumbprint().unwrap();
    let root = f
        .issuer
        .issue(issuance(alice(), AUD, "a", "m", &["files:read"]).holder_jkt(&jkt))
        .unwrap();
    let verifier = f.verifier(f.policy());
    for _ in 0..3 {
        assert_eq!(
            verifier.verify_str(root.bundle()).unwrap_err().code(),
            "dpop_proof_required"
        );
        let Verification::ProofRequired(pending) =
            verifier.verify_str_pending_proof(root.bundle()).unwrap()
        else {
            panic!("a cached bound passport must still be pending")
        };
        assert_eq!(
            pending.clone().confirm("another-key").unwrap_err().code(),
            "dpop_key_mismatch"
        );
        pending.confirm(&jkt).unwrap();
    }
    assert_eq!(verifier.cached_tokens(), 1);
}

#[test]
fn a_forged_token_reusing_a_cached_signature_is_not_served_from_the_cache() {
    let f = Kit::new();
    let [root, child, _] = f.chain3();
    let verifier = f.verifier(f.policy());
    crate::cache_bundle(&verifier, child.bundle());
    assert_eq!(verifier.cached_tokens(), 2);
    // A cached token's header and signature over a payload that lives a
    // second longer.
    let forge = |token: &str| {
        let (header, rest) = token.split_once('.').unwrap();
        let signature = rest.rsplit_once('.').unwrap().1;
        let mut claims = claims_of(token);
        claims.exp += 1;
        let forged = format!(
            "{header}.{}.{signature}",
            passport_jose::b64::encode(claims.to_json())
        );
        assert_ne!(forged, token);
        forged
    };
    let forged_leaf = forge(child.token());
    let err = verifier
        .verify_str(&format!("{forged_leaf}~{}", root.token()))
        .unwrap_err();
    assert_eq!((err.link(), err.code()), (0, "bad_signature"));
    // The same for a cached ancestor.
    let forged_root = forge(root.token());
    let err = verifier
        .verify_str(&format!("{}~{forged_root}", child.token()))
        .unwrap_err();
    assert_eq!((err.link(), err.code()), (1, "bad_signature"));
    assert_eq!(verifier.cached_tokens(), 2);
    verifier.verify_str(child.bundle()).unwrap();
}

#[test]
fn a_cached_leaf_keeps_its_header_type_for_the_chain_rules() {
    // Only an untyped child, under a policy accepting untyped passports, may
    // lack its parent hash: a hit must tell a typed leaf from an untyped
    // one exactly as the cold path does (the header it kept, not a guess).
    let f = Kit::new();
    let [root, child, _] = f.chain3();
    let verifier = f.verifier(f.policy().accept_untyped(true));
    let mut unbound = child.claims().clone();
    unbound.parent_hash = None;
    let typed = format!("{}~{}", f.sign_passport(&unbound), root.token());
    let untyped = format!(
        "{}~{}",
        f.sign_raw(
            &f.header(serde_json::json!({"typ": "JWT"})),
            &unbound.to_json()
        ),
        root.token()
    );
    for round in ["cold", "kept", "cached"] {
        let refused = verifier.verify_str(&typed).unwrap_err();
        assert_eq!(refused.code(), "chain_broken", "{round}: {refused}");
        verifier.verify_str(&untyped).unwrap();
    }
    assert_eq!(verifier.cached_tokens(), 3);
}

/// Only a verified signature is cached, for a leaf as for an ancestor
/// (`ancestor_cache::failures_are_not_cached` covers only the latter): a
/// leaf is admitted the second time it is verified, so a forged leaf is
/// presented more than twice, alone and over valid ancestors, and every
/// presentation is a miss refused for its signature.
#[test]
fn a_leaf_whose_signature_fails_is_never_cached() {
    let f = Kit::new();
    let [root, child, _] = f.chain3();
    let verifier = f.verifier(f.policy());
    let forge = |token: &str| {
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut raw = passport_jose::b64::decode(sig).unwrap();
        raw[5] ^= 4;
        format!("{input}.{}", passport_jose::b64::encode(raw))
    };
    let bad_root = forge(root.token());
    let bad_child = format!("{}~{}", forge(child.token()), root.token());
    let (_, counters, _) = observed(|| {
        for _ in 0..4 {
            for bundle in [&bad_root, &bad_child] {
                let err = verifier.verify_str(bundle).unwrap_err();
                assert_eq!((err.link(), err.code()), (0, "bad_signature"));
            }
        }
    });
    assert_eq!(counters.get("passport_verify_cache_total{result=hit}"), 0);
    assert_eq!(verifier.cached_tokens(), 0);
}
