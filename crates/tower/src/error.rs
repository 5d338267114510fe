//! The one error type of this crate and how each error answers over HTTP.

use http::StatusCode;
use passport_dpop::DpopError;
use passport_verifier::VerifyError;

/// Why a request was refused (or the layer could not be configured).
///
/// Every variant has a stable, machine-readable [`AuthError::code`]: the
/// verifier's and DPoP verifier's own codes pass through unchanged
/// (`audience_mismatch`, `scope_violation`, `replay`, …), and the layer adds
/// its own for what happens before them (`missing_credentials`,
/// `multiple_authorization_headers`, …). The code is what a refusal puts in
/// `error_description`. [`AuthError::status`] and [`AuthError::oauth_error`]
/// say how it answers (see the table in the crate documentation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header (RFC 6750 §3.1: the challenge carries no
    /// error code).
    #[error("the request carries no credentials")]
    MissingCredentials,
    /// An `Authorization` scheme other than `Bearer` or `DPoP` (or `DPoP`
    /// on a server without a DPoP verifier). Treated like missing
    /// credentials (RFC 6750 §3.1: "attempted using an unsupported
    /// authentication method").
    #[error("unsupported authorization scheme")]
    UnsupportedScheme,
    /// More than one `Authorization` header.
    #[error("the request carries more than one Authorization header")]
    MultipleAuthorizationHeaders,
    /// An `Authorization` header that is not `<scheme> <token68>`.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// The `Authorization` header is longer than the configured limit.
    #[error("Authorization header is {len} bytes, more than the limit of {max}")]
    TokenTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The passport bundle was refused by the verifier.
    #[error("passport refused: {0}")]
    Token(#[source] VerifyError),
    /// The DPoP proof was refused.
    #[error("DPoP proof refused: {0}")]
    Proof(#[source] DpopError),
    /// The passport is bound to a key (`cnf.jkt`) and was presented with
    /// the `Bearer` scheme (RFC 9449 §7.1 requires `DPoP`).
    #[error("a DPoP-bound passport must be presented with the DPoP scheme")]
    BoundTokenAsBearer,
    /// The `DPoP` scheme with a passport that is not bound to any key.
    #[error("the DPoP scheme was used with a passport that is not bound to a key")]
    TokenNotBound,
    /// The route requires proof of possession and the passport is a bearer
    /// passport.
    #[error("this resource requires a DPoP-bound passport")]
    ProofOfPossessionRequired,
    /// The [`crate::Passport`] extractor ran on a route without the layer.
    #[error("no passport layer in front of this handler")]
    LayerMissing,
    /// The layer's configuration is invalid.
    #[error("invalid passport layer configuration: {0}")]
    InvalidConfig(String),
    /// [`PassportAuth::trusting`](crate::PassportAuth::trusting) could not
    /// establish trust in the issuer at startup (its metadata or keys could
    /// not be fetched or were refused, or its status base may not be
    /// fetched from). The code is the source's (`discovery_failed`,
    /// `issuer_mismatch`, `weak_key`, `insecure_url`, …).
    #[error("cannot trust the issuer: {source}")]
    TrustUnavailable {
        /// The source error's code.
        code: &'static str,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

passport_jose::error_codes! {
    AuthError {
        AuthError::MissingCredentials => "missing_credentials":
            "The request has no `Authorization` header.",
        AuthError::UnsupportedScheme => "unsupported_scheme":
            "An `Authorization` scheme other than `Bearer` or `DPoP` (or `DPoP` without a DPoP verifier).",
        AuthError::MultipleAuthorizationHeaders => "multiple_authorization_headers":
            "The request has more than one `Authorization` header.",
        AuthError::MalformedAuthorization(_) => "malformed_authorization":
            "An `Authorization` header that is not `<scheme> <token68>`.",
        AuthError::TokenTooLarge { .. } => "token_too_large":
            "The token (or the credential carrying it) is longer than the accepted limit.",
        AuthError::BoundTokenAsBearer => "dpop_bound_token_as_bearer":
            "A DPoP-bound passport presented with the `Bearer` scheme.",
        AuthError::TokenNotBound => "token_not_bound":
            "The `DPoP` scheme with a passport that is not bound to a key.",
        AuthError::ProofOfPossessionRequired => "pop_required":
            "Proof of possession is required and the passport is a bearer passport (no `cnf.jkt`).",
        AuthError::LayerMissing => "passport_layer_missing":
            "The `Passport` extractor ran on a route without the layer.",
        AuthError::InvalidConfig(_) => "invalid_configuration":
            "The passport-axum layer's configuration is invalid.",
    }
    wraps {
        AuthError::Token(e) => e.code(),
        AuthError::Proof(e) => e.code(),
        AuthError::TrustUnavailable { code, .. } => code,
    }
}

impl AuthError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            Kind::Unauthenticated | Kind::InvalidToken | Kind::InvalidProof | Kind::Nonce => {
                StatusCode::UNAUTHORIZED
            }
            Kind::StepUp => StatusCode::UNAUTHORIZED,
            Kind::InvalidRequest => StatusCode::BAD_REQUEST,
            Kind::InsufficientScope => StatusCode::FORBIDDEN,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds the client should wait (`Retry-After`), for a DPoP proof key
    /// over its share of the replay cache (429 `replay_quota_exceeded`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AuthError::Proof(e) => e.retry_after(),
            _ => None,
        }
    }

    /// The OAuth error code of the `WWW-Authenticate` challenge
    /// (`invalid_token`, `insufficient_scope`, `invalid_request`,
    /// `invalid_dpop_proof`, `use_dpop_nonce`,
    /// `insufficient_user_authentication`), or `None` when the challenge
    /// carries none (missing credentials, RFC 6750 §3.1) or the answer is a
    /// server error (5xx, no challenge).
    pub fn oauth_error(&self) -> Option<&'static str> {
        match self.kind() {
            Kind::Unauthenticated | Kind::RateLimited | Kind::Unavailable | Kind::Internal => None,
            Kind::InvalidToken => Some("invalid_token"),
            Kind::InvalidProof => Some("invalid_dpop_proof"),
            Kind::Nonce => Some("use_dpop_nonce"),
            Kind::StepUp => Some("insufficient_user_authentication"),
            Kind::InvalidRequest => Some("invalid_request"),
            Kind::InsufficientScope => Some("insufficient_scope"),
        }
    }

    /// For `insufficient_scope`: the scope that was missing (the `scope`
    /// parameter of the challenge, so an agent can ask for it).
    pub fn missing_scope(&self) -> Option<&str> {
        match self {
            AuthError::Token(e) => match e.root_cause() {
                VerifyError::ScopeNotCovered { required, .. } => Some(required),
                _ => None,
            },
            _ => None,
        }
    }

    /// For `use_dpop_nonce`: the nonce for the `DPoP-Nonce` header.
    pub fn dpop_nonce(&self) -> Option<&str> {
        match self {
            AuthError::Proof(e) => e.fresh_nonce(),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            AuthError::MissingCredentials | AuthError::UnsupportedScheme => Kind::Unauthenticated,
            AuthError::MultipleAuthorizationHeaders | AuthError::MalformedAuthorization(_) => {
                Kind::InvalidRequest
            }
            AuthError::TokenTooLarge { .. }
            | AuthError::BoundTokenAsBearer
            | AuthError::TokenNotBound
            | AuthError::ProofOfPossessionRequired => Kind::InvalidToken,
            AuthError::Token(e) => match e.root_cause() {
                VerifyError::ScopeNotCovered { .. } => Kind::InsufficientScope,
                VerifyError::InsufficientAssurance { .. } => Kind::StepUp,
                // The token may be fine: the server cannot tell right now.
                VerifyError::StatusUnavailable(_) | VerifyError::AuditFailed(_) => {
                    Kind::Unavailable
                }
                // The server's configuration, not the token: a policy or key
                // store that cannot be used, or no status source for a
                // passport that names one.
                VerifyError::Policy(_)
                | VerifyError::KeyIssuerConflict { .. }
                | VerifyError::StatusSourceRequired { .. } => Kind::Internal,
                _ => Kind::InvalidToken,
            },
            AuthError::Proof(e) => match e {
                _ if e.is_server_error() => Kind::Unavailable,
                // One key flooding the replay cache: that client's problem
                // (429), not the server's (503) nor the proof's (401).
                DpopError::ReplayQuotaExceeded { .. } => Kind::RateLimited,
                DpopError::UseNonce { .. } => Kind::Nonce,
                DpopError::MissingProof | DpopError::MultipleProofs | DpopError::InvalidUrl(_) => {
                    Kind::InvalidRequest
                }
                // RFC 9449 §7.1: a proof by another key than the token's is
                // a problem of the token's binding.
                DpopError::KeyMismatch => Kind::InvalidToken,
                _ => Kind::InvalidProof,
            },
            AuthError::LayerMissing
            | AuthError::InvalidConfig(_)
            | AuthError::TrustUnavailable { .. } => Kind::Internal,
        }
    }
}

/// How a refusal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 401, challenge without an error code.
    Unauthenticated,
    /// 400 `invalid_request`.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 401 `invalid_dpop_proof`.
    InvalidProof,
    /// 401 `use_dpop_nonce` + `DPoP-Nonce`.
    Nonce,
    /// 401 `insufficient_user_authentication` (RFC 9470).
    StepUp,
    /// 403 `insufficient_scope` + `scope`.
    InsufficientScope,
    /// 429 + `Retry-After`, no challenge.
    RateLimited,
    /// 503, no challenge.
    Unavailable,
    /// 500, no challenge.
    Internal,
}
