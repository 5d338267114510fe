//! A local deny list of `jti`s (acrf-tokens style), for setups without an
//! issuer endpoint.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use passport_claims::PassportClaims;
use passport_verifier::{LinkStatus, StatusSource, StatusUnavailable};
use serde_json::Value;

use crate::StatusError;

/// The largest deny-list file read, in bytes (16 MiB).
pub const MAX_DENY_LIST_BYTES: usize = 16 * 1024 * 1024;

/// Revokes every passport whose `jti` is listed in a local JSON file:
///
/// ```json
/// {"revoked": ["9d7c…", {"jti": "41a0…", "reason": "laptop lost"}]}
/// ```
///
/// Entries are `jti` strings or objects with a string `jti` (other members
/// are ignored). The file is parsed strictly: valid JSON, no duplicate
/// member names, `revoked` present and an array, every entry well formed —
/// anything else is an error, and a reload that fails keeps the previous list.
/// Other top-level members are ignored. Every link of a bundle is checked, so
/// listing a root refuses all its descendants.
///
/// ```
/// # use passport_status::DenyListSource;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("deny.json");
/// std::fs::write(&path, r#"{"revoked": ["jti-1", {"jti": "jti-2"}]}"#)?;
/// let deny = DenyListSource::from_file(&path)?;
/// assert!(deny.contains("jti-2"));
/// assert_eq!(deny.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DenyListSource {
    path: Option<PathBuf>,
    revoked: RwLock<Arc<HashSet<String>>>,
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

impl DenyListSource {
    /// Reads the deny list in `path`.
    pub fn from_file(path: impl Into<PathBuf>) -> Result<DenyListSource, StatusError> {
        let source = DenyListSource {
            path: Some(path.into()),
            revoked: RwLock::new(Arc::new(HashSet::new())),
            stamp: Mutex::new(None),
        };
        source.reload()?;
        Ok(source)
    }

    /// A fixed, in-memory deny list.
    pub fn from_jtis<I, S>(jtis: I) -> DenyListSource
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        DenyListSource {
            path: None,
            revoked: RwLock::new(Arc::new(jtis.into_iter().map(Into::into).collect())),
            stamp: Mutex::new(None),
        }
    }

    /// Reads the file again; returns how many `jti`s it lists. On error the
    /// previous list stays in force.
    pub fn reload(&self) -> Result<usize, StatusError> {
        let Some(path) = &self.path else {
            return Ok(self.len());
        };
        let stamp = file_stamp(path);
        let set = parse_file(path)?;
        let len = set.len();
        *self.revoked.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) = stamp;
        Ok(len)
    }

    /// Reloads when the file's modification time or size changed since the
    /// last load; returns whether it reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, StatusError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let current = file_stamp(path);
        let last = *self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        if current.is_some() && current == last {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    /// True when `jti` is listed.
    pub fn contains(&self, jti: &str) -> bool {
        self.snapshot().contains(jti)
    }

    /// How many `jti`s are listed.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    fn snapshot(&self) -> Arc<HashSet<String>> {
        Arc::clone(&self.revoked.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl StatusSource for DenyListSource {
    fn status(
        &self,
        passport: &PassportClaims,
        _now: i64,
    ) -> Result<LinkStatus, StatusUnavailable> {
        Ok(if self.contains(&passport.jti) {
            LinkStatus::Revoked
        } else {
            LinkStatus::Valid
        })
    }

    /// A deny list knows `jti`s, not status lists: a passport's `status`
    /// reference still needs a source that reads it.
    fn answers_status_references(&self) -> bool {
        false
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn parse_file(path: &Path) -> Result<HashSet<String>, StatusError> {
    use std::io::Read as _;
    let invalid = |reason: String| StatusError::InvalidDenyList {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| StatusError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_DENY_LIST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StatusError::io(path, e))?;
    if bytes.len() > MAX_DENY_LIST_BYTES {
        return Err(invalid(format!("larger than {MAX_DENY_LIST_BYTES} bytes")));
    }
    let doc = passport_jose::json::parse_object(&bytes, "deny list")
        .map_err(|e| invalid(e.to_string()))?;
    let Some(Value::Array(entries)) = doc.get("revoked") else {
        return Err(invalid("`revoked` is missing or not an array".into()));
    };
    let mut set = HashSet::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let jti = match entry {
            Value::String(jti) => jti,
            Value::Object(obj) => match obj.get("jti") {
                Some(Value::String(jti)) => jti,
                _ => return Err(invalid(format!("entry {i} has no string `jti`"))),
            },
            _ => {
                return Err(invalid(format!(
                    "entry {i} is neither a jti string nor an object"
                )));
            }
        };
        if jti.is_empty() {
            return Err(invalid(format!("entry {i} is an empty jti")));
        }
        set.insert(jti.clone());
    }
    Ok(set)
}
