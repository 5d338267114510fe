use std::net::IpAddr;
use std::sync::Arc;

use passport_claims::ManualClock;
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

#[test]
fn burst_then_retry_after_then_refill() {
    let (l, clock) = limiter(3, 0.5, 100);
    for _ in 0..3 {
        l.check(Some("c"), ip("198.51.100.1")).unwrap();
    }
    let err = l.check(Some("c"), ip("198.51.100.1")).unwrap_err();
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(err.retry_after(), 2); // 0.5 token per second
    let o = err.oauth();
    assert_eq!(o.status, 429);
    assert!(o.headers().contains(&("retry-after", "2".to_owned())));
    clock.advance(1);
    assert!(l.check(Some("c"), ip("198.51.100.1")).is_err());
    clock.advance(1);
    l.check(Some("c"), ip("198.51.100.1")).unwrap();
}

#[test]
fn client_and_address_limited_separately() {
    let (l, _) = limiter(2, 1.0, 100);
    // one client from many addresses: the client's bucket stops it
    l.check(Some("c"), ip("192.0.2.1")).unwrap();
    l.check(Some("c"), ip("192.0.2.2")).unwrap();
    assert!(l.check(Some("c"), ip("192.0.2.3")).is_err());
    // many clients from one address: the address's bucket stops them
    l.check(Some("a"), ip("192.0.2.9")).unwrap();
    l.check(Some("b"), ip("192.0.2.9")).unwrap();
    assert!(l.check(Some("d"), ip("192.0.2.9")).is_err());
    // a refused request takes no token: client "d" still has its burst
    l.check(Some("d"), ip("192.0.2.10")).unwrap();
    l.check(Some("d"), ip("192.0.2.11")).unwrap();
}

#[test]
fn ipv6_keyed_by_64_and_mapped_v4_as_v4() {
    let (l, _) = limiter(1, 1.0, 100);
    l.check(None, ip("2001:db8:1:2::1")).unwrap();
    assert!(
        l.check(None, ip("2001:db8:1:2:ffff::9")).is_err(),
        "same /64"
    );
    l.check(None, ip("2001:db8:1:3::1")).unwrap();
    l.check(None, ip("203.0.113.5")).unwrap();
    assert!(l.check(None, ip("::ffff:203.0.113.5")).is_err());
}

#[test]
fn memory_is_bounded() {
    let (l, _) = limiter(1, 1.0, 50);
    for i in 0..1_000u32 {
        l.check(None, IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
            .unwrap();
    }
    assert!(l.len() <= 50, "{}", l.len());
}

#[test]
fn refilled_buckets_are_evicted_first() {
    let (l, clock) = limiter(2, 1.0, 3);
    l.check(None, ip("192.0.2.9")).unwrap();
    clock.advance(5); // 192.0.2.9 is full again: same as no bucket
    l.check(Some("busy"), ip("192.0.2.1")).unwrap();
    l.check(Some("busy"), ip("192.0.2.1")).unwrap();
    assert_eq!(l.len(), 3);
    l.check(None, ip("192.0.2.2")).unwrap(); // table full: the idle bucket goes
    assert_eq!(l.len(), 3);
    let err = l.check(Some("busy"), ip("192.0.2.3")).unwrap_err();
    assert_eq!(err.retry_after(), 1, "the busy client's bucket was kept");
}

#[test]
fn zero_rate_never_refills() {
    let (l, clock) = limiter(1, 0.0, 10);
    l.check(None, ip("192.0.2.1")).unwrap();
    clock.advance(1_000_000);
    let err = l.check(None, ip("192.0.2.1")).unwrap_err();
    assert_eq!(err.retry_after(), 86_400);
    // nonsense rates read as "never refills", not "unlimited"
    for rate in [f64::NAN, -1.0, f64::INFINITY] {
        let (l, clock) = limiter(1, rate, 10);
        l.check(None, ip("192.0.2.1")).unwrap();
        clock.advance(1_000);
        assert!(l.check(None, ip("192.0.2.1")).is_err(), "{rate}");
    }
}

/// Review 3, finding 8: the per-client bucket is keyed by the `client_id`
/// a request claims, before any authentication (at `/authorize` the id is
/// public, in every link). A few addresses spending a popular client's
/// bucket lock every user of that client out, from any address, for as long
/// as they keep at it. Fix (for the endpoints): charge the client bucket
/// only once the client authenticated (or only failed authentications),
/// and at `/authorize`, where nothing authenticates, limit by address only.
#[test]
#[ignore = "finding 8: an unauthenticated client_id spends that client's bucket; key client buckets after authentication"]
fn strangers_cannot_spend_a_clients_bucket() {
    let (l, _clock) = limiter(10, 0.1, 1000);
    for i in 0..10 {
        let _ = l.check(Some("popular-app"), ip(&format!("203.0.113.{i}")));
    }
    // a genuine user of the app, from a fresh address
    l.check(Some("popular-app"), ip("198.51.100.77")).unwrap();
}
