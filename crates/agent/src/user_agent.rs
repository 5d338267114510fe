//! The person's side of the code flow: whatever takes them to the
//! authorization endpoint and brings back the redirect.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use passport_oidc::{LoopbackRedirect, OidcError};
use url::Url;

use crate::ClientError;

/// What the page shown after the redirect says.
const PAGE_DONE: &str = "The agent has its answer; you can close this window.";

/// An authorization request (RFC 6749 §4.1.1 with PKCE, RFC 8707
/// `resource`), waiting for the redirect URI the [`UserAgent`] receives
/// redirects on.
pub struct AuthorizationRequest {
    endpoint: Url,
    client_id: String,
    state: String,
    code_challenge: String,
    resource: String,
    scope: Option<String>,
}

impl fmt::Debug for AuthorizationRequest {
    // Not the state: it ties the redirect to this request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl AuthorizationRequest {
    pub(crate) fn new(
        endpoint: &str,
        client_id: &str,
        state: &str,
        code_challenge: &str,
        resource: &str,
        scope: Option<&str>,
    ) -> Result<AuthorizationRequest, ClientError> {
        let endpoint = Url::parse(endpoint)
            .map_err(|e| ClientError::Metadata(format!("`authorization_endpoint`: {e}")))?;
        Ok(AuthorizationRequest {
            endpoint,
            client_id: client_id.to_owned(),
            state: state.to_owned(),
            code_challenge: code_challenge.to_owned(),
            resource: resource.to_owned(),
            scope: scope.map(str::to_owned),
        })
    }

    /// The URL to send the person to, for redirects to `redirect_uri`:
    /// `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`,
    /// `code_challenge` (S256) and `resource`, added to the endpoint's own
    /// query (RFC 6749 §3.1).
    pub fn url(&self, redirect_uri: &str) -> String {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri);
            if let Some(scope) = &self.scope {
                query.append_pair("scope", scope);
            }
            query
                .append_pair("state", &self.state)
                .append_pair("code_challenge", &self.code_challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("resource", &self.resource);
        }
        url.into()
    }
}

/// What came back: the redirect URI the request was made for, and the
/// redirect's query parameters (in order, repeated names kept: the flow
/// refuses a response with a parameter twice). `Debug` names the
/// parameters, never their values (a code is one).
#[non_exhaustive]
pub struct AuthorizationResponse {
    /// The `redirect_uri` given to [`AuthorizationRequest::url`]; sent again
    /// with the code.
    pub redirect_uri: String,
    /// The redirect's query parameters.
    pub params: Vec<(String, String)>,
}

impl fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("AuthorizationResponse")
            .field("redirect_uri", &self.redirect_uri)
            .field("params", &names)
            .finish()
    }
}

impl AuthorizationResponse {
    /// The redirect to `redirect_uri` with `params`.
    pub fn new(
        redirect_uri: impl Into<String>,
        params: Vec<(String, String)>,
    ) -> AuthorizationResponse {
        AuthorizationResponse {
            redirect_uri: redirect_uri.into(),
            params,
        }
    }
}

/// Takes the person to the authorization endpoint and returns the
/// redirect: a browser and a loopback listener on a desktop
/// ([`LoopbackUserAgent`]), a deep link in an app, a test double. It only
/// transports; [`crate::TokenService::authorization_code`] checks `state`
/// and `iss`.
///
/// ```
/// use passport_agent::{AuthorizationRequest, AuthorizationResponse, ClientError, UserAgent};
///
/// /// Hands the URL to the app's own browser and awaits the deep link.
/// struct AppBrowser;
///
/// #[async_trait::async_trait]
/// impl UserAgent for AppBrowser {
///     async fn authorize(
///         &self,
///         request: &AuthorizationRequest,
///     ) -> Result<AuthorizationResponse, ClientError> {
///         let redirect_uri = "com.example.agent:/callback";
///         let _url = request.url(redirect_uri);
///         // … open it, wait for the deep link, parse its query …
///         let params = vec![("code".to_owned(), "…".to_owned())];
///         Ok(AuthorizationResponse::new(redirect_uri, params))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait UserAgent: Send + Sync {
    /// Takes the person to `request.url(redirect_uri)` and returns the
    /// redirect to `redirect_uri`.
    async fn authorize(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, ClientError>;
}

/// A [`UserAgent`] for a desktop: listens on a loopback redirect URI (RFC
/// 8252 §7.3: `http://127.0.0.1:PORT/path`, `[::1]` or `localhost`; port 0
/// or none picks a free one), hands the authorization URL to `open`
/// (print it, start a browser), and waits up to a time limit (300 s by
/// default) for the one redirect to that path carrying the request's
/// `state` (a request with another `state` or none — any page open in the
/// browser can send one — is answered 400 and the wait goes on). Each
/// authorization binds its own listener, closed when the redirect arrives. The listener is
/// passport-oidc's, the one `passport login` uses.
///
/// ```no_run
/// use passport_agent::LoopbackUserAgent;
/// use std::time::Duration;
///
/// let browser = LoopbackUserAgent::new("http://127.0.0.1:8765/callback", |url| {
///     eprintln!("Open this URL to continue:\n  {url}");
/// })
/// .timeout(Duration::from_secs(120));
/// # let _ = browser;
/// ```
#[derive(Clone)]
pub struct LoopbackUserAgent {
    redirect_uri: String,
    open: Arc<dyn Fn(&str) + Send + Sync>,
    timeout: Duration,
}

impl fmt::Debug for LoopbackUserAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackUserAgent")
            .field("redirect_uri", &self.redirect_uri)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LoopbackUserAgent {
    /// Redirects to `redirect_uri` (a loopback URI, checked when the flow
    /// starts); `open` gets each authorization URL.
    pub fn new(
        redirect_uri: impl Into<String>,
        open: impl Fn(&str) + Send + Sync + 'static,
    ) -> LoopbackUserAgent {
        LoopbackUserAgent {
            redirect_uri: redirect_uri.into(),
            open: Arc::new(open),
            timeout: passport_oidc::DEFAULT_LOGIN_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for the redirect (`login_timeout` after it).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> LoopbackUserAgent {
        self.timeout = timeout;
        self
    }
}

#[async_trait::async_trait]
impl UserAgent for LoopbackUserAgent {
    async fn authorize(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, ClientError> {
        let listener = LoopbackRedirect::parse(&self.redirect_uri, None)?
            .bind()
            .await?
            .expect_state(&request.state);
        let redirect_uri = listener.redirect_uri().to_owned();
        (self.open)(&request.url(&redirect_uri));
        let callback = tokio::time::timeout(self.timeout, listener.wait_for_callback())
            .await
            .map_err(|_| OidcError::LoginTimeout(self.timeout))??;
        let params = callback.params.clone();
        callback.answer(PAGE_DONE).await;
        Ok(AuthorizationResponse::new(redirect_uri, params))
    }
}
