//! The `jti` replay cache (RFC 9449 §4.3 item 12, §11.1).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use passport_claims::Clock;
use passport_jose::sha256;

use crate::DpopError;

/// Default capacity of [`InMemoryReplayCache`].
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Remembers which (key thumbprint, `jti`) pairs have been used.
///
/// Pluggable so a cluster can share one store (Redis `SET NX EX`, a database
/// unique key, …). Implementations must be atomic: of two concurrent calls
/// with the same pair, at most one returns `Ok(true)`.
pub trait ReplayCache: Send + Sync {
    /// Records (`jkt`, `jti`) until `expires_at` (seconds since the epoch;
    /// the entry is live while `now <= expires_at`). Returns `Ok(true)` when
    /// the pair was not live (the proof is fresh), `Ok(false)` when it was (a
    /// replay). A store that cannot answer must return an error, never `true`.
    fn check_and_insert(&self, jkt: &str, jti: &str, expires_at: i64) -> Result<bool, DpopError>;
}

/// A process-local [`ReplayCache`], bounded in size and in time.
///
/// Entries are keyed by SHA-256 of the pair, so each costs the same few dozen
/// bytes however long the `jti`. Expired entries are dropped as time passes;
/// when the cache is full of unexpired entries a new pair is refused with
/// [`DpopError::ReplayCacheFull`] rather than an unexpired entry forgotten
/// (forgetting would let that proof be replayed).
///
/// ```
/// use std::sync::Arc;
/// use passport_claims::ManualClock;
/// use passport_dpop::{InMemoryReplayCache, ReplayCache};
///
/// let clock = Arc::new(ManualClock::new(1_000));
/// let cache = InMemoryReplayCache::new(2, clock.clone());
/// assert!(cache.check_and_insert("jkt", "a", 1_060)?);
/// assert!(!cache.check_and_insert("jkt", "a", 1_060)?); // replay
/// assert!(cache.check_and_insert("other-jkt", "a", 1_060)?); // other key: fine
/// assert_eq!(cache.check_and_insert("jkt", "b", 1_060).unwrap_err().code(), "replay_cache_full");
/// clock.advance(61); // both entries expire
/// assert!(cache.check_and_insert("jkt", "b", 1_121)?);
/// # Ok::<(), passport_dpop::DpopError>(())
/// ```
pub struct InMemoryReplayCache {
    capacity: usize,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    expiry: HashMap<[u8; 32], i64>,
    by_time: BTreeSet<(i64, [u8; 32])>,
}

impl State {
    /// Drops every entry with `expires_at < now`.
    fn purge(&mut self, now: i64) {
        while let Some(&(at, key)) = self.by_time.first() {
            if at >= now {
                break;
            }
            self.by_time.pop_first();
            self.expiry.remove(&key);
        }
    }
}

impl InMemoryReplayCache {
    /// A cache holding at most `capacity` live entries (at least 1).
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> InMemoryReplayCache {
        InMemoryReplayCache {
            capacity: capacity.max(1),
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// How many entries are held (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.lock().expiry.len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent after every statement that can panic
        // (none can), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ReplayCache for InMemoryReplayCache {
    fn check_and_insert(&self, jkt: &str, jti: &str, expires_at: i64) -> Result<bool, DpopError> {
        let key = entry_key(jkt, jti);
        let now = self.clock.now();
        let mut state = self.lock();
        state.purge(now);
        if state.expiry.contains_key(&key) {
            return Ok(false);
        }
        if expires_at < now {
            // Already expired: nothing to remember, and nothing to refuse
            // (the verifier's `iat` window refuses such proofs first).
            return Ok(true);
        }
        if state.expiry.len() >= self.capacity {
            return Err(DpopError::ReplayCacheFull);
        }
        state.expiry.insert(key, expires_at);
        state.by_time.insert((expires_at, key));
        Ok(true)
    }
}

impl fmt::Debug for InMemoryReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryReplayCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

/// SHA-256 of the length-prefixed pair, so no two pairs share a key.
fn entry_key(jkt: &str, jti: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(8 + jkt.len() + jti.len());
    input.extend_from_slice(&(jkt.len() as u64).to_be_bytes());
    input.extend_from_slice(jkt.as_bytes());
    input.extend_from_slice(jti.as_bytes());
    sha256(&input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use passport_claims::ManualClock;

    #[test]
    fn pair_boundaries_do_not_collide() {
        assert_ne!(entry_key("ab", "c"), entry_key("a", "bc"));
    }

    #[test]
    fn entry_lives_through_its_expiry_second() {
        let clock = Arc::new(ManualClock::new(100));
        let cache = InMemoryReplayCache::new(10, clock.clone());
        assert!(cache.check_and_insert("k", "j", 160).unwrap());
        clock.set(160);
        assert!(!cache.check_and_insert("k", "j", 220).unwrap());
        clock.set(161);
        assert!(cache.check_and_insert("k", "j", 221).unwrap());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn capacity_is_enforced_and_expired_entries_make_room() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = InMemoryReplayCache::new(3, clock.clone());
        assert!(cache.check_and_insert("k", "1", 10).unwrap());
        assert!(cache.check_and_insert("k", "2", 20).unwrap());
        assert!(cache.check_and_insert("k", "3", 30).unwrap());
        let err = cache.check_and_insert("k", "4", 40).unwrap_err();
        assert_eq!(err, DpopError::ReplayCacheFull);
        // Still refuses replays while full.
        assert!(!cache.check_and_insert("k", "2", 20).unwrap());
        clock.set(11); // "1" expires: room for one
        assert!(cache.check_and_insert("k", "4", 40).unwrap());
        assert_eq!(
            cache.check_and_insert("k", "5", 50).unwrap_err().code(),
            "replay_cache_full"
        );
        // The unexpired entries were not forgotten.
        assert!(!cache.check_and_insert("k", "3", 30).unwrap());
        clock.set(1_000);
        assert!(cache.check_and_insert("k", "5", 1_050).unwrap());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn concurrent_inserts_of_one_pair_admit_one() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = Arc::new(InMemoryReplayCache::new(100, clock));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                std::thread::spawn(move || cache.check_and_insert("k", "same", 60).unwrap())
            })
            .collect();
        let fresh = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|f| *f)
            .count();
        assert_eq!(fresh, 1);
    }
}
