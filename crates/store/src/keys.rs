//! The local issuer's signing keys: which one is current, which are retired
//! or revoked, and until when each must stay published.

use std::sync::{Arc, Mutex, PoisonError};

use passport_claims::{AllocationError, PassportClaims, StatusAllocator, StatusReference};
use passport_jose::{JWK_RETIRED_AT, SigningKey};
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use serde_json::{Map, Value};

use crate::error::StoreError;
use crate::status::{Reservation, record_reservation, reserve};
use crate::store::Store;

/// How long after its last passport's expiry a retired key stays
/// published: the largest clock skew a verifier may allow.
pub const RETENTION_SKEW: i64 = 120;

/// One signing key of the local issuer (its public half and lifecycle).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeyRecord {
    /// The key's `kid`.
    pub kid: String,
    /// Its algorithm (`EdDSA`, `ES256`, ...).
    pub alg: String,
    /// The public JWK.
    pub public_jwk: Map<String, Value>,
    /// When it was created.
    pub created: i64,
    /// When it stopped signing; `None` while it is the current key.
    pub retired: Option<i64>,
    /// When it was withdrawn as compromised: never published again.
    pub revoked: Option<i64>,
    /// The latest `exp` of any passport it signed (0 if none).
    pub max_exp: i64,
    /// The latest `iat` of any passport it signed (0 if none); its
    /// retirement time is never earlier.
    pub last_iat: i64,
}

impl KeyRecord {
    /// True for the key that signs new passports.
    pub fn is_current(&self) -> bool {
        self.retired.is_none()
    }

    /// Until when a retired key stays published: its last passport's expiry
    /// plus [`RETENTION_SKEW`].
    pub fn retained_until(&self) -> i64 {
        self.max_exp.saturating_add(RETENTION_SKEW)
    }

    /// Published while current, or while retired (not revoked) and a
    /// passport it signed may still be accepted somewhere.
    pub fn is_published(&self, now: i64) -> bool {
        self.revoked.is_none() && (self.retired.is_none() || self.retained_until() >= now)
    }

    /// The JWK to publish: the public key, plus for a retired key the member
    /// [`JWK_RETIRED_AT`] telling verifiers when it stopped signing.
    pub fn published_jwk(&self) -> Map<String, Value> {
        let mut jwk = self.public_jwk.clone();
        if let Some(retired) = self.retired {
            jwk.insert(JWK_RETIRED_AT.to_owned(), Value::from(retired));
        }
        jwk
    }

    fn from_row(row: &Row<'_>) -> rusqlite::Result<(KeyRecord, String)> {
        let public: String = row.get("public_jwk")?;
        Ok((
            KeyRecord {
                kid: row.get("kid")?,
                alg: row.get("alg")?,
                public_jwk: Map::new(),
                created: row.get("created")?,
                retired: row.get("retired")?,
                revoked: row.get("revoked")?,
                max_exp: row.get("max_exp")?,
                last_iat: row.get("last_iat")?,
            },
            public,
        ))
    }
}

/// Parses the stored public JWK of a row.
fn finish((mut record, public): (KeyRecord, String)) -> Result<KeyRecord, StoreError> {
    record.public_jwk = passport_jose::json::parse_object(public.as_bytes(), "jwk")
        .map_err(|e| StoreError::Corrupt(format!("key {:?}: {e}", record.kid)))?;
    Ok(record)
}

const KEY_COLUMNS: &str = "kid, alg, public_jwk, created, retired, revoked, max_exp, last_iat";

pub(crate) fn current_in(tx: &Transaction<'_>) -> Result<Option<KeyRecord>, StoreError> {
    tx.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE retired IS NULL"),
        [],
        KeyRecord::from_row,
    )
    .optional()?
    .map(finish)
    .transpose()
}

fn key_in(tx: &Transaction<'_>, kid: &str) -> Result<Option<KeyRecord>, StoreError> {
    tx.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE kid = ?1"),
        [kid],
        KeyRecord::from_row,
    )
    .optional()?
    .map(finish)
    .transpose()
}

fn insert_current(tx: &Transaction<'_>, key: &SigningKey, now: i64) -> Result<(), StoreError> {
    let public = Value::Object(key.public_jwk().clone()).to_string();
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM keys WHERE kid = ?1)",
        [key.kid()],
        |r| r.get(0),
    )?;
    if exists {
        return Err(StoreError::DuplicateKey(key.kid().to_owned()));
    }
    tx.execute(
        "INSERT INTO keys (kid, alg, public_jwk, created) VALUES (?1, ?2, ?3, ?4)",
        params![key.kid(), key.algorithm().to_string(), public, now],
    )?;
    Ok(())
}

/// Deletes retired keys whose retention has ended.
pub(crate) fn prune_keys(tx: &Transaction<'_>, now: i64) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "DELETE FROM keys WHERE retired IS NOT NULL AND max_exp < ?1",
        params![now.saturating_sub(RETENTION_SKEW)],
    )?)
}

/// What a signing closure hands back to [`Store::sign_with_current_key`]:
/// its result and the `iat` and `exp` of the passport it signed.
#[derive(Debug)]
pub struct Signed<T> {
    /// What the closure produced (the minted passport).
    pub value: T,
    /// The signed passport's `iat`: the key's retirement time will not be
    /// earlier, so a verifier never refuses it as signed after retirement.
    pub iat: i64,
    /// The signed passport's `exp`, recorded as the key's `max_exp`.
    pub exp: i64,
}

impl Store {
    /// Every key in the store, oldest first.
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM keys ORDER BY created, rowid"
            ))?;
            let rows = stmt.query_map([], KeyRecord::from_row)?;
            rows.map(|r| finish(r?)).collect()
        })
    }

    /// The key with this `kid`.
    pub fn key(&self, kid: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.read(|tx| key_in(tx, kid))
    }

    /// The current key, if there is one.
    pub fn current_key(&self) -> Result<Option<KeyRecord>, StoreError> {
        self.read(current_in)
    }

    /// The keys verifiers need at `now`: the current one, and retired keys
    /// (not revoked) until their retention ends.
    pub fn published_keys(&self, now: i64) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self
            .keys()?
            .into_iter()
            .filter(|k| k.is_published(now))
            .collect())
    }

    /// Makes `key` the current key if there is none, and returns the current
    /// key (`key`'s record, or the one another process made first).
    pub fn add_current_key(&self, key: &SigningKey, now: i64) -> Result<KeyRecord, StoreError> {
        self.write(|tx| {
            if let Some(current) = current_in(tx)? {
                return Ok(current);
            }
            insert_current(tx, key, now)?;
            current_in(tx)?.ok_or(StoreError::NoCurrentKey)
        })
    }

    /// Retires the current key (if any) and makes `new` current, in one
    /// transaction. Returns the retired key. The retirement time is `now`,
    /// or the key's last signature if that is later (a process whose `now`
    /// was read before it waited for the lock must not retire a key before
    /// a passport it signed). Retired keys past their retention are pruned.
    pub fn rotate(&self, new: &SigningKey, now: i64) -> Result<Option<KeyRecord>, StoreError> {
        self.write(|tx| {
            let old = current_in(tx)?.map(|k| k.kid);
            tx.execute(
                "UPDATE keys SET retired = MAX(?1, last_iat) WHERE retired IS NULL",
                [now],
            )?;
            insert_current(tx, new, now)?;
            let old = match old {
                Some(kid) => key_in(tx, &kid)?,
                None => None,
            };
            prune_keys(tx, now)?;
            Ok(old)
        })
    }

    /// Withdraws the key `kid` at `now` (compromised): it stops signing if it
    /// was current, and is never published again, so verifiers refuse every
    /// passport it signed. Revoking a revoked key changes nothing.
    pub fn revoke_key(&self, kid: &str, now: i64) -> Result<KeyRecord, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE keys SET retired = COALESCE(retired, MAX(?2, last_iat)),
                                 revoked = COALESCE(revoked, ?2)
                 WHERE kid = ?1",
                params![kid, now],
            )?;
            if changed == 0 {
                return Err(StoreError::UnknownKey(crate::error::shorten(kid)));
            }
            key_in(tx, kid)?.ok_or_else(|| StoreError::UnknownKey(crate::error::shorten(kid)))
        })
    }

    /// Signs one passport with the current key, in one `BEGIN IMMEDIATE`
    /// transaction: the current key is read, `sign` runs with it (and, when
    /// `status_uri` is given, with an allocator holding one index reserved
    /// for it in that list), then the passport's status record and the key's
    /// `max_exp` are written. A concurrent rotation waits for the commit, so
    /// a retired key never signs and no `max_exp` update is lost.
    ///
    /// `sign` gets the current key's record (the caller loads the private
    /// half by its `kid`) and must return the passport's `exp`. Expired
    /// status records are pruned in the same transaction.
    pub fn sign_with_current_key<T, E: From<StoreError>>(
        &self,
        now: i64,
        status_uri: Option<&str>,
        sign: impl FnOnce(&KeyRecord, Option<Arc<dyn StatusAllocator>>) -> Result<Signed<T>, E>,
    ) -> Result<T, E> {
        self.write(|tx| {
            let key = current_in(tx)?.ok_or(StoreError::NoCurrentKey)?;
            crate::status::prune_status(tx, now)?;
            let reservation = match status_uri {
                Some(uri) => Some(Arc::new(reserve(tx, uri)?)),
                None => None,
            };
            let allocator = reservation.clone().map(|r| r as Arc<dyn StatusAllocator>);
            let signed = sign(&key, allocator)?;
            if let Some(reservation) = reservation {
                record_reservation(tx, &reservation)?;
            }
            tx.execute(
                "UPDATE keys SET max_exp = MAX(max_exp, ?2), last_iat = MAX(last_iat, ?3)
                 WHERE kid = ?1",
                params![key.kid, signed.exp, signed.iat],
            )
            .map_err(StoreError::from)?;
            Ok(signed.value)
        })
    }
}

impl StatusAllocator for Reservation {
    fn allocate(&self, passport: &PassportClaims) -> Result<StatusReference, AllocationError> {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        if taken.is_some() {
            return Err(AllocationError::new(StoreError::Corrupt(
                "one reserved status index was asked for twice".into(),
            )));
        }
        *taken = Some((
            passport.jti.clone(),
            passport.agent.agent_id.clone(),
            passport.exp,
        ));
        StatusReference::new(self.idx, self.uri.clone()).map_err(AllocationError::new)
    }
}

/// Shared with `status.rs`: what an allocation recorded.
pub(crate) type Taken = Mutex<Option<(String, String, i64)>>;
