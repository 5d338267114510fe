use std::fmt;

use crate::JoseError;

/// A JWS algorithm this crate implements.
///
/// `EdDSA` is what csp-agent-passport writes and accepts for Ed25519; `Ed25519`
/// is the fully-specified name of RFC 9864, which deprecates `EdDSA`. Both
/// select the same key type and the same verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 under its RFC 8037 name.
    EdDSA,
    /// Ed25519 under its RFC 9864 name.
    Ed25519,
    /// ECDSA over P-256 with SHA-256, fixed-width `r || s` signature.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
}

/// The family of key an [`Algorithm`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// An `OKP` key on `Ed25519`.
    Ed25519,
    /// An `EC` key on `P-256`.
    EcP256,
    /// An `RSA` key of at least 2048 bits.
    Rsa,
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::EdDSA,
        Algorithm::Ed25519,
        Algorithm::ES256,
        Algorithm::RS256,
    ];

    /// The JOSE name (`"EdDSA"`, `"Ed25519"`, `"ES256"`, `"RS256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
        }
    }

    /// The key family this algorithm verifies with.
    pub fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Algorithm::EdDSA | Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
            Algorithm::ES256 => KeyAlgorithm::EcP256,
            Algorithm::RS256 => KeyAlgorithm::Rsa,
        }
    }

    /// Parses a header's `alg`. Names are case-sensitive (RFC 7515 §4.1.1),
    /// except that `none` is recognised — and refused — in any spelling so it
    /// is reported as what it is.
    ///
    /// ```
    /// use passport_jose::Algorithm;
    /// assert_eq!(Algorithm::parse("ES256").unwrap(), Algorithm::ES256);
    /// assert_eq!(Algorithm::parse("nOnE").unwrap_err().code(), "alg_none");
    /// assert_eq!(Algorithm::parse("HS256").unwrap_err().code(), "unsupported_alg");
    /// ```
    pub fn parse(name: &str) -> Result<Algorithm, JoseError> {
        match name {
            "EdDSA" => Ok(Algorithm::EdDSA),
            "Ed25519" => Ok(Algorithm::Ed25519),
            "ES256" => Ok(Algorithm::ES256),
            "RS256" => Ok(Algorithm::RS256),
            other if other.eq_ignore_ascii_case("none") => {
                Err(JoseError::AlgorithmNone(other.to_owned()))
            }
            other => Err(JoseError::UnsupportedAlgorithm(truncate(other))),
        }
    }
}

/// Keeps attacker-chosen strings in error messages short (64 bytes).
pub(crate) fn truncate(s: &str) -> String {
    crate::clip(s, 64)
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = JoseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::parse(s)
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::Ed25519 => "OKP/Ed25519",
            KeyAlgorithm::EcP256 => "EC/P-256",
            KeyAlgorithm::Rsa => "RSA",
        })
    }
}
