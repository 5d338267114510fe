//! `Database::status_list_entries`: what the token service's status-list
//! endpoint publishes, on both databases.

use std::sync::Arc;

use passport_store::server::{Database, PassportEntry};

use crate::common::{NOW, entry, on_both};

on_both!(status_list_entries_name_the_revoked_indices);

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
