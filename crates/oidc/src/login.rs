//! The PKCE loopback login (RFC 6749 §4.1, RFC 7636 S256, RFC 8252 §7.3,
//! RFC 9207, RFC 9700 §2.1).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use passport_claims::IdentityAssertion;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

use crate::discovery::ProviderMetadata;
use crate::error::truncate;
use crate::pkce::{PkceVerifier, random_string};
use crate::provider::read_bounded;
use crate::{OidcError, Provider};

/// The default time a login waits for the browser to come back.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one loopback connection may take to send its request line.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head the loopback listener reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Connections served at once by the loopback listener; more are dropped.
const MAX_CONNECTIONS: usize = 16;

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
    /// The access token, when the provider sent one.
    pub access_token: Option<AccessToken>,
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
/// 4. The first request on the redirect path is the callback; the listener
///    then closes. Other paths (`/favicon.ico`, …) get a 404 and do not count.
/// 5. `state` must be the one sent; `iss` must be the issuer when present and
///    must be present when the provider advertises RFC 9207; an `error`
///    response becomes [`OidcError::ProviderError`].
/// 6. The code is exchanged with the verifier (and the client secret, by
///    `client_secret_basic` unless the provider only offers
///    `client_secret_post`); the ID token is validated in full, with the nonce.
pub async fn login(provider: &Provider, options: LoginOptions) -> Result<LoginResult, OidcError> {
    let config = provider.config();
    let metadata = provider.metadata().await?;
    if !metadata.code_challenge_methods_supported.is_empty()
        && !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    {
        return Err(OidcError::DiscoveryFailed(
            "the provider does not support PKCE S256".into(),
        ));
    }
    let redirect = LoopbackRedirect::parse(&config.redirect_uri, options.port)?;
    let listener = TcpListener::bind((redirect.ip, redirect.port))
        .await
        .map_err(|e| {
            OidcError::HttpFailed(format!(
                "cannot listen on {}:{}: {e}",
                redirect.ip, redirect.port
            ))
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| OidcError::HttpFailed(format!("loopback listener: {e}")))?
        .port();
    let redirect_uri = redirect.uri_with_port(port)?;

    let state = random_string(32)?;
    let nonce = random_string(32)?;
    let verifier = PkceVerifier::generate()?;
    let auth_url = authorization_url(
        &metadata,
        provider,
        &redirect_uri,
        &state,
        &nonce,
        &verifier,
    )?;

    (options.url_sink)(auth_url.as_str());
    if options.open_browser {
        open_browser(auth_url.as_str());
    }

    let callback =
        match tokio::time::timeout(options.timeout, wait_for_callback(listener, redirect.path))
            .await
        {
            Ok(callback) => callback?,
            Err(_) => return Err(OidcError::LoginTimeout(options.timeout)),
        };
    let Callback { mut stream, params } = callback;
    let outcome = check_callback(&params, &state, &metadata);
    let page = match &outcome {
        Ok(_) => PAGE_DONE.to_owned(),
        Err(e) => format!("Login failed ({}); you can close this window.", e.code()),
    };
    write_page(&mut stream, "200 OK", &page).await;
    drop(stream);
    let code = outcome?;

    let tokens = exchange_code(provider, &metadata, &code, &redirect_uri, &verifier).await?;
    let assertion = provider
        .validate_id_token(tokens.id_token.as_str(), Some(&nonce))
        .await?;
    Ok(LoginResult {
        id_token: tokens.id_token,
        access_token: tokens.access_token,
        assertion,
        redirect_uri,
    })
}

/// A redirect URI on a loopback address (RFC 8252 §7.3).
struct LoopbackRedirect {
    url: Url,
    ip: IpAddr,
    port: u16,
    path: String,
}

impl LoopbackRedirect {
    fn parse(redirect_uri: &str, port: Option<u16>) -> Result<LoopbackRedirect, OidcError> {
        let bad = |why: &str| OidcError::Config(format!("redirect URI {redirect_uri:?}: {why}"));
        let url = Url::parse(redirect_uri).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" {
            return Err(bad(
                "a loopback redirect URI is http://127.0.0.1, http://[::1] or http://localhost",
            ));
        }
        let ip = match url.host() {
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => IpAddr::V6(ip),
            _ => return Err(bad("the host is not a loopback address")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a query or fragment is not supported"));
        }
        let port = port.or(url.port()).unwrap_or(0);
        let path = url.path().to_owned();
        Ok(LoopbackRedirect {
            url,
            ip,
            port,
            path,
        })
    }

    fn uri_with_port(&self, port: u16) -> Result<String, OidcError> {
        let mut url = self.url.clone();
        url.set_port(Some(port))
            .map_err(|()| OidcError::Config("cannot set the redirect URI's port".into()))?;
        Ok(url.into())
    }
}

fn authorization_url(
    metadata: &ProviderMetadata,
    provider: &Provider,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    verifier: &PkceVerifier,
) -> Result<Url, OidcError> {
    let config = provider.config();
    let mut url = Url::parse(&metadata.authorization_endpoint)
        .map_err(|e| OidcError::DiscoveryFailed(format!("authorization_endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &config.request_scopes())
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &verifier.challenge_s256())
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

/// The callback request, with its connection kept open for the answer page.
struct Callback {
    stream: TcpStream,
    params: Vec<(String, String)>,
}

/// Accepts connections until one brings a request for `path`; each
/// connection is served by its own task, so an idle (pre-connected) socket
/// cannot hold up the real callback.
async fn wait_for_callback(listener: TcpListener, path: String) -> Result<Callback, OidcError> {
    let (tx, mut rx) = mpsc::channel::<Callback>(1);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted
                    .map_err(|e| OidcError::HttpFailed(format!("loopback listener: {e}")))?;
                if connections.len() < MAX_CONNECTIONS {
                    connections.spawn(serve_connection(stream, path.clone(), tx.clone()));
                }
            }
            Some(callback) = rx.recv() => return Ok(callback),
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Returning drops the listener (no further callback is accepted) and the
    // JoinSet (every other connection is aborted).
}

async fn serve_connection(mut stream: TcpStream, path: String, tx: mpsc::Sender<Callback>) {
    let head = match tokio::time::timeout(REQUEST_READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Some(head)) => head,
        _ => return,
    };
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        write_page(&mut stream, "400 Bad Request", "Bad request.").await;
        return;
    };
    let (request_path, query) = target.split_once('?').unwrap_or((target, ""));
    if request_path != path {
        write_page(&mut stream, "404 Not Found", "Not found.").await;
        return;
    }
    if method != "GET" {
        write_page(&mut stream, "405 Method Not Allowed", "Method not allowed.").await;
        return;
    }
    let params = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    // When the login already has its callback the receiver is gone and the
    // connection is simply closed.
    let _ = tx.send(Callback { stream, params }).await;
}

/// Reads up to the end of the request head; `None` when the peer closes
/// first, sends more than [`MAX_REQUEST_HEAD`] bytes, or not UTF-8.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_REQUEST_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).ok()
}

async fn write_page(stream: &mut TcpStream, status: &str, text: &str) {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Agent Passport</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{html}",
        html.len()
    );
    let write = async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
}

/// Checks the authorization response and returns the code.
fn check_callback(
    params: &[(String, String)],
    state: &str,
    metadata: &ProviderMetadata,
) -> Result<String, OidcError> {
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == name) {
            return Err(OidcError::InvalidCallback(format!(
                "parameter {:?} appears twice",
                truncate(name)
            )));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match get("state") {
        Some(s) if s == state => {}
        // An error response without state is still reported as the error.
        None if get("error").is_some() => {}
        _ => return Err(OidcError::StateMismatch),
    }
    match get("iss") {
        Some(iss) if iss != metadata.issuer => {
            return Err(OidcError::IssuerMismatch {
                context: "authorization response",
                expected: metadata.issuer.clone(),
                found: truncate(iss),
            });
        }
        None if metadata.authorization_response_iss_parameter_supported => {
            return Err(OidcError::IssuerMismatch {
                context: "authorization response",
                expected: metadata.issuer.clone(),
                found: String::new(),
            });
        }
        _ => {}
    }
    if let Some(error) = get("error") {
        return Err(OidcError::ProviderError {
            error: truncate(error),
            description: get("error_description").map(truncate),
        });
    }
    match get("code") {
        Some(code) if !code.is_empty() => Ok(code.to_owned()),
        _ => Err(OidcError::InvalidCallback(
            "no `code` in the authorization response".into(),
        )),
    }
}

struct Tokens {
    id_token: IdToken,
    access_token: Option<AccessToken>,
}

async fn exchange_code(
    provider: &Provider,
    metadata: &ProviderMetadata,
    code: &str,
    redirect_uri: &str,
    verifier: &PkceVerifier,
) -> Result<Tokens, OidcError> {
    let config = provider.config();
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.secret()),
        ("client_id", &config.client_id),
    ];
    let mut request = provider
        .http()
        .post(&metadata.token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(secret) = &config.client_secret {
        let methods = &metadata.token_endpoint_auth_methods_supported;
        // Discovery §3: when the list is omitted, the default is client_secret_basic.
        if methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic") {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(&config.client_id), Some(encode(secret.expose())));
        } else if methods.iter().any(|m| m == "client_secret_post") {
            form.push(("client_secret", secret.expose()));
        } else {
            return Err(OidcError::Config(
                "the provider supports neither client_secret_basic nor client_secret_post".into(),
            ));
        }
    }
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|e| OidcError::TokenExchangeFailed(e.without_url().to_string()))?;
    let status = response.status();
    let body = read_bounded(response)
        .await
        .map_err(OidcError::TokenExchangeFailed)?;
    let json: Option<serde_json::Map<String, Value>> = serde_json::from_slice(&body).ok();
    if !status.is_success() {
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(Value::as_str)
                .map(truncate)
                .unwrap_or_default()
        };
        let detail = match (field("error"), field("error_description")) {
            (e, d) if e.is_empty() && d.is_empty() => "no OAuth error in the response".to_owned(),
            (e, d) if d.is_empty() => e,
            (e, d) => format!("{e}: {d}"),
        };
        return Err(OidcError::TokenExchangeFailed(format!(
            "HTTP {status}: {detail}"
        )));
    }
    let Some(json) = json else {
        return Err(OidcError::TokenExchangeFailed(
            "the token response is not a JSON object".into(),
        ));
    };
    let id_token = match json.get("id_token") {
        Some(Value::String(t)) if !t.is_empty() => IdToken::new(t.clone()),
        _ => {
            return Err(OidcError::TokenExchangeFailed(
                "the token response has no id_token".into(),
            ));
        }
    };
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .map(|t| AccessToken(t.to_owned()));
    Ok(Tokens {
        id_token,
        access_token,
    })
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

    fn metadata(iss_supported: bool) -> ProviderMetadata {
        let doc = serde_json::json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": iss_supported,
        });
        ProviderMetadata::from_json(doc.to_string().as_bytes(), "https://idp.example").unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn callback_rules() {
        let m = metadata(true);
        let ok = params(&[
            ("code", "c"),
            ("state", "s"),
            ("iss", "https://idp.example"),
        ]);
        assert_eq!(check_callback(&ok, "s", &m).unwrap(), "c");
        let no_iss = params(&[("code", "c"), ("state", "s")]);
        assert_eq!(
            check_callback(&no_iss, "s", &m).unwrap_err().code(),
            "issuer_mismatch"
        );
        assert_eq!(check_callback(&no_iss, "s", &metadata(false)).unwrap(), "c");
        let wrong_iss = params(&[
            ("code", "c"),
            ("state", "s"),
            ("iss", "https://evil.example"),
        ]);
        assert_eq!(
            check_callback(&wrong_iss, "s", &metadata(false))
                .unwrap_err()
                .code(),
            "issuer_mismatch"
        );
        assert_eq!(
            check_callback(&ok, "other", &m).unwrap_err().code(),
            "state_mismatch"
        );
        let twice = params(&[("code", "c"), ("state", "s"), ("state", "s")]);
        assert_eq!(
            check_callback(&twice, "s", &m).unwrap_err().code(),
            "invalid_callback"
        );
        let no_code = params(&[("state", "s"), ("iss", "https://idp.example")]);
        assert_eq!(
            check_callback(&no_code, "s", &m).unwrap_err().code(),
            "invalid_callback"
        );
        let error = params(&[("error", "access_denied"), ("iss", "https://idp.example")]);
        assert_eq!(
            check_callback(&error, "s", &m).unwrap_err().code(),
            "provider_error"
        );
    }

    #[test]
    fn redirect_uris_must_be_loopback() {
        for ok in [
            "http://127.0.0.1:8765/callback",
            "http://localhost/cb",
            "http://[::1]:9/x",
        ] {
            assert!(LoopbackRedirect::parse(ok, None).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1/cb",
            "http://example.com/cb",
            "http://10.0.0.1/cb",
            "http://127.0.0.1/cb?x=1",
        ] {
            assert_eq!(
                LoopbackRedirect::parse(bad, None).err().map(|e| e.code()),
                Some("config"),
                "{bad}"
            );
        }
        let r = LoopbackRedirect::parse("http://127.0.0.1:8765/callback", Some(0)).unwrap();
        assert_eq!(r.port, 0);
        assert_eq!(
            r.uri_with_port(4242).unwrap(),
            "http://127.0.0.1:4242/callback"
        );
    }
}
