//! Session-14 review r2 (findings 1, 2 and 4): governance defects, each
//! test failing on the code it was written against (685a2688) and passing
//! once fixed.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::kill_switch::{admin_server, api, id_token};

/// A trigger making the write it follows (`on`: `AFTER INSERT ON …`) slow,
/// `n` times a moment of work, as a busy disk or a large batch makes a
/// commit slow.
fn slow_trigger(name: &str, on: &str, n: usize) -> String {
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
