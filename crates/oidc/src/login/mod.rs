//! The PKCE loopback login (RFC 6749 §4.1, RFC 7636 S256, RFC 8252 §7.3,
//! RFC 9207, RFC 9700 §2.1): [`flow`] speaks OAuth (through the `oauth2`
//! crate) and [`loopback`] receives the browser's redirect; [`login`] runs
//! one after the other.

mod flow;
mod http;
pub(crate) mod loopback;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use passport_claims::IdentityAssertion;

use self::flow::AuthorizationRequest;
use self::loopback::LoopbackRedirect;
use crate::discovery::ProviderMetadata;
use crate::{OidcError, Provider};

/// The default time a login waits for the browser to come back.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What the page shown in the browser after the callback says.
const PAGE_DONE: &str = "Login finished; you can close this window.";

/// An ID token. `Debug` prints `[redacted]`: it is a bearer credential for
/// the issuer's token exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken(String);

impl IdToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> IdToken {
        IdToken(token.into())
    }

    /// The compact JWS.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The compact JWS, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

/// An OAuth access token. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// How a login runs.
#[derive(Clone)]
#[non_exhaustive]
pub struct LoginOptions {
    /// Try to open the system browser on the authorization URL
    /// (`xdg-open`, `open`); failure is ignored (the URL sink still gets it).
    pub open_browser: bool,
    /// How long to wait for the callback (default 300 s).
    pub timeout: Duration,
    /// The loopback port; `None` takes the redirect URI's port (a free port
    /// when it has none), `Some(0)` a free port.
    pub port: Option<u16>,
    /// Receives the authorization URL before the wait starts. The default
    /// prints it on stderr with a line asking to open it.
    pub url_sink: Arc<dyn Fn(&str) + Send + Sync>,
}

impl LoginOptions {
    /// The defaults: open the browser, 300 s, the redirect URI's port, print
    /// the URL on stderr.
    pub fn new() -> LoginOptions {
        LoginOptions {
            open_browser: true,
            timeout: DEFAULT_LOGIN_TIMEOUT,
            port: None,
            url_sink: Arc::new(|url| {
                eprintln!("Open this URL in your browser to log in:\n  {url}")
            }),
        }
    }

    /// Sets whether to open the browser.
    pub fn open_browser(mut self, open: bool) -> LoginOptions {
        self.open_browser = open;
        self
    }

    /// Sets the time limit.
    pub fn timeout(mut self, timeout: Duration) -> LoginOptions {
        self.timeout = timeout;
        self
    }

    /// Sets the loopback port (`0` for a free one).
    pub fn port(mut self, port: u16) -> LoginOptions {
        self.port = Some(port);
        self
    }

    /// Sets the receiver of the authorization URL.
    pub fn url_sink(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> LoginOptions {
        self.url_sink = Arc::new(sink);
        self
    }
}

impl Default for LoginOptions {
    fn default() -> LoginOptions {
        LoginOptions::new()
    }
}

impl fmt::Debug for LoginOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginOptions")
            .field("open_browser", &self.open_browser)
            .field("timeout", &self.timeout)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// A finished login.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoginResult {
    /// The ID token, validated (nonce included).
    pub id_token: IdToken,
    /// The access token. Every token response carries one (RFC 6749 §5.1);
    /// a response without it fails the exchange.
    pub access_token: AccessToken,
    /// The identity the ID token asserts.
    pub assertion: IdentityAssertion,
    /// The redirect URI used (with the port actually listened on).
    pub redirect_uri: String,
}

/// Runs the authorization code flow with PKCE on a loopback redirect, then
/// validates the ID token:
///
/// 1. Discovery gives the authorization and token endpoints.
/// 2. A listener is bound on the loopback address of the redirect URI, on its
///    port or on a free one; the redirect URI sent carries the actual port.
/// 3. Fresh `state`, `nonce` (256 bits each) and PKCE verifier; the browser
///    is opened on the authorization URL and the URL is handed to the
///    caller's sink (so it can be printed when no browser opens).
/// 4. The first request on the redirect path carrying the `state` sent is
///    the callback; the listener then closes. Other paths (`/favicon.ico`,
///    …) get a 404, and requests with another `state` or none (any page in
///    the browser can send one) a 400; neither counts, and the wait goes on
///    until the timeout.
/// 5. `state` must be the one sent; `iss` must be the issuer when present and
///    must be present when the provider advertises RFC 9207; an `error`
///    response becomes [`OidcError::ProviderError`].
/// 6. The code is exchanged with the verifier (and the client secret, by
///    `client_secret_basic` unless the provider only offers
///    `client_secret_post`); the ID token is validated in full, with the nonce.
pub async fn login(provider: &Provider, options: LoginOptions) -> Result<LoginResult, OidcError> {
    let listener = LoopbackRedirect::parse(&provider.config().redirect_uri, options.port)?
        .bind()
        .await?;
    let pending = PendingLogin::start(provider, listener.redirect_uri()).await?;
    let listener = listener.expect_state(pending.state());

    (options.url_sink)(pending.authorization_url());
    if options.open_browser {
        open_browser(pending.authorization_url());
    }

    let callback = match tokio::time::timeout(options.timeout, listener.wait_for_callback()).await {
        Ok(callback) => callback?,
        Err(_) => return Err(OidcError::LoginTimeout(options.timeout)),
    };
    let outcome = pending.finish(provider, &callback.params).await;
    let page = match &outcome {
        Ok(_) => PAGE_DONE.to_owned(),
        Err(e) => format!("Login failed ({}); you can close this window.", e.code()),
    };
    callback.answer(&page).await;
    outcome
}

/// One login at the provider, for a program acting as its relying party
/// with a redirect URI of its own (a server's callback route; [`login`]
/// runs it on a loopback listener): [`PendingLogin::start`] makes the
/// authorization URL to send the browser to, with fresh `state`, `nonce`
/// (256 bits each) and a PKCE S256 verifier; keep the pending login (keyed
/// by [`PendingLogin::state`]) until the browser comes back, then
/// [`PendingLogin::finish`] checks the authorization response (`state`, the
/// RFC 9207 `iss`, `error`), exchanges the code and validates the ID token
/// with the nonce. `Debug` prints none of its secrets.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), passport_oidc::OidcError> {
/// use passport_mock_oidc::MockOidc;
/// use passport_oidc::{OidcConfig, PendingLogin, Provider};
///
/// let mock = MockOidc::start().await;
/// let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id()))?;
/// let pending = PendingLogin::start(&provider, "http://127.0.0.1:9/callback").await?;
/// assert!(pending.authorization_url().contains("code_challenge_method=S256"));
///
/// // a response carrying another state is refused before any exchange
/// let forged = vec![
///     ("code".to_owned(), "c".to_owned()),
///     ("state".to_owned(), "not-the-one-sent".to_owned()),
///     ("iss".to_owned(), mock.issuer().to_owned()),
/// ];
/// let err = pending.finish(&provider, &forged).await.unwrap_err();
/// assert_eq!(err.code(), "state_mismatch");
/// # Ok(()) }
/// ```
pub struct PendingLogin {
    request: AuthorizationRequest,
    redirect_uri: String,
}

impl PendingLogin {
    /// Starts a login whose response comes back to `redirect_uri` (which
    /// the provider must have registered for this client). Discovery gives
    /// the endpoints; a provider listing PKCE methods must list S256.
    pub async fn start(provider: &Provider, redirect_uri: &str) -> Result<PendingLogin, OidcError> {
        let metadata = provider.metadata().await?;
        require_s256(&metadata)?;
        let request = AuthorizationRequest::new(provider.config(), &metadata, redirect_uri)?;
        Ok(PendingLogin {
            request,
            redirect_uri: redirect_uri.to_owned(),
        })
    }

    /// The URL to send the browser to.
    pub fn authorization_url(&self) -> &str {
        self.request.url().as_str()
    }

    /// The `state` sent (256 random bits, base64url): the authorization
    /// response carries it back, so it can key the pending login.
    pub fn state(&self) -> &str {
        self.request.state()
    }

    /// Finishes the login with the query of the authorization response:
    /// no parameter twice, `state` the one sent, `iss` the provider's when
    /// present and present when the provider advertises RFC 9207 (else
    /// `state_mismatch`, `issuer_mismatch`); an `error` response is
    /// `provider_error`. The code is exchanged with the PKCE verifier and
    /// the client's authentication (`client_secret_basic` unless the
    /// provider only offers `client_secret_post`), and the ID token is
    /// validated in full, with the nonce; the assertion's levels come from
    /// the provider's acr mapping.
    pub async fn finish(
        self,
        provider: &Provider,
        callback: &[(String, String)],
    ) -> Result<LoginResult, OidcError> {
        let metadata = provider.metadata().await?;
        let code = self.request.check_callback(callback, &metadata)?;
        let nonce = self.request.nonce().to_owned();
        let tokens = self.request.exchange(provider, code).await?;
        let assertion = provider
            .validate_id_token(tokens.id_token.as_str(), Some(&nonce))
            .await?;
        Ok(LoginResult {
            id_token: tokens.id_token,
            access_token: tokens.access_token,
            assertion,
            redirect_uri: self.redirect_uri,
        })
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// A provider that lists its PKCE methods must list S256 (RFC 7636 §4.2);
/// one that lists none is tried with S256 all the same.
fn require_s256(metadata: &ProviderMetadata) -> Result<(), OidcError> {
    let methods = &metadata.code_challenge_methods_supported;
    if !methods.is_empty() && !methods.iter().any(|m| m == "S256") {
        return Err(OidcError::DiscoveryFailed(
            "the provider does not support PKCE S256".into(),
        ));
    }
    Ok(())
}

/// Best effort: hands the URL to the desktop's opener and returns at once.
fn open_browser(url: &str) {
    #[cfg(target_os = "macos")]
    let mut command = std::process::Command::new("open");
    #[cfg(windows)]
    let mut command = {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    };
    #[cfg(not(any(target_os = "macos", windows)))]
    let mut command = std::process::Command::new("xdg-open");
    command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Ok(mut child) = command.spawn() {
        // Reap the opener so it does not linger as a zombie.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn a_provider_listing_pkce_methods_must_list_s256() {
        let metadata = |methods: &[&str]| {
            let doc = serde_json::json!({
                "issuer": "https://idp.example",
                "authorization_endpoint": "https://idp.example/authorize",
                "token_endpoint": "https://idp.example/token",
                "jwks_uri": "https://idp.example/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": methods,
            });
            ProviderMetadata::from_json(doc.to_string().as_bytes(), "https://idp.example").unwrap()
        };
        assert!(require_s256(&metadata(&[])).is_ok());
        assert!(require_s256(&metadata(&["plain", "S256"])).is_ok());
        assert_eq!(
            require_s256(&metadata(&["plain"])).unwrap_err().code(),
            "discovery_failed"
        );
    }

    #[test]
    fn the_login_future_is_send() {
        let config = crate::OidcConfig::new(
            "https://idp.example/.well-known/openid-configuration",
            "cli",
        );
        let provider = Provider::new(config).unwrap();
        // Callers may spawn the login on a multi-threaded runtime.
        let future = login(&provider, LoginOptions::new());
        assert_send(&future);
    }
}
