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
//! Eviction is second-chance FIFO: an entry used since it last reached the
//! front of the queue goes round once more, so the ancestors every request
//! shares survive a stream of leaves seen once.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use passport_claims::{ClaimsError, PassportClaims, UnverifiedBundle};
use passport_jose::{Algorithm, VerifyingKey, sha256};

/// The default number of tokens (leaves and ancestors) remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

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
    /// The token's `iss` and its header's `kid`: what the key store is asked
    /// on every hit (a key belongs to one issuer).
    pub(crate) iss: String,
    /// See `iss`.
    pub(crate) kid: String,
    pub(crate) key: VerifyingKey,
    pub(crate) alg: Algorithm,
    pub(crate) untyped: bool,
    pub(crate) passport: Arc<PassportClaims>,
    /// Used since it last came to the front of the eviction queue.
    referenced: AtomicBool,
}

/// What the verifier learnt from one token's signature, to be cached.
pub(crate) struct Verified {
    pub(crate) iss: String,
    pub(crate) kid: String,
    pub(crate) key: VerifyingKey,
    pub(crate) alg: Algorithm,
    pub(crate) untyped: bool,
    pub(crate) passport: Arc<PassportClaims>,
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

pub(crate) struct SignatureCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<u64, Arc<CachedLink>, BuildHasherDefault<SlotHasher>>,
    order: VecDeque<u64>,
}

impl SignatureCache {
    pub(crate) fn new(capacity: usize) -> SignatureCache {
        SignatureCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
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
            inner.order.retain(|k| *k != key);
        }
    }

    /// Remembers `token` (with its SHA-256 when already computed).
    pub(crate) fn insert(&self, token: &str, digest: Option<[u8; 32]>, verified: Verified) {
        if self.capacity == 0 || token.len() > MAX_CACHED_TOKEN_LEN {
            return;
        }
        let key = slot(token);
        let entry = Arc::new(CachedLink {
            token: token.into(),
            digest: digest.map_or_else(OnceLock::new, OnceLock::from),
            iss: verified.iss,
            kid: verified.kid,
            key: verified.key,
            alg: verified.alg,
            untyped: verified.untyped,
            passport: verified.passport,
            referenced: AtomicBool::new(false),
        });
        let mut inner = self.lock();
        if let Some(existing) = inner.map.get_mut(&key) {
            // Another token in the same slot (or a racing insert of this
            // one): the newer entry takes the slot and its queue place.
            *existing = entry;
            return;
        }
        // Each entry is given at most one second chance per pass, so this
        // ends after at most two passes over the queue.
        let mut budget = 2 * inner.order.len() + 1;
        while inner.map.len() >= self.capacity && budget > 0 {
            budget -= 1;
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            let spared = inner
                .map
                .get(&oldest)
                .is_some_and(|e| e.referenced.swap(false, Ordering::Relaxed));
            if spared {
                inner.order.push_back(oldest);
            } else {
                inner.map.remove(&oldest);
            }
        }
        if inner.map.len() >= self.capacity {
            return;
        }
        inner.order.push_back(key);
        inner.map.insert(key, entry);
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

/// The longest bundle text a [`BundleMemo`] keeps (64 slots of it: 1 MiB
/// at most).
pub(crate) const MAX_MEMO_BUNDLE_LEN: usize = 16 * 1024;

/// Parsed bundles by their exact text: an agent presents the same bundle on
/// every request, and parsing it (several passes over kilobytes) costs more
/// than comparing it with the one parsed last time. Parsing is a function of
/// the text alone, so a memo hit — the very same bytes — is exactly what a
/// new parse would return; nothing else about the bundle is remembered here
/// (its signatures, keys and rules are the verifier's business on every
/// use). Direct-mapped: a slot from the text's length and its last bytes.
pub(crate) struct BundleMemo(Mutex<Vec<Option<UnverifiedBundle>>>);

impl BundleMemo {
    pub(crate) fn new() -> BundleMemo {
        BundleMemo(Mutex::new(vec![None; BUNDLE_MEMO_SLOTS]))
    }

    fn slot(text: &str) -> usize {
        // The top bits of `slot` are the best mixed.
        (slot(text) >> 58) as usize % BUNDLE_MEMO_SLOTS
    }

    /// `UnverifiedBundle::parse(text)`, from the memo when `text` is
    /// byte for byte a bundle parsed before.
    pub(crate) fn parse(&self, text: &str) -> Result<UnverifiedBundle, ClaimsError> {
        if text.len() > MAX_MEMO_BUNDLE_LEN {
            return UnverifiedBundle::parse(text);
        }
        let slot = BundleMemo::slot(text);
        if let Some(hit) = &self.lock()[slot]
            && hit.as_str() == text
        {
            return Ok(hit.clone());
        }
        let parsed = UnverifiedBundle::parse(text)?;
        // A bundle parsed with surrounding whitespace has another text than
        // its input: it could never hit, so it is not kept.
        if parsed.as_str().len() == text.len() {
            self.lock()[slot] = Some(parsed.clone());
        }
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<UnverifiedBundle>>> {
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
        Verified {
            iss: "iss".into(),
            kid: "kid".into(),
            key,
            alg: Algorithm::EdDSA,
            untyped: false,
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
        cache.insert(&token, None, entry());
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

    #[test]
    fn an_entry_used_since_it_was_queued_survives_one_eviction() {
        let cache = SignatureCache::new(2);
        cache.insert(T1, None, entry());
        cache.insert(T2, None, entry());
        assert!(cache.get(T1).is_some());
        cache.insert(T3, None, entry());
        assert!(cache.get(T1).is_some(), "the used entry was spared");
        assert!(cache.get(T2).is_none(), "the unused one was evicted");
        assert_eq!(cache.len(), 2);
        // Both used now: the next insert still evicts one, never grows.
        assert!(cache.get(T3).is_some());
        cache.insert(T4, None, entry());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(T4).is_some());
    }

    #[test]
    fn oversized_tokens_and_a_zero_capacity_cache_nothing() {
        let cache = SignatureCache::new(2);
        cache.insert(&"a".repeat(MAX_CACHED_TOKEN_LEN + 1), None, entry());
        assert_eq!(cache.len(), 0);
        let off = SignatureCache::new(0);
        off.insert(T1, None, entry());
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
    }
}
