//! RFC 7638 thumbprints and JWK sets.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::alg::KeyAlgorithm;
use crate::key::key_algorithm_of;
use crate::{JoseError, VerifyingKey, json, rsa};

/// The JWK member naming when a key stopped signing: an integer NumericDate
/// (seconds since the epoch). An issuer publishes it on a retired key; a
/// verifier refuses a token whose `iat` is after it (`key_retired`). A key
/// without it is active. See [`VerifyingKey::retired_at`].
pub const JWK_RETIRED_AT: &str = "https://agent-passport.org/jwk/retired_at";

/// The [`JWK_RETIRED_AT`] member of `jwk`: absent, or a non-negative integer.
pub(crate) fn retired_at(jwk: &Map<String, Value>) -> Result<Option<i64>, JoseError> {
    match jwk.get(JWK_RETIRED_AT) {
        None => Ok(None),
        Some(v) => match v.as_i64() {
            Some(t) if t >= 0 => Ok(Some(t)),
            _ => Err(JoseError::InvalidKey(format!(
                "JWK member {JWK_RETIRED_AT:?} is not a non-negative integer"
            ))),
        },
    }
}

/// The RFC 7638 thumbprint of a JWK: SHA-256 over the JSON object of its
/// required members (RFC 7638 §3.2; OKP members from RFC 8037 §2) in
/// lexicographic order with no whitespace, base64url-encoded.
///
/// ```
/// // RFC 7638 §3.1
/// let jwk = serde_json::json!({
///     "kty": "RSA",
///     "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
///     "e": "AQAB",
///     "alg": "RS256",
///     "kid": "2011-04-29"
/// });
/// let thumbprint = passport_jose::thumbprint(jwk.as_object().unwrap())?;
/// assert_eq!(thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
/// # Ok::<(), passport_jose::JoseError>(())
/// ```
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, JoseError> {
    let names: &[&str] = match key_algorithm_of(jwk)? {
        KeyAlgorithm::Ed25519 => &["crv", "kty", "x"],
        KeyAlgorithm::EcP256 => &["crv", "kty", "x", "y"],
        KeyAlgorithm::Rsa => &["e", "kty", "n"],
    };
    let mut required = BTreeMap::new();
    for name in names {
        match jwk.get(*name) {
            Some(Value::String(v)) => {
                required.insert(*name, v.as_str());
            }
            _ => {
                return Err(JoseError::InvalidKey(format!(
                    "JWK member {name:?} is missing"
                )));
            }
        }
    }
    let canonical =
        serde_json::to_vec(&required).map_err(|_| JoseError::Crypto("thumbprint serialisation"))?;
    Ok(crate::sha256_b64url(&canonical))
}

/// A set of public keys (a JWKS document), indexed by `kid`.
///
/// Keys of types this crate does not verify with (`use: enc`, `key_ops`
/// naming encryption, RSA-OAEP, P-384, …) are skipped and counted in
/// [`JwkSet::skipped`]; a malformed or weak key of a supported type (see
/// [`VerifyingKey::from_jwk_map`]), or two keys with one `kid`, makes the
/// whole set an error.
///
/// ```
/// use passport_jose::{Algorithm, JwkSet, SigningKey};
/// let key = SigningKey::generate(Algorithm::EdDSA)?;
/// let set = JwkSet::from_keys([key.verifying_key()])?;
/// let doc = set.to_json();
/// let again = JwkSet::from_json(doc.to_string().as_bytes())?;
/// assert!(again.get(key.kid()).is_some());
/// # Ok::<(), passport_jose::JoseError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: HashMap<String, VerifyingKey>,
    order: Vec<String>,
    skipped: usize,
}

/// The most keys a JWKS document may hold. Real sets hold a handful
/// (current, next and retired keys).
pub const MAX_JWKS_KEYS: usize = 64;

/// The most keys a client's JWKS may hold ([`JwkSet::from_client_json`]):
/// a client signs its assertions with one key, two while it rotates.
pub const MAX_CLIENT_JWKS_KEYS: usize = 8;

impl JwkSet {
    /// An empty set.
    pub fn new() -> JwkSet {
        JwkSet::default()
    }

    /// A set of the given keys; two keys with one `kid` are an error.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<JwkSet, JoseError> {
        let mut set = JwkSet::new();
        for key in keys {
            set.insert(key)?;
        }
        Ok(set)
    }

    /// Parses a JWKS document (`{"keys": [...]}`), strictly. A set of more
    /// than [`MAX_JWKS_KEYS`] keys is refused before any key is parsed:
    /// checking an RSA key costs milliseconds, so a hostile provider's set of
    /// hundreds of large keys would otherwise cost minutes.
    pub fn from_json(bytes: &[u8]) -> Result<JwkSet, JoseError> {
        JwkSet::from_json_bounded(bytes, MAX_JWKS_KEYS, rsa::MAX_MODULUS_BITS)
    }

    /// [`JwkSet::from_json`] for a set that arrives with a request: an OAuth
    /// client's keys, from its registration, its client ID metadata document
    /// or its `jwks_uri`. Anyone may register a client, so what loading its
    /// set costs is bounded as for a holder's key
    /// ([`VerifyingKey::from_holder_jwk_map`](crate::VerifyingKey::from_holder_jwk_map)):
    /// at most [`MAX_CLIENT_JWKS_KEYS`] keys, refused before any is parsed,
    /// and RSA moduli of at most 4096 bits, refused before the primality
    /// test (whose cost grows with the cube of the size).
    ///
    /// ```
    /// use passport_jose::{JwkSet, b64};
    /// // A 4097-bit modulus: a trusted set may hold it, a client's may not.
    /// let mut n = vec![0xffu8; 513];
    /// n[0] = 0x01;
    /// let key = serde_json::json!({"kty": "RSA", "n": b64::encode(&n), "e": "AQAB"});
    /// let doc = serde_json::json!({"keys": [key]}).to_string();
    /// let err = JwkSet::from_client_json(doc.as_bytes()).unwrap_err();
    /// assert_eq!(err.code(), "invalid_key");
    /// ```
    pub fn from_client_json(bytes: &[u8]) -> Result<JwkSet, JoseError> {
        JwkSet::from_json_bounded(bytes, MAX_CLIENT_JWKS_KEYS, rsa::MAX_HOLDER_MODULUS_BITS)
    }

    fn from_json_bounded(
        bytes: &[u8],
        max_keys: usize,
        max_rsa_bits: usize,
    ) -> Result<JwkSet, JoseError> {
        let mut doc = json::parse_object(bytes, "jwks")?;
        let Some(Value::Array(keys)) = doc.remove("keys") else {
            return Err(JoseError::InvalidJson {
                part: "jwks",
                reason: "no `keys` array".into(),
            });
        };
        if keys.len() > max_keys {
            return Err(JoseError::InvalidJson {
                part: "jwks",
                reason: format!("{} keys, more than the {max_keys} accepted", keys.len()),
            });
        }
        let mut set = JwkSet::new();
        for key in keys {
            let Value::Object(map) = key else {
                return Err(JoseError::InvalidJson {
                    part: "jwks",
                    reason: "a key is not an object".into(),
                });
            };
            if !is_supported_signing_key(&map) {
                set.skipped += 1;
                continue;
            }
            set.insert(VerifyingKey::from_jwk_map_bounded(map, max_rsa_bits)?)?;
        }
        Ok(set)
    }

    /// Reads and parses a JWKS file.
    pub fn from_file(path: &Path) -> Result<JwkSet, JoseError> {
        let bytes = std::fs::read(path).map_err(|source| JoseError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        JwkSet::from_json(&bytes)
    }

    /// Adds a key; a second key with the same `kid` is an error.
    pub fn insert(&mut self, key: VerifyingKey) -> Result<(), JoseError> {
        let kid = key.kid().to_owned();
        if self.keys.contains_key(&kid) {
            return Err(JoseError::InvalidKey(format!("two keys with kid {kid:?}")));
        }
        self.order.push(kid.clone());
        self.keys.insert(kid, key);
        Ok(())
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// The keys, in document order.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.order.iter().filter_map(|kid| self.keys.get(kid))
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the document were skipped as not usable for verifying.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The public JWKS document.
    pub fn to_json(&self) -> Value {
        let keys: Vec<Value> = self
            .iter()
            .map(|k| Value::Object(k.jwk().clone()))
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// True for keys this crate can verify with; others in a JWKS are skipped.
fn is_supported_signing_key(map: &Map<String, Value>) -> bool {
    if map.get("use").is_some_and(|u| u != "sig") {
        return false;
    }
    if matches!(crate::key::key_ops_allow_signatures(map), Ok(false)) {
        return false;
    }
    if let Some(alg) = map.get("alg")
        && alg
            .as_str()
            .is_none_or(|a| crate::Algorithm::parse(a).is_err())
    {
        return false;
    }
    key_algorithm_of(map).is_ok()
}
