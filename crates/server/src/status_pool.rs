//! Status-list indices handed out from memory: a server takes a block of
//! random free indices from the database in one write and gives one to
//! each passport it mints, so a mint's only write is its registry record
//! (committed with its neighbours' in one group commit). An index is never
//! handed out twice, whichever instance asks; one taken and not used (a
//! refused request, a restart) stays taken and marks nothing.

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

use passport_claims::{AllocationError, PassportClaims, StatusAllocator, StatusReference};
use passport_store::StoreError;
use passport_store::server::Database;

/// Indices taken from the database at once.
const BLOCK: usize = 64;

/// The free indices of one status list, taken from the database by blocks.
#[derive(Debug)]
pub(crate) struct StatusPool {
    uri: String,
    free: Mutex<Vec<u64>>,
    /// One refill at a time: the others wait for it instead of taking a
    /// block each.
    refill: tokio::sync::Mutex<()>,
}

impl StatusPool {
    pub(crate) fn new(uri: &str) -> StatusPool {
        StatusPool {
            uri: uri.to_owned(),
            free: Mutex::new(Vec::new()),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    fn pop(&self) -> Option<u64> {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// An index of the list no passport had, for the passport about to be
    /// minted.
    pub(crate) async fn take(&self, db: &Database) -> Result<u64, StoreError> {
        for _ in 0..4 {
            if let Some(idx) = self.pop() {
                return Ok(idx);
            }
            let _refilling = self.refill.lock().await;
            if let Some(idx) = self.pop() {
                return Ok(idx);
            }
            let mut block = db.allocate_status_indices(&self.uri, BLOCK).await?;
            let mine = block.pop();
            self.free
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(block);
            if let Some(idx) = mine {
                return Ok(idx);
            }
        }
        Err(StoreError::Corrupt("no status index could be taken".into()))
    }

    /// Returns an index taken and not used (nothing was signed with it).
    pub(crate) fn put_back(&self, idx: u64) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(idx);
    }
}

thread_local! {
    /// The index reserved for the passport this thread is signing.
    static RESERVED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `sign` (synchronous: it cannot move to another thread meanwhile)
/// with `idx` as the index [`ReservedIndex`] hands out; its result, and the
/// index again if `sign` did not take it.
pub(crate) fn with_reserved<T>(idx: u64, sign: impl FnOnce() -> T) -> (T, Option<u64>) {
    RESERVED.with(|r| r.set(Some(idx)));
    let out = sign();
    (out, RESERVED.with(Cell::take))
}

/// The issuer's status allocator: the index reserved by [`with_reserved`]
/// for the passport being signed on this thread. Without one it refuses.
#[derive(Debug)]
pub(crate) struct ReservedIndex {
    uri: String,
}

impl ReservedIndex {
    pub(crate) fn new(uri: &str) -> ReservedIndex {
        ReservedIndex {
            uri: uri.to_owned(),
        }
    }
}

impl StatusAllocator for ReservedIndex {
    fn allocate(&self, _passport: &PassportClaims) -> Result<StatusReference, AllocationError> {
        let idx = RESERVED
            .with(Cell::take)
            .ok_or_else(|| AllocationError::new("no status index was reserved"))?;
        StatusReference::new(idx, self.uri.clone()).map_err(AllocationError::new)
    }
}
