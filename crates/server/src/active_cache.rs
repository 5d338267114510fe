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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use passport_store::StoreError;
use passport_store::server::Database;

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
    #![allow(clippy::unwrap_used)]

    use super::{ActiveCache, EpochGate};

    /// A read begun before a request arrived never answers it: a
    /// revocation committed in between is seen.
    #[tokio::test]
    async fn a_request_waits_for_a_read_begun_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = passport_store::server::Database::open(
            dir.path().join("s.db").to_str().unwrap(),
            1_700_000_000,
        )
        .await
        .unwrap();
        let gate = EpochGate::default();
        let before = gate.read(&db).await.unwrap();
        // a revocation commits; the next request must see it
        let entry = passport_store::server::PassportEntry {
            jti: "p".into(),
            parent_jti: None,
            actor_jti: None,
            client_id: "c".into(),
            agent_id: "a".into(),
            principal: "alice".into(),
            audience: "https://tool.example".into(),
            scopes: "read".into(),
            iat: 1_700_000_000,
            exp: 1_700_000_300,
            kid: "k".into(),
            status_uri: None,
            status_idx: None,
            created_at: 1_700_000_000,
            environment: None,
            approval_id: None,
        };
        db.record_issued(entry).await.unwrap();
        db.revoke_cascade("p", 1_700_000_001).await.unwrap();
        let after = gate.read(&db).await.unwrap();
        assert!(after > before);
    }

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

/// Reads of the revocation epoch shared by concurrent introspections: a
/// request takes the value of a read that *began after it arrived* — so it
/// sees every revocation committed before it arrived, as its own read
/// would — and only reads the database itself when no such read has
/// finished. Under load one read serves every request that queued while
/// it ran (on PostgreSQL a round trip each saved).
#[derive(Debug, Default)]
pub(crate) struct EpochGate {
    /// Reads begun so far; a read's number is this count when it began.
    begun: AtomicU64,
    /// The newest finished read: its number and the epoch it read.
    finished: Mutex<(u64, i64)>,
    /// One read at a time.
    reading: tokio::sync::Mutex<()>,
}

impl EpochGate {
    /// The epoch, as read by a read begun after this call.
    pub(crate) async fn read(&self, db: &Database) -> Result<i64, StoreError> {
        let arrived = self.begun.load(Ordering::SeqCst);
        if let Some(epoch) = self.finished_after(arrived) {
            return Ok(epoch);
        }
        let _reading = self.reading.lock().await;
        if let Some(epoch) = self.finished_after(arrived) {
            return Ok(epoch);
        }
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let epoch = db.revocation_epoch().await?;
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        if number > finished.0 {
            *finished = (number, epoch);
        }
        Ok(epoch)
    }

    fn finished_after(&self, arrived: u64) -> Option<i64> {
        let (number, epoch) = *self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        (number > arrived).then_some(epoch)
    }
}
