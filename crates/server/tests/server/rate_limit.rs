use std::net::IpAddr;
use std::sync::Arc;

use passport_claims::ManualClock;
use passport_server::client_auth::{
    AuthenticatedClient, ClientCredentials, ClientSecret, RegisteredAuth, authenticate,
};
use passport_server::form::Form;

use crate::block_on;
use passport_server::rate_limit::{RateLimit, RateLimiter};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn limiter(burst: u32, per_second: f64, max_keys: usize) -> (RateLimiter, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(10_000));
    (
        RateLimiter::new(RateLimit { burst, per_second }, max_keys, clock.clone()),
        clock,
    )
}

/// `id` authenticated with its secret (the only way to get the type).
fn confidential(id: &str) -> AuthenticatedClient {
    let (secret, hash) = ClientSecret::generate().unwrap();
    let body = format!("client_id={id}&client_secret={}", secret.expose());
    let creds =
        ClientCredentials::extract(None, &Form::parse(body.as_bytes(), 4096).unwrap()).unwrap();
    block_on(authenticate(
        &creds,
        &RegisteredAuth::SecretPost(hash),
        None,
    ))
    .unwrap()
}

/// `id` as a public client (method `none`).
fn public(id: &str) -> AuthenticatedClient {
    let body = format!("client_id={id}");
    let creds =
        ClientCredentials::extract(None, &Form::parse(body.as_bytes(), 4096).unwrap()).unwrap();
    block_on(authenticate(&creds, &RegisteredAuth::None, None)).unwrap()
}

#[test]
fn burst_then_retry_after_then_refill() {
    let (l, clock) = limiter(3, 0.5, 100);
    for _ in 0..3 {
        l.check_address(ip("198.51.100.1")).unwrap();
    }
    let err = l.check_address(ip("198.51.100.1")).unwrap_err();
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(err.retry_after(), 2); // 0.5 token per second
    let o = err.oauth();
    assert_eq!(o.status, 429);
    assert!(o.headers().contains(&("retry-after", "2".to_owned())));
    clock.advance(1);
    assert!(l.check_address(ip("198.51.100.1")).is_err());
    clock.advance(1);
    l.check_address(ip("198.51.100.1")).unwrap();
    // the same for a client's bucket
    let c = confidential("c");
    for _ in 0..3 {
        l.check_client(&c).unwrap();
    }
    assert_eq!(l.check_client(&c).unwrap_err().retry_after(), 2);
}

#[test]
fn client_and_address_limited_separately() {
    let (l, _) = limiter(2, 1.0, 100);
    // one client (from many addresses): the client's bucket stops it
    let c = confidential("c");
    l.check_client(&c).unwrap();
    l.check_client(&c).unwrap();
    assert!(l.check_client(&c).is_err());
    // other clients and the addresses are untouched
    l.check_client(&confidential("d")).unwrap();
    // many clients from one address: the address's bucket stops them
    l.check_address(ip("192.0.2.9")).unwrap();
    l.check_address(ip("192.0.2.9")).unwrap();
    assert!(l.check_address(ip("192.0.2.9")).is_err());
    l.check_address(ip("192.0.2.10")).unwrap();
}

/// A client id of any length costs one fixed-size key (its SHA-256).
#[test]
fn long_client_ids_are_keyed_by_hash() {
    let (l, _) = limiter(1, 1.0, 100);
    let long = "x".repeat(2_000);
    let a = confidential(&long);
    l.check_client(&a).unwrap();
    assert!(l.check_client(&a).is_err());
    // an id differing only at its end is another bucket
    l.check_client(&confidential(&format!("{long}y"))).unwrap();
    assert_eq!(l.len(), 2);
}

#[test]
fn ipv6_keyed_by_64_and_mapped_v4_as_v4() {
    let (l, _) = limiter(1, 1.0, 100);
    l.check_address(ip("2001:db8:1:2::1")).unwrap();
    assert!(
        l.check_address(ip("2001:db8:1:2:ffff::9")).is_err(),
        "same /64"
    );
    l.check_address(ip("2001:db8:1:3::1")).unwrap();
    l.check_address(ip("203.0.113.5")).unwrap();
    assert!(l.check_address(ip("::ffff:203.0.113.5")).is_err());
}

#[test]
fn memory_is_bounded() {
    let (l, _) = limiter(1, 1.0, 50);
    for i in 0..1_000u32 {
        l.check_address(IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
            .unwrap();
    }
    assert!(l.len() <= 50, "{}", l.len());
}

#[test]
fn refilled_buckets_are_evicted_first() {
    let (l, clock) = limiter(2, 1.0, 3);
    l.check_address(ip("192.0.2.9")).unwrap();
    clock.advance(5); // 192.0.2.9 is full again: same as no bucket
    let busy = confidential("busy");
    l.check_client(&busy).unwrap();
    l.check_client(&busy).unwrap();
    l.check_address(ip("192.0.2.1")).unwrap();
    assert_eq!(l.len(), 3);
    l.check_address(ip("192.0.2.2")).unwrap(); // table full: the idle bucket goes
    assert_eq!(l.len(), 3);
    let err = l.check_client(&busy).unwrap_err();
    assert_eq!(err.retry_after(), 1, "the busy client's bucket was kept");
}

/// Eviction makes room for an eighth of the table at once, the least
/// recently touched first: the scan is not paid on every new key.
#[test]
fn eviction_is_batched_oldest_first() {
    let (l, clock) = limiter(2, 0.001, 80);
    for i in 0..80u32 {
        l.check_address(IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
            .unwrap();
        clock.advance(1);
    }
    assert_eq!(l.len(), 80);
    l.check_address(ip("192.0.2.1")).unwrap();
    // 10 (= 80 / 8) evicted, then the new key: 71
    assert_eq!(l.len(), 71);
    // the next nine new keys need no eviction
    for i in 0..9u32 {
        l.check_address(IpAddr::from((0xc000_0200 + 10 + i).to_be_bytes()))
            .unwrap();
    }
    assert_eq!(l.len(), 80);
    // the newest buckets were kept (still spent), the oldest went (fresh)
    l.check_address(IpAddr::from((0x0a00_0000u32 + 79).to_be_bytes()))
        .unwrap();
    assert!(
        l.check_address(IpAddr::from((0x0a00_0000u32 + 79).to_be_bytes()))
            .is_err(),
        "a recent bucket was evicted"
    );
}

#[test]
fn zero_rate_never_refills() {
    let (l, clock) = limiter(1, 0.0, 10);
    l.check_address(ip("192.0.2.1")).unwrap();
    clock.advance(1_000_000);
    let err = l.check_address(ip("192.0.2.1")).unwrap_err();
    assert_eq!(err.retry_after(), 86_400);
    // nonsense rates read as "never refills", not "unlimited"
    for rate in [f64::NAN, -1.0, f64::INFINITY] {
        let (l, clock) = limiter(1, rate, 10);
        l.check_address(ip("192.0.2.1")).unwrap();
        clock.advance(1_000);
        assert!(l.check_address(ip("192.0.2.1")).is_err(), "{rate}");
    }
}

/// Review 3, finding 8: the per-client bucket was keyed by the `client_id`
/// a request claims, before any authentication (at `/authorize` the id is
/// public, in every link). A few addresses spending a popular client's
/// bucket locked every user of that client out, from any address, for as
/// long as they kept at it. Now strangers reach only `check_address` (the
/// client bucket takes an `AuthenticatedClient`, which only `authenticate`
/// makes), and a public client, whose id proves nothing, has no bucket.
#[test]
fn strangers_cannot_spend_a_clients_bucket() {
    let (l, _clock) = limiter(10, 0.1, 1000);
    // strangers claiming the app's id: their own addresses pay, and a
    // failed authentication yields nothing to charge the client with
    for i in 0..10 {
        for _ in 0..11 {
            let _ = l.check_address(ip(&format!("203.0.113.{i}")));
        }
        let body = "client_id=popular-app&client_secret=guess";
        let creds =
            ClientCredentials::extract(None, &Form::parse(body.as_bytes(), 4096).unwrap()).unwrap();
        let (_, hash) = ClientSecret::generate().unwrap();
        assert!(
            block_on(authenticate(
                &creds,
                &RegisteredAuth::SecretPost(hash),
                None
            ))
            .is_err()
        );
    }
    // a genuine user of the app, from a fresh address
    l.check_address(ip("198.51.100.77")).unwrap();
    l.check_client(&confidential("popular-app")).unwrap();
    // a public client's id is anyone's: no bucket for strangers to spend
    let app = public("public-app");
    assert!(!app.proven());
    for _ in 0..100 {
        l.check_client(&app).unwrap();
    }
}
