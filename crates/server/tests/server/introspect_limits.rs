//! Per-client and per-address limits on `/introspect` and `/revoke`
//! (429 with `Retry-After`), each endpoint with buckets of its own.

use std::net::{IpAddr, Ipv4Addr};

use passport_server::WorkloadClient;
use passport_server::rate_limit::RateLimit;
use reqwest::StatusCode;

use crate::endpoints::{Running, rate_limited, start_with};

const TWO: RateLimit = RateLimit {
    burst: 2,
    per_second: 0.001,
};

/// A client whose connections come from `addr` (any 127/8 address is the
/// loopback interface).
fn from(addr: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(addr)))
        .build()
        .unwrap()
}

async fn call(
    s: &Running,
    http: &reqwest::Client,
    path: &str,
    client: &WorkloadClient,
    secret: &str,
    token: &str,
) -> reqwest::Response {
    http.post(s.at(path))
        .basic_auth(&client.client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_is_limited_per_client_and_per_address() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.introspection_rate_limit(TWO)
    })
    .await;
    let a = s.workload("files:read").await;
    let b = s.workload("files:read").await;
    let token = s.mint(&a, "files:read").await;
    let (here, there) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    let (sa, sb) = (a.secret.expose(), b.secret.expose());
    for _ in 0..2 {
        let r = call(&s, &here, "/introspect", &a, sa, &token).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // the address is spent, for every client
    rate_limited(call(&s, &here, "/introspect", &b, sb, &token).await).await;
    // from another address: client a is spent, client b is not
    rate_limited(call(&s, &there, "/introspect", &a, sa, &token).await).await;
    let r = call(&s, &there, "/introspect", &b, sb, &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    // revocation has buckets of its own
    let r = call(&s, &here, "/revoke", &a, sa, &token).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_secrets_spend_the_address_not_the_client() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.revocation_rate_limit(TWO)
    })
    .await;
    let a = s.workload("files:read").await;
    let token = s.mint(&a, "files:read").await;
    let (here, there) = (from([127, 0, 0, 1]), from([127, 0, 0, 3]));
    for _ in 0..2 {
        let r = call(&s, &here, "/revoke", &a, "wrong", &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    rate_limited(call(&s, &here, "/revoke", &a, a.secret.expose(), &token).await).await;
    // the client's own allowance is untouched by strangers using its id
    let r = call(&s, &there, "/revoke", &a, a.secret.expose(), &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    // introspection is not limited by revocation's buckets
    let r = call(&s, &here, "/introspect", &a, a.secret.expose(), &token).await;
    assert_eq!(r.status(), StatusCode::OK);
}
