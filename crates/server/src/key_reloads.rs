//! The reloads of the signing keys, one at a time.
//!
//! Another instance on the database may promote a key at any moment, so a
//! passport whose `kid` this instance does not know may be its own. A
//! caller that must tell (`/revoke`, `/introspect`, the token exchange)
//! takes the outcome of a reload that *began after it asked*: a reload
//! already running, or one that just finished, may have read the keys
//! before the promotion, and its answer would make `/revoke` answer 200
//! having revoked nothing (RFC 7009 §2.2.1). It waits for the running
//! reload, then runs the next one — or takes the outcome of the next one
//! another waiter ran: the callers that queue while one reload runs share
//! the next, so one reload at a time reads and replaces the keys, whatever
//! the number of callers. A read given up at its limit
//! ([`FORCED_READ_LIMIT`]) frees the turn, and may still run in the
//! database (SQLite's blocking thread) while the next begins; its result
//! is dropped.
//!
//! Forced reloads also begin at least [`FORCED_RELOAD_SPACING`] apart (the
//! bound of before: tokens with made-up `kid`s cannot turn each request
//! into a database read), but the caller *waits* for its turn rather than
//! being answered from an older read. The periodic reload never waits: it
//! skips while another runs.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The least time between the starts of two reloads forced by unknown
/// `kid`s (monotonic time, not the server's clock).
pub(crate) const FORCED_RELOAD_SPACING: Duration = Duration::from_secs(1);

/// The longest a forced reload may read: past it, the read counts as
/// failed (503 `temporarily_unavailable`), well before the request's own
/// deadline (30 s) would answer 408.
pub(crate) const FORCED_READ_LIMIT: Duration = Duration::from_secs(5);

/// The instance's key reloads: numbered, one at a time, the newest
/// outcome kept for the callers that queued behind it.
#[derive(Debug, Default)]
pub(crate) struct KeyReloads {
    /// Reloads begun so far; a reload's number is this count once begun.
    begun: AtomicU64,
    /// The newest finished reload: its number and whether it succeeded.
    finished: Arc<Mutex<(u64, bool)>>,
    /// Held while a reload runs, and while a forced one waits for its
    /// turn; it keeps when the last forced one began.
    running: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl KeyReloads {
    /// Whether a reload begun after this call read the keys (`false`: it
    /// failed or took longer than `limit`, the keys in memory may lack one
    /// the database has). Runs `reload` (`true`: read) itself, at least
    /// `spacing` after the last forced reload began, unless another
    /// waiter's began after this call meanwhile.
    ///
    /// The read runs in a task of its own, which holds the turn until it
    /// ends and records its outcome: a caller that goes away meanwhile
    /// (its client gone, its deadline passed) neither frees the turn early
    /// nor leaves the callers queued behind it without the outcome (they
    /// would wait the spacing again and read once more).
    pub(crate) async fn current(
        &self,
        spacing: Duration,
        limit: Duration,
        reload: impl Future<Output = bool> + Send + 'static,
    ) -> bool {
        let arrived = self.begun.load(Ordering::SeqCst);
        // A turn held past the limit (a hung periodic read, a rotation's)
        // is a failure too: 503, not the request deadline's 408.
        let turn = tokio::time::timeout(limit, Arc::clone(&self.running).lock_owned()).await;
        let Ok(mut turn) = turn else {
            tracing::warn!(?limit, "no turn to read the signing keys in time");
            return false;
        };
        if let Some(succeeded) = self.finished_after(arrived) {
            return succeeded;
        }
        if let Some(at) = turn.and_then(|last| last.checked_add(spacing)) {
            tokio::time::sleep_until(at).await;
        }
        *turn = Some(Instant::now());
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let finished = Arc::clone(&self.finished);
        let read = tokio::spawn(async move {
            let _turn = turn;
            let succeeded = within(limit, reload).await;
            record(&finished, number, succeeded);
            succeeded
        });
        // A read that panicked read nothing.
        read.await.unwrap_or(false)
    }

    /// Runs `reload` (`true`: read) if no reload is running and `due()`
    /// (asked once the turn is taken), failed after `limit`; at once
    /// otherwise. Whether a reload ran and read.
    pub(crate) async fn unless_running(
        &self,
        due: impl FnOnce() -> bool,
        limit: Duration,
        reload: impl Future<Output = bool>,
    ) -> bool {
        let Ok(_running) = self.running.try_lock() else {
            return false;
        };
        if !due() {
            return false;
        }
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let succeeded = within(limit, reload).await;
        record(&self.finished, number, succeeded);
        succeeded
    }

    /// Runs `reload` after the running one, whatever the spacing (a
    /// rotation on this instance, which an operator waits for).
    pub(crate) async fn in_turn<E>(
        &self,
        reload: impl Future<Output = Result<(), E>>,
    ) -> Result<(), E> {
        let _running = self.running.lock().await;
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let outcome = reload.await;
        record(&self.finished, number, outcome.is_ok());
        outcome
    }

    /// The outcome of the newest finished reload if it began after
    /// `arrived` reloads had.
    fn finished_after(&self, arrived: u64) -> Option<bool> {
        let (number, succeeded) = *self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        (number > arrived).then_some(succeeded)
    }
}

/// Whether `reload` read the keys within `limit`.
async fn within(limit: Duration, reload: impl Future<Output = bool>) -> bool {
    match tokio::time::timeout(limit, reload).await {
        Ok(succeeded) => succeeded,
        Err(_) => {
            tracing::warn!(?limit, "the signing keys could not be read in time");
            false
        }
    }
}

/// Records that reload `number` ended (`succeeded` or not), unless a
/// newer one already did.
fn record(finished: &Mutex<(u64, bool)>, number: u64, succeeded: bool) {
    let mut finished = finished.lock().unwrap_or_else(PoisonError::into_inner);
    if number > finished.0 {
        *finished = (number, succeeded);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::{FORCED_READ_LIMIT, KeyReloads};

    /// Polls `future` once: it has asked, and has not been answered.
    async fn asks<F: std::future::Future + Unpin>(future: &mut F) {
        tokio::select! {
            biased;
            _ = future => panic!("answered while a reload that began before it ran"),
            () = std::future::ready(()) => {}
        }
    }

    /// A forced reload that counts itself in `runs` and ends with
    /// `succeeded`.
    fn counted(
        runs: &Arc<AtomicUsize>,
        succeeded: bool,
    ) -> impl Future<Output = bool> + Send + 'static {
        let runs = Arc::clone(runs);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            succeeded
        }
    }

    /// A reload held mid-read: `started` fires when it begins; it ends
    /// with its outcome when `release` is sent (or dropped).
    struct Held {
        started: oneshot::Receiver<()>,
        release: oneshot::Sender<()>,
    }

    fn held<T: Send + 'static>(outcome: T) -> (Held, impl Future<Output = T> + Send + 'static) {
        let (begins, started) = oneshot::channel();
        let (release, released) = oneshot::channel::<()>();
        let reload = async move {
            begins.send(()).unwrap();
            let _ = released.await;
            outcome
        };
        (Held { started, release }, reload)
    }

    /// A forced reload that succeeds, spawned and held mid-read.
    fn spawn_held_current(reloads: &Arc<KeyReloads>) -> (Held, tokio::task::JoinHandle<bool>) {
        let (held, reload) = held(true);
        let reloads = Arc::clone(reloads);
        let task = tokio::spawn(async move { current(&reloads, Duration::ZERO, reload).await });
        (held, task)
    }

    /// A rotation's reload, spawned and held mid-read.
    fn spawn_held_rotation(
        reloads: &Arc<KeyReloads>,
    ) -> (Held, tokio::task::JoinHandle<Result<(), ()>>) {
        let (held, reload) = held(Ok(()));
        let reloads = Arc::clone(reloads);
        (
            held,
            tokio::spawn(async move { reloads.in_turn(reload).await }),
        )
    }

    /// [`KeyReloads::current`] at `spacing`, with the production limit.
    async fn current(
        reloads: &KeyReloads,
        spacing: Duration,
        reload: impl Future<Output = bool> + Send + 'static,
    ) -> bool {
        reloads.current(spacing, FORCED_READ_LIMIT, reload).await
    }

    /// A reload begun before a caller asked (it may have read the keys
    /// before another instance promoted one) does not answer it: the
    /// caller waits, then runs its own, whose failure is its answer.
    #[tokio::test]
    async fn a_reload_begun_before_the_caller_asked_does_not_answer_it() {
        let reloads = Arc::new(KeyReloads::default());
        let (held, first) = spawn_held_current(&reloads);
        held.started.await.unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let mut second = Box::pin(current(&reloads, Duration::ZERO, counted(&runs, false)));
        asks(&mut second).await;
        held.release.send(()).unwrap();
        assert!(first.await.unwrap());
        // the first reload succeeded, but began too early: the second
        // caller's own read failed, so the keys may not be current
        assert!(!second.await);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// The callers that queue while a reload runs share the next one: one
    /// read for all, each answered by its outcome.
    #[tokio::test]
    async fn callers_queued_behind_a_reload_share_the_next_one() {
        let reloads = Arc::new(KeyReloads::default());
        let (held, first) = spawn_held_current(&reloads);
        held.started.await.unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let mut callers: Vec<_> = (0..3)
            .map(|_| Box::pin(current(&reloads, Duration::ZERO, counted(&runs, false))))
            .collect();
        for caller in &mut callers {
            asks(caller).await;
        }
        held.release.send(()).unwrap();
        assert!(first.await.unwrap());
        for caller in callers {
            assert!(!caller.await, "a failed read answered as current");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // a caller arriving after that read runs one more
        assert!(current(&reloads, Duration::ZERO, counted(&runs, true)).await);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    /// Forced reloads begin at least the spacing apart: the caller waits
    /// for its turn, then reads.
    #[tokio::test]
    async fn forced_reloads_begin_the_spacing_apart() {
        let reloads = KeyReloads::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let spacing = Duration::from_millis(200);
        let start = tokio::time::Instant::now();
        assert!(current(&reloads, spacing, counted(&runs, true)).await);
        assert!(current(&reloads, spacing, counted(&runs, true)).await);
        assert!(start.elapsed() >= spacing);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    /// The periodic reload never waits: while another runs it skips, and
    /// it reads only when still due once its turn is taken.
    #[tokio::test]
    async fn the_periodic_reload_skips_while_another_runs() {
        let reloads = Arc::new(KeyReloads::default());
        let (held, first) = spawn_held_rotation(&reloads);
        held.started.await.unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let limit = FORCED_READ_LIMIT;
        let skipped = reloads
            .unless_running(|| true, limit, counted(&runs, true))
            .await;
        assert!(!skipped);
        held.release.send(()).unwrap();
        first.await.unwrap().unwrap();
        let not_due = reloads
            .unless_running(|| false, limit, counted(&runs, true))
            .await;
        assert!(!not_due);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        let due = reloads
            .unless_running(|| true, limit, counted(&runs, true))
            .await;
        assert!(due);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// A caller that goes away while its read runs (its client gone, its
    /// deadline) leaves the read to finish and answer the callers queued
    /// behind it, who began waiting before it began (session 12's review
    /// of the key reloads, finding 1: they waited the spacing again and
    /// read once more).
    #[tokio::test]
    async fn a_read_outlives_the_caller_that_began_it() {
        let reloads = Arc::new(KeyReloads::default());
        // a rotation's reload holds the turn
        let (rotation_held, rotation) = spawn_held_rotation(&reloads);
        rotation_held.started.await.unwrap();
        // `gone` queues first, then `stays`
        let (read, gone) = spawn_held_current(&reloads);
        tokio::task::yield_now().await;
        let runs = Arc::new(AtomicUsize::new(0));
        let mut stays = Box::pin(current(&reloads, Duration::ZERO, counted(&runs, false)));
        asks(&mut stays).await;
        rotation_held.release.send(()).unwrap();
        rotation.await.unwrap().unwrap();
        // `gone` began its read, then went away
        read.started.await.unwrap();
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        asks(&mut stays).await;
        let _ = read.release.send(());
        // `stays` is answered by that read, and reads nothing itself
        assert!(stays.await);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }

    /// A read that does not end within the limit is a failure (503), not
    /// a wait until the request's deadline (408).
    #[tokio::test]
    async fn a_read_that_hangs_fails_at_the_limit() {
        let reloads = KeyReloads::default();
        let limit = Duration::from_millis(50);
        let hung = reloads.current(Duration::ZERO, limit, std::future::pending::<bool>());
        assert!(!hung.await);
        // the turn is free again, and the next caller reads
        let runs = Arc::new(AtomicUsize::new(0));
        assert!(
            reloads
                .current(Duration::ZERO, limit, counted(&runs, true))
                .await
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// A turn held past the limit — a rotation's read, or a periodic one,
    /// hung on the database — fails an unknown-kid caller at the limit
    /// (503), not at the request's deadline (408); and a hung periodic
    /// read gives up at its own limit (session 12's second review, LOW-1).
    #[tokio::test]
    async fn a_turn_held_past_the_limit_is_a_failure() {
        let reloads = Arc::new(KeyReloads::default());
        let limit = Duration::from_millis(50);
        let (rotation_held, rotation) = spawn_held_rotation(&reloads);
        rotation_held.started.await.unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        assert!(
            !reloads
                .current(Duration::ZERO, limit, counted(&runs, true))
                .await
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        rotation_held.release.send(()).unwrap();
        rotation.await.unwrap().unwrap();
        let hung = reloads.unless_running(|| true, limit, std::future::pending::<bool>());
        assert!(!hung.await);
        assert!(
            reloads
                .current(Duration::ZERO, limit, counted(&runs, true))
                .await
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
