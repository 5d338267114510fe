//! Findings of the third security review, on the token service's state.

use std::sync::Arc;
use std::time::Duration;

use passport_store::StoreError;
use passport_store::server::{Database, NewRefreshToken, RefreshSuccessor, TokenHash};

use crate::common::{Fixture, NOW, entry, on_both};

on_both!(a_revocation_whose_answer_was_lost_is_still_published);

fn successor(token: &str, jti: &str) -> RefreshSuccessor {
    RefreshSuccessor {
        token: TokenHash::of(token),
        passport_jti: jti.into(),
        expires_at: NOW + 3600,
        claims: None,
    }
}

async fn family_of_two(db: &Database, family: &str) {
    db.insert_refresh_token(NewRefreshToken {
        token: TokenHash::of(&format!("{family}-1")),
        family_id: family.into(),
        client_id: "client-1".into(),
        passport_jti: format!("{family}-p1"),
        scope: "read".into(),
        claims: "{}".into(),
        expires_at: NOW + 3600,
        created_at: NOW,
    })
    .await
    .unwrap();
    db.rotate_refresh(
        &TokenHash::of(&format!("{family}-1")),
        successor(&format!("{family}-2"), &format!("{family}-p2")),
        NOW + 1,
    )
    .await
    .unwrap();
}

/// A second connection holding an uncommitted row with `hash`: an insert
/// of the same hash by the store waits until it rolls back. Used to stall
/// a rotation between "token used" and "successor committed", as a slow
/// instance would.
async fn stall_insert_of(url: &str, hash: &TokenHash) -> tokio_postgres::Client {
    let (raw, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    raw.batch_execute("BEGIN").await.unwrap();
    raw.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, passport_jti, scope, \
         claims, expires_at, created_at) VALUES ($1, 'stall', 'c', 'x', '', '{}', 0, 0)",
        &[&hash.as_str()],
    )
    .await
    .unwrap();
    raw
}

/// Finding 1: on PostgreSQL a family revoked (by reuse, or by
/// `end_refresh_family`) while another instance rotates one of its
/// tokens missed the successor that rotation committed: the revocation's
/// snapshot predates the successor's row, so the family stayed alive
/// through it. Rotations and revocations of one family must be serialised.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_reuse_revocation_catches_a_successor_committed_concurrently() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let db = Arc::clone(&f.db);
    family_of_two(&db, "race").await;
    let raw = stall_insert_of(&f.url, &TokenHash::of("race-3")).await;

    // instance B rotates race-2 -> race-3, stalls on inserting race-3
    let b = {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            db.rotate_refresh(
                &TokenHash::of("race-2"),
                successor("race-3", "race-p3"),
                NOW + 2,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    // instance A sees race-1 replayed: the family must die, race-3 included
    let a = {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            db.rotate_refresh(
                &TokenHash::of("race-1"),
                successor("race-x", "race-px"),
                NOW + 3,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    raw.batch_execute("ROLLBACK").await.unwrap();
    let b = tokio::time::timeout(Duration::from_secs(10), b)
        .await
        .unwrap()
        .unwrap();
    let a = tokio::time::timeout(Duration::from_secs(10), a)
        .await
        .unwrap()
        .unwrap();
    assert!(b.is_ok(), "{b:?}");
    assert!(matches!(a, Err(StoreError::RefreshReused { .. })), "{a:?}");
    // the successor committed by B belongs to the revoked family
    let c = db
        .rotate_refresh(
            &TokenHash::of("race-3"),
            successor("race-4", "race-p4"),
            NOW + 4,
        )
        .await;
    assert_eq!(
        c.map(|g| g.family_id).unwrap_err().code(),
        "refresh_token_revoked"
    );
}

/// Finding 1, the operator's path: `end_refresh_family` during a
/// rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_family_revocation_catches_a_successor_committed_concurrently() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let db = Arc::clone(&f.db);
    family_of_two(&db, "fam").await;
    let raw = stall_insert_of(&f.url, &TokenHash::of("fam-3")).await;
    let b = {
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            db.rotate_refresh(
                &TokenHash::of("fam-2"),
                successor("fam-3", "fam-p3"),
                NOW + 2,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let a = {
        let db = Arc::clone(&db);
        tokio::spawn(async move { db.end_refresh_family("fam", NOW + 3).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    raw.batch_execute("ROLLBACK").await.unwrap();
    let b = tokio::time::timeout(Duration::from_secs(10), b)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), a)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(b.is_ok(), "{b:?}");
    let c = db
        .rotate_refresh(
            &TokenHash::of("fam-3"),
            successor("fam-4", "fam-p4"),
            NOW + 4,
        )
        .await;
    assert_eq!(
        c.map(|g| g.family_id).unwrap_err().code(),
        "refresh_token_revoked"
    );
}

/// Finding 5: an existing SQLite file was opened whatever its mode, and the
/// signing keys' private halves are stored in it in clear: a database file
/// created by the operator (`touch`, a restore, a copy under umask 022) was
/// readable by every local user. An existing file must be private, like
/// every other file the store trusts.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_refuses_an_existing_database_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = data.join("server.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Database::open(path.to_str().unwrap(), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "insecure_path", "{err}");
    // a private one opens
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    Database::open(path.to_str().unwrap(), NOW).await.unwrap();
}

/// Finding 6: `revoke_cascade` returns the status indices it revoked once
/// ("idempotent": a retry returns nothing), and the store had no query for
/// the revoked indices of a list. An instance that crashed between the
/// commit and publishing the list, or any other instance on the same
/// PostgreSQL database (each serves the status list), could never learn
/// them: verifiers would accept those passports until they expire. The
/// registry must answer which indices of a list are revoked.
async fn a_revocation_whose_answer_was_lost_is_still_published(db: Arc<Database>) {
    let uri = "https://issuer.example/status/1";
    let mut idx = Vec::new();
    for (jti, parent) in [("root", None), ("child", Some("root")), ("other", None)] {
        let mut e = entry(jti, parent);
        idx.push(db.allocate_status_index(uri).await.unwrap());
        e.status_idx = idx.last().copied();
        db.record_issued(e).await.unwrap();
    }
    // the answer is lost (the process dies before publishing)
    let _ = db.revoke_cascade("root", NOW + 5).await.unwrap();
    // the retry says nothing more ...
    assert!(db.revoke_cascade("root", NOW + 6).await.unwrap().is_empty());
    // ... but the list is built from the registry
    let mut revoked = idx[..2].to_vec();
    revoked.sort_unstable();
    assert_eq!(db.revoked_status_indices(uri).await.unwrap(), revoked);
    assert!(
        db.revoked_status_indices("https://issuer.example/status/2")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Finding 7: the token service hands out status indices 0, 1, 2, … per
/// list, so a passport's `status.idx` tells anyone who sees it how many
/// passports the server issued on that list before, and two passports'
/// indices their issuance order and the volume between them — what the
/// local issuer's allocator avoids with random indices (threat model: "a
/// list revealing issuance counts"; draft-ietf-oauth-status-list's privacy
/// considerations). Fix: a random index in the list's space, taken by an
/// insert that conflicts on (uri, idx) and retried (a migration 0002 adding
/// that table); the registry's unique (status_uri, status_idx) index
/// already refuses a reuse.
#[tokio::test]
async fn status_indices_reveal_no_issuance_count() {
    let f = Fixture::sqlite().await;
    let mut got = Vec::new();
    for _ in 0..16 {
        got.push(
            f.db.allocate_status_index("https://issuer.example/s/1")
                .await
                .unwrap(),
        );
    }
    let sequential: Vec<u64> = (0..16).collect();
    assert_ne!(got, sequential, "indices are a counter");
    assert!(got.iter().all(|&i| i < passport_store::INITIAL_INDEX_SPACE));
    let mut distinct = got.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), got.len(), "an index handed out twice");
}

/// A database migrated from schema 1 (the counter) keeps the indices the
/// counter handed out: the random draws never hand them out again.
#[tokio::test]
async fn indices_of_the_counter_are_kept_by_migration_0002() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let path = path.to_str().unwrap();
    drop(Database::open(path, NOW).await.unwrap());
    {
        // back to schema 1, with 30 indices from the counter of one list
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "DROP TABLE status_index; DELETE FROM schema_migrations WHERE version = 2; \
             INSERT INTO status_allocation (uri, next_idx) VALUES ('https://i.example/s', 30);",
        )
        .unwrap();
    }
    let db = Database::open(path, NOW).await.unwrap();
    assert_eq!(
        db.schema_versions().await.unwrap(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let idx = db
            .allocate_status_index("https://i.example/s")
            .await
            .unwrap();
        assert!(idx >= 30, "index {idx} of the counter handed out again");
        assert!(seen.insert(idx), "index {idx} handed out twice");
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM status_index WHERE uri = 'https://i.example/s' AND idx < 30",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 30);
    let counted: i64 = conn
        .query_row("SELECT next_idx FROM status_allocation", [], |r| r.get(0))
        .unwrap();
    assert_eq!(counted, 230);
}

/// Finding 9: the PostgreSQL backend connects with `NoTls` whatever the
/// URL says. Under libpq's default `sslmode=prefer` that is plain text
/// without a word, and the state that crosses the wire includes the
/// signing keys' private halves (`signing_keys.private_key`), client
/// secret hashes and codes' claims; `sslmode=require` cannot connect at
/// all. Until TLS is supported (tokio-postgres-rustls with the system
/// roots, `verify-full`), a database that is not on loopback or a Unix
/// socket must be refused before any byte is sent.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_over_the_network_without_tls_is_refused() {
    for url in [
        "postgres://passport:pw@db.invalid:5432/passport",
        "postgresql://passport@10.0.0.7/passport",
        "postgres://passport@[2001:db8::1]:5432/passport",
        // one of several hosts remote
        "postgres://passport@localhost,db.invalid/passport",
        // a loopback name, but the address connected to is remote
        "postgres://passport@localhost/passport?hostaddr=192.0.2.1",
        // TLS asked for explicitly, even on loopback: refused, not downgraded
        "postgres://passport@127.0.0.1/passport?sslmode=require",
        "postgres://passport@localhost/passport?sslmode=verify-ca",
        "postgres://passport@[::1]/passport?connect_timeout=1&sslmode=verify-full",
    ] {
        let err = Database::open(url, NOW).await.unwrap_err();
        assert_eq!(err.code(), "postgres_tls_required", "{url}: {err}");
        assert!(
            err.to_string()
                .contains("TLS to PostgreSQL is not supported yet")
        );
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}

/// Loopback and Unix sockets pass the TLS check (and then fail to connect
/// to nothing, with the ordinary PostgreSQL error).
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_on_loopback_or_a_socket_is_not_refused_for_tls() {
    for url in [
        "postgres://passport@127.0.0.2:1/passport?connect_timeout=1",
        "postgres://passport@[::1]:1/passport?connect_timeout=1&sslmode=disable",
        "postgres://passport@localhost:1/passport?connect_timeout=1&sslmode=prefer",
        "postgres://passport@%2Fnonexistent%2Fdir/passport?connect_timeout=1",
    ] {
        let err = Database::open(url, NOW).await.unwrap_err();
        assert_eq!(err.code(), "postgres_failed", "{url}: {err}");
    }
}
