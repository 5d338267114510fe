//! The background refresher on loopback: lists fetched before the first
//! request, refreshed before they expire, outages, rollbacks, the task's
//! lifetime, and the cooldown of request-triggered fetches. The lists' times
//! run on the kit's `ManualClock`; the refresher looks at them every few
//! milliseconds of real time.

use std::future::Future as _;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use crate::http::{Reply, Server, bundle, source};
use passport_status::{RefresherOptions, Status, StatusError, StatusListSource, StatusRefresher};
use passport_testkit::*;
use passport_verifier::{Refetch, StatusSource, VerifyError};

/// Short real intervals: the clock, not the wall, decides what is due.
fn fast() -> RefresherOptions {
    RefresherOptions::default()
        .min_interval(Duration::from_secs(1))
        .max_backoff(Duration::from_secs(8))
        .check_interval(Duration::from_millis(5))
}

/// Waits (at most 5 s of real time) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Waits until the refresher has dealt with every list due at the clock's
/// present: its next refresh of each lies in the future.
async fn caught_up(refresher: &StatusRefresher, f: &Fixture) {
    let now = f.now();
    until("the refresher catches up", || {
        refresher
            .health()
            .lists
            .iter()
            .all(|l| l.next_refresh > now)
    })
    .await;
}

async fn started(f: &Fixture, server: &Server, options: RefresherOptions) -> StatusRefresher {
    let source = Arc::new(source(f, &server.prefix()));
    StatusRefresher::start(source, options.watch(LOOPBACK_ISS, server.uri()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_watched_list_is_fetched_before_start_returns() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    server.set(Reply::Body(f.publish())); // ttl 60 s, exp 1 h
    let refresher = started(&f, &server, fast()).await;
    assert_eq!(server.hits(), 1);

    let health = refresher.health();
    assert!(health.is_healthy());
    let [list] = health.lists.as_slice() else {
        panic!("{health:?}")
    };
    assert_eq!(
        (list.issuer.as_str(), list.uri.as_str()),
        (LOOPBACK_ISS, server.uri().as_str())
    );
    assert_eq!(list.last_success, Some(NOW));
    assert_eq!(list.expires_at, Some(NOW + 3600));
    assert_eq!(list.usable_until, Some(NOW + 60));
    assert_eq!((list.consecutive_failures, list.last_error), (0, None));
    // Half the remaining 60 s, less up to 20 % of jitter.
    assert!(
        (NOW + 24..=NOW + 30).contains(&list.next_refresh),
        "{list:?}"
    );

    // The first request finds the list: no prefetch, no fetch.
    let verifier = f.verifier_using(Arc::new(refresher.clone()));
    verifier.verify_str(root.bundle()).unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn the_http_max_age_shortens_the_schedule() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    server.set(Reply::Cached(f.publish(), "public, max-age=8"));
    let refresher = started(&f, &server, fast()).await;
    let next = refresher.health().lists[0].next_refresh;
    // Half of 8 s, less up to 20 %: not half of the 60 s ttl.
    assert!((NOW + 3..=NOW + 4).contains(&next), "{next}");
}

#[tokio::test]
async fn a_revocation_is_seen_after_the_next_refresh_without_a_request_path_fetch() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let [root, _, grandchild] = f.chain3();
    server.set(Reply::Body(f.publish()));
    let refresher = started(&f, &server, fast()).await;
    let verifier = f.verifier_using(Arc::new(refresher.clone()));
    verifier.verify_str(grandchild.bundle()).unwrap();

    f.clock.advance(1);
    f.allocator
        .set_status(root.claims().jti.as_str(), Status::Invalid)
        .unwrap();
    server.set(Reply::Body(f.publish()));
    // Still the list from before the revocation until the next refresh.
    verifier.verify_str(grandchild.bundle()).unwrap();

    let due = refresher.health().lists[0].next_refresh;
    f.clock.set(due);
    caught_up(&refresher, &f).await;
    assert_eq!(server.hits(), 2);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("revoked", 2));
}

#[tokio::test]
async fn a_list_about_to_expire_is_refreshed_before_it_does() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    // Lives 10 s: without a refresh it is unusable 10 s from now.
    let publish = || f.allocator.publish(&f.key, f.now(), 10, 10).unwrap();
    server.set(Reply::Body(publish()));
    let refresher = started(&f, &server, fast()).await;
    let verifier = f.verifier_using(Arc::new(refresher.clone()));

    for _ in 0..40 {
        f.clock.advance(1);
        server.set(Reply::Body(publish()));
        caught_up(&refresher, &f).await;
        verifier.verify_str(root.bundle()).unwrap();
        assert!(refresher.is_healthy(), "{:?}", refresher.health());
    }
    // Refreshed about every 4 to 5 s: neither once per second nor never.
    let fetches = server.hits() - 1;
    assert!((6..=14).contains(&fetches), "{fetches} fetches in 40 s");
}

#[tokio::test]
async fn an_outage_backs_off_is_reported_and_fails_closed_once_the_held_list_expires() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    server.set(Reply::Body(
        f.allocator.publish(&f.key, NOW, 30, 30).unwrap(),
    ));
    let refresher = started(&f, &server, fast()).await;
    let verifier = f.verifier_using(Arc::new(refresher.clone()));
    server.set(Reply::Status(503, ""));

    // The held list answers until it is no longer usable (30 s).
    for _ in 0..30 {
        f.clock.advance(1);
        caught_up(&refresher, &f).await;
        verifier.verify_str(root.bundle()).unwrap();
    }
    let health = refresher.health();
    let list = &health.lists[0];
    assert!(health.is_healthy(), "{health:?}");
    assert_eq!(list.last_success, Some(NOW));
    assert_eq!(list.last_error, Some("status_list_unreachable"));
    // First due at 12–15 s; then retried after 1, 2, 4, 8 s (less jitter):
    // a handful of attempts, not one per second.
    let attempts = server.hits() - 1;
    assert!((3..=8).contains(&attempts), "{attempts} attempts");
    assert_eq!(list.consecutive_failures as usize, attempts);

    // Past it: fail closed, and unhealthy.
    f.clock.advance(1);
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_list_unreachable"
    );
    assert!(!refresher.is_healthy());

    // The issuer comes back: the next attempt heals it.
    server.set(Reply::Body(f.publish()));
    let due = refresher.health().lists[0].next_refresh;
    f.clock.set(due.max(f.now()));
    caught_up(&refresher, &f).await;
    verifier.verify_str(root.bundle()).unwrap();
    let health = refresher.health();
    let list = &health.lists[0];
    assert_eq!((list.consecutive_failures, list.last_error), (0, None));
}

#[tokio::test]
async fn a_rolled_back_list_is_refused_and_the_held_one_kept() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    let before_revocation = f.publish();
    f.clock.advance(5);
    f.allocator
        .set_status(root.claims().jti.as_str(), Status::Invalid)
        .unwrap();
    server.set(Reply::Body(f.publish()));
    let refresher = started(&f, &server, fast()).await;
    let verifier = f.verifier_using(Arc::new(refresher.clone()));
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "revoked"
    );

    // The server (or someone on the path) serves the older, validly signed
    // list from before the revocation.
    server.set(Reply::Body(before_revocation));
    let due = refresher.health().lists[0].next_refresh;
    f.clock.set(due);
    caught_up(&refresher, &f).await;
    let health = refresher.health();
    let list = &health.lists[0];
    assert_eq!(list.last_error, Some("status_list_rolled_back"));
    assert_eq!(list.consecutive_failures, 1);
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "revoked"
    );
}

#[tokio::test]
async fn lists_loaded_for_requests_join_the_watched_set_within_the_bound() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    server.set(Reply::Body(f.publish()));
    let source = Arc::new(source(&f, &server.prefix()).max_lists(2));
    let refresher = StatusRefresher::start(source.clone(), fast())
        .await
        .unwrap();
    assert!(refresher.health().lists.is_empty());
    assert!(refresher.is_healthy(), "nothing watched");

    source.prefetch(&bundle(root.bundle())).await.unwrap();
    until("the prefetched list is watched", || {
        refresher.health().lists.len() == 1
    })
    .await;
    // …and refreshed from then on.
    let due = refresher.health().lists[0].next_refresh;
    f.clock.set(due);
    caught_up(&refresher, &f).await;
    assert_eq!(server.hits(), 2);
    assert_eq!(refresher.health().lists[0].last_success, Some(due));

    assert!(refresher.watch(LOOPBACK_ISS, format!("{}2", server.prefix())));
    assert!(
        !refresher.watch(LOOPBACK_ISS, format!("{}3", server.prefix())),
        "max_lists is 2"
    );
    assert_eq!(refresher.health().lists.len(), 2);
}

#[tokio::test]
async fn the_task_ends_when_the_last_handle_is_dropped() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    server.set(Reply::Body(f.publish()));
    let source = Arc::new(source(&f, &server.prefix()));
    let refresher =
        StatusRefresher::start(source.clone(), fast().watch(LOOPBACK_ISS, server.uri()))
            .await
            .unwrap();
    let other = refresher.clone();
    drop(refresher);

    // One handle left: still refreshing.
    f.clock.set(other.health().lists[0].next_refresh);
    caught_up(&other, &f).await;
    assert_eq!(server.hits(), 2);

    drop(other);
    until("the task lets go of the source", || {
        Arc::strong_count(&source) == 1
    })
    .await;
    f.clock.advance(3600);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.hits(), 2);
}

#[test]
fn start_outside_a_tokio_runtime_is_an_error() {
    let f = Fixture::new();
    let source = Arc::new(f.source());
    let mut start = std::pin::pin!(StatusRefresher::start(source, RefresherOptions::default()));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match start.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(e)) => {
            assert!(matches!(e, StatusError::NoRuntime));
            assert_eq!(e.code(), "no_tokio_runtime");
        }
        other => panic!("{:?}", other.map(|r| r.map(|_| ()))),
    }
}

/// The verification error of `bundle` (a missing list).
fn unavailable(verifier: &passport_verifier::Verifier, bundle: &str) -> VerifyError {
    let err = verifier.verify_str(bundle).unwrap_err();
    assert_eq!(err.code(), "status_unavailable", "{err}");
    err
}

#[tokio::test]
async fn a_refetch_loads_a_missing_list_and_then_verification_succeeds() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let [_, _, grandchild] = f.chain3();
    server.set(Reply::Body(f.publish()));
    let source = Arc::new(source(&f, &server.prefix()));
    let refresher = StatusRefresher::start(source, fast()).await.unwrap();
    let status: Arc<dyn StatusSource> = Arc::new(refresher.clone());
    let refetch: Arc<dyn Refetch> = Arc::new(refresher.clone());
    let verifier = f.verifier_using(status);

    let text = bundle(grandchild.bundle());
    let err = unavailable(&verifier, grandchild.bundle());
    refetch.refetch(&text, &err).unwrap().await;
    assert_eq!(server.hits(), 1);
    verifier.verify_str(grandchild.bundle()).unwrap();
    assert_eq!(refresher.health().lists.len(), 1, "and it is watched now");

    // Another failure than a missing list: nothing to fetch.
    let revoked = VerifyError::Revoked { jti: "x".into() };
    assert!(refetch.refetch(&text, &revoked).is_none());
}

#[tokio::test]
async fn refetches_are_bounded_per_list_and_overall_by_a_cooldown() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    server.set(Reply::Status(503, ""));
    let source_with = |cooldown| {
        let source = source(&f, &server.prefix()).retry_after(Duration::ZERO);
        (Arc::new(source), fast().refetch_cooldown(cooldown))
    };
    let (source, options) = source_with(Duration::from_secs(60));
    let refresher = StatusRefresher::start(source, options).await.unwrap();
    let verifier = f.verifier_using(Arc::new(refresher.clone()));
    let root = f.root(ROOT_SCOPES);
    let text = bundle(root.bundle());
    let err = unavailable(&verifier, root.bundle());

    // A stream of requests naming one unreachable list: one fetch.
    refresher.refetch(&text, &err).unwrap().await;
    for _ in 0..20 {
        assert!(refresher.refetch(&text, &err).is_none());
    }
    assert_eq!(server.hits(), 1);

    // Passports naming ever new lists under the trusted base: at most
    // MAX_REFETCHES_PER_COOLDOWN fetches in all.
    let mut triggered = 1;
    for i in 0..20 {
        let mut claims = root.claims().clone();
        claims.status = Some(
            passport_claims::StatusReference::new(1, format!("{}{}", server.prefix(), i + 10))
                .unwrap(),
        );
        let token = f.sign_passport(&claims);
        let err = unavailable(&verifier, &token);
        if let Some(fetch) = refresher.refetch(&bundle(&token), &err) {
            fetch.await;
            triggered += 1;
        }
    }
    assert_eq!(triggered, passport_status::MAX_REFETCHES_PER_COOLDOWN);
    assert_eq!(server.hits(), passport_status::MAX_REFETCHES_PER_COOLDOWN);

    // Once the cooldown has passed, a request may trigger a fetch again.
    let (source, options) = source_with(Duration::from_millis(300));
    let short = StatusRefresher::start(source, options).await.unwrap();
    let before = server.hits();
    let first = short.refetch(&text, &err).unwrap();
    // A request meanwhile waits for the fetch under way (on this
    // current-thread runtime it has not run yet): no second fetch.
    let joined = short.refetch(&text, &err).unwrap();
    first.await;
    joined.await;
    assert!(short.refetch(&text, &err).is_none());
    tokio::time::sleep(Duration::from_millis(400)).await;
    short.refetch(&text, &err).unwrap().await;
    assert_eq!(server.hits(), before + 2);
}

/// A list the source holds when the refresher starts is watched too.
#[tokio::test]
async fn lists_held_at_start_are_watched() {
    let f = Fixture::new();
    let source: Arc<StatusListSource> = Arc::new(f.source());
    source.add_token(&f.publish()).unwrap();
    let refresher = StatusRefresher::start(source, fast()).await.unwrap();
    let health = refresher.health();
    assert_eq!(health.lists.len(), 1);
    assert_eq!(health.lists[0].uri, URI);
    assert!(health.is_healthy());
}

/// Records which metrics were emitted, with their labels.
#[derive(Default)]
struct Emitted(std::sync::Mutex<Vec<String>>);

impl Emitted {
    fn note(&self, key: &metrics::Key) {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        self.0
            .lock()
            .unwrap()
            .push(format!("{}{{{}}}", key.name(), labels.join(",")));
    }

    fn count(&self, line: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|l| *l == line).count()
    }
}

impl metrics::Recorder for Emitted {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.note(key);
        metrics::Counter::noop()
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.note(key);
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.note(key);
        metrics::Histogram::noop()
    }
}

#[test]
fn fetches_are_timed_and_failures_counted_by_issuer() {
    let emitted = Emitted::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&emitted, || {
        runtime.block_on(async {
            let server = Server::start().await;
            let f = Fixture::served(&server.uri());
            server.set(Reply::Body(f.publish()));
            let source = source(&f, &server.prefix()).retry_after(Duration::ZERO);
            source
                .ensure_fresh(LOOPBACK_ISS, &server.uri())
                .await
                .unwrap();
            server.set(Reply::Status(503, ""));
            f.clock.advance(61);
            source
                .ensure_fresh(LOOPBACK_ISS, &server.uri())
                .await
                .unwrap_err();
        });
    });
    let label = format!("issuer={LOOPBACK_ISS}");
    assert_eq!(
        emitted.count(&format!("passport_status_fetch_seconds{{{label}}}")),
        2
    );
    assert_eq!(
        emitted.count(&format!("passport_status_fetch_failures_total{{{label}}}")),
        1
    );
}

/// Review finding 6: the source's cache evicted the oldest list, watched or
/// not, when lists loaded later filled it. Lists a request had fetched
/// (`prefetch` and `Refetch` follow the URIs forged bundles name, under a
/// trusted base) push out a list the refresher was told to watch: it is
/// no longer held, passports naming it are refused `status_unavailable`
/// until its next scheduled refresh, and health turns red. `add_token`
/// stands in here for those request-path fetches of other genuine lists.
/// Now a watched list is never evicted; a list that only joined the watched
/// set (loaded for a request) still makes room for the next.
#[tokio::test]
async fn lists_loaded_later_never_evict_a_watched_list() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    server.set(Reply::Body(f.publish()));
    let source = Arc::new(source(&f, &server.prefix()).max_lists(2));
    let refresher =
        StatusRefresher::start(source.clone(), fast().watch(LOOPBACK_ISS, server.uri()))
            .await
            .unwrap();
    for n in [2, 3] {
        f.clock.advance(1);
        let uri = format!("{}{n}", server.prefix());
        let list = passport_status::StatusList::with_capacity(1, 16).unwrap();
        let token = f.sign_list(&uri, &list, f.now(), f.now() + 3600, 300);
        source.add_token(&token).unwrap();
    }
    let joined = format!("{}2", server.prefix());
    assert!(
        source.cached(LOOPBACK_ISS, &joined).is_none(),
        "a request-loaded list is evicted"
    );
    assert!(
        source
            .cached(LOOPBACK_ISS, &format!("{}3", server.prefix()))
            .is_some()
    );
    assert!(source.cached(LOOPBACK_ISS, &server.uri()).is_some());
    assert!(refresher.is_healthy(), "{:?}", refresher.health());
    let verifier = f.verifier_using(Arc::new(refresher.clone()));
    verifier.verify_str(root.bundle()).unwrap();
}

/// Finding 2: a list that a verified passport names but that cannot be
/// loaded (the issuer's status endpoint is down) makes every such request
/// fail closed (503), yet the refresher (and `Trust::is_healthy` of
/// `PassportAuth::trusting`) reported healthy: the list was never watched.
/// The list of the link that failed (its signature verified) is watched
/// from then on, so health reports it and the background retries it.
#[tokio::test]
async fn a_list_a_verified_passport_names_that_cannot_be_loaded_is_unhealthy() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    server.set(Reply::Status(503, ""));
    let source = Arc::new(source(&f, &server.prefix()));
    let refresher = StatusRefresher::start(source, fast()).await.unwrap();
    let refetch: Arc<dyn Refetch> = Arc::new(refresher.clone());
    let verifier = f.verifier_using(Arc::new(refresher.clone()));

    let text = bundle(root.bundle());
    let err = unavailable(&verifier, root.bundle());
    refetch.refetch(&text, &err).unwrap().await;
    assert_eq!(
        unavailable(&verifier, root.bundle()).code(),
        "status_unavailable"
    );
    assert!(
        !refresher.is_healthy(),
        "every request is refused for want of this list: {:?}",
        refresher.health()
    );
    // The background retries it; once the issuer is back, healthy again.
    server.set(Reply::Body(f.publish()));
    f.clock.advance(60);
    until("the list is loaded in the background", || {
        refresher.is_healthy()
    })
    .await;
    verifier.verify_str(root.bundle()).unwrap();
}
