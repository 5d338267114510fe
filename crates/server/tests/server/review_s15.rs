//! Review S15 (adversarial pass on b05601d2, `governance::to_completion` /
//! `spawn_to_end` and the key-load lines). Each test feeds the hostile
//! case and failed on the code as reviewed (each was `#[ignore]`d with
//! its finding's id until fixed; all are fixed now).

use std::time::Duration;

use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::Server;
use passport_store::server::Database;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::kill_switch::{ROLES, admin_server, api, api_at, id_token};
use crate::review_s14::{slow_trigger, until};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Whether a record naming `action` is in `db`'s audit trail.
async fn audited(db: &Database, action: &str) -> bool {
    db.export_audit(&passport_audit::Filter::default(), 10_000)
        .await
        .unwrap()
        .iter()
        .any(|l| l.contains(action))
}

/// S15-1: an action handed over past its request's deadline (answered
/// 503 "handed over and is still running") lives on a detached task
/// (`governance::spawn_to_end`: `tokio::spawn`, nothing tracks it).
/// `Server::serve`'s graceful shutdown waits for connections only, so it
/// returns while the action still runs, and `passport serve` then ends
/// its runtime, which drops the task at its next await: here a
/// kill-switch engage whose write was slow is left without its
/// `kill_switch_engaged` record (and never reaches the revocation of
/// what the switch holds). The server runs here on a runtime of its own,
/// dropped when `serve` returns, as the CLI's is.
#[test]
fn an_action_handed_over_runs_to_its_end_when_the_server_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db").to_str().unwrap().to_owned();
    let test_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mock = test_rt.block_on(MockOidc::start());
    let (discovery, oidc_client) = (
        mock.discovery_url().to_string(),
        mock.client_id().to_string(),
    );
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_path = path.clone();
    let server_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let db = Database::open(&crate::test_database(&server_path).await, now())
                .await
                .unwrap();
            let provider = Provider::new(OidcConfig::new(discovery, oidc_client)).unwrap();
            let server = Server::builder(&url, db)
                .upstream(provider)
                .admin_roles(&ROLES)
                .request_timeout(Duration::from_millis(1500))
                .build()
                .await
                .unwrap();
            let agent = server
                .register_workload_client("alice", "files:read")
                .await
                .unwrap()
                .client_id;
            server
                .database()
                .execute_script_for_tests(&slow_trigger(
                    "slow_engage",
                    "AFTER INSERT ON kill_switches",
                    8,
                ))
                .await
                .unwrap();
            ready_tx.send((url, agent)).unwrap();
            server
                .serve(listener, async move {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
        // what `passport serve` does once `serve` has returned
        drop(rt);
    });
    let (url, agent) = ready_rx.recv_timeout(Duration::from_secs(120)).unwrap();
    let (status, body) = test_rt.block_on(async {
        let bob = id_token(&mock, "bob", &["owners"]);
        let r = api_at(
            &url,
            Some(&bob),
            Method::POST,
            "/admin/api/kill-switches",
            Some(json!({"kind": "agent", "subject": agent, "reason": "leaked"})),
        )
        .await;
        let status = r.status();
        (status, r.json::<Value>().await.unwrap())
    });
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the engage was to outlast its deadline and be handed over: {body}"
    );
    // the operator stops the server (Ctrl-C): it shuts down gracefully
    stop_tx.send(()).unwrap();
    server_thread.join().unwrap();
    let (engaged, recorded) = test_rt.block_on(async {
        let db = Database::open(&crate::test_database(&path).await, now())
            .await
            .unwrap();
        // given every chance to have finished
        let recorded = until(Duration::from_secs(10), || {
            audited(&db, "kill_switch_engaged")
        })
        .await;
        let engaged = db
            .engaged_kill_switch(None, None, &agent, "nobody", "none")
            .await
            .unwrap()
            .is_some();
        (engaged, recorded)
    });
    assert!(
        engaged && recorded,
        "answered 503 \"handed over and is still running\", then the server shut down \
         gracefully: switch engaged {engaged}, kill_switch_engaged recorded {recorded}"
    );
}

/// S15-2: the deadline's answer for an action handed over is 503
/// `temporarily_unavailable` with prose only, the same `error` as the
/// 503s that ask for the action to be sent again (a kill-switch engage's
/// "engage it again to finish", a database failure): a client cannot tell
/// "do not resend blindly, it is running" from "resend". Every other
/// deadline answer names its condition first (`request_timeout: ...`);
/// this one must too (and be listed in docs/error-codes.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_handed_over_answer_names_its_condition() {
    let (mock, s) = admin_server(|b| b.request_timeout(Duration::from_millis(1500))).await;
    let agent = s.workload("files:read").await.client_id;
    let db = s.server.database();
    db.execute_script_for_tests(&slow_trigger(
        "slow_engage",
        "AFTER INSERT ON kill_switches",
        8,
    ))
    .await
    .unwrap();
    let bob = id_token(&mock, "bob", &["owners"]);
    let r = api(
        &s,
        Some(&bob),
        Method::POST,
        "/admin/api/kill-switches",
        Some(json!({"kind": "agent", "subject": agent, "reason": "leaked"})),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    // the writer finishes what it was given before the test ends
    until(Duration::from_secs(60), || async {
        audited(db, "kill_switch_engaged").await
    })
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    let code = description
        .split_once(": ")
        .map(|(code, _)| code)
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
    assert!(
        code.is_some(),
        "the handed-over answer names no condition a client can tell from a 503 that asks \
         for the action again: {body}"
    );
}

/// S15-3: a kill-switch engage takes no place among the running actions
/// (`governance::Place::Exempt`) and nothing else bounded it: no limiter
/// guarded the admin API (`/admin/api/*`, nor the dashboard's forms), and
/// an engage of a switch already engaged is done again in full. Each one
/// writes a `kill_switch_engaged` record and leaves a task waiting, with
/// no deadline (`kill_switch::engage_to_end`, the `acquire_owned` of a
/// place), to revoke what the switch holds: with the eight places busy
/// those tasks pile up without bound, and every lift, revocation,
/// decision and identity change queued behind them waits until its
/// deadline and is dropped unstarted. Here one `resource_owner` — the
/// least of the operators' roles — re-engages its own principal's switch
/// 120 times in a burst: past its actor's rate (`DEFAULT_ADMIN_RATE`, a
/// burst of 60) it is refused 429 with `Retry-After`, nothing written but
/// one record of the refusal; another operator's engage is not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_owners_engages_are_bounded_by_a_request_rate() {
    let (mock, s) = admin_server(|b| b).await;
    let mallory = id_token(&mock, "mallory", &["owners"]);
    let mut answers = std::collections::BTreeMap::new();
    let mut retry_after = None;
    let started = std::time::Instant::now();
    for _ in 0..120 {
        let r = api(
            &s,
            Some(&mallory),
            Method::POST,
            "/admin/api/kill-switches",
            Some(json!({"kind": "principal", "subject": "mallory", "reason": "again"})),
        )
        .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = r.headers().get("retry-after").cloned();
        }
        *answers.entry(r.status().as_u16()).or_insert(0u32) += 1;
    }
    // what the rate refilled meanwhile (one a second)
    let refilled = started.elapsed().as_secs() as usize + 1;
    // another operator, sending while the first is limited
    let bob = id_token(&mock, "bob", &["owners"]);
    let theirs = api(
        &s,
        Some(&bob),
        Method::POST,
        "/admin/api/kill-switches",
        Some(json!({"kind": "principal", "subject": "mallory", "reason": "incident"})),
    )
    .await
    .status();
    let lines = s
        .server
        .database()
        .export_audit(&passport_audit::Filter::default(), 10_000)
        .await
        .unwrap();
    let records = lines
        .iter()
        .filter(|l| l.contains("kill_switch_engaged"))
        .count();
    let refusals = lines
        .iter()
        .filter(|l| l.contains("\"refuse\"") && l.contains("admin_rate_limit"))
        .count();
    let burst = passport_server::DEFAULT_ADMIN_RATE.burst as usize;
    assert!(
        answers.contains_key(&429) && retry_after.is_some(),
        "120 engages of one switch by one owner, none refused 429 with Retry-After: \
         answers {answers:?}, {records} kill_switch_engaged records"
    );
    assert_eq!(
        theirs,
        StatusCode::OK,
        "another operator's engage was refused"
    );
    assert!(
        (burst + 1..=burst + refilled + 1).contains(&records) && (1..=refilled).contains(&refusals),
        "the owner's engages within its rate and bob's are recorded ({records}), the \
         refusals once a run ({refusals}): answers {answers:?}"
    );
}

/// S15-4: `rate_limit::address_key` (which the key-load lines read too,
/// `client_metadata::lines_of`) maps only IPv4-mapped addresses
/// (`::ffff:a.b.c.d`) to IPv4. IPv4 clients seen through a stateless
/// translator in front of an IPv6-only server (SIIT-DC, RFC 7755: the
/// well-known prefix `64:ff9b::/96`, RFC 6052) and IPv4-compatible
/// addresses (`::a.b.c.d`) all fall in ONE /64: every IPv4 client shares
/// one address bucket and one key-load line, so one of them exhausts the
/// bucket of all (and its load flood queues ahead of all in the /64
/// line). The limiter is the public face of `address_key`: two IPv4
/// clients must not share a bucket however the address reaches the
/// server.
#[test]
fn ipv4_clients_behind_a_translator_do_not_share_one_bucket() {
    use passport_server::rate_limit::{RateLimit, RateLimiter};
    let clock = std::sync::Arc::new(passport_claims::ManualClock::new(1_000));
    let mut shared = Vec::new();
    for (a, b) in [
        ("64:ff9b::102:304", "64:ff9b::506:708"),
        ("::1.2.3.4", "::5.6.7.8"),
    ] {
        let limiter = RateLimiter::new(
            RateLimit {
                burst: 1,
                per_second: 0.001,
            },
            1024,
            clock.clone(),
        );
        limiter.check_address(a.parse().unwrap()).unwrap();
        if limiter.check_address(b.parse().unwrap()).is_err() {
            shared.push(format!("{a} and {b}"));
        }
    }
    // the IPv4-mapped form is sound: it is its IPv4 address
    let limiter = RateLimiter::new(
        RateLimit {
            burst: 1,
            per_second: 0.001,
        },
        1024,
        clock,
    );
    limiter.check_address("1.2.3.4".parse().unwrap()).unwrap();
    assert!(
        limiter
            .check_address("::ffff:1.2.3.4".parse().unwrap())
            .is_err()
    );
    assert!(
        shared.is_empty(),
        "two IPv4 clients share one bucket: {shared:?}"
    );
}
