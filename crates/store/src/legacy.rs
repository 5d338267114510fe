//! Importing the JSON state of earlier versions (`issuer-keys.json`,
//! `status.json`) into the database, once.

use std::path::Path;

use rusqlite::{Transaction, params};
use serde_json::Value;

use crate::error::StoreError;
use crate::store::Store;

/// What [`Store::import_legacy`] imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Imported {
    /// Keys imported from the keyring file.
    pub keys: usize,
    /// Status records imported from the allocator's file.
    pub status_records: usize,
}

fn read_object(path: &Path) -> Result<Option<serde_json::Map<String, Value>>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    passport_jose::json::parse_object(&bytes, "state")
        .map(Some)
        .map_err(|e| legacy(path, e.to_string()))
}

fn legacy(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::LegacyState {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn import_keys(
    tx: &Transaction<'_>,
    path: &Path,
    current_kid: Option<&str>,
    now: i64,
) -> Result<usize, StoreError> {
    let Some(doc) = read_object(path)? else {
        return Ok(0);
    };
    let has_keys: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM keys)", [], |r| r.get(0))?;
    if has_keys {
        return Ok(0);
    }
    let keys = doc.get("keys").and_then(Value::as_array).cloned();
    let keys = keys.ok_or_else(|| legacy(path, "no `keys` array"))?;
    for k in &keys {
        let bad = || legacy(path, "a malformed key entry");
        let kid = k.get("kid").and_then(Value::as_str).ok_or_else(bad)?;
        let alg = k.get("alg").and_then(Value::as_str).ok_or_else(bad)?;
        let public = k.get("public").filter(|p| p.is_object()).ok_or_else(bad)?;
        let created = k.get("created").and_then(Value::as_i64).ok_or_else(bad)?;
        let max_exp = k.get("max_exp").and_then(Value::as_i64).ok_or_else(bad)?;
        // Only the key of the private key file stays current; a retired key
        // the old format left without a retirement time retires now.
        let retired = match k.get("retired").and_then(Value::as_i64) {
            Some(t) => Some(t),
            None if Some(kid) == current_kid => None,
            None => Some(now),
        };
        tx.execute(
            "INSERT INTO keys (kid, alg, public_jwk, created, retired, max_exp)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kid, alg, public.to_string(), created, retired, max_exp],
        )?;
    }
    Ok(keys.len())
}

fn import_status(tx: &Transaction<'_>, path: &Path) -> Result<usize, StoreError> {
    let Some(doc) = read_object(path)? else {
        return Ok(0);
    };
    let bad = || legacy(path, "not a status index file of version 1");
    if doc.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(bad());
    }
    let uri = doc.get("uri").and_then(Value::as_str).ok_or_else(bad)?;
    let space = doc.get("space").and_then(Value::as_u64).ok_or_else(bad)?;
    let records = doc
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    if !space.is_power_of_two() || space > crate::MAX_INDEX_SPACE {
        return Err(bad());
    }
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM status_lists WHERE uri = ?1)",
        [uri],
        |r| r.get(0),
    )?;
    if exists {
        return Ok(0);
    }
    tx.execute(
        "INSERT INTO status_lists (uri, space, allocated) VALUES (?1, ?2, ?3)",
        params![uri, space as i64, records.len() as i64],
    )?;
    let list = tx.last_insert_rowid();
    for r in records {
        let idx = r.get("idx").and_then(Value::as_u64).filter(|i| *i < space);
        let status = match r.get("status").and_then(Value::as_str) {
            Some("valid") => Some(0u8),
            Some("invalid") => Some(1),
            Some("suspended") => Some(2),
            _ => None,
        };
        let (Some(idx), Some(jti), Some(agent), Some(exp), Some(status)) = (
            idx,
            r.get("jti").and_then(Value::as_str),
            r.get("agent_id").and_then(Value::as_str),
            r.get("exp").and_then(Value::as_i64),
            status,
        ) else {
            return Err(bad());
        };
        let changed_at = r.get("changed_at").and_then(Value::as_i64);
        tx.execute(
            "INSERT INTO status (list, idx, jti, agent_id, exp, status, changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![list, idx as i64, jti, agent, exp, status, changed_at],
        )
        .map_err(|e| legacy(path, format!("record {idx}: {e}")))?;
    }
    Ok(records.len())
}

impl Store {
    /// Imports the JSON state of earlier versions, in one transaction: the
    /// keyring at `keyring` (when the store has no key yet; only
    /// `current_kid`, the key of the private key file, stays current) and
    /// the allocator state at `status` (when the store has no list of its
    /// URI yet). Each imported file is renamed to `<name>.imported`.
    pub fn import_legacy(
        &self,
        keyring: &Path,
        status: &Path,
        current_kid: Option<&str>,
        now: i64,
    ) -> Result<Imported, StoreError> {
        let imported = self.write(|tx| {
            Ok::<_, StoreError>(Imported {
                keys: import_keys(tx, keyring, current_kid, now)?,
                status_records: import_status(tx, status)?,
            })
        })?;
        for path in [keyring, status] {
            let mut done = path.as_os_str().to_owned();
            done.push(".imported");
            match std::fs::rename(path, &done) {
                // Missing: never there, or another process renamed it first.
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StoreError::io(path, e));
                }
                _ => {}
            }
        }
        Ok(imported)
    }
}
