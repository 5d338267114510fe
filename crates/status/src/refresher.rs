//! [`StatusRefresher`]: keeps the remote status lists of a
//! [`StatusListSource`] fresh in the background, so that a server never
//! refuses a request because nobody refreshed a list.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passport_claims::{PassportClaims, UnverifiedBundle};
use passport_verifier::{
    LinkStatus, Refetch, RefetchFuture, StatusSource, StatusUnavailable, VerifyError,
};

use crate::source::{Held, lock, secs};
use crate::{StatusError, StatusListSource};

/// By default a list is refreshed once this fraction of its remaining
/// lifetime has passed.
pub const DEFAULT_REFRESH_FRACTION: f64 = 0.5;

/// By default each delay is shortened by a random part of up to this
/// fraction, so that servers started together do not fetch together.
pub const DEFAULT_JITTER: f64 = 0.2;

/// By default a list is fetched at most once per this period by the
/// refresher, whatever its lifetime says (the floor), and the first retry
/// after a failure waits this long.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// By default the wait between two failed attempts doubles up to this.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// By default the refresher looks at its lists at least this often (it
/// sleeps until the next list is due, but never longer, so that a clock
/// that jumps is noticed).
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// By default a request may trigger a fetch of a given list at most once per
/// this period ([`Refetch`]).
pub const DEFAULT_REFETCH_COOLDOWN: Duration = Duration::from_secs(10);

/// The most fetches that requests may trigger ([`Refetch`]) in one cooldown
/// period, over all lists: forged bundles naming ever new lists under a
/// trusted base cannot turn into a stream of outbound requests either.
pub const MAX_REFETCHES_PER_COOLDOWN: usize = 8;

/// How a [`StatusRefresher`] schedules its fetches.
///
/// ```
/// use std::time::Duration;
/// use passport_status::RefresherOptions;
///
/// let options = RefresherOptions::default()
///     .watch("https://issuer.example", "https://issuer.example/status/1")
///     .min_interval(Duration::from_secs(10));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct RefresherOptions {
    watch: Vec<(String, String)>,
    refresh_fraction: f64,
    jitter: f64,
    min_interval: Duration,
    max_backoff: Duration,
    check_interval: Duration,
    refetch_cooldown: Duration,
}

impl Default for RefresherOptions {
    fn default() -> Self {
        RefresherOptions {
            watch: Vec::new(),
            refresh_fraction: DEFAULT_REFRESH_FRACTION,
            jitter: DEFAULT_JITTER,
            min_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            max_backoff: DEFAULT_MAX_BACKOFF,
            check_interval: DEFAULT_CHECK_INTERVAL,
            refetch_cooldown: DEFAULT_REFETCH_COOLDOWN,
        }
    }
}

impl RefresherOptions {
    /// Watches `issuer`'s list at `uri` from the start: it is fetched by
    /// [`StatusRefresher::start`], before it returns. The URI must lie under
    /// a status base the source trusts for `issuer` (else its health reports
    /// `status_uri_not_allowed`). Lists beyond the source's `max_lists` are
    /// ignored.
    pub fn watch(mut self, issuer: impl Into<String>, uri: impl Into<String>) -> Self {
        self.watch.push((issuer.into(), uri.into()));
        self
    }

    /// Refreshes a list once this fraction of its remaining lifetime has
    /// passed (clamped to 0.05–0.95; default
    /// [`DEFAULT_REFRESH_FRACTION`]).
    pub fn refresh_fraction(mut self, fraction: f64) -> Self {
        self.refresh_fraction = if fraction.is_finite() {
            fraction.clamp(0.05, 0.95)
        } else {
            DEFAULT_REFRESH_FRACTION
        };
        self
    }

    /// Shortens each delay by a random part of up to this fraction (clamped
    /// to 0–0.5; default [`DEFAULT_JITTER`]).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 0.5)
        } else {
            DEFAULT_JITTER
        };
        self
    }

    /// The floor: the refresher fetches a list at most once per this period
    /// (at least one second); also the first retry delay after a failure.
    pub fn min_interval(mut self, period: Duration) -> Self {
        self.min_interval = period;
        self
    }

    /// The longest wait between two failed attempts (the backoff doubles up
    /// to it).
    pub fn max_backoff(mut self, period: Duration) -> Self {
        self.max_backoff = period;
        self
    }

    /// The longest the refresher sleeps before looking at its lists again.
    pub fn check_interval(mut self, period: Duration) -> Self {
        self.check_interval = period;
        self
    }

    /// How long after a request triggered a fetch of a list ([`Refetch`])
    /// another request may trigger one again.
    pub fn refetch_cooldown(mut self, period: Duration) -> Self {
        self.refetch_cooldown = period;
        self
    }
}

/// The health of one watched list (times in seconds since the Unix epoch, on
/// the source's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListHealth {
    /// The issuer whose passports the list answers for.
    pub issuer: String,
    /// The list's URI.
    pub uri: String,
    /// When the refresher last loaded it successfully.
    pub last_success: Option<i64>,
    /// The `exp` of the list held, if one is held.
    pub expires_at: Option<i64>,
    /// The last moment the list held may be used without a refresh (its
    /// `ttl` after it was loaded, its `exp` plus the skew, whichever is
    /// first); past it the source fails closed (or uses its grace).
    pub usable_until: Option<i64>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// The code of the last failure ([`StatusError::code`]), cleared by a
    /// success.
    pub last_error: Option<&'static str>,
    /// When the refresher will load it next.
    pub next_refresh: i64,
}

/// A snapshot of a [`StatusRefresher`]'s lists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefresherHealth {
    /// When the snapshot was taken (the source's clock).
    pub now: i64,
    /// Every watched list, by issuer and URI.
    pub lists: Vec<ListHealth>,
}

impl RefresherHealth {
    /// Every watched list is held and usable now (true when none is
    /// watched).
    pub fn is_healthy(&self) -> bool {
        self.lists
            .iter()
            .all(|l| l.usable_until.is_some_and(|until| self.now <= until))
    }
}

/// A watched list's schedule and record.
#[derive(Debug, Clone, Default)]
struct ListState {
    due: i64,
    last_success: Option<i64>,
    failures: u32,
    last_error: Option<&'static str>,
}

type ListKey = (String, String);

/// What a request may still trigger ([`Refetch`]).
#[derive(Debug)]
struct Refetches {
    per_list: HashMap<ListKey, Instant>,
    window_start: Instant,
    in_window: usize,
    /// The fetches requests triggered that have not finished yet, by the
    /// list that triggered them: a request for that list waits for the
    /// fetch under way (its receiver sees `true`, or the sender dropped,
    /// once it is over).
    in_flight: HashMap<ListKey, tokio::sync::watch::Receiver<bool>>,
}

/// What a request asking for a refetch gets ([`Shared::may_refetch`]).
enum Allowed {
    /// Start a fetch: the cooldown and the window were spent for it.
    Start(tokio::sync::watch::Sender<bool>),
    /// Wait for the fetch of this list already under way (nothing spent).
    Join(tokio::sync::watch::Receiver<bool>),
    /// Neither: within the cooldown, or the window is full.
    No,
}

#[derive(Debug)]
struct Shared {
    source: Arc<StatusListSource>,
    options: RefresherOptions,
    lists: Mutex<BTreeMap<ListKey, ListState>>,
    wake: tokio::sync::Notify,
    refetches: Mutex<Refetches>,
}

/// Aborts the background task when the last handle goes.
#[derive(Debug)]
struct TaskGuard(tokio::task::AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps every list a [`StatusListSource`] watches fresh, in a background
/// task on the current tokio runtime.
///
/// - **Before the first request.** [`StatusRefresher::start`] loads the
///   lists it is told to watch ([`RefresherOptions::watch`]) before it
///   returns, and watches every list the source already holds.
/// - **Before expiry.** Each list is loaded again once a fraction
///   ([`RefresherOptions::refresh_fraction`]) of its remaining lifetime has
///   passed: until the earliest of its `exp`, its `ttl` after it was loaded
///   (draft-ietf-oauth-status-list), and the `Cache-Control: max-age` of the
///   response it came in. Each delay is shortened by a random jitter, and is
///   never below the floor ([`RefresherOptions::min_interval`]).
/// - **Failures.** A failed load is retried after the floor, then after
///   twice as long each time up to [`RefresherOptions::max_backoff`]. The
///   list held is used meanwhile, until it is no longer usable; then the
///   source fails closed (`status_unavailable`). A list older than the one
///   held (a rollback) is refused and the held one kept. [`health`] reports
///   each list's state.
/// - **Lists passports name.** A list the source loads for a request
///   ([`StatusListSource::prefetch`], [`Refetch`]) joins the watched set, up
///   to the source's `max_lists`.
/// - **Watched lists stay.** The source never evicts a list given to
///   [`RefresherOptions::watch`] or [`StatusRefresher::watch`] to make room
///   for another (as it spares list files): lists loaded for requests —
///   whose URIs forged bundles may choose — cannot push them out. Lists that
///   only joined the watched set get no such protection.
/// - **Requests.** It is a [`StatusSource`] (the source's answers) and a
///   [`Refetch`]: after a verification fails with `status_unavailable`, it
///   prefetches the bundle's lists, at most once per list per cooldown and
///   [`MAX_REFETCHES_PER_COOLDOWN`] times per cooldown overall. The fetch
///   runs in a task of its own: a request that goes away does not cancel
///   it, its outcome is recorded, and the requests for the same list
///   meanwhile wait for it.
/// - **Lifetime.** Handles are cheap clones; the task ends when the last one
///   is dropped.
///
/// [`health`]: StatusRefresher::health
///
/// ```no_run
/// use std::sync::Arc;
/// use passport_status::{RefresherOptions, StatusListSource, StatusRefresher};
/// use passport_verifier::{InMemoryKeyStore, KeyStore, Refetch, StatusSource};
///
/// # async fn run() -> Result<(), passport_status::StatusError> {
/// let keys: Arc<dyn KeyStore> = Arc::new(InMemoryKeyStore::new());
/// let source = Arc::new(
///     StatusListSource::new(keys)
///         .trust_issuer("https://issuer.example", "https://issuer.example/status")?,
/// );
/// let refresher = StatusRefresher::start(
///     source,
///     RefresherOptions::default()
///         .watch("https://issuer.example", "https://issuer.example/status/1"),
/// )
/// .await?;
/// if !refresher.is_healthy() {
///     eprintln!("status lists: {:?}", refresher.health());
/// }
/// // What a verifier and a resource-server layer take.
/// let status: Arc<dyn StatusSource> = Arc::new(refresher.clone());
/// let refetch: Arc<dyn Refetch> = Arc::new(refresher);
/// # let _ = (status, refetch);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StatusRefresher {
    shared: Arc<Shared>,
    _task: Arc<TaskGuard>,
}

impl StatusRefresher {
    /// Loads the watched lists, then starts the background task on the
    /// current tokio runtime. A list that cannot be loaded now does not make
    /// this fail: it is retried in the background and [`health`] reports it.
    ///
    /// # Errors
    ///
    /// [`StatusError::NoRuntime`] outside a tokio runtime.
    ///
    /// [`health`]: StatusRefresher::health
    pub async fn start(
        source: Arc<StatusListSource>,
        options: RefresherOptions,
    ) -> Result<StatusRefresher, StatusError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StatusError::NoRuntime)?;
        let watch = options.watch.clone();
        let shared = Arc::new(Shared {
            source,
            options,
            lists: Mutex::new(BTreeMap::new()),
            wake: tokio::sync::Notify::new(),
            refetches: Mutex::new(Refetches {
                per_list: HashMap::new(),
                window_start: Instant::now(),
                in_window: 0,
                in_flight: HashMap::new(),
            }),
        });
        for (issuer, uri) in watch {
            shared.add(issuer, uri);
        }
        shared.join_held();
        shared.refresh_due().await;
        let task = runtime.spawn(Arc::clone(&shared).run());
        Ok(StatusRefresher {
            shared,
            _task: Arc::new(TaskGuard(task.abort_handle())),
        })
    }

    /// Watches `issuer`'s list at `uri` too; it is loaded at once in the
    /// background. False when the source's `max_lists` are watched already.
    pub fn watch(&self, issuer: impl Into<String>, uri: impl Into<String>) -> bool {
        let added = self.shared.add(issuer.into(), uri.into());
        self.shared.wake.notify_one();
        added
    }

    /// The source it refreshes.
    pub fn source(&self) -> &Arc<StatusListSource> {
        &self.shared.source
    }

    /// The state of every watched list.
    pub fn health(&self) -> RefresherHealth {
        let now = self.shared.source.clock().now();
        let lists = lock(&self.shared.lists)
            .iter()
            .map(|((issuer, uri), state)| {
                let held = self.shared.source.held(issuer, uri);
                ListHealth {
                    issuer: issuer.clone(),
                    uri: uri.clone(),
                    last_success: state.last_success,
                    expires_at: held.as_ref().map(|h| h.list.exp),
                    usable_until: held.as_ref().map(|h| h.usable_until),
                    consecutive_failures: state.failures,
                    last_error: state.last_error,
                    next_refresh: state.due,
                }
            })
            .collect();
        RefresherHealth { now, lists }
    }

    /// Every watched list is held and usable now
    /// ([`RefresherHealth::is_healthy`]).
    pub fn is_healthy(&self) -> bool {
        self.health().is_healthy()
    }
}

impl Shared {
    /// Watches a list, due at once. False when the bound is reached.
    fn add(&self, issuer: String, uri: String) -> bool {
        let mut lists = lock(&self.lists);
        let key = (issuer, uri);
        if !lists.contains_key(&key) && lists.len() >= self.source.list_bound() {
            return false;
        }
        // Asked for by name: lists loaded later for requests never evict it
        // from the source (those that merely joined are not pinned).
        self.source.pin(&key.0, &key.1);
        if lists.contains_key(&key) {
            return true;
        }
        lists.insert(
            key,
            ListState {
                due: self.source.clock().now(),
                ..ListState::default()
            },
        );
        true
    }

    /// Watches a list a request needed and could not load (not held):
    /// counted as one failure, retried after the first backoff. Nothing
    /// when it is watched or held already, or the bound is reached.
    fn watch_failed(&self, key: ListKey) {
        if self.source.held(&key.0, &key.1).is_some() {
            return;
        }
        let now = self.source.clock().now();
        let due = now.saturating_add(self.backoff(1));
        let mut lists = lock(&self.lists);
        if lists.contains_key(&key) || lists.len() >= self.source.list_bound() {
            return;
        }
        lists.insert(
            key,
            ListState {
                due,
                failures: 1,
                last_error: Some("status_list_unreachable"),
                ..ListState::default()
            },
        );
    }

    /// Watches the lists the source holds and this refresher does not watch
    /// yet (loaded for a request), up to the bound.
    fn join_held(&self) {
        let now = self.source.clock().now();
        let held = self.source.held_keys();
        let mut lists = lock(&self.lists);
        for key in held {
            if lists.len() >= self.source.list_bound() {
                break;
            }
            if lists.contains_key(&key) {
                continue;
            }
            let due = self
                .source
                .held(&key.0, &key.1)
                .map_or(now, |h| self.next_refresh(&h, now));
            lists.insert(
                key,
                ListState {
                    due,
                    ..ListState::default()
                },
            );
        }
    }

    async fn run(self: Arc<Self>) {
        loop {
            self.join_held();
            self.refresh_due().await;
            let pause = self.pause();
            // Woken early by `watch`; either way, look again.
            let _ = tokio::time::timeout(pause, self.wake.notified()).await;
        }
    }

    /// Loads every list that is due.
    async fn refresh_due(&self) {
        let now = self.source.clock().now();
        let due: Vec<ListKey> = lock(&self.lists)
            .iter()
            .filter(|(_, state)| state.due <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for (issuer, uri) in due {
            let result = self.source.reload(&issuer, &uri).await;
            let now = self.source.clock().now();
            let next = match &result {
                Ok(_) => Ok(self
                    .source
                    .held(&issuer, &uri)
                    .map_or(now.saturating_add(self.floor()), |h| {
                        self.next_refresh(&h, now)
                    })),
                Err(e) => Err(e.code()),
            };
            let mut lists = lock(&self.lists);
            let Some(state) = lists.get_mut(&(issuer, uri)) else {
                continue;
            };
            match next {
                Ok(due) => {
                    state.last_success = Some(now);
                    state.failures = 0;
                    state.last_error = None;
                    state.due = due;
                }
                Err(code) => {
                    state.failures = state.failures.saturating_add(1);
                    state.last_error = Some(code);
                    state.due = now.saturating_add(self.backoff(state.failures));
                }
            }
        }
    }

    /// The floor, in whole seconds (at least 1).
    fn floor(&self) -> i64 {
        let floor = self.options.min_interval.max(Duration::from_secs(1));
        secs(floor).saturating_add(i64::from(floor.subsec_nanos() > 0))
    }

    /// When to load a list held since `held.fetched_at` again.
    fn next_refresh(&self, held: &Held, now: i64) -> i64 {
        let mut end = held.list.exp.min(held.usable_until);
        if let Some(age) = held.max_age {
            end = end.min(
                held.fetched_at
                    .saturating_add(i64::try_from(age).unwrap_or(i64::MAX)),
            );
        }
        let remaining = end.saturating_sub(now).max(0) as f64;
        let delay = remaining * self.options.refresh_fraction * self.jittered();
        now.saturating_add((delay as i64).max(self.floor()))
    }

    /// The wait after the `failures`-th failure in a row.
    fn backoff(&self, failures: u32) -> i64 {
        let floor = self.floor();
        let doubled = floor.saturating_mul(1_i64 << failures.saturating_sub(1).min(30));
        let capped = doubled.min(secs(self.options.max_backoff)).max(floor);
        ((capped as f64 * self.jittered()).ceil() as i64).max(floor)
    }

    /// A factor in (1 - jitter, 1].
    fn jittered(&self) -> f64 {
        // No randomness available: no jitter rather than no refresh.
        let unit = getrandom::u32().map_or(0.0, |r| f64::from(r) / f64::from(u32::MAX));
        1.0 - self.options.jitter * unit
    }

    /// How long to sleep before looking again: until the next list is due,
    /// at most the check interval.
    fn pause(&self) -> Duration {
        let now = self.source.clock().now();
        let next = lock(&self.lists).values().map(|s| s.due).min();
        let check = self.options.check_interval;
        match next {
            Some(due) if due <= now => Duration::from_millis(1).min(check),
            Some(due) => {
                let wait = u64::try_from(due.saturating_sub(now)).unwrap_or(u64::MAX);
                Duration::from_secs(wait).min(check)
            }
            None => check,
        }
    }

    /// Whether a request may trigger a fetch of `key` now (and then it is
    /// counted, and marked under way), or may wait for the one under way.
    fn may_refetch(&self, key: &ListKey) -> Allowed {
        let cooldown = self.options.refetch_cooldown;
        let now = Instant::now();
        let mut r = lock(&self.refetches);
        match r.in_flight.get(key) {
            // Its task ended without saying so (aborted): not under way.
            Some(running) if running.has_changed().is_err() => {
                r.in_flight.remove(key);
            }
            Some(running) => return Allowed::Join(running.clone()),
            None => {}
        }
        if now.duration_since(r.window_start) >= cooldown {
            r.window_start = now;
            r.in_window = 0;
            r.per_list
                .retain(|_, at| now.duration_since(*at) < cooldown);
        }
        if r.in_window >= MAX_REFETCHES_PER_COOLDOWN
            || r.per_list
                .get(key)
                .is_some_and(|at| now.duration_since(*at) < cooldown)
        {
            return Allowed::No;
        }
        r.in_window += 1;
        r.per_list.insert(key.clone(), now);
        let (done, running) = tokio::sync::watch::channel(false);
        r.in_flight.insert(key.clone(), running);
        Allowed::Start(done)
    }

    /// The fetch a request triggered for `key`'s list: the bundle's lists
    /// are prefetched and the outcome recorded. It runs in its own task
    /// ([`Refetch::refetch`]), so a request that goes away does not cancel
    /// it.
    async fn refetch(self: Arc<Self>, bundle: UnverifiedBundle, key: ListKey) {
        // A failure leaves the state as it was: the second verification
        // fails closed again.
        let _ = self.source.prefetch(&bundle).await;
        self.join_held();
        // The failing link's signature was verified before its status was
        // asked: its list is the issuer's. Watched even when it could not
        // be loaded, so health reports the outage and the background
        // retries it (within the bound).
        self.watch_failed(key.clone());
        lock(&self.refetches).in_flight.remove(&key);
        self.wake.notify_one();
    }
}

impl StatusSource for StatusRefresher {
    fn status(&self, passport: &PassportClaims, now: i64) -> Result<LinkStatus, StatusUnavailable> {
        self.shared.source.status(passport, now)
    }

    fn answers_status_references(&self) -> bool {
        self.shared.source.answers_status_references()
    }
}

impl Refetch for StatusRefresher {
    /// On `status_unavailable` at link N, when link N names a list under a
    /// status base of its issuer: when a fetch a request triggered for that
    /// list is under way, waits for it; otherwise, when no request
    /// triggered a fetch of that list within the cooldown (nor too many
    /// fetches overall), prefetches the bundle's lists
    /// ([`StatusListSource::prefetch`]). The fetch runs in a task of its
    /// own, started here: dropping the returned future (the request went
    /// away) does not cancel it, and its outcome is recorded all the same.
    /// Outside a tokio runtime nothing is fetched and nothing is counted.
    fn refetch<'a>(
        &'a self,
        bundle: &'a UnverifiedBundle,
        error: &'a VerifyError,
    ) -> Option<RefetchFuture<'a>> {
        if !matches!(error.root_cause(), VerifyError::StatusUnavailable(_)) {
            return None;
        }
        let inspected = bundle
            .inspect_unverified()
            .into_iter()
            .nth(error.link())?
            .ok()?;
        let claims = inspected.claims;
        let uri = claims.status.as_ref()?.uri();
        if !self.shared.source.is_under_base(&claims.iss, uri) {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let key = (claims.iss.clone(), uri.to_owned());
        let mut running = match self.shared.may_refetch(&key) {
            Allowed::No => return None,
            Allowed::Join(running) => running,
            Allowed::Start(done) => {
                let running = done.subscribe();
                let fetch = Arc::clone(&self.shared).refetch(bundle.clone(), key);
                runtime.spawn(async move {
                    fetch.await;
                    let _ = done.send(true);
                });
                running
            }
        };
        // Over when the task says so, or ends without saying (aborted with
        // the runtime): either way there is nothing more to wait for.
        Some(Box::pin(async move {
            let _ = running.wait_for(|done| *done).await;
        }))
    }
}
