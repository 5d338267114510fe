//! The middleware: credentials, a fresh proof per attempt, server nonces.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::Extensions;
use passport_claims::{Clock, SystemClock};
use passport_dpop::DpopError;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use crate::challenge::{challenge_param, insufficient_scope};
use crate::credentials::origin_of;
use crate::{ClientError, CredentialSource, Credentials};

/// The longest server nonce remembered (anything longer is ignored).
const MAX_NONCE_LEN: usize = 1024;
/// The most origins whose nonce is remembered at once; past it, one is
/// forgotten (its server asks again, costing one round trip).
const MAX_ORIGINS: usize = 256;

static DPOP: HeaderName = HeaderName::from_static("dpop");
static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// reqwest middleware that sends the agent's passport: the bundle in
/// `Authorization` (`DPoP` when the credentials hold a key, `Bearer`
/// otherwise) and, with a key, a DPoP proof made for this attempt (`htm`
/// and `htu` from the request, `ath` over the bundle, the origin's last
/// nonce, a new `jti`).
///
/// - **A fresh proof per attempt.** Every request passing through the
///   middleware gets a new proof, so a retry middleware placed *outside*
///   it (added before it on the
///   [`ClientBuilder`](reqwest_middleware::ClientBuilder)) re-enters it and
///   never resends a proof: a proof's `jti` is single-use (RFC 9449 §11.1).
/// - **Nonces per origin.** A `DPoP-Nonce` from any response is remembered
///   for that response's origin (scheme, host, port) only, and put in the
///   next proofs for that origin (RFC 9449 §8.2, §9): one server's nonce is
///   never shown to another.
/// - **One retry on a nonce challenge.** On 401 with
///   `error="use_dpop_nonce"` and a new `DPoP-Nonce`, the request is sent
///   once more with a proof carrying that nonce — only if its body can be
///   cloned (a stream cannot be sent twice: that answer is returned as is).
///   Never a second retry. A streamed body to a server that may refuse it
///   (the first request to a server that requires nonces always is) can
///   also fail outright: a server that answers before reading the body —
///   hyper-based ones, the passport layer among them, do — closes the
///   connection while the body is still arriving, and the client may see
///   the connection end (`http_failed`) instead of the refusal, its nonce
///   unread. Send bodies from memory where a refusal is likely, or make a
///   small request first (it fetches the nonce).
///
/// - **Step-up, once.** On 401 or 403 with `error="insufficient_scope"`
///   and a `scope` (RFC 6750 §3.1, the MCP authorization specification),
///   the source is asked for more ([`CredentialSource::step_up`]; a
///   [`crate::ServicePassport`] asks the token service for the passport's
///   scopes plus the named ones). With new credentials that may go to this
///   origin, the request (if its body can be cloned) is sent once more;
///   that answer is returned as is. Without them, the refusal is.
///
/// - **Only to the passport's audience.** Credentials (and a proof) go only
///   to the origin of the leaf passport's `aud`
///   ([`Credentials::audience_origin`]) and to the origins added with
///   [`PassportMiddleware::allow_origin`] (for an `aud` that is not a URL,
///   or an API served from several origins). A request to any other origin —
///   a URL a tool result or a web page named — goes out untouched, without
///   `Authorization` or `DPoP` from this middleware: a bearer passport
///   handed to another host could be replayed at its audience.
///
/// Clones share the nonce memory.
#[derive(Clone)]
pub struct PassportMiddleware {
    source: Arc<dyn CredentialSource>,
    clock: Arc<dyn Clock>,
    nonces: Arc<Mutex<HashMap<String, String>>>,
    /// Origins the credentials go to besides the audience's.
    allowed: Arc<[String]>,
}

impl fmt::Debug for PassportMiddleware {
    // Never the bundle.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassportMiddleware")
            .field("origins_with_nonce", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl PassportMiddleware {
    /// Middleware sending the credentials `source` gives (a fixed
    /// [`Credentials`] or a renewing source).
    pub fn new(source: impl CredentialSource) -> PassportMiddleware {
        PassportMiddleware::from_arc(Arc::new(source))
    }

    /// Like [`PassportMiddleware::new`], with a source shared with others.
    pub fn from_arc(source: Arc<dyn CredentialSource>) -> PassportMiddleware {
        PassportMiddleware {
            source,
            clock: Arc::new(SystemClock),
            nonces: Arc::new(Mutex::new(HashMap::new())),
            allowed: Arc::from([]),
        }
    }

    /// Sends the credentials to `origin` too (an http(s) URL; only its
    /// scheme, host and port count), besides the origin of the passport's
    /// `aud`. For an `aud` that is not a URL, this is the only way the
    /// passport is sent anywhere. Something that is not an http(s) URL
    /// allows nothing.
    ///
    /// ```
    /// use passport_agent::{Credentials, PassportMiddleware};
    /// # let credentials = Credentials::new("bundle", None);
    /// let middleware = PassportMiddleware::new(credentials)
    ///     .allow_origin("https://files.example");
    /// # let _ = middleware;
    /// ```
    #[must_use]
    pub fn allow_origin(mut self, origin: impl AsRef<str>) -> PassportMiddleware {
        if let Some(origin) = origin_of(origin.as_ref())
            && !self.allowed.contains(&origin)
        {
            let mut allowed = self.allowed.to_vec();
            allowed.push(origin);
            self.allowed = Arc::from(allowed);
        }
        self
    }

    /// Uses `clock` for the proofs' `iat` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> PassportMiddleware {
        self.clock = clock;
        self
    }

    /// The last nonce a server at `origin` (`scheme://host[:port]`) sent.
    pub fn nonce_for(&self, origin: &str) -> Option<String> {
        self.lock().get(origin).cloned()
    }

    /// Puts the credentials and, with a key, a new proof on `request`
    /// (replacing any `Authorization` or `DPoP` header it had).
    fn authorize(
        &self,
        mut request: Request,
        credentials: &Credentials,
        nonce: Option<&str>,
    ) -> Result<Request, ClientError> {
        let scheme = if credentials.key().is_some() {
            "DPoP"
        } else {
            "Bearer"
        };
        let authorization = HeaderValue::from_str(&format!("{scheme} {}", credentials.bundle()))
            .map_err(|_| ClientError::InvalidBundle)?;
        let proof = match credentials.key() {
            Some(key) => Some(key.proof(
                request.method().as_str(),
                request.url().as_str(),
                Some(credentials.bundle()),
                nonce,
                self.clock.now(),
            )?),
            None => None,
        };
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, authorization);
        headers.remove(&DPOP);
        if let Some(proof) = proof {
            let value = HeaderValue::from_str(&proof)
                .map_err(|e| DpopError::Crypto(format!("proof is not a header value: {e}")))?;
            headers.insert(DPOP.clone(), value);
        }
        Ok(request)
    }

    /// Remembers the response's `DPoP-Nonce` for its origin and returns it.
    /// A response that came from elsewhere (a client below that followed a
    /// redirect) is ignored: its nonce is another origin's.
    fn remember_nonce(&self, origin: &str, response: &Response) -> Option<String> {
        if response.url().origin().ascii_serialization() != origin {
            return None;
        }
        let nonce = response.headers().get(&DPOP_NONCE)?.to_str().ok()?;
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
            return None;
        }
        let mut nonces = self.lock();
        if nonces.len() >= MAX_ORIGINS
            && !nonces.contains_key(origin)
            && let Some(forget) = nonces.keys().next().cloned()
        {
            nonces.remove(&forget);
        }
        nonces.insert(origin.to_owned(), nonce.to_owned());
        Some(nonce.to_owned())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        // A map of strings is consistent after every statement.
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PassportMiddleware {
    /// True when `credentials` may go to `origin`.
    fn sends_to(&self, credentials: &Credentials, origin: &str) -> bool {
        credentials.audience_origin() == Some(origin) || self.allowed.iter().any(|o| o == origin)
    }

    /// One request with `credentials`, and once more with a fresh nonce on a
    /// nonce challenge.
    async fn attempt(
        &self,
        request: Request,
        credentials: &Credentials,
        origin: &str,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // Only a proof can carry a nonce: a bearer request is never retried.
        let retry = match credentials.key() {
            Some(_) => request.try_clone(),
            None => None,
        };
        let sent_nonce = self.nonce_for(origin);
        let request = self
            .authorize(request, credentials, sent_nonce.as_deref())
            .map_err(reqwest_middleware::Error::middleware)?;
        let response = next.clone().run(request, extensions).await?;
        let fresh = self.remember_nonce(origin, &response);
        if let (Some(retry), Some(nonce)) = (retry, fresh)
            && response.status() == StatusCode::UNAUTHORIZED
            && asks_for_nonce(&response)
            && sent_nonce.as_deref() != Some(nonce.as_str())
        {
            let retry = self
                .authorize(retry, credentials, Some(&nonce))
                .map_err(reqwest_middleware::Error::middleware)?;
            let response = next.run(retry, extensions).await?;
            self.remember_nonce(origin, &response);
            return Ok(response);
        }
        Ok(response)
    }
}

#[async_trait::async_trait]
impl Middleware for PassportMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let origin = origin_of(request.url().as_str());
        let credentials = self
            .source
            .credentials()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let Some(origin) = origin.filter(|origin| self.sends_to(&credentials, origin)) else {
            // Not the passport's audience: nothing of it goes there.
            return next.run(request, extensions).await;
        };
        let spare = request.try_clone();
        let response = self
            .attempt(request, &credentials, &origin, extensions, next.clone())
            .await?;
        // Step-up: at most once per request, and only with credentials that
        // may go to this origin; the second answer is returned as is.
        let (Some(spare), Some(scopes)) = (spare, insufficient_scope(&response)) else {
            return Ok(response);
        };
        let Some(step_up) = self.source.step_up(&credentials, &scopes) else {
            return Ok(response);
        };
        match step_up.await {
            Ok(stepped)
                if stepped.bundle() != credentials.bundle() && self.sends_to(&stepped, &origin) =>
            {
                self.attempt(spare, &stepped, &origin, extensions, next)
                    .await
            }
            // No more to be had (consent refused, the token service down, a
            // passport for another audience): the refusal stands.
            _ => Ok(response),
        }
    }
}

/// True when a `WWW-Authenticate` challenge carries `error="use_dpop_nonce"`.
fn asks_for_nonce(response: &Response) -> bool {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| challenge_param(v, "error").as_deref() == Some("use_dpop_nonce"))
}
