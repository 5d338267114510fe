//! SPEC §5's chain rules enforced when token exchange issues a child: an
//! empty-scope parent never yields a wider child, a child is clamped to its
//! subject token's expiry (never extended, at any depth), and a subject
//! token with `alg: none` or past its expiry is refused.

use passport_claims::{
    AgentId, AgentModel, Audience, Clock as _, IdentityAssertion, PASSPORT_TYP, ScopeSet,
};
use passport_issuer::{IssuanceRequest, Issuer};
use passport_jose::SigningKey;
use passport_store::server::{KeyState, PassportEntry};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::{RESOURCE, Running, expect_refusal, start, start_clocked};
use crate::exchange::{CHILD_RESOURCE, error, exchange, links};

/// A root with no scope at all, signed with the server's own key and
/// recorded in its registry (no grant mints one: `scope` cannot be empty).
async fn empty_scope_root(s: &Running, client_id: &str) -> String {
    let db = s.server.database();
    let record = db
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.state == KeyState::Current)
        .unwrap();
    let key = SigningKey::from_jwk_json(record.private_key.expose().as_bytes()).unwrap();
    let issuer = Issuer::new(s.server.issuer(), key);
    let issued = issuer
        .issue(IssuanceRequest::new(
            IdentityAssertion::new(s.server.issuer(), "alice"),
            Audience::new(RESOURCE).unwrap(),
            AgentId::new(client_id).unwrap(),
            AgentModel::new("workload").unwrap(),
            ScopeSet::empty(),
        ))
        .unwrap();
    let claims = issued.claims();
    db.record_issued(PassportEntry {
        jti: claims.jti.clone(),
        parent_jti: None,
        actor_jti: None,
        client_id: client_id.to_owned(),
        agent_id: client_id.to_owned(),
        principal: claims.sub.clone(),
        audience: claims.aud.clone(),
        scopes: String::new(),
        iat: claims.iat,
        exp: claims.exp,
        kid: record.kid.clone(),
        status_uri: None,
        status_idx: None,
        created_at: claims.iat,
        environment: None,
        approval_id: None,
    })
    .await
    .unwrap();
    issued.bundle().to_owned()
}

#[tokio::test]
async fn an_empty_scope_parent_never_yields_a_wider_child() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let parent = empty_scope_root(&s, &client.client_id).await;
    for scope in ["files:read", "files:*"] {
        let r = exchange(
            &s,
            &client,
            &parent,
            &[("resource", CHILD_RESOURCE), ("scope", scope)],
            None,
        )
        .await;
        expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_scope", "scope_widened").await;
    }
    // without a scope the child inherits the parent's: nothing
    let r = exchange(&s, &client, &parent, &[("resource", CHILD_RESOURCE)], None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "");
    assert!(
        links(body["access_token"].as_str().unwrap())[0]
            .agent
            .tool_scope
            .is_empty()
    );
}

#[tokio::test]
async fn a_child_never_outlives_its_subject_token_at_any_depth() {
    // each child asks for the full 15 minutes from now: more than is left
    let (clock, s) = start_clocked(|b| b).await;
    let client = s.workload("files:*").await;
    let root = s.mint(&client, "files:*").await;
    let root_exp = links(&root)[0].exp;
    let mut subject = root.clone();
    for _ in 0..2 {
        clock.advance(120);
        let r = exchange(&s, &client, &subject, &[("resource", RESOURCE)], None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        subject = body["access_token"].as_str().unwrap().to_owned();
        let chain = links(&subject);
        assert_eq!(chain[0].exp, chain[1].exp, "clamped to the parent");
        assert!(chain[0].exp <= root_exp, "never extended");
        assert_eq!(body["expires_in"], root_exp - clock.now());
    }
    // past the subject's expiry: refused
    clock.set(root_exp + 1);
    let r = exchange(&s, &client, &subject, &[("resource", RESOURCE)], None).await;
    assert_eq!(error(r).await["error"], "invalid_grant");
}

#[tokio::test]
async fn a_subject_token_with_alg_none_is_invalid_grant() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let root = s.mint(&client, "files:*").await;
    let payload = root.split('.').nth(1).unwrap();
    let b64 = |v: &Value| passport_jose::b64::encode(serde_json::to_vec(v).unwrap());
    for header in [
        json!({"alg": "none", "typ": PASSPORT_TYP}),
        json!({"alg": "NONE", "typ": PASSPORT_TYP, "kid": s.server.kid()}),
    ] {
        for signature in ["", "AAAA"] {
            let forged = format!("{}.{payload}.{signature}", b64(&header));
            let r = exchange(&s, &client, &forged, &[("resource", RESOURCE)], None).await;
            assert_eq!(error(r).await["error"], "invalid_grant", "{header}");
        }
    }
}
