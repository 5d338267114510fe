//! Cache lifetimes, background refresh, outages, key identity, and the
//! background task's end.

use std::time::Duration;

use passport_jose::{JWK_RETIRED_AT, VerifyingKey};
use serde_json::{Value, json};

use crate::common::{NOW, Reply, Server, builder, clock, eventually, jwks, key, lookup};

#[tokio::test]
async fn cache_headers_set_the_lifetime_within_the_bounds() {
    let server = Server::start().await;
    let a = key();
    let cases: [(Option<&str>, i64); 6] = [
        (None, 300),
        (Some("max-age=120"), 120),
        (Some("public, max-age=900"), 900),
        (Some("max-age=5"), 60),
        (Some("max-age=999999"), 3600),
        (Some("no-store"), 60),
    ];
    for (header, ttl) in cases {
        let mut reply = Reply::json(&jwks(&[&a]));
        if let Some(h) = header {
            reply = reply.with_header("cache-control", h);
        }
        server.set("/jwks", reply);
        let keys = builder(&clock())
            .trust_jwks(&server.base, server.url("/jwks"))
            .build()
            .await
            .unwrap();
        assert_eq!(keys.health()[0].expires_at, Some(NOW + ttl), "{header:?}");
    }
    // `Age` counts against `max-age`.
    server.set(
        "/jwks",
        Reply::json(&jwks(&[&a]))
            .with_header("cache-control", "max-age=500")
            .with_header("age", "200"),
    );
    let keys = builder(&clock())
        .trust_jwks(&server.base, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    assert_eq!(keys.health()[0].expires_at, Some(NOW + 300));
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_in_the_background() {
    let server = Server::start().await;
    let clock = clock();
    let (a, b) = (key(), key());
    server.set(
        "/jwks",
        Reply::json(&jwks(&[&a])).with_header("cache-control", "max-age=100"),
    );
    let keys = builder(&clock)
        .trust_jwks(&server.base, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    server.set(
        "/jwks",
        Reply::json(&jwks(&[&b])).with_header("cache-control", "max-age=100"),
    );
    // Not yet due: the background task does not ask.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.hits("/jwks"), 1);
    assert!(lookup(&keys, &server.base, b.kid()).is_none());
    // At 80 % of the lifetime (less jitter), it refreshes.
    clock.advance(80);
    eventually(|| lookup(&keys, &server.base, b.kid()).is_some()).await;
    assert!(
        lookup(&keys, &server.base, a.kid()).is_none(),
        "the old key is gone"
    );
    assert_eq!(server.hits("/jwks"), 2);
}

#[tokio::test]
async fn through_an_outage_the_last_good_set_is_kept_up_to_max_stale_then_fails_closed() {
    let server = Server::start().await;
    let clock = clock();
    let a = key();
    server.set(
        "/jwks",
        Reply::json(&jwks(&[&a])).with_header("cache-control", "max-age=100"),
    );
    let keys = builder(&clock)
        .trust_jwks(&server.base, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    server.set("/jwks", Reply::status(503));
    clock.advance(101);
    eventually(|| keys.health()[0].last_error.is_some()).await;
    let health = &keys.health()[0];
    assert_eq!(health.last_error.as_ref().unwrap().code, "http_status");
    assert!(health.stale && !health.failed_closed, "{health:?}");
    assert!(
        lookup(&keys, &server.base, a.kid()).is_some(),
        "stale but within max_stale"
    );

    // The last second of max_stale (600 s past the lifetime) still serves.
    clock.set(NOW + 100 + 600);
    assert!(lookup(&keys, &server.base, a.kid()).is_some());
    clock.advance(1);
    assert!(
        lookup(&keys, &server.base, a.kid()).is_none(),
        "failed closed"
    );
    assert!(keys.keys_of(&server.base).is_empty());
    let health = &keys.health()[0];
    assert!(health.failed_closed && !health.stale, "{health:?}");

    // The issuer comes back: the keys return on the next retry.
    server.set("/jwks", Reply::json(&jwks(&[&a])));
    clock.advance(30);
    eventually(|| lookup(&keys, &server.base, a.kid()).is_some()).await;
    assert!(keys.health()[0].last_error.is_none());
}

#[tokio::test]
async fn an_unchanged_key_keeps_its_object_across_refreshes() {
    let server = Server::start().await;
    let (a, b, c) = (key(), key(), key());
    server.set_jwks("/jwks", &[&a, &b]);
    let keys = builder(&clock())
        .trust_jwks(&server.base, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    let iss = server.base.clone();
    let before = lookup(&keys, &iss, a.kid()).unwrap();

    server.set_jwks("/jwks", &[&c, &a]);
    keys.refresh_now(&iss).await.unwrap();
    let after = lookup(&keys, &iss, a.kid()).unwrap();
    assert!(
        after.same_key(&before),
        "a refresh must not replace an unchanged key object"
    );
    assert!(lookup(&keys, &iss, b.kid()).is_none());
    assert!(lookup(&keys, &iss, c.kid()).is_some());

    // Retirement published for A: a new object, carrying the retirement.
    let mut retired = a.verifying_key().jwk().clone();
    retired.insert(JWK_RETIRED_AT.into(), json!(NOW - 10));
    let doc = json!({"keys": [Value::Object(retired), c.verifying_key().jwk()]});
    server.set("/jwks", Reply::json(&doc));
    keys.refresh_now(&iss).await.unwrap();
    let retired: VerifyingKey = lookup(&keys, &iss, a.kid()).unwrap();
    assert!(!retired.same_key(&before));
    assert_eq!(retired.retired_at(), Some(NOW - 10));
    // And C, unchanged, kept its object through both refreshes.
    let c_now = lookup(&keys, &iss, c.kid()).unwrap();
    keys.refresh_now(&iss).await.unwrap();
    assert!(lookup(&keys, &iss, c.kid()).unwrap().same_key(&c_now));
}

#[tokio::test]
async fn the_background_task_ends_with_the_last_handle() {
    let server = Server::start().await;
    let clock = clock();
    server.set(
        "/jwks",
        Reply::json(&jwks(&[&key()])).with_header("cache-control", "max-age=60"),
    );
    let keys = builder(&clock)
        .trust_jwks(&server.base, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    let clone = keys.clone();
    drop(keys);
    // Running while a clone lives: a due refresh happens.
    clock.advance(60);
    eventually(|| server.hits("/jwks") == 2).await;
    drop(clone);
    clock.advance(3600);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.hits("/jwks"),
        2,
        "no fetch after the last handle is gone"
    );
}
