//! Key lifecycle: one current key, retirement recorded with the rotation,
//! revocation withdraws at once, `max_exp` never lost.

use std::sync::Arc;

use passport_jose::{Algorithm, JWK_RETIRED_AT, SigningKey};
use passport_store::{RETENTION_SKEW, Signed, Store, StoreError};

use crate::common::{BoxError, NOW, allocate, store};

#[test]
fn rotation_retires_the_old_key_and_publishes_its_retirement() {
    let (_dir, store, old) = store();
    allocate(&store, "a", NOW + 600).unwrap();
    let new = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let retired = store.rotate(&new, NOW + 10).unwrap().unwrap();
    assert_eq!(
        (retired.kid.as_str(), retired.retired),
        (old.kid(), Some(NOW + 10))
    );
    assert_eq!(store.current_key().unwrap().unwrap().kid, new.kid());
    // The retired key stays published with its retirement time until the
    // last passport it signed has expired (plus the skew).
    let published = store.published_keys(NOW + 600 + RETENTION_SKEW).unwrap();
    let jwk = published
        .iter()
        .find(|k| k.kid == old.kid())
        .unwrap()
        .published_jwk();
    assert_eq!(jwk[JWK_RETIRED_AT], NOW + 10);
    let current = published.iter().find(|k| k.kid == new.kid()).unwrap();
    assert!(!current.published_jwk().contains_key(JWK_RETIRED_AT));
    let later = store.published_keys(NOW + 601 + RETENTION_SKEW).unwrap();
    assert_eq!(later.len(), 1);
    // Signing now uses the new key, never the retired one.
    let (kid, _) = allocate(&store, "b", NOW + 60).unwrap();
    assert_eq!(kid, new.kid());
}

#[test]
fn a_revoked_key_is_withdrawn_at_once_and_never_signs() {
    let (_dir, store, key) = store();
    allocate(&store, "a", NOW + 3600).unwrap();
    let revoked = store.revoke_key(key.kid(), NOW + 5).unwrap();
    assert_eq!(
        (revoked.retired, revoked.revoked),
        (Some(NOW + 5), Some(NOW + 5))
    );
    assert!(store.published_keys(NOW + 6).unwrap().is_empty());
    let err = allocate(&store, "b", NOW + 60).unwrap_err();
    let err = err.downcast_ref::<StoreError>().unwrap();
    assert_eq!(err.code(), "no_current_key");
    // Revoking again changes nothing; an unknown kid is an error.
    assert_eq!(
        store.revoke_key(key.kid(), NOW + 9).unwrap().revoked,
        Some(NOW + 5)
    );
    assert_eq!(
        store.revoke_key("nope", NOW).unwrap_err().code(),
        "unknown_key"
    );
    // A revoked retired key is not published either.
    let next = SigningKey::generate(Algorithm::EdDSA).unwrap();
    store.add_current_key(&next, NOW + 10).unwrap();
    let newer = SigningKey::generate(Algorithm::EdDSA).unwrap();
    allocate(&store, "c", NOW + 3600).unwrap();
    store.rotate(&newer, NOW + 20).unwrap();
    store.revoke_key(next.kid(), NOW + 30).unwrap();
    let kids: Vec<String> = store
        .published_keys(NOW + 31)
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, [newer.kid().to_owned()]);
}

#[test]
fn only_one_key_is_ever_current() {
    let (_dir, store, key) = store();
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    // A second "first key" loses to the existing one.
    assert_eq!(store.add_current_key(&other, NOW).unwrap().kid, key.kid());
    assert_eq!(store.rotate(&key, NOW).unwrap_err().code(), "duplicate_key");
    assert_eq!(store.current_key().unwrap().unwrap().kid, key.kid());
}

#[test]
fn a_failed_signature_changes_nothing() {
    let (_dir, store, key) = store();
    let out: Result<(), BoxError> =
        store.sign_with_current_key(NOW, Some(crate::common::URI), |_, a| {
            a.unwrap()
                .allocate(&crate::common::passport("x", NOW + 99, None))?;
            Err("the signer failed".into())
        });
    assert!(out.is_err());
    assert_eq!(store.key(key.kid()).unwrap().unwrap().max_exp, 0);
    assert!(store.status_records(crate::common::URI).unwrap().is_empty());
}

#[test]
fn threads_and_rotations_lose_no_max_exp_and_no_retirement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let first = SigningKey::generate(Algorithm::EdDSA).unwrap();
    Store::open(&path)
        .unwrap()
        .add_current_key(&first, NOW)
        .unwrap();
    let signed: Vec<(String, i64)> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..8i64 {
            let path = path.clone();
            handles.push(s.spawn(move || {
                // Each thread its own connection, as a separate process would.
                let store = Arc::new(Store::open(&path).unwrap());
                let mut out = Vec::new();
                for i in 0..10i64 {
                    if t == 0 && i % 3 == 0 {
                        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
                        store.rotate(&key, NOW + i).unwrap();
                        continue;
                    }
                    let exp = NOW + 1000 + t * 100 + i;
                    let kid = store
                        .sign_with_current_key(NOW, None, |key, _| {
                            Ok::<_, StoreError>(Signed {
                                value: key.kid.clone(),
                                iat: NOW,
                                exp,
                            })
                        })
                        .unwrap();
                    out.push((kid, exp));
                }
                out
            }));
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let store = Store::open(&path).unwrap();
    let keys = store.keys().unwrap();
    assert_eq!(keys.iter().filter(|k| k.is_current()).count(), 1);
    for (kid, exp) in signed {
        let key = keys.iter().find(|k| k.kid == kid).unwrap();
        assert!(key.max_exp >= exp, "{kid}: max_exp {} < {exp}", key.max_exp);
    }
}

#[test]
fn a_key_is_never_retired_before_a_passport_it_signed() {
    let (_dir, store, key) = store();
    // Signed at NOW + 50 by one process...
    store
        .sign_with_current_key(NOW + 50, None, |_, _| {
            Ok::<_, StoreError>(Signed {
                value: (),
                iat: NOW + 50,
                exp: NOW + 900,
            })
        })
        .unwrap();
    // ...while a rotation that read its clock earlier waited for the lock.
    let next = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let old = store.rotate(&next, NOW + 40).unwrap().unwrap();
    assert_eq!((old.kid.as_str(), old.retired), (key.kid(), Some(NOW + 50)));
    let revoked = store.revoke_key(next.kid(), NOW + 45).unwrap();
    assert_eq!(revoked.retired, Some(NOW + 45));
}
