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
//! interleave partial lines), [`TracingSink`] emits `tracing` events, and
//! [`read_records`] reads a file back with filters.
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
//! assert_eq!(back, vec![record]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
}

fn yes() -> bool {
    true
}

impl AuditRecord {
    /// A record with no links and no identity yet.
    pub fn new(time: i64, action: Action, outcome: Outcome) -> AuditRecord {
        AuditRecord {
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
        }
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
}

passport_jose::error_codes! {
    AuditError {
        AuditError::Io { .. } => "audit_io":
            "The audit log could not be opened, locked, written or read.",
        AuditError::Corrupt { .. } => "audit_corrupt":
            "A line of the audit log is not a record.",
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

/// Appends records as JSON lines. Safe under concurrent writers from several
/// threads and processes: each record is one `write` of a whole line, made
/// while holding an exclusive lock on the file, on a descriptor opened in
/// append mode.
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    file: Mutex<File>,
    durable: bool,
}

impl JsonLinesSink {
    /// Opens (creating with mode 0600) `path` for appending.
    pub fn open(path: impl Into<PathBuf>) -> Result<JsonLinesSink, AuditError> {
        let path = path.into();
        let mut options = OpenOptions::new();
        options.append(true).create(true);
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
            file: Mutex::new(file),
            durable: false,
        })
    }

    /// Also `fsync` after every record (slower; survives power loss).
    pub fn durable(mut self, durable: bool) -> JsonLinesSink {
        self.durable = durable;
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditSink for JsonLinesSink {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.lock().map_err(io)?;
        let written = file.write_all(&line).and_then(|()| {
            if self.durable {
                file.sync_data()
            } else {
                Ok(())
            }
        });
        let unlocked = file.unlock();
        written.map_err(io)?;
        unlocked.map_err(io)
    }
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
}

impl Filter {
    /// True when `record` passes.
    pub fn accepts(&self, r: &AuditRecord) -> bool {
        self.since.is_none_or(|t| r.time >= t)
            && self
                .agent
                .as_deref()
                .is_none_or(|a| r.links.iter().any(|l| l.agent_id == a))
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
