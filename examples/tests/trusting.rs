//! `PassportAuth::trusting`: a resource server that trusts an issuer by URL
//! alone, against a real publishing issuer on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use passport_axum::{AuthError, Passport, PassportAuth, Requirements};
use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
use passport_examples::remote::PublishingIssuer;
use passport_issuer::{IssuanceRequest, IssuedPassport, Issuer};

const RESOURCE: &str = "http://127.0.0.1:9/files";

fn mint(issuer: &Issuer, resource: &str) -> IssuedPassport {
    issuer
        .issue(IssuanceRequest::new(
            IdentityAssertion::new("https://idp.example", "alice"),
            Audience::new(resource).unwrap(),
            AgentId::new("writer").unwrap(),
            AgentModel::new("model-x").unwrap(),
            ScopeSet::parse(["files:read"]).unwrap(),
        ))
        .unwrap()
}

async fn trusting(issuer: &str, resource: &str) -> Result<PassportAuth, AuthError> {
    PassportAuth::trusting(issuer)
        .resource(resource)
        .configure_keys(|k| {
            k.min_ttl(Duration::from_secs(1))
                .unknown_kid_cooldown(Duration::from_secs(1))
        })
        .configure_status(|s| s.min_interval(Duration::from_millis(200)))
        .build()
        .await
}

/// Serves `/files` behind `auth` on a free port; returns its URL.
async fn serve(listener: tokio::net::TcpListener, auth: &PassportAuth) {
    let app = Router::new()
        .route(
            "/files",
            get(|p: Passport| async move { p.agent_id().to_owned() }),
        )
        .route_layer(auth.require(Requirements::scope("files:read")))
        .merge(auth.metadata_router());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

async fn status_of(url: &str, bundle: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(url)
        .header("authorization", format!("Bearer {bundle}"))
        .send()
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

async fn until(url: &str, bundle: &str, status: u16) -> String {
    let start = Instant::now();
    loop {
        let (got, challenge) = status_of(url, bundle).await;
        if got == status {
            return challenge;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still {got} {challenge} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_resource_is_required() {
    let (issuer, _) = PublishingIssuer::start().await.unwrap();
    let err = PassportAuth::trusting(issuer.url())
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_configuration");
}

#[tokio::test]
async fn an_issuer_that_cannot_be_reached_fails_the_start_naming_it() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let err = trusting(&issuer, RESOURCE).await.unwrap_err();
    assert!(matches!(err, AuthError::TrustUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains(&issuer), "{err}");
}

#[tokio::test]
async fn metadata_that_names_another_issuer_is_refused() {
    let (real, _) = PublishingIssuer::start().await.unwrap();
    // A server whose metadata claims to be `real`: trusting it by its own
    // URL must not accept the document.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let impostor = format!("http://{}", listener.local_addr().unwrap());
    let claimed = real.url();
    let app = Router::new().route(
        "/.well-known/oauth-authorization-server",
        get(move || {
            let claimed = claimed.clone();
            async move {
                axum::Json(serde_json::json!({
                    "issuer": claimed,
                    "jwks_uri": format!("{claimed}/jwks.json"),
                }))
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let err = trusting(&impostor, RESOURCE).await.unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch", "{err:?}");
}

#[tokio::test]
async fn passports_verify_revocations_and_rotations_arrive_and_other_issuers_are_refused() {
    let (issuer, minter) = PublishingIssuer::start().await.unwrap();
    let (stranger, stranger_minter) = PublishingIssuer::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/files", listener.local_addr().unwrap());
    let auth = trusting(&issuer.url(), &url).await.unwrap();
    serve(listener, &auth).await;

    // The RFC 9728 metadata names the issuer as the authorization server.
    let metadata: serde_json::Value = reqwest::get(auth.metadata_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["authorization_servers"],
        serde_json::json!([issuer.url()])
    );

    let first = mint(&minter, &url);
    assert_eq!(status_of(&url, first.bundle()).await.0, 200);

    // Another issuer's passport, for this very resource: not trusted.
    let foreign = mint(&stranger_minter, &url);
    let (status, challenge) = status_of(&url, foreign.bundle()).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("untrusted_issuer"), "{challenge}");
    drop(stranger);

    // A revocation published by the issuer arrives without a restart.
    let idx = first.claims().status.as_ref().unwrap().idx();
    issuer.revoke(idx).unwrap();
    let challenge = until(&url, first.bundle(), 401).await;
    assert!(challenge.contains("revoked"), "{challenge}");

    // A new key: its passports are accepted without a restart.
    let rotated = issuer.rotate().unwrap();
    let second = mint(&rotated, &url);
    until(&url, second.bundle(), 200).await;

    let trust = auth.trust().expect("trusting keeps its refreshers");
    let keys = trust.keys().health();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].keys, 3, "the status key and two signing keys");
    assert!(!trust.status().health().lists.is_empty());
}

/// Finding 3: the publishing issuer the remote examples teach with kept
/// every rotated-out key fully active: a leaked old key could mint
/// passports forever. Rotation publishes the old passport key as retired
/// (`passport_jose::JWK_RETIRED_AT`), so passports it signed before keep
/// verifying and none it signs afterwards do.
#[tokio::test]
async fn a_rotated_out_key_is_published_as_retired() {
    let (issuer, first) = PublishingIssuer::start().await.unwrap();
    let old_kid = first.kid().to_owned();
    let second = issuer.rotate().unwrap();
    let jwks: serde_json::Value = reqwest::get(format!("{}/jwks.json", issuer.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let by_kid = |kid: &str| {
        keys.iter()
            .find(|k| k["kid"] == kid)
            .unwrap_or_else(|| panic!("{kid} not published"))
            .clone()
    };
    assert!(
        by_kid(&old_kid)
            .get(passport_jose::JWK_RETIRED_AT)
            .is_some(),
        "the rotated-out key is still active: {jwks}"
    );
    assert!(
        by_kid(second.kid())
            .get(passport_jose::JWK_RETIRED_AT)
            .is_none()
    );
    // The status list's key (the first published) is never retired.
    assert!(keys[0].get(passport_jose::JWK_RETIRED_AT).is_none());
}
