//! The crate's error type.

use std::sync::Arc;

use passport_dpop::DpopError;
use passport_oidc::OidcError;
use passport_remote::RemoteError;

/// Why a request failed before an answer came back (a refusal by a
/// resource server — 401, 403 — is a response, not an error), or why the
/// [`TokenService`](crate::TokenService) could not obtain a passport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The bundle cannot be put in a header (it is not visible ASCII).
    #[error("the passport bundle is not a valid header value")]
    InvalidBundle,
    /// The DPoP proof could not be made (URL not http(s), randomness, …).
    #[error("DPoP proof: {0}")]
    Proof(#[from] DpopError),
    /// The [`CredentialSource`](crate::CredentialSource) had no credentials
    /// to give (a rotating source that could not renew, …).
    #[error("no credentials: {0}")]
    Credentials(Box<dyn std::error::Error + Send + Sync>),
    /// The request failed at the transport level (connection, request
    /// building, …) or in another middleware of the stack.
    #[error("HTTP: {0}")]
    Http(#[source] reqwest_middleware::Error),
    /// The authorization server's metadata could not be fetched or names
    /// another issuer, or a response could not be read (its own code says
    /// why: `issuer_mismatch`, `discovery_failed`, `insecure_url`, …).
    #[error("token service: {0}")]
    Remote(#[source] RemoteError),
    /// The authorization server's metadata lacks what this grant needs (an
    /// authorization endpoint, PKCE S256), or holds a field of the wrong type.
    #[error("token service metadata: {0}")]
    Metadata(String),
    /// The token endpoint refused the request with an OAuth error.
    #[error("the token endpoint refused (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    TokenRefused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code (`invalid_grant`, `invalid_scope`, …).
        error: String,
        /// The `error_description`, clipped.
        description: Option<String>,
    },
    /// The token endpoint answered something that is not a usable token
    /// response (no `access_token`, an unknown `token_type`, a bearer
    /// passport where a DPoP-bound one was asked for, …).
    #[error("unusable token response: {0}")]
    TokenResponse(String),
    /// The authorization step of the code flow failed: the redirect's
    /// `state` or RFC 9207 `iss` is wrong or missing, it carried an
    /// `error`, the user agent timed out or could not listen (the codes of
    /// passport-oidc: `state_mismatch`, `issuer_mismatch`, `provider_error`,
    /// `invalid_callback`, `login_timeout`, …).
    #[error("authorization: {0}")]
    Authorization(#[source] OidcError),
    /// A [`RotatingPassport`](crate::RotatingPassport) holds no valid
    /// passport (none yet, or the one it holds has expired) and could not
    /// obtain one: the last attempt failed with `cause`, and the next is
    /// not made before `retry_at` (exponential backoff).
    #[error("no valid passport: obtaining one failed, next attempt at {retry_at}: {cause}")]
    RotationFailed {
        /// When the cache tries again (seconds since the epoch, on its clock).
        retry_at: i64,
        /// Why the last attempt failed (shared by every caller told so).
        #[source]
        cause: Arc<ClientError>,
    },
}

passport_jose::error_codes! {
    ClientError {
        ClientError::InvalidBundle => "invalid_bundle":
            "The passport bundle cannot be put in an HTTP header (it is not visible ASCII).",
        ClientError::Credentials(_) => "credentials_unavailable":
            "The agent's credential source had no passport bundle to send.",
        ClientError::Http(_) => "http_failed":
            "An HTTP request failed at the transport level (or in another middleware of the client).",
        ClientError::Metadata(_) => "token_service_metadata":
            "The authorization server's metadata lacks what the grant needs (an authorization endpoint, PKCE S256) or has a field of the wrong type.",
        ClientError::TokenRefused { .. } => "token_request_refused":
            "The authorization server's token endpoint refused the request with an OAuth error.",
        ClientError::TokenResponse(_) => "invalid_token_response":
            "The token endpoint's answer is not a usable token response (no access token, an unknown or unexpected token type).",
        ClientError::RotationFailed { .. } => "rotation_failed":
            "The rotating passport cache holds no valid passport and its last attempt to obtain one failed; it waits (exponential backoff) before the next.",
    }
    wraps {
        ClientError::Proof(e) => e.code(),
        ClientError::Remote(e) => e.code(),
        ClientError::Authorization(e) => e.code(),
    }
}

impl From<reqwest_middleware::Error> for ClientError {
    /// A middleware error that is one of ours comes back as itself; anything
    /// else is [`ClientError::Http`].
    fn from(error: reqwest_middleware::Error) -> ClientError {
        match error {
            reqwest_middleware::Error::Middleware(inner) => match inner.downcast::<ClientError>() {
                Ok(ours) => ours,
                Err(other) => ClientError::Http(reqwest_middleware::Error::Middleware(other)),
            },
            other => ClientError::Http(other),
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(error: reqwest::Error) -> ClientError {
        ClientError::Http(error.into())
    }
}

impl From<RemoteError> for ClientError {
    fn from(error: RemoteError) -> ClientError {
        ClientError::Remote(error)
    }
}

impl From<OidcError> for ClientError {
    fn from(error: OidcError) -> ClientError {
        ClientError::Authorization(error)
    }
}
