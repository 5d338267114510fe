//! Status allocation: random, never reused (pruning included), growing;
//! transitions; the published list.

use std::collections::HashSet;

use passport_status::{INITIAL_INDEX_SPACE, RecordRef, Status};
use passport_store::{RETENTION_SKEW, Store, StoreError};

use crate::common::{NOW, URI, allocate, store};

#[test]
fn indices_are_random_and_never_handed_out_twice() {
    let (_dir, store, _key) = store();
    let mut seen = HashSet::new();
    for i in 0..100 {
        let (_, idx) = allocate(&store, &format!("j{i}"), NOW + 60).unwrap();
        assert!(idx < INITIAL_INDEX_SPACE);
        assert!(seen.insert(idx), "index {idx} handed out twice");
    }
    assert_eq!(store.index_space(URI).unwrap(), INITIAL_INDEX_SPACE);
    assert_eq!(store.status_records(URI).unwrap().len(), 100);
    // Not sequential: 100 random draws from 65536 are not 0..100.
    assert!(seen.iter().any(|i| *i >= 100));
}

#[test]
fn a_duplicate_jti_is_refused_and_leaves_no_record() {
    let (_dir, store, _key) = store();
    allocate(&store, "same", NOW + 60).unwrap();
    let err = allocate(&store, "same", NOW + 60).unwrap_err();
    assert_eq!(
        err.downcast_ref::<StoreError>().unwrap().code(),
        "duplicate_jti"
    );
    assert_eq!(store.status_records(URI).unwrap().len(), 1);
}

#[test]
fn revocation_is_final_and_only_a_suspension_is_lifted() {
    let (_dir, store, _key) = store();
    allocate(&store, "a", NOW + 60).unwrap();
    let a = RecordRef::Jti("a");
    let t = store.change_status(URI, a, Status::Valid, NOW).unwrap();
    assert!(t.after.is_none(), "a valid passport is not reinstated");
    let t = store
        .change_status(URI, a, Status::Invalid, NOW + 1)
        .unwrap();
    let after = t.after.unwrap();
    assert_eq!(
        (after.status, after.changed_at),
        (Status::Invalid, Some(NOW + 1))
    );
    for wanted in [Status::Valid, Status::Suspended] {
        let t = store.change_status(URI, a, wanted, NOW + 2).unwrap();
        assert!(t.after.is_none());
        assert_eq!(t.before.status, Status::Invalid);
    }
    assert_eq!(
        store
            .change_status(URI, RecordRef::Jti("nobody"), Status::Invalid, NOW)
            .unwrap_err()
            .code(),
        "unknown_passport"
    );
}

#[test]
fn the_published_list_carries_every_non_valid_record() {
    let (_dir, store, key) = store();
    let (_, revoked) = allocate(&store, "r", NOW + 60).unwrap();
    let (_, suspended) = allocate(&store, "s", NOW + 60).unwrap();
    let (_, valid) = allocate(&store, "v", NOW + 60).unwrap();
    store
        .change_status(URI, RecordRef::Jti("r"), Status::Invalid, NOW)
        .unwrap();
    store
        .change_status(URI, RecordRef::Index(suspended), Status::Suspended, NOW)
        .unwrap();
    let list = store.status_list(URI).unwrap();
    assert_eq!(list.get(revoked).unwrap(), Status::Invalid.value());
    assert_eq!(list.get(suspended).unwrap(), Status::Suspended.value());
    assert_eq!(list.get(valid).unwrap(), Status::Valid.value());
    assert_eq!(store.revoked(URI).unwrap().len(), 2);
    let token = store.publish(URI, &key, NOW, 300, 3600).unwrap();
    assert_eq!(token.split('.').count(), 3);
}

#[test]
fn pruning_clears_expired_records_but_never_frees_their_index() {
    let (dir, store, _key) = store();
    let (_, old) = allocate(&store, "old", NOW).unwrap();
    allocate(&store, "live", NOW + 10_000).unwrap();
    let pruned = store.prune(NOW + RETENTION_SKEW + 1).unwrap();
    assert_eq!(pruned.status_records, 1);
    assert!(
        store
            .status_record(URI, RecordRef::Jti("old"))
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .status_record(URI, RecordRef::Index(old))
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .status_record(URI, RecordRef::Jti("live"))
            .unwrap()
            .is_some()
    );
    // The row stays, so the pruned index is never drawn again.
    let raw = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
    let rows: i64 = raw
        .query_row(
            "SELECT COUNT(*) FROM status WHERE idx = ?1",
            [old as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1, "the pruned index stays taken");
    for i in 0..200 {
        let (_, idx) = allocate(&store, &format!("n{i}"), NOW + 60).unwrap();
        assert_ne!(idx, old);
    }
}

#[test]
fn the_schema_is_versioned_and_a_newer_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), Store::SCHEMA_VERSION);
    drop(store);
    // Re-opening applies nothing twice.
    assert_eq!(
        Store::open(&path).unwrap().schema_version().unwrap(),
        Store::SCHEMA_VERSION
    );
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", Store::SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    assert_eq!(Store::open(&path).unwrap_err().code(), "store_schema_newer");
}

#[test]
fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let (dir, _store, _key) = store();
    let mode = std::fs::metadata(dir.path().join("state.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Two publications in the same second, a revocation between them: the
/// second gets a strictly later `iat` and carries the revocation, so a
/// verifier that has seen it refuses the first as a rollback (it refuses only
/// a strictly older `iat`). The list is read in the same transaction that
/// takes the `iat`. (Found by the second adversarial review.)
#[test]
fn each_publication_of_a_list_has_a_strictly_later_iat() {
    let (_dir, store, key) = store();
    let (_, idx) = allocate(&store, "r", NOW + 600).unwrap();
    let iat_and_list = |token: &str| {
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&passport_jose::b64::decode(payload).unwrap()).unwrap();
        (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        )
    };
    let first = store.publish(URI, &key, NOW, 300, 3600).unwrap();
    store
        .change_status(URI, RecordRef::Jti("r"), Status::Invalid, NOW)
        .unwrap();
    let second = store.publish(URI, &key, NOW, 300, 3600).unwrap();
    let third = store.publish(URI, &key, NOW - 100, 300, 3600).unwrap();
    let (iat1, exp1) = iat_and_list(&first);
    let (iat2, exp2) = iat_and_list(&second);
    let (iat3, _) = iat_and_list(&third);
    assert_eq!(iat1, NOW);
    assert_eq!(iat2, NOW + 1, "the same second: one later");
    assert_eq!(iat3, NOW + 2, "a clock that went back: still later");
    assert_eq!((exp1 - iat1, exp2 - iat2), (3600, 3600));
    assert_eq!(
        store.status_list(URI).unwrap().get(idx).unwrap(),
        Status::Invalid.value()
    );
    // A later publication at a later time uses that time.
    let later = store.publish(URI, &key, NOW + 50, 300, 3600).unwrap();
    assert_eq!(iat_and_list(&later).0, NOW + 50);
}
