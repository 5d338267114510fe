//! A bounded cache of signature results, for leaves and ancestors alike.
//!
//! An agent calls a server again and again with the same bundle, and every
//! bundle of an agent shares its chain prefix; caching what was learnt from a
//! token's signature (its header and decoded claims) under its exact bytes
//! makes a repeated token cost a lookup and a comparison. An entry also
//! keeps the token's SHA-256 once computed (what a child's `parent_hash`
//! must equal), so a cached ancestor is not hashed again either. Only the signature check
//! and the decoding are cached: issuer, key, time, chain, status and policy
//! rules are re-checked on every use, and an entry is only used while the key
//! store still returns the very key object that verified it — a key removed
//! or replaced takes its entries with it.
//!
//! Admission and eviction are segmented, so a stream of tokens seen once
//! (new leaves, or a flood of them) never pushes out the tokens that are
//! used again (the ancestors every request shares, the bundles agents
//! repeat):
//!
//! - a leaf verified for the first time is not kept: it leaves a *ghost*
//!   (its slot number, 8 bytes). Most leaves are new on every request (an
//!   agent mints one per call), and keeping them costs the request a copy
//!   and, later, an eviction, for nothing;
//! - a new ancestor enters a small *probation* queue ([`PROBATION_MAX`]
//!   entries at most); when it reaches the front, it moves to the *main*
//!   queue if it was used meanwhile, and is dropped otherwise, leaving a
//!   ghost;
//! - a token whose ghost is still remembered when it is verified again
//!   (a leaf presented again, or a token used twice but too far apart for
//!   probation) enters the main queue at once;
//! - the main queue evicts second-chance FIFO: an entry used since it last
//!   reached the front goes round once more.
//!
//! Besides scan resistance, this keeps the request path cheap: a leaf seen
//! once costs a ghost's 8 bytes, and the entry a new ancestor evicts was
//! itself inserted a few dozen tokens earlier, so freeing it touches memory
//! still in the CPU's cache.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use passport_claims::{ClaimsError, PassportClaims, UnverifiedBundle};
use passport_jose::{Header, VerifyingKey, sha256};

/// The default number of tokens (leaves and ancestors) remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// The most entries on probation (see the module documentation): enough
/// for a token to be used again while a few dozen others arrive, few enough
/// that the one it evicts is still in the CPU's cache.
pub(crate) const PROBATION_MAX: usize = 64;

/// The most places in the ghost table: `capacity` is a bound on entries,
/// not an allocation, so a huge one (a caller's "no practical limit") must
/// neither panic nor reserve 8 bytes per place up front.
pub(crate) const MAX_GHOSTS: usize = 1 << 16;

/// Tokens longer than this are verified every time rather than cached, so
/// the cache's memory is bounded by its capacity times a small entry size
/// whatever claims a trusted issuer puts in a passport.
pub const MAX_CACHED_TOKEN_LEN: usize = 4 * 1024;

pub(crate) struct CachedLink {
    /// The token's exact bytes: a hit needs every byte to be equal, so no
    /// other token (however it was forged) can use this entry.
    token: Box<str>,
    /// SHA-256 of `token`, what a child's `parent_hash` must be: computed
    /// when the token is first verified as an ancestor, or the first time a
    /// cached leaf is used as one; never twice.
    digest: OnceLock<[u8; 32]>,
    pub(crate) verified: Verified,
    /// Used since it last came to the front of its queue.
    referenced: AtomicBool,
}

/// What the verifier learnt from one token's signature, to be cached: the
/// claims' `iss` and the header's `kid` are what the key store is asked on
/// every hit (a key belongs to one issuer).
pub(crate) struct Verified {
    /// The token's header (shared with every token of its segment): its
    /// `kid` (present: the token was refused without one), `alg` and `typ`.
    pub(crate) header: Header,
    pub(crate) key: VerifyingKey,
    pub(crate) passport: Arc<PassportClaims>,
}

impl Verified {
    /// The issuer that vouched for the token.
    pub(crate) fn iss(&self) -> &str {
        &self.passport.iss
    }

    /// The header's `kid`.
    pub(crate) fn kid(&self) -> &str {
        self.header.kid().unwrap_or_default()
    }
}

impl CachedLink {
    /// The SHA-256 of the token's bytes.
    pub(crate) fn digest(&self) -> [u8; 32] {
        *self.digest.get_or_init(|| sha256(self.token.as_bytes()))
    }
}

/// The map's key: a hash of the token's last bytes (its signature, which
/// differs between any two tokens a key signed) and its length. It only
/// picks the slot; a hit needs the whole token to be equal. Entries are only
/// inserted for tokens whose signature a trusted key verified, so nobody can
/// fill a slot with colliding entries (and a collision only costs a miss).
fn slot(token: &str) -> u64 {
    let bytes = token.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(32)..];
    let mut h = bytes.len() as u64;
    for chunk in tail.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    h
}

/// `slot` already mixed the bits: the map hashes its `u64` as it is.
#[derive(Default)]
struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// When a verified token is worth a place in the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// At once: an ancestor, which every passport delegated under it
    /// presents again.
    Now,
    /// The second time it is verified while its ghost is remembered: a
    /// leaf, which is usually new on every request (an agent mints one per
    /// call) and only sometimes presented again.
    WhenSeenAgain,
}

pub(crate) struct SignatureCache {
    capacity: usize,
    /// `min(PROBATION_MAX, capacity / 4)`, at least 1 (when enabled).
    probation_capacity: usize,
    inner: Mutex<Inner>,
}

type SlotMap<V> = HashMap<u64, V, BuildHasherDefault<SlotHasher>>;

struct Inner {
    /// Every entry, on probation or main.
    map: SlotMap<Arc<CachedLink>>,
    /// The slots of the entries on probation, oldest first.
    probation: VecDeque<u64>,
    /// The slots of the entries in the main queue, oldest first.
    main: VecDeque<u64>,
    /// The slots of leaves verified once and not kept, and of entries
    /// dropped from probation unused: a direct-mapped
    /// table of `min(capacity, MAX_GHOSTS)` places, a slot in the place its
    /// value selects (so a newer ghost overwrites an older one in its place;
    /// 0 is empty).
    ghosts: Box<[u64]>,
}

impl Inner {
    /// The place of `key` in the ghost table (none in an empty table).
    fn ghost_place(&self, key: u64) -> usize {
        key.checked_rem(self.ghosts.len() as u64).unwrap_or(0) as usize
    }

    fn remember_ghost(&mut self, key: u64) {
        let place = self.ghost_place(key);
        if let Some(ghost) = self.ghosts.get_mut(place) {
            *ghost = key;
        }
    }

    /// Whether `key` is a ghost; it no longer is.
    fn take_ghost(&mut self, key: u64) -> bool {
        let place = self.ghost_place(key);
        match self.ghosts.get_mut(place) {
            Some(ghost) if *ghost == key && key != 0 => {
                *ghost = 0;
                true
            }
            _ => false,
        }
    }
}

impl SignatureCache {
    pub(crate) fn new(capacity: usize) -> SignatureCache {
        SignatureCache {
            capacity,
            probation_capacity: (capacity / 4).clamp(1, PROBATION_MAX).min(capacity),
            inner: Mutex::new(Inner {
                map: SlotMap::default(),
                probation: VecDeque::new(),
                main: VecDeque::new(),
                ghosts: vec![0; capacity.min(MAX_GHOSTS)].into_boxed_slice(),
            }),
        }
    }

    fn main_capacity(&self) -> usize {
        self.capacity - self.probation_capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every state of the map is consistent; a panic elsewhere must not
        // turn the cache into a permanent failure.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The entry of exactly `token`, if cached.
    pub(crate) fn get(&self, token: &str) -> Option<Arc<CachedLink>> {
        if self.capacity == 0 {
            return None;
        }
        let hit = self
            .lock()
            .map
            .get(&slot(token))
            .filter(|e| *e.token == *token)
            .cloned();
        if let Some(hit) = &hit {
            hit.referenced.store(true, Ordering::Relaxed);
        }
        hit
    }

    pub(crate) fn remove(&self, token: &str) {
        let key = slot(token);
        let mut inner = self.lock();
        if inner.map.get(&key).is_some_and(|e| *e.token == *token) {
            inner.map.remove(&key);
            inner.probation.retain(|k| *k != key);
            inner.main.retain(|k| *k != key);
        }
    }

    /// Remembers `token` (with its SHA-256 when already computed), as
    /// `admission` says: a token [`Admission::WhenSeenAgain`] seen for the
    /// first time leaves only a ghost (nothing else is built or kept); one
    /// whose ghost is remembered — verified (and not kept) not long ago —
    /// enters the main queue at once; any other enters probation.
    pub(crate) fn insert(
        &self,
        token: &str,
        digest: Option<[u8; 32]>,
        admission: Admission,
        verified: impl FnOnce() -> Verified,
    ) {
        if self.capacity == 0 || token.len() > MAX_CACHED_TOKEN_LEN {
            return;
        }
        let key = slot(token);
        let seen = {
            let mut inner = self.lock();
            let seen = inner.take_ghost(key);
            if !seen && admission == Admission::WhenSeenAgain {
                inner.remember_ghost(key);
                return;
            }
            seen
        };
        let entry = Arc::new(CachedLink {
            token: token.into(),
            digest: digest.map_or_else(OnceLock::new, OnceLock::from),
            verified: verified(),
            referenced: AtomicBool::new(false),
        });
        let mut inner = self.lock();
        if let Some(existing) = inner.map.get_mut(&key) {
            // Another token in the same slot (or a racing insert of this
            // one): the newer entry takes the slot and its queue place.
            *existing = entry;
            return;
        }
        if seen && self.make_room_in_main(&mut inner) {
            inner.main.push_back(key);
        } else {
            self.make_room_on_probation(&mut inner);
            inner.probation.push_back(key);
        }
        inner.map.insert(key, entry);
    }

    /// Moves the oldest entries off probation until one more fits: to the
    /// main queue when used since they were inserted, else dropped and
    /// remembered as ghosts.
    fn make_room_on_probation(&self, inner: &mut Inner) {
        while inner.probation.len() >= self.probation_capacity {
            let Some(oldest) = inner.probation.pop_front() else {
                return;
            };
            let used = inner
                .map
                .get(&oldest)
                .is_some_and(|e| e.referenced.swap(false, Ordering::Relaxed));
            if used && self.make_room_in_main(inner) {
                inner.main.push_back(oldest);
            } else {
                inner.map.remove(&oldest);
                inner.remember_ghost(oldest);
            }
        }
    }

    /// Evicts from the main queue, second-chance FIFO, until one more fits;
    /// false if none does (no main queue, or other threads kept marking its
    /// entries used throughout two passes).
    fn make_room_in_main(&self, inner: &mut Inner) -> bool {
        // Each entry is given at most one second chance per pass, so this
        // ends after at most two passes over the queue.
        let mut budget = 2 * inner.main.len() + 1;
        while inner.main.len() >= self.main_capacity() && budget > 0 {
            budget -= 1;
            let Some(oldest) = inner.main.pop_front() else {
                break;
            };
            let spared = inner
                .map
                .get(&oldest)
                .is_some_and(|e| e.referenced.swap(false, Ordering::Relaxed));
            if spared {
                inner.main.push_back(oldest);
            } else {
                inner.map.remove(&oldest);
            }
        }
        inner.main.len() < self.main_capacity()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

/// How many parsed bundles a [`BundleMemo`] keeps.
pub(crate) const BUNDLE_MEMO_SLOTS: usize = 64;

/// The longest bundle text a [`BundleMemo`] keeps (two tables of 64 slots
/// of it: 2 MiB at most).
pub(crate) const MAX_MEMO_BUNDLE_LEN: usize = 16 * 1024;

/// Parsed bundles by their exact text: an agent presents the same bundle on
/// every request, and parsing it (several passes over kilobytes) costs more
/// than comparing it with the one parsed last time. Parsing is a function of
/// the text alone, so a memo hit — the very same bytes — is exactly what a
/// new parse would return; nothing else about the bundle is remembered here
/// (its signatures, keys and rules are the verifier's business on every
/// use). Direct-mapped: a slot from the text's length and its last bytes.
///
/// A second table keeps recent bundles by their ancestors' text (from the
/// first `~` on): an agent's next passport comes over the same chain, and
/// [`UnverifiedBundle::parse_reusing`] then checks only the new leaf.
pub(crate) struct BundleMemo(Mutex<MemoTables>);

struct MemoTables {
    by_text: Vec<Option<UnverifiedBundle>>,
    by_ancestors: Vec<Option<UnverifiedBundle>>,
}

/// The text of `bundle` from its first `~` on (its ancestors), if any.
fn ancestors_text(text: &str) -> Option<&str> {
    text.find('~').and_then(|at| text.get(at..))
}

impl BundleMemo {
    pub(crate) fn new() -> BundleMemo {
        BundleMemo(Mutex::new(MemoTables {
            by_text: vec![None; BUNDLE_MEMO_SLOTS],
            by_ancestors: vec![None; BUNDLE_MEMO_SLOTS],
        }))
    }

    fn slot(text: &str) -> usize {
        // The top bits of `slot` are the best mixed.
        (slot(text) >> 58) as usize % BUNDLE_MEMO_SLOTS
    }

    /// `UnverifiedBundle::parse(text)`, from the memo when `text` is
    /// byte for byte a bundle parsed before, or a new leaf over the
    /// ancestors of one.
    pub(crate) fn parse(&self, text: &str) -> Result<UnverifiedBundle, ClaimsError> {
        if text.len() > MAX_MEMO_BUNDLE_LEN {
            return UnverifiedBundle::parse(text);
        }
        let slot = BundleMemo::slot(text);
        let (ancestors, known) = {
            let tables = self.lock();
            if let Some(hit) = tables.by_text.get(slot).and_then(Option::as_ref)
                && hit.as_str() == text
            {
                return Ok(hit.clone());
            }
            // Only on a miss: finding the first `~` reads the whole leaf.
            let ancestors = ancestors_text(text).map(BundleMemo::slot);
            let known = ancestors.and_then(|a| tables.by_ancestors.get(a).cloned().flatten());
            (ancestors, known)
        };
        let parsed = match &known {
            Some(known) => UnverifiedBundle::parse_reusing(text, known)?,
            None => UnverifiedBundle::parse(text)?,
        };
        // A bundle parsed with surrounding whitespace has another text than
        // its input: it could never hit, so it is not kept.
        if parsed.as_str().len() == text.len() {
            let mut tables = self.lock();
            if let Some(place) = tables.by_text.get_mut(slot) {
                *place = Some(parsed.clone());
            }
            if let Some(place) = ancestors.and_then(|a| tables.by_ancestors.get_mut(a)) {
                *place = Some(parsed.clone());
            }
        }
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoTables> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use passport_claims::{AgentClaims, ScopeSet};
    use passport_jose::Algorithm;

    fn entry() -> Verified {
        let key = passport_jose::SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .verifying_key();
        let agent = AgentClaims {
            agent_id: "agent".to_owned(),
            agent_model: "model".to_owned(),
            tool_scope: ScopeSet::parse(["files:*"]).unwrap(),
            task_purpose: None,
            parent_jti: None,
        };
        let claims = PassportClaims::new("iss", "sub", "aud", "jti", 0, 1, agent);
        use passport_jose::b64;
        let token = format!(
            "{}.e30.{}",
            b64::encode(r#"{"alg":"EdDSA","kid":"kid"}"#),
            b64::encode([0u8; 64])
        );
        let header = passport_jose::CompactJws::parse(&token)
            .unwrap()
            .header()
            .clone();
        Verified {
            header,
            key,
            passport: Arc::new(claims),
        }
    }

    const T1: &str = "h.p.signature-one";
    const T2: &str = "h.p.signature-two";
    const T3: &str = "h.p.signature-three";
    const T4: &str = "h.p.signature-four";

    #[test]
    fn only_the_exact_bytes_hit_and_the_digest_is_the_tokens() {
        let signature = "s".repeat(40);
        let token = format!("h.{}.{signature}", "p".repeat(40));
        // Same signature segment and length, another payload: the same slot.
        let forged = format!("h.{}.{signature}", "q".repeat(40));
        assert_eq!(slot(&token), slot(&forged));
        let cache = SignatureCache::new(4);
        cache.insert(&token, None, Admission::Now, entry);
        assert!(cache.get(&token).is_some());
        assert!(cache.get(&forged).is_none(), "a slot is not a hit");
        assert!(cache.get(&token[1..]).is_none());
        let hit = cache.get(&token).unwrap();
        assert_eq!(hit.digest(), sha256(token.as_bytes()));
        cache.remove(&forged);
        assert!(
            cache.get(&token).is_some(),
            "removing another token keeps it"
        );
        cache.remove(&token);
        assert!(cache.get(&token).is_none());
    }

    /// `n` distinct tokens of one shape.
    fn tokens(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("h.p.{prefix}-{i}")).collect()
    }

    /// A leaf is kept the second time it is verified, straight into the
    /// main queue; the first time only its ghost is, and nothing is built.
    #[test]
    fn a_leaf_is_kept_when_it_is_verified_again() {
        let cache = SignatureCache::new(1024);
        let built = std::cell::Cell::new(0);
        let build = || {
            built.set(built.get() + 1);
            entry()
        };
        cache.insert(T1, None, Admission::WhenSeenAgain, build);
        assert_eq!(
            (cache.len(), built.get()),
            (0, 0),
            "seen once: not kept, not built"
        );
        assert!(cache.get(T1).is_none());
        cache.insert(T1, None, Admission::WhenSeenAgain, build);
        assert_eq!((cache.len(), built.get()), (1, 1));
        assert!(cache.get(T1).is_some());
        let inner = cache.lock();
        assert_eq!(inner.main.len(), 1, "used twice: the main queue");
        assert!(inner.probation.is_empty());
    }

    /// A flood of leaves seen once takes no place at all: the ancestors
    /// and the leaves used again stay, and the cache holds nothing else.
    #[test]
    fn leaves_seen_once_take_no_place() {
        let cache = SignatureCache::new(8);
        cache.insert(T1, None, Admission::Now, entry);
        cache.insert(T2, None, Admission::WhenSeenAgain, entry);
        cache.insert(T2, None, Admission::WhenSeenAgain, entry);
        for token in tokens("leaf", 10_000) {
            cache.insert(&token, None, Admission::WhenSeenAgain, entry);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(T1).is_some() && cache.get(T2).is_some());
    }

    #[test]
    fn a_stream_of_tokens_seen_once_never_evicts_a_token_used_again() {
        // 1024: 64 on probation, 960 in the main queue.
        let cache = SignatureCache::new(1024);
        assert_eq!(cache.probation_capacity, PROBATION_MAX);
        cache.insert(T1, None, Admission::Now, entry);
        cache.insert(T2, None, Admission::Now, entry);
        assert!(cache.get(T1).is_some(), "used on probation");
        // Ten thousand tokens seen once: ten times the capacity.
        for token in tokens("flood", 10_000) {
            cache.insert(&token, None, Admission::Now, entry);
            assert!(cache.len() <= 1024);
        }
        assert!(cache.get(T1).is_some(), "promoted to the main queue");
        assert!(cache.get(T2).is_none(), "unused: dropped from probation");
        // Only probation churned: the flood's survivors are its last 64.
        assert_eq!(cache.len(), 1 + PROBATION_MAX);
    }

    #[test]
    fn a_token_verified_again_after_probation_enters_the_main_queue() {
        let cache = SignatureCache::new(16); // 4 on probation, 12 main
        cache.insert(T1, None, Admission::Now, entry);
        for token in tokens("a", 4) {
            cache.insert(&token, None, Admission::Now, entry);
        }
        assert!(cache.get(T1).is_none(), "dropped unused: a ghost");
        // Verified again (a miss, then an insert): straight to main.
        cache.insert(T1, None, Admission::Now, entry);
        for token in tokens("b", 100) {
            cache.insert(&token, None, Admission::Now, entry);
        }
        assert!(cache.get(T1).is_some(), "its ghost sent it to main");
        // Tokens used on probation are promoted as newer ones arrive.
        let used = tokens("c", 3);
        for token in &used {
            cache.insert(token, None, Admission::Now, entry);
            assert!(cache.get(token).is_some());
        }
        for token in tokens("d", 100) {
            cache.insert(&token, None, Admission::Now, entry);
            assert!(cache.len() <= 16);
        }
        for token in &used {
            assert!(cache.get(token).is_some(), "promoted, then kept");
        }
        assert!(cache.get(T1).is_some());
    }

    #[test]
    fn the_main_queue_gives_a_used_entry_a_second_chance() {
        let cache = SignatureCache::new(4); // 1 on probation, 3 main
        for token in [T1, T2, T3] {
            cache.insert(token, None, Admission::Now, entry);
            assert!(cache.get(token).is_some());
        }
        cache.insert(T4, None, Admission::Now, entry); // T3 promoted; main: T1 T2 T3
        assert_eq!(cache.len(), 4);
        assert!(cache.get(T1).is_some(), "T1 used again");
        assert!(cache.get(T4).is_some());
        // T4 promoted: main is full; T1 is spared, T2 (unused since it
        // entered main) evicted.
        cache.insert("h.p.signature-five", None, Admission::Now, entry);
        assert!(cache.get(T2).is_none());
        assert!(cache.get(T1).is_some());
        assert!(cache.get(T3).is_some());
        assert!(cache.get(T4).is_some());
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn tiny_capacities_stay_bounded() {
        for capacity in 1..=5 {
            let cache = SignatureCache::new(capacity);
            let all = tokens("t", 50);
            for (i, token) in all.iter().enumerate() {
                cache.insert(token, None, Admission::Now, entry);
                // Use every other token, and one old one again and again.
                if i % 2 == 0 {
                    assert!(cache.get(token).is_some(), "capacity {capacity}");
                }
                let _ = cache.get(&all[0]);
                assert!(cache.len() <= capacity, "capacity {capacity}");
            }
            assert!(cache.get(&all[49]).is_some(), "the newest is cached");
        }
    }

    #[test]
    fn remove_takes_an_entry_from_either_queue() {
        let cache = SignatureCache::new(8); // 2 on probation, 6 main
        cache.insert(T1, None, Admission::Now, entry);
        assert!(cache.get(T1).is_some());
        cache.insert(T2, None, Admission::Now, entry);
        cache.insert(T3, None, Admission::Now, entry); // T1 promoted to main
        cache.remove(T1);
        cache.remove(T3);
        assert!(cache.get(T1).is_none());
        assert!(cache.get(T3).is_none());
        assert!(cache.get(T2).is_some());
        assert_eq!(cache.len(), 1);
        // The queues forgot them too: eight more fill the cache exactly.
        for token in tokens("x", 8) {
            cache.insert(&token, None, Admission::Now, entry);
            assert!(cache.get(&token).is_some());
        }
        assert_eq!(cache.len(), 8);
    }

    #[test]
    fn oversized_tokens_and_a_zero_capacity_cache_nothing() {
        let cache = SignatureCache::new(2);
        cache.insert(
            &"a".repeat(MAX_CACHED_TOKEN_LEN + 1),
            None,
            Admission::Now,
            entry,
        );
        assert_eq!(cache.len(), 0);
        let off = SignatureCache::new(0);
        off.insert(T1, None, Admission::Now, entry);
        assert_eq!(off.len(), 0);
        assert!(off.get(T1).is_none());
    }

    #[test]
    fn the_bundle_memo_answers_as_a_parse_for_the_same_bytes_only() {
        let memo = BundleMemo::new();
        let text = "aaa.bbb.ccc~ddd.eee.fff";
        let first = memo.parse(text).unwrap();
        assert_eq!(first, UnverifiedBundle::parse(text).unwrap());
        assert_eq!(memo.parse(text).unwrap(), first);
        // Same length and last bytes (the same slot), other bytes: parsed.
        let other = "aab.bbb.ccc~ddd.eee.fff";
        assert_eq!(memo.parse(other).unwrap().leaf(), "aab.bbb.ccc");
        assert_eq!(memo.parse(text).unwrap().leaf(), "aaa.bbb.ccc");
        // Those two are short enough to land in different slots; these two
        // share their length and last 32 bytes, so the same slot for sure.
        let ancestors = format!("~{}.{}.{}", "d".repeat(12), "e".repeat(12), "f".repeat(12));
        let (one, two) = (format!("aaa.b.c{ancestors}"), format!("aab.b.c{ancestors}"));
        assert_eq!(BundleMemo::slot(&one), BundleMemo::slot(&two));
        assert_eq!(memo.parse(&one).unwrap().leaf(), "aaa.b.c");
        assert_eq!(memo.parse(&two).unwrap().leaf(), "aab.b.c");
        assert_eq!(memo.parse(&one).unwrap().leaf(), "aaa.b.c");
        // Refusals are a parse's refusals, and are not remembered.
        assert_eq!(memo.parse("a.b~").unwrap_err().code(), "malformed_bundle");
        assert_eq!(memo.parse("a.b~").unwrap_err().code(), "malformed_bundle");
        // Whitespace around a bundle is trimmed as by a parse.
        assert_eq!(
            memo.parse(" aaa.bbb.ccc\n").unwrap().as_str(),
            "aaa.bbb.ccc"
        );
        assert_eq!(
            memo.parse(" aaa.bbb.ccc\n").unwrap().as_str(),
            "aaa.bbb.ccc"
        );
        // A new leaf over the ancestors of a memoised bundle: parse's
        // answer, accepted or refused.
        memo.parse(text).unwrap();
        for next in [
            "xxx.yyy.zzz~ddd.eee.fff",
            "x.y~ddd.eee.fff",
            "x y.z~ddd.eee.fff",
            "x.y.z~ddd.eee.ff",
            "~ddd.eee.fff",
        ] {
            assert_eq!(
                format!("{:?}", memo.parse(next)),
                format!("{:?}", UnverifiedBundle::parse(next)),
                "{next}"
            );
            if let Ok(parsed) = UnverifiedBundle::parse(next) {
                assert_eq!(memo.parse(next).unwrap(), parsed);
            }
        }
    }

    /// The cache's bookkeeping: every queued slot is an entry, once, and
    /// every entry is queued; each queue within its bound.
    fn assert_consistent(cache: &SignatureCache) {
        let inner = cache.lock();
        let mut queued: Vec<u64> = inner.probation.iter().chain(&inner.main).copied().collect();
        let count = queued.len();
        queued.sort_unstable();
        queued.dedup();
        assert_eq!(queued.len(), count, "a slot queued twice");
        assert_eq!(inner.map.len(), count, "entries and queued slots differ");
        assert!(
            queued.iter().all(|k| inner.map.contains_key(k)),
            "a stale slot"
        );
        assert!(inner.probation.len() <= cache.probation_capacity);
        assert!(inner.main.len() <= cache.main_capacity());
    }

    /// 5,000 random inserts (each with the admission `admission` picks
    /// from a random number), uses and removals at `capacity`, three tokens
    /// per slot (same length and last bytes), the bookkeeping checked after
    /// each step.
    fn random_steps(capacity: usize, mut seed: u64, admission: fn(u64) -> Admission) {
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let verified = entry();
        let cache = SignatureCache::new(capacity);
        let all: Vec<String> = (0..capacity.min(300) * 3 + 10)
            .map(|i| format!("h{}.p.signature-{:04}", i % 3, i / 3))
            .collect();
        for _ in 0..5_000 {
            let token = &all[next() as usize % all.len()];
            match next() % 4 {
                0 | 1 => cache.insert(token, None, admission(next()), || share(&verified)),
                2 => {
                    if let Some(hit) = cache.get(token) {
                        assert_eq!(&*hit.token, token.as_str());
                    }
                }
                _ => cache.remove(token),
            }
            assert_consistent(&cache);
            assert!(cache.len() <= capacity);
        }
    }

    /// Four threads inserting (with the admission `admission` picks from
    /// the round), using and removing 40 tokens at `capacity`.
    fn racing_threads(capacity: usize, admission: fn(u64) -> Admission) {
        let cache = Arc::new(SignatureCache::new(capacity));
        let verified = Arc::new(entry());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (cache, verified) = (Arc::clone(&cache), Arc::clone(&verified));
                std::thread::spawn(move || {
                    for i in 0..5_000u64 {
                        let token = format!("h.p.signature-{}", (i * 7 + t) % 40);
                        cache.insert(&token, None, admission(i / 3 + t), || share(&verified));
                        assert!(cache.len() <= capacity);
                        let _ = cache.get(&token);
                        if i % 5 == 0 {
                            cache.remove(&token);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_consistent(&cache);
    }

    #[test]
    fn random_inserts_uses_and_removals_keep_the_bookkeeping_consistent() {
        for capacity in [1, 2, 3, 4, 5, 8, 16, 300] {
            random_steps(capacity, 0x1234_5678, |_| Admission::Now);
        }
    }

    #[test]
    fn racing_threads_keep_the_bookkeeping_consistent() {
        racing_threads(8, |_| Admission::Now);
    }

    /// The same bookkeeping with both admissions mixed (the tests above
    /// insert ancestors only): a leaf's first sight records a ghost under
    /// one lock and a later sight inserts under another, and neither may
    /// break a bound, at tiny capacities, huge ones, or across threads; a
    /// leaf seen once never builds an entry.
    #[test]
    fn mixed_admissions_keep_the_bookkeeping_consistent() {
        let mixed = |n: u64| match n % 2 {
            0 => Admission::Now,
            _ => Admission::WhenSeenAgain,
        };
        for capacity in [1, 2, 3, 4, 5, 8, 300, usize::MAX] {
            let cache = SignatureCache::new(capacity);
            for token in tokens("once", 50) {
                cache.insert(&token, None, Admission::WhenSeenAgain, || {
                    panic!("a leaf seen once is not built")
                });
            }
            assert_eq!(cache.len(), 0);
            random_steps(capacity, 0x9e37_79b9, mixed);
        }
        for capacity in [1, 2, 4, 8] {
            racing_threads(capacity, mixed);
        }
    }

    fn share(verified: &Verified) -> Verified {
        Verified {
            header: verified.header.clone(),
            key: verified.key.clone(),
            passport: Arc::clone(&verified.passport),
        }
    }
}
