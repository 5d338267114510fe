//! Two passport-server instances on one PostgreSQL database act as one:
//! the same signing key, the same clients, one DPoP replay cache, one
//! registry and status list. Runs when `PASSPORT_TEST_DATABASE_URL` names a
//! cluster and passport-store has its `postgres` feature (`scripts/test.sh`,
//! or `--features passport-store/postgres`). Without them it fails, saying
//! how to run it, unless `PASSPORT_SKIP_POSTGRES=1` asks to skip it (the
//! rule of passport-store's own PostgreSQL tests): a test that cannot run
//! must not pass silently.

use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_server::Server;
use passport_store::server::Database;

use crate::endpoints::{Running, access_token, dpop_refused};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `None` when `PASSPORT_SKIP_POSTGRES=1` asks to skip (saying so);
/// otherwise a failure naming what is missing.
fn skip_or_fail(missing: &str) -> Option<String> {
    if std::env::var("PASSPORT_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("skipped: {missing} (PASSPORT_SKIP_POSTGRES=1)");
        return None;
    }
    panic!(
        "{missing}: run `scripts/test.sh` (it starts a throwaway PostgreSQL cluster and \
         turns on passport-store's postgres feature), or set PASSPORT_SKIP_POSTGRES=1 to \
         skip this test explicitly"
    );
}

/// A fresh database on the test cluster, or `None` (skipped on request).
async fn fresh_database() -> Option<String> {
    let url = match std::env::var("PASSPORT_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => return skip_or_fail("PASSPORT_TEST_DATABASE_URL is not set"),
    };
    match Database::create_scratch_postgres_database(&url).await {
        Ok(url) => Some(url),
        Err(e) if e.code() == "postgres_unsupported" => {
            skip_or_fail("passport-store was built without its postgres feature")
        }
        Err(e) => panic!("creating a test database: {e}"),
    }
}

/// An instance on `database` listening on its own port, under the shared
/// issuer name the instances serve as one.
async fn instance(
    database: &str,
    issuer: &str,
    listener: tokio::net::TcpListener,
) -> Option<Running> {
    let db = match Database::open(database, now()).await {
        Ok(db) => db,
        Err(e) if e.code() == "postgres_unsupported" => {
            skip_or_fail("passport-store was built without its postgres feature")?;
            return None;
        }
        Err(e) => panic!("{e}"),
    };
    let server = Server::builder(issuer, db).build().await.unwrap();
    Some(Running::serving(server, listener))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_act_as_one() {
    let Some(database) = fresh_database().await else {
        return;
    };
    // one issuer name for both (a load balancer's); each answers on its
    // own port, and DPoP proofs name the issuer's token endpoint
    let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", first.local_addr().unwrap());
    let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Some(a) = instance(&database, &issuer, first).await else {
        return;
    };
    let b = instance(&database, &issuer, second).await.unwrap();
    assert_eq!(a.server.kid(), b.server.kid(), "one signing key");

    let client = a.workload_of("alice", "files:read").await;
    // a DPoP proof spent at one instance is a replay at the other
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = key
        .proof("POST", &format!("{issuer}/token"), None, None, now())
        .unwrap();
    let r = a.client_credentials(&client, None, Some(&proof)).await;
    let bundle = access_token(r).await;
    let replay = b.client_credentials(&client, None, Some(&proof)).await;
    dpop_refused(replay, "replay:").await;

    // minted at one, introspected and revoked at the other, shown by both
    let answer = b.introspect(&client, &bundle).await;
    assert_eq!(answer["active"], true);
    b.revoke(&client, &bundle).await;
    let answer = a.introspect(&client, &bundle).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
}
