//! Signing and verifying keys.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey};
use serde_json::{Map, Value};

use crate::alg::{Algorithm, KeyAlgorithm, truncate};
use crate::{JoseError, b64, ed25519, json, jwk, rsa};

/// Members that only a private JWK has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// A private signing key with its `kid` (the RFC 7638 thumbprint of its public
/// half) and the algorithm it signs with.
///
/// `Debug` never prints key material.
///
/// ```
/// use passport_jose::{Algorithm, SigningKey};
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// assert_eq!(key.algorithm(), Algorithm::ES256);
/// assert!(!format!("{key:?}").contains("\"d\""));
/// # Ok::<(), passport_jose::JoseError>(())
/// ```
pub struct SigningKey {
    alg: Algorithm,
    inner: SigningInner,
    private_jwk: Map<String, Value>,
    public: VerifyingKey,
}

enum SigningInner {
    Ed25519(Ed25519KeyPair),
    EcP256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl SigningKey {
    /// Generates a new key for `alg` through aws-lc-rs: Ed25519, P-256, or
    /// RSA with a 2048-bit modulus and `e = 65537`.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, JoseError> {
        let mut map = Map::new();
        match alg.key_algorithm() {
            KeyAlgorithm::Ed25519 => {
                let pair = Ed25519KeyPair::generate()
                    .map_err(|_| JoseError::Crypto("Ed25519 key generation"))?;
                let seed = pair
                    .seed()
                    .map_err(|_| JoseError::Crypto("Ed25519 seed export"))?;
                let seed = seed
                    .as_be_bytes()
                    .map_err(|_| JoseError::Crypto("Ed25519 seed export"))?;
                map.insert("kty".into(), "OKP".into());
                map.insert("crv".into(), "Ed25519".into());
                map.insert("x".into(), b64::encode(pair.public_key().as_ref()).into());
                map.insert("d".into(), b64::encode(seed.as_ref()).into());
            }
            KeyAlgorithm::EcP256 => {
                let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| JoseError::Crypto("P-256 key generation"))?;
                let d = pair
                    .private_key()
                    .as_be_bytes()
                    .map_err(|_| JoseError::Crypto("P-256 key export"))?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err(JoseError::Crypto("P-256 public key export"));
                }
                map.insert("kty".into(), "EC".into());
                map.insert("crv".into(), "P-256".into());
                map.insert("x".into(), b64::encode(&point[1..33]).into());
                map.insert("y".into(), b64::encode(&point[33..65]).into());
                map.insert("d".into(), b64::encode(d.as_ref()).into());
            }
            KeyAlgorithm::Rsa => {
                map = rsa::generate()?;
            }
        }
        map.insert("alg".into(), alg.as_str().into());
        map.insert("use".into(), "sig".into());
        SigningKey::from_jwk_map(map)
    }

    /// Builds a signing key from a private JWK (`kty` OKP/Ed25519, EC/P-256 or
    /// RSA). The JWK's `alg`, when present, selects the signing algorithm;
    /// otherwise EdDSA, ES256 or RS256 by key type. A `kid` that is not the
    /// key's RFC 7638 thumbprint is refused. A private RSA JWK must carry the
    /// CRT members (`p`, `q`, `dp`, `dq`, `qi`) as well as `d`
    /// ([`JoseError::IncompleteRsaKey`]), and its public half must pass the
    /// checks of [`VerifyingKey::from_jwk_map`].
    pub fn from_jwk_map(mut map: Map<String, Value>) -> Result<SigningKey, JoseError> {
        let key_alg = key_algorithm_of(&map)?;
        let alg = match map.get("alg") {
            None => default_algorithm(key_alg),
            Some(Value::String(name)) => {
                let alg = Algorithm::parse(name)?;
                if alg.key_algorithm() != key_alg {
                    return Err(JoseError::InvalidKey(format!(
                        "JWK alg {alg} does not fit a {key_alg} key"
                    )));
                }
                alg
            }
            Some(_) => return Err(JoseError::InvalidKey("JWK alg is not a string".into())),
        };
        check_use(&map)?;
        let inner = match key_alg {
            KeyAlgorithm::Ed25519 => {
                let x = member_bytes(&map, "x", 32)?;
                let d = member_bytes(&map, "d", 32)?;
                SigningInner::Ed25519(
                    Ed25519KeyPair::from_seed_and_public_key(&d, &x)
                        .map_err(|e| JoseError::InvalidKey(format!("Ed25519: {e}")))?,
                )
            }
            KeyAlgorithm::EcP256 => {
                let point = ec_point(&map)?;
                let d = member_bytes(&map, "d", 32)?;
                SigningInner::EcP256(
                    EcdsaKeyPair::from_private_key_and_public_key(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &d,
                        &point,
                    )
                    .map_err(|e| JoseError::InvalidKey(format!("P-256: {e}")))?,
                )
            }
            KeyAlgorithm::Rsa => SigningInner::Rsa(rsa::key_pair(&map)?),
        };
        let public_map = public_members(&map, key_alg);
        let kid = jwk::thumbprint(&public_map)?;
        match map.get("kid") {
            None => {
                map.insert("kid".into(), kid.clone().into());
            }
            Some(Value::String(k)) if *k == kid => {}
            Some(_) => {
                return Err(JoseError::InvalidKey(
                    "kid is not the key's RFC 7638 thumbprint".into(),
                ));
            }
        }
        let mut public_jwk = public_map;
        public_jwk.insert("kid".into(), kid.into());
        public_jwk.insert("alg".into(), alg.as_str().into());
        public_jwk.insert("use".into(), "sig".into());
        let public = VerifyingKey::from_jwk_map(public_jwk)?;
        Ok(SigningKey {
            alg,
            inner,
            private_jwk: map,
            public,
        })
    }

    /// A second handle on the same private key (re-parsed from its JWK; the
    /// key material is not `Clone` by design).
    pub fn try_clone(&self) -> Result<SigningKey, JoseError> {
        SigningKey::from_jwk_map(self.private_jwk.clone())
    }

    /// The private JWK document [`SigningKey::from_jwk_json`] reads back: for
    /// a key store that keeps keys in a database rather than in a file
    /// ([`SigningKey::save`]). **Secret**: never log or print it.
    ///
    /// ```
    /// use passport_jose::{Algorithm, SigningKey};
    /// let key = SigningKey::generate(Algorithm::EdDSA)?;
    /// let again = SigningKey::from_jwk_json(key.private_jwk_json()?.as_bytes())?;
    /// assert_eq!(again.kid(), key.kid());
    /// # Ok::<(), passport_jose::JoseError>(())
    /// ```
    pub fn private_jwk_json(&self) -> Result<String, JoseError> {
        serde_json::to_string(&self.private_jwk).map_err(|_| JoseError::Crypto("JWK serialisation"))
    }

    /// Parses a private JWK document.
    pub fn from_jwk_json(bytes: &[u8]) -> Result<SigningKey, JoseError> {
        SigningKey::from_jwk_map(json::parse_object(bytes, "jwk")?)
    }

    /// Loads a private JWK file. On Unix the file must not be readable or
    /// writable by group or others (like an SSH private key).
    pub fn load(path: &Path) -> Result<SigningKey, JoseError> {
        let io = |source| JoseError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(JoseError::InsecureKeyFile {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        SigningKey::from_jwk_json(&bytes)
    }

    /// Saves the private JWK to `path` with mode `0600`, atomically: the key
    /// is written to a new file beside `path` and renamed over it, so a crash
    /// never leaves a truncated key behind.
    pub fn save(&self, path: &Path) -> Result<(), JoseError> {
        let io = |source| JoseError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&self.private_jwk)
            .map_err(|_| JoseError::Crypto("JWK serialisation"))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let result = (|| {
            let mut file = options.open(&tmp)?;
            file.write_all(&bytes)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key's `kid`: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The public half, ready to verify.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public.clone()
    }

    /// The public JWK (with `kid`, `alg` and `use`).
    pub fn public_jwk(&self) -> &Map<String, Value> {
        self.public.jwk()
    }

    /// Signs `signing_input` (the ASCII `header.payload` of a JWS) and
    /// returns the raw signature (64 bytes `r || s` for ES256).
    pub fn sign_raw(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        match &self.inner {
            SigningInner::Ed25519(pair) => Ok(pair.sign(signing_input).as_ref().to_vec()),
            SigningInner::EcP256(pair) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&rng, signing_input)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| JoseError::Crypto("ECDSA signing"))
            }
            SigningInner::Rsa(pair) => rsa::sign(pair, signing_input),
        }
    }

    /// Signs `payload` as a compact JWS with header
    /// `{"alg": …, "kid": …, "typ": typ}` (`typ` omitted when `None`).
    pub fn sign_compact(&self, typ: Option<&str>, payload: &[u8]) -> Result<String, JoseError> {
        let mut header = Map::new();
        header.insert("alg".into(), self.alg.as_str().into());
        header.insert("kid".into(), self.kid().into());
        if let Some(typ) = typ {
            header.insert("typ".into(), typ.into());
        }
        self.sign_compact_with_header(&header, payload)
    }

    /// Signs `payload` under a caller-built header. The header is written as
    /// given; it is the caller's job to make `alg` this key's algorithm.
    pub fn sign_compact_with_header(
        &self,
        header: &Map<String, Value>,
        payload: &[u8],
    ) -> Result<String, JoseError> {
        let header =
            serde_json::to_vec(header).map_err(|_| JoseError::Crypto("header serialisation"))?;
        let mut out = b64::encode(header);
        out.push('.');
        out.push_str(&b64::encode(payload));
        let sig = self.sign_raw(out.as_bytes())?;
        out.push('.');
        out.push_str(&b64::encode(sig));
        Ok(out)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid())
            .field("private", &"[redacted]")
            .finish()
    }
}

/// A public key, parsed once and ready to verify many signatures.
///
/// Every key is held as an `aws-lc-rs` parsed key. Cloning is cheap (the
/// parsed key is shared).
#[derive(Clone)]
pub struct VerifyingKey {
    inner: std::sync::Arc<VerifyingInner>,
}

struct VerifyingInner {
    kid: String,
    key_alg: KeyAlgorithm,
    jwk_alg: Option<Algorithm>,
    jwk: Map<String, Value>,
    key: ParsedPublicKey,
    /// The only signature length that can verify: 64 bytes for Ed25519 and
    /// ES256, the modulus length for RSA.
    signature_len: usize,
    /// When the key stopped signing ([`crate::JWK_RETIRED_AT`]), if it has.
    retired_at: Option<i64>,
}

impl VerifyingKey {
    /// Parses a public JWK. Refuses private members (a public key store must
    /// never hold private keys), `use` other than `sig`, `key_ops` naming an
    /// operation other than `sign` or `verify`, and keys whose `alg` does not
    /// fit their type. Without a `kid`, the RFC 7638 thumbprint is used.
    ///
    /// A [`crate::JWK_RETIRED_AT`] member must be a non-negative integer
    /// ([`VerifyingKey::retired_at`]); anything else is `invalid_key`.
    ///
    /// Refused as [`JoseError::WeakKey`], because anyone can sign for them or
    /// their private key can be computed:
    ///
    /// - Ed25519: the eight points of small order (the identity, and the
    ///   points of order 2, 4 and 8) however spelled, and every encoding
    ///   whose `y` is not below `2^255 - 19` (not canonical);
    /// - RSA: a modulus under 2048 bits, or divisible by a prime below 752
    ///   (NIST SP 800-89 §5.3.3), or with the ROCA fingerprint
    ///   (CVE-2017-15361), or prime (a base-2 Fermat test), or a prime power
    ///   (a perfect square among them); an exponent even or below 65537.
    ///   Moduli over 8192 bits and exponents over 33 bits are not supported,
    ///   and `n` and `e` must be minimally encoded, without a leading zero
    ///   octet (RFC 7518 §6.3.1) ([`JoseError::InvalidKey`]).
    ///
    /// A P-256 point off the curve, or with a coordinate not below the field
    /// prime, is not a key ([`JoseError::InvalidKey`]; aws-lc-rs checks it).
    ///
    /// ```
    /// use passport_jose::VerifyingKey;
    /// // The identity point of edwards25519: every signature (R = identity,
    /// // S = 0) verifies under it.
    /// let identity = serde_json::json!({
    ///     "kty": "OKP", "crv": "Ed25519",
    ///     "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    /// });
    /// let err = VerifyingKey::from_jwk_map(identity.as_object().unwrap().clone()).unwrap_err();
    /// assert_eq!(err.code(), "weak_key");
    /// ```
    pub fn from_jwk_map(map: Map<String, Value>) -> Result<VerifyingKey, JoseError> {
        VerifyingKey::from_jwk_map_bounded(map, rsa::MAX_MODULUS_BITS)
    }

    /// [`VerifyingKey::from_jwk_map`] for a holder's key: a DPoP proof's
    /// `jwk`, or a key a passport is to be bound to (`cnf.jkt`). Such keys
    /// arrive with requests, so what loading one costs is bounded: an RSA
    /// modulus over 4096 bits is refused ([`JoseError::InvalidKey`]) before
    /// the primality test, whose cost grows with the cube of the modulus
    /// size. Keys of a trusted key store may have up to 8192 bits.
    ///
    /// ```
    /// use passport_jose::{VerifyingKey, b64};
    /// // A 4097-bit modulus (odd, with no small factor tested first).
    /// let mut n = vec![0xffu8; 513];
    /// n[0] = 0x01;
    /// let jwk = serde_json::json!({"kty": "RSA", "n": b64::encode(&n), "e": "AQAB"});
    /// let err = VerifyingKey::from_holder_jwk_map(jwk.as_object().unwrap().clone()).unwrap_err();
    /// assert_eq!(err.code(), "invalid_key");
    /// ```
    pub fn from_holder_jwk_map(map: Map<String, Value>) -> Result<VerifyingKey, JoseError> {
        VerifyingKey::from_jwk_map_bounded(map, rsa::MAX_HOLDER_MODULUS_BITS)
    }

    /// Parses a public JWK whose RSA modulus has at most `max_rsa_bits` bits.
    pub(crate) fn from_jwk_map_bounded(
        map: Map<String, Value>,
        max_rsa_bits: usize,
    ) -> Result<VerifyingKey, JoseError> {
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| map.contains_key(**m)) {
            return Err(JoseError::InvalidKey(format!(
                "public JWK carries private member {m:?}"
            )));
        }
        let key_alg = key_algorithm_of(&map)?;
        check_use(&map)?;
        let jwk_alg = match map.get("alg") {
            None => None,
            Some(Value::String(name)) => {
                let alg = Algorithm::parse(name)?;
                if alg.key_algorithm() != key_alg {
                    return Err(JoseError::InvalidKey(format!(
                        "JWK alg {alg} does not fit a {key_alg} key"
                    )));
                }
                Some(alg)
            }
            Some(_) => return Err(JoseError::InvalidKey("JWK alg is not a string".into())),
        };
        let (key, signature_len) = match key_alg {
            KeyAlgorithm::Ed25519 => {
                let x = member_bytes(&map, "x", 32)?;
                ed25519::check_public_key(&x)?;
                let key = ParsedPublicKey::new(&signature::ED25519, x)
                    .map_err(|e| JoseError::InvalidKey(format!("Ed25519: {e}")))?;
                (key, 64)
            }
            KeyAlgorithm::EcP256 => {
                let point = ec_point(&map)?;
                let key = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .map_err(|e| JoseError::InvalidKey(format!("P-256: {e}")))?;
                (key, 64)
            }
            KeyAlgorithm::Rsa => rsa::verifying_key(&map, max_rsa_bits)?,
        };
        let retired_at = jwk::retired_at(&map)?;
        let kid = match map.get("kid") {
            None => jwk::thumbprint(&map)?,
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            Some(_) => {
                return Err(JoseError::InvalidKey(
                    "JWK kid is not a non-empty string".into(),
                ));
            }
        };
        let mut jwk = map;
        jwk.insert("kid".into(), kid.clone().into());
        Ok(VerifyingKey {
            inner: std::sync::Arc::new(VerifyingInner {
                kid,
                key_alg,
                jwk_alg,
                jwk,
                key,
                signature_len,
                retired_at,
            }),
        })
    }

    /// Parses a public JWK document.
    pub fn from_jwk_json(bytes: &[u8]) -> Result<VerifyingKey, JoseError> {
        VerifyingKey::from_jwk_map(json::parse_object(bytes, "jwk")?)
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// When the key stopped signing, in seconds since the epoch: the JWK
    /// member [`crate::JWK_RETIRED_AT`], read when the key was loaded.
    /// `None` for an active key. A verifier refuses a token whose `iat` is
    /// after this time.
    pub fn retired_at(&self) -> Option<i64> {
        self.inner.retired_at
    }

    /// The key family.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.inner.key_alg
    }

    /// The public JWK, including its `kid`.
    pub fn jwk(&self) -> &Map<String, Value> {
        &self.inner.jwk
    }

    /// The RFC 7638 thumbprint of this key (equal to `kid` for keys minted here).
    pub fn thumbprint(&self) -> Result<String, JoseError> {
        jwk::thumbprint(&self.inner.jwk)
    }

    /// True when both values hold the same parsed key object (a cheap identity
    /// test used by caches to notice a key that was replaced).
    pub fn same_key(&self, other: &VerifyingKey) -> bool {
        std::sync::Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Checks that `alg` is this key's algorithm, then verifies `signature`
    /// over `signing_input`.
    ///
    /// The algorithm check comes from the key, never from the token: an
    /// `RS256` header cannot make an EC key verify, an `ES256` header cannot
    /// make an Ed25519 key verify, and HMAC is not implemented at all.
    pub fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        let inner = &*self.inner;
        if alg.key_algorithm() != inner.key_alg {
            return Err(JoseError::AlgorithmKeyMismatch {
                alg,
                key: inner.key_alg,
            });
        }
        if let Some(jwk_alg) = inner.jwk_alg
            && jwk_alg != alg
            && jwk_alg.key_algorithm() != KeyAlgorithm::Ed25519
        {
            return Err(JoseError::AlgorithmKeyMismatch {
                alg,
                key: inner.key_alg,
            });
        }
        if signature.len() != inner.signature_len {
            return Err(JoseError::BadSignature);
        }
        inner
            .key
            .verify_sig(signing_input, signature)
            .map_err(|_| JoseError::BadSignature)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.inner.kid)
            .field("key", &self.inner.key_alg)
            .finish()
    }
}

fn default_algorithm(key: KeyAlgorithm) -> Algorithm {
    match key {
        KeyAlgorithm::Ed25519 => Algorithm::EdDSA,
        KeyAlgorithm::EcP256 => Algorithm::ES256,
        KeyAlgorithm::Rsa => Algorithm::RS256,
    }
}

fn str_member<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, JoseError> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(JoseError::InvalidKey(format!(
            "JWK member {name:?} is not a string"
        ))),
        None => Err(JoseError::InvalidKey(format!(
            "JWK member {name:?} is missing"
        ))),
    }
}

/// A base64url JWK member, decoded.
pub(crate) fn member_b64(map: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JoseError> {
    b64::decode(str_member(map, name)?)
        .ok_or_else(|| JoseError::InvalidKey(format!("JWK member {name:?} is not base64url")))
}

fn member_bytes(map: &Map<String, Value>, name: &str, len: usize) -> Result<Vec<u8>, JoseError> {
    let bytes = member_b64(map, name)?;
    if bytes.len() != len {
        return Err(JoseError::InvalidKey(format!(
            "JWK member {name:?} is {} bytes, expected {len}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn ec_point(map: &Map<String, Value>) -> Result<Vec<u8>, JoseError> {
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend(member_bytes(map, "x", 32)?);
    point.extend(member_bytes(map, "y", 32)?);
    Ok(point)
}

pub(crate) fn key_algorithm_of(map: &Map<String, Value>) -> Result<KeyAlgorithm, JoseError> {
    match (
        str_member(map, "kty")?,
        map.get("crv").and_then(Value::as_str),
    ) {
        ("OKP", Some("Ed25519")) => Ok(KeyAlgorithm::Ed25519),
        ("EC", Some("P-256")) => Ok(KeyAlgorithm::EcP256),
        ("RSA", _) => Ok(KeyAlgorithm::Rsa),
        (kty, crv) => Err(JoseError::InvalidKey(format!(
            "unsupported key type {} / curve {}",
            truncate(kty),
            truncate(crv.unwrap_or("-"))
        ))),
    }
}

fn check_use(map: &Map<String, Value>) -> Result<(), JoseError> {
    match map.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(JoseError::InvalidKey("JWK `use` is not \"sig\"".into())),
    }
    if !key_ops_allow_signatures(map)? {
        return Err(JoseError::InvalidKey(
            "JWK `key_ops` names an operation other than sign and verify".into(),
        ));
    }
    Ok(())
}

/// The operations RFC 7517 §4.3 registers that are not signatures.
const NON_SIGNATURE_OPS: [&str; 6] = [
    "encrypt",
    "decrypt",
    "wrapKey",
    "unwrapKey",
    "deriveKey",
    "deriveBits",
];

/// False when the JWK's `key_ops` names a registered operation other than
/// `sign` and `verify` (RFC 7517 §4.3: one key should not serve unrelated
/// operations), so a key published for encryption is never used to verify,
/// as with `use: enc`. Unregistered values are ignored, as the RFC allows.
/// `key_ops` that is not an array of strings is an error.
pub(crate) fn key_ops_allow_signatures(map: &Map<String, Value>) -> Result<bool, JoseError> {
    let Some(ops) = map.get("key_ops") else {
        return Ok(true);
    };
    let not_strings = || JoseError::InvalidKey("JWK `key_ops` is not an array of strings".into());
    let ops = ops.as_array().ok_or_else(not_strings)?;
    let mut allowed = true;
    for op in ops {
        let op = op.as_str().ok_or_else(not_strings)?;
        allowed &= !NON_SIGNATURE_OPS.contains(&op);
    }
    Ok(allowed)
}

/// The public members of a JWK of the given family.
fn public_members(map: &Map<String, Value>, key: KeyAlgorithm) -> Map<String, Value> {
    let names: &[&str] = match key {
        KeyAlgorithm::Ed25519 => &["kty", "crv", "x"],
        KeyAlgorithm::EcP256 => &["kty", "crv", "x", "y"],
        KeyAlgorithm::Rsa => &["kty", "n", "e"],
    };
    names
        .iter()
        .filter_map(|n| map.get(*n).map(|v| ((*n).to_owned(), v.clone())))
        .collect()
}
