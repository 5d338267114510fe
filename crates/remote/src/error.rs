//! The one error type of this crate.

use passport_jose::JoseError;

/// Everything that can go wrong while discovering, fetching or accepting an
/// issuer's keys.
///
/// Each variant has a stable, machine-readable [`RemoteError::code`]. Messages
/// name URLs and issuers, never a token or a key's private material (there
/// is none: a JWKS is public).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The builder's configuration is invalid (a bound, an issuer that is not
    /// a URL, no issuer at all).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A URL is not acceptable: not http(s), or plain http where https is
    /// required (an https issuer's `jwks_uri`, a non-loopback issuer).
    #[error("{url}: {reason}")]
    InsecureUrl {
        /// The URL (truncated).
        url: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The request failed at the transport level (connection, TLS, timeout).
    #[error("cannot fetch {url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What the HTTP client reported.
        reason: String,
    },
    /// The server answered a redirect; redirects are never followed, so every
    /// request stays on the configured origin.
    #[error("{url} answered a redirect (HTTP {status}); redirects are not followed")]
    Redirected {
        /// The URL.
        url: String,
        /// The 3xx status.
        status: u16,
    },
    /// The server answered a status other than 2xx.
    #[error("{url} answered HTTP {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The response body is larger than the configured cap.
    #[error("{url}: the response is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap, in bytes.
        limit: usize,
    },
    /// The issuer's metadata document is not usable (not JSON, no `issuer` or
    /// `jwks_uri`, neither RFC 8414 nor OpenID discovery answered).
    #[error("metadata of {issuer}: {reason}")]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// The metadata document names another issuer than the configured one
    /// (RFC 8414 §3.3: it must be identical).
    #[error("the metadata at {url} names issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// The issuer the document names (truncated).
        found: String,
    },
    /// The JWKS does not parse, holds a weak or malformed key, or holds more
    /// than [`passport_jose::MAX_JWKS_KEYS`] keys. The whole set is refused.
    #[error("{url}: {source}")]
    InvalidJwks {
        /// The JWKS URL.
        url: String,
        /// The reason, with its own code (`weak_key`, `invalid_json`, …).
        #[source]
        source: JoseError,
    },
    /// The JWKS holds no key usable for verifying.
    #[error("{url}: the JWKS holds no usable key")]
    NoUsableKey {
        /// The JWKS URL.
        url: String,
    },
    /// A key of the fetched set is published by another trusted issuer too
    /// (the same RFC 7638 thumbprint): one key belongs to one issuer only,
    /// so it is used by neither until one stops publishing it. Only that
    /// key was refused; the rest of the set is in use.
    #[error("key {kid:?} of {issuer} is published by {other} too: used by neither")]
    KeyIssuerConflict {
        /// The issuer whose set was fetched.
        issuer: String,
        /// The other issuer that holds the key.
        other: String,
        /// The key's `kid` in the fetched set (truncated).
        kid: String,
    },
    /// The issuer is not one this key store trusts.
    #[error("{0} is not a trusted issuer of this key store")]
    UnknownIssuer(String),
    /// Fetching the keys of a configured issuer failed (the source names why).
    #[error("issuer {issuer}: {source}")]
    Issuer {
        /// The configured issuer.
        issuer: String,
        /// What went wrong.
        #[source]
        source: Box<RemoteError>,
    },
}

passport_jose::error_codes! {
    RemoteError {
        RemoteError::Config(_) => "remote_config":
            "The remote key store's configuration is invalid.",
        RemoteError::InsecureUrl { .. } => "insecure_url":
            "A URL is not http(s), or is plain http where https is required (an https issuer's `jwks_uri`, a non-loopback issuer).",
        RemoteError::Transport { .. } => "fetch_failed":
            "Fetching a key set or issuer metadata failed at the transport level (connection, TLS, timeout).",
        RemoteError::Redirected { .. } => "http_redirect":
            "A server answered a redirect; redirects are not followed.",
        RemoteError::HttpStatus { .. } => "http_status":
            "A server answered with a status other than 2xx.",
        RemoteError::TooLarge { .. } => "response_too_large":
            "A response body is larger than the configured cap.",
        RemoteError::Discovery { .. } => "discovery_failed":
            "An issuer's RFC 8414 / OpenID metadata is missing or unusable.",
        RemoteError::IssuerMismatch { .. } => "issuer_mismatch":
            "An issuer's metadata names another issuer than the configured one.",
        RemoteError::InvalidJwks { .. } => "invalid_jwks":
            "A fetched key set does not parse, holds a weak or malformed key, or too many keys; it is refused as a whole.",
        RemoteError::NoUsableKey { .. } => "jwks_empty":
            "A fetched key set holds no key usable for verifying.",
        RemoteError::KeyIssuerConflict { .. } => "key_issuer_conflict":
            "A fetched key is published by another trusted issuer too: that key alone is used by neither.",
        RemoteError::UnknownIssuer(_) => "unknown_issuer":
            "The issuer is not one the remote key store trusts.",
    }
    wraps {
        RemoteError::Issuer { source, .. } => source.code(),
    }
}

impl RemoteError {
    /// The issuer this error names when it wraps another.
    pub(crate) fn for_issuer(self, issuer: &str) -> RemoteError {
        match self {
            e @ RemoteError::Issuer { .. } => e,
            e => RemoteError::Issuer {
                issuer: issuer.to_owned(),
                source: Box::new(e),
            },
        }
    }
}

/// At most 200 characters of a string from the network, for messages.
pub(crate) fn truncate(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
