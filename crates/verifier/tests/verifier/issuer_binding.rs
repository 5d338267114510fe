//! SPEC §5 item 5: every key belongs to exactly one issuer. A passport (any
//! link, cached or not) verifies only with a key of its own `iss`, so a
//! trusted issuer B — or whoever steals B's key — cannot mint as A.

use passport_claims::PassportClaims;
use passport_jose::{Algorithm, SigningKey, sha256_b64url};
use passport_testkit::*;
use passport_verifier::{InMemoryKeyStore, KeyStore, VerifyError};

const B: &str = "https://second.local";

/// `claims` with `iss` replaced by `iss`.
fn claiming(claims: &PassportClaims, iss: &str) -> PassportClaims {
    let mut c = claims.clone();
    c.iss = iss.into();
    c
}

fn unknown_kid_at(result: Result<passport_verifier::VerifiedPassport, VerifyError>, link: usize) {
    let err = result.unwrap_err();
    assert_eq!((err.link(), err.code()), (link, "unknown_kid"), "{err}");
    assert!(matches!(
        err.root_cause(),
        VerifyError::UnknownKey { iss, .. } if iss == ISS
    ));
}

#[test]
fn a_passport_signed_by_another_trusted_issuers_key_is_refused() {
    let f = Kit::new();
    let b_key = f.trust_second_issuer(B);
    let root = f.root(&["files:read"]);
    // Claims iss A, signed with B's key: both issuers trusted.
    let forged = Kit::sign_passport_with(&b_key, root.claims());
    let both = f.policy().trust_issuer(B);
    unknown_kid_at(f.verify_with(both.clone(), &forged), 0);
    // B's key still signs B's own passports.
    let own = Kit::sign_passport_with(&b_key, &claiming(root.claims(), B));
    f.verify_with(both, &own).unwrap();
}

#[test]
fn a_key_of_an_untrusted_issuer_in_the_store_signs_nothing() {
    let f = Kit::new();
    let b_key = f.trust_second_issuer(B);
    let root = f.root(&["files:read"]);
    // Only A is trusted, B's key is in the store: it cannot sign for A…
    unknown_kid_at(f.verify(&Kit::sign_passport_with(&b_key, root.claims())), 0);
    // …and B's own passports are refused before any key is looked for.
    let own = Kit::sign_passport_with(&b_key, &claiming(root.claims(), B));
    assert_eq!(f.verify(&own).unwrap_err().code(), "untrusted_issuer");
}

#[test]
fn a_delegation_signed_by_another_issuer_is_refused_at_its_link() {
    let f = Kit::new();
    let b_key = f.trust_second_issuer(B);
    let both = f.policy().trust_issuer(B);
    let [root, child, grandchild] = f.chain3();
    // The middle link of A's chain re-signed by B (claims unchanged: iss A).
    let forged_child = Kit::sign_passport_with(&b_key, child.claims());
    let mut g = grandchild.claims().clone();
    g.parent_hash = Some(sha256_b64url(forged_child.as_bytes()));
    let forged_leaf = f.sign_passport(&g);
    let bundle = format!("{forged_leaf}~{forged_child}~{}", root.token());
    unknown_kid_at(f.verify_with(both.clone(), &bundle), 1);
    // The leaf of A's chain signed by B.
    let forged_leaf = Kit::sign_passport_with(&b_key, grandchild.claims());
    let bundle = format!("{forged_leaf}~{}~{}", child.token(), root.token());
    unknown_kid_at(f.verify_with(both, &bundle), 0);
}

#[test]
fn a_cached_ancestor_is_looked_up_by_its_own_issuer() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    // A's second key signs the leaf, so the leaf stays valid below.
    let a2 = SigningKey::generate(Algorithm::EdDSA).unwrap();
    f.keys.insert(ISS, a2.verifying_key()).unwrap();
    let leaf = Kit::sign_passport_with(&a2, grandchild.claims());
    let bundle = format!("{leaf}~{}~{}", child.token(), root.token());
    let verifier = f.verifier(f.policy());
    crate::cache_bundle(&verifier, &bundle);
    assert_eq!(verifier.cached_tokens(), 3);
    // The ancestors' key (the very same key object) now belongs to B: the
    // cached ancestors, which claim A, must not be vouched for by it.
    let key = f.keys.remove(ISS, f.key.kid()).unwrap();
    f.keys.insert(B, key).unwrap();
    unknown_kid_at(verifier.verify_str(&bundle), 1);
}

#[test]
fn one_key_cannot_belong_to_two_issuers() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let store = InMemoryKeyStore::new();
    store.insert(ISS, key.verifying_key()).unwrap();
    // The same key material under another kid is still the same key.
    let mut jwk = key.public_jwk().clone();
    jwk.insert("kid".into(), "another-name".into());
    let renamed = passport_jose::VerifyingKey::from_jwk_map(jwk).unwrap();
    for attempt in [key.verifying_key(), renamed] {
        let err = store.insert(B, attempt).unwrap_err();
        assert_eq!(err.code(), "key_issuer_conflict");
        assert!(matches!(err, VerifyError::KeyIssuerConflict { .. }));
    }
    let set = passport_jose::JwkSet::from_keys([key.verifying_key()]).unwrap();
    assert_eq!(
        store.replace_all(B, &set).unwrap_err().code(),
        "key_issuer_conflict"
    );
    assert!(store.key(B, key.kid()).is_none());
    assert!(store.key(ISS, key.kid()).is_some());
    assert_eq!(store.issuers(), [ISS]);
}
