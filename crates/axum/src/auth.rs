//! The shared state, its builder, per-route requirements, and the one
//! function that authenticates a request.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::routing::get;
use passport_claims::{Assurance, Level, MAX_BUNDLE_LEN};
use passport_dpop::{DpopError, DpopVerifier, VerifiedProof};
use passport_verifier::{Verification, VerifiedPassport, Verifier};
use url::Url;

use crate::metadata::ResourceMetadata;
use crate::{AuthError, PassportLayer, Rejection};

/// The default limit on the `Authorization` header, in bytes. A 3-link
/// bundle is about 4 KiB; 64 KiB leaves room for deep chains while
/// refusing (with `token_too_large`) headers that would only cost time.
pub const DEFAULT_MAX_AUTHORIZATION_LEN: usize = 64 * 1024;

/// The path of the RFC 9728 metadata document for a resource whose URL has
/// no path; for `https://host/mcp` it is this path followed by `/mcp`
/// (RFC 9728 §3.1).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The `Authorization` scheme a passport was presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Bearer` (RFC 6750): an unbound passport.
    Bearer,
    /// `DPoP` (RFC 9449): a passport bound to a key, with a proof by it.
    Dpop,
}

impl Scheme {
    /// `"Bearer"` or `"DPoP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => "DPoP",
        }
    }
}

/// What a route requires beyond a valid passport. Applied with
/// [`PassportAuth::require`] (as a layer) or [`Passport::require`] (in a
/// handler).
///
/// ```
/// use passport_axum::{Level, Requirements};
///
/// let read = Requirements::scope("files:read");
/// let admin = Requirements::scope("files:admin")
///     .min_aal(Level::TWO)
///     .with_proof_of_possession();
/// assert_eq!(admin.scope.as_deref(), Some("files:admin"));
/// assert!(admin.proof_of_possession && !read.proof_of_possession);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Requirements {
    /// A scope the leaf's `tool_scope` must cover (403 `insufficient_scope`
    /// with this `scope` otherwise).
    pub scope: Option<String>,
    /// Assurance floors (401 `insufficient_user_authentication` when one
    /// is not met).
    pub min_assurance: Assurance,
    /// Only a DPoP-bound passport with a valid proof is accepted.
    pub proof_of_possession: bool,
}

impl Requirements {
    /// Nothing beyond a valid passport.
    pub fn none() -> Requirements {
        Requirements::default()
    }

    /// A required scope.
    pub fn scope(scope: impl Into<String>) -> Requirements {
        Requirements::none().with_scope(scope)
    }

    /// Sets the required scope.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Requirements {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the IAL floor.
    #[must_use]
    pub fn min_ial(mut self, level: Level) -> Requirements {
        self.min_assurance.ial = Some(level);
        self
    }

    /// Sets the AAL floor.
    #[must_use]
    pub fn min_aal(mut self, level: Level) -> Requirements {
        self.min_assurance.aal = Some(level);
        self
    }

    /// Sets the FAL floor.
    #[must_use]
    pub fn min_fal(mut self, level: Level) -> Requirements {
        self.min_assurance.fal = Some(level);
        self
    }

    /// Requires a DPoP-bound passport (refuses bearer passports).
    #[must_use]
    pub fn with_proof_of_possession(mut self) -> Requirements {
        self.proof_of_possession = true;
        self
    }
}

/// What every layer and rejection of one [`PassportAuth`] share.
pub(crate) struct Shared {
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) dpop: Option<DpopVerifier>,
    /// The public base URL, without a trailing `/`.
    pub(crate) base: String,
    pub(crate) metadata: ResourceMetadata,
    pub(crate) metadata_json: Bytes,
    pub(crate) metadata_path: String,
    pub(crate) metadata_url: String,
    pub(crate) realm: String,
    pub(crate) dpop_algs: String,
    pub(crate) require_pop: bool,
    pub(crate) max_authorization_len: usize,
}

impl Shared {
    /// The absolute URL of a request for `htu`: the configured base and the
    /// request's path (the query never matters for `htu`).
    pub(crate) fn htu(&self, path: &str) -> String {
        let path = if path.starts_with('/') { path } else { "/" };
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }
}

/// A resource server's passport authentication: the shared [`Verifier`]
/// (with its ancestor cache, status sources and audit sink), the optional
/// [`DpopVerifier`] (with its replay cache and nonce issuer), the RFC 9728
/// metadata and the public base URL. Cheap to clone (one `Arc`).
///
/// Build it once with [`PassportAuth::builder`], then take layers from it
/// ([`PassportAuth::layer`], [`PassportAuth::require`]) and the metadata
/// route ([`PassportAuth::metadata_router`]).
///
/// ## Why the base URL comes from configuration
///
/// A DPoP proof names the URL it is for (`htu`), and the server compares it
/// with the URL of the request. That URL is built from the configured public
/// base URL and the request's path, never from the `Host` header (or
/// `X-Forwarded-*`): those are chosen by the client, so trusting them would
/// let a proof made for another server (`https://other.example/mcp`, signed
/// by the same agent key and captured there) be replayed here with
/// `Host: other.example`. Behind a TLS-terminating proxy the server also
/// does not see the scheme and host the client used; configuration does.
#[derive(Clone)]
pub struct PassportAuth {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for PassportAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassportAuth")
            .field("resource", &self.shared.metadata.resource)
            .field("base", &self.shared.base)
            .field("dpop", &self.shared.dpop.is_some())
            .field("require_pop", &self.shared.require_pop)
            .finish_non_exhaustive()
    }
}

impl PassportAuth {
    /// Starts configuring authentication with `verifier`, whose policy's
    /// audience is by default the resource identifier.
    pub fn builder(verifier: Arc<Verifier>) -> PassportAuthBuilder {
        PassportAuthBuilder {
            verifier,
            dpop: None,
            resource: None,
            public_base_url: None,
            authorization_servers: None,
            scopes_supported: Vec::new(),
            resource_name: None,
            realm: None,
            require_pop: false,
            max_authorization_len: DEFAULT_MAX_AUTHORIZATION_LEN,
        }
    }

    /// A layer that requires a valid passport and nothing more.
    pub fn layer(&self) -> PassportLayer {
        self.require(Requirements::none())
    }

    /// A layer that requires a valid passport meeting `requirements`.
    ///
    /// When an outer layer of the same `PassportAuth` has already
    /// authenticated the request, this one only checks its requirements
    /// (the bundle is not verified twice, and the DPoP proof is not
    /// presented twice to the replay cache).
    pub fn require(&self, requirements: Requirements) -> PassportLayer {
        PassportLayer::new(self.clone(), requirements)
    }

    /// A router serving the RFC 9728 metadata document at
    /// [`PassportAuth::metadata_path`]; merge it into the application's.
    pub fn metadata_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let body = self.shared.metadata_json.clone();
        Router::new().route(
            &self.shared.metadata_path,
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [
                            (
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("application/json"),
                            ),
                            (
                                header::CACHE_CONTROL,
                                HeaderValue::from_static("max-age=300"),
                            ),
                        ],
                        body,
                    )
                }
            }),
        )
    }

    /// The metadata document.
    pub fn metadata(&self) -> &ResourceMetadata {
        &self.shared.metadata
    }

    /// The path the metadata is served at (RFC 9728 §3.1).
    pub fn metadata_path(&self) -> &str {
        &self.shared.metadata_path
    }

    /// The absolute URL of the metadata (the challenges' `resource_metadata`).
    pub fn metadata_url(&self) -> &str {
        &self.shared.metadata_url
    }

    /// The shared verifier.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.shared.verifier
    }

    /// A [`Rejection`] for `error`, answered with this server's challenges.
    pub fn reject(&self, error: AuthError) -> Rejection {
        Rejection::new(error, Some(self.shared.clone()), None, false)
    }

    /// Authenticates one request: the function the layer runs, exposed for
    /// other frameworks and for benchmarks.
    ///
    /// `path` is the request's path as the client sent it (under axum's
    /// `nest`, the `OriginalUri`'s path; the layer takes care of that);
    /// `headers` its headers. In order: exactly one well-formed
    /// `Authorization` header (`Bearer` or `DPoP`, any case, at most the
    /// configured length); the bundle verified by the shared [`Verifier`];
    /// a passport bound to a key (`cnf.jkt`) must come with the `DPoP`
    /// scheme and exactly one `DPoP` proof by that key, for this method and
    /// URL, with `ath` over the bundle (and the server nonce when the DPoP
    /// policy requires one); a bearer passport is refused where proof of
    /// possession is required; then the assurance floors and the scope.
    ///
    /// Prefer [`Requirements`] to the verifier policy's own
    /// `required_scope` and floors: the policy's are checked while the
    /// bundle is verified, so their refusals come before the DPoP proof is
    /// looked at.
    pub fn authenticate(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        requirements: &Requirements,
    ) -> Result<Passport, Rejection> {
        let shared = &self.shared;
        let pop_required = requirements.proof_of_possession || shared.require_pop;
        let reject = |error: AuthError, scheme: Option<Scheme>| {
            Rejection::new(error, Some(shared.clone()), scheme, pop_required)
        };

        let (scheme, token) =
            credentials(headers, shared.max_authorization_len, shared.dpop.is_some())
                .map_err(|e| reject(e, None))?;
        let verification = shared
            .verifier
            .verify_str_pending_proof(token)
            .map_err(|e| reject(AuthError::Token(e), Some(scheme)))?;

        let (verified, proof) = match (scheme, verification, shared.dpop.as_ref()) {
            (Scheme::Bearer, Verification::ProofRequired(_), _) => {
                return Err(reject(AuthError::BoundTokenAsBearer, Some(scheme)));
            }
            (Scheme::Bearer, Verification::Verified(_), _) if pop_required => {
                return Err(reject(AuthError::ProofOfPossessionRequired, Some(scheme)));
            }
            (Scheme::Bearer, Verification::Verified(verified), _) => (verified, None),
            (Scheme::Dpop, Verification::Verified(_), _) => {
                return Err(reject(AuthError::TokenNotBound, Some(scheme)));
            }
            // `credentials` only returns `Dpop` when a DPoP verifier is set.
            (Scheme::Dpop, Verification::ProofRequired(_), None) => {
                return Err(reject(AuthError::UnsupportedScheme, Some(scheme)));
            }
            (Scheme::Dpop, Verification::ProofRequired(pending), Some(dpop)) => {
                let mut proofs: [&str; 2] = ["", ""];
                let mut count = 0;
                for value in headers.get_all(&DPOP).iter().take(2) {
                    proofs[count] = value.to_str().map_err(|_| {
                        reject(
                            AuthError::Proof(DpopError::Malformed(
                                "the DPoP header is not visible ASCII".into(),
                            )),
                            Some(scheme),
                        )
                    })?;
                    count += 1;
                }
                let htu = shared.htu(path);
                let jkt = pending.bound_jkt().to_owned();
                let proof = dpop
                    .verify(
                        &proofs[..count],
                        method.as_str(),
                        &htu,
                        Some(token),
                        Some(&jkt),
                    )
                    .map_err(|e| reject(AuthError::Proof(e), Some(scheme)))?;
                // The proof's key is the bound key (checked above); this is
                // what turns the pending passport into a verified one.
                let verified = pending
                    .confirm(&proof.jkt)
                    .map_err(|e| reject(AuthError::Token(e), Some(scheme)))?;
                (verified, Some(proof))
            }
            // A kind of verification this layer does not know: refuse.
            (_, _, _) => return Err(reject(AuthError::UnsupportedScheme, Some(scheme))),
        };

        let passport = Passport(Arc::new(Inner {
            verified,
            proof,
            scheme,
            shared: shared.clone(),
        }));
        passport.require(requirements)?;
        Ok(passport)
    }
}

/// The `DPoP` request header.
static DPOP: header::HeaderName = header::HeaderName::from_static("dpop");

/// The scheme and token of the one `Authorization` header.
fn credentials(
    headers: &HeaderMap,
    max_len: usize,
    dpop_enabled: bool,
) -> Result<(Scheme, &str), AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingCredentials);
    };
    if values.next().is_some() {
        return Err(AuthError::MultipleAuthorizationHeaders);
    }
    if value.len() > max_len {
        return Err(AuthError::TokenTooLarge {
            len: value.len(),
            max: max_len,
        });
    }
    // One pass over the bytes (a bundle is kilobytes): the token68 check
    // also proves the token is ASCII.
    let text = value.as_bytes().trim_ascii();
    if text.is_empty() {
        return Err(AuthError::MalformedAuthorization("empty"));
    }
    // credentials = auth-scheme [ 1*SP token68 ]  (RFC 9110 §11.4)
    let (scheme, rest) = match text.iter().position(|&b| b == b' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, &[][..]),
    };
    if scheme.is_empty() || !scheme.iter().all(|&b| TCHAR[usize::from(b)]) {
        return Err(AuthError::MalformedAuthorization("scheme is not a token"));
    }
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") && dpop_enabled {
        Scheme::Dpop
    } else {
        return Err(AuthError::UnsupportedScheme);
    };
    let token = trim_start_spaces(rest);
    if token.is_empty() {
        return Err(AuthError::MalformedAuthorization("no token"));
    }
    if !is_token68(token) {
        return Err(AuthError::MalformedAuthorization("token is not token68"));
    }
    let token = std::str::from_utf8(token)
        .map_err(|_| AuthError::MalformedAuthorization("not visible ASCII"))?;
    Ok((scheme, token))
}

fn trim_start_spaces(mut bytes: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// A byte-class table: `table[b]` is true for the bytes of `class`, and
/// for ASCII letters and digits.
const fn table(class: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < class.len() {
        t[class[i] as usize] = true;
        i += 1;
    }
    t
}

/// RFC 9110 §5.6.2 `tchar`.
static TCHAR: [bool; 256] = table(b"!#$%&'*+-.^_`|~");

/// The non-`=` characters of RFC 9110 §11.2 `token68`.
static TOKEN68: [bool; 256] = table(b"-._~+/");

/// RFC 9110 §11.2 `token68`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(token: &[u8]) -> bool {
    let mut end = token.len();
    while end > 0 && token[end - 1] == b'=' {
        end -= 1;
    }
    end > 0 && token[..end].iter().all(|&b| TOKEN68[usize::from(b)])
}

/// Configures a [`PassportAuth`]; see [`PassportAuth::builder`].
#[must_use]
pub struct PassportAuthBuilder {
    verifier: Arc<Verifier>,
    dpop: Option<DpopVerifier>,
    resource: Option<String>,
    public_base_url: Option<String>,
    authorization_servers: Option<Vec<String>>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
    realm: Option<String>,
    require_pop: bool,
    max_authorization_len: usize,
}

impl fmt::Debug for PassportAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassportAuthBuilder")
            .field("resource", &self.resource)
            .field("public_base_url", &self.public_base_url)
            .finish_non_exhaustive()
    }
}

impl PassportAuthBuilder {
    /// Enables the `DPoP` scheme and DPoP-bound passports, verified by
    /// `verifier` (its replay cache, nonce issuer and policy). Without it,
    /// bound passports are refused.
    pub fn dpop(mut self, verifier: DpopVerifier) -> Self {
        self.dpop = Some(verifier);
        self
    }

    /// The resource identifier (RFC 9728 `resource`): an absolute `http(s)`
    /// URL. Default: the verifier policy's audience.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The URL clients use to reach this server, up to where request paths
    /// start (`https://api.example` or `https://example.com/prefix` behind a
    /// proxy that strips `/prefix`). DPoP `htu` is checked against this
    /// base followed by the request path. Default: the resource's origin.
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into());
        self
    }

    /// The authorization servers of the metadata document. Default: the
    /// verifier policy's trusted issuers.
    pub fn authorization_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = Some(servers.into_iter().map(Into::into).collect());
        self
    }

    /// The scopes listed in the metadata document (`scopes_supported`).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name for the metadata document (`resource_name`).
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The `realm` of the challenges. Default: the resource identifier.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Requires proof of possession on every route (refuses every bearer
    /// passport, advertises `dpop_bound_access_tokens_required`). Also set
    /// when the verifier's policy has `require_proof_of_possession`. Needs
    /// [`PassportAuthBuilder::dpop`].
    pub fn require_proof_of_possession(mut self, required: bool) -> Self {
        self.require_pop = required;
        self
    }

    /// The largest `Authorization` header accepted, in bytes (default
    /// [`DEFAULT_MAX_AUTHORIZATION_LEN`], at most the bundle limit of
    /// `passport-claims` plus the scheme).
    pub fn max_authorization_len(mut self, len: usize) -> Self {
        self.max_authorization_len = len;
        self
    }

    /// Checks the configuration and builds the [`PassportAuth`].
    pub fn build(self) -> Result<PassportAuth, AuthError> {
        let policy = self.verifier.policy();
        let require_pop = self.require_pop || policy.require_proof_of_possession;
        if require_pop && self.dpop.is_none() {
            return Err(AuthError::InvalidConfig(
                "proof of possession is required but DPoP is not enabled".into(),
            ));
        }
        let max_authorization_len = self
            .max_authorization_len
            .clamp(1, MAX_BUNDLE_LEN + "Bearer ".len());

        let resource = self.resource.unwrap_or_else(|| policy.audience.clone());
        let resource_url = http_url(&resource, "resource")?;
        let base = match &self.public_base_url {
            Some(base) => {
                let url = http_url(base, "public base URL")?;
                url.as_str().trim_end_matches('/').to_owned()
            }
            None => resource_url.origin().ascii_serialization(),
        };

        // RFC 9728 §3.1: the well-known path goes between the host and the
        // resource's path.
        let resource_path = resource_url.path().trim_end_matches('/');
        let metadata_path = format!("{METADATA_PATH}{resource_path}");
        if !metadata_path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:@".contains(&b))
        {
            return Err(AuthError::InvalidConfig(
                "the resource path has characters a route cannot hold".into(),
            ));
        }
        let metadata_url = format!(
            "{}{metadata_path}",
            resource_url.origin().ascii_serialization()
        );

        let dpop_algs: Vec<String> = self
            .dpop
            .as_ref()
            .map(|d| {
                d.policy()
                    .allowed_algorithms
                    .iter()
                    .map(|a| a.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let metadata = ResourceMetadata {
            resource: resource.clone(),
            authorization_servers: self
                .authorization_servers
                .unwrap_or_else(|| policy.trusted_issuers.iter().cloned().collect()),
            scopes_supported: self.scopes_supported,
            bearer_methods_supported: vec!["header".to_owned()],
            dpop_signing_alg_values_supported: dpop_algs.clone(),
            dpop_bound_access_tokens_required: require_pop,
            resource_name: self.resource_name,
        };
        let metadata_json = serde_json::to_vec(&metadata)
            .map_err(|e| AuthError::InvalidConfig(format!("metadata: {e}")))?;

        Ok(PassportAuth {
            shared: Arc::new(Shared {
                verifier: self.verifier,
                dpop: self.dpop,
                base,
                metadata,
                metadata_json: Bytes::from(metadata_json),
                metadata_path,
                metadata_url,
                realm: self.realm.unwrap_or(resource),
                dpop_algs: dpop_algs.join(" "),
                require_pop,
                max_authorization_len,
            }),
        })
    }
}

/// An absolute `http`/`https` URL with a host and no user info, query or
/// fragment.
fn http_url(text: &str, what: &str) -> Result<Url, AuthError> {
    let url = Url::parse(text)
        .map_err(|e| AuthError::InvalidConfig(format!("{what} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(AuthError::InvalidConfig(format!(
            "{what} must be an absolute http(s) URL without user info, query or fragment"
        )));
    }
    Ok(url)
}

/// An authenticated request's passport: the [`VerifiedPassport`] (it
/// dereferences to it), the DPoP proof when the passport is bound, and the
/// scheme. The layer puts it in the request's extensions; handlers take it
/// as an extractor.
///
/// Inside a service mounted with `nest_service` (an MCP server, say) it is
/// in `request.extensions()`, and frameworks that keep the HTTP request
/// parts (as `rmcp` does) make it reachable from there.
#[derive(Clone)]
pub struct Passport(Arc<Inner>);

struct Inner {
    verified: VerifiedPassport,
    proof: Option<VerifiedProof>,
    scheme: Scheme,
    shared: Arc<Shared>,
}

impl Passport {
    /// The verified passport and its chain.
    pub fn verified(&self) -> &VerifiedPassport {
        &self.0.verified
    }

    /// The DPoP proof that came with a bound passport.
    pub fn proof(&self) -> Option<&VerifiedProof> {
        self.0.proof.as_ref()
    }

    /// The scheme the passport was presented with.
    pub fn scheme(&self) -> Scheme {
        self.0.scheme
    }

    /// Checks `requirements` (for example per tool, inside a handler),
    /// answering like the layer would.
    pub fn require(&self, requirements: &Requirements) -> Result<(), Rejection> {
        let reject = |error: AuthError| {
            Rejection::new(
                error,
                Some(self.0.shared.clone()),
                Some(self.0.scheme),
                requirements.proof_of_possession,
            )
        };
        if requirements.proof_of_possession && self.0.proof.is_none() {
            return Err(reject(AuthError::ProofOfPossessionRequired));
        }
        let v = &self.0.verified;
        v.require_assurance(&requirements.min_assurance)
            .map_err(|e| reject(AuthError::Token(e)))?;
        if let Some(scope) = &requirements.scope {
            v.require_scope(scope)
                .map_err(|e| reject(AuthError::Token(e)))?;
        }
        Ok(())
    }

    /// Checks one scope: `Err` is a 403 `insufficient_scope` naming it.
    ///
    /// ```no_run
    /// use passport_axum::{Passport, Rejection};
    ///
    /// async fn delete_file(passport: Passport) -> Result<&'static str, Rejection> {
    ///     passport.require_scope("files:delete")?;
    ///     Ok("deleted")
    /// }
    /// ```
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        self.require(&Requirements::scope(scope))
    }

    pub(crate) fn same_auth(&self, auth: &PassportAuth) -> bool {
        Arc::ptr_eq(&self.0.shared, &auth.shared)
    }
}

impl Deref for Passport {
    type Target = VerifiedPassport;
    fn deref(&self) -> &VerifiedPassport {
        &self.0.verified
    }
}

impl fmt::Debug for Passport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passport")
            .field("verified", &self.0.verified)
            .field("scheme", &self.0.scheme)
            .field("proof_jkt", &self.0.proof.as_ref().map(|p| &p.jkt))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token68() {
        assert!(is_token68(b"abc.def~ghi-_+/"));
        assert!(is_token68(b"abc=="));
        assert!(!is_token68(b"="));
        assert!(!is_token68(b"a=b"));
        assert!(!is_token68(b"a b"));
        assert!(!is_token68(b"a,b"));
        assert!(!is_token68(b"a\xffb"));
        assert!(!is_token68(b""));
        assert!(TCHAR[usize::from(b'!')] && !TCHAR[usize::from(b'"')] && !TCHAR[0x80]);
    }

    #[test]
    fn credentials_parse() {
        let parse = |value: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap_or(HeaderValue::from_static("x")),
            );
            credentials(&headers, 1024, true)
                .map(|(scheme, token)| (scheme, token.to_owned()))
                .map_err(|e| e.code())
        };
        assert_eq!(
            parse(b"bearer  a.b~c"),
            Ok((Scheme::Bearer, "a.b~c".to_owned()))
        );
        assert_eq!(parse(b" DPOP x= "), Ok((Scheme::Dpop, "x=".to_owned())));
        assert_eq!(parse(b"Basic x"), Err("unsupported_scheme"));
        assert_eq!(parse(b"Bearer"), Err("malformed_authorization"));
        assert_eq!(parse(b"\tBearer\t"), Err("malformed_authorization"));
        assert_eq!(parse(b"Bearer \xc3\xa9"), Err("malformed_authorization"));
        assert_eq!(parse(b"\xc3\xa9 x"), Err("malformed_authorization"));
        assert_eq!(parse(&[b'A'; 2000]), Err("token_too_large"));
        assert_eq!(
            credentials(&HeaderMap::new(), 10, true)
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("missing_credentials")
        );
    }
}
