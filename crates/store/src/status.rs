//! Status-list allocation and revocation: one row per index ever handed
//! out, drawn at random from a space that doubles when half of it is used.

use passport_jose::SigningKey;
use passport_status::{ALLOCATOR_BITS, RecordRef, Status, StatusList, StatusListToken};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};

use crate::error::{StoreError, shorten};
use crate::keys::{RETENTION_SKEW, Taken};
use crate::store::Store;

pub use passport_status::{INITIAL_INDEX_SPACE, MAX_INDEX_SPACE};

/// One allocated index: which passport it belongs to and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusRecord {
    /// The index in the status list.
    pub idx: u64,
    /// The passport's `jti`.
    pub jti: String,
    /// The agent holding it.
    pub agent_id: String,
    /// Its expiry.
    pub exp: i64,
    /// Its current status.
    pub status: Status,
    /// When the status last changed, if it ever did.
    pub changed_at: Option<i64>,
}

impl StatusRecord {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<(StatusRecord, u8)> {
        let idx: i64 = row.get("idx")?;
        Ok((
            StatusRecord {
                idx: u64::try_from(idx).unwrap_or(u64::MAX),
                jti: row.get("jti")?,
                agent_id: row.get("agent_id")?,
                exp: row.get("exp")?,
                status: Status::Valid,
                changed_at: row.get("changed_at")?,
            },
            row.get("status")?,
        ))
    }
}

fn finish((mut record, value): (StatusRecord, u8)) -> Result<StatusRecord, StoreError> {
    record.status = Status::from_value(value).ok_or_else(|| {
        StoreError::Corrupt(format!("index {} has status value {value}", record.idx))
    })?;
    Ok(record)
}

/// The outcome of [`Store::change_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The record before the change.
    pub before: StatusRecord,
    /// The record after it; `None` when the change was refused (revocation
    /// is final; only a suspension can be lifted).
    pub after: Option<StatusRecord>,
}

/// One index reserved inside a signing transaction, handed out at most once.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub(crate) list: i64,
    pub(crate) idx: u64,
    pub(crate) uri: String,
    pub(crate) taken: Taken,
}

const RECORD_COLUMNS: &str = "idx, jti, agent_id, exp, status, changed_at";

/// The list's id, space and allocation count, creating its row.
fn list_row(tx: &Transaction<'_>, uri: &str) -> Result<(i64, u64, u64), StoreError> {
    if uri.is_empty() {
        return Err(StoreError::Corrupt("empty status list URI".into()));
    }
    tx.execute(
        "INSERT INTO status_lists (uri, space) VALUES (?1, ?2) ON CONFLICT (uri) DO NOTHING",
        params![uri, INITIAL_INDEX_SPACE as i64],
    )?;
    let (id, space, allocated): (i64, i64, i64) = tx.query_row(
        "SELECT id, space, allocated FROM status_lists WHERE uri = ?1",
        [uri],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let space = u64::try_from(space).unwrap_or(0);
    if !space.is_power_of_two() || space > MAX_INDEX_SPACE {
        return Err(StoreError::Corrupt(format!("invalid index space {space}")));
    }
    Ok((id, space, u64::try_from(allocated).unwrap_or(0)))
}

fn list_id(tx: &Transaction<'_>, uri: &str) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_row("SELECT id FROM status_lists WHERE uri = ?1", [uri], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The index space (a power of two, at least `space`) that keeps `count`
/// allocations to at most half of it; `None` past [`MAX_INDEX_SPACE`].
pub(crate) fn space_for(count: u64, mut space: u64) -> Option<u64> {
    while count.saturating_mul(2) > space && space < MAX_INDEX_SPACE {
        space *= 2;
    }
    (count.saturating_mul(2) <= space).then_some(space)
}

/// A uniformly random index below `space` (a power of two).
pub(crate) fn random_below(space: u64) -> Result<u64, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::RandomUnavailable(e.to_string()))?;
    Ok(u64::from_le_bytes(bytes) & space.wrapping_sub(1))
}

/// Reserves a uniformly random index never handed out before, growing the
/// space first if this allocation would fill more than half of it.
pub(crate) fn reserve(tx: &Transaction<'_>, uri: &str) -> Result<Reservation, StoreError> {
    let (list, space, allocated) = list_row(tx, uri)?;
    let space = space_for(allocated.saturating_add(1), space)
        .ok_or(StoreError::IndexSpaceExhausted { allocated })?;
    let taken = |idx: u64| -> Result<bool, StoreError> {
        Ok(tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM status WHERE list = ?1 AND idx = ?2)",
            params![list, idx as i64],
            |r| r.get(0),
        )?)
    };
    let mut chosen = None;
    // At most half the space is used: 64 misses have probability ≤ 2^-64.
    for _ in 0..64 {
        let idx = random_below(space)?;
        if !taken(idx)? {
            chosen = Some(idx);
            break;
        }
    }
    let idx = match chosen {
        Some(idx) => idx,
        None => tx
            .query_row(
                "SELECT n FROM (SELECT 0 AS n UNION ALL SELECT idx + 1 FROM status WHERE list = ?1) c
                 WHERE n < ?2 AND NOT EXISTS (SELECT 1 FROM status WHERE list = ?1 AND idx = c.n)
                 LIMIT 1",
                params![list, space as i64],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .and_then(|n| u64::try_from(n).ok())
            .ok_or(StoreError::IndexSpaceExhausted { allocated })?,
    };
    Ok(Reservation {
        list,
        idx,
        uri: uri.to_owned(),
        taken: Taken::default(),
    })
}

/// Writes the record of a reservation the issuer used (none if it did not).
pub(crate) fn record_reservation(
    tx: &Transaction<'_>,
    reservation: &Reservation,
) -> Result<(), StoreError> {
    let taken = reservation
        .taken
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let Some((jti, agent_id, exp)) = taken else {
        return Ok(());
    };
    if jti.is_empty() {
        return Err(StoreError::Corrupt("empty jti".into()));
    }
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM status WHERE jti = ?1)",
        [&jti],
        |r| r.get(0),
    )?;
    if exists {
        return Err(StoreError::DuplicateJti(shorten(&jti)));
    }
    tx.execute(
        "INSERT INTO status (list, idx, jti, agent_id, exp) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![reservation.list, reservation.idx as i64, jti, agent_id, exp],
    )?;
    // Grow the space as `reserve` decided, and count the allocation.
    let (_, space, allocated) = list_row(tx, &reservation.uri)?;
    let count = allocated.saturating_add(1);
    let space = space_for(count, space).unwrap_or(space);
    tx.execute(
        "UPDATE status_lists SET space = ?2, allocated = ?3 WHERE id = ?1",
        params![reservation.list, space as i64, count as i64],
    )?;
    Ok(())
}

/// Clears the `jti` and agent of records expired beyond the largest clock
/// skew; their indices stay taken.
pub(crate) fn prune_status(tx: &Transaction<'_>, now: i64) -> Result<usize, StoreError> {
    Ok(tx.execute(
        // `exp < now - skew`, not `exp + skew < now`: the bare column is
        // what lets SQLite range-scan `status_live_by_exp` instead of every row.
        "UPDATE status SET jti = NULL, agent_id = NULL WHERE jti IS NOT NULL AND exp < ?1",
        params![now.saturating_sub(RETENTION_SKEW)],
    )?)
}

fn record_in(
    tx: &Transaction<'_>,
    uri: &str,
    target: RecordRef<'_>,
) -> Result<Option<StatusRecord>, StoreError> {
    let Some(list) = list_id(tx, uri)? else {
        return Ok(None);
    };
    let row = match target {
        RecordRef::Jti(jti) => tx.query_row(
            &format!("SELECT {RECORD_COLUMNS} FROM status WHERE list = ?1 AND jti = ?2"),
            params![list, jti],
            StatusRecord::from_row,
        ),
        RecordRef::Index(idx) => tx.query_row(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM status WHERE list = ?1 AND idx = ?2 AND jti IS NOT NULL"
            ),
            params![list, i64::try_from(idx).unwrap_or(-1)],
            StatusRecord::from_row,
        ),
    };
    row.optional()?.map(finish).transpose()
}

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Pruned {
    /// Status records whose `jti` and agent were cleared.
    pub status_records: usize,
    /// Retired keys deleted.
    pub keys: usize,
}

impl Store {
    /// The record named by `target` in the list `uri` (a pruned record is
    /// not found).
    pub fn status_record(
        &self,
        uri: &str,
        target: RecordRef<'_>,
    ) -> Result<Option<StatusRecord>, StoreError> {
        self.read(|tx| record_in(tx, uri, target))
    }

    /// Changes the status of the record named by `target`, in one
    /// transaction that reads the status it changes: [`Status::Invalid`]
    /// revokes, [`Status::Suspended`] suspends, [`Status::Valid`] reinstates.
    /// Revocation is final and only a suspension can be lifted; a change
    /// those rules forbid is refused (`after` is `None`).
    pub fn change_status(
        &self,
        uri: &str,
        target: RecordRef<'_>,
        wanted: Status,
        now: i64,
    ) -> Result<Transition, StoreError> {
        self.write(|tx| {
            let before = record_in(tx, uri, target)?
                .ok_or_else(|| StoreError::UnknownRecord(target.to_string()))?;
            let allowed = match (before.status, wanted) {
                (Status::Invalid, _) => wanted == Status::Invalid,
                (current, Status::Valid) => current == Status::Suspended,
                _ => true,
            };
            if !allowed {
                return Ok(Transition {
                    before,
                    after: None,
                });
            }
            if before.status != wanted {
                tx.execute(
                    "UPDATE status SET status = ?2, changed_at = ?3 WHERE jti = ?1",
                    params![before.jti, wanted.value(), now],
                )?;
            }
            let after = record_in(tx, uri, RecordRef::Jti(&before.jti))?;
            Ok(Transition { before, after })
        })
    }

    /// Every live record of the list `uri` whose status is not valid
    /// (revoked or suspended), by index.
    pub fn revoked(&self, uri: &str) -> Result<Vec<StatusRecord>, StoreError> {
        self.read(|tx| revoked_in(tx, uri))
    }

    /// Every live record of the list `uri`, by index (for tests and audits;
    /// linear in the number of records).
    pub fn status_records(&self, uri: &str) -> Result<Vec<StatusRecord>, StoreError> {
        self.read(|tx| {
            let Some(list) = list_id(tx, uri)? else {
                return Ok(Vec::new());
            };
            let mut stmt = tx.prepare(&format!(
                "SELECT {RECORD_COLUMNS} FROM status WHERE list = ?1 AND jti IS NOT NULL ORDER BY idx"
            ))?;
            let rows = stmt.query_map([list], StatusRecord::from_row)?;
            rows.map(|r| finish(r?)).collect()
        })
    }

    /// The size of the index space of the list `uri` (the published list's
    /// length); [`INITIAL_INDEX_SPACE`] for a list with no allocation yet.
    pub fn index_space(&self, uri: &str) -> Result<u64, StoreError> {
        self.read(|tx| index_space_in(tx, uri))
    }

    /// The status list to publish for `uri`: 2 bits per entry over the
    /// whole index space, each live non-valid record set to its status.
    pub fn status_list(&self, uri: &str) -> Result<StatusList, StoreError> {
        self.read(|tx| status_list_in(tx, uri))
    }

    /// The signed Status List Token for `uri`: issued at `now`, expiring
    /// `lifetime` seconds later, to be cached at most `ttl` seconds.
    ///
    /// Each publication of a list gets a strictly later `iat` than the one
    /// before (`now`, or one second after the last if that is not later),
    /// and the list is read in the same transaction that takes the `iat`: a
    /// later `iat` always means a list at least as recent, so a verifier's
    /// rollback check (it refuses a list older than one it has seen) can
    /// never be fooled by two lists of the same second.
    pub fn publish(
        &self,
        uri: &str,
        key: &SigningKey,
        now: i64,
        ttl: u64,
        lifetime: u64,
    ) -> Result<String, StoreError> {
        let (list, iat) = self.write(|tx| {
            let last: Option<i64> = tx
                .query_row(
                    "SELECT last_iat FROM published_lists WHERE uri = ?1",
                    [uri],
                    |r| r.get(0),
                )
                .optional()?;
            let iat = last.map_or(now, |last| now.max(last.saturating_add(1)));
            tx.execute(
                "INSERT INTO published_lists (uri, last_iat) VALUES (?1, ?2)
                 ON CONFLICT (uri) DO UPDATE SET last_iat = excluded.last_iat",
                rusqlite::params![uri, iat],
            )?;
            Ok::<_, StoreError>((status_list_in(tx, uri)?, iat))
        })?;
        let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX);
        Ok(StatusListToken::sign(
            key,
            uri,
            &list,
            iat,
            iat.saturating_add(lifetime),
            ttl,
        )?)
    }

    /// Prunes what is no longer needed at `now`: status records expired
    /// beyond [`RETENTION_SKEW`] (their indices stay taken) and retired keys
    /// past their retention.
    pub fn prune(&self, now: i64) -> Result<Pruned, StoreError> {
        self.write(|tx| {
            Ok(Pruned {
                status_records: prune_status(tx, now)?,
                keys: crate::keys::prune_keys(tx, now)?,
            })
        })
    }
}

fn revoked_in(tx: &Transaction<'_>, uri: &str) -> Result<Vec<StatusRecord>, StoreError> {
    let Some(list) = list_id(tx, uri)? else {
        return Ok(Vec::new());
    };
    let mut stmt = tx.prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM status
         WHERE list = ?1 AND status != 0 AND jti IS NOT NULL ORDER BY idx"
    ))?;
    let rows = stmt.query_map([list], StatusRecord::from_row)?;
    rows.map(|r| finish(r?)).collect()
}

fn index_space_in(tx: &Transaction<'_>, uri: &str) -> Result<u64, StoreError> {
    let space: Option<i64> = tx
        .query_row(
            "SELECT space FROM status_lists WHERE uri = ?1",
            [uri],
            |r| r.get(0),
        )
        .optional()?;
    Ok(space
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(INITIAL_INDEX_SPACE))
}

/// The list for `uri` as this transaction sees it.
fn status_list_in(tx: &Transaction<'_>, uri: &str) -> Result<StatusList, StoreError> {
    let mut list = StatusList::with_capacity(ALLOCATOR_BITS, index_space_in(tx, uri)?)?;
    for r in revoked_in(tx, uri)? {
        list.set(r.idx, r.status.value())?;
    }
    Ok(list)
}
