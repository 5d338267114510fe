//! Session-14 review r2, findings 3, 5 and 6: approvals keyed by their
//! requester, a refresh-token reuse revoking a long family's newest
//! passports, and one agent's flood of approval requests.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::kill_switch::{api, id_token};

async fn post(
    s: &crate::endpoints::Running,
    bearer: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    api(s, Some(bearer), Method::POST, path, Some(body)).await
}

/// A governed server and a registered deployer agent of olivia's, which
/// other principals use through token exchange.
async fn deploy_agent() -> (
    crate::governance_policy::Governed,
    passport_server::WorkloadClient,
) {
    use crate::governance_policy::{POLICY, governed};
    let g = governed(&POLICY).await;
    let client =
        g.s.server
            .register_workload_client("olivia", "deploy:run")
            .await
            .unwrap();
    g.register(json!({"agent_id": client.client_id, "owner": "olivia", "roles": ["deployer"]}))
        .await;
    (g, client)
}

/// Finding 3: a pending approval is keyed by (agent, environment,
/// audience, scopes) alone (`approvals_one_pending`; `request_one`
/// answers the row already pending, whoever asked), and a denial refuses
/// by the same key (`admit_under`: `a.scopes == asked`, any
/// `requested_by`), while an approval admits only the principal that
/// asked. So a second principal's request is never recorded (approvers see
/// only the first requester's name on it), and an approver's denial of
/// one principal's request refuses every other principal of the same agent
/// for `approval_ttl`, though nobody saw or decided their request: victor
/// is told "denied by an approver" on his very first request.
#[tokio::test]
async fn a_denial_of_one_principal_s_request_does_not_deny_another_s_unseen_request() {
    use crate::governance_policy::BOB;
    use crate::policy_fixture::{PROD, awaits_approval, exchange_id_token, login_token};

    let (g, client) = deploy_agent().await;
    // ursula asks through the agent; bob denies her request
    let ursula = login_token(&g.mock, "ursula");
    let r = exchange_id_token(&g.s, &client, &ursula, PROD, Some("deploy:run")).await;
    let body = awaits_approval(r).await;
    let ursulas = body["approval_id"].as_str().unwrap().to_owned();
    let r = g.decide(BOB, &ursulas, "deny").await;
    assert_eq!(r.status(), StatusCode::OK);
    // victor asks for the first time: his request should wait for a
    // decision of its own (a new approval naming him)
    let victor = login_token(&g.mock, "victor");
    let r = exchange_id_token(&g.s, &client, &victor, PROD, Some("deploy:run")).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending")),
        "victor's first request is refused by the denial of ursula's: {body}"
    );
    assert_ne!(body["approval_id"].as_str(), Some(ursulas.as_str()));
}

/// Finding 3, the other half: while ursula's request is pending, victor's
/// request is answered with HER approval id and is never recorded: the
/// approvers' list names ursula alone, so nobody can decide victor's.
#[tokio::test]
async fn a_second_principal_s_request_is_recorded_as_its_own() {
    use crate::policy_fixture::{PROD, awaits_approval, exchange_id_token, login_token};

    let (g, client) = deploy_agent().await;
    let ursula = login_token(&g.mock, "ursula");
    let r = exchange_id_token(&g.s, &client, &ursula, PROD, Some("deploy:run")).await;
    let ursulas = awaits_approval(r).await["approval_id"].clone();
    let victor = login_token(&g.mock, "victor");
    let r = exchange_id_token(&g.s, &client, &victor, PROD, Some("deploy:run")).await;
    let victors = awaits_approval(r).await["approval_id"].clone();
    let r = g
        .api(
            "GET",
            "/admin/api/approvals?state=pending",
            &g.admin("bob", &["approvers"]),
            None,
        )
        .await;
    let list: Value = r.json().await.unwrap();
    let requesters: Vec<&str> = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["requested_by"].as_str().unwrap())
        .collect();
    assert!(
        requesters.contains(&"victor"),
        "victor's request (answered with approval {victors}, ursula's is {ursulas}) is not \
         in the approvers' list: {list}"
    );
}

/// Finding 5: a refresh token's reuse revokes the family's tokens in one
/// statement, but the family's passports one by one from the handler
/// (`code_grant::revoke_passports`: one transaction and one audit commit
/// each), oldest first (`FAMILY_PASSPORTS … ORDER BY created_at`), and
/// the list is the whole family (every rotation within `refresh_ttl`,
/// unbounded). A thief who rotated a stolen token quickly makes that loop
/// longer than the request's deadline (or the victim's HTTP client
/// timeout): the handler is dropped while revoking long-expired
/// passports, and the newest ones — the thief's live passports — are
/// never revoked, though the reuse was detected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_detected_refresh_reuse_revokes_the_newest_passports_of_a_long_family() {
    use crate::code_grant::{client, code_for, ok, redeem, refresh};
    use passport_server::rate_limit::RateLimit;

    let fast = RateLimit {
        burst: 1_000_000,
        per_second: 1_000_000.0,
    };
    let s = crate::endpoints::start_with(tempfile::tempdir().unwrap(), |b| {
        b.token_rate_limit(fast)
            .request_timeout(Duration::from_millis(400))
    })
    .await;
    let app = client(&s, "app", "files:read").await;
    code_for(
        &s,
        &app,
        "code-1",
        "files:read",
        crate::exchange::now() + 600,
    )
    .await;
    let body = ok(redeem(&s, &app, "code-1", &[]).await).await;
    let stolen = body["refresh_token"].as_str().unwrap().to_owned();
    // the thief uses the stolen token first, then rotates quickly
    let mut token = stolen.clone();
    let mut newest = String::new();
    for _ in 0..800 {
        let body = ok(refresh(&s, &app, &token, &[]).await).await;
        token = body["refresh_token"].as_str().unwrap().to_owned();
        newest = crate::exchange::links(body["access_token"].as_str().unwrap())
            .pop()
            .unwrap()
            .jti;
    }
    // the victim presents the token it holds: a reuse
    let started = std::time::Instant::now();
    let r = refresh(&s, &app, &stolen, &[]).await;
    let status = r.status();
    let answer: Value = r.json().await.unwrap();
    eprintln!("reuse answered {status} after {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let db = s.server.database();
    let thiefs = db.passport(&newest).await.unwrap().unwrap();
    assert!(
        thiefs.revoked_at.is_some(),
        "the reuse was answered {status} {answer}, yet the thief's newest passport {newest} \
         is still active"
    );
    // and the thief's token no longer refreshes (the family tokens went at
    // once; read from the store, whatever the short deadline makes of an
    // HTTP answer on a loaded machine)
    let thiefs_token = passport_store::server::TokenHash::of(&token);
    assert!(db.refresh_revoked(&thiefs_token).await.unwrap());
}

/// Finding 6 (low): every distinct scope set an agent asks for in an
/// approval environment opens a new pending approval (rows are never
/// purged), and approvers read the pending list newest first, at most
/// `MAX_LISTED` (1,000) rows (`approvals` / `approvals_fragment`). An agent
/// granted a pattern (`deploy:*`) asks 1,000 made-up scopes in a minute and
/// every older pending request — another agent's — is gone from the API
/// and the dashboard: nobody can see or decide it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_requests_by_one_agent_does_not_hide_another_s_pending_approval() {
    use crate::policy_fixture::{PROD, PolicyText, ask, awaits_approval, start_governed};
    use passport_mock_oidc::MockOidc;
    use passport_server::rate_limit::RateLimit;

    let policy = PolicyText::new()
        .environment("prod", 45, true, &["deployer"], &["deploy:*"])
        .administrators(&[("identity_admin", "idadmins"), ("approver", "approvers")]);
    let mock = MockOidc::start().await;
    let fast = RateLimit {
        burst: 1_000_000,
        per_second: 1_000_000.0,
    };
    let (s, _) = start_governed(&mock, &policy, |b| b.token_rate_limit(fast)).await;
    let carol = id_token(&mock, "carol", &["idadmins"]);
    let victim = s.workload_of("olivia", "deploy:run").await;
    let flooder = s.workload_of("mallory", "deploy:*").await;
    let latecomer = s.workload_of("olivia", "deploy:run").await;
    for agent in [&victim, &flooder, &latecomer] {
        let r = post(
            &s,
            &carol,
            "/admin/api/identities",
            json!({"agent_id": agent.client_id, "owner": "olivia", "roles": ["deployer"]}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let body = awaits_approval(ask(&s, &victim, PROD, "deploy:run").await).await;
    let waiting = body["approval_id"].as_str().unwrap().to_owned();
    // the flood comes later (the lists order by the second of the request)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // (past the flooder's MAX_PENDING_PER_REQUESTER, a request is not recorded:
    // 429, not `authorization_pending`, since none of its waits)
    for n in 0..1000 {
        let r = ask(&s, &flooder, PROD, &format!("deploy:x{n}")).await;
        if n < passport_store::server::MAX_PENDING_PER_REQUESTER {
            awaits_approval(r).await;
        } else {
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                (status, body["error"].as_str(), body["rule"].as_str()),
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    Some("temporarily_unavailable"),
                    Some("environments.prod.approval")
                ),
                "{body}"
            );
        }
    }
    // a request another agent makes after the flood waits, and is seen too
    let body = awaits_approval(ask(&s, &latecomer, PROD, "deploy:run").await).await;
    let later = body["approval_id"].as_str().unwrap().to_owned();
    let r = api(
        &s,
        Some(&id_token(&mock, "bob", &["approvers"])),
        Method::GET,
        "/admin/api/approvals?state=pending",
        None,
    )
    .await;
    let list: Value = r.json().await.unwrap();
    let pending = list["approvals"].as_array().unwrap();
    eprintln!("{} pending listed", pending.len());
    for id in [&waiting, &later] {
        assert!(
            pending.iter().any(|a| a["id"] == id.as_str()),
            "the pending approval {id} is not among the {} pending the approvers see",
            pending.len()
        );
    }
}
