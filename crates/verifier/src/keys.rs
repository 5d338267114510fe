//! Trusted key stores: where a verifier finds a key, by the issuer a token
//! names (`iss`) and the `kid` of its header.
//!
//! Every key belongs to exactly one issuer (SPEC §5 item 5): a passport
//! claiming `iss: A` is verified only with a key of A, so a key of another
//! trusted issuer B (or whoever stole it) cannot mint as A.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use passport_jose::{JoseError, JwkSet, VerifyingKey};

use crate::VerifyError;
use crate::rules::shorten;

/// Finds trusted public keys by issuer and `kid`. Keys are only ever found
/// here: a token's header never supplies one.
pub trait KeyStore: Send + Sync {
    /// The key of issuer `iss` with this `kid`, if trusted. A key of any
    /// other issuer is never returned, whatever its `kid`.
    fn key(&self, iss: &str, kid: &str) -> Option<VerifyingKey>;
}

impl<K: KeyStore + ?Sized> KeyStore for Arc<K> {
    fn key(&self, iss: &str, kid: &str) -> Option<VerifyingKey> {
        (**self).key(iss, kid)
    }
}

#[derive(Debug, Clone)]
struct Entry {
    key: VerifyingKey,
    /// The RFC 7638 thumbprint: the same key material under another `kid`
    /// is still the same key.
    thumbprint: String,
}

/// The maps' hasher. Their names are never a token's (a token's `iss` and
/// `kid` are only looked up): the issuers are the operator's, and the
/// `kid`s are those of the keys the operator added or of a JWKS a trusted
/// issuer publishes (`passport verify --trust ISSUER=URL`, a remote key
/// store). Such a publisher could craft colliding `kid`s, which with this
/// hasher is easy, but a set holds at most
/// [`MAX_JWKS_KEYS`](passport_jose::MAX_JWKS_KEYS) (64) keys and replaces
/// its issuer's map whole ([`InMemoryKeyStore::replace_all`]), so the worst
/// lookup compares 64 names, once per verification — no flood
/// to defend against with the randomised SipHash a map uses by default,
/// which would only cost time on every verification. Eight bytes at a
/// time, a rotate, an xor and a multiply, then the high half folded into
/// the low bits the map indexes with.
#[derive(Default, Clone, Copy)]
struct NameHasher(u64);

impl NameHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }
}

type Names = BuildHasherDefault<NameHasher>;
type Keys = HashMap<String, Entry, Names>;
type Issuers = HashMap<String, Keys, Names>;

/// A key store held in memory, keys grouped by issuer; keys can be added and
/// removed while verifiers use it (a removed key also invalidates the
/// verifier's cached ancestor results for it).
///
/// One key (the same key material, whatever its `kid`) belongs to one issuer
/// only: adding it under a second issuer is refused (`key_issuer_conflict`).
///
/// ```
/// use passport_jose::{Algorithm, SigningKey};
/// use passport_verifier::{InMemoryKeyStore, KeyStore};
/// let key = SigningKey::generate(Algorithm::EdDSA)?;
/// let store = InMemoryKeyStore::new();
/// store.insert("https://issuer.local", key.verifying_key())?;
/// assert!(store.key("https://issuer.local", key.kid()).is_some());
/// // The same kid asked for another issuer: not its key.
/// assert!(store.key("https://other.example", key.kid()).is_none());
/// // Nor can the key be given to another issuer as well.
/// assert!(store.insert("https://other.example", key.verifying_key()).is_err());
/// store.remove("https://issuer.local", key.kid());
/// assert!(store.key("https://issuer.local", key.kid()).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryKeyStore {
    issuers: RwLock<Issuers>,
}

impl InMemoryKeyStore {
    /// An empty store.
    pub fn new() -> InMemoryKeyStore {
        InMemoryKeyStore::default()
    }

    /// A store holding every key of a JWKS, all belonging to `issuer`.
    pub fn from_jwks(
        issuer: impl Into<String>,
        set: &JwkSet,
    ) -> Result<InMemoryKeyStore, VerifyError> {
        let store = InMemoryKeyStore::new();
        store.replace_all(issuer, set)?;
        Ok(store)
    }

    /// Adds (or replaces) a key of `issuer` under its `kid`. Refused when
    /// the same key already belongs to another issuer.
    pub fn insert(&self, issuer: impl Into<String>, key: VerifyingKey) -> Result<(), VerifyError> {
        let issuer = issuer.into();
        let entry = entry(key)?;
        let mut issuers = self.write();
        check_owner(&issuers, &issuer, &entry)?;
        issuers
            .entry(issuer)
            .or_default()
            .insert(entry.key.kid().to_owned(), entry);
        Ok(())
    }

    /// Removes the key of `issuer` with this `kid`.
    pub fn remove(&self, issuer: &str, kid: &str) -> Option<VerifyingKey> {
        let mut issuers = self.write();
        let keys = issuers.get_mut(issuer)?;
        let removed = keys.remove(kid).map(|e| e.key);
        if keys.is_empty() {
            issuers.remove(issuer);
        }
        removed
    }

    /// Replaces every key of `issuer` with those of `set` (the other
    /// issuers' keys stay). Refused, changing nothing, when a key of `set`
    /// belongs to another issuer.
    pub fn replace_all(&self, issuer: impl Into<String>, set: &JwkSet) -> Result<(), VerifyError> {
        let issuer = issuer.into();
        let entries = set
            .iter()
            .map(|k| entry(k.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut issuers = self.write();
        for e in &entries {
            check_owner(&issuers, &issuer, e)?;
        }
        let keys: Keys = entries
            .into_iter()
            .map(|e| (e.key.kid().to_owned(), e))
            .collect();
        if keys.is_empty() {
            issuers.remove(&issuer);
        } else {
            issuers.insert(issuer, keys);
        }
        Ok(())
    }

    /// The issuers that have at least one key here.
    pub fn issuers(&self) -> Vec<String> {
        let mut issuers: Vec<String> = self.read().keys().cloned().collect();
        issuers.sort();
        issuers
    }

    /// How many keys, all issuers together.
    pub fn len(&self) -> usize {
        self.read().values().map(HashMap::len).sum()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A poisoned lock only means another thread panicked mid-update of a map
    // whose every state is valid; keep serving rather than fail closed forever.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Issuers> {
        self.issuers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Issuers> {
        self.issuers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn entry(key: VerifyingKey) -> Result<Entry, VerifyError> {
    let thumbprint = key.thumbprint()?;
    Ok(Entry { key, thumbprint })
}

/// `entry` may join `issuer`: no other issuer holds the same key material.
fn check_owner(issuers: &Issuers, issuer: &str, entry: &Entry) -> Result<(), VerifyError> {
    let other = issuers.iter().find(|(iss, keys)| {
        iss.as_str() != issuer && keys.values().any(|e| e.thumbprint == entry.thumbprint)
    });
    match other {
        Some((owner, _)) => Err(VerifyError::KeyIssuerConflict {
            kid: shorten(entry.key.kid()),
            issuer: shorten(issuer),
            owner: shorten(owner),
        }),
        None => Ok(()),
    }
}

impl KeyStore for InMemoryKeyStore {
    fn key(&self, iss: &str, kid: &str) -> Option<VerifyingKey> {
        self.read()
            .get(iss)
            .and_then(|keys| keys.get(kid))
            .map(|e| e.key.clone())
    }
}

/// The keys of one issuer, loaded from a JWKS document (a file or a string).
///
/// ```
/// use passport_jose::{Algorithm, JwkSet, SigningKey};
/// use passport_verifier::{JwksKeyStore, KeyStore};
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let doc = JwkSet::from_keys([key.verifying_key()])?.to_json().to_string();
/// let store = JwksKeyStore::from_json("https://issuer.local", doc.as_bytes())?;
/// assert!(store.key("https://issuer.local", key.kid()).is_some());
/// assert!(store.key("https://other.example", key.kid()).is_none());
/// # Ok::<(), passport_jose::JoseError>(())
/// ```
#[derive(Debug)]
pub struct JwksKeyStore {
    issuer: String,
    keys: RwLock<Arc<JwkSet>>,
    path: Option<PathBuf>,
}

impl JwksKeyStore {
    /// Parses a JWKS document holding `issuer`'s keys.
    pub fn from_json(issuer: impl Into<String>, bytes: &[u8]) -> Result<JwksKeyStore, JoseError> {
        Ok(JwksKeyStore {
            issuer: issuer.into(),
            keys: RwLock::new(Arc::new(JwkSet::from_json(bytes)?)),
            path: None,
        })
    }

    /// Reads a JWKS file holding `issuer`'s keys; [`JwksKeyStore::reload`]
    /// reads it again.
    pub fn open(issuer: impl Into<String>, path: &Path) -> Result<JwksKeyStore, JoseError> {
        Ok(JwksKeyStore {
            issuer: issuer.into(),
            keys: RwLock::new(Arc::new(JwkSet::from_file(path)?)),
            path: Some(path.to_owned()),
        })
    }

    /// Re-reads the file this store came from. On error the old keys stay.
    pub fn reload(&self) -> Result<(), JoseError> {
        if let Some(path) = &self.path {
            let set = Arc::new(JwkSet::from_file(path)?);
            *self
                .keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = set;
        }
        Ok(())
    }

    /// The issuer these keys belong to.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.set().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.set().is_empty()
    }

    fn set(&self) -> Arc<JwkSet> {
        Arc::clone(
            &self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl KeyStore for JwksKeyStore {
    fn key(&self, iss: &str, kid: &str) -> Option<VerifyingKey> {
        if iss != self.issuer {
            return None;
        }
        self.set().get(kid).cloned()
    }
}
