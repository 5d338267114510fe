//! The `jti` replay cache (RFC 9449 §4.3 item 12, §11.1).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use passport_claims::Clock;
use passport_jose::sha256;

use crate::DpopError;

/// Default capacity of [`InMemoryReplayCache`].
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Default share of one proof key in an [`InMemoryReplayCache`]: how many
/// live entries one key (`jkt`) may hold. With the default 60-second window
/// that is about 33 proofs per second, sustained, per key; filling the
/// default cache takes 50 keys, each with its own bound passport.
pub const DEFAULT_REPLAY_KEY_SHARE: usize = 2_000;

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
    /// A store that gives each key a bounded share answers a key over its
    /// share with [`DpopError::ReplayQuotaExceeded`].
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
/// **Per-key share.** One key may hold at most its share of live entries
/// ([`DEFAULT_REPLAY_KEY_SHARE`], or [`InMemoryReplayCache::with_key_share`]).
/// A key over its share is refused with [`DpopError::ReplayQuotaExceeded`]
/// (HTTP 429 with `Retry-After`), and only that key: one agent flooding the
/// server with fresh proofs can no longer fill the cache and deny DPoP to
/// every other agent. Memory stays bounded by the capacity: the per-key
/// counters live only while their key has live entries, so there are never
/// more counters than entries.
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
///
/// // A key over its share is refused; the others are not.
/// let cache = InMemoryReplayCache::new(100, clock.clone()).with_key_share(1);
/// assert!(cache.check_and_insert("flood", "1", 1_181)?);
/// let err = cache.check_and_insert("flood", "2", 1_181).unwrap_err();
/// assert_eq!(err.code(), "replay_quota_exceeded");
/// assert!(cache.check_and_insert("calm", "1", 1_181)?);
/// # Ok::<(), passport_dpop::DpopError>(())
/// ```
pub struct InMemoryReplayCache {
    capacity: usize,
    key_share: usize,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Entry (SHA-256 of the pair) → its expiry and its key's digest.
    expiry: HashMap<[u8; 32], (i64, [u8; 32])>,
    /// The entries by expiry, soonest first. A heap rather than an ordered
    /// set: expiries arrive almost in order (`iat` plus a fixed window), so
    /// an insert is one comparison and no allocation.
    by_time: BinaryHeap<Reverse<(i64, [u8; 32])>>,
    /// Key digest (SHA-256 of the `jkt`) → its live entries; a key is here
    /// only while it has at least one.
    per_key: HashMap<[u8; 32], KeyShare>,
}

/// One key's use of the cache.
struct KeyShare {
    live: usize,
    /// The latest expiry among its entries: by then its share is free again.
    last_expiry: i64,
}

impl State {
    /// Drops every entry with `expires_at < now`.
    fn purge(&mut self, now: i64) {
        while let Some(&Reverse((at, key))) = self.by_time.peek() {
            if at >= now {
                break;
            }
            self.by_time.pop();
            if let Some((_, owner)) = self.expiry.remove(&key)
                && let Some(share) = self.per_key.get_mut(&owner)
            {
                share.live = share.live.saturating_sub(1);
                if share.live == 0 {
                    self.per_key.remove(&owner);
                }
            }
        }
    }
}

impl InMemoryReplayCache {
    /// A cache holding at most `capacity` live entries (at least 1), of
    /// which one key may hold [`DEFAULT_REPLAY_KEY_SHARE`] (or the whole
    /// capacity, when that is smaller).
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> InMemoryReplayCache {
        let capacity = capacity.max(1);
        InMemoryReplayCache {
            capacity,
            key_share: DEFAULT_REPLAY_KEY_SHARE.min(capacity),
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// Lets one key hold at most `share` live entries (at least 1, at most
    /// the capacity; the capacity itself turns the per-key share off).
    #[must_use]
    pub fn with_key_share(mut self, share: usize) -> InMemoryReplayCache {
        self.key_share = share.clamp(1, self.capacity);
        self
    }

    /// How many live entries one key may hold.
    pub fn key_share(&self) -> usize {
        self.key_share
    }

    /// How many keys have entries (expired ones included until purged).
    pub fn keys(&self) -> usize {
        self.lock().per_key.len()
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
        let owner = sha256(jkt.as_bytes());
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
        // The flooding key is refused before the cache as a whole is full,
        // so the others keep their room.
        if self.key_share < self.capacity
            && let Some(share) = state.per_key.get(&owner)
            && share.live >= self.key_share
        {
            // Entries are live through their expiry second.
            let wait = share.last_expiry.saturating_sub(now).saturating_add(1);
            return Err(DpopError::ReplayQuotaExceeded {
                retry_after: u64::try_from(wait).unwrap_or(1).max(1),
            });
        }
        if state.expiry.len() >= self.capacity {
            return Err(DpopError::ReplayCacheFull);
        }
        state.expiry.insert(key, (expires_at, owner));
        state.by_time.push(Reverse((expires_at, key)));
        let share = state.per_key.entry(owner).or_insert(KeyShare {
            live: 0,
            last_expiry: expires_at,
        });
        share.live += 1;
        share.last_expiry = share.last_expiry.max(expires_at);
        Ok(true)
    }
}

impl fmt::Debug for InMemoryReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryReplayCache")
            .field("capacity", &self.capacity)
            .field("key_share", &self.key_share)
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
    fn a_flooding_key_is_refused_alone_and_memory_stays_bounded() {
        let clock = Arc::new(ManualClock::new(0));
        let cache = InMemoryReplayCache::new(10, clock.clone()).with_key_share(4);
        for i in 0..4 {
            assert!(cache.check_and_insert("flood", &i.to_string(), 60).unwrap());
        }
        for i in 4..1_000 {
            assert_eq!(
                cache.check_and_insert("flood", &i.to_string(), 60),
                Err(DpopError::ReplayQuotaExceeded { retry_after: 61 })
            );
        }
        // Replays of the flooder are still replays, not quota refusals.
        assert!(!cache.check_and_insert("flood", "0", 60).unwrap());
        // Other keys keep the rest of the cache.
        for i in 0..6 {
            assert!(cache.check_and_insert(&format!("k{i}"), "j", 60).unwrap());
        }
        assert_eq!(cache.len(), 10);
        assert_eq!(cache.keys(), 7);
        // Full: the cache as a whole fails closed.
        assert_eq!(
            cache.check_and_insert("late", "j", 60),
            Err(DpopError::ReplayCacheFull)
        );
        // Expiry frees the key's share and drops its counter.
        clock.set(61);
        assert!(cache.check_and_insert("flood", "new", 121).unwrap());
        assert_eq!((cache.len(), cache.keys()), (1, 1));
    }

    #[test]
    fn retry_after_is_when_the_share_is_free_again() {
        let clock = Arc::new(ManualClock::new(100));
        let cache = InMemoryReplayCache::new(10, clock.clone()).with_key_share(2);
        assert!(cache.check_and_insert("k", "a", 170).unwrap());
        assert!(cache.check_and_insert("k", "b", 160).unwrap());
        clock.set(150);
        // Both live through 170: the share is free again at 171.
        assert_eq!(
            cache.check_and_insert("k", "c", 210),
            Err(DpopError::ReplayQuotaExceeded { retry_after: 21 })
        );
        assert_eq!(cache.key_share(), 2);
        assert_eq!(
            InMemoryReplayCache::new(3, clock)
                .with_key_share(0)
                .key_share(),
            1
        );
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
