//! Proof creation (RFC 9449 §4.2).

use serde_json::{Map, Value};

use passport_jose::{Algorithm, KeyAlgorithm, SigningKey, b64};

use crate::{DPOP_TYP, DpopError, ath, normalize_htu};

/// Random bytes in a `jti` (128 bits, 22 base64url characters).
const JTI_BYTES: usize = 16;

/// An agent's DPoP key: signs proofs with ES256 or EdDSA (`Ed25519`).
///
/// `Debug` never prints key material.
#[derive(Debug)]
pub struct DpopKey {
    key: SigningKey,
    public_jwk: Map<String, Value>,
    jkt: String,
}

impl DpopKey {
    /// Generates a new key for `alg` (`ES256`, `EdDSA` or `Ed25519`).
    pub fn generate(alg: Algorithm) -> Result<DpopKey, DpopError> {
        check_algorithm(alg)?;
        let key = SigningKey::generate(alg).map_err(|e| DpopError::Crypto(e.to_string()))?;
        DpopKey::from_signing_key(key)
    }

    /// Wraps an existing signing key (ES256 or EdDSA/Ed25519; RSA is refused).
    pub fn from_signing_key(key: SigningKey) -> Result<DpopKey, DpopError> {
        check_algorithm(key.algorithm())?;
        let members: &[&str] = match key.algorithm().key_algorithm() {
            KeyAlgorithm::EcP256 => &["kty", "crv", "x", "y"],
            _ => &["kty", "crv", "x"],
        };
        let public_jwk: Map<String, Value> = members
            .iter()
            .filter_map(|m| {
                key.public_jwk()
                    .get(*m)
                    .map(|v| ((*m).to_owned(), v.clone()))
            })
            .collect();
        let jkt =
            passport_jose::thumbprint(&public_jwk).map_err(|e| DpopError::Crypto(e.to_string()))?;
        Ok(DpopKey {
            key,
            public_jwk,
            jkt,
        })
    }

    /// The algorithm proofs are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// The public JWK put in every proof's header: only the key's public
    /// members (`kty`, `crv`, `x`, and `y` for P-256).
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.public_jwk
    }

    /// The RFC 7638 thumbprint of the public key: the `cnf.jkt` a passport
    /// bound to this key carries.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// A DPoP proof for one request.
    ///
    /// `url` is normalised into `htu` (no query or fragment, scheme and host
    /// lowercased, default port removed). `access_token`, when given, is the
    /// passport bundle sent in `Authorization` and becomes `ath`; `nonce` is
    /// the last `DPoP-Nonce` the server sent. `now` is the `iat`.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, DpopError> {
        let htu = normalize_htu(url)?;
        let mut jti = [0u8; JTI_BYTES];
        getrandom::fill(&mut jti).map_err(|e| DpopError::RandomUnavailable(e.to_string()))?;

        let mut header = Map::new();
        header.insert("typ".into(), DPOP_TYP.into());
        header.insert("alg".into(), self.key.algorithm().as_str().into());
        header.insert("jwk".into(), Value::Object(self.public_jwk.clone()));

        let mut claims = Map::new();
        claims.insert("jti".into(), b64::encode(jti).into());
        claims.insert("htm".into(), method.into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), now.into());
        if let Some(token) = access_token {
            claims.insert("ath".into(), ath(token).into());
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        let payload = serde_json::to_vec(&claims).map_err(|e| DpopError::Crypto(e.to_string()))?;
        self.key
            .sign_compact_with_header(&header, &payload)
            .map_err(|e| DpopError::Crypto(e.to_string()))
    }
}

fn check_algorithm(alg: Algorithm) -> Result<(), DpopError> {
    match alg.key_algorithm() {
        KeyAlgorithm::EcP256 | KeyAlgorithm::Ed25519 => Ok(()),
        _ => Err(DpopError::UnsupportedKey(alg.as_str().to_owned())),
    }
}
