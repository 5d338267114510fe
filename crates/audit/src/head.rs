//! The head file next to a JSON-lines log: each chain's last record
//! (`seq` and hash), replaced atomically after every append so records cut
//! off the log's end, or an edit of its last record, show (see
//! [`head_path`]).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::chain::Head;

/// The most of a head file read (it holds one small entry per chain).
const MAX_HEAD_FILE: u64 = 1 << 20;

/// Where the heads of the log at `log` are kept: the same name with
/// `.head` appended (`audit.jsonl.head`), in the same directory, mode 0600.
///
/// ```
/// use std::path::Path;
/// assert_eq!(
///     passport_audit::head_path(Path::new("/var/log/audit.jsonl")),
///     Path::new("/var/log/audit.jsonl.head")
/// );
/// ```
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadFile {
    /// Each chain of the log, by id, at its last record.
    chains: BTreeMap<String, Head>,
}

/// Reads the heads of the log at `log` from its head file ([`head_path`]):
/// `None` when there is none.
///
/// # Errors
/// [`AuditError::Io`] if it cannot be read, [`AuditError::HeadCorrupt`] if
/// it is not a head file (or larger than a head file can be).
pub fn read_heads(log: &Path) -> Result<Option<BTreeMap<String, Head>>, AuditError> {
    let path = head_path(log);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AuditError::Io { path, source }),
    };
    let mut bytes = Vec::new();
    file.take(MAX_HEAD_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| AuditError::Io {
            path: path.clone(),
            source,
        })?;
    if bytes.len() as u64 > MAX_HEAD_FILE {
        return Err(AuditError::HeadCorrupt {
            path,
            reason: format!("larger than {MAX_HEAD_FILE} bytes"),
        });
    }
    match serde_json::from_slice::<HeadFile>(&bytes) {
        Ok(heads) => Ok(Some(heads.chains)),
        Err(e) => Err(AuditError::HeadCorrupt {
            path,
            reason: e.to_string(),
        }),
    }
}

/// Replaces the head file of the log at `log` with `heads`, atomically: a
/// fresh temporary file (created exclusively, mode 0600) written and
/// `fsync`ed, then renamed over the head file; with `durable`, the
/// directory is `fsync`ed too so the rename survives a power loss. The
/// caller holds the log's lock (one writer at a time).
pub(crate) fn write_heads(
    log: &Path,
    heads: &BTreeMap<String, Head>,
    durable: bool,
) -> Result<(), AuditError> {
    let path = head_path(log);
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| AuditError::Io { path, source }
    };
    let body = serde_json::to_vec(&HeadFile {
        chains: heads.clone(),
    })
    .map_err(|e| AuditError::HeadCorrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    // a leftover of an interrupted append (or anything planted there) goes:
    // the new one is created exclusively, never through a link
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&tmp)(e)),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(&body).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    if durable && let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}
