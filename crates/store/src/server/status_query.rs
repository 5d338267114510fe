//! What the token service's status-list endpoint reads: the revoked places
//! of one list and how many places it has handed out.

use super::exec::Val;
#[cfg(feature = "postgres")]
use super::postgres;
use super::{Backend, Database, sqlite};
use crate::error::StoreError;

const REVOKED_INDICES: &str = "SELECT status_idx FROM registry \
     WHERE status_uri = $1 AND state = 'revoked' AND status_idx IS NOT NULL \
     ORDER BY status_idx";

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
    let revoked = x
        .query(REVOKED_INDICES, &params)
        .await?
        .iter()
        .map(|r| index(r.int(0)?))
        .collect::<Result<Vec<u64>, StoreError>>()?;
    Ok((allocated, revoked))
}

fn index(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("status index {v}")))
}

impl Database {
    /// The status list `uri` as the registry has it: how many places were
    /// handed out (every index is below it) and the indices of the revoked
    /// passports, ascending — what a Token Status List publishes.
    pub async fn status_list_entries(&self, uri: &str) -> Result<(u64, Vec<u64>), StoreError> {
        let uri = uri.to_owned();
        on_backend!(self, read, |x| revoked(x, &uri))
    }
}
