//! The provider client: cached discovery, cached JWKS, ID-token validation.

use std::sync::Arc;

use passport_claims::{Clock, IdentityAssertion, SystemClock};
use passport_jose::{CompactJws, VerifyOptions, VerifyingKey};
use passport_remote::RemoteKeys;
use passport_verifier::KeyStore as _;
use tokio::sync::Mutex;

use crate::discovery::ProviderMetadata;
use crate::error::truncate;
use crate::id_token::{ClaimRules, check_claims};
use crate::{OidcConfig, OidcError};

/// The largest discovery, JWKS or token-endpoint response read, in bytes.
/// A provider (or whoever answers in its place) cannot make us buffer more.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// One OIDC provider, as seen by one client.
///
/// Construct once and share (it is `Send + Sync`; wrap it in an `Arc`). It
/// fetches the discovery document lazily and reuses it for
/// [`OidcConfig::discovery_ttl`]. Its keys are a [`RemoteKeys`] store of the
/// provider's `jwks_uri`, built on first use: refreshed in the background
/// within the HTTP cache headers, and fetched again when a token names an
/// unknown `kid` only if the last fetch is at least
/// [`OidcConfig::jwks_refetch_cooldown`] old — so a stream of tokens with
/// random `kid`s costs the provider at most one request per cooldown, while
/// a key rotation is picked up without a restart.
#[derive(Debug)]
pub struct Provider {
    config: OidcConfig,
    expected_issuer: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    discovery: Mutex<Option<CachedDiscovery>>,
    jwks: Mutex<JwksState>,
}

#[derive(Debug)]
struct CachedDiscovery {
    metadata: Arc<ProviderMetadata>,
    fetched_at: i64,
}

/// The provider's keys: they belong to this provider's issuer alone, and
/// are looked up by (issuer, `kid`).
#[derive(Debug, Default)]
struct JwksState {
    issuer: String,
    uri: String,
    keys: Option<RemoteKeys>,
    last_attempt: Option<i64>,
}

impl Provider {
    /// A provider client on the system clock.
    pub fn new(config: OidcConfig) -> Result<Provider, OidcError> {
        Provider::with_clock(config, Arc::new(SystemClock))
    }

    /// A provider client on `clock` (tests pass a
    /// [`passport_claims::ManualClock`]).
    pub fn with_clock(config: OidcConfig, clock: Arc<dyn Clock>) -> Result<Provider, OidcError> {
        config.check()?;
        let expected_issuer = config.expected_issuer()?;
        // Discovery, JWKS and token responses are never redirects; not
        // following them keeps every request on the configured origin. A
        // plain-http (loopback) provider is never reached through a proxy.
        let http = passport_remote::http_client(config.http_timeout)
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(Provider {
            config,
            expected_issuer,
            http,
            clock,
            discovery: Mutex::new(None),
            jwks: Mutex::new(JwksState::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The issuer every document and token must name.
    pub fn expected_issuer(&self) -> &str {
        &self.expected_issuer
    }

    /// The clock used for token times and cache ages.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The provider metadata, from the cache when it is younger than the TTL.
    pub async fn metadata(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        let mut cached = self.discovery.lock().await;
        let now = self.clock.now();
        let ttl = secs(self.config.discovery_ttl);
        if let Some(c) = cached.as_ref()
            && now >= c.fetched_at
            && now - c.fetched_at < ttl
        {
            return Ok(Arc::clone(&c.metadata));
        }
        let body = self
            .get_bounded(&self.config.discovery_url)
            .await
            .map_err(OidcError::DiscoveryFailed)?;
        let metadata = Arc::new(ProviderMetadata::from_json(&body, &self.expected_issuer)?);
        *cached = Some(CachedDiscovery {
            metadata: Arc::clone(&metadata),
            fetched_at: now,
        });
        Ok(metadata)
    }

    /// Validates an ID token per OpenID Connect Core §3.1.3.7 and returns the
    /// identity it asserts, with levels from the configured [`crate::AcrMapping`].
    ///
    /// `expected_nonce` is the `nonce` sent in the authorization request; when
    /// given, the token must carry exactly it. Pass `None` for a token whose
    /// request is not known (a stored or pasted token).
    ///
    /// Checks, in order: the compact JWS structure and header (no `none`, no
    /// HMAC, no embedded keys), the algorithm allow-list, the type (none or
    /// `JWT`: an `at+jwt` or `logout+jwt` is not an ID token), the key (by `kid`;
    /// without `kid` only when the JWKS holds exactly one key), the key's
    /// algorithm against the header's, the signature, then `iss`, `aud`,
    /// `azp`, `exp`, `nbf`, `iat`, `sub`, `nonce`, `acr`/`amr`.
    pub async fn validate_id_token(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<IdentityAssertion, OidcError> {
        let client_id = self.config.client_id.clone();
        self.validate_id_token_for(token, expected_nonce, &client_id)
            .await
    }

    /// [`Provider::validate_id_token`] for another client of the same
    /// provider: `aud` must hold `client_id` (and `azp`, when present or
    /// with several audiences, be it) instead of the configured client's.
    /// For a relying party with two registrations whose ID tokens must not
    /// stand in for each other (passport-server's administrators present
    /// ID tokens issued to its admin client, never those a user hands an
    /// agent). Every other check is the same.
    ///
    /// ```no_run
    /// # async fn run(provider: passport_oidc::Provider, token: &str) -> Result<(), passport_oidc::OidcError> {
    /// let admin = provider.validate_id_token_for(token, None, "passport-admin").await?;
    /// println!("administrator {}", admin.subject);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Provider::validate_id_token`]; `aud`/`azp` against `client_id`.
    pub async fn validate_id_token_for(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
        client_id: &str,
    ) -> Result<IdentityAssertion, OidcError> {
        let jws = CompactJws::parse(token)?;
        let alg = jws.header().alg();
        if !self.config.allowed_algorithms.contains(&alg) {
            return Err(passport_jose::JoseError::AlgorithmNotAllowed {
                alg,
                allowed: self.config.allowed_algorithms.clone(),
            }
            .into());
        }
        // An ID token is untyped (no `typ`, or `JWT`). Any explicit type marks
        // another kind of JWT from the same provider (`at+jwt` access tokens,
        // `logout+jwt` logout tokens, …) that must not pass as an ID token
        // (RFC 8725 §3.11).
        if !jws.header().is_untyped() {
            return Err(passport_jose::JoseError::InvalidType {
                found: truncate(jws.header().typ().unwrap_or_default()),
                expected: "JWT".into(),
            }
            .into());
        }
        let metadata = self.metadata().await?;
        let key = self
            .key_for(&metadata.issuer, &metadata.jwks_uri, jws.header().kid())
            .await?;
        let options = VerifyOptions {
            algorithms: self.config.allowed_algorithms.clone(),
            typ: None,
            accept_untyped: true,
        };
        let payload = jws.verify(&key, &options)?;
        let claims = passport_jose::json::parse_object(payload, "payload")?;
        let rules = ClaimRules {
            issuer: &metadata.issuer,
            client_id,
            now: self.clock.now(),
            skew: secs(self.config.clock_skew),
            nonce: expected_nonce,
            acr_mapping: self.config.acr_mapping.as_ref(),
        };
        check_claims(claims, &rules)
    }

    /// The key of `issuer` for a token's `kid` (or the only key when there
    /// is no `kid`), from the provider's [`RemoteKeys`]: fetched when first
    /// needed, refreshed in the background within the HTTP cache headers,
    /// and refetched at most once per cooldown for an unknown `kid`. Keys are
    /// held per issuer: a JWKS fetched for one issuer is never asked about
    /// another (the issuer is the provider's own, checked against the
    /// configuration when discovery was fetched).
    async fn key_for(
        &self,
        issuer: &str,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> Result<VerifyingKey, OidcError> {
        if issuer != self.expected_issuer {
            return Err(OidcError::UnknownKid(truncate(kid.unwrap_or_default())));
        }
        let keys = self.remote_keys(issuer, jwks_uri).await?;
        let Some(kid) = kid else {
            let mut all = keys.keys_of(issuer);
            return match all.len() {
                1 => Ok(all.remove(0)),
                0 => Err(OidcError::JwksFailed("the JWKS holds no usable key".into())),
                n => Err(OidcError::AmbiguousKey(n)),
            };
        };
        if let Some(key) = keys.key(issuer, kid) {
            return Ok(key);
        }
        let Some(refetch) = keys.refetch_issuer(issuer) else {
            return Err(OidcError::UnknownKid(truncate(kid)));
        };
        refetch.await;
        if let Some(key) = keys.key(issuer, kid) {
            return Ok(key);
        }
        // The refetch failed: say why rather than blame the token.
        match keys.health().into_iter().find_map(|h| h.last_error) {
            Some(error) => Err(OidcError::JwksFailed(error.message)),
            None => Err(OidcError::UnknownKid(truncate(kid))),
        }
    }

    /// The key store of `issuer`'s `jwks_uri`, built (one fetch) on first
    /// use. A failed first fetch is retried at most once per cooldown.
    async fn remote_keys(&self, issuer: &str, jwks_uri: &str) -> Result<RemoteKeys, OidcError> {
        let mut state = self.jwks.lock().await;
        if state.issuer != issuer || state.uri != jwks_uri {
            *state = JwksState {
                issuer: issuer.to_owned(),
                uri: jwks_uri.to_owned(),
                ..JwksState::default()
            };
        }
        if let Some(keys) = &state.keys {
            return Ok(keys.clone());
        }
        let now = self.clock.now();
        let cooldown = secs(self.config.jwks_refetch_cooldown);
        // Counted before the request, so a failing provider is not retried
        // more often than a working one.
        if state
            .last_attempt
            .is_some_and(|t| now >= t && now - t < cooldown)
        {
            return Err(OidcError::JwksFailed(format!(
                "the last fetch failed; next attempt in at most {cooldown} s"
            )));
        }
        state.last_attempt = Some(now);
        let keys = RemoteKeys::builder()
            .trust_jwks(issuer, jwks_uri)
            .clock(Arc::clone(&self.clock))
            .http_client(self.http.clone())
            .unknown_kid_cooldown(self.config.jwks_refetch_cooldown)
            .max_response_bytes(MAX_RESPONSE_BYTES)
            .build()
            .await
            .map_err(|e| OidcError::JwksFailed(jwks_error(e)))?;
        state.keys = Some(keys.clone());
        Ok(keys)
    }

    /// GET `url`; the body when the status is 2xx and the body is at most
    /// [`MAX_RESPONSE_BYTES`] (redirects refused).
    async fn get_bounded(&self, url: &str) -> Result<Vec<u8>, String> {
        passport_remote::get_bounded(&self.http, url, MAX_RESPONSE_BYTES)
            .await
            .map(|(body, _)| body)
            .map_err(|e| e.to_string())
    }
}

/// Reads a response body of at most [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_bounded(response: reqwest::Response) -> Result<Vec<u8>, String> {
    passport_remote::read_bounded(response, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| e.to_string())
}

/// The message of a JWKS fetch error, without the "issuer …:" wrapper (the
/// provider has one issuer).
fn jwks_error(e: passport_remote::RemoteError) -> String {
    match e {
        passport_remote::RemoteError::Issuer { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
