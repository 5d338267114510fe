//! # passport-audit
//!
//! An [`AuditRecord`] for every verification, issuance, delegation and
//! revocation — who (`sub`, each link's `agent_id`), what (`jti` of each
//! link, `iss`, `aud`, the required scope, the policy that applied), when,
//! and the outcome with its error code. **Never the token itself.**
//!
//! Records go to an [`AuditSink`]: [`JsonLinesSink`] appends one JSON object
//! per line to a file (created 0600, one `write` per record under an
//! exclusive file lock, so concurrent writers from several processes never
//! interleave partial lines) and keeps each hash chain's head in a file
//! beside it ([`head_path`]) so [`verify_file`] finds a cut tail,
//! [`TracingSink`] emits `tracing` events, and [`read_records`] reads a file
//! back with filters.
//!
//! ```
//! use passport_audit::{Action, AuditRecord, AuditSink, JsonLinesSink, LinkRef, Outcome, read_records, Filter};
//!
//! let dir = tempfile::tempdir()?;
//! let sink = JsonLinesSink::open(dir.path().join("audit.jsonl"))?;
//! let mut record = AuditRecord::new(1_700_000_000, Action::Verify, Outcome::Refused);
//! record.error = Some("audience_mismatch".into());
//! record.links = vec![LinkRef { jti: "j1".into(), agent_id: "bot".into() }];
//! sink.record(&record)?;
//! let back = read_records(&dir.path().join("audit.jsonl"), &Filter::default())?;
//! // as written, sealed into the file's hash chain
//! assert_eq!((back[0].seq, back[0].error.as_deref()), (Some(1), Some("audience_mismatch")));
//! assert!(passport_audit::verify_file(&dir.path().join("audit.jsonl"))?.ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
mod head;
pub mod text;

pub use head::{head_path, read_heads};

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write as _};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A bundle was verified.
    Verify,
    /// A root passport was minted.
    Issue,
    /// A child passport was minted.
    Delegate,
    /// A passport was revoked.
    Revoke,
    /// A passport was suspended.
    Suspend,
    /// A suspended passport was reinstated.
    Reinstate,
    /// Governance refused an issuance (see [`AuditRecord::rule`]).
    Refuse,
    /// An issuance waits for an approval.
    ApprovalRequested,
    /// An approver approved.
    ApprovalApproved,
    /// An approver denied.
    ApprovalDenied,
    /// A kill-switch was engaged.
    KillSwitchEngaged,
    /// A kill-switch was lifted.
    KillSwitchLifted,
    /// An agent identity was registered or changed.
    IdentityChanged,
    /// An administrator logged in.
    AdminLogin,
    /// The policy file was (re)loaded, or a reload was refused.
    PolicyReloaded,
    /// An administrator logged out.
    AdminLogout,
    /// A passport was replaced by a successor (its lineage: the first
    /// link is the successor, the second its predecessor).
    Rotate,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Verification accepted the bundle.
    Accepted,
    /// Verification refused the bundle (see [`AuditRecord::error`]).
    Refused,
    /// A passport was minted, or a status changed.
    Done,
    /// An issuance, delegation or status change failed.
    Failed,
}

/// One link of a chain, as audited: identifiers only.
///
/// In the record of a refused bundle (`verified: false`), a link that could
/// not be decoded keeps its place with both fields empty; a decoded link
/// never has an empty `jti`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRef {
    /// The passport's `jti`.
    pub jti: String,
    /// Its holder.
    pub agent_id: String,
}

/// One audited event. Strings that came from a token are kept short
/// (identifiers are at most 256 bytes) and no token bytes are ever stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The hash chain the record belongs to (set when it is sealed; absent
    /// in logs written before chaining). See [`chain`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Its position in the chain, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The base64url SHA-256 of the chain's previous record as stored (or
    /// the chain's [`chain::genesis`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// Seconds since the epoch.
    pub time: i64,
    /// What was done.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// The stable error code when refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each link, leaf first.
    #[serde(default)]
    pub links: Vec<LinkRef>,
    /// False when `links` and the identity fields come from claims that were
    /// not verified (a refused bundle, decoded for the record only).
    #[serde(default = "yes")]
    pub verified: bool,
    /// The principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The scope the verifier required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// The policy that applied (a summary, no secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    /// Who acted: an administrator's principal, or the client that asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The agent identity concerned, when no link names it (a kill-switch,
    /// an identity change, a refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The OAuth client concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The governance environment that applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The approval concerned or cited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The policy rule that decided (`environments.prod.grants`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For a revocation by cascade: the `jti` whose revocation reached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

fn yes() -> bool {
    true
}

impl AuditRecord {
    /// A record with no links and no identity yet.
    pub fn new(time: i64, action: Action, outcome: Outcome) -> AuditRecord {
        AuditRecord {
            chain: None,
            seq: None,
            prev: None,
            time,
            action,
            outcome,
            error: None,
            links: Vec::new(),
            verified: true,
            sub: None,
            iss: None,
            aud: None,
            required_scope: None,
            policy: None,
            actor: None,
            agent_id: None,
            client_id: None,
            environment: None,
            approval_id: None,
            rule: None,
            via: None,
        }
    }

    /// True when the record names `agent` (in a link or as
    /// [`agent_id`](AuditRecord::agent_id)).
    pub fn names_agent(&self, agent: &str) -> bool {
        self.agent_id.as_deref() == Some(agent) || self.links.iter().any(|l| l.agent_id == agent)
    }
}

/// Why a record could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log file could not be opened, locked, written or read.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the log is not a record.
    #[error("audit log {path}, line {line}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A hash chain of the log is broken (see [`chain`]).
    #[error("audit chain broken: {0}")]
    ChainBroken(chain::ChainBreak),
    /// The trail holds no chained record: an empty file, or only lines
    /// written without a chain, proves nothing.
    #[error(
        "the audit trail holds no chained record (empty, or only unchained lines): nothing is verifiable"
    )]
    NoChain,
    /// Lines without chain members precede the chained records.
    #[error(
        "{lines} audit line(s) before the first chained record carry no chain and cannot be verified (a log written before chaining: verify it with the legacy option)"
    )]
    Unchained {
        /// How many.
        lines: u64,
    },
    /// A chain has records but no head: records cut off its end cannot be
    /// detected.
    #[error(
        "audit chain {chain} has records but no head: records cut off its end cannot be detected (a log written before heads existed: verify it with the legacy option)"
    )]
    NoHead {
        /// The chain.
        chain: String,
    },
    /// The log's head file cannot be read as heads.
    #[error("audit head file {path}: {reason}")]
    HeadCorrupt {
        /// The head file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

passport_jose::error_codes! {
    AuditError {
        AuditError::Io { .. } => "audit_io":
            "The audit log could not be opened, locked, written or read.",
        AuditError::Corrupt { .. } => "audit_corrupt":
            "A line of the audit log is not a record.",
        AuditError::ChainBroken(..) => "audit_chain_broken":
            "A hash chain of the audit trail is broken: a record was edited, dropped, reordered, duplicated or inserted, or the tail was cut off (the error names the first bad seq and the kind).",
        AuditError::NoChain => "audit_no_chain":
            "The audit trail holds no chained record (an empty file, or only lines without a chain): nothing is verifiable.",
        AuditError::Unchained { .. } => "audit_unchained":
            "Lines without chain members precede the audit log's chained records (a log written before chaining; `passport audit verify --legacy` accepts and reports them).",
        AuditError::NoHead { .. } => "audit_no_head":
            "An audit chain has records but no head, so records cut off its end cannot be detected (a log written before heads existed; `passport audit verify --legacy` accepts and reports it).",
        AuditError::HeadCorrupt { .. } => "audit_head_corrupt":
            "The audit log's head file (`<log>.head`) cannot be read as heads; the log is neither appended to nor verified.",
    }
}

/// Where audit records go.
pub trait AuditSink: Send + Sync {
    /// Stores one record. Callers that must not act without an audit trail
    /// (a verifier accepting a passport) treat an error as a refusal.
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError>;
}

impl<S: AuditSink + ?Sized> AuditSink for std::sync::Arc<S> {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        (**self).record(record)
    }
}

/// Appends records as JSON lines, each sealed into the file's hash chain
/// ([`chain`]). Safe under concurrent writers from several threads and
/// processes: each record is one `write` of a whole line, made while
/// holding an exclusive lock on the file, on a descriptor opened in append
/// mode. Under that lock the writer reads the file's last line (from the
/// end, at most [`MAX_TAIL`] bytes) to continue its chain, so sinks in
/// several processes extend one chain.
///
/// After each record the sink `fsync`s the log and then replaces the head
/// file ([`head_path`]) atomically with the chain's new head, so
/// [`verify_file`] detects records cut off the end. The record is written
/// first: an append interrupted between the two leaves a head one record
/// behind, which verification tells from a cut (and the next append
/// confirms). A chain is continued only where its head says it ends (or
/// one record past it, that interrupted append); a file whose last line is
/// not a chained record, or whose last chain has no head or does not end
/// at it (cut, edited), gets a new chain with a random id, and the old
/// head stays in the head file as evidence. A head file that cannot be
/// read refuses the append.
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    file: Mutex<(File, Option<(u64, chain::ChainState)>)>,
    durable: bool,
}

/// The most of a file's end [`JsonLinesSink`] reads to find its last line.
pub const MAX_TAIL: u64 = 1 << 20;

/// The file's last line, when it is a chained record.
struct End {
    chain: String,
    head: chain::Head,
    prev: Option<String>,
}

impl JsonLinesSink {
    /// Opens (creating with mode 0600) `path` for appending.
    pub fn open(path: impl Into<PathBuf>) -> Result<JsonLinesSink, AuditError> {
        let path = path.into();
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|source| AuditError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(JsonLinesSink {
            path,
            file: Mutex::new((file, None)),
            durable: false,
        })
    }

    /// Also `fsync` the log after every record (before its head is
    /// written) and the directory after the head is replaced: slower, and
    /// survives power loss. Without it a power loss can lose the last
    /// records, which verification then reports as cut off (they were);
    /// the head file itself is always `fsync`ed before its rename, so it is
    /// never half written.
    pub fn durable(mut self, durable: bool) -> JsonLinesSink {
        self.durable = durable;
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's last line, read from the end, if it is a chained record.
    fn end(&self, file: &mut File, len: u64) -> Result<Option<End>, AuditError> {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let start = len.saturating_sub(MAX_TAIL);
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut tail = Vec::new();
        file.take(len - start).read_to_end(&mut tail).map_err(io)?;
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        let last = match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => &body[i + 1..],
            None if start == 0 => body,
            None => {
                return Err(AuditError::Corrupt {
                    path: self.path.clone(),
                    line: 0,
                    reason: format!("the last line is longer than {MAX_TAIL} bytes"),
                });
            }
        };
        let record: Option<AuditRecord> = serde_json::from_slice(last).ok();
        if let Some(AuditRecord {
            chain: Some(chain),
            seq: Some(seq),
            prev,
            ..
        }) = record
        {
            return Ok(Some(End {
                chain,
                head: chain::Head {
                    seq,
                    hash: chain::hash_line(last),
                },
                prev,
            }));
        }
        if !last.is_empty() {
            tracing::warn!(
                target: "passport::audit",
                path = %self.path.display(),
                "the audit log's last line is not a chained record: starting a new chain"
            );
        }
        Ok(None)
    }

    /// Whether the file's last byte is not a newline (a torn write, or a
    /// last line that lost its newline).
    fn ends_mid_line(&self, file: &mut File, len: u64) -> Result<bool, AuditError> {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let Some(last) = len.checked_sub(1) else {
            return Ok(false);
        };
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        file.seek(SeekFrom::Start(last)).map_err(io)?;
        let mut byte = [0u8; 1];
        file.read_exact(&mut byte).map_err(io)?;
        Ok(byte[0] != b'\n')
    }

    /// The chain to append to: the file's last chain where its recorded
    /// head says it ends (or one record past it), else a new one.
    fn resume(
        &self,
        file: &mut File,
        len: u64,
        heads: &BTreeMap<String, chain::Head>,
    ) -> Result<chain::ChainState, AuditError> {
        if let Some(end) = self.end(file, len)? {
            match heads.get(&end.chain) {
                Some(recorded) if *recorded == end.head => {
                    return Ok(chain::ChainState::resume(end.chain, end.head));
                }
                // an append interrupted after its record: this one confirms it
                Some(recorded)
                    if recorded.seq.checked_add(1) == Some(end.head.seq)
                        && end.prev.as_deref() == Some(recorded.hash.as_str()) =>
                {
                    return Ok(chain::ChainState::resume(end.chain, end.head));
                }
                Some(_) => tracing::warn!(
                    target: "passport::audit",
                    path = %self.path.display(),
                    chain = %end.chain,
                    "the audit log does not end at its chain's head (cut or edited): starting a new chain, the old head is kept"
                ),
                None => tracing::warn!(
                    target: "passport::audit",
                    path = %self.path.display(),
                    chain = %end.chain,
                    "the audit log's last chain has no head (written before heads existed?): starting a new chain"
                ),
            }
        }
        let id = chain::random_id().map_err(|source| AuditError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(chain::ChainState::new(id))
    }
}

impl AuditSink for JsonLinesSink {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (file, cached) = &mut *guard;
        file.lock().map_err(io)?;
        let written = (|| {
            let len = file.metadata().map_err(io)?.len();
            let mut heads = read_heads(&self.path)?.unwrap_or_default();
            // the chain as this sink left it, unless another writer
            // appended since or the head file changed
            let (mut state, mid_line) = match cached.take() {
                Some((at, state))
                    if at == len && heads.get(state.chain()) == Some(state.head()) =>
                {
                    (state, false)
                }
                _ => (
                    self.resume(file, len, &heads)?,
                    self.ends_mid_line(file, len)?,
                ),
            };
            let sealed = state.seal(record)?;
            // a last line without its newline (a torn write, an edit) is
            // ended first: the record never joins it
            let mut line = Vec::with_capacity(sealed.line.len() + 2);
            if mid_line {
                line.push(b'\n');
            }
            line.extend_from_slice(&sealed.line);
            line.push(b'\n');
            file.write_all(&line).map_err(io)?;
            if self.durable {
                // the record is on disk before a head names it: after a
                // power loss the head is never ahead of the log
                file.sync_data().map_err(io)?;
            }
            heads.insert(state.chain().to_owned(), state.head().clone());
            head::write_heads(&self.path, &heads, self.durable)?;
            *cached = Some((len + line.len() as u64, state));
            Ok(())
        })();
        let unlocked = file.unlock();
        written?;
        unlocked.map_err(io)
    }
}

/// Verifies every hash chain of the JSON-lines log at `path` (see
/// [`chain`]) against the heads in its head file ([`head_path`]). The
/// records are read as stored, never re-serialized.
///
/// Besides a broken chain (including records cut off the end, found
/// through the head), the report is not [`ok`](chain::Report::ok) for a
/// file with no chained record (empty, or only unchained lines), with
/// unchained lines before its chain, or with a chain the head file does
/// not name (or no head file at all): see [`chain::Finding`] and
/// [`chain::Report::check`]. A head exactly one record behind, with that
/// record's `prev` its hash, is an interrupted append, not a cut: accepted
/// and reported ([`chain::ChainVerdict::interrupted`]).
///
/// # Errors
/// [`AuditError::Io`] if the log or its head file cannot be read,
/// [`AuditError::HeadCorrupt`] if the head file is not one.
pub fn verify_file(path: &Path) -> Result<chain::Report, AuditError> {
    verify_file_inner(path, false)
}

/// [`verify_file`] for a log written before heads (or chaining) existed:
/// the findings (unchained lines, chains without a head, no chained record)
/// are reported in [`chain::Report::findings`] but accepted
/// ([`chain::Report::legacy`]). What they name is **not** verified: a cut
/// tail of a chain without a head goes unnoticed. Broken chains still fail.
///
/// # Errors
/// As [`verify_file`].
pub fn verify_legacy_file(path: &Path) -> Result<chain::Report, AuditError> {
    verify_file_inner(path, true)
}

/// The longest line [`verify_file`] reads: a record is a few hundred
/// bytes; 1 MiB leaves room for any and refuses a file of one endless
/// line before it fills memory.
pub const MAX_VERIFIED_LINE: usize = 1 << 20;

fn verify_file_inner(path: &Path, legacy: bool) -> Result<chain::Report, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // the writers' lock, shared: no append between reading the heads and
    // reading the records
    file.lock_shared().map_err(io)?;
    let read = (|| {
        let heads = read_heads(path)?.unwrap_or_default();
        let mut verifier = chain::Verifier::default().allowing_interrupted_append();
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        for i in 1.. {
            line.clear();
            // at most one line's cap at a time: a file of one endless line
            // is refused, not read into memory
            let n = std::io::Read::take(&mut reader, MAX_VERIFIED_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(io)?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            } else if n > MAX_VERIFIED_LINE {
                return Err(AuditError::Corrupt {
                    path: path.to_owned(),
                    line: i,
                    reason: format!("longer than {MAX_VERIFIED_LINE} bytes: not an audit record"),
                });
            }
            verifier.push(i, &line);
        }
        Ok::<_, AuditError>((heads, verifier))
    })();
    let unlocked = file.unlock();
    let (heads, verifier) = read?;
    unlocked.map_err(io)?;
    let mut report = verifier.finish(&heads);
    if report.chains.is_empty() {
        report.findings.push(chain::Finding::NoChainedRecord);
    }
    if report.unchained > 0 {
        report.findings.push(chain::Finding::Unchained {
            lines: report.unchained,
        });
    }
    let headless = report
        .chains
        .iter()
        .filter(|c| !heads.contains_key(&c.chain))
        .map(|c| chain::Finding::NoHead {
            chain: c.chain.clone(),
        });
    report.findings.extend(headless.collect::<Vec<_>>());
    report.legacy = legacy;
    Ok(report)
}

/// Emits each record as a `tracing` event (target `passport::audit`, level
/// INFO for accepted/done, WARN for refused/failed).
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn record(&self, r: &AuditRecord) -> Result<(), AuditError> {
        let jtis: Vec<&str> = r.links.iter().map(|l| l.jti.as_str()).collect();
        let agents: Vec<&str> = r.links.iter().map(|l| l.agent_id.as_str()).collect();
        let action = serde_json::to_value(r.action).unwrap_or_default();
        let outcome = serde_json::to_value(r.outcome).unwrap_or_default();
        match r.outcome {
            Outcome::Accepted | Outcome::Done => tracing::info!(
                target: "passport::audit",
                time = r.time, action = %action, outcome = %outcome, jti = ?jtis, agent_id = ?agents,
                sub = r.sub.as_deref(), iss = r.iss.as_deref(), aud = r.aud.as_deref(),
                required_scope = r.required_scope.as_deref(), verified = r.verified,
            ),
            _ => tracing::warn!(
                target: "passport::audit",
                time = r.time, action = %action, outcome = %outcome, error = r.error.as_deref(),
                jti = ?jtis, agent_id = ?agents, sub = r.sub.as_deref(), iss = r.iss.as_deref(),
                aud = r.aud.as_deref(), required_scope = r.required_scope.as_deref(), verified = r.verified,
            ),
        }
        Ok(())
    }
}

/// Which records [`read_records`] returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// At or after this time.
    pub since: Option<i64>,
    /// Naming this agent in any link.
    pub agent: Option<String>,
    /// With this outcome.
    pub outcome: Option<Outcome>,
    /// With this action.
    pub action: Option<Action>,
    /// Naming this principal (`sub`).
    pub principal: Option<String>,
    /// At or before this time.
    pub until: Option<i64>,
}

impl Filter {
    /// True when `record` passes.
    pub fn accepts(&self, r: &AuditRecord) -> bool {
        self.since.is_none_or(|t| r.time >= t)
            && self.until.is_none_or(|t| r.time <= t)
            && self.agent.as_deref().is_none_or(|a| r.names_agent(a))
            && self
                .principal
                .as_deref()
                .is_none_or(|p| r.sub.as_deref() == Some(p))
            && self.outcome.is_none_or(|o| r.outcome == o)
            && self.action.is_none_or(|a| r.action == a)
    }
}

/// Reads a JSON-lines audit log, keeping the records `filter` accepts. A
/// missing file is an empty log; a line that is not a record is an error
/// naming the line.
pub fn read_records(path: &Path, filter: &Filter) -> Result<Vec<AuditRecord>, AuditError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AuditError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    records_from(BufReader::new(file), path, filter)
}

/// Reads JSON-lines audit records from `reader`, keeping the records
/// `filter` accepts; `path` names the log in errors. For a log already read
/// into memory (for example with a size cap), as `&[u8]`.
pub fn records_from(
    reader: impl BufRead,
    path: &Path,
    filter: &Filter,
) -> Result<Vec<AuditRecord>, AuditError> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record: AuditRecord = serde_json::from_str(&line).map_err(|e| AuditError::Corrupt {
            path: path.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        if filter.accepts(&record) {
            out.push(record);
        }
    }
    Ok(out)
}

/// The longest identifier an audit record keeps, in bytes.
pub const MAX_FIELD_LEN: usize = 256;

/// Keeps an identifier taken from a token short enough for a log line
/// ([`passport_jose::clip`] to [`MAX_FIELD_LEN`] bytes).
pub fn clip(s: &str) -> String {
    passport_jose::clip(s, MAX_FIELD_LEN)
}
