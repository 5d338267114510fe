//! The self rules of governance, fed the attacks of the session-5 second
//! review: an administrator may not undo another's decision about an
//! agent it owns — and it owns an agent as the identity's `owner` or as
//! the owner of the agent's workload client (the principal of every
//! passport that workload gets).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::endpoints::{Running, expect_refusal};
use crate::kill_switch::{admin_server, api, id_token};

/// `POST`s `body` to the admin API's `path` as `bearer`.
async fn post(s: &Running, bearer: &str, path: &str, body: Value) -> reqwest::Response {
    api(s, Some(bearer), Method::POST, path, Some(body)).await
}

/// Registers the identity `agent_id` owned by `owner` with `roles`, as
/// `bearer`.
async fn register(
    s: &Running,
    bearer: &str,
    agent_id: &str,
    owner: &str,
    roles: &[&str],
) -> reqwest::Response {
    let body = json!({"agent_id": agent_id, "owner": owner, "roles": roles});
    post(s, bearer, "/admin/api/identities", body).await
}

/// Changes the identity `agent_id` by `body`, as `bearer`.
async fn change(s: &Running, bearer: &str, agent_id: &str, body: Value) -> reqwest::Response {
    post(
        s,
        bearer,
        &format!("/admin/api/identities/{agent_id}"),
        body,
    )
    .await
}

async fn expect_self_grant(r: reqwest::Response) {
    expect_refusal(r, StatusCode::FORBIDDEN, "access_denied", "self_grant").await;
}

/// The owner of an identity another identity administrator disabled may
/// not turn it back on (it would give back all the identity could mint:
/// the identity's analogue of `self_lift`); another administrator may.
#[tokio::test]
async fn an_owner_may_not_re_enable_its_own_disabled_identity() {
    let (mock, s) = admin_server(|b| b).await;
    let agent = s.workload("files:read").await.client_id;
    let carol = id_token(&mock, "carol", &["admins"]);
    let dave = id_token(&mock, "dave", &["admins"]);
    let r = register(&s, &carol, &agent, "dave", &["deployer"]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = change(&s, &carol, &agent, json!({"state": "disabled"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // dave, the owner, undoes another administrator's decision
    expect_self_grant(change(&s, &dave, &agent, json!({"state": "active"})).await).await;
    // nor by handing it to someone else in the same change
    let body = json!({"state": "active", "owner": "erin"});
    expect_self_grant(change(&s, &dave, &agent, body).await).await;
    // another identity administrator may
    let r = change(&s, &carol, &agent, json!({"state": "active"})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The workload's own principal (its client's owner) may not re-enable
/// its agent's disabled identity either, whatever `owner` says.
#[tokio::test]
async fn the_workload_s_principal_may_not_re_enable_its_agent_s_identity() {
    let (mock, s) = admin_server(|b| b).await;
    // s.workload registers the client with owner (principal) "alice"
    let agent = s.workload("files:read").await.client_id;
    let carol = id_token(&mock, "carol", &["admins"]);
    let alice = id_token(&mock, "alice", &["admins"]);
    let r = register(&s, &carol, &agent, "olivia", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = change(&s, &carol, &agent, json!({"state": "disabled"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    expect_self_grant(change(&s, &alice, &agent, json!({"state": "active"})).await).await;
}

/// The workload's own principal (its client owner, `sub` of every
/// passport it gets) may not lift the kill-switch on its agent, though
/// the identity's `owner` names someone else.
#[tokio::test]
async fn the_workload_s_principal_may_not_lift_its_agent_s_kill_switch() {
    let (mock, s) = admin_server(|b| b).await;
    // s.workload registers the client with owner (principal) "alice"
    let agent = s.workload("files:read").await.client_id;
    let carol = id_token(&mock, "carol", &["admins"]);
    let r = register(&s, &carol, &agent, "olivia", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bob = id_token(&mock, "bob", &["owners"]);
    let alice = id_token(&mock, "alice", &["owners"]);
    let switch = json!({"kind": "agent", "subject": agent, "reason": "x"});
    let r = post(&s, &bob, "/admin/api/kill-switches", switch).await;
    assert!(r.status().is_success());
    for kind in ["agent", "client"] {
        let body = json!({"kind": kind, "subject": agent});
        let r = post(&s, &alice, "/admin/api/kill-switches/lift", body).await;
        expect_refusal(r, StatusCode::FORBIDDEN, "access_denied", "self_lift").await;
    }
}

/// An identity administrator may not give roles to the identity of its
/// OWN workload (client owner alice: its passports are alice's) by
/// writing another name in `owner`, at registration or later.
#[tokio::test]
async fn an_identity_admin_may_not_give_roles_to_its_own_workload() {
    let (mock, s) = admin_server(|b| b).await;
    let agent = s.workload("files:read").await.client_id;
    let alice = id_token(&mock, "alice", &["admins"]);
    let carol = id_token(&mock, "carol", &["admins"]);
    let roles = ["prod-deployer"];
    expect_self_grant(register(&s, &alice, &agent, "placeholder", &roles).await).await;
    // registered by another administrator, alice may not add roles later
    let r = register(&s, &carol, &agent, "placeholder", &[]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    expect_self_grant(change(&s, &alice, &agent, json!({"roles": roles})).await).await;
}

/// The owner of an agent's workload client may not decide an approval
/// for that agent, though another principal asked (an upstream user's ID
/// token exchanged by the workload) and the identity's `owner` names
/// someone else: the passports are minted for its own workload.
#[tokio::test]
async fn the_workload_s_owner_may_not_approve_for_its_agent() {
    use crate::governance_policy::{BOB, POLICY, governed};
    use crate::policy_fixture::{PROD, awaits_approval, exchange_id_token, login_token};

    let g = governed(&POLICY).await;
    // bob's workload; its identity written as olivia's
    let client =
        g.s.server
            .register_workload_client("bob", "deploy:run")
            .await
            .unwrap();
    g.register(json!({"agent_id": client.client_id, "owner": "olivia", "roles": ["deployer"]}))
        .await;
    // ursula's ID token, exchanged by bob's workload, waits for approval
    let ursula = login_token(&g.mock, "ursula");
    let r = exchange_id_token(&g.s, &client, &ursula, PROD, Some("deploy:run")).await;
    let body = awaits_approval(r).await;
    let id = body["approval_id"].as_str().unwrap();
    let r = g.decide(BOB, id, "approve").await;
    let body = expect_refusal(r, StatusCode::FORBIDDEN, "access_denied", "self_approval").await;
    assert_eq!(body["rule"], "approvals.self_approval");
    // another approver may
    let r = g.decide(("april", &["approvers"]), id, "approve").await;
    assert_eq!(r.status(), StatusCode::OK);
}
