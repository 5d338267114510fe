//! The verifier's side: a [`StatusSource`] answering from verified Status
//! List Tokens, loaded from files or fetched over http(s).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use passport_claims::{Clock, PassportClaims, SystemClock, UnverifiedBundle};
use passport_jose::Algorithm;
use passport_verifier::{KeyStore, LinkStatus, StatusSource, StatusUnavailable};

use crate::error::shorten;
use crate::{
    DEFAULT_LIST_CLOCK_SKEW, DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_LIST_TOKEN_LEN,
    ListExpectations, Status, StatusError, StatusListToken, VerifiedStatusList,
};

/// The most lists a [`StatusListSource`] caches by default.
pub const DEFAULT_MAX_LISTS: usize = 16;

/// The most distinct status lists [`StatusListSource::prefetch`] fetches for
/// one bundle.
pub const MAX_PREFETCH_URIS: usize = 4;

/// The default timeout of one fetch (connect and whole response).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long, by default, a source waits after a failed fetch (or file read)
/// before trying that list again; a dead endpoint costs one attempt per
/// period, not one per request.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What a [`StatusListSource`] does when it has no usable list: the list
/// could not be fetched, or the one it holds is past its refresh time
/// (`ttl`) or its `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Refuse every passport that references the list (the default).
    #[default]
    FailClosed,
    /// Keep answering from the last good list for at most this long past its
    /// refresh time or `exp` (whichever comes first), then refuse. Opt-in:
    /// a passport revoked after that list was signed is accepted meanwhile.
    Grace(Duration),
}

#[derive(Debug, Clone)]
struct Cached {
    list: Arc<VerifiedStatusList>,
    fetched_at: i64,
    /// `Cache-Control: max-age` of the response it came in, when fetched
    /// over http(s) with one (`no-store`/`no-cache` count as 0).
    max_age: Option<u64>,
}

/// What a [`StatusListSource`] holds for one list, as a refresher sees it.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) list: Arc<VerifiedStatusList>,
    pub(crate) fetched_at: i64,
    /// The last moment it may be used without a refresh (`ttl`, `exp`).
    pub(crate) usable_until: i64,
    pub(crate) max_age: Option<u64>,
}

/// A list is held per (issuer, URI): the issuer whose key signed it, the
/// only issuer whose passports it may answer for.
type ListKey = (String, String);

fn list_key(issuer: &str, uri: &str) -> ListKey {
    (issuer.to_owned(), uri.to_owned())
}

/// Answers "is this passport revoked?" from Token Status Lists.
///
/// - A passport **without** a `status` claim is valid as far as this source
///   goes (a malformed claim never gets this far: the claims decoder
///   refuses it as `invalid_claim`).
/// - **Issuers and their status bases.** The source knows, per trusted
///   issuer, its status base: the URI prefix it publishes its lists under
///   ([`StatusListSource::trust_issuer`]). A passport's status URI must lie
///   under the base of the passport's own `iss`, else it is refused
///   (`status_uri_not_allowed`): the source never fetches an arbitrary URI a
///   token names, nor one under another issuer's base.
/// - **Which lists.** A list file ([`StatusListSource::add_file`]), a token
///   handed over ([`StatusListSource::add_token`]), or a fetch of a URI under
///   an issuer's base.
/// - **Trust.** Every list is verified ([`StatusListToken::verify`]) with a
///   key of the issuer whose passports it answers for — never another
///   issuer's, so issuer B cannot sign a list for A's URI and un-revoke A's
///   passports — its `sub` equal to the URI it is used for, its time window
///   checked.
/// - **No rollback.** A list older (`iat`) than one already seen for the
///   same issuer and URI is refused (`status_list_rolled_back`), so an old
///   copy from before a revocation cannot be replayed.
/// - **Freshness.** A list is used until `ttl` seconds after it was loaded or
///   its `exp` (plus the skew), whichever is first. [`StatusSource::status`]
///   is synchronous and answers from what is cached (re-reading a stale list
///   file on the way); run [`StatusListSource::prefetch`] with the bundle
///   before verifying it so that missing or stale lists are fetched.
/// - **Failure policy.** Without a usable list the answer is
///   [`FailurePolicy::FailClosed`] (refuse) unless a bounded
///   [`FailurePolicy::Grace`] was configured.
/// - **Bounded.** At most [`DEFAULT_MAX_LISTS`] lists are cached (the oldest
///   fetched is evicted — never a list file, nor a list a
///   [`crate::StatusRefresher`] was told to watch, so lists loaded for
///   requests cannot push those out), each token at most [`DEFAULT_MAX_LIST_TOKEN_LEN`]
///   bytes, each list at most [`DEFAULT_MAX_DECOMPRESSED`] bytes inflated;
///   redirects are not followed.
pub struct StatusListSource {
    keys: Arc<dyn KeyStore>,
    /// Each trusted issuer with its status base.
    issuers: Vec<(String, String)>,
    policy: FailurePolicy,
    clock: Arc<dyn Clock>,
    clock_skew: u64,
    max_decompressed: usize,
    max_token_len: usize,
    algorithms: Vec<Algorithm>,
    max_lists: usize,
    http_timeout: Duration,
    retry_after: Duration,
    http: OnceLock<reqwest::Client>,
    files: RwLock<HashMap<String, PathBuf>>,
    /// Lists a [`crate::StatusRefresher`] was told to watch: like list
    /// files, never evicted to make room.
    pinned: RwLock<HashSet<ListKey>>,
    cache: RwLock<HashMap<ListKey, Cached>>,
    /// The newest `iat` verified per list: what a rollback is measured
    /// against. Only lists signed by a trusted issuer create entries.
    /// Taken only under `cache`'s write lock (`store`).
    seen: Mutex<HashMap<ListKey, i64>>,
    failures: Mutex<HashMap<ListKey, i64>>,
}

impl std::fmt::Debug for StatusListSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusListSource")
            .field("issuers", &self.issuers)
            .field("policy", &self.policy)
            .field("cached", &read(&self.cache).len())
            .finish_non_exhaustive()
    }
}

impl StatusListSource {
    /// A source whose lists must be signed by a key in `keys` of the issuer
    /// they answer for, failing closed, with no trusted issuer yet
    /// ([`StatusListSource::trust_issuer`]).
    pub fn new(keys: Arc<dyn KeyStore>) -> StatusListSource {
        StatusListSource {
            keys,
            issuers: Vec::new(),
            policy: FailurePolicy::FailClosed,
            clock: Arc::new(SystemClock),
            clock_skew: DEFAULT_LIST_CLOCK_SKEW,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            max_token_len: DEFAULT_MAX_LIST_TOKEN_LEN,
            algorithms: Algorithm::ALL.to_vec(),
            max_lists: DEFAULT_MAX_LISTS,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            http: OnceLock::new(),
            files: RwLock::new(HashMap::new()),
            pinned: RwLock::new(HashSet::new()),
            cache: RwLock::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Trusts `issuer`'s lists under `status_base`, the absolute
    /// `http`/`https` URI prefix it publishes them under (its configured
    /// status URI or a prefix of it): a passport of `issuer` may name a list
    /// under that base, the list must be signed by a key of `issuer`, and
    /// such URIs may be fetched. Call again for more issuers (or bases).
    ///
    /// The match is at a path boundary: the base
    /// `https://issuer.example/status` covers `…/status` and `…/status/1`,
    /// never `…/statusX` nor `https://issuer.example.evil/…`. A URI must also
    /// be in normal form (what a URL parser prints back), so dot segments,
    /// user info, fragments and case tricks never slip under a base.
    ///
    /// The base must pass [`passport_remote::check_endpoint`] for `issuer`
    /// (`insecure_url`): an absolute http(s) URL, and https unless the
    /// issuer is plain http and the base on a loopback host. An https
    /// issuer's lists are never fetched over plain http, where whoever is on
    /// the path could answer with a list from before a revocation. The
    /// issuer itself is not checked here — a source that is only handed
    /// lists ([`StatusListSource::add_file`], [`StatusListSource::add_token`])
    /// may trust an issuer whose identifier is not a URL — but nothing is
    /// fetched for an issuer that fails [`check_status_url`]: each fetch
    /// checks the whole rule right before its request.
    pub fn trust_issuer(
        mut self,
        issuer: impl Into<String>,
        status_base: impl Into<String>,
    ) -> Result<Self, StatusError> {
        let (issuer, status_base) = (issuer.into(), status_base.into());
        passport_remote::check_endpoint(&issuer, &status_base)
            .map_err(|e| insecure_url(&issuer, &e))?;
        self.issuers.push((issuer, status_base));
        Ok(self)
    }

    /// Sets the failure policy.
    pub fn with_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Uses `clock` (for list time windows and freshness).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the clock skew for lists' `iat` and `exp`.
    pub fn clock_skew(mut self, seconds: u64) -> Self {
        self.clock_skew = seconds;
        self
    }

    /// Sets the cap on a decompressed list.
    pub fn max_decompressed(mut self, bytes: usize) -> Self {
        self.max_decompressed = bytes;
        self
    }

    /// Sets the cap on a list token's size (and on a fetched body).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// Sets the algorithms accepted for list tokens.
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Sets how many lists are cached (at least 1).
    pub fn max_lists(mut self, lists: usize) -> Self {
        self.max_lists = lists.max(1);
        self
    }

    /// Sets the timeout of one fetch.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Sets how long to wait after a failed load before trying again.
    pub fn retry_after(mut self, period: Duration) -> Self {
        self.retry_after = period;
        self
    }

    /// Loads, verifies and caches the Status List Token in `path`, for the
    /// URI its `sub` names, which must lie under a trusted issuer's status
    /// base; the list answers for the issuer whose key signed it. The file is
    /// read again whenever the list needs refreshing. Returns the URI.
    pub fn add_file(&self, path: impl AsRef<Path>) -> Result<String, StatusError> {
        let path = path.as_ref();
        let token = read_token_file(path, self.max_token_len)?;
        let uri = StatusListToken::unverified_uri(&token).ok_or_else(|| {
            StatusError::InvalidClaims(format!("{}: no `sub` in the token", path.display()))
        })?;
        self.add_verified(&token, &uri)?;
        write(&self.files).insert(uri.clone(), path.to_owned());
        Ok(uri)
    }

    /// Verifies and caches a Status List Token obtained by other means (an
    /// issuer checking its own list, say), for the URI its `sub` names, as
    /// [`StatusListSource::add_file`] does. Returns the URI.
    pub fn add_token(&self, token: &str) -> Result<String, StatusError> {
        let uri = StatusListToken::unverified_uri(token)
            .ok_or_else(|| StatusError::InvalidClaims("no `sub` in the token".into()))?;
        self.add_verified(token, &uri)?;
        Ok(uri)
    }

    /// Verifies `token` for each issuer whose base covers `uri` and keeps it
    /// for those whose key signed it; the first error when none did.
    fn add_verified(&self, token: &str, uri: &str) -> Result<(), StatusError> {
        let now = self.clock.now();
        let mut first = None;
        let mut stored = false;
        for issuer in self.issuers_covering(uri) {
            match StatusListToken::verify(token, &*self.keys, &self.expect(issuer, uri, now))
                .and_then(|list| self.store(list, None, now))
            {
                Ok(_) => stored = true,
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        match (stored, first) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Err(StatusError::UriNotAllowed(shorten(uri))),
        }
    }

    /// The cached list of `issuer` for `uri`, if any (fresh or not).
    pub fn cached(&self, issuer: &str, uri: &str) -> Option<Arc<VerifiedStatusList>> {
        read(&self.cache)
            .get(&list_key(issuer, uri))
            .map(|c| Arc::clone(&c.list))
    }

    /// How many lists are cached.
    pub fn cached_lists(&self) -> usize {
        read(&self.cache).len()
    }

    /// Makes sure `issuer`'s list for `uri` is cached and fresh: loads it
    /// (from its file, or over http(s)) when it is missing or past its
    /// refresh time; `uri` must lie under `issuer`'s status base. A list
    /// that failed to load less than `retry_after` ago is not tried again
    /// yet.
    pub async fn ensure_fresh(
        &self,
        issuer: &str,
        uri: &str,
    ) -> Result<Arc<VerifiedStatusList>, StatusError> {
        let now = self.clock.now();
        let key = list_key(issuer, uri);
        if let Some(cached) = read(&self.cache).get(&key)
            && now <= self.deadline(cached)
        {
            return Ok(Arc::clone(&cached.list));
        }
        if !self.is_under_base(issuer, uri) {
            return Err(StatusError::UriNotAllowed(shorten(uri)));
        }
        if let Some(failed) = self.failed_at(&key)
            && now < failed.saturating_add(secs(self.retry_after))
        {
            return Err(StatusError::Unreachable {
                uri: shorten(uri),
                reason: format!("the last attempt, at {failed}, failed; not retried yet"),
            });
        }
        self.load(issuer, uri).await
    }

    /// Loads every list this source holds or has a file for again, now,
    /// whatever their freshness. Returns the first failure after trying all.
    pub async fn refresh(&self) -> Result<(), StatusError> {
        let mut keys: Vec<ListKey> = read(&self.cache).keys().cloned().collect();
        let files: Vec<String> = read(&self.files).keys().cloned().collect();
        for uri in &files {
            keys.extend(
                self.issuers_covering(uri)
                    .into_iter()
                    .map(|issuer| list_key(issuer, uri)),
            );
        }
        keys.sort();
        keys.dedup();
        let mut first = None;
        for (issuer, uri) in keys {
            if let Err(e) = self.load(&issuer, &uri).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Fetches the lists the passports of `bundle` reference that are
    /// missing or stale (claims decoded **without** verification: this only
    /// decides what to fetch; every list is verified, and the bundle is
    /// verified afterwards). Call it before `Verifier::verify_bundle`. URIs
    /// outside the status base of the link's issuer are skipped (`status`
    /// refuses them). Returns the first failure after trying all; with a
    /// grace policy a failure may still leave a usable list.
    ///
    /// At most [`MAX_PREFETCH_URIS`] distinct lists are fetched per call:
    /// the claims are not verified yet, so a forged bundle of many links,
    /// each naming another URI under a trusted base, must not turn one
    /// request into dozens of outbound fetches. A genuine chain has one
    /// issuer and names one or two lists; a list not fetched is refused as
    /// unavailable when the bundle is verified (fail closed).
    pub async fn prefetch(&self, bundle: &UnverifiedBundle) -> Result<(), StatusError> {
        let mut seen = HashSet::new();
        let mut first = None;
        for inspected in bundle.inspect_unverified().into_iter().flatten() {
            let claims = &inspected.claims;
            let Some(reference) = &claims.status else {
                continue;
            };
            if seen.len() >= MAX_PREFETCH_URIS
                || !self.is_under_base(&claims.iss, reference.uri())
                || !seen.insert(list_key(&claims.iss, reference.uri()))
            {
                continue;
            }
            if let Err(e) = self.ensure_fresh(&claims.iss, reference.uri()).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Loads `issuer`'s list for `uri` from its file or over http(s),
    /// verifies and caches it.
    async fn load(&self, issuer: &str, uri: &str) -> Result<Arc<VerifiedStatusList>, StatusError> {
        let file = read(&self.files).get(uri).cloned();
        if let Some(path) = file {
            let loaded = self.load_file(issuer, uri, &path).map(|list| (list, None));
            return self.record_outcome(issuer, uri, loaded);
        }
        let started = std::time::Instant::now();
        let fetched = self.fetch(issuer, uri).await;
        let outcome = self.record_outcome(issuer, uri, fetched);
        // The label is a trusted issuer: `fetch` refuses a URI outside the
        // status base of one, so the label set is the configured issuers.
        metrics::histogram!("passport_status_fetch_seconds", "issuer" => issuer.to_owned())
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = &outcome {
            metrics::counter!("passport_status_fetch_failures_total", "issuer" => issuer.to_owned())
                .increment(1);
            tracing::warn!(issuer, uri = %shorten(uri), code = e.code(), error = %e, "status list fetch failed");
        } else {
            tracing::debug!(issuer, uri = %shorten(uri), "status list fetched");
        }
        outcome
    }

    /// Loads `issuer`'s list for `uri` now, whatever the freshness of the one
    /// held and the retry period (the refresher keeps its own schedule).
    pub(crate) async fn reload(
        &self,
        issuer: &str,
        uri: &str,
    ) -> Result<Arc<VerifiedStatusList>, StatusError> {
        if !self.is_under_base(issuer, uri) {
            return Err(StatusError::UriNotAllowed(shorten(uri)));
        }
        self.load(issuer, uri).await
    }

    /// The list held for `issuer` and `uri`, with its timing.
    pub(crate) fn held(&self, issuer: &str, uri: &str) -> Option<Held> {
        let cached = read(&self.cache).get(&list_key(issuer, uri)).cloned()?;
        Some(Held {
            usable_until: self.deadline(&cached),
            list: cached.list,
            fetched_at: cached.fetched_at,
            max_age: cached.max_age,
        })
    }

    /// Never evicts the list of `issuer` at `uri` to make room for another
    /// (a list a refresher was told to watch).
    pub(crate) fn pin(&self, issuer: &str, uri: &str) {
        write(&self.pinned).insert(list_key(issuer, uri));
    }

    /// The (issuer, URI) of every list held.
    pub(crate) fn held_keys(&self) -> Vec<(String, String)> {
        read(&self.cache).keys().cloned().collect()
    }

    /// The most lists this source holds.
    pub(crate) fn list_bound(&self) -> usize {
        self.max_lists
    }

    /// The source's clock.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn load_file(
        &self,
        issuer: &str,
        uri: &str,
        path: &Path,
    ) -> Result<VerifiedStatusList, StatusError> {
        let token = read_token_file(path, self.max_token_len)?;
        StatusListToken::verify(
            &token,
            &*self.keys,
            &self.expect(issuer, uri, self.clock.now()),
        )
    }

    /// Fetches and verifies `issuer`'s list for `uri`, with the response's
    /// `max-age`.
    async fn fetch(
        &self,
        issuer: &str,
        uri: &str,
    ) -> Result<(VerifiedStatusList, Option<u64>), StatusError> {
        if !self.is_under_base(issuer, uri) {
            return Err(StatusError::UriNotAllowed(shorten(uri)));
        }
        // Its base passed `check_endpoint` when it was trusted, and a URI
        // under it has the base's scheme; the issuer too is checked here,
        // right before the request.
        check_status_url(issuer, uri)?;
        let unreachable = |reason: String| StatusError::Unreachable {
            uri: shorten(uri),
            reason,
        };
        let client = self.client().map_err(unreachable)?;
        let mut response = client
            .get(uri)
            .header(reqwest::header::ACCEPT, "application/statuslist+jwt")
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unreachable(format!("HTTP {status}")));
        }
        let max_age = max_age(response.headers());
        let max = self.max_token_len;
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(unreachable(format!("response larger than {max} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > max {
                return Err(unreachable(format!("response larger than {max} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let token = String::from_utf8(body)
            .map_err(|_| StatusError::InvalidClaims("the response is not UTF-8".into()))?;
        let list = StatusListToken::verify(
            &token,
            &*self.keys,
            &self.expect(issuer, uri, self.clock.now()),
        )?;
        Ok((list, max_age))
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        // No redirects: a list lives at the URI the passport names, a
        // redirect could only lead somewhere that was not allowed. No proxy
        // for plain http (loopback only): it stays on this machine.
        let client = passport_remote::http_client(self.http_timeout).map_err(|e| e.to_string())?;
        Ok(self.http.get_or_init(|| client))
    }

    fn record_outcome(
        &self,
        issuer: &str,
        uri: &str,
        result: Result<(VerifiedStatusList, Option<u64>), StatusError>,
    ) -> Result<Arc<VerifiedStatusList>, StatusError> {
        let now = self.clock.now();
        let key = list_key(issuer, uri);
        match result.and_then(|(list, max_age)| self.store(list, max_age, now)) {
            Ok(list) => {
                lock(&self.failures).remove(&key);
                Ok(list)
            }
            Err(e) => {
                let mut failures = lock(&self.failures);
                let bound = self.max_lists.saturating_mul(4);
                if failures.len() >= bound {
                    let horizon = now.saturating_sub(secs(self.retry_after));
                    failures.retain(|_, t| *t > horizon);
                }
                // Still full of recent failures: forget the oldest rather
                // than this one, so the retry period always holds for the
                // list that failed last.
                if failures.len() >= bound
                    && let Some(oldest) = failures
                        .iter()
                        .min_by_key(|(_, t)| **t)
                        .map(|(k, _)| k.clone())
                {
                    failures.remove(&oldest);
                }
                failures.insert(key, now);
                Err(e)
            }
        }
    }

    /// Caches a verified list, unless it is older than one already seen for
    /// its issuer and URI (a rollback).
    ///
    /// The rollback check and the insert are one step, under the cache's
    /// write lock (`seen` is taken inside it, and nowhere else): two loads
    /// of one list at once (the refresher's and a request's, or two
    /// requests') are checked and cached in the same order, so the list
    /// cached is always the newest seen — never an older one that passed
    /// the check first and reached the cache last (review S14, R3-2). Lock
    /// order: `cache`, then `seen`, `files`, `pinned`; no await under them.
    fn store(
        &self,
        list: VerifiedStatusList,
        max_age: Option<u64>,
        now: i64,
    ) -> Result<Arc<VerifiedStatusList>, StatusError> {
        let key = list_key(&list.issuer, &list.uri);
        let list = Arc::new(list);
        #[cfg(test)]
        tests::before_cache_write();
        let mut cache = write(&self.cache);
        {
            let mut seen = lock(&self.seen);
            let newest = seen.entry(key.clone()).or_insert(list.iat);
            if list.iat < *newest {
                return Err(StatusError::RolledBack {
                    uri: shorten(&list.uri),
                    iat: list.iat,
                    seen: *newest,
                });
            }
            *newest = list.iat;
        }
        if !cache.contains_key(&key) && cache.len() >= self.max_lists {
            let files = read(&self.files);
            let pinned = read(&self.pinned);
            let oldest = cache
                .iter()
                .filter(|(key, _)| !files.contains_key(&key.1) && !pinned.contains(*key))
                .min_by_key(|(_, c)| c.fetched_at)
                .map(|(key, _)| key.clone());
            if let Some(key) = oldest {
                cache.remove(&key);
            }
        }
        cache.insert(
            key,
            Cached {
                list: Arc::clone(&list),
                fetched_at: now,
                max_age,
            },
        );
        Ok(list)
    }

    fn expect<'a>(&'a self, issuer: &'a str, uri: &'a str, now: i64) -> ListExpectations<'a> {
        ListExpectations::new(issuer, uri, now)
            .clock_skew(self.clock_skew)
            .max_decompressed(self.max_decompressed)
            .max_token_len(self.max_token_len)
            .algorithms(&self.algorithms)
    }

    /// The last moment a cached list may be used without a refresh.
    fn deadline(&self, cached: &Cached) -> i64 {
        let exp = cached
            .list
            .exp
            .saturating_add(i64::try_from(self.clock_skew).unwrap_or(i64::MAX));
        match cached.list.ttl {
            Some(ttl) => exp.min(
                cached
                    .fetched_at
                    .saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            ),
            None => exp,
        }
    }

    fn failed_at(&self, key: &ListKey) -> Option<i64> {
        lock(&self.failures).get(key).copied()
    }

    /// The trusted issuers whose status base covers `uri`.
    fn issuers_covering(&self, uri: &str) -> Vec<&str> {
        let mut issuers: Vec<&str> = self
            .issuers
            .iter()
            .filter(|(_, base)| under_base(uri, base))
            .map(|(issuer, _)| issuer.as_str())
            .collect();
        issuers.dedup();
        issuers
    }

    /// `uri` lies under one of `issuer`'s status bases.
    pub(crate) fn is_under_base(&self, issuer: &str, uri: &str) -> bool {
        self.issuers
            .iter()
            .any(|(iss, base)| iss == issuer && under_base(uri, base))
    }
}

/// Checks that `issuer`'s status lists may be fetched from `url` (a status
/// base or a list URI), by the rule of every URL fetched for an issuer
/// ([`passport_remote::check_issuer`], [`passport_remote::check_endpoint`]):
/// the issuer is https, or plain http on a loopback host (a development
/// issuer on this machine), and an https issuer's URLs are https.
///
/// ```
/// use passport_status::check_status_url;
///
/// assert!(check_status_url("https://as.example", "https://as.example/status").is_ok());
/// assert!(check_status_url("http://127.0.0.1:8080", "http://127.0.0.1:8080/status").is_ok());
/// let refused = check_status_url("https://as.example", "http://127.0.0.1:8080/status");
/// assert_eq!(refused.unwrap_err().code(), "insecure_url");
/// ```
pub fn check_status_url(issuer: &str, url: &str) -> Result<(), StatusError> {
    passport_remote::check_issuer(issuer)
        .and_then(|()| passport_remote::check_endpoint(issuer, url))
        .map_err(|e| insecure_url(issuer, &e))
}

/// `issuer`'s lists may not be fetched, as passport-remote said why.
fn insecure_url(issuer: &str, refused: &passport_remote::RemoteError) -> StatusError {
    StatusError::InsecureUrl {
        issuer: shorten(issuer),
        reason: refused.to_string(),
    }
}

/// `uri` is an absolute http(s) URL in normal form under `base`, at a path
/// boundary.
fn under_base(uri: &str, base: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let normal = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
        && url.as_str() == uri;
    normal
        && uri.strip_prefix(base).is_some_and(|rest| {
            base.ends_with('/') || rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')
        })
}

impl StatusListSource {
    /// A usable list of `issuer` for `uri` at `now`, under the failure policy.
    fn usable(
        &self,
        issuer: &str,
        uri: &str,
        now: i64,
    ) -> Result<Arc<VerifiedStatusList>, StatusUnavailable> {
        let key = list_key(issuer, uri);
        let cached = read(&self.cache).get(&key).cloned();
        if let Some(c) = &cached
            && now <= self.deadline(c)
        {
            return Ok(Arc::clone(&c.list));
        }
        // A stale list file can be read again right here: no network.
        let file = read(&self.files).get(uri).cloned();
        if let Some(path) = file {
            let may_retry = self
                .failed_at(&key)
                .is_none_or(|t| now >= t.saturating_add(secs(self.retry_after)));
            if may_retry {
                let loaded = self.load_file(issuer, uri, &path).map(|list| (list, None));
                if let Ok(list) = self.record_outcome(issuer, uri, loaded) {
                    return Ok(list);
                }
            }
        }
        let cached = read(&self.cache).get(&key).cloned().or(cached);
        let Some(c) = cached else {
            return Err(match self.failed_at(&key) {
                Some(_) => StatusUnavailable::new(
                    "status_list_unreachable",
                    format!("the status list {} could not be loaded", shorten(uri)),
                ),
                None => StatusUnavailable::new(
                    "status_list_unavailable",
                    format!(
                        "the status list {} has not been loaded (prefetch it first)",
                        shorten(uri)
                    ),
                ),
            });
        };
        let deadline = self.deadline(&c);
        if now <= deadline {
            return Ok(c.list);
        }
        if let FailurePolicy::Grace(grace) = self.policy
            && now <= deadline.saturating_add(secs(grace))
        {
            return Ok(c.list);
        }
        let skew = i64::try_from(self.clock_skew).unwrap_or(i64::MAX);
        Err(if now > c.list.exp.saturating_add(skew) {
            StatusUnavailable::new(
                "status_list_expired",
                format!("the status list {} expired at {}", shorten(uri), c.list.exp),
            )
        } else if self.failed_at(&key).is_some() {
            StatusUnavailable::new(
                "status_list_unreachable",
                format!(
                    "the status list {} is due for a refresh and could not be loaded",
                    shorten(uri)
                ),
            )
        } else {
            StatusUnavailable::new(
                "status_list_stale",
                format!(
                    "the status list {} is due for a refresh (prefetch it)",
                    shorten(uri)
                ),
            )
        })
    }
}

impl StatusListSource {
    /// The codes of the [`StatusUnavailable`] errors this source reports,
    /// with the condition each names. A failed lookup in a verified list
    /// reports the [`StatusError`](crate::StatusError) code instead
    /// (`index_out_of_range`).
    pub const UNAVAILABLE_CODES: &'static [(&'static str, &'static str)] = &[
        (
            "status_uri_not_allowed",
            "A status list URI is not one this source trusts or may fetch (not under the status base of the passport's issuer).",
        ),
        (
            "status_list_unavailable",
            "The status list has not been loaded yet (prefetch it first).",
        ),
        (
            "status_list_unreachable",
            "A status list could not be fetched or loaded.",
        ),
        (
            "status_list_stale",
            "The status list is due for a refresh and has not been refreshed.",
        ),
        (
            "status_list_expired",
            "A status list token's `exp` is in the past by more than the clock skew.",
        ),
        (
            "unknown_status_value",
            "The status list holds a value this verifier does not understand.",
        ),
    ];
}

impl StatusSource for StatusListSource {
    /// It answers from the status list a passport's `status` names.
    fn answers_status_references(&self) -> bool {
        true
    }

    fn status(&self, passport: &PassportClaims, now: i64) -> Result<LinkStatus, StatusUnavailable> {
        let Some(reference) = &passport.status else {
            return Ok(LinkStatus::Valid);
        };
        if !self.is_under_base(&passport.iss, reference.uri()) {
            return Err(StatusUnavailable::new(
                "status_uri_not_allowed",
                format!(
                    "the status list {} is not under a status base of the passport's issuer {}",
                    shorten(reference.uri()),
                    shorten(&passport.iss)
                ),
            ));
        }
        let list = self.usable(&passport.iss, reference.uri(), now)?;
        let value = list.list.get(reference.idx()).map_err(|e| {
            StatusUnavailable::new(e.code(), format!("{}: {e}", shorten(reference.uri())))
        })?;
        match Status::from_value(value) {
            Some(status) => Ok(LinkStatus::from(status)),
            None => Err(StatusUnavailable::new(
                "unknown_status_value",
                format!("status value {value:#04x} is not one this verifier understands"),
            )),
        }
    }
}

/// Reads a list token file of at most `max` bytes.
pub(crate) fn read_token_file(path: &Path, max: usize) -> Result<String, StatusError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| StatusError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StatusError::io(path, e))?;
    if bytes.len() > max {
        return Err(passport_jose::JoseError::TokenTooLarge {
            len: bytes.len(),
            max,
        }
        .into());
    }
    String::from_utf8(bytes)
        .map_err(|_| StatusError::InvalidClaims(format!("{} is not UTF-8", path.display())))
}

/// The `max-age` of a `Cache-Control` header (0 for `no-store` or
/// `no-cache`), if any.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let mut found = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            let seconds = if name.eq_ignore_ascii_case("max-age") {
                arg.trim_matches('"').parse::<u64>().ok()
            } else if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache")
            {
                Some(0)
            } else {
                None
            };
            if let Some(s) = seconds {
                found = Some(found.map_or(s, |f: u64| f.min(s)));
            }
        }
    }
    found
}

pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::cell::RefCell;
    use std::sync::Arc;

    use passport_testkit::{ISS, Kit, NOW};

    use super::StatusListSource;
    use crate::{StatusList, StatusListToken};

    thread_local! {
        /// Run once by `store`, on this thread, just before it takes the
        /// cache's write lock: where another load of the same list can
        /// slip in.
        static BEFORE_CACHE_WRITE: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    pub(super) fn before_cache_write() {
        if let Some(hook) = BEFORE_CACHE_WRITE.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }

    /// Review S14, finding R3-2, driven deterministically: a load of the
    /// older list reaches `store` first; the newer one (revoking index 5)
    /// is stored in full before the older one takes the cache's lock. The
    /// source must end up holding the newer list, the older one refused as
    /// a rollback (the rollback check and the insert are one step).
    #[test]
    fn an_older_list_stored_after_a_newer_one_never_replaces_it() {
        const URI: &str = "https://issuer.local/status/1";
        let kit = Kit::new();
        let source = Arc::new(
            StatusListSource::new(kit.key_store())
                .with_clock(kit.clock.clone())
                .trust_issuer(ISS, "https://issuer.local/status")
                .unwrap(),
        );
        let list = StatusList::with_capacity(1, 64).unwrap();
        let mut revoked = list.clone();
        revoked.set(5, 1).unwrap();
        let older = StatusListToken::sign(&kit.key, URI, &list, NOW - 20, NOW + 3600, 300).unwrap();
        let newer =
            StatusListToken::sign(&kit.key, URI, &revoked, NOW - 10, NOW + 3600, 300).unwrap();

        let other = Arc::clone(&source);
        BEFORE_CACHE_WRITE.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                other.add_token(&newer).unwrap();
            }));
        });
        let refused = source.add_token(&older).unwrap_err();
        assert_eq!(refused.code(), "status_list_rolled_back", "{refused}");
        let held = source.cached(ISS, URI).unwrap();
        assert_eq!(held.iat, NOW - 10, "the older list replaced the newer one");
        assert_eq!(held.list.get(5).unwrap(), 1);
    }
}
