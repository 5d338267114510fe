//! The code and refresh grants ask governance BEFORE they spend the code or
//! rotate the refresh token (review S5, finding 3): a refusal — here an
//! approval pending — leaves the code or token usable, so the client asks
//! again with it once approved. A code already used, or a refresh token
//! already rotated, is still taken as a reuse at once (what it issued is
//! revoked), whatever governance would answer.

use passport_store::server::{PassportState, TokenHash};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::code_grant::{Client, client as code_client, code_for, redeem, refresh};
use crate::endpoints::{RESOURCE, expect_refusal};
use crate::exchange::{links, now};
use crate::governance_policy::{Governed, POLICY, governed};
use crate::policy_fixture::{PROD, awaits_approval};

/// A governed server whose prod environment (approval required) holds
/// RESOURCE, the code-flow client "code-app", registered (owner olga) with
/// the deployer role (the approver bob logs in when he approves).
pub(crate) struct Setup {
    pub(crate) g: Governed,
    pub(crate) c: Client,
}

pub(crate) async fn setup() -> Setup {
    let g = governed(&POLICY.replace(PROD, RESOURCE)).await;
    let c = code_client(&g.s, "code-app", "deploy:run").await;
    let identity = json!({"agent_id": "code-app", "owner": "olga", "roles": ["deployer"]});
    g.register(identity).await;
    Setup { g, c }
}

impl Setup {
    /// The answer must be `authorization_pending` by the approval rule; the
    /// approval's id.
    async fn pending(&self, r: reqwest::Response) -> String {
        let body = awaits_approval(r).await;
        body["approval_id"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn redeem(&self, code: &str) -> reqwest::Response {
        redeem(&self.g.s, &self.c, code, &[]).await
    }

    pub(crate) async fn refresh(&self, token: &str) -> reqwest::Response {
        refresh(&self.g.s, &self.c, token, &[]).await
    }

    /// A code redeemed once approved: the passport's `jti` and the refresh
    /// token. The code lives longer than the approval (900 s).
    async fn redeemed(&self, code: &str) -> (String, String) {
        code_for(&self.g.s, &self.c, code, "deploy:run", now() + 3600).await;
        let id = self.pending(self.redeem(code).await).await;
        self.g.approve(&id).await;
        issued(self.redeem(code).await).await
    }

    async fn state(&self, jti: &str) -> PassportState {
        self.record(jti).await.state
    }

    /// `rotated`, used again, must be taken as a reuse: the passports
    /// `revoked` are revoked, and the family's `latest` token is refused.
    async fn reuse_revokes(&self, rotated: &str, latest: &str, revoked: &[&str]) {
        let r = self.refresh(rotated).await;
        let reused = "refresh_token_reused";
        expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_grant", reused).await;
        for jti in revoked {
            assert_eq!(self.state(jti).await, PassportState::Revoked, "{jti}");
        }
        let r = self.refresh(latest).await;
        expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_grant", "refresh_token").await;
    }

    async fn record(&self, jti: &str) -> passport_store::server::RegistryRecord {
        self.g.s.record(jti).await
    }
}

/// A 200: the passport's `jti` and the refresh token.
async fn issued(r: reqwest::Response) -> (String, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let jti = links(body["access_token"].as_str().unwrap())
        .pop()
        .unwrap()
        .jti;
    (jti, body["refresh_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_code_refused_by_governance_is_redeemed_once_approved_and_still_once() {
    let t = setup().await;
    let db = t.g.s.server.database();
    code_for(&t.g.s, &t.c, "code-1", "deploy:run", now() + 600).await;
    let id = t.pending(t.redeem("code-1").await).await;
    assert!(!db.code_spent(&TokenHash::of("code-1")).await.unwrap());
    // asked again before the decision: still pending, the same approval
    assert_eq!(t.pending(t.redeem("code-1").await).await, id);
    t.g.approve(&id).await;
    // the same code, within its lifetime
    let (jti, _) = issued(t.redeem("code-1").await).await;
    let record = t.record(&jti).await;
    assert_eq!(record.entry.approval_id.as_deref(), Some(id.as_str()));
    assert_eq!(record.entry.environment.as_deref(), Some("prod"));
    // still single-use: the second use is a reuse, and revokes what it issued
    let r = t.redeem("code-1").await;
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_grant", "code_reused").await;
    assert_eq!(t.state(&jti).await, PassportState::Revoked);
}

#[tokio::test]
async fn a_used_code_is_a_reuse_even_while_governance_would_refuse() {
    let t = setup().await;
    let (jti, _) = t.redeemed("code-1").await;
    // the approval expires (not the code): governance would now answer
    // pending, but the code was used, and its use again is a reuse at once
    t.g.clock.advance(901);
    let r = t.redeem("code-1").await;
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_grant", "code_reused").await;
    assert_eq!(t.state(&jti).await, PassportState::Revoked);
}

#[tokio::test]
async fn an_expired_code_is_expired_whatever_governance_would_answer() {
    let t = setup().await;
    code_for(&t.g.s, &t.c, "code-old", "deploy:run", now() + 60).await;
    t.g.clock.advance(61);
    let r = t.redeem("code-old").await;
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_grant", "code_expired").await;
}

#[tokio::test]
async fn a_refresh_refused_by_governance_rotates_once_approved_and_reuse_still_revokes() {
    let t = setup().await;
    let db = t.g.s.server.database();
    let (first, r1) = t.redeemed("code-1").await;
    t.g.clock.advance(901);
    let id = t.pending(t.refresh(&r1).await).await;
    // nothing spent: neither the token nor the family's passport
    assert!(!db.refresh_spent(&TokenHash::of(&r1)).await.unwrap());
    assert_eq!(t.state(&first).await, PassportState::Active);
    t.g.approve(&id).await;
    let (second, r2) = issued(t.refresh(&r1).await).await;
    let record = t.record(&second).await;
    assert_eq!(record.entry.approval_id.as_deref(), Some(id.as_str()));
    assert!(db.refresh_spent(&TokenHash::of(&r1)).await.unwrap());
    // the rotated token again: the family and its passports are revoked
    t.reuse_revokes(&r1, &r2, &[&second, &first]).await;
}

#[tokio::test]
async fn a_rotated_refresh_token_is_a_reuse_even_while_governance_would_refuse() {
    let t = setup().await;
    let (_, r1) = t.redeemed("code-1").await;
    let (second, r2) = issued(t.refresh(&r1).await).await;
    // the approval expires: governance would now answer pending, but r1
    // was rotated, and its use again is a reuse at once
    t.g.clock.advance(901);
    t.reuse_revokes(&r1, &r2, &[&second]).await;
}
