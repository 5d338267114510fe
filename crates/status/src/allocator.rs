//! The issuer's side: status-list indices for new passports, persisted so
//! that no index is ever handed out twice, and the list to publish.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use passport_claims::{AllocationError, PassportClaims, StatusAllocator, StatusReference};
use passport_claims::{Clock, SystemClock};
use passport_jose::SigningKey;
use serde::{Deserialize, Serialize};

use crate::error::shorten;
use crate::{Status, StatusError, StatusList, StatusListToken};

/// The index space a new allocator draws from: 2^16 slots.
pub const INITIAL_INDEX_SPACE: u64 = 1 << 16;

/// The largest index space: 2^26 slots, whose 2-bit list is 16 MiB
/// ([`crate::DEFAULT_MAX_DECOMPRESSED`]) uncompressed.
pub const MAX_INDEX_SPACE: u64 = 1 << 26;

/// Bits per entry of the lists an [`IndexAllocator`] publishes (valid,
/// invalid, suspended).
pub const ALLOCATOR_BITS: u8 = 2;

const STATE_VERSION: u64 = 1;

/// One allocated index: which passport it belongs to and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Record {
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
    /// When the status last changed (seconds), if it ever did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<i64>,
}

/// Names an allocated record: by the passport's `jti` or by its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef<'a> {
    /// The passport's `jti`.
    Jti(&'a str),
    /// The index in the list.
    Index(u64),
}

impl<'a> From<&'a str> for RecordRef<'a> {
    fn from(jti: &'a str) -> Self {
        RecordRef::Jti(jti)
    }
}

impl From<u64> for RecordRef<'_> {
    fn from(idx: u64) -> Self {
        RecordRef::Index(idx)
    }
}

impl std::fmt::Display for RecordRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordRef::Jti(jti) => write!(f, "jti {:?}", shorten(jti)),
            RecordRef::Index(idx) => write!(f, "index {idx}"),
        }
    }
}

/// The state file: every index ever allocated, and the space they come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    version: u64,
    uri: String,
    space: u64,
    records: Vec<Record>,
}

/// Allocates status-list indices for an issuer (`passport_issuer::Issuer::with_status`)
/// (`Issuer::with_status`) and keeps their statuses.
///
/// - **Never reused.** Every allocated index is recorded in a JSON file
///   (mode `0600`); an allocation re-reads the file, draws, and writes it back
///   (to a temporary file renamed over the old one, so a crash never leaves a
///   half-written file) while holding an exclusive lock, an in-process mutex
///   plus `File::lock` on `<file>.lock`, so threads and processes sharing the
///   file never hand out the same index.
/// - **Not sequential.** Indices are drawn uniformly at random (the operating
///   system's generator) from a space of [`INITIAL_INDEX_SPACE`] slots that
///   doubles whenever half of it is in use (up to [`MAX_INDEX_SPACE`]), so a
///   list reveals neither issuance order nor, beyond a power of two, count.
/// - **The list to publish**: [`IndexAllocator::status_list`] (2 bits per
///   entry, as large as the space) and [`IndexAllocator::publish`].
///
/// Every operation reads the file afresh (cost linear in the number of
/// records), which keeps several processes — an issuer and a `passport
/// revoke` — consistent without any other coordination. For many records
/// or many processes, use `passport-store` (SQLite, indexed, pruned), which
/// the `passport` command line uses.
#[derive(Debug)]
pub struct IndexAllocator {
    path: PathBuf,
    lock_path: PathBuf,
    uri: String,
    initial_space: u64,
    clock: Arc<dyn Clock>,
    guard: Mutex<()>,
}

impl IndexAllocator {
    /// An allocator keeping its state in `path`, for the list published at
    /// `uri`. The file is created when missing; an existing file must be for
    /// the same `uri`.
    pub fn open(path: impl Into<PathBuf>, uri: impl Into<String>) -> Result<Self, StatusError> {
        IndexAllocator::open_with_space(path, uri, INITIAL_INDEX_SPACE)
    }

    /// As [`IndexAllocator::open`], starting a new file with `initial_space`
    /// slots (a power of two, at least 2, at most [`MAX_INDEX_SPACE`]); for
    /// tests that want the space to grow quickly.
    pub fn open_with_space(
        path: impl Into<PathBuf>,
        uri: impl Into<String>,
        initial_space: u64,
    ) -> Result<Self, StatusError> {
        let path = path.into();
        let uri = uri.into();
        if uri.is_empty() {
            return Err(StatusError::InvalidClaims("empty status list URI".into()));
        }
        if !initial_space.is_power_of_two() || !(2..=MAX_INDEX_SPACE).contains(&initial_space) {
            return Err(StatusError::CorruptState {
                path,
                reason: format!("initial space {initial_space} is not a power of two in 2..=2^26"),
            });
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let lock_path = path.with_file_name(name);
        let allocator = IndexAllocator {
            path,
            lock_path,
            uri,
            initial_space,
            clock: Arc::new(SystemClock),
            guard: Mutex::new(()),
        };
        // Create the file (or check the existing one) now, so a bad path or
        // a file for another list fails at start-up, not at first issuance.
        allocator.update(|_| Ok(()))?;
        Ok(allocator)
    }

    /// Uses `clock` for the records' `changed_at`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The list's URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Allocates a fresh index for the passport `jti` held by `agent_id`
    /// until `exp`, and records it as valid.
    pub fn allocate_record(
        &self,
        jti: &str,
        agent_id: &str,
        exp: i64,
    ) -> Result<Record, StatusError> {
        if jti.is_empty() {
            return Err(StatusError::InvalidClaims("empty jti".into()));
        }
        self.update(|state| {
            if state.records.iter().any(|r| r.jti == jti) {
                return Err(StatusError::InvalidClaims(format!(
                    "jti {:?} already has a status index",
                    shorten(jti)
                )));
            }
            let count = state.records.len() as u64 + 1;
            while count.saturating_mul(2) > state.space && state.space < MAX_INDEX_SPACE {
                state.space *= 2;
            }
            if count.saturating_mul(2) > state.space {
                return Err(StatusError::IndexSpaceExhausted {
                    allocated: state.records.len(),
                });
            }
            let used: HashSet<u64> = state.records.iter().map(|r| r.idx).collect();
            let idx = draw(state.space, &used)?;
            let record = Record {
                idx,
                jti: jti.to_owned(),
                agent_id: agent_id.to_owned(),
                exp,
                status: Status::Valid,
                changed_at: None,
            };
            state.records.push(record.clone());
            Ok(record)
        })
    }

    /// Sets the status of the record named by `target` (a `jti` or an
    /// index): [`Status::Invalid`] revokes, [`Status::Suspended`] suspends,
    /// [`Status::Valid`] reinstates. Returns the updated record.
    pub fn set_status<'a>(
        &self,
        target: impl Into<RecordRef<'a>>,
        status: Status,
    ) -> Result<Record, StatusError> {
        let target = target.into();
        let now = self.clock.now();
        self.update(|state| {
            let record = state
                .records
                .iter_mut()
                .find(|r| matches(r, target))
                .ok_or_else(|| StatusError::UnknownRecord(target.to_string()))?;
            if record.status != status {
                record.status = status;
                record.changed_at = Some(now);
            }
            Ok(record.clone())
        })
    }

    /// Every record whose status is not valid (revoked or suspended).
    pub fn revoked(&self) -> Result<Vec<Record>, StatusError> {
        Ok(self
            .load()?
            .records
            .into_iter()
            .filter(|r| r.status != Status::Valid)
            .collect())
    }

    /// Every allocated record, in allocation order.
    pub fn records(&self) -> Result<Vec<Record>, StatusError> {
        Ok(self.load()?.records)
    }

    /// The record of the passport `jti`.
    pub fn lookup_jti(&self, jti: &str) -> Result<Option<Record>, StatusError> {
        Ok(self.load()?.records.into_iter().find(|r| r.jti == jti))
    }

    /// The record at `idx`.
    pub fn lookup_idx(&self, idx: u64) -> Result<Option<Record>, StatusError> {
        Ok(self.load()?.records.into_iter().find(|r| r.idx == idx))
    }

    /// The current size of the index space (the published list's length).
    pub fn space(&self) -> Result<u64, StatusError> {
        Ok(self.load()?.space)
    }

    /// The status list to publish: 2 bits per entry over the whole index
    /// space, every allocated index set to its record's status.
    pub fn status_list(&self) -> Result<StatusList, StatusError> {
        let state = self.load()?;
        let mut list = StatusList::with_capacity(ALLOCATOR_BITS, state.space)?;
        for r in &state.records {
            if r.status != Status::Valid {
                list.set(r.idx, r.status.value())?;
            }
        }
        Ok(list)
    }

    /// The signed Status List Token for the current list: issued at `now`,
    /// expiring `lifetime` seconds later, to be cached at most `ttl` seconds.
    pub fn publish(
        &self,
        key: &SigningKey,
        now: i64,
        ttl: u64,
        lifetime: u64,
    ) -> Result<String, StatusError> {
        let list = self.status_list()?;
        let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX);
        StatusListToken::sign(
            key,
            &self.uri,
            &list,
            now,
            now.saturating_add(lifetime),
            ttl,
        )
    }

    /// Runs `change` on the state under both locks and writes the result.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, StatusError>,
    ) -> Result<T, StatusError> {
        let _in_process = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = open_private(&self.lock_path, false)
            .map_err(|e| StatusError::io(&self.lock_path, e))?;
        lock.lock()
            .map_err(|e| StatusError::io(&self.lock_path, e))?;
        let mut state = self.load()?;
        let before = serde_json::to_vec(&state).map_err(|e| self.corrupt(e.to_string()))?;
        let out = change(&mut state)?;
        let after = serde_json::to_vec(&state).map_err(|e| self.corrupt(e.to_string()))?;
        if before != after || !self.path.exists() {
            self.write(&after)?;
        }
        // Dropping `lock` closes the file and releases the lock.
        drop(lock);
        Ok(out)
    }

    fn corrupt(&self, reason: String) -> StatusError {
        StatusError::CorruptState {
            path: self.path.clone(),
            reason,
        }
    }

    /// Reads and checks the state file; a missing file is an empty state.
    fn load(&self) -> Result<State, StatusError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    version: STATE_VERSION,
                    uri: self.uri.clone(),
                    space: self.initial_space,
                    records: Vec::new(),
                });
            }
            Err(e) => return Err(StatusError::io(&self.path, e)),
        };
        // Strict JSON first (duplicate members are an error), then the shape.
        let map = passport_jose::json::parse_object(&bytes, "status index file")
            .map_err(|e| self.corrupt(e.to_string()))?;
        let state: State = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| self.corrupt(e.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(self.corrupt(format!("unknown version {}", state.version)));
        }
        if state.uri != self.uri {
            return Err(self.corrupt(format!(
                "the file is for the list {:?}, not {:?}",
                shorten(&state.uri),
                shorten(&self.uri)
            )));
        }
        if !state.space.is_power_of_two() || state.space > MAX_INDEX_SPACE {
            return Err(self.corrupt(format!("invalid index space {}", state.space)));
        }
        let mut indices = HashSet::with_capacity(state.records.len());
        let mut jtis = HashSet::with_capacity(state.records.len());
        for r in &state.records {
            if r.idx >= state.space || !indices.insert(r.idx) || !jtis.insert(r.jti.as_str()) {
                return Err(self.corrupt(format!(
                    "record for index {} is outside the space or a duplicate",
                    r.idx
                )));
            }
        }
        Ok(state)
    }

    /// Writes the state atomically: a new `0600` file beside it, synced, then
    /// renamed over it.
    fn write(&self, bytes: &[u8]) -> Result<(), StatusError> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| StatusError::RandomUnavailable(e.to_string()))?;
        let tmp = dir.join(format!(".{name}.{}.tmp", u64::from_le_bytes(suffix)));
        let result = (|| {
            let mut file = open_private(&tmp, true)?;
            file.write_all(bytes)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| StatusError::io(&self.path, e))
    }
}

impl StatusAllocator for IndexAllocator {
    fn allocate(&self, passport: &PassportClaims) -> Result<StatusReference, AllocationError> {
        let record = self
            .allocate_record(&passport.jti, &passport.agent.agent_id, passport.exp)
            .map_err(AllocationError::new)?;
        StatusReference::new(record.idx, self.uri.clone()).map_err(AllocationError::new)
    }
}

fn matches(record: &Record, target: RecordRef<'_>) -> bool {
    match target {
        RecordRef::Jti(jti) => record.jti == jti,
        RecordRef::Index(idx) => record.idx == idx,
    }
}

/// A uniformly random free index in `0..space` (`space` a power of two, at
/// most half used, so a free slot is found in two draws on average).
fn draw(space: u64, used: &HashSet<u64>) -> Result<u64, StatusError> {
    let mask = space - 1;
    for _ in 0..64 {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| StatusError::RandomUnavailable(e.to_string()))?;
        let idx = u64::from_le_bytes(bytes) & mask;
        if !used.contains(&idx) {
            return Ok(idx);
        }
    }
    // 64 misses at ≤ 50 % occupancy has probability ≤ 2^-64; scan to be total.
    (0..space)
        .find(|i| !used.contains(i))
        .ok_or(StatusError::IndexSpaceExhausted {
            allocated: used.len(),
        })
}

/// Opens (creating) a file readable and writable by its owner only.
fn open_private(path: &Path, create_new: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}
