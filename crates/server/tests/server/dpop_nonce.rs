//! RFC 9449 §8 server nonces at `/token` (`ServerBuilder::dpop_nonces`):
//! a proof without the current nonce is `use_dpop_nonce` with a
//! `DPoP-Nonce` header; every answer carries a fresh one; a stale, forged
//! or foreign nonce is refused; a second instance on the same database
//! accepts the first's nonce.

use std::sync::Arc;

use passport_claims::{Clock as _, ManualClock};
use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_server::WorkloadClient;
use reqwest::StatusCode;
use serde_json::Value;

use crate::endpoints::{RESOURCE, Running, expect_refusal, start_on, start_with};
use crate::exchange::now;

async fn with_nonces(clock: &Arc<ManualClock>) -> Running {
    let clock = clock.clone();
    start_with(tempfile::tempdir().unwrap(), move |b| {
        b.clock(clock).dpop_nonces(true)
    })
    .await
}

/// A `client_credentials` request with a proof by `key` carrying `nonce`.
async fn request(
    s: &Running,
    client: &WorkloadClient,
    key: &DpopKey,
    nonce: Option<&str>,
    at: i64,
) -> reqwest::Response {
    let proof = key.proof("POST", &s.at("/token"), None, nonce, at).unwrap();
    s.http
        .post(s.at("/token"))
        .basic_auth(&client.client_id, Some(client.secret.expose()))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap()
}

fn nonce_of(r: &reqwest::Response) -> String {
    r.headers()["dpop-nonce"].to_str().unwrap().to_owned()
}

async fn use_nonce(r: reqwest::Response, why: &str) -> String {
    let nonce = nonce_of(&r);
    expect_refusal(r, StatusCode::BAD_REQUEST, "use_dpop_nonce", why).await;
    nonce
}

#[tokio::test]
async fn a_proof_without_the_nonce_gets_one_and_succeeds_with_it() {
    let clock = Arc::new(ManualClock::new(now()));
    let s = with_nonces(&clock).await;
    let client = s.workload("files:read").await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let r = request(&s, &client, &key, None, clock.now()).await;
    let nonce = use_nonce(r, "use_dpop_nonce: DPoP nonce required: missing").await;
    let r = request(&s, &client, &key, Some(&nonce), clock.now()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!nonce_of(&r).is_empty(), "a fresh nonce with every answer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    // a request without DPoP is not affected, and is told the nonce too
    let r = s
        .token(
            &client,
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(nonce_of(&r), nonce, "the same window, the same nonce");
}

#[tokio::test]
async fn stale_forged_and_foreign_nonces_are_refused() {
    let clock = Arc::new(ManualClock::new(now()));
    let s = with_nonces(&clock).await;
    let client = s.workload("files:read").await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let first = use_nonce(request(&s, &client, &key, None, clock.now()).await, "").await;

    // the next window still accepts it (current and previous)
    clock.advance(300);
    let r = request(&s, &client, &key, Some(&first), clock.now()).await;
    assert_eq!(r.status(), StatusCode::OK);
    // two windows on: stale
    clock.advance(300);
    let r = request(&s, &client, &key, Some(&first), clock.now()).await;
    let fresh = use_nonce(r, "use_dpop_nonce: DPoP nonce required: invalid or expired").await;
    assert_ne!(fresh, first);

    // forged: the right shape, no MAC of this server
    let forged = passport_jose::b64::encode([7u8; 32]);
    for nonce in [forged.as_str(), "", "not base64!"] {
        let r = request(&s, &client, &key, Some(nonce), clock.now()).await;
        use_nonce(r, "use_dpop_nonce:").await;
    }

    // another server's nonce (another database, another secret)
    let other = with_nonces(&clock).await;
    let other_client = other.workload("files:read").await;
    let theirs = use_nonce(
        request(&other, &other_client, &key, None, clock.now()).await,
        "",
    )
    .await;
    assert_ne!(theirs, fresh);
    let r = request(&s, &client, &key, Some(&theirs), clock.now()).await;
    use_nonce(r, "use_dpop_nonce: DPoP nonce required: invalid or expired").await;
    // while this server's own current nonce works
    let r = request(&s, &client, &key, Some(&fresh), clock.now()).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_second_instance_on_the_same_database_accepts_the_first_ones_nonce() {
    let clock = Arc::new(ManualClock::new(now()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let configure = |clock: Arc<ManualClock>| {
        move |b: passport_server::ServerBuilder| b.clock(clock).dpop_nonces(true)
    };
    let first = start_on(path.to_str().unwrap(), configure(clock.clone())).await;
    let second = start_on(path.to_str().unwrap(), configure(clock.clone())).await;
    let client = first.workload("files:read").await;
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let nonce = use_nonce(request(&first, &client, &key, None, clock.now()).await, "").await;
    let r = request(&second, &client, &key, Some(&nonce), clock.now()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(nonce_of(&r), nonce);
}
