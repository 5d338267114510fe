//! Review S15c (adversarial pass on e385b253 and 5154e873 / 52128bf4:
//! shutdown tracking, the administrators' rate, `kill_switch::Revoking`,
//! read-only `open_existing`). Each test feeds the hostile case and fails
//! case and failed on the code as reviewed (each was `#[ignore]`d with
//! its finding's id until fixed; all are fixed now).

use std::time::Duration;

use passport_server::rate_limit::RateLimit;
use passport_store::server::Database;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::kill_switch::{admin_server, api, id_token};
use crate::review_s14::until;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn postgres() -> bool {
    std::env::var("PASSPORT_SERVER_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// S15c-1: `Server::serve` bounds the wait for the tasks handed over
/// (`SHUTDOWN_GRACE`), but not the drain of the connections before it:
/// axum's graceful shutdown waits for every response to end, and the
/// dashboard's event stream (`GET /admin/events`) only ends with its
/// session (up to 8 hours) — nothing ends it at shutdown. With one
/// dashboard open, `serve` never returns after its shutdown signal: the
/// places are closed (every administrator's action, a kill-switch engage
/// included, is answered 503 "shutting down") while the process stays up,
/// `Server::shutdown` is never reached, and a supervisor's SIGKILL then
/// drops the tracked tasks S15-1 meant to wait for. Here a second
/// listener serves the same server; once its shutdown signal is sent,
/// `serve` must return within `SHUTDOWN_GRACE` and a margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_returns_after_its_signal_while_a_dashboard_stream_is_open() {
    let a = crate::admin_session::admin().await;
    let cookie = a.session("ada").await;
    let (addr, stop, serving) = crate::endpoints::serve_until_told(&a.running.server).await;
    let url = format!("http://{addr}");
    // the stream is open: its first event has arrived
    let events = crate::review_s15d::dashboard_stream(&url, &cookie).await;
    stop.send(()).unwrap();
    let bound = passport_server::SHUTDOWN_GRACE + Duration::from_secs(10);
    let ended = tokio::time::timeout(bound, serving).await;
    drop(events);
    assert!(
        ended.is_ok(),
        "serve had not returned {bound:?} after its shutdown signal: an open event stream \
         holds the drain (and the process) without bound"
    );
}

/// S15c-2: a kill-switch engage is charged to the same per-actor bucket
/// as every other administrator's action (`Place::Exempt` is still
/// `limit`ed in `governance::to_completion`). An operator who has just
/// done a burst of other actions — lifts, revocations, decisions, as in
/// an incident — is refused the engage itself with 429 (the switch not
/// written: issuance goes on), though the engage's cost is bounded
/// otherwise (one revocation per switch, `Revoking`). An emergency stop
/// should not be starved by the same operator's other work: engages want
/// a bucket of their own. Here the rate is two actions, then almost
/// none; two lifts (404, but charged) take it, and the engage that
/// follows must still engage.
#[tokio::test]
async fn other_actions_do_not_starve_an_operators_kill_switch_engage() {
    let (mock, s) = admin_server(|b| {
        b.admin_rate_limit(RateLimit {
            burst: 2,
            per_second: 1.0 / 3600.0,
        })
    })
    .await;
    let agent = s.workload("files:read").await;
    let bob = id_token(&mock, "bob", &["owners"]);
    for subject in ["someone", "someone-else"] {
        let r = api(
            &s,
            Some(&bob),
            Method::POST,
            "/admin/api/kill-switches/lift",
            Some(json!({"kind": "agent", "subject": subject})),
        )
        .await;
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let r = api(
        &s,
        Some(&bob),
        Method::POST,
        "/admin/api/kill-switches",
        Some(json!({"kind": "agent", "subject": agent.client_id, "reason": "leaked"})),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(
        status,
        StatusCode::OK,
        "the emergency engage was refused after two other actions: {body}"
    );
    let engaged = s
        .server
        .database()
        .engaged_kill_switch(None, None, &agent.client_id, "nobody", "none")
        .await
        .unwrap();
    assert!(engaged.is_some(), "the switch was not engaged");
}

/// S15c-3: an engage of a switch whose revocation is running returns at
/// once, "engaged", nothing revoked, and queues nothing
/// (`kill_switch::Revoking`). If that running revocation then fails, no
/// revocation follows: the second engage — what an operator sends after
/// the first was answered 503 `action_handed_over` (still running) or
/// failed ("engage it again to finish") — was answered 200 and did
/// nothing, and every passport the subject held stays active until it
/// expires (issuance is blocked, the leaked ones are not revoked). Before
/// S15-3 a second engage ran its own revocation. PostgreSQL only: there
/// the second engage's writes run while the first revocation's
/// transaction is open (on SQLite the one writer orders them after it,
/// and the first's mark is gone by then).
#[tokio::test]
async fn a_revocation_that_fails_after_a_second_engage_is_run_again() {
    if !postgres() {
        return;
    }
    let (mock, s) = admin_server(|b| b.request_timeout(Duration::from_millis(1500))).await;
    let agent = s.workload("files:read").await;
    let leaked = s.mint(&agent, "files:read").await;
    assert!(s.active(&agent, &leaked).await);
    let db = s.server.database();
    // the first revocation is slow, then fails (a disk error, a lost
    // connection): its transaction is open for four seconds
    db.execute_script_for_tests(
        "CREATE FUNCTION fail_revoke_fn() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(4); RAISE EXCEPTION 'simulated failure'; END $$; \
         CREATE TRIGGER fail_revoke AFTER UPDATE ON registry FOR EACH ROW \
         EXECUTE FUNCTION fail_revoke_fn()",
    )
    .await
    .unwrap();
    let bob = id_token(&mock, "bob", &["owners"]);
    let engage = || {
        api(
            &s,
            Some(&bob),
            Method::POST,
            "/admin/api/kill-switches",
            Some(json!({"kind": "agent", "subject": agent.client_id, "reason": "leaked"})),
        )
    };
    let first = engage().await;
    assert_eq!(
        first.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the first engage was to be handed over at its deadline"
    );
    // the operator engages again, as told
    let second = engage().await;
    let status = second.status();
    let body: Value = second.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{body}");
    // the failure passes (DROP TRIGGER waits for the failing transaction)
    db.execute_script_for_tests("DROP TRIGGER fail_revoke ON registry")
        .await
        .unwrap();
    let revoked = until(Duration::from_secs(30), || async {
        !s.active(&agent, &leaked).await
    })
    .await;
    assert!(
        revoked,
        "the second engage was answered {status} ({body}) yet the leaked passport is still \
         active: the revocation it deferred to failed and none ran again"
    );
}

/// `path` beside which `suffix` would be (`-wal`, `-shm`).
fn beside(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    std::path::PathBuf::from(p)
}

/// Makes `path` a server's database and stops the server: the last
/// connection closed, SQLite removed its `-wal` and `-shm` (given a
/// moment: the writer's thread ends on its own). When the writer's
/// connection and a reader's close at the same moment, each still sees the
/// other's lock and neither checkpoints (seen under load, session 16): then
/// one more connection, opened and closed alone, does. Its URL.
async fn a_stopped_servers_database(path: &std::path::Path) -> String {
    let url = path.to_str().unwrap().to_owned();
    {
        let db = Database::open(&url, now()).await.unwrap();
        db.export_audit(&passport_audit::Filter::default(), 10)
            .await
            .unwrap();
    }
    let no_side_files =
        || async { !beside(path, "-wal").exists() && !beside(path, "-shm").exists() };
    if !until(Duration::from_secs(2), no_side_files).await {
        // it opens the write-ahead log when it first reads
        let alone = rusqlite::Connection::open(path).unwrap();
        let _: i64 = alone
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        drop(alone);
    }
    let gone = until(Duration::from_secs(10), no_side_files).await;
    assert!(gone, "precondition: the stopped server left no -wal/-shm");
    url
}

/// S15c-4: `open_existing` promises "no directory or file created", but
/// its read-only connections to a WAL database whose `-wal`/`-shm` files
/// are gone (the server stopped cleanly, or an auditor's copy of the
/// file alone) create both beside it — and, read-only, never remove them.
/// On an auditor's copy in a read-only directory (or one of another
/// owner) they cannot be created at all. SQLite only.
#[tokio::test]
async fn open_existing_creates_no_file_beside_a_wal_database() {
    if postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let url = a_stopped_servers_database(&path).await;
    let side = |suffix: &str| beside(&path, suffix);
    {
        let db = Database::open_existing(&url, now()).await.unwrap();
        db.export_audit(&passport_audit::Filter::default(), 10)
            .await
            .unwrap();
        db.verify_audit().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let created: Vec<String> = ["-wal", "-shm"]
        .into_iter()
        .filter(|s| side(s).exists())
        .map(|s| side(s).display().to_string())
        .collect();
    assert!(
        created.is_empty(),
        "open_existing (read-only, nothing created) left {created:?}"
    );
}

/// Makes `dir` unwritable (mode 0555; when that does not stop this
/// process — root — `chattr +i`), undone when dropped. `None` when
/// neither works here.
struct Unwritable(std::path::PathBuf, bool);

impl Unwritable {
    fn make(dir: &std::path::Path) -> Option<Unwritable> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = dir.join("probe");
        if std::fs::write(&probe, b"").is_err() {
            return Some(Unwritable(dir.to_owned(), false));
        }
        std::fs::remove_file(&probe).unwrap();
        let immutable = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        let guard = Unwritable(dir.to_owned(), immutable);
        (immutable && std::fs::write(&probe, b"").is_err()).then_some(guard)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        if self.1 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        }
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
    }
}

/// S15c-5: the read-only `open_existing` (review S15b-4, for an
/// auditor's copy) cannot read a WAL-mode database in a directory it may
/// not write when the `-wal`/`-shm` files are absent — what a cleanly
/// stopped server leaves, and what a copy of the file alone is: SQLite's
/// read-only WAL reader must create `-shm` (SQLITE_CANTOPEN, "unable to
/// open database file"). `passport audit verify --database` then fails on
/// evidence mounted read-only. SQLite only; skipped where the directory
/// cannot be made unwritable.
#[tokio::test]
async fn open_existing_reads_a_wal_database_in_a_read_only_directory() {
    if postgres() {
        return;
    }
    // on the build's disk: `/tmp` may be a tmpfs, where `chattr +i` (what
    // makes a directory unwritable to root) is not supported
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir(&evidence).unwrap();
    let path = evidence.join("server.db");
    let url = a_stopped_servers_database(&path).await;
    let Some(_unwritable) = Unwritable::make(&evidence) else {
        eprintln!("skipped: the directory cannot be made unwritable here");
        return;
    };
    let read = async {
        let db = Database::open_existing(&url, now()).await?;
        db.verify_audit().await
    }
    .await;
    assert!(
        read.is_ok(),
        "a read-only WAL database in a read-only directory could not be read: {read:?}"
    );
}

/// S15c-1, by anyone: the same unbounded drain without a session. A
/// stranger opens a connection and sends the start of a request head,
/// then nothing; after the shutdown signal `serve` waits for that
/// connection (the request's deadline only starts once its head is read),
/// so it does not return, the places stay closed (every administrator's
/// action answered 503) and `Server::shutdown` is never reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_returns_after_its_signal_while_a_stranger_sends_half_a_request() {
    use tokio::io::AsyncWriteExt as _;
    // the drain waits the request deadline and a second: a short one here
    let s = crate::endpoints::start_with(tempfile::tempdir().unwrap(), |b| {
        b.request_timeout(Duration::from_secs(2))
    })
    .await;
    let (addr, stop, serving) = crate::endpoints::serve_until_told(&s.server).await;
    let mut stranger = tokio::net::TcpStream::connect(addr).await.unwrap();
    stranger
        .write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // the connection is accepted and its head being read
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    let bound = passport_server::SHUTDOWN_GRACE + Duration::from_secs(10);
    let ended = tokio::time::timeout(bound, serving).await;
    drop(stranger);
    assert!(
        ended.is_ok(),
        "serve had not returned {bound:?} after its shutdown signal: a stranger's unfinished \
         request head holds the drain without bound"
    );
}
