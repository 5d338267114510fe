//! Trusted key stores: where a verifier finds a key by `kid`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use passport_jose::{JoseError, JwkSet, VerifyingKey};

/// Finds trusted public keys by `kid`. Keys are only ever found here: a
/// token's header never supplies one.
pub trait KeyStore: Send + Sync {
    /// The key with this `kid`, if trusted.
    fn key(&self, kid: &str) -> Option<VerifyingKey>;
}

impl<K: KeyStore + ?Sized> KeyStore for Arc<K> {
    fn key(&self, kid: &str) -> Option<VerifyingKey> {
        (**self).key(kid)
    }
}

/// A key store held in memory; keys can be added and removed while
/// verifiers use it (a removed key also invalidates the verifier's cached
/// ancestor results for it).
///
/// ```
/// use passport_jose::{Algorithm, SigningKey};
/// use passport_verifier::{InMemoryKeyStore, KeyStore};
/// let key = SigningKey::generate(Algorithm::EdDSA)?;
/// let store = InMemoryKeyStore::new();
/// store.insert(key.verifying_key());
/// assert!(store.key(key.kid()).is_some());
/// store.remove(key.kid());
/// assert!(store.key(key.kid()).is_none());
/// # Ok::<(), passport_jose::JoseError>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryKeyStore {
    keys: RwLock<HashMap<String, VerifyingKey>>,
}

impl InMemoryKeyStore {
    /// An empty store.
    pub fn new() -> InMemoryKeyStore {
        InMemoryKeyStore::default()
    }

    /// A store holding every key of a JWKS.
    pub fn from_jwks(set: &JwkSet) -> InMemoryKeyStore {
        let store = InMemoryKeyStore::new();
        store.replace_all(set);
        store
    }

    /// Adds (or replaces) a key under its `kid`.
    pub fn insert(&self, key: VerifyingKey) {
        self.write().insert(key.kid().to_owned(), key);
    }

    /// Removes the key with this `kid`.
    pub fn remove(&self, kid: &str) -> Option<VerifyingKey> {
        self.write().remove(kid)
    }

    /// Replaces every key with those of `set`.
    pub fn replace_all(&self, set: &JwkSet) {
        let keys = set
            .iter()
            .map(|k| (k.kid().to_owned(), k.clone()))
            .collect();
        *self.write() = keys;
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    // A poisoned lock only means another thread panicked mid-update of a map
    // whose every state is valid; keep serving rather than fail closed forever.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, VerifyingKey>> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, VerifyingKey>> {
        self.keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl KeyStore for InMemoryKeyStore {
    fn key(&self, kid: &str) -> Option<VerifyingKey> {
        self.read().get(kid).cloned()
    }
}

/// A key store loaded from a JWKS document (a file or a string).
///
/// ```
/// use passport_jose::{Algorithm, JwkSet, SigningKey};
/// use passport_verifier::{JwksKeyStore, KeyStore};
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let doc = JwkSet::from_keys([key.verifying_key()])?.to_json().to_string();
/// let store = JwksKeyStore::from_json(doc.as_bytes())?;
/// assert!(store.key(key.kid()).is_some());
/// # Ok::<(), passport_jose::JoseError>(())
/// ```
#[derive(Debug)]
pub struct JwksKeyStore {
    keys: InMemoryKeyStore,
    path: Option<PathBuf>,
}

impl JwksKeyStore {
    /// Parses a JWKS document.
    pub fn from_json(bytes: &[u8]) -> Result<JwksKeyStore, JoseError> {
        Ok(JwksKeyStore {
            keys: InMemoryKeyStore::from_jwks(&JwkSet::from_json(bytes)?),
            path: None,
        })
    }

    /// Reads a JWKS file; [`JwksKeyStore::reload`] reads it again.
    pub fn from_file(path: &Path) -> Result<JwksKeyStore, JoseError> {
        Ok(JwksKeyStore {
            keys: InMemoryKeyStore::from_jwks(&JwkSet::from_file(path)?),
            path: Some(path.to_owned()),
        })
    }

    /// Re-reads the file this store came from. On error the old keys stay.
    pub fn reload(&self) -> Result<(), JoseError> {
        if let Some(path) = &self.path {
            let set = JwkSet::from_file(path)?;
            self.keys.replace_all(&set);
        }
        Ok(())
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyStore for JwksKeyStore {
    fn key(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys.key(kid)
    }
}
