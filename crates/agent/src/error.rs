//! The crate's error type.

use passport_dpop::DpopError;

/// Why a request failed before an answer came back. (A refusal by the
/// server — 401, 403 — is a response, not an error.)
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
}

passport_jose::error_codes! {
    ClientError {
        ClientError::InvalidBundle => "invalid_bundle":
            "The passport bundle cannot be put in an HTTP header (it is not visible ASCII).",
        ClientError::Credentials(_) => "credentials_unavailable":
            "The agent's credential source had no passport bundle to send.",
        ClientError::Http(_) => "http_failed":
            "An HTTP request failed at the transport level (or in another middleware of the client).",
    }
    wraps {
        ClientError::Proof(e) => e.code(),
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
