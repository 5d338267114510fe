//! What the token service's hot paths rely on, on both databases: the
//! revocation epoch moves with every revocation that changes something,
//! and status indices taken by blocks are never handed out twice.

use std::collections::BTreeSet;
use std::sync::Arc;

use passport_store::server::Database;

use crate::common::{NOW, entry, on_both};

on_both!(
    the_revocation_epoch_moves_with_each_revocation,
    status_indices_taken_by_blocks_are_distinct,
);

async fn the_revocation_epoch_moves_with_each_revocation(db: Arc<Database>) {
    let start = db.revocation_epoch().await.unwrap();
    db.record_issued(entry("root", None)).await.unwrap();
    db.record_issued(entry("child", Some("root")))
        .await
        .unwrap();
    // minting does not move it
    assert_eq!(db.revocation_epoch().await.unwrap(), start);
    db.revoke_cascade("child", NOW + 1).await.unwrap();
    let once = db.revocation_epoch().await.unwrap();
    assert!(once > start);
    // the cascade moves it again; a revocation that changes nothing not
    db.revoke_cascade("root", NOW + 2).await.unwrap();
    let twice = db.revocation_epoch().await.unwrap();
    assert!(twice > once);
    db.revoke_cascade("root", NOW + 3).await.unwrap();
    assert_eq!(db.revocation_epoch().await.unwrap(), twice);
}

async fn status_indices_taken_by_blocks_are_distinct(db: Arc<Database>) {
    let uri = "https://issuer.example/status/1";
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let db = Arc::clone(&db);
        tasks.spawn(async move { db.allocate_status_indices(uri, 64).await.unwrap() });
    }
    let mut seen = BTreeSet::new();
    while let Some(block) = tasks.join_next().await {
        let block = block.unwrap();
        assert_eq!(block.len(), 64);
        for idx in block {
            assert!(seen.insert(idx), "index {idx} handed out twice");
        }
    }
    // and a single allocation afterwards avoids them all
    let one = db.allocate_status_index(uri).await.unwrap();
    assert!(!seen.contains(&one));
    let (space, _) = db.status_list_entries(uri).await.unwrap();
    assert!(seen.iter().all(|&i| i < space));
}
