//! Token buckets per client and per address, for `/token`, `/authorize` and
//! `/register` (429 with `Retry-After`); and per administrator, for the
//! administrators' actions (`ServerBuilder::admin_rate_limit`).
//!
//! Two checks, at two moments. [`RateLimiter::check_address`] runs before
//! anything else is read and charges the address's bucket.
//! [`RateLimiter::check_client`] runs only once the client authenticated:
//! it takes an [`AuthenticatedClient`], which only
//! [`client_auth::authenticate`](crate::client_auth::authenticate) makes, so
//! strangers merely claiming a `client_id` cannot spend that client's bucket
//! and lock its users out (third review, finding 8). A public client (method
//! `none`) proves nothing, so its requests are limited by address only, as
//! are `/authorize` (where the `client_id` is public, in every link, and
//! nothing authenticates) and `/register`.
//!
//! Memory is bounded: at most `max_keys` buckets, each key of fixed size (an
//! address, or the SHA-256 of a client id). When full, buckets that have
//! refilled completely are dropped first (they are the same as no bucket),
//! then the least recently touched, down to one eighth below the bound: the
//! scan that finds them is paid once per `max_keys / 8` new keys, not on
//! every one. Evicting an active bucket only ever lets its key start afresh,
//! so an attacker who floods the table with addresses weakens limits but
//! cannot lock anyone out. IPv6 addresses are keyed by their /64 (one host
//! usually owns a whole /64), IPv4-mapped IPv6 addresses as IPv4.
//!
//! ```
//! use std::sync::Arc;
//! use passport_claims::ManualClock;
//! use passport_server::client_auth::{authenticate, ClientCredentials, ClientSecret, RegisteredAuth};
//! use passport_server::form::Form;
//! use passport_server::rate_limit::{RateLimit, RateLimiter};
//!
//! let clock = Arc::new(ManualClock::new(1_000));
//! let limiter = RateLimiter::new(RateLimit { burst: 2, per_second: 1.0 }, 1024, clock.clone());
//! let addr = "203.0.113.7".parse()?;
//! // before reading the request: the address
//! limiter.check_address(addr)?;
//! limiter.check_address(addr)?;
//! let err = limiter.check_address(addr).unwrap_err();
//! assert_eq!(err.retry_after(), 1);
//! assert_eq!(err.oauth().status, 429);
//! clock.advance(1);
//! limiter.check_address(addr)?;
//!
//! // after client authentication: the client
//! let (secret, hash) = ClientSecret::generate()?;
//! let body = format!("client_id=client-1&client_secret={}", secret.expose());
//! let creds = ClientCredentials::extract(None, &Form::parse(body.as_bytes(), 4096)?)?;
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let client = runtime.block_on(authenticate(&creds, &RegisteredAuth::SecretPost(hash), None))?;
//! limiter.check_client(&client)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use passport_claims::Clock;

use crate::client_auth::AuthenticatedClient;
use crate::oauth::{OAuthError, codes};

/// The longest `Retry-After` answered, in seconds (a day).
pub const MAX_RETRY_AFTER: u64 = 86_400;

/// A limit: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// The bucket's size.
    pub burst: u32,
    /// Tokens added per second.
    pub per_second: f64,
}

/// A request over its limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// Too many requests; try again after `retry_after` seconds.
    #[error("too many requests; retry after {retry_after} s")]
    Limited {
        /// Seconds until a token is available (at least 1).
        retry_after: u64,
    },
}

passport_jose::error_codes! {
    RateLimitError {
        RateLimitError::Limited { .. } => "rate_limited":
            "Too many requests from this client or address (HTTP 429 with Retry-After).",
    }
}

impl RateLimitError {
    /// Seconds to wait.
    pub fn retry_after(&self) -> u64 {
        match self {
            RateLimitError::Limited { retry_after } => *retry_after,
        }
    }

    /// The answer: 429, `Retry-After`, `error` `temporarily_unavailable`
    /// (RFC 6749 has no rate-limit code; this one says "try later").
    pub fn oauth(&self) -> OAuthError {
        let mut e = OAuthError::new(429, codes::TEMPORARILY_UNAVAILABLE, self.to_string());
        e.retry_after = Some(self.retry_after());
        e
    }
}

/// A bucket's key, of fixed size whatever the client id's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// The SHA-256 of an authenticated client's id.
    Client([u8; 32]),
    /// The SHA-256 of an authenticated administrator's principal.
    Actor([u8; 32]),
    /// The same, for its kill-switch engages alone.
    Engager([u8; 32]),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: i64,
}

/// Token buckets keyed by client and by address.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    max_keys: usize,
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

impl RateLimiter {
    /// A limiter applying `limit` to each client and to each address, with
    /// at most `max_keys` buckets in memory.
    pub fn new(limit: RateLimit, max_keys: usize, clock: Arc<dyn Clock>) -> RateLimiter {
        // a rate that is negative or not a number would never refill (or
        // always): read it as "never refills"
        let per_second = if limit.per_second.is_finite() && limit.per_second > 0.0 {
            limit.per_second
        } else {
            0.0
        };
        RateLimiter {
            limit: RateLimit {
                per_second,
                ..limit
            },
            max_keys: max_keys.max(2),
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the bucket of `addr` (its /64 for IPv6). Call it
    /// before reading the request.
    pub fn check_address(&self, addr: IpAddr) -> Result<(), RateLimitError> {
        self.take(Key::Address(address_key(addr)))
    }

    /// Takes one token from the bucket of an authenticated client. Call it
    /// after [`authenticate`](crate::client_auth::authenticate) succeeded. A
    /// public client (not [`AuthenticatedClient::proven`]) has no bucket of
    /// its own: anyone may send its `client_id`, so it is limited by
    /// address only.
    pub fn check_client(&self, client: &AuthenticatedClient) -> Result<(), RateLimitError> {
        if !client.proven() {
            return Ok(());
        }
        self.take(Key::Client(passport_jose::sha256(
            client.client_id().as_bytes(),
        )))
    }

    /// Takes one token from the bucket of an administrator (its upstream
    /// principal, authenticated by the admin API or the dashboard's
    /// session): what bounds the actions one operator sends
    /// (`governance::to_completion`).
    pub(crate) fn check_actor(&self, principal: &str) -> Result<(), RateLimitError> {
        self.take(Key::Actor(passport_jose::sha256(principal.as_bytes())))
    }

    /// Takes one token from an administrator's bucket of kill-switch
    /// engages: one of its own, beside [`RateLimiter::check_actor`]'s, so
    /// that the operator's other actions never use up its emergency stop
    /// (review S15c-2), while its engages stay bounded (review S15-3).
    pub(crate) fn check_engager(&self, principal: &str) -> Result<(), RateLimitError> {
        self.take(Key::Engager(passport_jose::sha256(principal.as_bytes())))
    }

    fn take(&self, key: Key) -> Result<(), RateLimitError> {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let tokens = buckets
            .get(&key)
            .map_or(f64::from(self.limit.burst), |b| self.refilled(b, now));
        if tokens < 1.0 {
            return Err(RateLimitError::Limited {
                retry_after: self.seconds_until_one(tokens),
            });
        }
        if !buckets.contains_key(&key) && buckets.len() >= self.max_keys {
            self.evict(&mut buckets, now);
        }
        buckets.insert(
            key,
            Bucket {
                tokens: tokens - 1.0,
                updated: now,
            },
        );
        Ok(())
    }

    /// How many buckets are in memory.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no bucket is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn refilled(&self, bucket: &Bucket, now: i64) -> f64 {
        let elapsed = now.saturating_sub(bucket.updated).max(0) as f64;
        (bucket.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst))
    }

    fn seconds_until_one(&self, tokens: f64) -> u64 {
        if self.limit.per_second <= 0.0 {
            return MAX_RETRY_AFTER;
        }
        let secs = ((1.0 - tokens) / self.limit.per_second).ceil();
        // saturating float-to-int conversion
        (secs as u64).clamp(1, MAX_RETRY_AFTER)
    }

    /// Makes room for `max_keys / 8` new keys (at least one): refilled
    /// buckets first, then the least recently touched.
    fn evict(&self, buckets: &mut HashMap<Key, Bucket>, now: i64) {
        let full = f64::from(self.limit.burst);
        buckets.retain(|_, b| self.refilled(b, now) < full);
        let target = self.max_keys - (self.max_keys / 8).max(1);
        let excess = buckets.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut by_age: Vec<(i64, Key)> = buckets.iter().map(|(k, b)| (b.updated, *k)).collect();
        by_age.select_nth_unstable_by_key(excess - 1, |(updated, _)| *updated);
        for (_, key) in &by_age[..excess] {
            buckets.remove(key);
        }
    }
}

/// The address a limit counts: an IPv6 address by its /64; an IPv6
/// address that carries an IPv4 client's address as that IPv4 address
/// ([`embedded_ipv4`]).
pub(crate) fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The IPv4 client an IPv6 address stands for: an IPv4-mapped address
/// (`::ffff:a.b.c.d`, a dual-stack socket's view of an IPv4 peer); one in
/// the well-known NAT64 prefix `64:ff9b::/96` (RFC 6052 §2.1: an IPv4
/// client seen through a stateless translator in front of an IPv6-only
/// server, RFC 7755); an IPv4-compatible one (`::a.b.c.d`, deprecated by
/// RFC 4291 §2.5.5.1, but still what some stacks write), except `::` and
/// `::1`. Each of these holds a different IPv4 client in its last 32
/// bits, and would otherwise put every IPv4 client in one /64 (review
/// S15-4).
fn embedded_ipv4(v6: Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = u128::from(v6);
    let low = u32::try_from(bits & u128::from(u32::MAX)).ok()?;
    const NAT64_WELL_KNOWN: u128 = 0x0064_ff9b_u128 << 96;
    match bits >> 32 {
        prefix if prefix << 32 == NAT64_WELL_KNOWN => Some(low.into()),
        0 if low > 1 => Some(low.into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;
    use std::net::IpAddr;

    fn key(a: &str) -> String {
        address_key(a.parse::<IpAddr>().unwrap()).to_string()
    }

    /// Review S15-4: only the forms that carry an IPv4 client in their last
    /// 32 bits are read as IPv4; every other IPv6 address counts by its /64.
    #[test]
    fn embedded_ipv4_clients_count_as_their_ipv4_address() {
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("64:ff9b::192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::192.0.2.7"), "192.0.2.7");
        // the unspecified and loopback addresses are not IPv4 clients
        assert_eq!(key("::"), "::");
        assert_eq!(key("::1"), "::");
        // near the NAT64 prefix, but not in it: by the /64
        assert_eq!(key("64:ff9b:0:0:1::c000:207"), "64:ff9b::");
        assert_eq!(key("64:ff9b:1::c000:207"), "64:ff9b:1::");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
    }
}
