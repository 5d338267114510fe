//! Provider configuration, from code or from the `CSP_*` environment.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use passport_jose::Algorithm;

use crate::acr::{AcrMapping, NistIalMapping, acr_mapping_from_spec};
use crate::error::truncate;
use crate::{OidcError, WELL_KNOWN_SUFFIX};

/// The redirect URI used when `CSP_REDIRECT_URI` is not set.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
/// The default clock skew tolerated on `exp`, `nbf` and `iat`.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(30);
/// The largest clock skew a configuration may set (SPEC §5 item 6).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(120);

/// A client secret. `Debug` prints `[redacted]`; the value is only reachable
/// through [`ClientSecret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> ClientSecret {
        ClientSecret(secret.into())
    }

    /// The secret itself, for the token request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// How to reach and trust one OIDC provider.
///
/// Build with [`OidcConfig::new`] (safe defaults, then adjust the public
/// fields) or [`OidcConfig::from_env`]. [`crate::Provider::new`] checks the
/// values (skew at most [`MAX_CLOCK_SKEW`], a non-empty algorithm list, and
/// the URLs: see [`OidcConfig::discovery_url`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OidcConfig {
    /// The discovery document's URL (`…/.well-known/openid-configuration`).
    /// It and the expected issuer must be https, or plain http on a loopback
    /// host (a development provider on this machine); when the issuer is
    /// https, so is this URL. Otherwise [`crate::Provider::new`] refuses
    /// with [`OidcError::InsecureUrl`] (`insecure_url`): whoever answers a
    /// plain-http discovery request chooses the token endpoint the client
    /// secret, the code and the PKCE verifier are sent to.
    pub discovery_url: String,
    /// The issuer the discovery document and every ID token must name. When
    /// `None`, the discovery URL without `/.well-known/openid-configuration`.
    /// Subject to the same rule as [`OidcConfig::discovery_url`].
    pub issuer: Option<String>,
    /// This client's id; every ID token's `aud` must contain it.
    pub client_id: String,
    /// The secret of a confidential client; `None` for a public client.
    pub client_secret: Option<ClientSecret>,
    /// The loopback redirect URI of the login flow.
    pub redirect_uri: String,
    /// The scopes requested at login (`openid` is always included).
    pub scopes: Vec<String>,
    /// The `acr`/`amr` → IAL/AAL/FAL mapping.
    pub acr_mapping: Arc<dyn AcrMapping>,
    /// Tolerance on `exp`, `nbf` and `iat` (default 30 s, at most 120 s).
    pub clock_skew: Duration,
    /// The signature algorithms accepted on ID tokens. `none` and HMAC cannot
    /// be expressed: [`Algorithm`] has no such variant.
    pub allowed_algorithms: Vec<Algorithm>,
    /// How long a discovery document is reused before it is fetched again.
    pub discovery_ttl: Duration,
    /// The least time between two JWKS fetches caused by unknown `kid`s.
    pub jwks_refetch_cooldown: Duration,
    /// The time limit of every HTTP request to the provider.
    pub http_timeout: Duration,
}

impl OidcConfig {
    /// A configuration with the defaults: redirect URI
    /// [`DEFAULT_REDIRECT_URI`], scope `openid`, the NIST mapping, 30 s skew,
    /// algorithms RS256, ES256, EdDSA and Ed25519, discovery cached for
    /// 5 minutes, JWKS refetch cooldown 30 s, HTTP timeout 10 s.
    pub fn new(discovery_url: impl Into<String>, client_id: impl Into<String>) -> OidcConfig {
        OidcConfig {
            discovery_url: discovery_url.into(),
            issuer: None,
            client_id: client_id.into(),
            client_secret: None,
            redirect_uri: DEFAULT_REDIRECT_URI.to_owned(),
            scopes: vec!["openid".to_owned()],
            acr_mapping: Arc::new(NistIalMapping),
            clock_skew: DEFAULT_CLOCK_SKEW,
            allowed_algorithms: vec![
                Algorithm::RS256,
                Algorithm::ES256,
                Algorithm::EdDSA,
                Algorithm::Ed25519,
            ],
            discovery_ttl: Duration::from_secs(300),
            jwks_refetch_cooldown: Duration::from_secs(30),
            http_timeout: Duration::from_secs(10),
        }
    }

    /// Reads the configuration through `lookup` (pass `|k| std::env::var(k).ok()`
    /// for the process environment; tests pass a map). Variables, with the
    /// names of csp-agent-passport:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CSP_DISCOVERY_URL` | discovery URL | required |
    /// | `CSP_CLIENT_ID` | client id | required |
    /// | `CSP_CLIENT_SECRET` | client secret | none (public client) |
    /// | `CSP_REDIRECT_URI` | loopback redirect URI | `http://127.0.0.1:8765/callback` |
    /// | `CSP_SCOPES` | space-separated scopes | `openid` |
    /// | `CSP_ACR_MAPPING` | `ial` or a TOML/JSON table path | `ial` |
    ///
    /// Empty values count as unset.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let env = HashMap::from([
    ///     ("CSP_DISCOVERY_URL", "https://idp.example/.well-known/openid-configuration"),
    ///     ("CSP_CLIENT_ID", "agent-passport"),
    ///     ("CSP_SCOPES", "openid email"),
    /// ]);
    /// let config = passport_oidc::OidcConfig::from_env(|k| env.get(k).map(|v| v.to_string()))?;
    /// assert_eq!(config.scopes, ["openid", "email"]);
    /// assert_eq!(config.expected_issuer()?, "https://idp.example");
    /// # Ok::<(), passport_oidc::OidcError>(())
    /// ```
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<OidcConfig, OidcError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required =
            |name: &str| get(name).ok_or_else(|| OidcError::Config(format!("{name} is not set")));
        let mut config =
            OidcConfig::new(required("CSP_DISCOVERY_URL")?, required("CSP_CLIENT_ID")?);
        config.client_secret = get("CSP_CLIENT_SECRET").map(ClientSecret::new);
        if let Some(redirect) = get("CSP_REDIRECT_URI") {
            config.redirect_uri = redirect;
        }
        if let Some(scopes) = get("CSP_SCOPES") {
            config.scopes = scopes.split_whitespace().map(str::to_owned).collect();
        }
        if let Some(spec) = get("CSP_ACR_MAPPING") {
            config.acr_mapping = acr_mapping_from_spec(&spec)?;
        }
        Ok(config)
    }

    /// The issuer every document and token must name: [`OidcConfig::issuer`],
    /// or the discovery URL without its `/.well-known/openid-configuration`.
    pub fn expected_issuer(&self) -> Result<String, OidcError> {
        if let Some(issuer) = &self.issuer {
            return Ok(issuer.clone());
        }
        self.discovery_url.strip_suffix(WELL_KNOWN_SUFFIX).map(str::to_owned).ok_or_else(|| {
            OidcError::Config(format!(
                "discovery URL {:?} does not end in {WELL_KNOWN_SUFFIX}; set the expected issuer explicitly",
                self.discovery_url
            ))
        })
    }

    /// The scopes to request: the configured ones, with `openid` first when
    /// it was left out (without it the provider sends no ID token).
    pub(crate) fn request_scopes(&self) -> Vec<String> {
        let mut scopes = Vec::with_capacity(self.scopes.len() + 1);
        if !self.scopes.iter().any(|s| s == "openid") {
            scopes.push("openid".to_owned());
        }
        scopes.extend(self.scopes.iter().cloned());
        scopes
    }

    pub(crate) fn check(&self) -> Result<(), OidcError> {
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(OidcError::Config(format!(
                "clock skew {} s is above the maximum of {} s",
                self.clock_skew.as_secs(),
                MAX_CLOCK_SKEW.as_secs()
            )));
        }
        if self.allowed_algorithms.is_empty() {
            return Err(OidcError::Config("allowed_algorithms is empty".into()));
        }
        if self.client_id.is_empty() {
            return Err(OidcError::Config("client id is empty".into()));
        }
        url::Url::parse(&self.discovery_url).map_err(|e| {
            OidcError::Config(format!("discovery URL {:?}: {e}", self.discovery_url))
        })?;
        // The discovery document names the token endpoint (which receives
        // the client secret, the code and the PKCE verifier) and the JWKS
        // (which decides the keys ID tokens are checked with); the
        // document's endpoints follow the issuer's scheme, so the issuer
        // and the document must both come over TLS — plain http only on
        // this machine, as passport-remote's trusted issuers.
        let issuer = self.expected_issuer()?;
        url_rule("issuer", &issuer, passport_remote::check_issuer(&issuer))?;
        url_rule(
            "discovery URL",
            &self.discovery_url,
            passport_remote::check_issuer(&self.discovery_url),
        )?;
        url_rule(
            "discovery URL",
            &self.discovery_url,
            passport_remote::check_endpoint(&issuer, &self.discovery_url),
        )?;
        Ok(())
    }
}

/// The expected issuer may be used: https, or plain http on a loopback host
/// ([`passport_remote::check_issuer`]).
pub(crate) fn check_issuer(issuer: &str) -> Result<(), OidcError> {
    url_rule("issuer", issuer, passport_remote::check_issuer(issuer))
}

/// `checked`, passport-remote's verdict on `url`, as this crate's error.
fn url_rule(
    what: &'static str,
    url: &str,
    checked: Result<(), passport_remote::RemoteError>,
) -> Result<(), OidcError> {
    checked.map_err(|e| match e {
        passport_remote::RemoteError::InsecureUrl { reason, .. } => OidcError::InsecureUrl {
            what,
            url: truncate(url),
            reason,
        },
        e => OidcError::Config(format!("{what} {:?}: {e}", truncate(url))),
    })
}
