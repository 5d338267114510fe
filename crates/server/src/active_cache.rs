//! Which passports introspection found active, valid while the registry's
//! revocation epoch stays the same.
//!
//! Caching "not revoked" in memory alone would be wrong with several
//! instances on one database: another instance's revocation would not be
//! seen. So each introspection reads the epoch first (one indexed row,
//! incremented in the transaction of every revocation, on any instance),
//! and a passport found active under that epoch is taken from here; a
//! moved epoch empties the cache. Read in that order — epoch, then the
//! passport's row — an answer cached under epoch `e` was true when `e` was
//! read, and no revocation has committed while the epoch still reads `e`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Passports kept before the cache starts afresh.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct ActiveCache {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    epoch: i64,
    /// `jti` → the client it was issued to.
    clients: HashMap<String, String>,
}

impl ActiveCache {
    /// The client of `jti` if it was found active under `epoch`.
    pub(crate) fn get(&self, epoch: i64, jti: &str) -> Option<String> {
        let mut entries = self.lock();
        if epoch > entries.epoch {
            entries.epoch = epoch;
            entries.clients.clear();
        }
        if epoch != entries.epoch {
            return None;
        }
        entries.clients.get(jti).cloned()
    }

    /// Remembers that `jti` (of `client`) was active under `epoch`.
    pub(crate) fn insert(&self, epoch: i64, jti: &str, client: &str) {
        let mut entries = self.lock();
        if entries.epoch != epoch {
            // a newer epoch was seen meanwhile (or this one is newer):
            // keep only the newest
            if epoch < entries.epoch {
                return;
            }
            entries.epoch = epoch;
            entries.clients.clear();
        }
        if entries.clients.len() >= MAX_ENTRIES {
            entries.clients.clear();
        }
        entries.clients.insert(jti.to_owned(), client.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::ActiveCache;

    #[test]
    fn a_moved_epoch_forgets_everything() {
        let cache = ActiveCache::default();
        cache.insert(3, "a", "client");
        assert_eq!(cache.get(3, "a").as_deref(), Some("client"));
        assert_eq!(cache.get(4, "a"), None);
        // an answer read under an older epoch is not kept
        cache.insert(3, "a", "client");
        assert_eq!(cache.get(4, "a"), None);
    }
}
