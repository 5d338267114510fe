//! The one error type of this crate.

use passport_jose::JoseError;

/// Everything that can go wrong in discovery, key retrieval, ID-token
/// validation, acr mapping and the login flow.
///
/// Each variant has a stable, machine-readable [`OidcError::code`]; a
/// [`OidcError::Jose`] error reports the code of the JOSE error it wraps
/// (`alg_none`, `bad_signature`, `alg_not_allowed`, …), so the CLI and the HTTP
/// layers see one vocabulary across crates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The configuration is incomplete or invalid (a missing `CSP_*`
    /// variable, an unreadable acr mapping file, a non-loopback redirect URI).
    #[error("configuration: {0}")]
    Config(String),
    /// A configured URL would let an on-path attacker read or rewrite what
    /// travels over it: the expected issuer or the discovery URL is neither
    /// https nor plain http on a loopback host, or the discovery URL is
    /// plain http while the issuer is https. Found before any request.
    #[error("{what} {url:?}: {reason}")]
    InsecureUrl {
        /// Which URL (`issuer`, `discovery URL`).
        what: &'static str,
        /// The URL (truncated).
        url: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The discovery document could not be fetched, was not JSON, or lacks a
    /// required field.
    #[error("discovery failed: {0}")]
    DiscoveryFailed(String),
    /// An issuer is not the expected one: the discovery document's `issuer`,
    /// an ID token's `iss`, or the RFC 9207 `iss` of an authorization response.
    #[error("{context} issuer {found:?} is not the expected {expected:?}")]
    IssuerMismatch {
        /// Where the issuer was found.
        context: &'static str,
        /// The issuer expected.
        expected: String,
        /// The issuer found (empty when absent).
        found: String,
    },
    /// The JWKS could not be fetched or parsed, or holds no usable key.
    #[error("JWKS failed: {0}")]
    JwksFailed(String),
    /// No key in the provider's JWKS has the token's `kid` (after at most one
    /// refetch per cooldown).
    #[error("no key with kid {0:?} in the provider's JWKS")]
    UnknownKid(String),
    /// The token has no `kid` and the JWKS holds several keys.
    #[error("token has no kid and the provider's JWKS holds {0} keys")]
    AmbiguousKey(usize),
    /// A JOSE rule refused the token (structure, header, algorithm, signature).
    #[error(transparent)]
    Jose(#[from] JoseError),
    /// A claim is present but of the wrong type or shape.
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// A required claim is absent.
    #[error("ID token has no `{0}` claim")]
    MissingClaim(&'static str),
    /// `exp`, `iat` or `nbf` is not an integer NumericDate from 0 to
    /// [`passport_claims::MAX_NUMERIC_DATE`] (a float, `1e300`, a negative
    /// number, a string), the rule passports follow too.
    #[error("ID token claim {0:?} is not an integer NumericDate between 0 and 253402300799")]
    InvalidNumericDate(&'static str),
    /// A file this crate reads (the acr mapping table) is larger than its cap.
    #[error("{what} {} is larger than the limit of {max} bytes", path.display())]
    FileTooLarge {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cap, in bytes.
        max: usize,
    },
    /// `aud` does not contain this client's id.
    #[error("ID token audience {found:?} does not contain client id {expected:?}")]
    AudienceMismatch {
        /// The client id.
        expected: String,
        /// The token's audiences.
        found: Vec<String>,
    },
    /// `azp` is present and not this client's id.
    #[error("ID token azp {found:?} is not client id {expected:?}")]
    AzpMismatch {
        /// The client id.
        expected: String,
        /// The token's `azp`.
        found: String,
    },
    /// `exp` is past, beyond the clock skew.
    #[error("ID token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The time of the check.
        now: i64,
    },
    /// `nbf` or `iat` is ahead, beyond the clock skew.
    #[error("ID token not valid before {at} (now {now})")]
    NotYetValid {
        /// The token's `nbf` (or `iat` when that is in the future).
        at: i64,
        /// The time of the check.
        now: i64,
    },
    /// The token's `nonce` is absent or not the one sent.
    #[error("ID token nonce does not match the one sent")]
    NonceMismatch,
    /// The acr mapping does not know the token's `acr`.
    #[error("acr {0:?} is not supported by the configured mapping")]
    UnsupportedAcr(String),
    /// The `state` of the authorization response is not the one sent.
    #[error("authorization response state does not match the one sent (possible CSRF)")]
    StateMismatch,
    /// The provider answered the authorization request with an `error`.
    #[error("provider returned {error:?}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ProviderError {
        /// The OAuth `error` code (`access_denied`, …).
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The authorization response lacks `code`, or the callback request is
    /// unusable.
    #[error("invalid authorization response: {0}")]
    InvalidCallback(String),
    /// No callback arrived within the login time limit.
    #[error("no login callback within {0:?}")]
    LoginTimeout(std::time::Duration),
    /// The token endpoint refused the code or answered something unusable.
    #[error("token exchange failed: {0}")]
    TokenExchangeFailed(String),
    /// The operating system's random source failed.
    #[error("random source unavailable: {0}")]
    RandomUnavailable(String),
    /// An HTTP request failed at the transport level (other than discovery
    /// and JWKS, which have their own codes), or the loopback listener failed.
    #[error("HTTP failed: {0}")]
    HttpFailed(String),
}

passport_jose::error_codes! {
    OidcError {
        OidcError::Config(_) => "config":
            "The configuration is missing or invalid (a `CSP_*` variable, the acr mapping file, a non-loopback redirect URI).",
        OidcError::InsecureUrl { .. } => "insecure_url":
            "The configured issuer or discovery URL is not https (plain http only on a loopback host), or the discovery URL is plain http while the issuer is https.",
        OidcError::DiscoveryFailed(_) => "discovery_failed":
            "The OpenID Provider's discovery document could not be fetched, is not JSON, or lacks a required field.",
        OidcError::IssuerMismatch { .. } => "issuer_mismatch":
            "An OpenID Provider issuer is not the configured one (discovery `issuer`, ID token `iss`, or RFC 9207 `iss`).",
        OidcError::JwksFailed(_) => "jwks_failed":
            "A JWKS could not be fetched or parsed, or holds no usable key.",
        OidcError::UnknownKid(_) => "unknown_kid":
            "No key the verifier trusts for this kind of token has the token's `kid`.",
        OidcError::AmbiguousKey(_) => "ambiguous_key":
            "The ID token has no `kid` and the provider's JWKS holds several keys.",
        OidcError::InvalidIdToken(_) => "invalid_id_token":
            "An ID token claim is present but of the wrong type or shape.",
        OidcError::MissingClaim(_) => "id_token_missing_claim":
            "A required ID token claim is absent.",
        OidcError::InvalidNumericDate(_) => "invalid_numeric_date":
            "An ID token's `exp`, `iat` or `nbf` is not an integer NumericDate between 0 and 253402300799.",
        OidcError::FileTooLarge { .. } => "file_too_large":
            "A file named in the configuration (the `CSP_ACR_MAPPING` table) is larger than its size cap.",
        OidcError::AudienceMismatch { .. } => "id_token_audience_mismatch":
            "The ID token's `aud` does not contain this client's id.",
        OidcError::AzpMismatch { .. } => "azp_mismatch":
            "The ID token's `azp` is present and not this client's id.",
        OidcError::Expired { .. } => "id_token_expired":
            "An ID token's `exp` is in the past by more than the clock skew.",
        OidcError::NotYetValid { .. } => "id_token_not_yet_valid":
            "An ID token's `nbf` or `iat` is in the future by more than the clock skew.",
        OidcError::NonceMismatch => "nonce_mismatch":
            "The ID token's `nonce` is absent or not the one sent.",
        OidcError::UnsupportedAcr(_) => "unsupported_acr":
            "The acr mapping does not know the ID token's `acr`.",
        OidcError::StateMismatch => "state_mismatch":
            "The `state` of the authorization response is not the one sent (possible CSRF).",
        OidcError::ProviderError { .. } => "provider_error":
            "The provider answered the authorization request with an `error`.",
        OidcError::InvalidCallback(_) => "invalid_callback":
            "The authorization response lacks `code`, or the callback request is unusable.",
        OidcError::LoginTimeout(_) => "login_timeout":
            "No login callback arrived within the time limit.",
        OidcError::TokenExchangeFailed(_) => "token_exchange_failed":
            "The token endpoint refused the code or answered something unusable.",
        OidcError::RandomUnavailable(_) => "random_unavailable":
            "The operating system's random source failed.",
        OidcError::HttpFailed(_) => "http_failed":
            "An HTTP request failed at the transport level (or the login's loopback listener failed).",
    }
    wraps {
        OidcError::Jose(e) => e.code(),
    }
}

/// Keeps attacker-chosen strings in errors short.
pub(crate) fn truncate(s: &str) -> String {
    passport_jose::clip(s, 96)
}
