//! Migration 0011 on both databases: the revocation counter carries the
//! latest revocation's time (a status list's `iat` is never earlier than
//! the revocations it shows), and a dashboard session keeps the upstream
//! claim values its roles are mapped from.

use std::sync::Arc;

use passport_store::server::{AdminSessionRecord, Database, NewAdminSession, RoleClaim, TokenHash};

use crate::common::{NOW, entry, on_both};

on_both!(
    the_status_list_version_carries_the_latest_revocation_s_time,
    a_session_keeps_its_role_claim_values,
);

/// Set by the revocation that moves the counter; never moved backwards
/// by a revocation stamped earlier (an instance whose clock is behind).
async fn the_status_list_version_carries_the_latest_revocation_s_time(db: Arc<Database>) {
    let uri = "https://i.example/status/1";
    assert_eq!(db.status_list_version(uri).await.unwrap().revoked_at, 0);
    for jti in ["a", "b"] {
        db.record_issued(entry(jti, None)).await.unwrap();
    }
    db.revoke_cascade("a", NOW + 50).await.unwrap();
    let version = db.status_list_version(uri).await.unwrap();
    assert_eq!(version.revoked_at, NOW + 50);
    let (snapshot, _) = db.status_list_snapshot(uri).await.unwrap();
    assert_eq!(snapshot, version);
    db.revoke_cascade("b", NOW + 20).await.unwrap();
    let later = db.status_list_version(uri).await.unwrap();
    assert!(later.revocations > version.revocations);
    assert_eq!(later.revoked_at, NOW + 50);
}

/// A session `id` of `principal` with the role name `role`, an hour long.
fn session(id: &TokenHash, principal: &str, role: &str) -> NewAdminSession {
    NewAdminSession::new(
        id.clone(),
        principal,
        vec![role.into()],
        "csrf",
        NOW,
        NOW + 3600,
        600,
    )
}

/// Stores `new` and reads it back as a live session.
async fn stored(db: &Database, new: NewAdminSession) -> AdminSessionRecord {
    let id = new.id_hash.clone();
    db.insert_admin_session(new).await.unwrap();
    db.touch_admin_session(&id, NOW + 1).await.unwrap().unwrap()
}

async fn a_session_keeps_its_role_claim_values(db: Arc<Database>) {
    let claim = RoleClaim::new("groups", vec!["approvers".into(), "x y".into()]);
    let with = TokenHash::of("session-with");
    let record = stored(
        &db,
        session(&with, "april", "approver").with_role_claim(claim.clone()),
    )
    .await;
    assert_eq!(record.role_claim, claim);
    assert_eq!(record.roles, ["approver"]);
    // without claim values (as a session stored before 0011): none
    let without = TokenHash::of("session-without");
    let record = stored(&db, session(&without, "ada", "auditor")).await;
    assert_eq!(record.role_claim, RoleClaim::default());
}
