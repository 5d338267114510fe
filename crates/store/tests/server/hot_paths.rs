//! What the token service's hot paths rely on, on both databases: the
//! revocation epoch moves with every revocation that changes something,
//! and status indices taken by blocks are never handed out twice; a
//! client is read with the epoch in one statement; a passport refused
//! (revoked or unknown parent, duplicate) changes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use passport_store::server::{ClientKind, Database, KeyMaterial, NewClient, NewSigningKey};

use crate::common::{NOW, entry, on_both};

on_both!(
    the_revocation_epoch_moves_with_each_revocation,
    status_indices_taken_by_blocks_are_distinct,
    a_client_is_read_with_the_epoch,
    a_refused_passport_changes_nothing,
);

/// The client (or none) and the epoch of the moment, in one read.
async fn a_client_is_read_with_the_epoch(db: Arc<Database>) {
    let (none, start) = db.client_and_epoch("rs").await.unwrap();
    assert!(none.is_none());
    assert_eq!(start, db.revocation_epoch().await.unwrap());
    db.insert_client(NewClient {
        client_id: "rs".into(),
        kind: ClientKind::Workload,
        secret_hash: Some("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0".into()),
        auth_method: "client_secret_basic".into(),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: "read".into(),
        owner: Some("alice".into()),
        jwks: None,
        metadata: "{}".into(),
        created_at: NOW,
    })
    .await
    .unwrap();
    let (found, epoch) = db.client_and_epoch("rs").await.unwrap();
    assert_eq!(found, db.client("rs").await.unwrap());
    assert_eq!(found.unwrap().owner.as_deref(), Some("alice"));
    assert_eq!(epoch, start);
    db.record_issued(entry("p", None)).await.unwrap();
    db.revoke_cascade("p", NOW + 1).await.unwrap();
    let (_, moved) = db.client_and_epoch("rs").await.unwrap();
    assert!(moved > start);
    assert_eq!(moved, db.revocation_epoch().await.unwrap());
}

/// A child of a revoked or unknown parent, or a duplicate, is refused with
/// its code and leaves no row and no raised `max_exp` behind.
async fn a_refused_passport_changes_nothing(db: Arc<Database>) {
    db.add_next_key(NewSigningKey {
        kid: "k1".into(),
        alg: "EdDSA".into(),
        private_key: KeyMaterial::new("secret".to_owned()),
        not_before: NOW,
        created_at: NOW,
    })
    .await
    .unwrap();
    db.promote_next_key(NOW).await.unwrap();
    let max_exp = || async { db.signing_keys().await.unwrap()[0].max_exp };
    db.record_issued(entry("root", None)).await.unwrap();
    assert_eq!(max_exp().await, NOW + 300);
    let mut later = entry("child", Some("root"));
    later.exp = NOW + 400;
    db.record_issued(later.clone()).await.unwrap();
    assert_eq!(max_exp().await, NOW + 400);
    let mut duplicate = later.clone();
    duplicate.exp = NOW + 500;
    let err = db.record_issued(duplicate).await.unwrap_err();
    assert_eq!(err.code(), "duplicate_passport");
    db.revoke_cascade("root", NOW + 1).await.unwrap();
    let mut orphan = entry("orphan", Some("nobody"));
    orphan.exp = NOW + 600;
    let err = db.record_issued(orphan).await.unwrap_err();
    assert_eq!(err.code(), "unknown_passport");
    let mut late = entry("late", Some("child"));
    late.exp = NOW + 700;
    let err = db.record_issued(late).await.unwrap_err();
    assert_eq!(err.code(), "parent_revoked");
    assert_eq!(max_exp().await, NOW + 400);
    assert!(db.passport("orphan").await.unwrap().is_none());
    assert!(db.passport("late").await.unwrap().is_none());
    assert_eq!(
        db.passport("child").await.unwrap().unwrap().entry.exp,
        NOW + 400
    );
}

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
