//! `LocalStatus` answers from the issuer's own records, and refuses what it
//! cannot answer for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use passport_claims::{AgentClaims, PassportClaims, ScopeSet, StatusReference};
use passport_status::{IndexAllocator, Status};
use passport_store::LocalStatus;
use passport_verifier::{LinkStatus, StatusSource};

const URI: &str = "https://issuer.local/status/1";

fn passport(jti: &str, status: Option<StatusReference>) -> PassportClaims {
    let mut p = PassportClaims::new(
        "https://issuer.local",
        "alice",
        "https://tool.example",
        jti,
        1_700_000_000,
        1_700_000_900,
        AgentClaims {
            agent_id: "bot".into(),
            agent_model: "m".into(),
            tool_scope: ScopeSet::empty(),
            task_purpose: None,
            parent_jti: None,
        },
    );
    p.status = status;
    p
}

fn setup() -> (tempfile::TempDir, Arc<IndexAllocator>, LocalStatus) {
    let dir = tempfile::tempdir().unwrap();
    let allocator = Arc::new(IndexAllocator::open(dir.path().join("status.json"), URI).unwrap());
    let source = LocalStatus::new(allocator.clone());
    (dir, allocator, source)
}

#[test]
fn follows_the_records_status_through_suspend_revoke_and_reinstate() {
    let (_dir, allocator, source) = setup();
    let record = allocator
        .allocate_record("jti-1", "bot", 1_700_000_900)
        .unwrap();
    let p = passport(
        "jti-1",
        Some(StatusReference::new(record.idx, URI).unwrap()),
    );
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Valid);
    allocator.set_status("jti-1", Status::Suspended).unwrap();
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Suspended);
    allocator.set_status("jti-1", Status::Valid).unwrap();
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Valid);
    allocator.set_status("jti-1", Status::Invalid).unwrap();
    assert_eq!(source.status(&p, 0).unwrap(), LinkStatus::Revoked);
}

#[test]
fn a_passport_without_status_is_valid() {
    let (_dir, _allocator, source) = setup();
    assert_eq!(
        source.status(&passport("j", None), 0).unwrap(),
        LinkStatus::Valid
    );
}

#[test]
fn another_list_is_refused() {
    let (_dir, allocator, source) = setup();
    let record = allocator.allocate_record("jti-1", "bot", 0).unwrap();
    let elsewhere = StatusReference::new(record.idx, "https://other.example/status/1").unwrap();
    let err = source
        .status(&passport("jti-1", Some(elsewhere)), 0)
        .unwrap_err();
    assert_eq!(err.code, "status_uri_unknown");
}

#[test]
fn an_index_issued_to_another_passport_is_refused() {
    let (_dir, allocator, source) = setup();
    let record = allocator.allocate_record("jti-1", "bot", 0).unwrap();
    allocator.allocate_record("jti-2", "bot", 0).unwrap();
    allocator.set_status("jti-1", Status::Valid).unwrap();
    // jti-2 claims jti-1's (valid) index, hoping to escape its own revocation.
    allocator.set_status("jti-2", Status::Invalid).unwrap();
    let stolen = StatusReference::new(record.idx, URI).unwrap();
    let err = source
        .status(&passport("jti-2", Some(stolen)), 0)
        .unwrap_err();
    assert_eq!(err.code, "unknown_status_index");
    // And an index that was never handed out at all.
    let unissued = StatusReference::new(u64::MAX, URI).unwrap();
    let err = source
        .status(&passport("jti-1", Some(unissued)), 0)
        .unwrap_err();
    assert_eq!(err.code, "unknown_status_index");
}
