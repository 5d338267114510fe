//! Review S14, fourth pass (V4-1, V4-2): one principal's pending requests
//! do not lock others out of a shared agent; ending a refresh family on a
//! reuse, or what a reused code issued, runs to its end (audited) whatever
//! becomes of the request.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use std::time::Duration;

use crate::kill_switch::{api, id_token};
use crate::review_s14::{slow_trigger, until};

/// Review S14, fourth pass, V4-1: the pending cap was per agent, over every principal: one principal
/// who may use a shared agent fills its 16 slots with made-up scope sets
/// and every other principal's first request through that agent is 429
/// (for `approval_ttl`, renewed at will) — an approval request nobody can
/// make, though the cap was meant to stop one agent hiding another's.
#[tokio::test]
async fn one_principal_cannot_use_the_agent_cap_to_lock_out_another() {
    use crate::policy_fixture::{
        PROD, PolicyText, awaits_approval, exchange_id_token, login_token, start_governed,
    };
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
    let agent = s.workload_of("olivia", "deploy:*").await;
    let r = api(
        &s,
        Some(&carol),
        Method::POST,
        "/admin/api/identities",
        Some(json!({"agent_id": agent.client_id, "owner": "olivia", "roles": ["deployer"]})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mallory = login_token(&mock, "mallory");
    for n in 0..passport_store::server::MAX_PENDING_PER_REQUESTER {
        let scope = format!("deploy:x{n}");
        awaits_approval(exchange_id_token(&s, &agent, &mallory, PROD, Some(&scope)).await).await;
    }
    let victor = login_token(&mock, "victor");
    let r = exchange_id_token(&s, &agent, &victor, PROD, Some("deploy:run")).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending")),
        "victor's first request through the shared agent is refused by mallory's requests: {body}"
    );
    // mallory's next is refused, and told when to ask again
    let r = exchange_id_token(&s, &agent, &mallory, PROD, Some("deploy:more")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
}

/// A server whose requests end after 1.5 s, a client `app`, and the
/// answer to the first redemption of its code `code-1` (a passport and a
/// refresh token).
async fn redeemed() -> (crate::endpoints::Running, crate::code_grant::Client, Value) {
    use crate::code_grant::{client, code_for, ok, redeem};
    let s = crate::endpoints::start_with(tempfile::tempdir().unwrap(), |b| {
        b.request_timeout(Duration::from_millis(1500))
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
    (s, app, body)
}

/// The revocations (`revoke` records) audited so far.
async fn revocations_audited(db: &passport_store::server::Database) -> usize {
    use passport_audit::{Action, AuditRecord, Filter};
    db.export_audit(&Filter::default(), 100_000)
        .await
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
        .filter(|r| r.action == Action::Revoke)
        .count()
}

/// Review S14, fourth pass, V4-2: a refresh reuse ends its family in one
/// store transaction (which runs to its commit whatever becomes of the
/// request), but the `revoke` audit records of the passports it revoked
/// were written afterwards by the request handler, which is dropped at the
/// request deadline (`endpoints::deadline`) or when the client goes away.
/// Here the family's end is slow to commit (the trigger stands for a busy
/// disk or a long family) and outlasts the deadline: the family's
/// passports must still all be audited as revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_passport_a_refresh_reuse_revokes_is_audited() {
    use crate::code_grant::{ok, refresh};

    const ROTATIONS: usize = 3;
    let (s, app, body) = redeemed().await;
    let stolen = body["refresh_token"].as_str().unwrap().to_owned();
    let mut token = stolen.clone();
    for _ in 0..ROTATIONS {
        let body = ok(refresh(&s, &app, &token, &[]).await).await;
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    let db = s.server.database();
    assert_eq!(revocations_audited(db).await, 0);
    db.execute_script_for_tests(&slow_trigger(
        "slow_family_end",
        "AFTER UPDATE ON refresh_tokens WHEN NEW.revoked_at IS NOT NULL",
        3,
    ))
    .await
    .unwrap();
    let r = refresh(&s, &app, &stolen, &[]).await;
    eprintln!("reuse answered {}", r.status());
    let thiefs = passport_store::server::TokenHash::of(&token);
    let ended = until(Duration::from_secs(60), || async {
        db.refresh_revoked(&thiefs).await.unwrap()
    })
    .await;
    assert!(ended, "the family was not ended");
    let audited = until(Duration::from_secs(30), || async {
        revocations_audited(db).await == ROTATIONS + 1
    })
    .await;
    assert!(
        audited,
        "the family's {} passports are revoked, {} revocations audited",
        ROTATIONS + 1,
        revocations_audited(db).await
    );
}

/// Review S14, fourth pass, V4-2, the code's side: a reused authorization
/// code commits its `reused` mark in the store, and what the first use
/// issued (its passport, the refresh family it started) was revoked
/// afterwards by the request handler: a reuse whose mark is slow to
/// commit outlasts the request deadline, and the stolen grant stayed
/// alive. It must be ended, and audited, all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_a_reused_code_issued_is_revoked_past_the_deadline() {
    use crate::code_grant::redeem;

    let (s, app, body) = redeemed().await;
    let issued = body["refresh_token"].as_str().unwrap().to_owned();
    let db = s.server.database();
    db.execute_script_for_tests(&slow_trigger(
        "slow_reuse_mark",
        "AFTER UPDATE ON auth_codes WHEN NEW.reused_at IS NOT NULL",
        8,
    ))
    .await
    .unwrap();
    let r = redeem(&s, &app, "code-1", &[]).await;
    eprintln!("code reuse answered {}", r.status());
    let family = passport_store::server::TokenHash::of(&issued);
    let ended = until(Duration::from_secs(60), || async {
        db.refresh_revoked(&family).await.unwrap()
    })
    .await;
    assert!(ended, "the refresh family the code started is alive");
    let audited = until(Duration::from_secs(30), || async {
        revocations_audited(db).await >= 1
    })
    .await;
    assert!(audited, "the code's passport's revocation is not audited");
}
