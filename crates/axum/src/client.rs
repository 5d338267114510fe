//! A reqwest helper for agents: the bundle and a fresh DPoP proof on every
//! request, and one retry with the server's nonce.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use passport_claims::{Clock, SystemClock};
use passport_dpop::{DpopError, DpopKey};

/// The longest server nonce remembered (anything longer is ignored).
const MAX_NONCE_LEN: usize = 1024;

static DPOP: HeaderName = HeaderName::from_static("dpop");
static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Why a [`PassportClient`] request failed before an answer came back.
/// (A refusal by the server is a response, not an error.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The bundle cannot be put in a header (it is not visible ASCII).
    #[error("the passport bundle is not a valid header value")]
    InvalidBundle,
    /// The DPoP proof could not be made (URL not http(s), randomness, …).
    #[error("DPoP proof: {0}")]
    Proof(#[from] DpopError),
    /// reqwest failed (connection, request building, …).
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
}

passport_jose::error_codes! {
    ClientError {
        ClientError::InvalidBundle => "invalid_bundle":
            "The passport bundle cannot be put in an HTTP header (it is not visible ASCII).",
        ClientError::Http(_) => "http_failed":
            "An HTTP request failed at the transport level.",
    }
    wraps {
        ClientError::Proof(e) => e.code(),
    }
}

/// An agent's HTTP client: sends its passport bundle in `Authorization`
/// (`DPoP` when it has a key, `Bearer` otherwise) and, with a key, a fresh
/// DPoP proof per request (`htm` and `htu` from the request, `ath` over the
/// bundle, the server's last nonce).
///
/// When a server answers 401 `use_dpop_nonce` with a `DPoP-Nonce`, the
/// request is sent once more with a proof carrying that nonce (requests
/// whose body cannot be cloned, i.e. streams, are not retried). Nonces are
/// remembered per origin (scheme, host, port), from any response that
/// carries one, for the next requests (RFC 9449 §8.2, §9).
///
/// ```no_run
/// # async fn run(bundle: String, key: passport_dpop::DpopKey) -> Result<(), passport_axum::ClientError> {
/// use passport_axum::PassportClient;
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
pub struct PassportClient {
    http: reqwest::Client,
    bundle: String,
    key: Option<DpopKey>,
    clock: Arc<dyn Clock>,
    nonces: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for PassportClient {
    // Never the bundle.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassportClient")
            .field("dpop_jkt", &self.key.as_ref().map(DpopKey::jkt))
            .finish_non_exhaustive()
    }
}

impl PassportClient {
    /// A client for `bundle` (the passport bundle, `leaf~…~root`), with the
    /// key the leaf is bound to (`cnf.jkt`) or `None` for a bearer passport.
    pub fn new(bundle: impl Into<String>, key: Option<DpopKey>) -> PassportClient {
        PassportClient {
            http: reqwest::Client::new(),
            bundle: bundle.into(),
            key,
            clock: Arc::new(SystemClock),
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `http` (timeouts, TLS roots, proxies…) instead of a default client.
    #[must_use]
    pub fn with_http_client(mut self, http: reqwest::Client) -> PassportClient {
        self.http = http;
        self
    }

    /// Uses `clock` for the proofs' `iat` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> PassportClient {
        self.clock = clock;
        self
    }

    /// The underlying reqwest client, to build requests for
    /// [`PassportClient::send`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The bundle sent.
    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// The last nonce a server at `origin` (`scheme://host[:port]`) sent.
    pub fn nonce_for(&self, origin: &str) -> Option<String> {
        self.lock().get(origin).cloned()
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

    /// Sends `request` with the passport (and a proof), retrying once with a
    /// server nonce when asked to.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let request = request.build()?;
        let origin = request.url().origin().ascii_serialization();
        let retry = if self.key.is_some() {
            request.try_clone()
        } else {
            None
        };
        let sent_nonce = self.nonce_for(&origin);
        let response = self.execute(request, sent_nonce.as_deref()).await?;
        let fresh = self.remember_nonce(&origin, &response);
        if let (Some(retry), Some(nonce)) = (retry, fresh)
            && response.status() == StatusCode::UNAUTHORIZED
            && asks_for_nonce(&response)
            && sent_nonce.as_deref() != Some(nonce.as_str())
        {
            let response = self.execute(retry, Some(&nonce)).await?;
            self.remember_nonce(&origin, &response);
            return Ok(response);
        }
        Ok(response)
    }

    async fn execute(
        &self,
        mut request: reqwest::Request,
        nonce: Option<&str>,
    ) -> Result<reqwest::Response, ClientError> {
        let scheme = if self.key.is_some() { "DPoP" } else { "Bearer" };
        let authorization = HeaderValue::from_str(&format!("{scheme} {}", self.bundle))
            .map_err(|_| ClientError::InvalidBundle)?;
        let proof = match &self.key {
            Some(key) => Some(key.proof(
                request.method().as_str(),
                request.url().as_str(),
                Some(&self.bundle),
                nonce,
                self.clock.now(),
            )?),
            None => None,
        };
        let headers = request.headers_mut();
        headers.insert(header::AUTHORIZATION, authorization);
        headers.remove(&DPOP);
        if let Some(proof) = proof {
            let value = HeaderValue::from_str(&proof)
                .map_err(|e| DpopError::Crypto(format!("proof is not a header value: {e}")))?;
            headers.insert(DPOP.clone(), value);
        }
        Ok(self.http.execute(request).await?)
    }

    /// Remembers the response's `DPoP-Nonce` for its origin and returns it.
    fn remember_nonce(&self, origin: &str, response: &reqwest::Response) -> Option<String> {
        let nonce = response.headers().get(&DPOP_NONCE)?.to_str().ok()?;
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
            return None;
        }
        self.lock().insert(origin.to_owned(), nonce.to_owned());
        Some(nonce.to_owned())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A map of strings is consistent after every statement.
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// True when a `WWW-Authenticate` challenge carries `error="use_dpop_nonce"`.
fn asks_for_nonce(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.to_ascii_lowercase()
                .replace(' ', "")
                .contains("error=\"use_dpop_nonce\"")
        })
}
