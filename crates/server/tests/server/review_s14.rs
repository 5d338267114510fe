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

/// Engages a kill-switch on `client_id` as bob (an owner) with the write
/// made slow (`slow_trigger`): the answer, after the request's deadline on
/// a server with a short one.
async fn engage_slowly(
    mock: &passport_mock_oidc::MockOidc,
    s: &crate::endpoints::Running,
    client_id: &str,
) -> (StatusCode, Value) {
    let db = s.server.database();
    db.execute_script_for_tests(&slow_trigger(
        "slow_engage",
        "AFTER INSERT ON kill_switches",
        8,
    ))
    .await
    .unwrap();
    let bob = id_token(mock, "bob", &["owners"]);
    let r = post(
        s,
        &bob,
        "/admin/api/kill-switches",
        json!({"kind": "agent", "subject": client_id, "reason": "leaked"}),
    )
    .await;
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// Whether the kill-switch on `client_id` is engaged within a minute (the
/// writer finishing what it was given).
async fn engaged_in_time(db: &passport_store::server::Database, client_id: &str) -> bool {
    until(Duration::from_secs(60), || async {
        db.engaged_kill_switch(None, None, client_id, "nobody", "none")
            .await
            .unwrap()
            .is_some()
    })
    .await
}

/// A server with an identity registered by carol (an identity admin) for
/// a new workload client, owned by dave with the role `deployer`: the
/// server, the agent id, carol's token and `other`'s (an admin too).
async fn with_identity(other: &str) -> (crate::endpoints::Running, String, String, String) {
    let (mock, s) = admin_server(|b| b).await;
    let agent = s.workload("files:read").await.client_id;
    let carol = id_token(&mock, "carol", &["admins"]);
    let other = id_token(&mock, other, &["admins"]);
    let body = json!({"agent_id": agent, "owner": "dave", "roles": ["deployer"]});
    let r = post(&s, &carol, "/admin/api/identities", body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    (s, agent, carol, other)
}

/// The identity of `agent` as stored.
async fn identity_of(
    s: &crate::endpoints::Running,
    agent: &str,
) -> passport_store::server::AgentIdentity {
    s.server
        .database()
        .agent_identity(agent)
        .await
        .unwrap()
        .unwrap()
}

/// Whether a record naming `action` is in the audit trail within `bound`.
async fn audited_in(db: &passport_store::server::Database, action: &str, bound: Duration) -> bool {
    until(bound, || async {
        db.export_audit(&passport_audit::Filter::default(), 100)
            .await
            .unwrap()
            .iter()
            .any(|l| l.contains(action))
    })
    .await
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
    let (s, agent, carol, dave) = with_identity("dave").await;
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

    let identity = identity_of(&s, &agent).await;
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
    let started = std::time::Instant::now();
    let (status, body) = engage_slowly(&mock, &s, &client.client_id).await;
    eprintln!(
        "engage answered {status} after {:?}: {body}",
        started.elapsed()
    );
    // let the writer finish what it was given
    let engaged = engaged_in_time(db, &client.client_id).await;
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
    let recorded = audited_in(db, "kill_switch_lifted", Duration::from_secs(10)).await;
    assert!(
        recorded,
        "the switch was lifted (by carl) and the trail has no kill_switch_lifted record"
    );
}

/// erin's stale save of a whole identity: erin reads the identity (as an
/// edit form would, through the API), carol then disables it and removes
/// its role (acknowledged), and erin (not the owner, so no self rule
/// applies) posts her form — only the team differs from what she read —
/// with the `version` she read as `if_version` or without it. The
/// answer's status and the identity after.
async fn stale_whole_object_save(
    with_version: bool,
) -> (StatusCode, passport_store::server::AgentIdentity) {
    let (s, agent, carol, erin) = with_identity("erin").await;
    let path = format!("/admin/api/identities/{agent}");
    let listed: Value = api(&s, Some(&erin), Method::GET, "/admin/api/identities", None)
        .await
        .json()
        .await
        .unwrap();
    let read = listed["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["agent_id"] == agent.as_str())
        .unwrap()
        .clone();
    let r = post(&s, &carol, &path, json!({"state": "disabled", "roles": []})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut form = json!({
        "owner": read["owner"],
        "team": "platform",
        "roles": read["roles"],
        "state": read["state"],
    });
    if with_version {
        form["if_version"] = read["version"].clone();
    }
    let status = post(&s, &erin, &path, form).await.status();
    let identity = identity_of(&s, &agent).await;
    (status, identity)
}

/// Review S14 v3 (V3-2): the compare-and-set closes the server's
/// read-modify-write window, but the retry re-applies the change *as sent*
/// on the fresh row: a client that sends the identity's fields as it read
/// them (an edit form; `roles` can only be changed by sending the whole
/// list) silently undid another administrator's acknowledged disable and
/// role removal. With the `version` it read as `if_version`, its stale
/// save is refused (409 `identity_changed`) and the disable stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn review_s14_v3_a_stale_if_version_is_refused_and_the_disable_stands() {
    let (status, identity) = stale_whole_object_save(true).await;
    assert_eq!(
        (identity.state.as_str(), identity.roles.clone()),
        ("disabled", Vec::<String>::new()),
        "erin's stale whole-object save ({status}) undid carol's acknowledged disable and \
         role removal: {identity:?}"
    );
    assert_eq!(status, StatusCode::CONFLICT);
}

/// Review S14 v3 (V3-2), as documented: without `if_version` the fields
/// sent are made on the identity as it is now — a stale whole-object save
/// writes them over another administrator's change (a client that sends
/// fields as it read them must send `if_version`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn review_s14_v3_without_if_version_the_fields_sent_are_made_on_the_identity_as_it_is() {
    let (status, identity) = stale_whole_object_save(false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            identity.state.as_str(),
            identity.roles,
            identity.team.as_str()
        ),
        ("active", vec!["deployer".to_owned()], "platform"),
    );
}

/// Review S14 v3 (V3-4 a): an administrator's action that outlasts the
/// request's deadline goes on to its end (`governance::to_completion`),
/// but was answered 408 "the request was not received and answered in
/// time" — an invitation to send it again, when it is in fact accepted
/// and about to be in the state. The deadline now says so: 503
/// `temporarily_unavailable`, "handed over and is still running (it may
/// yet be refused): read the state before trying again" (not "accepted":
/// it is said at the hand-over, before the action's checks; review S14
/// final pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn review_s14_v3_an_action_past_the_deadline_is_answered_handed_over_and_running() {
    let (mock, s) = admin_server(|b| b.request_timeout(Duration::from_millis(1500))).await;
    let client = s.workload("files:read").await;
    let (status, body) = engage_slowly(&mock, &s, &client.client_id).await;
    // the writer finishes what it was given before the test ends
    let engaged = engaged_in_time(s.server.database(), &client.client_id).await;
    assert!(engaged, "the switch is engaged");
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "an engage past the deadline: {body}"
    );
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains("handed over and is still running"),
        "{body}"
    );
}

/// Review S14 v3 (V3-4 b): the dashboard's logout ended the session and
/// then wrote its audit record inside the request: an administrator who
/// hangs up while the session's end is being written (here the HTTP
/// client gives up after 300 ms) is logged out with no `admin_logout`
/// record. It now runs to its end as every other action.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn review_s14_v3_a_logout_whose_client_hangs_up_is_still_audited() {
    let a = crate::admin_session::admin().await;
    let cookie = a.session("ada").await;
    let csrf = crate::admin_session::csrf_of(&a.registry(&cookie).await);
    let db = a.running.server.database();
    db.execute_script_for_tests(&slow_trigger(
        "slow_logout",
        "AFTER DELETE ON admin_sessions",
        4,
    ))
    .await
    .unwrap();
    let hung_up = reqwest::Client::new()
        .post(a.at("/admin/logout"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(reqwest::header::ORIGIN, &a.running.url)
        .form(&[("csrf", csrf.as_str())])
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung_up.is_err(), "the client gave up");
    let recorded = audited_in(db, "admin_logout", Duration::from_secs(60)).await;
    assert!(recorded, "the session ended with no admin_logout record");
}
