//! SPEC §5 item 12: a retired key signs nothing new, and no link lives
//! longer than the policy allows, so a stolen key cannot mint long-lived
//! passports.

use passport_jose::{JWK_RETIRED_AT, VerifyingKey};
use passport_testkit::*;
use passport_verifier::{PolicyError, VerificationPolicy, VerifyError};

/// Replaces the kit's key in its store with the same key retired at `at`.
fn retire(f: &Kit, at: i64) {
    let mut jwk = f.key.public_jwk().clone();
    jwk.insert(JWK_RETIRED_AT.into(), at.into());
    let retired = VerifyingKey::from_jwk_map(jwk).unwrap();
    assert_eq!(retired.retired_at(), Some(at));
    f.keys.insert(ISS, retired).unwrap();
}

#[test]
fn a_passport_issued_after_its_keys_retirement_is_refused() {
    let f = Kit::new();
    let before = f.root(&["files:read"]);
    f.clock.advance(10);
    let after = f.root(&["files:read"]);
    retire(&f, NOW + 5);
    // Issued before the retirement: still valid until it expires.
    f.verify(before.bundle()).unwrap();
    let err = f.verify(after.bundle()).unwrap_err();
    assert_eq!(err.code(), "key_retired");
    assert!(matches!(
        err,
        VerifyError::KeyRetired { iat, retired_at, .. } if iat == NOW + 10 && retired_at == NOW + 5
    ));
    // Issued exactly at the retirement time: still the key's last second.
    retire(&f, NOW + 10);
    f.verify(after.bundle()).unwrap();
}

#[test]
fn an_ancestor_issued_after_its_keys_retirement_is_refused_even_when_cached() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let verifier = f.verifier(f.policy());
    crate::cache_bundle(&verifier, grandchild.bundle());
    assert_eq!(verifier.cached_tokens(), 3);
    // Every link was issued at NOW; the key retired a second before.
    retire(&f, NOW - 1);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.link(), err.code()), (0, "key_retired"));
    // The ancestors alone (the child's bundle), from the cache: the same.
    let child_bundle = grandchild.bundle().split_once('~').unwrap().1;
    let err = verifier.verify_str(child_bundle).unwrap_err();
    assert_eq!(err.code(), "key_retired");
}

#[test]
fn lifetimes_above_the_policy_maximum_are_refused_on_every_link() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    // The kit's chain lives an hour at most: within the default 24 h.
    f.verify(grandchild.bundle()).unwrap();
    // A root forged (with the trusted key, as a thief would) to live 30 days.
    let mut r = root.claims().clone();
    r.exp = r.iat + 30 * 24 * 3600;
    let long_root = f.sign_passport(&r);
    let err = f.verify(&long_root).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::LifetimeTooLong { lifetime, max: 86_400 } if lifetime == 30 * 24 * 3600
    ));
    // The same as an ancestor: refused at its link.
    let mut c = child.claims().clone();
    c.parent_hash = Some(passport_jose::sha256_b64url(long_root.as_bytes()));
    let bundle = format!("{}~{long_root}", f.sign_passport(&c));
    let err = f.verify(&bundle).unwrap_err();
    assert_eq!((err.link(), err.code()), (1, "lifetime_too_long"));
    // A stricter policy refuses the kit's own passports past its limit.
    let lifetime = u64::try_from(root.claims().exp - root.claims().iat).unwrap();
    let strict = f.policy().max_lifetime(lifetime - 1);
    assert_eq!(
        f.verify_with(strict, root.bundle()).unwrap_err().code(),
        "lifetime_too_long"
    );
    f.verify_with(f.policy().max_lifetime(lifetime), root.bundle())
        .unwrap();
}

#[test]
fn max_lifetime_is_validated() {
    let policy = VerificationPolicy::new(ISS, AUD);
    assert_eq!(policy.max_lifetime, 86_400);
    assert_eq!(
        policy.clone().max_lifetime(0).validate(),
        Err(PolicyError::InvalidMaxLifetime(0))
    );
    let ceiling = passport_verifier::MAX_LIFETIME_CEILING;
    policy.clone().max_lifetime(ceiling).validate().unwrap();
    assert_eq!(
        policy.clone().max_lifetime(ceiling + 1).validate(),
        Err(PolicyError::InvalidMaxLifetime(ceiling + 1))
    );
    let err = passport_verifier::Verifier::new(
        policy.max_lifetime(0),
        passport_verifier::InMemoryKeyStore::new(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_policy");
}
