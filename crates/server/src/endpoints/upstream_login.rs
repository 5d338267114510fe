//! The upstream login both `/authorize` and `/admin/login` use
//! ([`passport_oidc::PendingLogin`]): started towards the one callback
//! registered at the provider (`<issuer>/authorize/callback`), finished
//! there. The callback hands a login to whichever flow started it, found
//! by its `state`.

#[allow(clippy::wildcard_imports)]
use super::*;

use passport_oidc::{PendingLogin, Provider};

use super::authorize::CALLBACK_PATH;

/// The longest upstream callback query read.
const MAX_CALLBACK_QUERY: usize = 8192;

/// The configured upstream provider, or 503 naming the missing setting.
pub(crate) fn provider(server: &Server) -> Result<std::sync::Arc<Provider>, OAuthError> {
    server.inner.upstream.clone().ok_or_else(|| {
        OAuthError::new(
            503,
            codes::TEMPORARILY_UNAVAILABLE,
            "this server has no upstream identity provider configured, so nobody can log in \
             (set the CSP_* variables of passport serve)",
        )
    })
}

/// Starts a login at the upstream provider, to come back to the callback.
///
/// # Errors
/// 503 `temporarily_unavailable` when the provider cannot be reached.
pub(crate) async fn start(server: &Server) -> Result<PendingLogin, OAuthError> {
    let upstream = provider(server)?;
    PendingLogin::start(&upstream, &server.inner.issuer.endpoint(CALLBACK_PATH))
        .await
        .map_err(|e| {
            tracing::warn!(code = e.code(), error = %e, "the upstream login could not start");
            OAuthError::new(
                503,
                codes::TEMPORARILY_UNAVAILABLE,
                format!("the identity provider cannot be reached ({})", e.code()),
            )
        })
}

/// The callback's query parameters (bounded).
///
/// # Errors
/// 400 `invalid_request` when the query is too large.
pub(crate) fn callback_params(request: &Request) -> Result<Vec<(String, String)>, OAuthError> {
    let query = request.uri().query().unwrap_or("");
    if query.len() > MAX_CALLBACK_QUERY {
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "the login response is too large",
        ));
    }
    Ok(url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect())
}

/// The `state` among the callback's parameters (empty when none).
pub(crate) fn state_of(params: &[(String, String)]) -> &str {
    params
        .iter()
        .find(|(n, _)| n == "state")
        .map_or("", |(_, v)| v.as_str())
}

/// Finishes `login` with the callback's parameters (`state`, RFC 9207
/// `iss`, code exchange, ID token with nonce): who logged in, with the ID
/// token's claims.
///
/// # Errors
/// 503 without a provider; 400 `access_denied` when the login failed.
pub(crate) async fn finish(
    server: &Server,
    login: PendingLogin,
    params: &[(String, String)],
) -> Result<IdentityAssertion, OAuthError> {
    let upstream = provider(server)?;
    match login.finish(&upstream, params).await {
        Ok(result) => Ok(result.assertion),
        Err(e) => {
            tracing::warn!(code = e.code(), error = %e, "the upstream login failed");
            Err(OAuthError::new(
                400,
                codes::ACCESS_DENIED,
                format!("the login at the identity provider failed ({})", e.code()),
            ))
        }
    }
}
