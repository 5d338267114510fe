//! What the token service's status-list endpoint reads: the revoked places
//! of one list and the size of its index space.

use super::exec::Val;
#[cfg(feature = "postgres")]
use super::postgres;
use super::{Backend, Database, sqlite};
use crate::error::StoreError;

const ALLOCATED: &str = "SELECT next_idx FROM status_allocation WHERE uri = $1";

/// The revocation epoch, the places handed out from list `$1` and the
/// latest revocation's time, in one statement (one snapshot).
const VERSION: &str = "SELECT e.revocations, a.next_idx, e.revoked_at FROM registry_epoch e \
     LEFT JOIN status_allocation a ON a.uri = $1 WHERE e.id = 1";

/// What the status list of one URI, as the registry has it, depends on:
/// while neither part moves, the list is the same (every revocation moves
/// the registry's revocation epoch in its transaction; the index space
/// grows only with the places handed out). Read cheaply per request by
/// [`Database::status_list_version`] to keep a signed list until it
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusListVersion {
    /// The registry's revocation epoch.
    pub revocations: i64,
    /// When the latest revocation counted by `revocations` was made (0
    /// before any): a list showing it must not name an earlier `iat` than
    /// this, or the list from before it would look as new.
    pub revoked_at: i64,
    /// The size of the list's index space.
    pub space: u64,
}

fn space(allocated: Option<i64>) -> Result<u64, StoreError> {
    let allocated = allocated.map(index).transpose()?.unwrap_or(0);
    // The allocator draws each index below the space for the count at that
    // time; the space only grows with the count, so every index handed out
    // is below the space for the count now.
    Ok(
        crate::status::space_for(allocated, crate::INITIAL_INDEX_SPACE)
            .unwrap_or(crate::MAX_INDEX_SPACE),
    )
}

async fn version<E: super::exec::Exec>(
    x: &mut E,
    uri: &str,
) -> Result<StatusListVersion, StoreError> {
    let row = x
        .query(VERSION, &[Val::from(uri)])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("the revocation epoch is missing".into()))?;
    Ok(StatusListVersion {
        revocations: row.int(0)?,
        revoked_at: row.int(2)?,
        space: space(row.opt_int(1)?)?,
    })
}

/// The epoch first, the revoked places next, the space last: the places
/// include every revocation the epoch counts, and the space every index
/// handed out before (so every revoked one).
async fn snapshot<E: super::exec::Exec>(
    x: &mut E,
    uri: &str,
) -> Result<(StatusListVersion, Vec<u64>), StoreError> {
    let (revocations, revoked_at) = epoch(x).await?;
    let (space, revoked) = revoked(x, uri).await?;
    let version = StatusListVersion {
        revocations,
        revoked_at,
        space,
    };
    Ok((version, revoked))
}

const EPOCH: &str = "SELECT revocations, revoked_at FROM registry_epoch WHERE id = 1";

/// The revocation epoch and the latest revocation's time.
async fn epoch<E: super::exec::Exec>(x: &mut E) -> Result<(i64, i64), StoreError> {
    let rows = x.query(EPOCH, &[]).await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("the revocation epoch is missing".into()))?;
    Ok((row.int(0)?, row.int(1)?))
}

async fn revoked<E: super::exec::Exec>(
    x: &mut E,
    uri: &str,
) -> Result<(u64, Vec<u64>), StoreError> {
    let revoked = super::ops::revoked_status_indices(x, uri).await?;
    // read after the revoked places: every one of them is below it
    let params = [Val::from(uri)];
    let allocated = match x.query(ALLOCATED, &params).await?.first() {
        Some(row) => Some(row.int(0)?),
        None => None,
    };
    Ok((space(allocated)?, revoked))
}

fn index(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("status index {v}")))
}

impl Database {
    /// The status list `uri` as the registry has it: the size of its index
    /// space (a power of two of at least [`crate::INITIAL_INDEX_SPACE`];
    /// every index handed out is below it) and the indices of the revoked
    /// passports, ascending — what a Token Status List publishes.
    pub async fn status_list_entries(&self, uri: &str) -> Result<(u64, Vec<u64>), StoreError> {
        let uri = uri.to_owned();
        on_backend!(self, read, |x| revoked(x, &uri))
    }

    /// What the status list `uri` depends on now ([`StatusListVersion`]):
    /// one indexed read of two rows.
    pub async fn status_list_version(&self, uri: &str) -> Result<StatusListVersion, StoreError> {
        on_backend!(self, point_read, |x| version(x, uri))
    }

    /// As [`Database::status_list_entries`], with the version the entries
    /// are at least as new as: a list built from them may be kept while
    /// [`Database::status_list_version`] answers that version.
    pub async fn status_list_snapshot(
        &self,
        uri: &str,
    ) -> Result<(StatusListVersion, Vec<u64>), StoreError> {
        let uri = uri.to_owned();
        on_backend!(self, read, |x| snapshot(x, &uri))
    }
}
