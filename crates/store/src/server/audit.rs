//! The tamper-evident audit trail's tables (migration 0009): `audit_log`
//! keeps each record as the exact line it was hashed as, `audit_heads`
//! each chain's last `seq` and hash, updated in the transaction that
//! appends (so a tail cut off the log shows). The chain itself — sealing
//! and verifying — is passport-audit's; this stores and reads it.

use super::exec::{Exec, Row};
#[cfg(feature = "postgres")]
use super::postgres;
use super::types::PassportEntry;
use super::{Backend, Database, sqlite};
use crate::error::StoreError;
use std::ops::ControlFlow;

/// One sealed record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAppend {
    /// Its `seq` in the chain.
    pub seq: u64,
    /// Its time (seconds since the epoch), for filtering.
    pub at: i64,
    /// The exact line it was hashed as (JSON, no newline).
    pub line: String,
}

/// A chain's head as recorded: its last `seq` and that record's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// The chain.
    pub chain_id: String,
    /// Its last `seq`.
    pub seq: u64,
    /// The hash of that record's line.
    pub hash: String,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its chain.
    pub chain_id: String,
    /// Its `seq` (the row's key; the line carries its own).
    pub seq: u64,
    /// Its time.
    pub at: i64,
    /// The line as stored.
    pub line: String,
}

const INSERT: &str = "INSERT INTO audit_log (chain_id, seq, at, line) VALUES ($1, $2, $3, $4)";

/// Moves the head only from where the appender last left it: two writers
/// on one chain (which random chain ids rule out) would fail here rather
/// than fork it.
const MOVE_HEAD: &str = "INSERT INTO audit_heads (chain_id, seq, hash, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (chain_id) DO UPDATE \
     SET seq = excluded.seq, hash = excluded.hash, updated_at = excluded.updated_at \
     WHERE audit_heads.seq = $5";

const HEADS: &str = "SELECT chain_id, seq, hash FROM audit_heads ORDER BY chain_id";

const PAGE: &str = "SELECT chain_id, seq, at, line FROM audit_log \
     WHERE (chain_id > $1 OR (chain_id = $1 AND seq > $2)) AND at >= $3 AND at <= $4 \
     ORDER BY chain_id, seq LIMIT $5";

/// The newest rows by time (then chain and seq, newest first): the
/// `audit_log_at` index, read backwards for `LIMIT` rows.
const NEWEST: &str = "SELECT chain_id, seq, at, line FROM audit_log \
     ORDER BY at DESC, chain_id DESC, seq DESC LIMIT $1";

fn int(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("audit seq {v}")))
}

fn uint(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("audit seq {v}")))
}

async fn append<E: Exec>(
    x: &mut E,
    chain_id: &str,
    records: &[AuditAppend],
    head_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(());
    };
    for r in records {
        x.exec(
            INSERT,
            &[
                chain_id.into(),
                int(r.seq)?.into(),
                r.at.into(),
                r.line.as_str().into(),
            ],
        )
        .await?;
    }
    let moved = x
        .exec(
            MOVE_HEAD,
            &[
                chain_id.into(),
                int(last.seq)?.into(),
                head_hash.into(),
                now.into(),
                int(first.seq.saturating_sub(1))?.into(),
            ],
        )
        .await?;
    if moved != 1 {
        return Err(StoreError::Corrupt(format!(
            "the head of audit chain {chain_id} is not at {}",
            first.seq.saturating_sub(1)
        )));
    }
    Ok(())
}

/// Records the passports `issued` (as [`Database::record_issued`] does,
/// each refused alone on its own grounds), then appends the audit records
/// `seal` returns for those recorded (it is told, in order, which were),
/// in one transaction.
async fn issue_and_append<E: Exec, F>(
    x: &mut E,
    chain_id: &str,
    issued: &[PassportEntry],
    seal: F,
    now: i64,
) -> Result<Vec<Result<(), StoreError>>, StoreError>
where
    F: FnOnce(&[bool]) -> Result<(Vec<AuditAppend>, String), StoreError>,
{
    let mut results = Vec::with_capacity(issued.len());
    for entry in issued {
        // a refusal writes nothing (a read, or an insert of no row), so
        // the transaction goes on for the others
        results.push(match super::ops::record_issued(x, entry).await {
            Ok(()) => Ok(()),
            Err(
                e @ (StoreError::ParentRevoked(_)
                | StoreError::ActorRevoked(_)
                | StoreError::UnknownRecord(_)
                | StoreError::DuplicatePassport(_)),
            ) => Err(e),
            Err(e) => return Err(e),
        });
    }
    let recorded: Vec<bool> = results.iter().map(Result::is_ok).collect();
    let (records, head_hash) = seal(&recorded)?;
    append(x, chain_id, &records, &head_hash, now).await?;
    Ok(results)
}

/// Rows read per page when verifying or exporting.
const PAGE_SIZE: u32 = 1000;

fn row(r: &Row) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        chain_id: r.text(0)?,
        seq: uint(r.int(1)?)?,
        at: r.int(2)?,
        line: r.text(3)?,
    })
}

impl Database {
    /// Appends sealed records to the chain `chain_id` and moves its head to
    /// the last of them (`head_hash`), in one transaction, durably. The
    /// first record must follow the recorded head (a new chain starts at
    /// seq 1); otherwise nothing is stored ([`StoreError::Corrupt`]), as
    /// for a `seq` already taken.
    pub async fn append_audit(
        &self,
        chain_id: &str,
        records: Vec<AuditAppend>,
        head_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (chain_id, head_hash) = (chain_id.to_owned(), head_hash.to_owned());
        on_backend!(self, write, |x| append(
            x, &chain_id, &records, &head_hash, now
        ))
    }

    /// Records the passports `issued` and appends audit records to the
    /// chain `chain_id`, in one transaction, durably — one commit where
    /// [`Database::record_issued`] then [`Database::append_audit`] take
    /// two. Each passport is checked as [`Database::record_issued`] checks
    /// it; `seal` is then told which were recorded (in the order given)
    /// and answers the sealed records to append and the new head's hash
    /// (it seals the records of those recorded and of anything else, never
    /// of one refused). Answers each passport's outcome; an error of the
    /// transaction (or of `seal`) stores nothing.
    pub async fn record_issued_audited<F>(
        &self,
        chain_id: &str,
        issued: Vec<PassportEntry>,
        seal: F,
        now: i64,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError>
    where
        F: FnOnce(&[bool]) -> Result<(Vec<AuditAppend>, String), StoreError> + Send + 'static,
    {
        let chain_id = chain_id.to_owned();
        on_backend!(self, write, |x| issue_and_append(
            x, &chain_id, &issued, seal, now
        ))
    }

    /// Every chain's recorded head.
    pub async fn audit_heads(&self) -> Result<Vec<AuditHead>, StoreError> {
        on_backend!(self, read, |x| async move {
            x.query(HEADS, &[])
                .await?
                .iter()
                .map(|r| {
                    Ok(AuditHead {
                        chain_id: r.text(0)?,
                        seq: uint(r.int(1)?)?,
                        hash: r.text(2)?,
                    })
                })
                .collect()
        })
    }

    /// Up to `limit` stored records after the position `after` (chain id,
    /// seq; `None` from the start), ordered by chain then seq, whose time
    /// is within `since..=until`: read page by page to verify or export.
    pub async fn audit_page(
        &self,
        after: Option<(String, u64)>,
        since: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let (chain, seq) = after.unwrap_or_default();
        let seq = int(seq)?;
        on_backend!(self, read, |x| async move {
            x.query(
                PAGE,
                &[
                    chain.into(),
                    seq.into(),
                    since.into(),
                    until.into(),
                    i64::from(limit).into(),
                ],
            )
            .await?
            .iter()
            .map(row)
            .collect()
        })
    }

    /// The newest `limit` stored records by time, newest first: what a
    /// live view shows, however many records older windows hold.
    pub async fn newest_audit(&self, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        on_backend!(self, read, |x| async move {
            x.query(NEWEST, &[i64::from(limit).into()])
                .await?
                .iter()
                .map(row)
                .collect()
        })
    }

    /// Verifies every audit chain stored here (passport-audit's
    /// [`Verifier`](passport_audit::chain::Verifier) over the lines as
    /// stored, chain by chain in `seq` order), against the recorded heads:
    /// besides an edited, dropped, reordered, duplicated or inserted
    /// record, a truncated tail and an edited last record show as a
    /// mismatch with the head. Reads page by page.
    pub async fn verify_audit(&self) -> Result<passport_audit::chain::Report, StoreError> {
        // the heads first: records appended after this read are past them
        // and are not read below
        let heads: std::collections::BTreeMap<String, passport_audit::chain::Head> = self
            .audit_heads()
            .await?
            .into_iter()
            .map(|h| {
                (
                    h.chain_id,
                    passport_audit::chain::Head {
                        seq: h.seq,
                        hash: h.hash,
                    },
                )
            })
            .collect();
        let mut verifier = passport_audit::chain::Verifier::default();
        let mut position = 0;
        // rows past the head read first: the first seq of each chain
        let mut past: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        self.each_audit_row(i64::MIN, i64::MAX, |r| {
            position += 1;
            match heads.get(&r.chain_id) {
                Some(h) if r.seq > h.seq => {
                    past.entry(r.chain_id).or_insert(r.seq);
                }
                _ => verifier.push(position, r.line.as_bytes()),
            }
        })
        .await?;
        // Rows past the heads read first, and chains without a head, were
        // appended since (the heads read again cover them) or never moved
        // a head: inserted, or their head row deleted.
        let now: std::collections::BTreeMap<String, u64> = self
            .audit_heads()
            .await?
            .into_iter()
            .map(|h| (h.chain_id, h.seq))
            .collect();
        let mut report = verifier.finish(&heads);
        report
            .chains
            .retain(|c| heads.contains_key(&c.chain) || !now.contains_key(&c.chain));
        for c in &mut report.chains {
            if c.result.is_err() {
                continue;
            }
            let break_at = |seq, kind| passport_audit::chain::ChainBreak {
                chain: c.chain.clone(),
                seq,
                kind,
                line: None,
            };
            if !heads.contains_key(&c.chain) {
                c.result = Err(break_at(
                    c.head.seq,
                    passport_audit::chain::BreakKind::NoHead,
                ));
            } else if let Some(&seq) = past.get(&c.chain)
                && now.get(&c.chain).is_none_or(|&h| seq > h)
            {
                c.result = Err(break_at(seq, passport_audit::chain::BreakKind::Inserted));
            }
        }
        Ok(report)
    }

    /// Calls `f` with every stored record whose time is within
    /// `since..=until`, by chain then `seq`, page by page.
    pub async fn each_audit_row(
        &self,
        since: i64,
        until: i64,
        mut f: impl FnMut(AuditRow),
    ) -> Result<(), StoreError> {
        self.scan_audit_rows(since, until, |row| {
            f(row);
            ControlFlow::Continue(())
        })
        .await
    }

    /// As [`Database::each_audit_row`], until `f` breaks: no page is read
    /// after that.
    async fn scan_audit_rows(
        &self,
        since: i64,
        until: i64,
        mut f: impl FnMut(AuditRow) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut after = None;
        loop {
            let page = self
                .audit_page(after.take(), since, until, PAGE_SIZE)
                .await?;
            let full = page.len() == PAGE_SIZE as usize;
            if let Some(last) = page.last() {
                after = Some((last.chain_id.clone(), last.seq));
            }
            for row in page {
                if f(row).is_break() {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// The stored lines `filter` accepts, verbatim, by chain then seq (at
    /// most `limit`): what `passport audit export` writes and the admin
    /// API answers. The time bounds are applied by the query.
    pub async fn export_audit(
        &self,
        filter: &passport_audit::Filter,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Stops reading at the limit: an export of the first lines of a
        // million-record trail reads a page or two, not the whole table.
        self.each_exported_line(filter, |line| {
            out.push(line);
            if out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await?;
        Ok(out)
    }

    /// Calls `f` with each stored line `filter` accepts, verbatim, by chain
    /// then seq, until `f` breaks: [`Database::export_audit`] without
    /// holding the lines (the CLI writes each as it comes).
    pub async fn each_exported_line(
        &self,
        filter: &passport_audit::Filter,
        mut f: impl FnMut(String) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.scan_audit_rows(
            filter.since.unwrap_or(i64::MIN),
            filter.until.unwrap_or(i64::MAX),
            |row| {
                if serde_json::from_str::<passport_audit::AuditRecord>(&row.line)
                    .is_ok_and(|r| filter.accepts(&r))
                {
                    f(row.line)
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .await
    }

    /// Test support, not API (hidden, may change): runs `sql` (a script
    /// without parameters) in a transaction, to tamper with stored state
    /// in tests.
    #[doc(hidden)]
    pub async fn execute_script_for_tests(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        on_backend!(
            self,
            write,
            |x| async move { x.exec(&sql, &[]).await.map(drop) }
        )
    }
}
