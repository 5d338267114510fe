//! [`RemoteKeys`]: the key store that trusts issuers by URL.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use passport_claims::{Clock, SystemClock, UnverifiedBundle};
use passport_jose::{CompactJws, VerifyingKey};
use passport_verifier::{KeyStore, Refetch, RefetchFuture, VerifyError};

use crate::RemoteError;
use crate::error::truncate;
use crate::fetch::{
    DEFAULT_MAX_RESPONSE_BYTES, FetchedJwks, check_endpoint, check_issuer, discover_jwks_uri,
    fetch_jwks, http_client,
};

/// A key store holding the keys of issuers trusted by URL, kept fresh in the
/// background.
///
/// Built with [`RemoteKeys::builder`]. Cloning is cheap (an `Arc` inside);
/// the background refresher stops when the last clone is dropped. Lookups
/// ([`KeyStore::key`]) read an in-memory snapshot: synchronous, no
/// allocation, no I/O. See the crate documentation for the cache rules.
#[derive(Clone)]
pub struct RemoteKeys {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<&str> = self
            .inner
            .issuers
            .iter()
            .map(|s| s.issuer.as_str())
            .collect();
        f.debug_struct("RemoteKeys")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Config {
    min_ttl: Duration,
    max_ttl: Duration,
    default_ttl: Duration,
    cooldown: Duration,
    max_stale: Duration,
    timeout: Duration,
    max_bytes: usize,
    check_interval: Duration,
}

struct Inner {
    config: Config,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    issuers: Vec<Arc<IssuerState>>,
    snapshot: RwLock<Snapshot>,
    /// The background refresher, aborted when the last handle goes.
    task: Mutex<Option<tokio::task::AbortHandle>>,
    jitter: RandomState,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

enum Source {
    Discover,
    Jwks(String),
}

struct IssuerState {
    issuer: String,
    source: Source,
    /// Held for the whole of a fetch: concurrent refetches share one.
    fetch_lock: tokio::sync::Mutex<()>,
    status: Mutex<Status>,
}

#[derive(Default)]
struct Status {
    jwks_uri: Option<String>,
    /// Completed fetch attempts: a waiter that sees it move knows a fetch
    /// finished while it waited, and does not fetch again.
    generation: u64,
    /// Fetches reserved or running.
    in_flight: u32,
    last_attempt: Option<i64>,
    /// When the last fetch finished: a refetch re-checks the cooldown
    /// against it once it holds the fetch lock.
    last_finished: Option<i64>,
    last_success: Option<i64>,
    last_error: Option<FetchError>,
    refresh_at: i64,
}

/// The keys of every issuer, replaced as a whole on each change.
#[derive(Default)]
struct Snapshot {
    issuers: HashMap<String, Arc<IssuerKeys>>,
}

#[derive(Clone)]
struct IssuerKeys {
    /// The usable keys: the fetched set less the keys it shares with
    /// another issuer (see [`Inner::publish`]).
    keys: HashMap<String, Entry>,
    /// The thumbprints of every key of the fetched set, usable or not: a
    /// key another issuer claims is not given to a third.
    claimed: HashSet<String>,
    expires_at: i64,
    /// `expires_at + max_stale`: past it, the keys are no longer returned.
    usable_until: i64,
}

#[derive(Clone)]
struct Entry {
    key: VerifyingKey,
    thumbprint: String,
}

/// The last failure of an issuer's fetch, as shown by [`RemoteKeys::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchError {
    /// The error's [`RemoteError::code`].
    pub code: &'static str,
    /// A short description (URLs and issuers only, never a secret).
    pub message: String,
}

/// The state of one trusted issuer's keys (see [`RemoteKeys::health`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerHealth {
    /// The issuer.
    pub issuer: String,
    /// The JWKS URL in use (configured, or discovered).
    pub jwks_uri: Option<String>,
    /// When the keys were last fetched and accepted (clock seconds).
    pub last_success: Option<i64>,
    /// The last fetch's error, when it failed (cleared by a success).
    pub last_error: Option<FetchError>,
    /// How many keys are held.
    pub keys: usize,
    /// When the held keys' cache lifetime ends (clock seconds).
    pub expires_at: Option<i64>,
    /// The keys are past their cache lifetime but within `max_stale`: still
    /// used, while the issuer cannot be reached.
    pub stale: bool,
    /// The keys are past `max_stale` (or were never fetched): none of this
    /// issuer's keys is returned.
    pub failed_closed: bool,
}

/// Builds a [`RemoteKeys`]; every bound has a safe default.
#[must_use]
pub struct RemoteKeysBuilder {
    sources: Vec<(String, Source)>,
    config: Config,
    clock: Arc<dyn Clock>,
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for RemoteKeysBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeysBuilder")
            .field(
                "issuers",
                &self.sources.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            )
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RemoteKeysBuilder {
    /// Trusts `issuer` (an https URL, or http on a loopback host), its
    /// `jwks_uri` discovered from its RFC 8414 metadata
    /// (`/.well-known/oauth-authorization-server`, inserted before the
    /// issuer's path) or, when that is not served, its OpenID discovery
    /// document. The document's `issuer` must equal `issuer` exactly.
    pub fn trust_issuer(mut self, issuer: impl Into<String>) -> RemoteKeysBuilder {
        self.sources.push((issuer.into(), Source::Discover));
        self
    }

    /// Trusts `issuer` with the keys at `jwks_url` (no discovery). An https
    /// issuer needs an https `jwks_url`.
    pub fn trust_jwks(
        mut self,
        issuer: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> RemoteKeysBuilder {
        self.sources
            .push((issuer.into(), Source::Jwks(jwks_url.into())));
        self
    }

    /// The shortest cache lifetime, whatever the server says (default 60 s;
    /// `no-store` and `no-cache` get this).
    pub fn min_ttl(mut self, ttl: Duration) -> RemoteKeysBuilder {
        self.config.min_ttl = ttl;
        self
    }

    /// The longest cache lifetime, whatever the server says (default 24 h).
    pub fn max_ttl(mut self, ttl: Duration) -> RemoteKeysBuilder {
        self.config.max_ttl = ttl;
        self
    }

    /// The cache lifetime when the response has no `Cache-Control: max-age`
    /// (default 5 min; clamped to the bounds).
    pub fn default_ttl(mut self, ttl: Duration) -> RemoteKeysBuilder {
        self.config.default_ttl = ttl;
        self
    }

    /// The least time between two fetches of one issuer caused by unknown
    /// `kid`s, and between retries of a failing issuer (default 30 s).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> RemoteKeysBuilder {
        self.config.cooldown = cooldown;
        self
    }

    /// How long past their cache lifetime an issuer's last good keys are
    /// still used while it cannot be reached (default 1 h); after that the
    /// store fails closed for that issuer.
    pub fn max_stale(mut self, max_stale: Duration) -> RemoteKeysBuilder {
        self.config.max_stale = max_stale;
        self
    }

    /// The timeout of each HTTP request, connecting included (default 10 s).
    /// Ignored with [`RemoteKeysBuilder::http_client`].
    pub fn http_timeout(mut self, timeout: Duration) -> RemoteKeysBuilder {
        self.config.timeout = timeout;
        self
    }

    /// The largest metadata or JWKS response read, in bytes (default 1 MiB).
    pub fn max_response_bytes(mut self, max: usize) -> RemoteKeysBuilder {
        self.config.max_bytes = max;
        self
    }

    /// How often the background task compares the clock with the issuers'
    /// refresh times (default 1 s; a check costs no request).
    pub fn refresh_check_interval(mut self, interval: Duration) -> RemoteKeysBuilder {
        self.config.check_interval = interval;
        self
    }

    /// The clock of every cache decision (default the system clock; tests
    /// pass a [`passport_claims::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> RemoteKeysBuilder {
        self.clock = clock;
        self
    }

    /// The HTTP client (default: [`crate::http_client`] with the timeout).
    /// It should not follow redirects; a response from another URL than the
    /// one asked is refused either way.
    pub fn http_client(mut self, client: reqwest::Client) -> RemoteKeysBuilder {
        self.client = Some(client);
        self
    }

    /// Checks the configuration, fetches every issuer's keys once — failing
    /// with the first issuer that cannot be fetched ([`RemoteError::Issuer`]),
    /// so a server never starts trusting only some of its issuers — and
    /// starts the background refresher on the current tokio runtime.
    pub async fn build(self) -> Result<RemoteKeys, RemoteError> {
        let c = &self.config;
        if self.sources.is_empty() {
            return Err(RemoteError::Config("no trusted issuer".into()));
        }
        if c.min_ttl > c.max_ttl || c.check_interval.is_zero() || c.max_bytes == 0 {
            return Err(RemoteError::Config(
                "min_ttl must not exceed max_ttl; the check interval and response cap must be positive"
                    .into(),
            ));
        }
        let mut issuers: Vec<Arc<IssuerState>> = Vec::with_capacity(self.sources.len());
        for (issuer, source) in self.sources {
            check_issuer(&issuer).map_err(|e| e.for_issuer(&issuer))?;
            if let Source::Jwks(url) = &source {
                check_endpoint(&issuer, url).map_err(|e| e.for_issuer(&issuer))?;
            }
            if issuers.iter().any(|s| s.issuer == issuer) {
                return Err(RemoteError::Config(format!(
                    "issuer {} is configured twice",
                    truncate(&issuer)
                )));
            }
            issuers.push(Arc::new(IssuerState {
                issuer,
                source,
                fetch_lock: tokio::sync::Mutex::new(()),
                status: Mutex::new(Status::default()),
            }));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| RemoteError::Config("build() needs a tokio runtime".into()))?;
        let client = match self.client {
            Some(client) => client,
            None => http_client(self.config.timeout)?,
        };
        let inner = Arc::new(Inner {
            config: self.config,
            clock: self.clock,
            client,
            issuers,
            snapshot: RwLock::new(Snapshot::default()),
            task: Mutex::new(None),
            jitter: RandomState::new(),
        });
        for state in &inner.issuers {
            let _running = InFlight::begin(state, inner.clock.now());
            let _fetching = state.fetch_lock.lock().await;
            match inner.fetch_now(state).await {
                // The rest of the set is in use; the conflict is in health.
                Ok(()) | Err(RemoteError::KeyIssuerConflict { .. }) => {}
                Err(e) => return Err(e.for_issuer(&state.issuer)),
            }
        }
        let weak = Arc::downgrade(&inner);
        let interval = inner.config.check_interval;
        let task = runtime.spawn(refresh_loop(weak, interval));
        *lock(&inner.task) = Some(task.abort_handle());
        Ok(RemoteKeys { inner })
    }
}

impl RemoteKeys {
    /// A builder with the default bounds and no issuer yet.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), passport_remote::RemoteError> {
    /// use std::time::Duration;
    /// let keys = passport_remote::RemoteKeys::builder()
    ///     .trust_issuer("https://issuer.example")
    ///     .max_stale(Duration::from_secs(30 * 60))
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> RemoteKeysBuilder {
        RemoteKeysBuilder {
            sources: Vec::new(),
            config: Config {
                min_ttl: Duration::from_secs(60),
                max_ttl: Duration::from_secs(24 * 3600),
                default_ttl: Duration::from_secs(300),
                cooldown: Duration::from_secs(30),
                max_stale: Duration::from_secs(3600),
                timeout: Duration::from_secs(10),
                max_bytes: DEFAULT_MAX_RESPONSE_BYTES,
                check_interval: Duration::from_secs(1),
            },
            clock: Arc::new(SystemClock),
            client: None,
        }
    }

    /// The trusted issuers, in configuration order.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.iter().map(|s| s.issuer.as_str())
    }

    /// The keys currently usable for `issuer` (empty when it is not trusted
    /// or has failed closed). For callers that need the whole set, such as a
    /// token without `kid` accepted only when its issuer has one key.
    pub fn keys_of(&self, issuer: &str) -> Vec<VerifyingKey> {
        let now = self.inner.clock.now();
        let snapshot = read(&self.inner.snapshot);
        match snapshot.issuers.get(issuer) {
            Some(set) if now <= set.usable_until => {
                set.keys.values().map(|e| e.key.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Per trusted issuer: when its keys were last fetched, the last error,
    /// how many keys are held, and whether they are stale or failed closed.
    pub fn health(&self) -> Vec<IssuerHealth> {
        let now = self.inner.clock.now();
        let snapshot = read(&self.inner.snapshot);
        self.inner
            .issuers
            .iter()
            .map(|state| {
                let status = lock(&state.status);
                let set = snapshot.issuers.get(&state.issuer);
                IssuerHealth {
                    issuer: state.issuer.clone(),
                    jwks_uri: status.jwks_uri.clone(),
                    last_success: status.last_success,
                    last_error: status.last_error.clone(),
                    keys: set.map_or(0, |s| s.keys.len()),
                    expires_at: set.map(|s| s.expires_at),
                    stale: set.is_some_and(|s| now > s.expires_at && now <= s.usable_until),
                    failed_closed: set.is_none_or(|s| now > s.usable_until),
                }
            })
            .collect()
    }

    /// Fetches `issuer`'s keys now (for operators and tests), whatever the
    /// cache lifetime and cooldown. The result is also recorded in
    /// [`RemoteKeys::health`]; on failure the previous keys stay.
    pub async fn refresh_now(&self, issuer: &str) -> Result<(), RemoteError> {
        let state = self
            .inner
            .state(issuer)
            .ok_or_else(|| RemoteError::UnknownIssuer(truncate(issuer)))?;
        let _running = InFlight::begin(&state, self.inner.clock.now());
        let _fetching = state.fetch_lock.lock().await;
        self.inner.fetch_now(&state).await
    }

    /// The work of refetching `issuer`'s keys after a token named a `kid` it
    /// does not hold, or `None`: when the issuer is not trusted, or its last
    /// fetch started less than the unknown-kid cooldown ago. Concurrent
    /// callers share one fetch: while one is running, the others' futures
    /// wait for it instead of fetching again.
    pub fn refetch_issuer(&self, issuer: &str) -> Option<RefetchFuture<'static>> {
        let state = self.inner.state(issuer)?;
        let now = self.inner.clock.now();
        let seen = {
            let status = lock(&state.status);
            let seen = status.generation;
            if status.in_flight == 0 {
                let cooldown = secs(self.inner.config.cooldown);
                if status
                    .last_attempt
                    .is_some_and(|t| now >= t && now - t < cooldown)
                {
                    return None;
                }
            }
            seen
        };
        let running = InFlight::begin(&state, now);
        let inner = Arc::clone(&self.inner);
        Some(Box::pin(async move {
            let _running = running;
            let _fetching = state.fetch_lock.lock().await;
            {
                let status = lock(&state.status);
                if status.generation != seen {
                    // A fetch finished while this one waited: its result is
                    // ours.
                    return;
                }
                // A fetch that finished before this one was reserved, while
                // its own reservation was not yet released, skipped the
                // cooldown check above: check it again.
                let now = inner.clock.now();
                let cooldown = secs(inner.config.cooldown);
                if status
                    .last_finished
                    .is_some_and(|t| now >= t && now - t < cooldown)
                {
                    return;
                }
            }
            // A failure is recorded in health; the second verification then
            // fails closed with the same error.
            let _ = inner.fetch_now(&state).await;
        }))
    }
}

impl KeyStore for RemoteKeys {
    fn key(&self, iss: &str, kid: &str) -> Option<VerifyingKey> {
        let snapshot = read(&self.inner.snapshot);
        let set = snapshot.issuers.get(iss)?;
        if self.inner.clock.now() > set.usable_until {
            return None;
        }
        set.keys.get(kid).map(|e| e.key.clone())
    }
}

impl Refetch for RemoteKeys {
    fn refetch<'a>(
        &'a self,
        bundle: &'a UnverifiedBundle,
        error: &'a VerifyError,
    ) -> Option<RefetchFuture<'a>> {
        if error.code() != "unknown_kid" {
            return None;
        }
        let iss = unverified_issuer(bundle.get(error.link())?)?;
        self.refetch_issuer(&iss)
    }
}

/// The `iss` a token claims, read without verifying anything: it only
/// chooses which trusted issuer to refetch.
fn unverified_issuer(token: &str) -> Option<String> {
    let jws = CompactJws::parse(token).ok()?;
    let claims = passport_jose::json::parse_object(jws.unverified_payload(), "payload").ok()?;
    match claims.get("iss") {
        Some(serde_json::Value::String(iss)) => Some(iss.clone()),
        _ => None,
    }
}

/// Marks a fetch of one issuer as reserved or running, until dropped (also
/// when its future is dropped unpolled).
struct InFlight(Arc<IssuerState>);

impl InFlight {
    fn begin(state: &Arc<IssuerState>, now: i64) -> InFlight {
        let mut status = lock(&state.status);
        status.in_flight = status.in_flight.saturating_add(1);
        status.last_attempt = Some(now);
        InFlight(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut status = lock(&self.0.status);
        status.in_flight = status.in_flight.saturating_sub(1);
    }
}

impl Inner {
    fn state(&self, issuer: &str) -> Option<Arc<IssuerState>> {
        self.issuers.iter().find(|s| s.issuer == issuer).cloned()
    }

    /// One fetch of `state`'s keys; the caller holds its fetch lock. The
    /// outcome is recorded (status, metrics, log); on success the keys are
    /// published, on failure the previous ones stay.
    async fn fetch_now(&self, state: &IssuerState) -> Result<(), RemoteError> {
        let started = Instant::now();
        let now = self.clock.now();
        let result = match self.fetch_keys(state).await {
            Ok((uri, fetched)) => self
                .publish(state, &uri, fetched, now)
                .map(|(ttl, conflict)| (uri, ttl, conflict)),
            Err(e) => Err(e),
        };
        let label = state.issuer.clone();
        metrics::histogram!("passport_key_fetch_seconds", "issuer" => label.clone())
            .record(started.elapsed().as_secs_f64());
        let mut status = lock(&state.status);
        status.generation = status.generation.wrapping_add(1);
        status.last_finished = Some(self.clock.now());
        match result {
            Ok((uri, ttl, conflict)) => {
                let ttl = secs(ttl);
                status.jwks_uri = Some(uri);
                status.last_success = Some(now);
                status.last_error = conflict.as_ref().map(|e| FetchError {
                    code: e.code(),
                    message: truncate(&e.to_string()),
                });
                // Ahead of expiry (at 80 % of the lifetime), less up to a
                // tenth of it at random, so many servers do not refetch
                // together.
                let spread = (ttl / 10).max(1);
                let jitter =
                    (self.jitter.hash_one((&state.issuer, now)) % spread.unsigned_abs()) as i64;
                status.refresh_at = now.saturating_add(ttl / 10 * 8 - jitter).max(now + 1);
                tracing::debug!(issuer = %state.issuer, ttl, "issuer keys refreshed");
                match conflict {
                    None => Ok(()),
                    Some(e) => {
                        metrics::counter!("passport_key_fetch_failures_total", "issuer" => label)
                            .increment(1);
                        Err(e)
                    }
                }
            }
            Err(e) => {
                metrics::counter!("passport_key_fetch_failures_total", "issuer" => label)
                    .increment(1);
                tracing::warn!(issuer = %state.issuer, code = e.code(), error = %e, "fetching issuer keys failed");
                status.last_error = Some(FetchError {
                    code: e.code(),
                    message: truncate(&e.to_string()),
                });
                // Discover again next time: the metadata may have moved.
                if matches!(state.source, Source::Discover) {
                    status.jwks_uri = None;
                }
                status.refresh_at = now.saturating_add(secs(self.config.cooldown).max(1));
                Err(e)
            }
        }
    }

    async fn fetch_keys(&self, state: &IssuerState) -> Result<(String, FetchedJwks), RemoteError> {
        let uri = match &state.source {
            Source::Jwks(url) => url.clone(),
            Source::Discover => {
                let known = lock(&state.status).jwks_uri.clone();
                match known {
                    Some(uri) => uri,
                    None => {
                        discover_jwks_uri(&self.client, &state.issuer, self.config.max_bytes)
                            .await?
                    }
                }
            }
        };
        check_endpoint(&state.issuer, &uri)?;
        let fetched = fetch_jwks(&self.client, &uri, self.config.max_bytes).await?;
        if fetched.keys.is_empty() {
            return Err(RemoteError::NoUsableKey {
                url: truncate(&uri),
            });
        }
        Ok((uri, fetched))
    }

    /// Replaces `state`'s keys with `fetched`, keeping the key object of
    /// every key that did not change (the verifier's signature cache is tied
    /// to it). Returns the cache lifetime, and the first key conflict.
    ///
    /// One key (RFC 7638 thumbprint) is usable by one issuer only (SPEC §5
    /// item 5). A key that another trusted issuer publishes too is used by
    /// neither: it is refused here and taken from every other issuer that
    /// holds it, until all but one stop publishing it (the one left gets it
    /// at its next fetch). Who published it first decides nothing: the store
    /// cannot tell the key's owner from a copier, and "first" is chosen by
    /// the order issuers are fetched at start-up, or by a copier forcing
    /// its own refetch or delaying its refreshes (review S14: two rules
    /// that kept the key with one of them were each won by the copier). So
    /// a co-trusted issuer can make another's key unusable by publishing a
    /// copy — visibly (`key_issuer_conflict` in health, the failure counter
    /// and a warning naming both) — and never gets to verify with it. The
    /// rest of the set is used either way: one issuer's set changes
    /// another's usable keys by the contested keys at most.
    fn publish(
        &self,
        state: &IssuerState,
        uri: &str,
        fetched: FetchedJwks,
        now: i64,
    ) -> Result<(Duration, Option<RemoteError>), RemoteError> {
        let c = &self.config;
        let ttl = fetched.cache.ttl(c.min_ttl, c.max_ttl, c.default_ttl);
        let mut snapshot = self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let previous = snapshot.issuers.get(&state.issuer).cloned();
        let mut keys = HashMap::with_capacity(fetched.keys.len());
        let mut claimed = HashSet::with_capacity(fetched.keys.len());
        let mut conflict = None;
        let mut taken: Vec<(String, String)> = Vec::new();
        for key in fetched.keys.iter() {
            let thumbprint = key
                .thumbprint()
                .map_err(|source| RemoteError::InvalidJwks {
                    url: truncate(uri),
                    source,
                })?;
            claimed.insert(thumbprint.clone());
            let others = claimants(&snapshot, &state.issuer, &thumbprint, now);
            if let Some(other) = others.first() {
                tracing::warn!(
                    issuer = %state.issuer,
                    others = ?others,
                    kid = %truncate(key.kid()),
                    "a fetched key is published by another trusted issuer too: used by neither"
                );
                conflict.get_or_insert_with(|| RemoteError::KeyIssuerConflict {
                    issuer: state.issuer.clone(),
                    other: other.clone(),
                    kid: truncate(key.kid()),
                });
                taken.extend(others.into_iter().map(|o| (o, thumbprint.clone())));
                continue;
            }
            let kept = previous
                .as_deref()
                .and_then(|set| set.keys.get(key.kid()))
                .filter(|old| {
                    old.thumbprint == thumbprint && old.key.retired_at() == key.retired_at()
                });
            let entry = match kept {
                Some(old) => old.clone(),
                None => Entry {
                    key: key.clone(),
                    thumbprint,
                },
            };
            keys.insert(key.kid().to_owned(), entry);
        }
        for (other, thumbprint) in taken {
            if let Some(set) = snapshot.issuers.get(&other)
                && set.keys.values().any(|e| e.thumbprint == thumbprint)
            {
                let mut set = IssuerKeys::clone(set);
                set.keys.retain(|_, e| e.thumbprint != thumbprint);
                snapshot.issuers.insert(other, Arc::new(set));
            }
        }
        let expires_at = now.saturating_add(secs(ttl));
        snapshot.issuers.insert(
            state.issuer.clone(),
            Arc::new(IssuerKeys {
                keys,
                claimed,
                expires_at,
                usable_until: expires_at.saturating_add(secs(c.max_stale)),
            }),
        );
        Ok((ttl, conflict))
    }
}

/// The other issuers whose last fetched set holds the key `thumbprint`
/// (used or refused), in a stable order. A set past `usable_until` (its
/// issuer failed closed: unreachable past `max_stale`) claims nothing: an
/// issuer that went dark keeps no other issuer's key unusable (review S14).
fn claimants(snapshot: &Snapshot, issuer: &str, thumbprint: &str, now: i64) -> Vec<String> {
    let mut others: Vec<String> = snapshot
        .issuers
        .iter()
        .filter(|(other, set)| {
            *other != issuer && now <= set.usable_until && set.claimed.contains(thumbprint)
        })
        .map(|(other, _)| other.clone())
        .collect();
    others.sort_unstable();
    others
}

/// Refreshes every issuer whose refresh time has come, until the last
/// [`RemoteKeys`] is dropped.
async fn refresh_loop(weak: Weak<Inner>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = weak.upgrade() else { return };
        let now = inner.clock.now();
        for state in &inner.issuers {
            let due = {
                let status = lock(&state.status);
                status.in_flight == 0 && now >= status.refresh_at
            };
            if due {
                let _running = InFlight::begin(state, now);
                let _fetching = state.fetch_lock.lock().await;
                // Recorded in health, metrics and the log.
                let _ = inner.fetch_now(state).await;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read(l: &RwLock<Snapshot>) -> std::sync::RwLockReadGuard<'_, Snapshot> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
