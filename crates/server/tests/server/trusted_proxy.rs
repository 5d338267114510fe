//! Session 15: a request's address behind trusted reverse proxies. Behind
//! a proxy every request came from the proxy's address, so one client over
//! its limit got every client refused; with `trusted_proxies`, the address
//! the proxy names in `X-Forwarded-For` is limited instead, and a client
//! that is not a trusted proxy cannot choose its address with the header.

use passport_server::client_address::TrustedProxy;
use passport_server::rate_limit::RateLimit;
use reqwest::StatusCode;

use crate::endpoints::{Running, expect_error, rate_limited, start_with};

/// Two requests per address, then 429 for a long time.
const TIGHT: RateLimit = RateLimit {
    burst: 2,
    per_second: 0.001,
};

/// A `/token` request with unknown client credentials (401 unless the
/// address is over its limit), as if forwarded for `client`.
async fn token_for(s: &Running, client: &str) -> reqwest::Response {
    s.http
        .post(s.at("/token"))
        .header("x-forwarded-for", client)
        .basic_auth("nobody", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// Spends the limit of the address the connection's requests are taken
/// to come from, each request forwarded for one of `clients`.
async fn spend_limit(s: &Running, clients: [&str; 2]) {
    for client in clients {
        let r = token_for(s, client).await;
        expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    // the test connects from 127.0.0.1: the proxy
    let proxy: TrustedProxy = "127.0.0.1".parse().unwrap();
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.token_rate_limit(TIGHT).trusted_proxies([proxy])
    })
    .await;
    spend_limit(&s, ["203.0.113.7"; 2]).await;
    rate_limited(token_for(&s, "203.0.113.7").await).await;
    // another client behind the same proxy is not refused for it
    let r = token_for(&s, "203.0.113.8").await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // a client writing its own header gains nothing: the proxy's entry
    // (rightmost) names it
    rate_limited(token_for(&s, "198.51.100.1, 203.0.113.7").await).await;
}

#[tokio::test]
async fn without_trusted_proxies_the_header_is_ignored() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| b.token_rate_limit(TIGHT)).await;
    spend_limit(&s, ["203.0.113.1", "203.0.113.2"]).await;
    // a new address in the header every time: still the connection's limit
    rate_limited(token_for(&s, "203.0.113.99").await).await;
}

#[tokio::test]
async fn a_connection_from_outside_the_trusted_networks_cannot_choose_its_address() {
    let elsewhere: TrustedProxy = "10.0.0.0/8".parse().unwrap();
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.token_rate_limit(TIGHT).trusted_proxies([elsewhere])
    })
    .await;
    spend_limit(&s, ["203.0.113.1", "203.0.113.2"]).await;
    rate_limited(token_for(&s, "203.0.113.99").await).await;
}
