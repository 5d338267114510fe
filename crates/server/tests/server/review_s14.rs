//! Session-14 review r2 (findings 1, 2 and 4): governance defects, each
//! test failing on the code it was written against (685a2688) and passing
//! once fixed.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::kill_switch::{admin_server, api, id_token};

/// Waits until `done` holds, at most `bound` (checking every 100 ms);
/// whether it held. The slow commits below take as long as the machine
/// makes them: the tests wait for the write itself, not a guess of its
/// length.
pub(crate) async fn until<F, Fut>(bound: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + bound;
    loop {
        if done().await {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A trigger making the write it follows (`on`: `AFTER INSERT ON …`,
/// optionally `… WHEN condition`) slow, `n` times a moment of work, as a
/// busy disk or a large batch makes a commit slow: on SQLite, work in the
/// trigger; on PostgreSQL (`PASSPORT_SERVER_TEST_BACKEND=postgres`), a
/// row trigger that sleeps.
pub(crate) fn slow_trigger(name: &str, on: &str, n: usize) -> String {
    if std::env::var("PASSPORT_SERVER_TEST_BACKEND").as_deref() == Ok("postgres") {
        let (event, when) = match on.split_once(" WHEN ") {
            Some((event, condition)) => (event, format!("WHEN ({condition}) ")),
            None => (on, String::new()),
        };
        let seconds = 0.6 * n as f64;
        return format!(
            "CREATE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep({seconds}); RETURN NEW; END $$; \
             CREATE TRIGGER {name} {event} FOR EACH ROW {when}EXECUTE FUNCTION {name}_fn()"
        );
    }
    let work = "SELECT length(replace(hex(zeroblob(40000000)), '0', '1')); ".repeat(n);
    format!("CREATE TRIGGER {name} {on} BEGIN {work}END")
}

async fn post(
    s: &crate::endpoints::Running,
    bearer: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    api(s, Some(bearer), Method::POST, path, Some(body)).await
}

/// Finding 1: `identities::update` reads the identity, computes the
/// change and the self rules on that copy, and writes EVERY field back
/// with an unconditional `UPDATE … WHERE agent_id = $7`. A change that
/// reads the identity before another administrator's change commits
/// writes the stale fields over it: carol's acknowledged disable (and her
/// removal of the identity's role) is silently undone by the owner's
/// harmless team change — the owner re-enables its own identity and gives
/// it its role back, which `self_grant` refuses when asked directly.
///
/// The trigger only widens the window the SQLite writer's group commit
/// (and PostgreSQL's READ COMMITTED) already has: carol's update takes a
/// moment to commit, as an fsync or a busy batch would make it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_identity_change_does_not_undo_an_acknowledged_disable() {
    let (mock, s) = admin_server(|b| b).await;
    let agent = s.workload("files:read").await.client_id;
    let carol = id_token(&mock, "carol", &["admins"]);
    let dave = id_token(&mock, "dave", &["admins"]);
    let body = json!({"agent_id": agent, "owner": "dave", "roles": ["deployer"]});
    let r = post(&s, &carol, "/admin/api/identities", body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // dave may not do this himself
    let r = post(
        &s,
        &dave,
        &format!("/admin/api/identities/{agent}"),
        json!({"roles": ["deployer"], "state": "disabled"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &s,
        &dave,
        &format!("/admin/api/identities/{agent}"),
        json!({"state": "active"}),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "dave may not re-enable it"
    );
    // carol turns it back on for the test
    let r = post(
        &s,
        &carol,
        &format!("/admin/api/identities/{agent}"),
        json!({"state": "active"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    s.server
        .database()
        .execute_script_for_tests(&slow_trigger(
            "slow_disable",
            "AFTER UPDATE ON agent_identities \
             WHEN NEW.state = 'disabled' AND NEW.updated_by = 'carol'",
            1,
        ))
        .await
        .unwrap();

    // carol disables the identity and takes its role away ...
    let path = format!("/admin/api/identities/{agent}");
    let disable = {
        let (s_url, carol, path) = (s.url.clone(), carol.clone(), path.clone());
        tokio::spawn(async move {
            crate::kill_switch::api_at(
                &s_url,
                Some(&carol),
                Method::POST,
                &path,
                Some(json!({"state": "disabled", "roles": []})),
            )
            .await
            .status()
        })
    };
    // ... while dave, the owner, changes only the team
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = post(&s, &dave, &path, json!({"team": "platform"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        disable.await.unwrap(),
        StatusCode::OK,
        "carol's disable answered done"
    );

    let identity = s
        .server
        .database()
        .agent_identity(&agent)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (identity.state.as_str(), identity.roles.clone()),
        ("disabled", Vec::<String>::new()),
        "carol's acknowledged disable and role removal were undone by dave's team change: {identity:?}"
    );
}

/// Finding 2: a kill-switch's subject is limited to 256 characters
/// (`kill_switch::MAX_SUBJECT`), but the server accepts client ids — and so
/// agent ids, `agent.agent_id` of every passport a client gets — of up to
/// 2048 (`client_auth::MAX_CLIENT_ID_LEN`: a client ID metadata document
/// URL). A client whose URL is longer than 256 characters cannot be
/// stopped by its agent or client switch: engaging one is a 400, so the
/// only switch left is the principal's, which stops every other client of
/// that person too.
#[tokio::test]
async fn every_client_the_server_accepts_can_be_kill_switched() {
    let path: &'static str = Box::leak(format!("/{}.json", "a".repeat(300)).into_boxed_str());
    let (base, task) = crate::clients::document_server(|base| {
        vec![(
            path,
            json!({
                "client_id": format!("{base}{path}"),
                "redirect_uris": ["http://127.0.0.1:9999/callback"],
                "token_endpoint_auth_method": "none",
            }),
        )]
    })
    .await;
    let (mock, s) = admin_server(|b| b.dangerous_client_metadata_test_mode()).await;
    let client_id = format!("{base}{path}");
    assert!(client_id.chars().count() > 256);
    // the server takes it as a client (it authenticates at /revoke)
    let r = s
        .post(
            "/revoke",
            None,
            &[("token", "x"), ("client_id", &client_id)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "a client the server accepts");
    let bob = id_token(&mock, "bob", &["owners"]);
    for kind in ["client", "agent"] {
        let r = post(
            &s,
            &bob,
            "/admin/api/kill-switches",
            json!({"kind": kind, "subject": client_id, "reason": "compromised"}),
        )
        .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{kind} switch for an accepted client id: {body}"
        );
    }
    task.abort();
}

/// Finding 4: the governance actions run inside the HTTP handler's future,
/// which the server drops when the request's deadline passes
/// (`endpoints::deadline`, 30 s by default) or the administrator's
/// connection closes. The SQLite writer (and a PostgreSQL commit already
/// sent) carries on with the write the future was waiting for, and the
/// steps after it never run. For a kill-switch: the switch is engaged (and
/// listed as engaged) but nothing the agent holds is revoked and neither
/// the engagement nor anything else is in the audit trail; the answer is
/// 408 "the request was not received" — not the documented 503 "engaged
/// but revoking failed: engage it again". (The same cancellation makes a
/// lift, an approval decision or an identity change stand without its
/// audit record.) The trigger stands for a slow commit (a busy disk, a
/// large batch): the write outlasts the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_switch_engaged_past_the_deadline_still_revokes_and_is_audited() {
    let (mock, s) = admin_server(|b| b.request_timeout(Duration::from_millis(1500))).await;
    let client = s.workload("files:read").await;
    let token = s.mint(&client, "files:read").await;
    let jti = crate::exchange::links(&token).pop().unwrap().jti;
    let db = s.server.database();
    db.execute_script_for_tests(&slow_trigger(
        "slow_engage",
        "AFTER INSERT ON kill_switches",
        8,
    ))
    .await
    .unwrap();
    let bob = id_token(&mock, "bob", &["owners"]);
    let started = std::time::Instant::now();
    let r = post(
        &s,
        &bob,
        "/admin/api/kill-switches",
        json!({"kind": "agent", "subject": client.client_id, "reason": "leaked"}),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    eprintln!(
        "engage answered {status} after {:?}: {body}",
        started.elapsed()
    );
    // let the writer finish what it was given
    let engaged = until(Duration::from_secs(60), || async {
        db.engaged_kill_switch(None, None, &client.client_id, "nobody", "none")
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert!(engaged, "the switch is engaged (it blocks issuance)");
    // then what follows the write: the record, the revocation
    let finished = || async {
        let passport = db.passport(&jti).await.unwrap().unwrap();
        let audited: Vec<String> = db
            .export_audit(&passport_audit::Filter::default(), 100)
            .await
            .unwrap();
        let recorded = audited.iter().any(|l| l.contains("kill_switch_engaged"));
        (passport.revoked_at, recorded)
    };
    until(Duration::from_secs(10), || async {
        matches!(finished().await, (Some(_), true))
    })
    .await;
    let (revoked_at, recorded) = finished().await;
    assert!(
        revoked_at.is_some() && recorded,
        "the switch is engaged, yet the agent's passport is still active (revoked_at \
         {revoked_at:?}) and the engagement is audited: {recorded}; the answer was {status} {body}"
    );
}

/// Finding 4, by the administrator's own hand: the client closes its
/// connection while the lift is being written (here the HTTP client gives
/// up after 300 ms). The server drops the handler; the writer still lifts
/// the switch; the `kill_switch_lifted` record is never appended. An
/// insider lifts a kill-switch and the tamper-evident trail never shows it
/// (default server settings: no short deadline involved).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lift_whose_client_hangs_up_is_still_audited() {
    let (mock, s) = admin_server(|b| b).await;
    let agent = s.workload("files:read").await.client_id;
    let bob = id_token(&mock, "bob", &["owners"]);
    let r = post(
        &s,
        &bob,
        "/admin/api/kill-switches",
        json!({"kind": "agent", "subject": agent, "reason": "leaked"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let db = s.server.database();
    db.execute_script_for_tests(&slow_trigger(
        "slow_lift",
        "AFTER UPDATE ON kill_switches WHEN NEW.lifted_at IS NOT NULL",
        4,
    ))
    .await
    .unwrap();
    let carl = id_token(&mock, "carl", &["owners"]);
    let hung_up = reqwest::Client::new()
        .post(format!("{}/admin/api/kill-switches/lift", s.url))
        .bearer_auth(&carl)
        .json(&json!({"kind": "agent", "subject": agent}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung_up.is_err(), "the client gave up");
    // the writer lifts the switch all the same ...
    let lifted = until(Duration::from_secs(60), || async {
        db.engaged_kill_switch(None, None, &agent, "nobody", "none")
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert!(lifted, "the writer lifted the switch");
    // ... and the record follows it
    let recorded = until(Duration::from_secs(10), || async {
        db.export_audit(&passport_audit::Filter::default(), 100)
            .await
            .unwrap()
            .iter()
            .any(|l| l.contains("kill_switch_lifted"))
    })
    .await;
    assert!(
        recorded,
        "the switch was lifted (by carl) and the trail has no kill_switch_lifted record"
    );
}
