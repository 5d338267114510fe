//! The one error type of this crate.

/// Everything that can go wrong creating or verifying a DPoP proof.
///
/// Every check of RFC 9449 §4.3 has its own variant, and every variant a
/// stable, machine-readable [`DpopError::code`] that the HTTP layers put in
/// `error_description`. Messages never quote a whole proof or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The request carries no `DPoP` header.
    #[error("the request carries no DPoP proof")]
    MissingProof,
    /// The request carries more than one `DPoP` header (or one header with
    /// several comma-separated values).
    #[error("the request carries more than one DPoP proof")]
    MultipleProofs,
    /// The proof is larger than [`crate::MAX_PROOF_LEN`].
    #[error("DPoP proof is {len} bytes, more than the limit of {max}")]
    ProofTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a well-formed JWS: segments, base64url, JSON, duplicate members.
    #[error("malformed DPoP proof: {0}")]
    Malformed(String),
    /// `typ` is not exactly `dpop+jwt`.
    #[error("DPoP proof `typ` is not \"dpop+jwt\"")]
    InvalidType,
    /// The header has no string `alg`.
    #[error("DPoP proof header has no string `alg`")]
    MissingAlgorithm,
    /// `alg` is `none` in some spelling.
    #[error("DPoP proof `alg: none` is never accepted")]
    AlgorithmNone,
    /// `alg` names an algorithm that is not implemented here (HMAC among them:
    /// a symmetric proof proves nothing).
    #[error("DPoP proof algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    /// `alg` is implemented but not in the policy's allow-list.
    #[error("DPoP proof algorithm {0} is not allowed by the policy")]
    AlgorithmNotAllowed(String),
    /// The header carries a member that changes how the JWS is processed
    /// (`crit`, `b64`) or names a second key source (`jku`, `x5u`, `x5c`, …).
    #[error("DPoP proof header member {0:?} is not accepted")]
    ForbiddenHeader(&'static str),
    /// The header has no `jwk`.
    #[error("DPoP proof header has no `jwk`")]
    MissingJwk,
    /// The `jwk` is not an object, of an unsupported type, or malformed.
    #[error("DPoP proof `jwk` is invalid: {0}")]
    InvalidJwk(String),
    /// The `jwk` carries private key material (`d`, …).
    #[error("DPoP proof `jwk` carries private key material")]
    PrivateKeyInProof,
    /// The header's `alg` does not fit the `jwk`'s key type.
    #[error("DPoP proof algorithm {alg} does not fit its {key} key")]
    AlgorithmKeyMismatch {
        /// The header's algorithm.
        alg: String,
        /// The key's family.
        key: String,
    },
    /// The signature does not verify with the header's `jwk`.
    #[error("DPoP proof signature does not verify")]
    BadSignature,
    /// A required claim (`jti`, `htm`, `htu`, `iat`) is absent.
    #[error("DPoP proof has no `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an empty value.
    #[error("DPoP proof claim `{0}` has an invalid value")]
    InvalidClaim(&'static str),
    /// `htm` is not the request's method.
    #[error("DPoP proof `htm` is not the request method")]
    HtmMismatch,
    /// `htu` is not the request's URI (after normalisation).
    #[error("DPoP proof `htu` is not the request URI")]
    HtuMismatch,
    /// The URL given by the caller (or to [`crate::DpopKey::proof`]) is not an
    /// absolute `http`/`https` URL.
    #[error("not an absolute http(s) URL: {0}")]
    InvalidUrl(String),
    /// `iat` is older than the policy's window.
    #[error("DPoP proof `iat` is too old")]
    IatTooOld,
    /// `iat` is further in the future than the policy tolerates.
    #[error("DPoP proof `iat` is in the future")]
    IatInFuture,
    /// This key already used this `jti` within the window.
    #[error("DPoP proof `jti` was already used with this key")]
    Replay,
    /// The in-memory replay cache is full of unexpired entries; the proof is
    /// refused rather than an entry forgotten (fail closed).
    #[error("DPoP replay cache is full")]
    ReplayCacheFull,
    /// This proof key holds its whole share of the replay cache: it sends
    /// fresh proofs faster than the cache lets one key, so it (and only it)
    /// is refused until its entries expire.
    #[error("too many DPoP proofs by this key; retry after {retry_after} s")]
    ReplayQuotaExceeded {
        /// Seconds until the key's share is free again (`Retry-After`).
        retry_after: u64,
    },
    /// A replay cache backend failed.
    #[error("DPoP replay cache unavailable: {0}")]
    ReplayCacheUnavailable(String),
    /// An access token was presented and the proof has no `ath`.
    #[error("DPoP proof has no `ath` for the presented access token")]
    MissingAth,
    /// `ath` is not the hash of the presented access token.
    #[error("DPoP proof `ath` is not the hash of the presented access token")]
    AthMismatch,
    /// The server requires a nonce and the proof has none, or a wrong or
    /// expired one. Carries a fresh nonce for the `DPoP-Nonce` header.
    #[error("DPoP nonce required: {reason}")]
    UseNonce {
        /// A fresh nonce the client should retry with.
        nonce: String,
        /// `"missing"` or `"invalid or expired"`.
        reason: &'static str,
    },
    /// The policy requires nonces but the verifier has no [`crate::NonceIssuer`].
    #[error("DPoP policy requires nonces but no nonce issuer is configured")]
    NonceNotConfigured,
    /// A nonce secret shorter than 32 bytes.
    #[error("DPoP nonce secret must be at least 32 bytes")]
    WeakNonceSecret,
    /// The proof's key is not the key the passport is bound to (`cnf.jkt`).
    #[error("DPoP proof key is not the key the passport is bound to")]
    KeyMismatch,
    /// A proof key of a type DPoP proofs are not made with here (RSA).
    #[error("DPoP keys are ES256 or EdDSA, not {0}")]
    UnsupportedKey(String),
    /// The operating system's random source failed.
    #[error("random source unavailable: {0}")]
    RandomUnavailable(String),
    /// Signing or key handling failed in the cryptographic library.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

passport_jose::error_codes! {
    DpopError {
        DpopError::MissingProof => "missing_dpop_proof":
            "The request carries no `DPoP` header.",
        DpopError::MultipleProofs => "multiple_dpop_proofs":
            "The request carries more than one DPoP proof.",
        DpopError::ProofTooLarge { .. } => "dpop_proof_too_large":
            "The DPoP proof is longer than `MAX_PROOF_LEN`.",
        DpopError::Malformed(_) => "malformed_dpop_proof":
            "The DPoP proof is not a well-formed JWS (segments, base64url, JSON, duplicate members).",
        DpopError::InvalidType => "invalid_dpop_typ":
            "The DPoP proof's `typ` is not exactly `dpop+jwt`.",
        DpopError::MissingAlgorithm => "missing_dpop_alg":
            "The DPoP proof header has no string `alg`.",
        DpopError::AlgorithmNone => "dpop_alg_none":
            "The DPoP proof's `alg` is `none` in some spelling.",
        DpopError::UnsupportedAlgorithm(_) => "unsupported_dpop_alg":
            "The DPoP proof's `alg` is not implemented (HMAC among them).",
        DpopError::AlgorithmNotAllowed(_) => "dpop_alg_not_allowed":
            "The DPoP proof's `alg` is not in the policy's allow-list.",
        DpopError::ForbiddenHeader(_) => "forbidden_dpop_header":
            "The DPoP proof header has `crit`, `b64` or a second key source (`jku`, `x5u`, `x5c`, ...).",
        DpopError::MissingJwk => "missing_dpop_jwk":
            "The DPoP proof header has no `jwk`.",
        DpopError::InvalidJwk(_) => "invalid_dpop_jwk":
            "The DPoP proof's `jwk` is not an object, of an unsupported type, or malformed.",
        DpopError::PrivateKeyInProof => "private_key_in_proof":
            "The DPoP proof's `jwk` carries private key material.",
        DpopError::AlgorithmKeyMismatch { .. } => "dpop_alg_key_mismatch":
            "The DPoP proof's `alg` does not fit its `jwk`'s key type.",
        DpopError::BadSignature => "bad_dpop_signature":
            "The DPoP proof's signature does not verify with its `jwk`.",
        DpopError::MissingClaim(_) => "missing_dpop_claim":
            "A required DPoP proof claim (`jti`, `htm`, `htu`, `iat`) is absent.",
        DpopError::InvalidClaim(_) => "invalid_dpop_claim":
            "A DPoP proof claim has the wrong JSON type or an empty value.",
        DpopError::HtmMismatch => "htm_mismatch":
            "The DPoP proof's `htm` is not the request method.",
        DpopError::HtuMismatch => "htu_mismatch":
            "The DPoP proof's `htu` is not the request URI.",
        DpopError::InvalidUrl(_) => "invalid_url":
            "A request URL is not an absolute `http`/`https` URL.",
        DpopError::IatTooOld => "dpop_iat_too_old":
            "The DPoP proof's `iat` is older than the policy's window.",
        DpopError::IatInFuture => "dpop_iat_in_future":
            "The DPoP proof's `iat` is further in the future than the policy tolerates.",
        DpopError::Replay => "replay":
            "This key already used this DPoP proof `jti` within the window.",
        DpopError::ReplayCacheFull => "replay_cache_full":
            "The in-memory DPoP replay cache is full of unexpired entries (fail closed).",
        DpopError::ReplayQuotaExceeded { .. } => "replay_quota_exceeded":
            "This DPoP proof key holds its whole share of the replay cache (HTTP 429, `Retry-After`); other keys are unaffected.",
        DpopError::ReplayCacheUnavailable(_) => "replay_cache_unavailable":
            "A DPoP replay cache backend failed.",
        DpopError::MissingAth => "missing_ath":
            "An access token was presented and the DPoP proof has no `ath`.",
        DpopError::AthMismatch => "ath_mismatch":
            "The DPoP proof's `ath` is not the hash of the presented access token.",
        DpopError::UseNonce { .. } => "use_dpop_nonce":
            "The server requires a DPoP nonce and the proof has none, or a wrong or expired one.",
        DpopError::NonceNotConfigured => "dpop_nonce_not_configured":
            "The DPoP policy requires nonces but no nonce issuer is configured.",
        DpopError::WeakNonceSecret => "weak_nonce_secret":
            "A DPoP nonce secret is shorter than 32 bytes.",
        DpopError::KeyMismatch => "dpop_key_mismatch":
            "The proof of possession was made with another key than the passport's `cnf.jkt`.",
        DpopError::UnsupportedKey(_) => "unsupported_dpop_key":
            "A DPoP key of a type proofs are not made with here (RSA).",
        DpopError::RandomUnavailable(_) => "random_unavailable":
            "The operating system's random source failed.",
        DpopError::Crypto(_) => "crypto_failure":
            "The cryptographic library failed in a way that does not depend on the input.",
    }
}

impl DpopError {
    /// The fresh nonce to send in a `DPoP-Nonce` header, for
    /// [`DpopError::UseNonce`].
    pub fn fresh_nonce(&self) -> Option<&str> {
        match self {
            DpopError::UseNonce { nonce, .. } => Some(nonce),
            _ => None,
        }
    }

    /// For [`DpopError::ReplayQuotaExceeded`]: seconds to wait before the
    /// key's next proof (an HTTP layer's `Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            DpopError::ReplayQuotaExceeded { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// True for failures of the server rather than of the proof (replay cache
    /// full or unavailable, nonce misconfiguration, randomness, crypto
    /// library): an HTTP layer answers these with 5xx/503, not 401.
    pub fn is_server_error(&self) -> bool {
        matches!(
            self,
            DpopError::ReplayCacheFull
                | DpopError::ReplayCacheUnavailable(_)
                | DpopError::NonceNotConfigured
                | DpopError::WeakNonceSecret
                | DpopError::RandomUnavailable(_)
                | DpopError::Crypto(_)
        )
    }
}
