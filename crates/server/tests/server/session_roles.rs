//! A dashboard session's roles are those the role mapping in force gives
//! the upstream claim values stored at login, mapped again at each
//! request: a role the operator takes away from `[administrators.roles]`
//! (and reloads) is gone from open sessions at once — their forms are
//! refused and their event stream stops sending what the role let it
//! read — as it is on the bearer path. (Second review of session 5: a
//! session kept the roles of its login for up to 8 h.)

use std::sync::LazyLock;
use std::time::Duration;

use passport_mock_oidc::MockOidc;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin_session::{Admin, admin_on, csrf_of};
use crate::kill_switch::api;
use crate::policy_fixture::{PolicyText, pending, start_governed};
use passport_server::WorkloadClient;

static POLICY: LazyLock<String> = LazyLock::new(|| {
    PolicyText::new()
        .environment("prod", 45, true, &["pipeline"], &["deploy:run"])
        .administrators(&[
            ("identity_admin", "passport-admins"),
            ("approver", "approvers"),
            ("auditor", "auditors"),
        ])
});

/// An admin API bearer for `sub` holding `roles`.
fn bearer(a: &Admin, sub: &str, roles: &[&str]) -> String {
    crate::kill_switch::id_token(&a.mock, sub, roles)
}

/// A workload registered with the `pipeline` identity whose request for
/// prod waits for an approval; the approval's id.
async fn pending_approval(a: &Admin, ada: &str) -> (WorkloadClient, String) {
    let client = a.running.workload("deploy:run").await;
    let r = api(
        &a.running,
        Some(ada),
        Method::POST,
        "/admin/api/identities",
        Some(json!({"agent_id": client.client_id, "owner": "olivia", "roles": ["pipeline"]})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = pending(&a.running, &client).await;
    let id = body["approval_id"].as_str().unwrap().to_owned();
    (client, id)
}

#[tokio::test]
async fn a_role_taken_away_by_a_policy_reload_is_gone_from_open_sessions() {
    let mock = MockOidc::builder()
        .redirect_path("/authorize/callback")
        .user("april", json!({"roles": ["approvers"]}))
        .start()
        .await
        .unwrap();
    let (running, policy) = start_governed(&mock, &POLICY, |b| b).await;
    let a = admin_on(mock, running);
    let ada = bearer(&a, "ada", &["passport-admins"]);
    let (_, id) = pending_approval(&a, &ada).await;

    // april's session, opened while "approvers" gives the approver role:
    // its page offers the decision, its event stream sends the approvals
    let april = a.session("april").await;
    let (_, page) = a.page("/admin/approvals", &april).await;
    assert!(page.contains(&id), "{page}");
    let csrf = csrf_of(&page);
    let mut events = a.get("/admin/events", &april).await;
    assert_eq!(events.status(), StatusCode::OK);
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !(seen.contains("event: approvals") && seen.contains(&id)) {
            let chunk = events.chunk().await.unwrap().expect("the stream goes on");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no approval in {seen}"));

    // the operator takes the approver role away from "approvers"
    std::fs::write(&policy, POLICY.replace("approver = [\"approvers\"]\n", "")).unwrap();
    a.running.server.reload_policy_now().await.unwrap();
    // the reload took: april's bearer has no approver role any more
    let r = api(
        &a.running,
        Some(&bearer(&a, "april", &["approvers"])),
        Method::POST,
        &format!("/admin/api/approvals/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // nor has her open session: its form is refused
    let r = a
        .post(
            "/admin/approvals/decide",
            &april,
            None,
            &[("csrf", &csrf), ("id", &id), ("decision", "approve")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "{:?}",
        r.headers().get("location")
    );
    let (_, page) = a.page("/admin/approvals", &april).await;
    assert!(!page.contains(&id), "{page}");
    // the approval still waits
    let r = api(
        &a.running,
        Some(&bearer(&a, "audrey", &["auditors"])),
        Method::GET,
        "/admin/api/approvals",
        None,
    )
    .await;
    let listed = r.text().await.unwrap();
    assert!(
        listed.contains(&id) && listed.contains("pending"),
        "{listed}"
    );

    // a new request waits for an approval: the open stream does not send
    // it (april holds no role now, so the stream ends)
    let (_, second) = pending_approval(&a, &ada).await;
    seen.clear();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream went on: {seen}");
    assert!(!seen.contains(&second), "{seen}");
    assert!(!seen.contains("event: approvals"), "{seen}");
}
