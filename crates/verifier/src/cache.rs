//! A bounded cache of signature results, for leaves and ancestors alike.
//!
//! An agent calls a server again and again with the same bundle, and every
//! bundle of an agent shares its chain prefix; caching what was learnt from a
//! token's signature (its header and decoded claims) under the SHA-256 of its
//! exact bytes makes a repeated token cost a hash. Only the signature check
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
use std::sync::{Arc, Mutex};

use passport_claims::PassportClaims;
use passport_jose::{Algorithm, VerifyingKey};

/// The default number of tokens (leaves and ancestors) remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// Tokens longer than this are verified every time rather than cached, so
/// the cache's memory is bounded by its capacity times a small entry size
/// whatever claims a trusted issuer puts in a passport.
pub const MAX_CACHED_TOKEN_LEN: usize = 4 * 1024;

pub(crate) struct CachedLink {
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

impl CachedLink {
    pub(crate) fn new(
        iss: String,
        kid: String,
        key: VerifyingKey,
        alg: Algorithm,
        untyped: bool,
        passport: Arc<PassportClaims>,
    ) -> CachedLink {
        CachedLink {
            iss,
            kid,
            key,
            alg,
            untyped,
            passport,
            referenced: AtomicBool::new(false),
        }
    }
}

/// The map's keys are SHA-256 digests, uniform already; and an entry is only
/// inserted for a token whose signature a trusted key verified, so nobody
/// can pick colliding keys. Eight of the digest's bytes are the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as one 32-byte write (arrays hash their slice
        // without a length prefix); fold anything else in too.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

type Digest = [u8; 32];

pub(crate) struct SignatureCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Digest, Arc<CachedLink>, BuildHasherDefault<DigestHasher>>,
    order: VecDeque<Digest>,
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

    pub(crate) fn get(&self, digest: &Digest) -> Option<Arc<CachedLink>> {
        if self.capacity == 0 {
            return None;
        }
        let hit = self.lock().map.get(digest).cloned();
        if let Some(hit) = &hit {
            hit.referenced.store(true, Ordering::Relaxed);
        }
        hit
    }

    pub(crate) fn remove(&self, digest: &Digest) {
        let mut inner = self.lock();
        if inner.map.remove(digest).is_some() {
            inner.order.retain(|d| d != digest);
        }
    }

    pub(crate) fn insert(&self, digest: Digest, token_len: usize, link: CachedLink) {
        if self.capacity == 0 || token_len > MAX_CACHED_TOKEN_LEN {
            return;
        }
        let mut inner = self.lock();
        if inner.map.contains_key(&digest) {
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
        inner.order.push_back(digest);
        inner.map.insert(digest, Arc::new(link));
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use passport_claims::{AgentClaims, ScopeSet};

    fn entry() -> CachedLink {
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
        CachedLink::new(
            "iss".into(),
            "kid".into(),
            key,
            Algorithm::EdDSA,
            false,
            Arc::new(claims),
        )
    }

    #[test]
    fn an_entry_used_since_it_was_queued_survives_one_eviction() {
        let cache = SignatureCache::new(2);
        cache.insert([1; 32], 10, entry());
        cache.insert([2; 32], 10, entry());
        assert!(cache.get(&[1; 32]).is_some());
        cache.insert([3; 32], 10, entry());
        assert!(cache.get(&[1; 32]).is_some(), "the used entry was spared");
        assert!(cache.get(&[2; 32]).is_none(), "the unused one was evicted");
        assert_eq!(cache.len(), 2);
        // Both used now: the next insert still evicts one, never grows.
        assert!(cache.get(&[3; 32]).is_some());
        cache.insert([4; 32], 10, entry());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&[4; 32]).is_some());
    }

    #[test]
    fn oversized_tokens_and_a_zero_capacity_cache_nothing() {
        let cache = SignatureCache::new(2);
        cache.insert([1; 32], MAX_CACHED_TOKEN_LEN + 1, entry());
        assert_eq!(cache.len(), 0);
        let off = SignatureCache::new(0);
        off.insert([1; 32], 10, entry());
        assert_eq!(off.len(), 0);
        assert!(off.get(&[1; 32]).is_none());
    }
}
