//! What the token service's status-list endpoint reads: the revoked places
//! of one list and the size of its index space.

use super::exec::Val;
#[cfg(feature = "postgres")]
use super::postgres;
use super::{Backend, Database, sqlite};
use crate::error::StoreError;

const ALLOCATED: &str = "SELECT next_idx FROM status_allocation WHERE uri = $1";

async fn revoked<E: super::exec::Exec>(
    x: &mut E,
    uri: &str,
) -> Result<(u64, Vec<u64>), StoreError> {
    let params = [Val::from(uri)];
    let allocated = match x.query(ALLOCATED, &params).await?.into_iter().next() {
        Some(row) => index(row.int(0)?)?,
        None => 0,
    };
    // The allocator draws each index below the space for the count at that
    // time; the space only grows with the count, so every index handed out
    // is below the space for the count now.
    let space = crate::status::space_for(allocated, crate::INITIAL_INDEX_SPACE)
        .unwrap_or(crate::MAX_INDEX_SPACE);
    let revoked = super::ops::revoked_status_indices(x, uri).await?;
    Ok((space, revoked))
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
}
