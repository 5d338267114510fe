//! `Database::status_list_entries`: what the token service's status-list
//! endpoint publishes, on both databases.

use std::sync::Arc;

use passport_store::server::{Database, KillKind, PassportEntry};

use crate::common::{NOW, entry, on_both};

on_both!(
    status_list_entries_name_the_revoked_indices,
    the_version_moves_with_every_revocation_and_the_space,
);

const URI: &str = "https://issuer.example/status/1";

async fn record(db: &Database, jti: &str, parent: Option<&str>) -> u64 {
    let idx = db.allocate_status_index(URI).await.unwrap();
    db.record_issued(PassportEntry {
        status_idx: Some(idx),
        ..entry(jti, parent)
    })
    .await
    .unwrap();
    idx
}

async fn status_list_entries_name_the_revoked_indices(db: Arc<Database>) {
    let space = passport_store::INITIAL_INDEX_SPACE;
    // an unknown list: nothing handed out, nothing revoked
    assert_eq!(db.status_list_entries(URI).await.unwrap(), (space, vec![]));
    let root = record(&db, "root", None).await;
    let child = record(&db, "child", Some("root")).await;
    let other = record(&db, "other", None).await;
    assert_eq!(db.status_list_entries(URI).await.unwrap(), (space, vec![]));
    // every index handed out is inside the space
    assert!(root < space && child < space && other < space);

    // a cascade shows at once, the other passport stays valid
    db.revoke_cascade("root", NOW + 1).await.unwrap();
    let (size, revoked) = db.status_list_entries(URI).await.unwrap();
    assert_eq!(size, space);
    let mut expected = vec![root, child];
    expected.sort_unstable();
    assert_eq!(revoked, expected);
    assert!(!revoked.contains(&other));
    // another list is unaffected
    assert_eq!(
        db.status_list_entries("https://issuer.example/status/2")
            .await
            .unwrap(),
        (space, vec![])
    );
}

/// The version a served list is kept under moves with every revocation
/// (one passport, a cascade, a kill-switch's) and with the index space,
/// and not with an issuance inside the space; a snapshot's entries are
/// those of its version.
async fn the_version_moves_with_every_revocation_and_the_space(db: Arc<Database>) {
    let space = passport_store::INITIAL_INDEX_SPACE;
    let v0 = db.status_list_version(URI).await.unwrap();
    assert_eq!(v0.space, space);
    let root = record(&db, "root", None).await;
    record(&db, "child", Some("root")).await;
    let held = record(&db, "held", None).await;
    // issuance inside the space: the list says the same
    let v1 = db.status_list_version(URI).await.unwrap();
    assert_eq!(v1, v0);
    assert_eq!(db.status_list_snapshot(URI).await.unwrap(), (v1, vec![]));

    db.revoke_cascade("root", NOW + 1).await.unwrap();
    let v2 = db.status_list_version(URI).await.unwrap();
    assert!(v2.revocations > v1.revocations, "{v2:?}");
    let (snap, revoked) = db.status_list_snapshot(URI).await.unwrap();
    assert_eq!(snap, v2);
    assert!(revoked.contains(&root) && !revoked.contains(&held));
    // nothing more to revoke: no move
    db.revoke_cascade("root", NOW + 2).await.unwrap();
    assert_eq!(db.status_list_version(URI).await.unwrap(), v2);

    // a kill-switch's revocation moves it too
    db.revoke_subject(KillKind::Agent, "agent-held", NOW + 3)
        .await
        .unwrap();
    let v3 = db.status_list_version(URI).await.unwrap();
    assert!(v3.revocations > v2.revocations, "{v3:?}");
    assert!(
        db.status_list_snapshot(URI)
            .await
            .unwrap()
            .1
            .contains(&held)
    );

    // more places handed out than half the space: it grows, so does the version
    let half = usize::try_from(space / 2).unwrap();
    db.allocate_status_indices(URI, half).await.unwrap();
    let v4 = db.status_list_version(URI).await.unwrap();
    assert_eq!(v4.revocations, v3.revocations);
    assert!(v4.space > space, "{v4:?}");
    assert_ne!(v4, v3);
    let (snap, _) = db.status_list_snapshot(URI).await.unwrap();
    assert_eq!(snap, v4);
}
