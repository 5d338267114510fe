//! A bounded cache of ancestor signature results.
//!
//! A server sees the same chain prefix on every request of an agent; caching
//! what was learnt from an ancestor's signature (its header and claims) makes
//! the leaf's signature the only one paid per request. Only signature work is
//! cached: issuer, time, chain and policy rules are re-checked on every use,
//! and an entry is only used while the key store still returns the very key
//! object that verified it — a key removed or replaced takes its entries with it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use passport_claims::PassportClaims;
use passport_jose::{Algorithm, VerifyingKey};

/// The default number of ancestors remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// Ancestors longer than this are verified every time rather than cached, so
/// the cache's memory is bounded by its capacity times a small entry size
/// whatever claims a trusted issuer puts in a passport.
pub const MAX_CACHED_TOKEN_LEN: usize = 4 * 1024;

#[derive(Clone)]
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
}

pub(crate) struct AncestorCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<[u8; 32], CachedLink>,
    order: VecDeque<[u8; 32]>,
}

impl AncestorCache {
    pub(crate) fn new(capacity: usize) -> AncestorCache {
        AncestorCache {
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

    pub(crate) fn get(&self, digest: &[u8; 32]) -> Option<CachedLink> {
        if self.capacity == 0 {
            return None;
        }
        self.lock().map.get(digest).cloned()
    }

    pub(crate) fn remove(&self, digest: &[u8; 32]) {
        let mut inner = self.lock();
        if inner.map.remove(digest).is_some() {
            inner.order.retain(|d| d != digest);
        }
    }

    pub(crate) fn insert(&self, digest: [u8; 32], token_len: usize, link: CachedLink) {
        if self.capacity == 0 || token_len > MAX_CACHED_TOKEN_LEN {
            return;
        }
        let mut inner = self.lock();
        if inner.map.contains_key(&digest) {
            return;
        }
        while inner.map.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(oldest) => {
                    inner.map.remove(&oldest);
                }
                None => break,
            }
        }
        inner.order.push_back(digest);
        inner.map.insert(digest, link);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
