use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Each variant has a stable, machine-readable [`JoseError::code`] that the
/// verifier, the CLI and the HTTP layers pass on unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// The token is larger than [`crate::MAX_TOKEN_LEN`].
    #[error("token is {len} bytes, more than the limit of {max}")]
    TokenTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a compact JWS: the wrong number of segments, or an empty one.
    #[error("malformed compact JWS: {0}")]
    Malformed(&'static str),
    /// A segment is not unpadded, canonical base64url.
    #[error("{part} is not valid unpadded base64url")]
    InvalidBase64 {
        /// Which part: `header`, `payload`, `signature`, or a JWK member.
        part: &'static str,
    },
    /// A JSON document (header, payload, JWK) is not valid JSON or not an object.
    #[error("{part} is not a valid JSON object: {reason}")]
    InvalidJson {
        /// Which part.
        part: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// A JSON object has the same member name twice.
    #[error("duplicate member {name:?} in {part}")]
    DuplicateMember {
        /// Which part.
        part: &'static str,
        /// The repeated name.
        name: String,
    },
    /// The header has no `alg`, or it is not a string.
    #[error("header has no string `alg`")]
    MissingAlgorithm,
    /// `alg` is `none` in some spelling.
    #[error("`alg: {0}` (unsecured JWS) is never accepted")]
    AlgorithmNone(String),
    /// `alg` names an algorithm this crate does not implement (HMAC among them).
    #[error("algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    /// `alg` is supported but not in the caller's allow-list.
    #[error("algorithm {alg} is not in the allowed set {allowed:?}")]
    AlgorithmNotAllowed {
        /// The header's algorithm.
        alg: Algorithm,
        /// What the caller allows.
        allowed: Vec<Algorithm>,
    },
    /// `alg` is not the algorithm of the key found for the token's `kid`.
    #[error("header algorithm {alg} does not match the key's algorithm {key}")]
    AlgorithmKeyMismatch {
        /// The header's algorithm.
        alg: Algorithm,
        /// The key's algorithm family.
        key: KeyAlgorithm,
    },
    /// The header has no `kid` (or an empty or non-string one).
    #[error("header has no `kid`")]
    MissingKid,
    /// The header carries a member that could supply a key (`jwk`, `jku`, `x5u`, …).
    #[error("header member {0:?} is not accepted: keys come only from the trusted key store")]
    ForbiddenHeader(&'static str),
    /// The header has `crit`.
    #[error("header has `crit`; no extension is understood")]
    CriticalHeader,
    /// The header has `b64` (RFC 7797 unencoded payload).
    #[error("header has `b64`; unencoded payloads are not accepted")]
    UnencodedPayload,
    /// `typ` is present and not the expected type.
    #[error("header `typ` {found:?} is not the expected {expected:?}")]
    InvalidType {
        /// What the header says.
        found: String,
        /// What the caller expects.
        expected: String,
    },
    /// The token is untyped (no `typ`, or `typ: JWT`) and the caller did not opt in.
    #[error("untyped token (typ {found:?}) is not accepted by this policy")]
    UntypedNotAccepted {
        /// The `typ`, if any.
        found: Option<String>,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A key is malformed, of an unsupported type, or inconsistent.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A key is well-formed but admits signatures without its private key,
    /// or its private key can be computed: an Ed25519 point of small order
    /// or a non-canonical encoding; an RSA modulus under 2048 bits, with a
    /// prime factor below 752 (2 included), with the ROCA fingerprint, prime,
    /// or a prime power or perfect square; an RSA public exponent even or
    /// below 65537.
    #[error("weak key: {0}")]
    WeakKey(String),
    /// A private RSA JWK lacks a member this crate needs: `d` or one of the
    /// CRT members `p`, `q`, `dp`, `dq`, `qi` (RFC 7518 §6.3.2 lets a JWK
    /// omit them; aws-lc-rs builds RSA keys only from the full CRT form).
    #[error(
        "private RSA JWK has no {0:?}: d and the CRT members p, q, dp, dq and qi are all required"
    )]
    IncompleteRsaKey(&'static str),
    /// An HMAC tag does not match.
    #[error("MAC does not verify")]
    BadMac,
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A private key file is readable or writable by other users.
    #[error("key file {path} has mode {mode:o}; private keys must be 0600 or stricter")]
    InsecureKeyFile {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The cryptographic library failed in a way that does not depend on input.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

crate::error_codes! {
    JoseError {
        JoseError::TokenTooLarge { .. } => "token_too_large":
            "The token (or the credential carrying it) is longer than the accepted limit.",
        JoseError::Malformed(_) => "malformed_token":
            "Not a compact JWS: the wrong number of segments, or an empty one.",
        JoseError::InvalidBase64 { .. } => "invalid_base64":
            "A value that must be unpadded, canonical base64url is not.",
        JoseError::InvalidJson { .. } => "invalid_json":
            "A JOSE header, payload or JWK is not valid JSON or not an object.",
        JoseError::DuplicateMember { .. } => "duplicate_member":
            "A JSON object has the same member name twice.",
        JoseError::MissingAlgorithm => "missing_alg":
            "The header has no string `alg`.",
        JoseError::AlgorithmNone(_) => "alg_none":
            "`alg` is `none` in some spelling (unsecured JWS).",
        JoseError::UnsupportedAlgorithm(_) => "unsupported_alg":
            "`alg` names an algorithm that is not implemented (HMAC among them).",
        JoseError::AlgorithmNotAllowed { .. } => "alg_not_allowed":
            "`alg` is implemented but not in the caller's allow-list.",
        JoseError::AlgorithmKeyMismatch { .. } => "alg_key_mismatch":
            "`alg` is not the algorithm of the key found for the token's `kid`.",
        JoseError::MissingKid => "missing_kid":
            "The header has no (non-empty, string) `kid`.",
        JoseError::ForbiddenHeader(_) => "forbidden_header":
            "The header carries a member that could supply a key (`jwk`, `jku`, `x5u`, ...).",
        JoseError::CriticalHeader => "crit_not_supported":
            "The header has `crit`; no extension is understood.",
        JoseError::UnencodedPayload => "b64_not_supported":
            "The header has `b64` (RFC 7797 unencoded payload).",
        JoseError::InvalidType { .. } => "invalid_typ":
            "`typ` is present and not the expected media type.",
        JoseError::UntypedNotAccepted { .. } => "untyped_token":
            "The token has no `typ` (or `typ: JWT`) and the policy does not accept untyped tokens.",
        JoseError::BadSignature => "bad_signature":
            "The signature does not verify.",
        JoseError::InvalidKey(_) => "invalid_key":
            "A key is malformed, of an unsupported type, or inconsistent.",
        JoseError::WeakKey(_) => "weak_key":
            "A key that admits a signature without its private key, or is too weak to trust: an Ed25519 point of small order or non-canonically encoded; an RSA modulus under 2048 bits, with a prime factor below 752, with the ROCA fingerprint, prime, or a prime power or perfect square; an exponent even or below 65537.",
        JoseError::IncompleteRsaKey(_) => "incomplete_rsa_key":
            "A private RSA JWK lacks one of `d`, `p`, `q`, `dp`, `dq`, `qi`.",
        JoseError::BadMac => "bad_mac":
            "A MAC (HMAC-SHA256) does not verify.",
        JoseError::KeyFile { .. } => "key_file":
            "A key file could not be read or written.",
        JoseError::InsecureKeyFile { .. } => "insecure_key_file":
            "A private key file is readable or writable by other users.",
        JoseError::Crypto(_) => "crypto_failure":
            "The cryptographic library failed in a way that does not depend on the input.",
    }
}

/// Implements `code()` and `CODES` for an error enum from one table, so the
/// list of codes cannot miss one: `code()` is an exhaustive `match` built
/// from the same rows as `CODES`.
///
/// Each row is `pattern => "code": "condition",`. An optional `wraps { … }`
/// block lists variants that wrap another error and report its code
/// (`pattern => expression,`); those codes belong to the wrapped type's
/// `CODES`, not to this one's.
///
/// ```
/// #[derive(Debug)]
/// pub enum MyError {
///     Empty,
///     Jose(passport_jose::JoseError),
/// }
///
/// passport_jose::error_codes! {
///     MyError {
///         MyError::Empty => "empty_input": "The input is empty.",
///     }
///     wraps {
///         MyError::Jose(e) => e.code(),
///     }
/// }
///
/// assert_eq!(MyError::Empty.code(), "empty_input");
/// assert_eq!(MyError::CODES, &[("empty_input", "The input is empty.")]);
/// ```
#[macro_export]
macro_rules! error_codes {
    (
        $ty:ident {
            $( $pat:pat => $code:literal : $meaning:literal ),* $(,)?
        }
        $( wraps { $( $wpat:pat => $wexpr:expr ),* $(,)? } )?
    ) => {
        impl $ty {
            /// Every code this type reports for its own variants, with the
            /// condition it names (the table of `docs/error-codes.md`).
            /// Variants that wrap another error report that error's codes.
            pub const CODES: &'static [(&'static str, &'static str)] =
                &[ $( ($code, $meaning) ),* ];

            /// A stable, machine-readable code for this error: one of
            /// [`Self::CODES`], or the code of the error it wraps.
            pub fn code(&self) -> &'static str {
                match self {
                    $( $pat => $code, )*
                    $( $( $wpat => $wexpr, )* )?
                }
            }
        }
    };
}

use crate::alg::{Algorithm, KeyAlgorithm};
