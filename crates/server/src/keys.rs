//! The server's signing keys: generated on the first start and kept in the
//! database (so every instance on one database signs with the same key and
//! publishes the same set), published as the JWKS, and rotated while
//! running: a new key is added as `next` (published, not signing), promoted
//! to `current` once it has been published long enough, and the retired key
//! stays published until the last passport it signed expires.
//!
//! Each instance holds what it serves with in one [`KeySet`] (the issuer
//! with its key, the verifiers with their signature caches, the JWKS),
//! built once and swapped whole when the database's keys change: it reloads
//! them every [`KEY_RELOAD_INTERVAL`] seconds and on an unknown `kid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use passport_claims::Clock;
use passport_issuer::Issuer;
use passport_jose::{Algorithm, SigningKey, VerifyingKey};
use passport_store::StoreError;
use passport_store::server::{Database, KeyMaterial, KeyState, NewSigningKey, SigningKeyRecord};
use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier, VerifyError};
use serde_json::{Value, json};

use crate::service::ServerError;

/// How long the JWKS may be cached, in seconds.
pub(crate) const JWKS_MAX_AGE: u64 = 60;
/// How often an instance reads the database's keys again, in seconds.
pub const KEY_RELOAD_INTERVAL: i64 = 10;
/// How long after [`rotate_signing_key`] a new key starts signing, in
/// seconds: every instance has published it (within one reload interval)
/// and every JWKS cached before is stale (its max-age).
pub const KEY_ROTATION_DELAY: i64 = JWKS_MAX_AGE as i64 + KEY_RELOAD_INTERVAL;
/// Verifiers (one per audience, each with its signature cache) kept per
/// key set; when full the set starts afresh.
const MAX_VERIFIERS: usize = 64;

/// A key rotation scheduled by [`rotate_signing_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduledKey {
    /// The new key's `kid`, published from now on.
    pub kid: String,
    /// When it starts signing (Unix seconds): the first key reload of any
    /// instance at or after this time promotes it.
    pub signs_from: i64,
}

/// Schedules a rotation of the signing key of every instance on
/// `database`: a new Ed25519 key is published at once as `next` and
/// starts signing [`KEY_ROTATION_DELAY`] seconds after `now`; the key it
/// replaces stays published until the last passport it signed expires.
/// Refused ([`StoreError::DuplicateKey`]) while another rotation is
/// pending. Instances pick the change up at their next key reload (every
/// [`KEY_RELOAD_INTERVAL`] seconds); [`crate::Server::rotate_signing_key`]
/// also reloads its own at once.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use passport_store::server::Database;
///
/// let db = Database::open("/var/lib/passport/server.db", 1_700_000_000).await?;
/// let next = passport_server::rotate_signing_key(&db, 1_700_000_000).await?;
/// println!("{} signs from {}", next.kid, next.signs_from);
/// # Ok(())
/// # }
/// ```
pub async fn rotate_signing_key(
    database: &Database,
    now: i64,
) -> Result<ScheduledKey, ServerError> {
    let signs_from = now.saturating_add(KEY_ROTATION_DELAY);
    let key = SigningKey::generate(Algorithm::EdDSA)?;
    database
        .add_next_key(NewSigningKey {
            kid: key.kid().to_owned(),
            alg: key.algorithm().as_str().to_owned(),
            private_key: KeyMaterial::new(key.private_jwk_json()?),
            not_before: signs_from,
            created_at: now,
        })
        .await?;
    Ok(ScheduledKey {
        kid: key.kid().to_owned(),
        signs_from,
    })
}

/// The database's keys at `now`, after promoting a `next` key whose time
/// has come (or, on the first start, generating the first key).
pub(crate) async fn load(db: &Database, now: i64) -> Result<Vec<SigningKeyRecord>, ServerError> {
    let records = db.signing_keys().await?;
    let has_current = records.iter().any(|k| k.state == KeyState::Current);
    let due = records
        .iter()
        .any(|k| k.state == KeyState::Next && k.not_before <= now);
    if has_current && !due {
        return Ok(records);
    }
    if has_current {
        match db.promote_next_key(now).await {
            // another instance promoted it first
            Ok(_) | Err(StoreError::NoNextKey) => {}
            Err(e) => return Err(e.into()),
        }
    } else {
        current_key(db, now).await?;
    }
    Ok(db.signing_keys().await?)
}

/// The key the server signs with, creating it on the first start: an
/// Ed25519 key added as `next` and promoted at once (nothing was signed
/// before it, so there is no overlap to wait for). An instance that loses
/// the race to create it reads the winner's.
async fn current_key(db: &Database, now: i64) -> Result<SigningKey, ServerError> {
    for _ in 0..3 {
        let keys = db.signing_keys().await?;
        if let Some(current) = keys.iter().rev().find(|k| k.state == KeyState::Current) {
            return parse(current);
        }
        if !keys.iter().any(|k| k.state == KeyState::Next) {
            // only while no other instance has added or promoted one since
            // the read above (else this would be a rotation without overlap)
            let key = SigningKey::generate(Algorithm::EdDSA)?;
            db.add_first_key(NewSigningKey {
                kid: key.kid().to_owned(),
                alg: key.algorithm().as_str().to_owned(),
                private_key: KeyMaterial::new(key.private_jwk_json()?),
                not_before: now,
                created_at: now,
            })
            .await?;
        }
        match db.promote_next_key(now).await {
            Ok(record) => return parse(&record),
            // another instance promoted it first: read again
            Err(StoreError::NoNextKey) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServerError::NoSigningKey)
}

fn parse(record: &SigningKeyRecord) -> Result<SigningKey, ServerError> {
    Ok(SigningKey::from_jwk_json(
        record.private_key.expose().as_bytes(),
    )?)
}

/// Whether the JWKS publishes `record` at `now`: as the database says
/// ([`SigningKeyRecord::is_published`]), and a retired key for one reload
/// interval after its retirement whatever it signed, since an instance that
/// has not reloaded yet still signs with it (status lists, passports).
fn published(record: &SigningKeyRecord, now: i64) -> bool {
    record.is_published(now)
        || (record.state == KeyState::Retired
            && record
                .retired_at
                .is_some_and(|at| at.saturating_add(KEY_RELOAD_INTERVAL + 1) >= now))
}

/// What identifies a key set: the current key and every published key
/// with its state. Equal fingerprints, equal key sets.
pub(crate) fn fingerprint(records: &[SigningKeyRecord], now: i64) -> Vec<(String, KeyState)> {
    records
        .iter()
        .filter(|k| published(k, now))
        .map(|k| (k.kid.clone(), k.state))
        .collect()
}

/// Everything an instance signs and verifies with, for one state of the
/// database's keys: built once, shared by every request, replaced whole.
pub(crate) struct KeySet {
    /// The current key (status lists are signed with it).
    pub(crate) key: SigningKey,
    /// The issuer minting with the current key; its status allocator hands
    /// out the index the request reserved (`crate::status_pool`).
    pub(crate) issuer: Issuer,
    /// The published keys, as verifiers read them.
    keys: Arc<InMemoryKeyStore>,
    /// One verifier per audience, each keeping its signature cache.
    verifiers: Mutex<HashMap<String, Arc<Verifier>>>,
    /// The RFC 7517 JWK Set served at the JWKS endpoint.
    pub(crate) jwks: Value,
    pub(crate) fingerprint: Vec<(String, KeyState)>,
}

/// What a [`KeySet`] is built for.
pub(crate) struct KeySetConfig<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) clock: &'a Arc<dyn Clock>,
    pub(crate) max_depth: usize,
    pub(crate) status_uri: &'a str,
}

impl KeySet {
    pub(crate) fn build(
        records: &[SigningKeyRecord],
        now: i64,
        config: &KeySetConfig<'_>,
    ) -> Result<KeySet, ServerError> {
        let current = records
            .iter()
            .rev()
            .find(|k| k.state == KeyState::Current)
            .ok_or(ServerError::NoSigningKey)?;
        let key = parse(current)?;
        let issuer = Issuer::new(config.issuer, key.try_clone()?)
            .with_clock(config.clock.clone())
            .with_max_depth(config.max_depth)
            .with_status(Arc::new(crate::status_pool::ReservedIndex::new(
                config.status_uri,
            )));
        let published = records
            .iter()
            .filter(|k| published(k, now))
            .map(|k| Ok(parse(k)?.verifying_key()))
            .collect::<Result<Vec<VerifyingKey>, ServerError>>()?;
        let keys = InMemoryKeyStore::new();
        for k in &published {
            keys.insert(config.issuer, k.clone())
                .map_err(|e| ServerError::Store(StoreError::Corrupt(e.to_string())))?;
        }
        Ok(KeySet {
            key,
            issuer,
            keys: Arc::new(keys),
            verifiers: Mutex::new(HashMap::new()),
            jwks: jwks(&published),
            fingerprint: fingerprint(records, now),
        })
    }

    /// The `kid` it signs with.
    pub(crate) fn kid(&self) -> &str {
        self.key.kid()
    }

    /// The verifier of this issuer's passports for `audience`, warm (its
    /// signature cache kept) when one was [`kept`](KeySet::keep) before.
    pub(crate) fn verifier(
        &self,
        issuer: &str,
        audience: &str,
        clock: &Arc<dyn Clock>,
    ) -> Result<Arc<Verifier>, VerifyError> {
        if let Some(v) = self.lock().get(audience) {
            return Ok(Arc::clone(v));
        }
        let policy = VerificationPolicy::new(issuer, audience);
        Ok(Arc::new(
            Verifier::with_key_store(policy, self.keys.clone())?
                .with_clock(clock.clone())
                // introspection reads the registry instead
                .dangerous_ignore_status(),
        ))
    }

    /// Keeps `verifier` (which verified a passport: its audience is one
    /// this issuer minted for) for the next request.
    pub(crate) fn keep(&self, verifier: &Arc<Verifier>) {
        let audience = verifier.policy().audience.clone();
        let mut verifiers = self.lock();
        if verifiers.contains_key(&audience) {
            return;
        }
        if verifiers.len() >= MAX_VERIFIERS {
            verifiers.clear();
        }
        verifiers.insert(audience, Arc::clone(verifier));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Verifier>>> {
        self.verifiers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The RFC 7517 JWK Set of `keys`, each marked `use: sig`.
pub(crate) fn jwks(keys: &[VerifyingKey]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut jwk = k.jwk().clone();
            jwk.insert("use".into(), json!("sig"));
            Value::Object(jwk)
        })
        .collect();
    json!({ "keys": keys })
}
