//! [`PassportAuthBuilder`]: the configuration of a [`PassportAuth`], checked once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use passport_claims::MAX_BUNDLE_LEN;
use passport_dpop::DpopVerifier;
use passport_verifier::{Refetch, Verifier};
use url::Url;

use crate::auth::Shared;
use crate::metadata::ResourceMetadata;
use crate::{AuthError, PassportAuth};

/// The default limit on the `Authorization` header, in bytes. A 3-link
/// bundle is about 4 KiB; 64 KiB leaves room for deep chains while
/// refusing (with `token_too_large`) headers that would only cost time.
pub const DEFAULT_MAX_AUTHORIZATION_LEN: usize = 64 * 1024;

/// The path of the RFC 9728 metadata document for a resource whose URL has
/// no path; for `https://host/mcp` it is this path followed by `/mcp`
/// (RFC 9728 §3.1).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// How long a request waits at most for the work of the
/// [`Refetch`]es after its first verification failed (see
/// [`PassportAuthBuilder::refetch`]).
pub const DEFAULT_REFETCH_TIMEOUT: Duration = Duration::from_secs(3);

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
    challenge_scope: Option<String>,
    require_pop: bool,
    max_authorization_len: usize,
    refetch: Vec<Arc<dyn Refetch>>,
    refetch_timeout: Duration,
    #[cfg(feature = "remote")]
    pub(crate) trust: Option<crate::Trust>,
}

impl fmt::Debug for PassportAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassportAuthBuilder")
            .field("resource", &self.resource)
            .field("public_base_url", &self.public_base_url)
            .field("refetch", &self.refetch.len())
            .field("refetch_timeout", &self.refetch_timeout)
            .finish_non_exhaustive()
    }
}

impl PassportAuthBuilder {
    pub(crate) fn new(verifier: Arc<Verifier>) -> PassportAuthBuilder {
        PassportAuthBuilder {
            verifier,
            dpop: None,
            resource: None,
            public_base_url: None,
            authorization_servers: None,
            scopes_supported: Vec::new(),
            resource_name: None,
            realm: None,
            challenge_scope: None,
            require_pop: false,
            max_authorization_len: DEFAULT_MAX_AUTHORIZATION_LEN,
            refetch: Vec::new(),
            refetch_timeout: DEFAULT_REFETCH_TIMEOUT,
            #[cfg(feature = "remote")]
            trust: None,
        }
    }

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

    /// The scope named in the challenge of a request that carries no
    /// passport (`scope="…"` beside `resource_metadata`): what a client
    /// should ask for first. The MCP authorization specification's clients
    /// prefer it to the metadata's `scopes_supported`, which lists every
    /// tool's scope. A space-separated list of scope tokens
    /// (RFC 6749 §3.3); anything else is refused by
    /// [`build`](Self::build). Default: none.
    pub fn challenge_scope(mut self, scope: impl Into<String>) -> Self {
        self.challenge_scope = Some(scope.into());
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

    /// Adds a [`Refetch`] (a remote key store, a status list refresher):
    /// when the verifier refuses a request's bundle for want of something
    /// one of them can fetch (an `unknown_kid`, a `status_unavailable`),
    /// the layer awaits that work and verifies the request once more — at
    /// most one retry per request, the request's one audit record being the
    /// final decision. Call it once per source; the work of several runs
    /// concurrently, bounded by [`PassportAuthBuilder::refetch_timeout`].
    ///
    /// The wait uses tokio's timer: the layer's service must run on a
    /// tokio runtime with time enabled (hyper's and axum's servers do).
    pub fn refetch(mut self, refetch: impl Refetch + 'static) -> Self {
        self.refetch.push(Arc::new(refetch));
        self
    }

    /// How long a request waits at most for the refetch work before its
    /// first refusal stands (default [`DEFAULT_REFETCH_TIMEOUT`]).
    pub fn refetch_timeout(mut self, timeout: Duration) -> Self {
        self.refetch_timeout = timeout;
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
        if let Some(scope) = &self.challenge_scope
            && !passport_claims::scope::is_oauth_scope(scope)
        {
            // written unescaped into a header value
            return Err(AuthError::InvalidConfig(format!(
                "challenge_scope {scope:?} is not a space-separated list of scope tokens"
            )));
        }
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
                challenge_scope: self.challenge_scope,
                dpop_algs: dpop_algs.join(" "),
                require_pop,
                max_authorization_len,
                refetch: self.refetch,
                refetch_timeout: self.refetch_timeout,
                #[cfg(feature = "remote")]
                trust: self.trust,
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
