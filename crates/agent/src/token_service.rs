//! The token service's client: an OAuth 2.1 authorization server that mints
//! passports (passport-server), discovered by its issuer URL.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use passport_claims::{Clock, SystemClock};
use passport_dpop::DpopKey;
use passport_oidc::{PkceVerifier, check_authorization_response};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap};
use serde_json::{Map, Value};

use crate::user_agent::{AuthorizationRequest, UserAgent};
use crate::{ClientError, Credentials};

pub use passport_oidc::ClientSecret;

/// RFC 8693 §2.1's grant type.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3: a passport bundle is an access token.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The default time limit of one request to the authorization server.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest metadata document or token response read.
const MAX_RESPONSE_BYTES: usize = passport_remote::DEFAULT_MAX_RESPONSE_BYTES;
/// The longest server nonce used (anything longer is ignored).
const MAX_NONCE_LEN: usize = 1024;
/// The longest `error` / `error_description` kept from a refusal.
const MAX_ERROR_LEN: usize = 200;

/// What this client reads from the authorization server's RFC 8414
/// metadata. Every endpoint comes from here and passed
/// [`passport_remote::check_endpoint`] (https when the issuer is https).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerMetadata {
    /// `issuer`: equal to the issuer the client was given, byte for byte.
    pub issuer: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `authorization_endpoint`, when the server has one (the code flow
    /// needs it).
    pub authorization_endpoint: Option<String>,
    /// `code_challenge_methods_supported` (the code flow needs `S256`).
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207 `authorization_response_iss_parameter_supported`: when
    /// true, an authorization response without `iss` is refused.
    pub authorization_response_iss_parameter_supported: bool,
    /// `grant_types_supported`, empty when not advertised.
    pub grant_types_supported: Vec<String>,
    /// RFC 9449 `dpop_signing_alg_values_supported`, empty when not
    /// advertised.
    pub dpop_signing_alg_values_supported: Vec<String>,
}

impl ServerMetadata {
    fn from_document(
        issuer: &str,
        mut doc: Map<String, Value>,
    ) -> Result<ServerMetadata, ClientError> {
        let endpoint =
            |doc: &mut Map<String, Value>, name: &str| -> Result<Option<String>, ClientError> {
                match doc.remove(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(url)) => {
                        passport_remote::check_endpoint(issuer, &url)?;
                        Ok(Some(url))
                    }
                    Some(_) => Err(ClientError::Metadata(format!("`{name}` is not a string"))),
                }
            };
        let token_endpoint = endpoint(&mut doc, "token_endpoint")?
            .ok_or_else(|| ClientError::Metadata("no `token_endpoint`".into()))?;
        let authorization_endpoint = endpoint(&mut doc, "authorization_endpoint")?;
        let strings =
            |doc: &mut Map<String, Value>, name: &str| -> Result<Vec<String>, ClientError> {
                match doc.remove(name) {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(Value::Array(items)) => items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(s) => Ok(s),
                            _ => Err(ClientError::Metadata(format!(
                                "`{name}` holds a non-string"
                            ))),
                        })
                        .collect(),
                    Some(_) => Err(ClientError::Metadata(format!("`{name}` is not an array"))),
                }
            };
        let iss_supported = match doc.remove("authorization_response_iss_parameter_supported") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                return Err(ClientError::Metadata(
                    "`authorization_response_iss_parameter_supported` is not a boolean".into(),
                ));
            }
        };
        Ok(ServerMetadata {
            issuer: issuer.to_owned(),
            token_endpoint,
            authorization_endpoint,
            code_challenge_methods_supported: strings(
                &mut doc,
                "code_challenge_methods_supported",
            )?,
            authorization_response_iss_parameter_supported: iss_supported,
            grant_types_supported: strings(&mut doc, "grant_types_supported")?,
            dpop_signing_alg_values_supported: strings(
                &mut doc,
                "dpop_signing_alg_values_supported",
            )?,
        })
    }
}

/// Who the agent is at the authorization server: its `client_id`, and its
/// secret for a confidential client (sent as `client_secret_basic`, RFC
/// 6749 §2.3.1). `Debug` never shows the secret.
///
/// ```
/// use passport_agent::{ClientSecret, OAuthClient};
/// let workload = OAuthClient::with_secret("workload-reports", ClientSecret::new("s3cr3t"));
/// assert!(!format!("{workload:?}").contains("s3cr3t"));
/// let desktop = OAuthClient::public("https://agent.example/client.json");
/// assert_eq!(desktop.client_id(), "https://agent.example/client.json");
/// ```
#[derive(Clone)]
pub struct OAuthClient {
    client_id: String,
    secret: Option<ClientSecret>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .finish()
    }
}

impl OAuthClient {
    /// A public client (`token_endpoint_auth_method` `none`): its
    /// `client_id` goes in the form, PKCE protects its codes.
    pub fn public(client_id: impl Into<String>) -> OAuthClient {
        OAuthClient {
            client_id: client_id.into(),
            secret: None,
        }
    }

    /// A confidential client authenticating with `client_secret_basic`.
    pub fn with_secret(client_id: impl Into<String>, secret: ClientSecret) -> OAuthClient {
        OAuthClient {
            client_id: client_id.into(),
            secret: Some(secret),
        }
    }

    /// The `client_id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Authenticates `request` (or names the client in `form`, for a public
    /// client).
    fn authenticate(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
    ) -> reqwest::RequestBuilder {
        match &self.secret {
            // RFC 6749 §2.3.1: each part form-urlencoded before Basic.
            Some(secret) => request.basic_auth(
                form_encode(&self.client_id),
                Some(form_encode(secret.expose())),
            ),
            None => {
                form.push(("client_id", self.client_id.clone()));
                request
            }
        }
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A refresh token. `Debug` prints `[redacted]`: it obtains passports.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// Wraps a token (one kept from an earlier run, say).
    pub fn new(token: impl Into<String>) -> RefreshToken {
        RefreshToken(token.into())
    }

    /// The token itself, to store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

/// What a passport is asked for: the resource it is for (RFC 8707
/// `resource`: it becomes the passport's `aud`), the scopes, and the DPoP
/// key it is to be bound to (the proof at the token endpoint is made with
/// it, and the server binds the passport to it: `cnf.jkt`).
///
/// ```
/// use passport_agent::PassportRequest;
/// # let key = passport_dpop::DpopKey::generate(passport_jose::Algorithm::ES256)?;
/// let request = PassportRequest::new("https://files.example")
///     .scope("files:read")
///     .dpop_key(key);
/// assert_eq!(request.scopes(), ["files:read"]);
/// # Ok::<(), passport_dpop::DpopError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct PassportRequest {
    resource: String,
    scopes: Vec<String>,
    key: Option<Arc<DpopKey>>,
}

impl fmt::Debug for PassportRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassportRequest")
            .field("resource", &self.resource)
            .field("scopes", &self.scopes)
            .field("dpop_jkt", &self.key.as_deref().map(DpopKey::jkt))
            .finish()
    }
}

impl PassportRequest {
    /// A request for a passport to `resource`, with no scope named (the
    /// server decides) and no key (a bearer passport).
    pub fn new(resource: impl Into<String>) -> PassportRequest {
        PassportRequest {
            resource: resource.into(),
            scopes: Vec::new(),
            key: None,
        }
    }

    /// Asks for `scope` too.
    pub fn scope(mut self, scope: impl Into<String>) -> PassportRequest {
        let scope = scope.into();
        if !self.scopes.contains(&scope) {
            self.scopes.push(scope);
        }
        self
    }

    /// Binds the passport to `key`.
    pub fn dpop_key(self, key: DpopKey) -> PassportRequest {
        self.shared_dpop_key(Arc::new(key))
    }

    /// Binds the passport to `key`, shared with other owners.
    pub fn shared_dpop_key(mut self, key: Arc<DpopKey>) -> PassportRequest {
        self.key = Some(key);
        self
    }

    /// The resource.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The scopes asked for.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The key the passport is to be bound to.
    pub fn key(&self) -> Option<&Arc<DpopKey>> {
        self.key.as_ref()
    }

    /// The same request for exactly `scopes`.
    pub(crate) fn with_exact_scopes(&self, scopes: &[String]) -> PassportRequest {
        PassportRequest {
            scopes: Vec::new(),
            ..self.clone()
        }
        .with_scopes(scopes)
    }

    /// The same request with `more` scopes added (the order kept, none twice).
    pub(crate) fn with_scopes(&self, more: &[String]) -> PassportRequest {
        let mut request = self.clone();
        for scope in more {
            request = request.scope(scope.clone());
        }
        request
    }

    fn scope_param(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }
}

/// A passport the token endpoint issued (RFC 6749 §5.1).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The passport bundle, with the key it is bound to (for a `DPoP`
    /// token type): ready for [`crate::PassportClient`].
    pub credentials: Credentials,
    /// The scopes granted (the response's `scope`, or those asked for when
    /// it has none: RFC 6749 §5.1).
    pub scopes: Vec<String>,
    /// When it expires (`expires_in` from now), if the server said. The
    /// passport's own `exp` may come sooner: [`crate::ServicePassport`] and
    /// [`crate::RotatingPassport`] renew by the sooner of the two.
    pub expires_at: Option<i64>,
    /// The refresh token, if one was issued (the code flow's).
    pub refresh_token: Option<RefreshToken>,
}

/// The agent's client of a token service — an OAuth 2.1 authorization
/// server that mints passports (passport-server) — found by its issuer URL
/// (RFC 8414 metadata whose `issuer` must be that URL exactly). It obtains
/// passports:
///
/// - [`TokenService::client_credentials`] for a workload;
/// - [`TokenService::exchange`] (RFC 8693): a passport bundle for a
///   narrower child, for a sub-agent, bound to its DPoP key;
/// - [`TokenService::authorization_code`] for a person's agent: PKCE S256,
///   `state`, RFC 9207 `iss` (mix-up defence), through a pluggable
///   [`UserAgent`]; [`TokenService::refresh`] with the refresh token (kept
///   redacted, rotated).
///
/// With a DPoP key, each token request carries a fresh proof for `POST` to
/// the token endpoint, and a `400 use_dpop_nonce` with a `DPoP-Nonce` is
/// answered once with that nonce (RFC 9449 §8). Redirects are never
/// followed. Cheap to clone (shared).
///
/// ```no_run
/// # async fn run(secret: String) -> Result<(), passport_agent::ClientError> {
/// use passport_agent::{ClientSecret, OAuthClient, PassportClient, PassportRequest, TokenService};
/// use passport_dpop::DpopKey;
/// use passport_jose::Algorithm;
///
/// let client = OAuthClient::with_secret("workload-reports", ClientSecret::new(secret));
/// let service = TokenService::discover("https://auth.example", client).await?;
/// let key = DpopKey::generate(Algorithm::ES256)?;
/// let passport = service
///     .client_credentials(
///         &PassportRequest::new("https://files.example").scope("files:read").dpop_key(key),
///     )
///     .await?;
/// let files = PassportClient::builder(passport.credentials).build();
/// let listing = files.get("https://files.example/reports").await?;
/// # let _ = listing; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenService {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    metadata: ServerMetadata,
    client: OAuthClient,
    clock: Arc<dyn Clock>,
    /// The token endpoint's last `DPoP-Nonce`.
    nonce: Mutex<Option<String>>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.inner.metadata.issuer)
            .field("client", &self.inner.client)
            .finish_non_exhaustive()
    }
}

/// Configures a [`TokenService`] before its discovery.
#[must_use]
pub struct TokenServiceBuilder {
    issuer: String,
    client: OAuthClient,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TokenServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenServiceBuilder")
            .field("issuer", &self.issuer)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl TokenServiceBuilder {
    /// Uses `http` (TLS roots, proxies, timeouts) instead of a client with a
    /// 30-second limit. Build it with
    /// `redirect(reqwest::redirect::Policy::none())`: a token request that
    /// follows a redirect hands the client's secret and the subject token
    /// to wherever it points.
    pub fn http_client(mut self, http: reqwest::Client) -> TokenServiceBuilder {
        self.http = Some(http);
        self
    }

    /// Uses `clock` for the proofs' `iat` and the passports' expiry.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> TokenServiceBuilder {
        self.clock = clock;
        self
    }

    /// Fetches the issuer's metadata (RFC 8414, then OpenID discovery):
    /// refused when the issuer is not https (or http on a loopback host),
    /// when the document names another issuer (`issuer_mismatch`), or when
    /// an endpoint is not acceptable (`insecure_url`).
    pub async fn discover(self) -> Result<TokenService, ClientError> {
        passport_remote::check_issuer(&self.issuer)?;
        let http = match self.http {
            Some(http) => http,
            None => passport_remote::http_client(DEFAULT_TIMEOUT)?,
        };
        let (_, doc) =
            passport_remote::discover_metadata(&http, &self.issuer, MAX_RESPONSE_BYTES).await?;
        let metadata = ServerMetadata::from_document(&self.issuer, doc)?;
        Ok(TokenService {
            inner: Arc::new(Inner {
                http,
                metadata,
                client: self.client,
                clock: self.clock,
                nonce: Mutex::new(None),
            }),
        })
    }
}

impl TokenService {
    /// Discovers the token service at `issuer` for `client` (see
    /// [`TokenServiceBuilder::discover`]).
    pub async fn discover(issuer: &str, client: OAuthClient) -> Result<TokenService, ClientError> {
        TokenService::builder(issuer, client).discover().await
    }

    /// A builder, for another HTTP client or clock.
    pub fn builder(issuer: &str, client: OAuthClient) -> TokenServiceBuilder {
        TokenServiceBuilder {
            issuer: issuer.to_owned(),
            client,
            http: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The server's metadata.
    pub fn metadata(&self) -> &ServerMetadata {
        &self.inner.metadata
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.metadata.issuer
    }

    /// The time on this service's clock.
    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// This service's clock.
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// The client this service authenticates as.
    pub fn client(&self) -> &OAuthClient {
        &self.inner.client
    }

    /// A passport for a workload (RFC 6749 §4.4): the principal is the
    /// client's registered owner.
    pub async fn client_credentials(
        &self,
        request: &PassportRequest,
    ) -> Result<TokenResponse, ClientError> {
        let form = vec![("grant_type", "client_credentials".to_owned())];
        self.token_request(form, request).await
    }

    /// Like [`TokenService::client_credentials`], naming the passport the
    /// new one replaces (a rotation): the form carries
    /// `replaces=<predecessor_jti>`, and passport-server records the new
    /// passport as the predecessor's successor (the predecessor reads
    /// ROTATED in its registry). A server that does not know the parameter
    /// ignores it (RFC 6749 §3.2: unrecognised request parameters are
    /// ignored). [`crate::RotatingPassport`] sends it on each rotation.
    pub async fn client_credentials_replacing(
        &self,
        request: &PassportRequest,
        predecessor_jti: &str,
    ) -> Result<TokenResponse, ClientError> {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("replaces", predecessor_jti.to_owned()),
        ];
        self.token_request(form, request).await
    }

    /// RFC 8693 token exchange: `subject_token` (the agent's passport
    /// bundle) for a delegated child — for a sub-agent, narrower (the
    /// `scope` asked for), to `resource`, and bound to the request's key
    /// (the proof at the token endpoint is the sub-agent's).
    ///
    /// ```no_run
    /// # async fn run(service: passport_agent::TokenService, parent: String, sub_key: passport_dpop::DpopKey) -> Result<(), passport_agent::ClientError> {
    /// use passport_agent::PassportRequest;
    /// let child = service
    ///     .exchange(
    ///         &parent,
    ///         &PassportRequest::new("https://files.example").scope("files:read").dpop_key(sub_key),
    ///     )
    ///     .await?;
    /// // hand `child.credentials` to the sub-agent
    /// # let _ = child; Ok(()) }
    /// ```
    pub async fn exchange(
        &self,
        subject_token: &str,
        request: &PassportRequest,
    ) -> Result<TokenResponse, ClientError> {
        let form = vec![
            ("grant_type", TOKEN_EXCHANGE.to_owned()),
            ("subject_token", subject_token.to_owned()),
            ("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()),
            ("requested_token_type", ACCESS_TOKEN_TYPE.to_owned()),
        ];
        self.token_request(form, request).await
    }

    /// RFC 8693 token exchange naming who will act (§2.1 `actor_token`):
    /// `subject_token` is the delegating agent's passport (bound to
    /// `request`'s key, which signs the proof), `actor_token` the
    /// sub-agent's own bound passport. passport-server makes the child the
    /// actor's — its agent, bound to the actor's key, `act` naming it over
    /// the subject's — never longer-lived than either. This is how an agent
    /// hands a narrower passport to a sub-agent that holds its own key: a
    /// bearer passport is exchanged by no client but its holder.
    ///
    /// ```no_run
    /// # async fn run(service: passport_agent::TokenService, parent: &str, sub_agents_passport: &str, my_key: passport_dpop::DpopKey) -> Result<(), passport_agent::ClientError> {
    /// use passport_agent::PassportRequest;
    /// let child = service
    ///     .exchange_for_actor(
    ///         parent,
    ///         sub_agents_passport,
    ///         &PassportRequest::new("https://files.example").scope("files:read").dpop_key(my_key),
    ///     )
    ///     .await?;
    /// // bound to the sub-agent's key: the answer's credentials carry the
    /// // bundle and no key; the sub-agent pairs it with its own
    /// # let _ = child; Ok(()) }
    /// ```
    pub async fn exchange_for_actor(
        &self,
        subject_token: &str,
        actor_token: &str,
        request: &PassportRequest,
    ) -> Result<TokenResponse, ClientError> {
        let form = vec![
            ("grant_type", TOKEN_EXCHANGE.to_owned()),
            ("subject_token", subject_token.to_owned()),
            ("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()),
            ("actor_token", actor_token.to_owned()),
            ("actor_token_type", ACCESS_TOKEN_TYPE.to_owned()),
            ("requested_token_type", ACCESS_TOKEN_TYPE.to_owned()),
        ];
        let mut answer = self.token_request(form, request).await?;
        // bound to the actor's key, which this agent does not hold
        answer.credentials = Credentials::new(answer.credentials.bundle().to_owned(), None);
        Ok(answer)
    }

    /// The authorization code flow for a person's agent (OAuth 2.1 §4.1,
    /// PKCE S256): builds the authorization request (`state`, `resource`,
    /// `scope`, `code_challenge`), has `user_agent` take the person there
    /// and bring back the redirect's query, checks it — `state` the one
    /// sent, `iss` the discovered issuer (refused when missing while the
    /// metadata advertises `authorization_response_iss_parameter_supported`),
    /// no parameter twice, no `error` — and redeems the code with the
    /// verifier. The answer usually holds a refresh token.
    ///
    /// ```no_run
    /// # async fn run(service: passport_agent::TokenService) -> Result<(), passport_agent::ClientError> {
    /// use passport_agent::{LoopbackUserAgent, PassportRequest};
    /// let browser = LoopbackUserAgent::new("http://127.0.0.1:8765/callback", |url| {
    ///     eprintln!("Open this URL to let the agent read your files:\n  {url}");
    /// });
    /// let passport = service
    ///     .authorization_code(&browser, &PassportRequest::new("https://files.example").scope("files:read"))
    ///     .await?;
    /// # let _ = passport; Ok(()) }
    /// ```
    pub async fn authorization_code(
        &self,
        user_agent: &dyn UserAgent,
        request: &PassportRequest,
    ) -> Result<TokenResponse, ClientError> {
        let metadata = &self.inner.metadata;
        let endpoint = metadata
            .authorization_endpoint
            .as_deref()
            .ok_or_else(|| ClientError::Metadata("no `authorization_endpoint`".into()))?;
        // MCP authorization: a client refuses a server that does not
        // advertise S256 (it may not support PKCE at all).
        if !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
        {
            return Err(ClientError::Metadata(
                "`code_challenge_methods_supported` does not list S256".into(),
            ));
        }
        let verifier = PkceVerifier::generate()?;
        // 256 random bits, from the same generator as the verifier
        let state = PkceVerifier::generate()?.secret().to_owned();
        let authorization = AuthorizationRequest::new(
            endpoint,
            &self.inner.client.client_id,
            &state,
            &verifier.challenge_s256(),
            request.resource(),
            request.scope_param().as_deref(),
        )?;
        let response = user_agent.authorize(&authorization).await?;
        let code = check_authorization_response(
            &response.params,
            &state,
            &metadata.issuer,
            metadata.authorization_response_iss_parameter_supported,
        )?;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", response.redirect_uri),
            ("code_verifier", verifier.secret().to_owned()),
        ];
        self.token_request(form, request).await
    }

    /// A new passport from `refresh_token` (RFC 6749 §6). `request` names the
    /// resource and the key (and, optionally, fewer scopes: a refresh may
    /// only narrow). The answer's refresh token, when there is one, replaces
    /// this one (rotation: the old one is dead at the server).
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        request: &PassportRequest,
    ) -> Result<TokenResponse, ClientError> {
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose().to_owned()),
        ];
        self.token_request(form, request).await
    }

    /// POSTs one token request (with `resource`, `scope`, the client's
    /// authentication and, with a key, a proof), answering a nonce
    /// challenge once.
    async fn token_request(
        &self,
        mut form: Vec<(&'static str, String)>,
        request: &PassportRequest,
    ) -> Result<TokenResponse, ClientError> {
        let inner = &self.inner;
        form.push(("resource", request.resource.clone()));
        if let Some(scope) = request.scope_param() {
            form.push(("scope", scope));
        }
        let endpoint = inner.metadata.token_endpoint.as_str();
        let mut nonce = self.nonce();
        let mut retried = false;
        loop {
            let mut form = form.clone();
            let mut post = inner.http.post(endpoint).header(ACCEPT, "application/json");
            post = inner.client.authenticate(post, &mut form);
            if let Some(key) = &request.key {
                let proof =
                    key.proof("POST", endpoint, None, nonce.as_deref(), inner.clock.now())?;
                post = post.header("DPoP", proof);
            }
            let response = post.form(&form).send().await?;
            let status = response.status();
            let fresh = self.remember_nonce(response.headers());
            if status.is_redirection() {
                return Err(ClientError::TokenResponse(format!(
                    "the token endpoint answered a redirect (HTTP {})",
                    status.as_u16()
                )));
            }
            let body = passport_remote::read_bounded(response, MAX_RESPONSE_BYTES).await?;
            if status.is_success() {
                return self.token_response(&body, request);
            }
            let refused = refusal(status, &body);
            // RFC 9449 §8: once, with the nonce the server just sent.
            if let ClientError::TokenRefused { error, .. } = &refused
                && error == "use_dpop_nonce"
                && request.key.is_some()
                && !retried
                && let Some(fresh) = fresh
                && nonce.as_deref() != Some(fresh.as_str())
            {
                nonce = Some(fresh);
                retried = true;
                continue;
            }
            return Err(refused);
        }
    }

    fn token_response(
        &self,
        body: &[u8],
        request: &PassportRequest,
    ) -> Result<TokenResponse, ClientError> {
        let bad = |why: &str| ClientError::TokenResponse(why.to_owned());
        let mut doc = passport_jose::json::parse_object(body, "token response")
            .map_err(|e| ClientError::TokenResponse(e.to_string()))?;
        let Some(Value::String(access_token)) = doc.remove("access_token") else {
            return Err(bad("no `access_token` string"));
        };
        if access_token.is_empty() {
            return Err(bad("an empty `access_token`"));
        }
        let key = match doc.remove("token_type") {
            Some(Value::String(t)) if t.eq_ignore_ascii_case("dpop") => match &request.key {
                Some(key) => Some(key.clone()),
                None => return Err(bad("a DPoP-bound passport, but no key was sent")),
            },
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => match request.key {
                // RFC 9449 §5: the client asked for binding; a bearer
                // passport is not what it can safely use as one.
                Some(_) => {
                    return Err(bad(
                        "a bearer passport where a DPoP-bound one was asked for",
                    ));
                }
                None => None,
            },
            _ => return Err(bad("`token_type` is neither DPoP nor Bearer")),
        };
        let expires_at = match doc.remove("expires_in") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(secs) if secs >= 0 => Some(self.inner.clock.now().saturating_add(secs)),
                _ => return Err(bad("`expires_in` is not a non-negative integer")),
            },
            Some(_) => return Err(bad("`expires_in` is not a number")),
        };
        let scopes = match doc.remove("scope") {
            None | Some(Value::Null) => request.scopes.clone(),
            Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
            Some(_) => return Err(bad("`scope` is not a string")),
        };
        let refresh_token = match doc.remove("refresh_token") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if !t.is_empty() => Some(RefreshToken(t)),
            Some(_) => return Err(bad("`refresh_token` is not a non-empty string")),
        };
        Ok(TokenResponse {
            credentials: Credentials::shared(access_token, key),
            scopes,
            expires_at,
            refresh_token,
        })
    }

    fn nonce(&self) -> Option<String> {
        self.inner
            .nonce
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps the response's `DPoP-Nonce` for the next proofs and returns it.
    fn remember_nonce(&self, headers: &HeaderMap) -> Option<String> {
        let nonce = headers.get("dpop-nonce")?.to_str().ok()?;
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
            return None;
        }
        *self
            .inner
            .nonce
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(nonce.to_owned());
        Some(nonce.to_owned())
    }
}

/// An RFC 6749 §5.2 error answer as [`ClientError::TokenRefused`] (the
/// `error` is `invalid_response` when the body is not one).
fn refusal(status: StatusCode, body: &[u8]) -> ClientError {
    let doc = passport_jose::json::parse_object(body, "error response").ok();
    let field = |name: &str| {
        doc.as_ref()
            .and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .map(|s| passport_jose::clip(s, MAX_ERROR_LEN))
    };
    ClientError::TokenRefused {
        status: status.as_u16(),
        error: field("error").unwrap_or_else(|| "invalid_response".to_owned()),
        description: field("error_description"),
    }
}
