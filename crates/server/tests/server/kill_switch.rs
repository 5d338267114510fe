//! Kill-switches (issue 14) over the admin API: engaging one revokes every
//! passport the subject holds (registry, status list, descendants, refresh
//! families) and blocks its issuance on every instance until it is
//! lifted; the check fails closed; only the right roles may act.

use std::sync::{Arc, LazyLock};

use passport_claims::ManualClock;
use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::ServerBuilder;
use passport_store::server::{Database, KillKind, NewKillSwitch};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::actor_token::{Orchestration, delegate_to, orchestration};
use crate::code_grant::{client, code_for, ok, redeem, refresh};
use crate::endpoints::{
    RESOURCE, Running, cc_form, expect_error, expect_refusal, expect_unavailable, fetch_list,
    start_with,
};
use crate::exchange::{CHILD_RESOURCE, JWT, links, now};
use crate::policy_fixture::{exchange_id_token, role_mapping};
use crate::shared_state::pair_with;

/// The upstream client administrators' API tokens are issued to (the
/// mapping's `api_client_id`): not the client users log in with.
pub(crate) const ADMIN_CLIENT: &str = "passport-admin";

/// The administrators' roles of these tests' servers.
pub(crate) static ROLES: LazyLock<String> = LazyLock::new(|| {
    role_mapping(&[
        ("resource_owner", "owners"),
        ("identity_admin", "admins"),
        ("auditor", "auditors"),
        ("approver", "approvers"),
    ])
});

/// A server with an upstream provider (the mock) and [`ROLES`].
pub(crate) async fn admin_server(
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (MockOidc, Running) {
    let mock = MockOidc::start().await;
    let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        configure(b.upstream(provider).admin_roles(&ROLES))
    })
    .await;
    (mock, s)
}

/// [`admin_server`] with an orchestration ([`orchestration`]) and an
/// administrator's ID token (`ida`, group `admins`).
async fn orchestration_with_an_admin() -> (MockOidc, Running, String, Orchestration) {
    let (mock, s) = admin_server(|b| b).await;
    let admin = id_token(&mock, "ida", &["admins"]);
    let orchestration = orchestration(&s, now()).await;
    (mock, s, admin, orchestration)
}

/// An upstream ID token of `sub` holding the upstream `roles`, issued to
/// the administrators' client ([`ADMIN_CLIENT`]): what the admin API takes.
pub(crate) fn id_token(mock: &MockOidc, sub: &str, roles: &[&str]) -> String {
    mock.mint_id_token(admin_claims(mock, sub, roles))
}

/// The claims of [`id_token`].
pub(crate) fn admin_claims(mock: &MockOidc, sub: &str, roles: &[&str]) -> Value {
    let mut claims = mock.default_claims();
    claims["sub"] = json!(sub);
    claims["roles"] = json!(roles);
    claims["aud"] = json!(ADMIN_CLIENT);
    claims
}

/// Calls the admin API at `url` + `path` as `bearer`.
pub(crate) async fn api_at(
    url: &str,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, format!("{url}{path}"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

pub(crate) async fn api(
    s: &Running,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    api_at(&s.url, bearer, method, path, body).await
}

async fn engage(s: &Running, bearer: &str, kind: &str, subject: &str) -> reqwest::Response {
    api(
        s,
        Some(bearer),
        Method::POST,
        "/admin/api/kill-switches",
        Some(json!({"kind": kind, "subject": subject, "reason": "compromised"})),
    )
    .await
}

async fn lift(s: &Running, bearer: &str, kind: &str, subject: &str) -> reqwest::Response {
    api(
        s,
        Some(bearer),
        Method::POST,
        "/admin/api/kill-switches/lift",
        Some(json!({"kind": kind, "subject": subject})),
    )
    .await
}

/// The answer must be 400 `access_denied` with exactly `description`.
pub(crate) async fn killed(r: reqwest::Response, description: &str) {
    let body = expect_error(r, StatusCode::BAD_REQUEST, "access_denied").await;
    assert_eq!(body["error_description"], description, "{body}");
}

/// Engaged in the database only, as an engagement whose revocation failed
/// midway leaves it: issuance is blocked, nothing is revoked yet.
async fn engaged_only(db: &Database, kind: KillKind, subject: &str) {
    db.engage_kill_switch(NewKillSwitch::new(
        format!("test-{subject}"),
        kind,
        subject.to_owned(),
        "test".into(),
        "simulated".into(),
        now(),
    ))
    .await
    .unwrap();
}

/// The kill-switches listed at `s` for `bearer`, `query` appended to the
/// path.
async fn switches(s: &Running, bearer: &str, query: &str) -> reqwest::Response {
    let path = format!("/admin/api/kill-switches{query}");
    api(s, Some(bearer), Method::GET, &path, None).await
}

fn status_idx(bundle: &str) -> u64 {
    // the leaf's (a bundle lists the leaf first)
    links(bundle)[0].status.as_ref().unwrap().idx()
}

#[tokio::test]
async fn engaging_revokes_what_the_agent_holds_and_blocks_it_until_lifted() {
    let (mock, s) = admin_server(|b| b).await;
    let owner = id_token(&mock, "olivia", &["owners"]);
    let a = s.workload("files:read files:write").await;
    let b = s.workload("files:read").await;
    let p1 = s.mint(&a, "files:read").await;
    let p2 = s.mint(&a, "files:write").await;
    let child = s.delegate(&a, &p1, (CHILD_RESOURCE, "files:read")).await;
    let q = s.mint(&b, "files:read").await;

    let r = engage(&s, &owner, "agent", &a.client_id).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revoked"], 3, "{body}");
    let switch = &body["kill_switch"];
    assert_eq!(
        (&switch["kind"], &switch["subject"], &switch["engaged"]),
        (&json!("agent"), &json!(a.client_id), &json!(true))
    );
    assert_eq!(switch["engaged_by"], "olivia");
    assert_eq!(switch["reason"], "compromised");

    // every passport of the agent, its descendant too: inactive, and on
    // the status list; another agent's untouched
    for t in [&p1, &p2, &child] {
        assert!(!s.active(&a, t).await);
    }
    assert!(s.active(&b, &q).await);
    let list = fetch_list(&s).await;
    for t in [&p1, &p2, &child] {
        assert_eq!(list.list.get(status_idx(t)).unwrap(), 1);
    }
    assert_eq!(list.list.get(status_idx(&q)).unwrap(), 0);

    // no new issuance for the agent, by any grant
    let description = format!("kill-switch: agent {}", a.client_id);
    killed(s.token(&a, &cc_form(&[])).await, &description).await;
    // another agent is not affected
    assert!(s.active(&b, &s.mint(&b, "files:read").await).await);

    // listed; engaging again is one switch and revokes nothing more
    let r = switches(&s, &owner, "").await;
    let listed: Value = ok(r).await;
    assert_eq!(listed["kill_switches"].as_array().unwrap().len(), 1);
    assert_eq!(listed["kill_switches"][0]["id"], switch["id"]);
    let again: Value = ok(engage(&s, &owner, "agent", &a.client_id).await).await;
    assert_eq!(again["kill_switch"]["id"], switch["id"]);
    assert_eq!(again["revoked"], 0);

    // lifted: issuance works again (what was revoked stays revoked)
    let lifted: Value = ok(lift(&s, &owner, "agent", &a.client_id).await).await;
    assert_eq!(lifted["kill_switch"]["engaged"], false);
    assert_eq!(lifted["kill_switch"]["lifted_by"], "olivia");
    let fresh = s.mint(&a, "files:read").await;
    assert!(s.active(&a, &fresh).await);
    assert!(!s.active(&a, &p1).await);
    expect_refusal(
        lift(&s, &owner, "agent", &a.client_id).await,
        StatusCode::NOT_FOUND,
        "invalid_request",
        "no kill-switch is engaged for agent",
    )
    .await;
    let r = switches(&s, &owner, "?all=true").await;
    assert_eq!(ok(r).await["kill_switches"][0]["engaged"], false);
    let r = switches(&s, &owner, "").await;
    assert!(ok(r).await["kill_switches"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_principal_or_client_switch_and_a_killed_ancestor_block_a_delegation() {
    let (_mock, s, admin, orchestration) = orchestration_with_an_admin().await;
    let Orchestration {
        orchestrator,
        sub_agent,
        actor,
        parent,
        ..
    } = orchestration;

    // the orchestrator's agent killed, its revocation not run yet: a
    // child for the sub-agent is refused for its parent's agent
    engaged_only(
        s.server.database(),
        KillKind::Agent,
        &orchestrator.client_id,
    )
    .await;
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    killed(r, &format!("kill-switch: agent {}", orchestrator.client_id)).await;
    assert!(s.active(&orchestrator, &parent).await);
    // engaging it through the API finishes the revocation
    let body: Value = ok(engage(&s, &admin, "agent", &orchestrator.client_id).await).await;
    assert_eq!(body["revoked"], 1);
    assert!(!s.active(&orchestrator, &parent).await);
    ok(lift(&s, &admin, "agent", &orchestrator.client_id).await).await;

    // a principal's switch covers every agent acting for it
    let parent = s.mint(&orchestrator, "files:*").await;
    let body: Value = ok(engage(&s, &admin, "principal", "alice").await).await;
    assert_eq!(
        body["revoked"], 2,
        "the parent and the sub-agent's actor passport"
    );
    assert!(!s.active(&orchestrator, &parent).await);
    killed(
        s.token(&sub_agent, &cc_form(&[])).await,
        "kill-switch: principal alice",
    )
    .await;
    ok(lift(&s, &admin, "principal", "alice").await).await;

    // a client's switch
    ok(engage(&s, &admin, "client", &sub_agent.client_id).await).await;
    killed(
        s.token(&sub_agent, &cc_form(&[])).await,
        &format!("kill-switch: client {}", sub_agent.client_id),
    )
    .await;
    s.mint(&orchestrator, "files:read").await;
}

/// Review rev11-c, finding 1, through a kill-switch: a switch on the
/// sub-agent's client — the client of the actor passport, not of the child
/// the orchestrator had minted for it (whose client is the orchestrator's)
/// — blocks a child for that actor passport while its revocation has not
/// run, and engaging it revokes the child with the actor passport (the
/// registry and the status list). The orchestrator's own passport stays.
#[tokio::test]
async fn review_rev11c_finding_1_a_switch_on_the_actor_passport_s_client_reaches_what_was_minted_for_it()
 {
    let (_mock, s, admin, orchestration) = orchestration_with_an_admin().await;
    let Orchestration {
        orchestrator,
        sub_agent,
        actor,
        parent,
        ..
    } = orchestration;
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    let child = ok(r).await["access_token"].as_str().unwrap().to_owned();

    // engaged, its revocation not run yet: no further child for the actor
    engaged_only(s.server.database(), KillKind::Client, &sub_agent.client_id).await;
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    killed(r, &format!("kill-switch: client {}", sub_agent.client_id)).await;
    // engaging it through the API revokes what depends on the actor passport
    let body: Value = ok(engage(&s, &admin, "client", &sub_agent.client_id).await).await;
    assert_eq!(
        body["revoked"], 2,
        "the actor passport and the child minted for it: {body}"
    );
    assert!(!s.active(&orchestrator, &child).await);
    assert!(s.active(&orchestrator, &parent).await);
    let list = fetch_list(&s).await;
    for t in [&actor, &child] {
        assert_eq!(list.list.get(status_idx(t)).unwrap(), 1);
    }
    assert_eq!(list.list.get(status_idx(&parent)).unwrap(), 0);
}

#[tokio::test]
async fn refresh_families_of_a_killed_agent_end_and_its_grants_are_refused() {
    let (mock, s) = admin_server(|b| b).await;
    let owner = id_token(&mock, "olivia", &["owners"]);
    let app = client(&s, "app", "files:*").await;
    code_for(&s, &app, "code-1", "files:read", now() + 60).await;
    let body = ok(redeem(&s, &app, "code-1", &[]).await).await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();

    ok(engage(&s, &owner, "agent", "app").await).await;
    // the family ended with its passport
    expect_error(
        refresh(&s, &app, &first, &[]).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // a code redeemed while the switch is engaged mints nothing
    code_for(&s, &app, "code-2", "files:read", now() + 60).await;
    killed(
        redeem(&s, &app, "code-2", &[]).await,
        "kill-switch: agent app",
    )
    .await;
    ok(lift(&s, &owner, "agent", "app").await).await;

    // a live family: refused at its next refresh while a switch is engaged
    code_for(&s, &app, "code-3", "files:read", now() + 60).await;
    let body = ok(redeem(&s, &app, "code-3", &[]).await).await;
    let live = body["refresh_token"].as_str().unwrap().to_owned();
    engaged_only(s.server.database(), KillKind::Agent, "app").await;
    killed(
        refresh(&s, &app, &live, &[]).await,
        "kill-switch: agent app",
    )
    .await;
}

#[tokio::test]
async fn only_authenticated_administrators_with_the_role_may_act() {
    let (mock, s) = admin_server(|b| b).await;
    let auditor = id_token(&mock, "audrey", &["auditors"]);
    let approver = id_token(&mock, "april", &["approvers"]);
    let a = s.workload("files:read").await;
    let p = s.mint(&a, "files:read").await;
    let jti = links(&p)[0].jti.clone();
    let revoke_path = format!("/admin/api/registry/{jti}/revoke");
    let calls = [
        (Method::POST, "/admin/api/kill-switches"),
        (Method::POST, "/admin/api/kill-switches/lift"),
        (Method::GET, "/admin/api/kill-switches"),
        (Method::GET, "/admin/api/registry"),
        (Method::POST, revoke_path.as_str()),
    ];
    let body = json!({"kind": "agent", "subject": a.client_id, "reason": "x"});
    for (method, path) in &calls {
        for bearer in [None, Some("not-a-token")] {
            let r = api(&s, bearer, method.clone(), path, Some(body.clone())).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert!(r.headers().contains_key("www-authenticate"));
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_token");
        }
    }
    // an auditor reads but does not act; an approver does neither
    for (method, path) in &calls {
        let reads = *method == Method::GET;
        let r = api(&s, Some(&auditor), method.clone(), path, Some(body.clone())).await;
        if reads {
            assert_eq!(r.status(), StatusCode::OK, "{path}");
        } else {
            expect_refusal(
                r,
                StatusCode::FORBIDDEN,
                "access_denied",
                "insufficient_role",
            )
            .await;
        }
        let r = api(
            &s,
            Some(&approver),
            method.clone(),
            path,
            Some(body.clone()),
        )
        .await;
        expect_refusal(
            r,
            StatusCode::FORBIDDEN,
            "access_denied",
            "insufficient_role",
        )
        .await;
    }
    // nothing happened
    assert!(s.active(&a, &p).await);
    s.mint(&a, "files:read").await;

    // without an upstream provider there are no administrators
    let plain = crate::endpoints::start().await;
    let r = switches(&plain, &auditor, "").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hostile_engagements_are_refused() {
    let (mock, s) = admin_server(|b| b).await;
    let owner = id_token(&mock, "olivia", &["owners"]);
    let post = |body: Value| {
        api(
            &s,
            Some(&owner),
            Method::POST,
            "/admin/api/kill-switches",
            Some(body),
        )
    };
    // longer than any client id the server accepts
    let too_long = "x".repeat(passport_server::client_auth::MAX_CLIENT_ID_LEN + 1);
    for (body, why) in [
        (
            json!({"kind": "agents", "subject": "x", "reason": "r"}),
            "kind must be",
        ),
        (
            json!({"kind": "agent", "subject": "", "reason": "r"}),
            "subject must be",
        ),
        (
            json!({"kind": "agent", "subject": "a\nb", "reason": "r"}),
            "subject must be",
        ),
        (
            json!({"kind": "agent", "subject": too_long, "reason": "r"}),
            "subject must be",
        ),
        (
            json!({"kind": "agent", "subject": "x"}),
            "reason (a string) is required",
        ),
        (
            json!({"kind": "agent", "subject": "x", "reason": " "}),
            "reason must be",
        ),
        (json!(["agent"]), "the body must be a JSON object"),
    ] {
        expect_refusal(
            post(body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why,
        )
        .await;
    }
    let r = switches(&s, &owner, "?all=maybe").await;
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_request", "all must be").await;
    let r = switches(&s, &owner, "?limit=1&limit=2").await;
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_request", "query:").await;
}

#[tokio::test]
async fn the_check_fails_closed_when_the_switches_cannot_be_read() {
    let (_mock, s) = admin_server(|b| b).await;
    let a = s.workload("files:read").await;
    let broken = s.break_table("kill_switches").await;
    let r = s.token(&a, &cc_form(&[])).await;
    expect_unavailable(
        r,
        "kill-switch: the kill-switches could not be read; issuance is refused",
    )
    .await;
    broken.mend();
    s.mint(&a, "files:read").await;
}

#[tokio::test]
async fn a_switch_engaged_on_one_instance_holds_on_the_other_at_once() {
    let mock = MockOidc::start().await;
    let clock = Arc::new(ManualClock::new(now()));
    // two instances of one issuer on one database, with administrators
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = &pair_with(&dir, &clock, |b| {
        let provider =
            Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
        b.upstream(provider).admin_roles(&ROLES)
    })
    .await;
    let owner = id_token(&mock, "olivia", &["owners"]);
    let client = a.workload("files:read").await;
    let p = a.mint(&client, "files:read").await;
    // b has seen it active (its cache holds the answer)
    assert!(b.active(&client, &p).await);
    assert!(a.active(&client, &p).await);

    ok(engage(a, &owner, "agent", &client.client_id).await).await;
    assert!(!b.active(&client, &p).await);
    let description = format!("kill-switch: agent {}", client.client_id);
    killed(b.token(&client, &cc_form(&[])).await, &description).await;

    ok(lift(b, &owner, "agent", &client.client_id).await).await;
    let fresh = a.mint(&client, "files:read").await;
    assert!(b.active(&client, &fresh).await);
}

/// A user's login token — the RFC 8693 subject token a human hands an
/// agent to exchange — is no administrator's credential: the admin API
/// takes ID tokens of the administrators' own client only. A killed agent
/// holding its owner's login token cannot lift its own kill-switch (found
/// by the session-5 review: both were the same credential).
#[tokio::test]
async fn an_id_token_given_to_an_agent_is_not_an_admin_credential() {
    let (mock, s) = admin_server(|b| b).await;
    let agent = s.workload("files:read").await;
    // alice logged in with the users' client and handed the agent her token
    let mut claims = mock.default_claims();
    claims["sub"] = json!("alice");
    claims["roles"] = json!(["owners"]);
    let alice = mock.mint_id_token(claims);
    let r = exchange_id_token(&s, &agent, &alice, RESOURCE, None).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let bob = id_token(&mock, "bob", &["owners"]);
    assert!(
        engage(&s, &bob, "agent", &agent.client_id)
            .await
            .status()
            .is_success()
    );
    // the agent replays alice's login token at the admin API
    let r = lift(&s, &alice, "agent", &agent.client_id).await;
    let body = expect_refusal(
        r,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "id_token_audience_mismatch",
    )
    .await;
    assert!(body.is_object());
    expect_refusal(
        s.token(&agent, &cc_form(&[])).await,
        StatusCode::BAD_REQUEST,
        "access_denied",
        "kill-switch",
    )
    .await;

    // and the other way round: an administrator's token is no subject
    // token (its audience is the admin client)
    let r = exchange_id_token(&s, &agent, &bob, RESOURCE, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// An admin API token whose authentication is older than `api_max_age`
/// is refused (a leaked one is replayable for ten minutes at most), as is
/// one with neither `auth_time` nor `iat` inside the window.
#[tokio::test]
async fn a_stale_admin_token_is_refused() {
    let (mock, s) = admin_server(|b| b).await;
    let old = |claim: &str, age: i64| {
        let mut claims = admin_claims(&mock, "audrey", &["auditors"]);
        if claim == "iat" {
            // without auth_time, iat is when it authenticated
            claims.as_object_mut().unwrap().remove("auth_time");
        }
        claims[claim] = json!(now() - age);
        mock.mint_id_token(claims)
    };
    // an authentication an hour in the future is no fresh login either
    for token in [
        old("auth_time", 601),
        old("iat", 700),
        old("auth_time", -3600),
    ] {
        let r = switches(&s, &token, "").await;
        expect_refusal(r, StatusCode::UNAUTHORIZED, "invalid_token", "stale_login").await;
    }
    // a fresh login an hour after the token's issue is judged by auth_time
    let mut claims = admin_claims(&mock, "audrey", &["auditors"]);
    claims["auth_time"] = json!(now() - 30);
    let r = api(
        &s,
        Some(&mock.mint_id_token(claims)),
        Method::GET,
        "/admin/api/kill-switches",
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Without `api_client_id`, or with the users' own client named there,
/// the admin API takes no bearer at all (fails closed, saying why).
#[tokio::test]
async fn the_admin_api_is_off_without_an_admin_client_of_its_own() {
    let mock = MockOidc::start().await;
    let users_client = mock.client_id().to_owned();
    for mapping in [
        "claim = \"roles\"\n[roles]\nauditor = [\"auditors\"]\n".to_owned(),
        format!("api_client_id = \"{users_client}\"\n[roles]\nauditor = [\"auditors\"]\n"),
    ] {
        let provider =
            Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
        let s = start_with(tempfile::tempdir().unwrap(), |b| {
            b.upstream(provider).admin_roles(&mapping)
        })
        .await;
        let mut claims = mock.default_claims();
        claims["roles"] = json!(["auditors"]);
        for token in [
            mock.mint_id_token(claims.clone()),
            id_token(&mock, "a", &["auditors"]),
        ] {
            let r = switches(&s, &token, "").await;
            expect_refusal(
                r,
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "admin_api_off",
            )
            .await;
        }
    }
}

/// The subject of a kill-switch — the killed principal, or the owner of
/// the killed agent's or client's identity — may not lift it, whatever
/// its roles; another administrator does (session-5 review).
#[tokio::test]
async fn the_subject_or_its_owner_cannot_lift_its_own_kill_switch() {
    let (mock, s) = admin_server(|b| b).await;
    let agent = s.workload("files:read").await;
    let carol = id_token(&mock, "carol", &["admins"]);
    let olivia = id_token(&mock, "olivia", &["owners"]);
    let bob = id_token(&mock, "bob", &["owners"]);
    let r = api(
        &s,
        Some(&carol),
        Method::POST,
        "/admin/api/identities",
        Some(json!({"agent_id": agent.client_id, "owner": "olivia", "roles": []})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for (kind, subject) in [
        ("agent", agent.client_id.as_str()),
        ("client", agent.client_id.as_str()),
        ("principal", "olivia"),
    ] {
        assert!(engage(&s, &bob, kind, subject).await.status().is_success());
        let body = expect_refusal(
            lift(&s, &olivia, kind, subject).await,
            StatusCode::FORBIDDEN,
            "access_denied",
            "self_lift",
        )
        .await;
        assert_eq!(body["rule"], "kill_switch.self_lift");
        // still engaged: another administrator lifts it
        assert_eq!(
            lift(&s, &bob, kind, subject).await.status(),
            StatusCode::OK,
            "{kind}"
        );
    }
}
