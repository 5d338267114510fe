//! RFC 8693 with an upstream ID token as the subject token: a root passport
//! for the ID token's `sub`, only from the configured provider (its keys,
//! its issuer, its client id as `aud`, its times); refused without one.

use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::{RESOURCE, Running, expect_error, expect_refusal, start, start_with};
use crate::exchange::{ID_TOKEN, exchange_of, issued, links, now};

/// The form member naming [`RESOURCE`].
const FOR_RESOURCE: [(&str, &str); 1] = [("resource", RESOURCE)];

/// A server with the mock provider upstream (and no administrators).
pub(crate) async fn with_upstream() -> (MockOidc, Running) {
    let mock = MockOidc::start().await;
    let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
    let s = start_with(tempfile::tempdir().unwrap(), |b| b.upstream(provider)).await;
    (mock, s)
}

#[tokio::test]
async fn an_upstream_id_token_yields_a_root_for_its_subject() {
    let (mock, s) = with_upstream().await;
    let client = s.workload("files:read files:write").await;
    let id_token = mock.mint_id_token(mock.default_claims());
    let sub = mock.default_claims()["sub"].as_str().unwrap().to_owned();
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = s.token_proof(&key);
    let r = exchange_of(
        &s,
        &client,
        (&id_token, ID_TOKEN),
        &[("resource", RESOURCE), ("scope", "files:read")],
        Some(&proof),
    )
    .await;
    let body = issued(r).await;
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["scope"], "files:read");
    let chain = links(body["access_token"].as_str().unwrap());
    assert_eq!(chain.len(), 1, "a root");
    let root = &chain[0];
    assert_eq!(root.sub, sub);
    assert_eq!(root.iss, s.url);
    assert_eq!(root.aud, RESOURCE);
    assert_eq!(root.agent.agent_id, client.client_id);
    assert_eq!(root.agent.parent_jti, None);
    assert_eq!(root.cnf_jkt.as_deref(), Some(key.jkt()));
    let recorded = s.server.database().passport(&root.jti).await.unwrap();
    assert_eq!(recorded.unwrap().entry.principal, sub);

    // the resource is required, and the scopes stay within the client's
    let r = exchange_of(&s, &client, (&id_token, ID_TOKEN), &[], None).await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    let r = exchange_of(
        &s,
        &client,
        (&id_token, ID_TOKEN),
        &[("resource", RESOURCE), ("scope", "mail:send")],
        None,
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[tokio::test]
async fn without_an_upstream_an_id_token_is_an_unsupported_token_type() {
    let s = start().await;
    let mock = MockOidc::start().await;
    let client = s.workload("files:read").await;
    let id_token = mock.mint_id_token(mock.default_claims());
    let r = exchange_of(&s, &client, (&id_token, ID_TOKEN), &FOR_RESOURCE, None).await;
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "token_type_unsupported:",
    )
    .await;
}

#[tokio::test]
async fn id_tokens_the_upstream_did_not_issue_for_this_server_are_refused() {
    let (mock, s) = with_upstream().await;
    let client = s.workload("files:read").await;
    let claims = mock.default_claims();
    let with = |member: &str, value: Value| {
        let mut c = claims.clone();
        c[member] = value;
        c
    };
    let b64 = |v: &Value| passport_jose::b64::encode(serde_json::to_vec(v).unwrap());
    let stranger = MockOidc::start().await;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another issuer",
            mock.mint_id_token(with("iss", json!(stranger.issuer()))),
            "issuer_mismatch",
        ),
        (
            "another audience",
            mock.mint_id_token(with("aud", json!("someone-else"))),
            "id_token_audience_mismatch",
        ),
        (
            "expired",
            mock.mint_id_token(with("exp", json!(now() - 3600))),
            "id_token_expired",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims)
            ),
            "",
        ),
        (
            "alg none with signature bytes",
            format!(
                "{}.{}.AAAA",
                b64(&json!({"alg": "none", "kid": mock.current_kid()})),
                b64(&claims)
            ),
            "alg_none",
        ),
        (
            // the same claims, signed by a key the upstream never published
            "an unknown key",
            stranger.mint_id_token(claims.clone()),
            "unknown_kid",
        ),
    ];
    for (what, token, code) in cases {
        let r = exchange_of(&s, &client, (&token, ID_TOKEN), &FOR_RESOURCE, None).await;
        let body = expect_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with(code), "{what}: {body}");
    }
}
