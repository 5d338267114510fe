//! The one error type of this crate.

use std::path::PathBuf;

use passport_jose::JoseError;

/// Everything that can go wrong with a status list, its token, the index
/// allocator or a revocation source.
///
/// Each variant has a stable, machine-readable [`StatusError::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// `bits` is not 1, 2, 4 or 8.
    #[error("status list `bits` is {0}; only 1, 2, 4 and 8 are defined")]
    InvalidBits(u64),
    /// A status value does not fit in the list's `bits`.
    #[error("status value {value} does not fit in {bits} bit(s)")]
    InvalidValue {
        /// The value.
        value: u8,
        /// The list's bits per entry.
        bits: u8,
    },
    /// `lst` is not unpadded, canonical base64url.
    #[error("status list `lst` is not valid unpadded base64url")]
    InvalidBase64,
    /// `lst` is not one complete, valid ZLIB stream.
    #[error("status list `lst` is not a valid ZLIB stream: {0}")]
    InvalidZlib(String),
    /// The list (decompressed, or grown by `set`) is larger than the cap.
    #[error("status list is larger than the cap of {max} bytes")]
    ListTooLarge {
        /// The cap in bytes.
        max: usize,
    },
    /// An index past the end of the list.
    #[error("index {idx} is past the end of the status list ({len} entries)")]
    IndexOutOfRange {
        /// The index asked for.
        idx: u64,
        /// How many entries the list holds.
        len: u64,
    },
    /// Compressing a list failed (never expected; the output is in memory).
    #[error("compressing the status list failed: {0}")]
    Compression(String),
    /// The status list token failed a JWS rule (structure, header, `alg`,
    /// `typ`, signature…); the code is `passport-jose`'s.
    #[error(transparent)]
    Jose(#[from] JoseError),
    /// The token's `kid` names no key in the trusted key store.
    #[error("status list token signed by untrusted key {kid:?}")]
    UntrustedKey {
        /// The `kid` (shortened).
        kid: String,
    },
    /// The token was issued (`iat`) after its key was retired.
    #[error("status list token issued at {iat}, after its key {kid:?} was retired at {retired_at}")]
    KeyRetired {
        /// The `kid` (shortened).
        kid: String,
        /// The token's `iat`.
        iat: i64,
        /// When the key stopped signing.
        retired_at: i64,
    },
    /// The list's lifetime (`exp - iat`) is above the verifier's maximum: a
    /// stolen or retired key could otherwise sign, before its retirement, a
    /// list valid for decades that un-revokes everything.
    #[error("status list token lives {lifetime} s (exp - iat), more than the maximum of {max} s")]
    LifetimeTooLong {
        /// `exp - iat`.
        lifetime: i64,
        /// The maximum.
        max: u64,
    },
    /// The list is older (`iat`) than one already seen for the same URI: a
    /// rollback to a list from before a revocation.
    #[error(
        "status list {uri:?} issued at {iat} is older than the one already seen, issued at {seen}"
    )]
    RolledBack {
        /// The URI (shortened).
        uri: String,
        /// The refused list's `iat`.
        iat: i64,
        /// The newest `iat` seen for this URI.
        seen: i64,
    },
    /// The token's claims are missing, of the wrong type or malformed.
    #[error("invalid status list token claims: {0}")]
    InvalidClaims(String),
    /// The token's `sub` is not the URI the passport references.
    #[error("status list token is for {found:?}, not the referenced {expected:?}")]
    UriMismatch {
        /// The URI asked for.
        expected: String,
        /// The token's `sub`.
        found: String,
    },
    /// The token's `iat` is in the future, beyond the clock skew.
    #[error("status list token issued at {iat}, in the future (now {now})")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// Now.
        now: i64,
    },
    /// The token's `exp` has passed, beyond the clock skew.
    #[error("status list token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// Now.
        now: i64,
    },
    /// The URI is not one this source may fetch (not under an allowed prefix,
    /// not an absolute http(s) URL in normal form).
    #[error("status list URI {0:?} is not allowed")]
    UriNotAllowed(String),
    /// A status base or list URL may not be fetched for its issuer, by
    /// passport-remote's rule: a status base must pass
    /// [`passport_remote::check_endpoint`] (https, or plain http on a
    /// loopback host for a plain-http issuer); before a fetch, the issuer
    /// must also pass [`passport_remote::check_issuer`] (https, or plain
    /// http on a loopback host).
    #[error("the status lists of issuer {issuer:?} may not be fetched: {reason}")]
    InsecureUrl {
        /// The issuer (shortened).
        issuer: String,
        /// The URL refused and why, as passport-remote says it.
        reason: String,
    },
    /// A list could not be fetched.
    #[error("status list {uri} could not be fetched: {reason}")]
    Unreachable {
        /// The URI.
        uri: String,
        /// What went wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The allocator's state file is not what this crate writes.
    #[error("status index file {path}: {reason}")]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Every index the allocator may hand out is taken.
    #[error("the status index space is exhausted ({allocated} indices allocated)")]
    IndexSpaceExhausted {
        /// How many are allocated.
        allocated: usize,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable: {0}")]
    RandomUnavailable(String),
    /// No allocated record has this `jti` or index.
    #[error("no status record for {0}")]
    UnknownRecord(String),
    /// A background task was to be started outside a tokio runtime.
    #[error("the status refresher needs a tokio runtime (none is running)")]
    NoRuntime,
    /// A deny-list file is not `{"revoked": [...]}`.
    #[error("invalid deny list {path}: {reason}")]
    InvalidDenyList {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

passport_jose::error_codes! {
    StatusError {
        StatusError::InvalidBits(_) => "invalid_bits":
            "A status list's `bits` is not 1, 2, 4 or 8.",
        StatusError::InvalidValue { .. } => "invalid_status_value":
            "A status value does not fit in the list's `bits`.",
        StatusError::InvalidBase64 => "invalid_base64":
            "A value that must be unpadded, canonical base64url is not.",
        StatusError::InvalidZlib(_) => "invalid_zlib":
            "A status list's `lst` is not one complete, valid ZLIB stream.",
        StatusError::ListTooLarge { .. } => "list_too_large":
            "A status list (decompressed, or grown) is larger than the cap.",
        StatusError::IndexOutOfRange { .. } => "index_out_of_range":
            "A status index is past the end of the status list.",
        StatusError::Compression(_) => "compression_failed":
            "Compressing a status list failed.",
        StatusError::UntrustedKey { .. } => "unknown_kid":
            "No key the verifier trusts for this kind of token has the token's `kid`.",
        StatusError::KeyRetired { .. } => "key_retired":
            "A status list token was issued (`iat`) after its key's retirement time.",
        StatusError::LifetimeTooLong { .. } => "status_list_lifetime_too_long":
            "A status list token's lifetime (`exp - iat`) is above the verifier's maximum.",
        StatusError::RolledBack { .. } => "status_list_rolled_back":
            "A status list is older (`iat`) than one already seen for the same URI (rollback).",
        StatusError::InvalidClaims(_) => "invalid_status_list_claims":
            "A status list token's claims are missing, of the wrong type or malformed.",
        StatusError::UriMismatch { .. } => "uri_mismatch":
            "A status list token's `sub` is not the URI the passport references.",
        StatusError::IssuedInFuture { .. } => "status_list_issued_in_future":
            "A status list token's `iat` is in the future by more than the clock skew.",
        StatusError::Expired { .. } => "status_list_expired":
            "A status list token's `exp` is in the past by more than the clock skew.",
        StatusError::UriNotAllowed(_) => "status_uri_not_allowed":
            "A status list URI is not one this source trusts or may fetch.",
        StatusError::InsecureUrl { .. } => "insecure_url":
            "A status base or list URL may not be fetched for its issuer: the URL is not http(s), or is plain http while the issuer is https, or off a loopback host; or, when a list is about to be fetched, the issuer is neither https nor plain http on a loopback host.",
        StatusError::Unreachable { .. } => "status_list_unreachable":
            "A status list could not be fetched or loaded.",
        StatusError::Io { .. } => "io_error":
            "A file could not be read or written.",
        StatusError::CorruptState { .. } => "corrupt_state":
            "The status index allocator's state file is not what this crate writes.",
        StatusError::IndexSpaceExhausted { .. } => "index_space_exhausted":
            "Every status index the allocator may hand out is taken.",
        StatusError::RandomUnavailable(_) => "random_unavailable":
            "The operating system's random source failed.",
        StatusError::UnknownRecord(_) => "unknown_passport":
            "No passport with this `jti` (or status index) was issued here.",
        StatusError::NoRuntime => "no_tokio_runtime":
            "The status refresher was started outside a tokio runtime.",
        StatusError::InvalidDenyList { .. } => "invalid_deny_list":
            "A deny-list file is not `{\"revoked\": [...]}`.",
    }
    wraps {
        StatusError::Jose(e) => e.code(),
    }
}

impl StatusError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> StatusError {
        StatusError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Keeps attacker-chosen strings in errors short.
pub(crate) fn shorten(s: &str) -> String {
    passport_jose::clip(s, 64)
}
