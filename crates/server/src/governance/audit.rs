//! The server's tamper-evident audit trail (issue 14): every issuance,
//! revocation, governance refusal, approval decision, kill-switch and
//! administrative action, as a [`passport_audit::AuditRecord`] sealed
//! into this process's hash chain and stored in the database's
//! `audit_log` (the chain's head moved in the same transaction).
//!
//! One function for every module: [`record`] with an [`AuditEvent`]. It
//! returns once the record is durable. Records from concurrent requests
//! are sealed in order by one batcher task per server (the chain stays
//! linear) and stored one transaction per batch. Each stored record is
//! also published to [`subscribe`]rs (the dashboard's live stream).
//!
//! The chain's id is random per server process: several instances on one
//! database keep one chain each, and a restarted server starts a new one.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use passport_audit::chain::{ChainState, Head};
pub(crate) use passport_audit::{Action, Outcome};
use passport_audit::{AuditRecord, Filter, LinkRef, clip};
use passport_store::StoreError;
use passport_store::server::{AuditAppend, PassportEntry};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::roles::{AdminActor, AdminRole};
use crate::oauth::{OAuthError, codes};
use crate::service::{Inner, Server};

/// The most records stored in one transaction.
const MAX_BATCH: usize = 256;
/// Records kept for a slow live-stream subscriber before it lags.
const LIVE_CAPACITY: usize = 1024;
/// The most records one export answers.
pub(crate) const MAX_EXPORT: usize = 10_000;

/// Something to audit: an action, its outcome, and who and what it
/// concerns — identifiers only, never a token.
///
/// ```ignore
/// audit::record(server, AuditEvent::new(Action::KillSwitchEngaged, Outcome::Done)
///     .actor(&actor.principal)
///     .agent("bot")).await?;
/// ```
#[derive(Debug, Clone)]
pub(crate) struct AuditEvent {
    record: AuditRecord,
}

impl AuditEvent {
    /// An event with nothing named yet.
    pub(crate) fn new(action: Action, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            record: AuditRecord::new(0, action, outcome),
        }
    }

    /// Who acted: an administrator's principal or the asking client.
    pub(crate) fn actor(mut self, actor: &str) -> AuditEvent {
        self.record.actor = Some(clip(actor));
        self
    }

    /// The agent identity concerned.
    pub(crate) fn agent(mut self, agent_id: &str) -> AuditEvent {
        self.record.agent_id = Some(clip(agent_id));
        self
    }

    /// The principal concerned (`sub`).
    pub(crate) fn principal(mut self, principal: &str) -> AuditEvent {
        self.record.sub = Some(clip(principal));
        self
    }

    /// The client concerned.
    pub(crate) fn client(mut self, client_id: &str) -> AuditEvent {
        self.record.client_id = Some(clip(client_id));
        self
    }

    /// The passport concerned and its holder.
    pub(crate) fn passport(mut self, jti: &str, agent_id: &str) -> AuditEvent {
        self.record.links.push(LinkRef {
            jti: clip(jti),
            agent_id: clip(agent_id),
        });
        self.record.agent_id = Some(clip(agent_id));
        self
    }

    /// The audience concerned.
    pub(crate) fn audience(mut self, audience: &str) -> AuditEvent {
        self.record.aud = Some(clip(audience));
        self
    }

    /// The environment that applied.
    pub(crate) fn environment(mut self, environment: Option<&str>) -> AuditEvent {
        self.record.environment = environment.map(clip);
        self
    }

    /// The approval concerned or cited.
    pub(crate) fn approval(mut self, approval_id: Option<&str>) -> AuditEvent {
        self.record.approval_id = approval_id.map(clip);
        self
    }

    /// The rule that decided.
    pub(crate) fn rule(mut self, rule: &str) -> AuditEvent {
        self.record.rule = Some(clip(rule));
        self
    }

    /// The stable error code of a refusal or failure.
    pub(crate) fn error(mut self, code: &str) -> AuditEvent {
        self.record.error = Some(clip(code));
        self
    }

    /// For a cascaded revocation: the passport whose revocation reached it.
    pub(crate) fn via(mut self, jti: &str) -> AuditEvent {
        self.record.via = Some(clip(jti));
        self
    }

    /// A summary of the policy or change (no secrets).
    pub(crate) fn detail(mut self, detail: Value) -> AuditEvent {
        self.record.policy = Some(detail);
        self
    }
}

/// A stored record, as the live stream publishes it.
#[derive(Debug, Clone)]
pub(crate) struct AuditEntry {
    /// The line as stored (and hashed).
    pub(crate) line: Arc<str>,
    /// The record it holds.
    pub(crate) record: AuditRecord,
}

/// A record to store and, for an issuance, the passport to record with
/// it; the batcher answers on `done`.
struct Job {
    record: AuditRecord,
    issued: Option<PassportEntry>,
    done: oneshot::Sender<Stored>,
}

/// The batcher's answer to one [`Job`].
#[derive(Debug)]
enum Stored {
    /// Durable (with its passport).
    Done,
    /// Nothing of it stored: the database failed.
    Failed,
    /// Its passport was refused by the registry (nothing of it stored).
    Refused(StoreError),
}

/// The per-server audit state kept in [`Inner`].
#[derive(Debug)]
pub(crate) struct AuditLog {
    chain_id: String,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
    live: broadcast::Sender<Arc<AuditEntry>>,
}

impl AuditLog {
    /// A new chain with a random id.
    pub(crate) fn new() -> Result<AuditLog, getrandom::Error> {
        Ok(AuditLog {
            chain_id: crate::service::random_token()?,
            queue: OnceLock::new(),
            live: broadcast::channel(LIVE_CAPACITY).0,
        })
    }

    /// This process's chain id.
    pub(crate) fn chain_id(&self) -> &str {
        &self.chain_id
    }
}

/// Records `event` in the audit trail, durably, before returning.
///
/// # Errors
/// 500 `server_error` when it could not be stored: the caller must not act
/// as if it had been audited (an issuance is not handed out).
pub(crate) async fn record(server: &Server, event: AuditEvent) -> Result<(), OAuthError> {
    record_all(server, vec![event]).await
}

/// Records a refusal (or a request left pending). A refusal stays a
/// refusal: when the record cannot be stored this is logged (at error
/// level, naming the action) and the caller answers its refusal as it
/// would have.
pub(crate) async fn refusal(server: &Server, event: AuditEvent) {
    let action = event.record.action;
    if record(server, event).await.is_err() {
        tracing::error!(
            ?action,
            "a refusal could not be audited; it is answered all the same"
        );
    }
}

/// Records several events, in this order, in one batch (one transaction
/// unless the batch is full), durably, before returning.
///
/// # Errors
/// As [`record`]; some of them may have been stored.
pub(crate) async fn record_all(server: &Server, events: Vec<AuditEvent>) -> Result<(), OAuthError> {
    let jobs = events.into_iter().map(|event| (event, None)).collect();
    for stored in submit(server, jobs).await? {
        if !matches!(stored, Stored::Done) {
            return Err(failed());
        }
    }
    Ok(())
}

/// Records the passport `entry` just minted in the registry and `event`,
/// its audit record, in one transaction (shared with the records and
/// passports of concurrent requests: one commit for them all), durably,
/// before returning. Nothing is answered before both are stored; neither
/// is stored without the other.
///
/// # Errors
/// 500 `server_error` when they could not be stored; the inner error when
/// the registry refused the passport (`ParentRevoked`, …: see
/// `Database::record_issued`) — its audit record is then not stored.
pub(crate) async fn record_issued(
    server: &Server,
    entry: PassportEntry,
    event: AuditEvent,
) -> Result<Result<(), StoreError>, OAuthError> {
    match submit(server, vec![(event, Some(entry))]).await?.pop() {
        Some(Stored::Done) => Ok(Ok(())),
        Some(Stored::Refused(e)) => Ok(Err(e)),
        Some(Stored::Failed) | None => Err(failed()),
    }
}

fn failed() -> OAuthError {
    tracing::error!("the audit trail could not be written");
    OAuthError::new(
        500,
        codes::SERVER_ERROR,
        "the audit trail could not be written",
    )
}

/// Queues `jobs` to the batcher, in this order, and waits for each answer.
async fn submit(
    server: &Server,
    jobs: Vec<(AuditEvent, Option<PassportEntry>)>,
) -> Result<Vec<Stored>, OAuthError> {
    let log = &server.inner.audit;
    let queue = log.queue.get_or_init(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batcher(
            Arc::downgrade(&server.inner),
            log.chain_id.clone(),
            rx,
        ));
        tx
    });
    let now = server.inner.clock.now();
    let mut answers = Vec::with_capacity(jobs.len());
    for (event, issued) in jobs {
        let mut record = event.record;
        record.time = now;
        let (done, stored) = oneshot::channel();
        queue
            .send(Job {
                record,
                issued,
                done,
            })
            .map_err(|_| failed())?;
        answers.push(stored);
    }
    let mut out = Vec::with_capacity(answers.len());
    for stored in answers {
        out.push(stored.await.unwrap_or(Stored::Failed));
    }
    Ok(out)
}

/// Records the revocations `revoked` (as `Database::revoke_cascade`
/// answers: the one named first, then its descendants) made at the request
/// of `actor`; each cascaded one names the passport whose revocation
/// reached it (`via`: the one named; with several named, its parent or the
/// actor passport it was minted for) and its holder (as the revoking
/// statement returned it: no read per passport, however many).
///
/// # Errors
/// As [`record`].
pub(crate) async fn revoked(
    server: &Server,
    actor: &str,
    revoked: &[passport_store::server::Revoked],
) -> Result<(), OAuthError> {
    revoked_by_rule(server, actor, None, revoked).await
}

/// As [`revoked`], each record naming the `rule` that revoked (an
/// administrator's revocation, a kill-switch).
///
/// # Errors
/// As [`record`].
pub(crate) async fn revoked_by_rule(
    server: &Server,
    actor: &str,
    rule: Option<&str>,
    revoked: &[passport_store::server::Revoked],
) -> Result<(), OAuthError> {
    use passport_store::server::RevocationReason;
    // one passport named: its revocation reached every cascaded one;
    // several (a kill-switch): each cascaded one names its parent, or its
    // actor passport when only that was revoked here (the link the
    // cascade came down)
    let here: std::collections::HashSet<&str> = revoked.iter().map(|r| r.jti.as_str()).collect();
    let mut directs = revoked
        .iter()
        .filter(|r| r.reason == RevocationReason::Direct);
    let direct = match (directs.next(), directs.next()) {
        (Some(only), None) => Some(only.jti.clone()),
        _ => None,
    };
    let mut events = Vec::with_capacity(revoked.len());
    for r in revoked {
        let mut event = AuditEvent::new(Action::Revoke, Outcome::Done).actor(actor);
        if let Some(rule) = rule {
            event = event.rule(rule);
        }
        event = event
            .passport(&r.jti, &r.agent_id)
            .principal(&r.principal)
            .client(&r.client_id)
            .audience(&r.audience);
        let link = match (&r.parent_jti, &r.actor_jti) {
            (Some(p), Some(a)) if !here.contains(p.as_str()) && here.contains(a.as_str()) => {
                Some(a)
            }
            (parent, actor) => parent.as_ref().or(actor.as_ref()),
        };
        if r.reason == RevocationReason::Cascaded
            && let Some(via) = direct.as_ref().or(link)
        {
            event = event.via(via);
        }
        events.push(event);
    }
    record_all(server, events).await
}

/// The live stream: every record stored from now on.
pub(crate) fn subscribe(server: &Server) -> broadcast::Receiver<Arc<AuditEntry>> {
    server.inner.audit.live.subscribe()
}

/// What sealing one batch produced: the chain after it, and per job
/// whether it was kept (its passport recorded, or none) and its entry.
struct SealedBatch {
    next: ChainState,
    kept: Vec<bool>,
    entries: Vec<Arc<AuditEntry>>,
}

/// Seals the records of the jobs `kept` says to keep, after `state`.
fn seal_batch(
    mut next: ChainState,
    records: &[AuditRecord],
    kept: Vec<bool>,
) -> Result<(SealedBatch, Vec<AuditAppend>), passport_audit::AuditError> {
    let mut appends = Vec::with_capacity(records.len());
    let mut entries = Vec::with_capacity(records.len());
    for (record, _) in records.iter().zip(&kept).filter(|(_, keep)| **keep) {
        let sealed = next.seal(record)?;
        let line: Arc<str> = String::from_utf8_lossy(&sealed.line).into();
        appends.push(AuditAppend {
            seq: sealed.seq,
            at: record.time,
            line: line.to_string(),
        });
        let mut record = record.clone();
        record.chain = Some(next.chain().to_owned());
        record.seq = Some(sealed.seq);
        entries.push(Arc::new(AuditEntry { line, record }));
    }
    Ok((
        SealedBatch {
            next,
            kept,
            entries,
        },
        appends,
    ))
}

/// Records what waits — the passports of issuances and every record, the
/// records sealed in order after the registry said which passports it
/// took — in one transaction, then answers the callers.
///
/// After a batch fails the chain's position is unknown (the commit may
/// have happened and only its answer been lost): it is read again from
/// this chain's head row, before the next batch if it cannot be read at
/// once; until it is, batches fail (review 2b: a lost answer and a failed
/// read used to leave the batcher sealing a `seq` the store had, refusing
/// every record until restart).
async fn batcher(inner: Weak<Inner>, chain_id: String, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut known = Some(ChainState::new(chain_id.clone()));
    let mut batch: Vec<Job> = Vec::new();
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if known.is_none() {
            known = resume(&inner, &chain_id).await;
        }
        let Some(state) = known.take() else {
            drop(inner);
            for job in batch.drain(..) {
                let _ = job.done.send(Stored::Failed);
            }
            continue;
        };
        let is_issue: Vec<bool> = batch.iter().map(|j| j.issued.is_some()).collect();
        let issued: Vec<PassportEntry> = batch.iter_mut().filter_map(|j| j.issued.take()).collect();
        let records: Vec<AuditRecord> = batch.iter().map(|j| j.record.clone()).collect();
        // the sealing runs inside the transaction; what it produced is
        // left here for after the commit
        let slot: Arc<Mutex<Option<SealedBatch>>> = Arc::default();
        let seal = {
            let (slot, start) = (Arc::clone(&slot), state.clone());
            move |recorded: &[bool]| {
                let mut recorded = recorded.iter();
                let kept = is_issue
                    .iter()
                    .map(|&issue| !issue || recorded.next().copied().unwrap_or(false))
                    .collect();
                let (sealed, appends) = seal_batch(start, &records, kept)
                    .map_err(|e| StoreError::Corrupt(format!("audit records not sealed: {e}")))?;
                let hash = sealed.next.head().hash.clone();
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(sealed);
                Ok((appends, hash))
            }
        };
        let now = inner.clock.now();
        let chain = state.chain().to_owned();
        let result = inner
            .db
            .record_issued_audited(&chain, issued, seal, now)
            .await;
        let sealed = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        let (sealed, mut refusals) = match (result, sealed) {
            (Ok(results), Some(sealed)) => (Some(sealed), results),
            (Err(e), sealed) => {
                tracing::error!(error = %e, "audit records could not be stored");
                // the commit's answer may be what was lost: the head row
                // says where the chain stands, and whether it happened (a
                // refusal's reason is lost); unread, it is read before the
                // next batch
                known = resume(&inner, &chain_id).await;
                let stored =
                    sealed.filter(|s| known.as_ref().is_some_and(|k| k.head() == s.next.head()));
                (stored, Vec::new())
            }
            (Ok(_), None) => {
                // nothing sealed, nothing stored: the chain stands
                known = Some(state);
                (None, Vec::new())
            }
        };
        let mut answers = Vec::with_capacity(batch.len());
        match sealed {
            Some(sealed) => {
                known = Some(sealed.next);
                for entry in sealed.entries {
                    // no subscriber is fine
                    let _ = inner.audit.live.send(entry);
                }
                let mut refusals = refusals.drain(..).filter_map(Result::err);
                for kept in sealed.kept {
                    answers.push(if kept {
                        Stored::Done
                    } else {
                        refusals.next().map_or(Stored::Failed, Stored::Refused)
                    });
                }
            }
            None => answers.resize_with(batch.len(), || Stored::Failed),
        }
        drop(inner);
        for (job, answer) in batch.drain(..).zip(answers) {
            let _ = job.done.send(answer);
        }
    }
}

/// Where `chain` stands as its head row says (a chain without one is
/// empty), or `None` when the heads cannot be read.
async fn resume(inner: &Inner, chain: &str) -> Option<ChainState> {
    match inner.db.audit_heads().await {
        Ok(heads) => Some(heads.into_iter().find(|h| h.chain_id == chain).map_or_else(
            || ChainState::new(chain),
            |h| {
                ChainState::resume(
                    chain,
                    Head {
                        seq: h.seq,
                        hash: h.hash,
                    },
                )
            },
        )),
        Err(e) => {
            tracing::error!(error = %e, "the audit chain's head could not be read");
            None
        }
    }
}

/// The stored records `filter` accepts, by chain then seq, each as its
/// stored line (at most `limit`). For an auditor.
///
/// # Errors
/// 403 without the auditor role; 500 when the database cannot be read.
pub(crate) async fn export(
    server: &Server,
    actor: &AdminActor,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<String>, OAuthError> {
    actor.require(AdminRole::Auditor)?;
    server
        .inner
        .db
        .export_audit(filter, limit)
        .await
        .map_err(|e| unreadable(&e))
}

/// The newest `n` stored records (at most [`MAX_EXPORT`]), oldest first,
/// each line as stored. For an auditor.
///
/// # Errors
/// 403 without the auditor role; 500 when the trail cannot be read.
pub(crate) async fn newest(
    server: &Server,
    actor: &AdminActor,
    n: usize,
) -> Result<Vec<String>, OAuthError> {
    actor.require(AdminRole::Auditor)?;
    let n = u32::try_from(n.min(MAX_EXPORT)).unwrap_or(u32::MAX);
    let mut rows = server
        .inner
        .db
        .newest_audit(n)
        .await
        .map_err(|e| unreadable(&e))?;
    rows.reverse();
    Ok(rows.into_iter().map(|r| r.line).collect())
}

fn unreadable(e: &passport_store::StoreError) -> OAuthError {
    tracing::error!(error = %e, "the audit trail could not be read");
    OAuthError::new(
        500,
        codes::SERVER_ERROR,
        "the audit trail could not be read",
    )
}

/// Verifies every chain stored, against the heads. For an auditor.
///
/// # Errors
/// 403 without the auditor role; 500 when the database cannot be read.
pub(crate) async fn verify(
    server: &Server,
    actor: &AdminActor,
) -> Result<passport_audit::chain::Report, OAuthError> {
    actor.require(AdminRole::Auditor)?;
    server
        .inner
        .db
        .verify_audit()
        .await
        .map_err(|e| unreadable(&e))
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// A server on a new SQLite database in `dir`, created at 1 700 000 000.
    pub(crate) async fn server(dir: &tempfile::TempDir) -> Server {
        let db = passport_store::server::Database::open(
            dir.path().join("s.db").to_str().unwrap(),
            1_700_000_000,
        )
        .await
        .unwrap();
        Server::builder("http://127.0.0.1:9", db)
            .build()
            .await
            .unwrap()
    }

    /// With the table `table` renamed away, a record is refused (500);
    /// then the table is put back.
    async fn refused_while_away(server: &Server, table: &str) {
        let db = &server.inner.db;
        db.execute_script_for_tests(&format!("ALTER TABLE {table} RENAME TO {table}_away"))
            .await
            .unwrap();
        let err = record(server, AuditEvent::new(Action::AdminLogin, Outcome::Done))
            .await
            .unwrap_err();
        assert_eq!((err.status, err.error), (500, codes::SERVER_ERROR));
        db.execute_script_for_tests(&format!("ALTER TABLE {table}_away RENAME TO {table}"))
            .await
            .unwrap();
    }

    /// Every stored record reaches a subscriber, in chain order, as stored.
    #[tokio::test]
    async fn the_live_stream_publishes_each_stored_record_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&dir).await;
        let mut live = subscribe(&server);
        record_all(
            &server,
            vec![
                AuditEvent::new(Action::KillSwitchEngaged, Outcome::Done)
                    .actor("admin")
                    .agent("bot"),
                AuditEvent::new(Action::Refuse, Outcome::Refused)
                    .agent("bot")
                    .rule("kill-switch")
                    .error("access_denied"),
            ],
        )
        .await
        .unwrap();
        record(
            &server,
            AuditEvent::new(Action::KillSwitchLifted, Outcome::Done).actor("admin"),
        )
        .await
        .unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let entry = live.recv().await.unwrap();
            assert_eq!(
                entry.record.chain.as_deref(),
                Some(server.inner.audit.chain_id())
            );
            seen.push((entry.record.seq, entry.record.action));
            // the line is what is stored
            let stored: AuditRecord = serde_json::from_str(&entry.line).unwrap();
            assert_eq!(stored.seq, entry.record.seq);
        }
        assert_eq!(
            seen,
            [
                (Some(1), Action::KillSwitchEngaged),
                (Some(2), Action::Refuse),
                (Some(3), Action::KillSwitchLifted),
            ]
        );
        let report = server.inner.db.verify_audit().await.unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.chains[0].records, 3);
    }

    /// A record that cannot be stored is an error to its caller (500),
    /// and the chain does not advance past it.
    #[tokio::test]
    async fn a_failed_append_is_an_error_and_the_chain_does_not_advance() {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&dir).await;
        record(&server, AuditEvent::new(Action::AdminLogin, Outcome::Done))
            .await
            .unwrap();
        // the table refuses writes for a moment
        refused_while_away(&server, "audit_log").await;
        record(&server, AuditEvent::new(Action::AdminLogin, Outcome::Done))
            .await
            .unwrap();
        let report = server.inner.db.verify_audit().await.unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.chains[0].head.seq, 2);
    }

    /// A batch whose commit happened but whose answer was lost, while the
    /// heads could not be read either: the batcher must not keep sealing
    /// the `seq` the store has. The failure is fed (the heads table away:
    /// the append and the read fail), then the lost commit is simulated by
    /// appending this chain's next record behind the batcher's back; the
    /// next record resumes from the head row and is stored.
    #[tokio::test]
    async fn after_a_failed_batch_the_chain_resumes_from_its_head_row() {
        use passport_audit::chain::ChainState;
        use passport_store::server::AuditAppend;

        let dir = tempfile::tempdir().unwrap();
        let server = server(&dir).await;
        let db = &server.inner.db;
        record(&server, AuditEvent::new(Action::AdminLogin, Outcome::Done))
            .await
            .unwrap();
        refused_while_away(&server, "audit_heads").await;
        // the lost commit: seq 2 of this chain is stored
        let chain = server.inner.audit.chain_id().to_owned();
        let head = db.audit_heads().await.unwrap().pop().unwrap();
        assert_eq!(head.seq, 1);
        let mut state = ChainState::resume(
            chain.clone(),
            Head {
                seq: head.seq,
                hash: head.hash,
            },
        );
        let sealed = state
            .seal(&AuditRecord::new(
                1_700_000_000,
                Action::AdminLogin,
                Outcome::Done,
            ))
            .unwrap();
        let line = String::from_utf8(sealed.line).unwrap();
        db.append_audit(
            &chain,
            vec![AuditAppend {
                seq: sealed.seq,
                at: 1_700_000_000,
                line,
            }],
            &sealed.hash,
            1_700_000_000,
        )
        .await
        .unwrap();
        // the batcher goes on after it, at once
        for _ in 0..2 {
            record(&server, AuditEvent::new(Action::AdminLogin, Outcome::Done))
                .await
                .unwrap();
        }
        let report = db.verify_audit().await.unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.chains[0].head.seq, 4);
    }
}
