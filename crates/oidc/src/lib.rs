//! # passport-oidc
//!
//! The OpenID Connect side of Agent Passport: a principal signs in once with
//! any OIDC provider, and the ID token it gets is turned into an
//! [`IdentityAssertion`](passport_claims::IdentityAssertion) (issuer, subject,
//! audience, `acr`, NIST SP 800-63-3 IAL/AAL/FAL) that the issuer mints a root
//! passport from.
//!
//! - [Configuration](OidcConfig): from code or from the `CSP_*` variables of
//!   csp-agent-passport ([`OidcConfig::from_env`]).
//! - [Discovery](ProviderMetadata): OpenID Connect Discovery 1.0; the
//!   document's `issuer` must equal the expected issuer; required fields
//!   checked; cached for [`OidcConfig::discovery_ttl`], never fetched per
//!   token. No endpoint is hard-coded.
//! - [`Provider`]: the discovery and JWKS caches and
//!   [`Provider::validate_id_token`] (OpenID Connect Core §3.1.3.7).
//! - [`AcrMapping`]: `acr`/`amr` → levels; [`NistIalMapping`] (the default)
//!   and [`TableMapping`] (TOML or JSON tables).
//! - [`login`]: authorization code + PKCE S256 on a loopback redirect. The
//!   OAuth messages (authorization URL, client authentication, code exchange,
//!   token response) are built and parsed by the `oauth2` crate, on this
//!   crate's reqwest client with its timeouts and response-size cap; `state`,
//!   the RFC 9207 `iss` parameter, the loopback listener and the ID token are
//!   checked here.
//! - [`PendingLogin`]: the same flow for a server acting as the provider's
//!   relying party on a callback route of its own (passport-server's
//!   `/authorize`); [`login`] is built on it.
//!
//! All signature work goes through `passport-jose`, the workspace's only
//! crypto crate; this crate adds HTTP (reqwest with rustls) and the protocol.
//! (`oauth2` computes the PKCE S256 challenge with `sha2`; it is the same
//! value, and the crate signs and verifies nothing.)
//!
//! ## Validating an ID token
//!
//! This example runs against the in-process mock provider; against a real
//! provider only the configuration differs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), passport_oidc::OidcError> {
//! use passport_claims::Level;
//! use passport_mock_oidc::MockOidc;
//! use passport_oidc::{OidcConfig, Provider};
//!
//! let mock = MockOidc::start().await;
//! let config = OidcConfig::new(mock.discovery_url(), mock.client_id());
//! let provider = Provider::new(config)?;
//!
//! let mut claims = mock.default_claims();
//! claims["acr"] = "http://idmanagement.gov/ns/assurance/ial/2".into();
//! let id_token = mock.mint_id_token(claims);
//!
//! let identity = provider.validate_id_token(&id_token, None).await?;
//! assert_eq!(identity.subject, "alice");
//! assert_eq!(identity.issuer, mock.issuer());
//! assert_eq!(identity.assurance.ial, Some(Level::TWO));
//!
//! // A token for another client is refused with a typed error.
//! let mut foreign = mock.default_claims();
//! foreign["aud"] = "someone-else".into();
//! let err = provider.validate_id_token(&mock.mint_id_token(foreign), None).await.unwrap_err();
//! assert_eq!(err.code(), "id_token_audience_mismatch");
//! # Ok(()) }
//! ```
//!
//! ## Running the login
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), passport_oidc::OidcError> {
//! use std::time::Duration;
//! use passport_oidc::{LoginOptions, OidcConfig, Provider, login};
//!
//! // CSP_DISCOVERY_URL, CSP_CLIENT_ID, CSP_REDIRECT_URI, CSP_SCOPES, CSP_ACR_MAPPING, …
//! let config = OidcConfig::from_env(|name| std::env::var(name).ok())?;
//! let provider = Provider::new(config)?;
//! let options = LoginOptions::new()
//!     .open_browser(true)
//!     .timeout(Duration::from_secs(300))
//!     .url_sink(|url| eprintln!("Open this URL to log in:\n  {url}"));
//! let result = login(&provider, options).await?;
//! println!("logged in as {} ({})", result.assertion.subject, result.assertion.assurance);
//! let id_token: &str = result.id_token.as_str(); // store it for `passport issue`
//! # let _ = id_token; Ok(()) }
//! ```
//!
//! ## What is refused, and why
//!
//! | attack or mistake | defence | error code |
//! |---|---|---|
//! | `alg: none`, HMAC with the public key as secret, embedded `jwk`/`jku`/`x5c` | `passport-jose` strict parsing; keys only from the provider's JWKS | `alg_none`, `unsupported_alg`, `forbidden_header` |
//! | an access token (`at+jwt`) or logout token (`logout+jwt`) presented as an ID token | only untyped (`JWT`) tokens are ID tokens | `invalid_typ` |
//! | an algorithm outside the allow-list, or not the key's algorithm | [`OidcConfig::allowed_algorithms`]; the key is resolved first | `alg_not_allowed`, `alg_key_mismatch` |
//! | a token from another provider, or a discovery document naming another issuer | exact `iss`/`issuer` comparison | `issuer_mismatch` |
//! | a token for another client | `aud` must contain the client id; `azp` required with several audiences | `id_token_audience_mismatch`, `id_token_missing_claim`, `azp_mismatch` |
//! | replayed or stale tokens | `exp`, `nbf`, `iat` with at most 120 s skew; `nonce` checked at login | `id_token_expired`, `id_token_not_yet_valid`, `nonce_mismatch` |
//! | random `kid`s to make us hammer the provider | one JWKS refetch per [`OidcConfig::jwks_refetch_cooldown`] (the keys are a `passport_remote::RemoteKeys` store) | `unknown_kid` |
//! | no `kid` while several keys are published | never guess among keys | `ambiguous_key` |
//! | login CSRF, code injection, mix-up | `state`, PKCE S256, RFC 9207 `iss` | `state_mismatch`, `issuer_mismatch` |
//! | an `acr` nobody mapped | no guessing: the mapping must know it | `unsupported_acr` |
//! | oversized responses | bodies capped at [`MAX_RESPONSE_BYTES`] | `discovery_failed`, `jwks_failed`, `token_exchange_failed` |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod acr;
mod callback;
mod config;
mod discovery;
mod error;
mod id_token;
mod login;
mod pkce;
mod provider;

pub use acr::{AcrMapping, MAX_TABLE_BYTES, NistIalMapping, TableMapping, acr_mapping_from_spec};
pub use callback::check_authorization_response;
pub use config::{
    ClientSecret, DEFAULT_CLOCK_SKEW, DEFAULT_REDIRECT_URI, MAX_CLOCK_SKEW, OidcConfig,
};
pub use discovery::{ProviderMetadata, WELL_KNOWN_SUFFIX};
pub use error::OidcError;
pub use login::loopback::{Callback as LoopbackCallback, LoopbackListener, LoopbackRedirect};
pub use login::{
    AccessToken, DEFAULT_LOGIN_TIMEOUT, IdToken, LoginOptions, LoginResult, PendingLogin, login,
};
pub use pkce::PkceVerifier;
pub use provider::{MAX_RESPONSE_BYTES, Provider};
