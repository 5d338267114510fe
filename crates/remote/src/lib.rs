//! # passport-remote
//!
//! A key store that trusts issuers by URL. [`RemoteKeys`] discovers each
//! issuer's `jwks_uri` from its RFC 8414 (or OpenID) metadata, or takes a
//! JWKS URL, fetches the keys before the server starts, refreshes them in
//! the background within bounds set by the HTTP cache headers, refetches on
//! an unknown `kid` at most once per cooldown, keeps the last good set
//! through an outage up to `max_stale`, and then fails closed.
//!
//! ```no_run
//! use std::sync::Arc;
//! use passport_remote::RemoteKeys;
//! use passport_verifier::{KeyStore, Refetch, VerificationPolicy, Verifier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = RemoteKeys::builder()
//!     .trust_issuer("https://issuer.example")
//!     .build()
//!     .await?;
//! let policy = VerificationPolicy::new("https://issuer.example", "https://api.example");
//! let store: Arc<dyn KeyStore> = Arc::new(keys.clone());
//! let verifier = Verifier::with_key_store(policy, store)?;
//! // A resource-server layer also registers the store as a `Refetch`, so an
//! // `unknown_kid` (a key published a moment ago) triggers one refetch.
//! let refetch: Arc<dyn Refetch> = Arc::new(keys.clone());
//! # let _ = (verifier, refetch);
//! for issuer in keys.health() {
//!     println!("{}: {} keys, failed closed: {}", issuer.issuer, issuer.keys, issuer.failed_closed);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Cache rules
//!
//! - The lifetime of a key set is the response's `Cache-Control: max-age`
//!   less its `Age`, clamped to `[min_ttl, max_ttl]`; without one it is
//!   `default_ttl`; `no-store` or `no-cache` give `min_ttl`.
//! - The background task refetches at 80 % of the lifetime, less a random
//!   tenth, so a fleet of servers does not refetch together; a failing
//!   issuer is retried once per `unknown_kid_cooldown`.
//! - Through an outage the last good set is used until `max_stale` past its
//!   lifetime; then that issuer's keys are no longer returned (fail closed)
//!   and [`RemoteKeys::health`] says so.
//! - A fetched set is refused as a whole — the previous one kept, the error
//!   recorded in health and in `passport_key_fetch_failures_total` — when it
//!   does not parse, holds a weak or malformed key, holds more than
//!   [`passport_jose::MAX_JWKS_KEYS`] keys, or holds no usable key.
//! - One key (RFC 7638 thumbprint) is used for one issuer only. A key two
//!   trusted issuers publish is used by neither until one withdraws it —
//!   whichever published it first, since the store cannot tell the owner
//!   from a copier. Only that key is refused: the rest of the set is used,
//!   and the conflict is in health (`key_issuer_conflict`), the failure
//!   counter and a warning — so no issuer can freeze another's rotation by
//!   copying its next key, though it can make that one key unusable, visibly,
//!   until the operator removes one of them. Redirects are
//!   refused, responses are capped, and an https issuer's `jwks_uri` must be
//!   https (a plain-http issuer must be on a loopback host).
//! - An unchanged key (same `kid`, thumbprint and retirement) keeps its
//!   [`passport_jose::VerifyingKey`] object across refreshes: the verifier's
//!   signature cache is tied to that object.
//!
//! ## Why lookups are synchronous
//!
//! [`passport_verifier::KeyStore::key`] is called for every link of every
//! bundle. It reads a snapshot under a read lock and clones one `Arc`: no
//! I/O, no allocation, no await. Fetching happens beside it — in the
//! background, or through [`passport_verifier::Refetch`] after a failed
//! verification — and replaces the snapshot when a set is accepted.
//!
//! ## Metrics
//!
//! `passport_key_fetch_seconds` (histogram) and
//! `passport_key_fetch_failures_total` (counter), both labelled `issuer`
//! (a configured issuer, so the label set is bounded).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod fetch;
mod keys;

pub use error::RemoteError;
pub use fetch::{
    CacheLifetime, DEFAULT_MAX_RESPONSE_BYTES, FetchedJwks, OAUTH_METADATA_SUFFIX,
    OPENID_METADATA_SUFFIX, check_endpoint, check_issuer, discover_jwks_uri, discover_metadata,
    fetch_jwks, get_bounded, http_client, metadata_urls, read_bounded,
};
pub use keys::{FetchError, IssuerHealth, RemoteKeys, RemoteKeysBuilder};
