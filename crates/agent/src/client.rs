//! The convenience client: a reqwest client with the passport middleware.

use std::sync::Arc;

use passport_claims::Clock;
use passport_dpop::DpopKey;
use reqwest_middleware::{ClientWithMiddleware, Middleware, RequestBuilder};

use crate::{ClientError, CredentialSource, Credentials, PassportMiddleware};

/// An agent's HTTP client: a
/// [`ClientWithMiddleware`] whose stack holds a [`PassportMiddleware`]
/// (and whatever other middleware the caller adds around it), with the
/// short `get` / `post_json` / `send` of a plain client. Every request to
/// the passport's audience — also one built with [`PassportClient::http`] —
/// carries the passport; a request to any other origin carries nothing of
/// it unless allowed with [`PassportClientBuilder::allow_origin`].
///
/// Cheap to clone (the stack and the nonce memory are shared).
///
/// ```no_run
/// # async fn run(bundle: String, key: passport_dpop::DpopKey) -> Result<(), passport_agent::ClientError> {
/// use passport_agent::PassportClient;
///
/// let client = PassportClient::new(bundle, Some(key));
/// let response = client.get("https://files.example/reports/q3").await?;
/// if response.status() == 403 {
///     // `WWW-Authenticate: … error="insufficient_scope", scope="…"`: ask for more.
/// }
/// let created = client
///     .send(client.http().post("https://files.example/reports").body("…"))
///     .await?;
/// # let _ = created; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PassportClient {
    http: ClientWithMiddleware,
    passport: PassportMiddleware,
}

impl PassportClient {
    /// A client for `bundle` (`leaf~…~root`), with the key the leaf is
    /// bound to (`cnf.jkt`) or `None` for a bearer passport.
    pub fn new(bundle: impl Into<Arc<str>>, key: Option<DpopKey>) -> PassportClient {
        PassportClient::builder(Credentials::new(bundle, key)).build()
    }

    /// A builder for a client sending what `source` gives, with other
    /// middleware, another reqwest client or another clock.
    pub fn builder(source: impl CredentialSource) -> PassportClientBuilder {
        PassportClientBuilder {
            http: no_redirects(),
            passport: PassportMiddleware::new(source),
            outer: Vec::new(),
            inner: Vec::new(),
        }
    }

    /// The client with its middleware stack, to build requests for
    /// [`PassportClient::send`] (or send them directly).
    pub fn http(&self) -> &ClientWithMiddleware {
        &self.http
    }

    /// The passport middleware of the stack (its nonce memory).
    pub fn middleware(&self) -> &PassportMiddleware {
        &self.passport
    }

    /// The last nonce a server at `origin` (`scheme://host[:port]`) sent.
    pub fn nonce_for(&self, origin: &str) -> Option<String> {
        self.passport.nonce_for(origin)
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<reqwest::Response, ClientError> {
        self.send(self.http.get(url)).await
    }

    /// `POST url` with a JSON body.
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
    ) -> Result<reqwest::Response, ClientError> {
        self.send(self.http.post(url).json(body)).await
    }

    /// Sends `request` through the stack; an error of the passport
    /// middleware comes back as itself (`invalid_bundle`, a proof code…),
    /// any other as [`ClientError::Http`].
    pub async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        Ok(request.send().await?)
    }
}

/// The default HTTP client: redirects are not followed (a 3xx is the
/// caller's answer), so a proof never reaches an origin it was not made for.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // It fails only where `Client::new` panics (no TLS backend).
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Builds a [`PassportClient`]: the passport middleware, with middleware
/// before it (outer: sees each attempt before it is signed — retries,
/// timeouts — so each attempt gets a fresh proof) and after it (inner: sees
/// the signed request — logging, tracing; beware of recording the
/// `Authorization` and `DPoP` headers).
#[must_use]
pub struct PassportClientBuilder {
    http: reqwest::Client,
    passport: PassportMiddleware,
    outer: Vec<Arc<dyn Middleware>>,
    inner: Vec<Arc<dyn Middleware>>,
}

impl std::fmt::Debug for PassportClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassportClientBuilder")
            .field("outer", &self.outer.len())
            .field("inner", &self.inner.len())
            .finish_non_exhaustive()
    }
}

impl PassportClientBuilder {
    /// Uses `http` (timeouts, TLS roots, proxies…) instead of a default client.
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: reqwest
    /// strips `Authorization` on a cross-origin redirect but not `DPoP`, so
    /// a client that follows redirects hands the proof to whoever the server
    /// redirects to (the default client follows none).
    pub fn http_client(mut self, http: reqwest::Client) -> PassportClientBuilder {
        self.http = http;
        self
    }

    /// Sends the passport to `origin` too (see
    /// [`PassportMiddleware::allow_origin`]). By default it goes only to the
    /// origin of the leaf passport's `aud`; every other request goes out
    /// without `Authorization` or `DPoP`. Needed when the `aud` is not an
    /// http(s) URL (`urn:…`), or the audience is served from several
    /// origins.
    ///
    /// ```
    /// use passport_agent::{Credentials, PassportClient};
    /// # let credentials = Credentials::new("bundle", None);
    /// let client = PassportClient::builder(credentials)
    ///     .allow_origin("https://files.example")
    ///     .build();
    /// # let _ = client;
    /// ```
    pub fn allow_origin(mut self, origin: impl AsRef<str>) -> PassportClientBuilder {
        self.passport = self.passport.allow_origin(origin);
        self
    }

    /// Uses `clock` for the proofs' `iat` instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> PassportClientBuilder {
        self.passport = self.passport.with_clock(clock);
        self
    }

    /// Adds `middleware` outside the passport middleware (runs first; in
    /// the order added).
    pub fn outer(mut self, middleware: impl Middleware) -> PassportClientBuilder {
        self.outer.push(Arc::new(middleware));
        self
    }

    /// Adds `middleware` inside the passport middleware (runs after it, on
    /// the signed request; in the order added).
    pub fn inner(mut self, middleware: impl Middleware) -> PassportClientBuilder {
        self.inner.push(Arc::new(middleware));
        self
    }

    /// The client.
    pub fn build(self) -> PassportClient {
        let mut stack = reqwest_middleware::ClientBuilder::new(self.http);
        for middleware in self.outer {
            stack = stack.with_arc(middleware);
        }
        stack = stack.with(self.passport.clone());
        for middleware in self.inner {
            stack = stack.with_arc(middleware);
        }
        PassportClient {
            http: stack.build(),
            passport: self.passport,
        }
    }
}
