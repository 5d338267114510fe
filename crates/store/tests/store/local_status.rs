//! `LocalStatus` answers from the issuer's own records, and refuses what it
//! cannot answer for.

use passport_claims::StatusReference;
use passport_status::{RecordRef, Status};
use passport_store::LocalStatus;
use passport_verifier::{LinkStatus, StatusSource};

use crate::common::{NOW, URI, allocate, passport, store};

#[test]
fn follows_the_records_status_through_suspend_revoke_and_reinstate() {
    let (_dir, store, _key) = store();
    let source = LocalStatus::new(store.clone(), URI);
    let (_, idx) = allocate(&store, "jti-1", NOW + 900).unwrap();
    let p = passport(
        "jti-1",
        NOW + 900,
        Some(StatusReference::new(idx, URI).unwrap()),
    );
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Valid);
    let jti = RecordRef::Jti("jti-1");
    store
        .change_status(URI, jti, Status::Suspended, NOW)
        .unwrap();
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Suspended);
    store.change_status(URI, jti, Status::Valid, NOW).unwrap();
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Valid);
    store.change_status(URI, jti, Status::Invalid, NOW).unwrap();
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Revoked);
}

#[test]
fn a_passport_without_status_is_valid() {
    let (_dir, store, _key) = store();
    let source = LocalStatus::new(store, URI);
    assert_eq!(
        source.status(&passport("j", NOW, None), 0).unwrap(),
        LinkStatus::Valid
    );
}

#[test]
fn another_list_is_refused() {
    let (_dir, store, _key) = store();
    let source = LocalStatus::new(store.clone(), URI);
    let (_, idx) = allocate(&store, "jti-1", NOW).unwrap();
    let elsewhere = StatusReference::new(idx, "https://other.example/status/1").unwrap();
    let err = source
        .status(&passport("jti-1", NOW, Some(elsewhere)), 0)
        .unwrap_err();
    assert_eq!(err.code, "status_uri_not_allowed");
}

#[test]
fn an_index_issued_to_another_passport_is_refused() {
    let (_dir, store, _key) = store();
    let source = LocalStatus::new(store.clone(), URI);
    let (_, idx) = allocate(&store, "jti-1", NOW).unwrap();
    allocate(&store, "jti-2", NOW).unwrap();
    // jti-2 claims jti-1's (valid) index, hoping to escape its own revocation.
    store
        .change_status(URI, RecordRef::Jti("jti-2"), Status::Invalid, NOW)
        .unwrap();
    let stolen = StatusReference::new(idx, URI).unwrap();
    let err = source
        .status(&passport("jti-2", NOW, Some(stolen)), 0)
        .unwrap_err();
    assert_eq!(err.code, "unknown_status_index");
    // And an index that was never handed out at all.
    let unissued = StatusReference::new(u64::MAX, URI).unwrap();
    let err = source
        .status(&passport("jti-1", NOW, Some(unissued)), 0)
        .unwrap_err();
    assert_eq!(err.code, "unknown_status_index");
}

#[test]
fn unreadable_state_fails_closed_and_keeps_its_cause() {
    let (dir, store, _key) = store();
    let source = LocalStatus::new(store.clone(), URI);
    let (_, idx) = allocate(&store, "jti-1", NOW).unwrap();
    // A row that is not what the store writes (another program's edit).
    let raw = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
    raw.execute("UPDATE status SET agent_id = NULL WHERE jti = 'jti-1'", [])
        .unwrap();
    let p = passport("jti-1", NOW, Some(StatusReference::new(idx, URI).unwrap()));
    let err = source.status(&p, 0).unwrap_err();
    assert_eq!(err.code, "status_state_unreadable");
    let cause = std::error::Error::source(&err).expect("the store's error is kept");
    assert!(
        cause.downcast_ref::<passport_store::StoreError>().is_some(),
        "{cause:?}"
    );
}
