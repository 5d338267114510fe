//! The agent's side of Agent Passport: an HTTP client that presents a
//! passport. [`PassportMiddleware`] is
//! [reqwest-middleware](reqwest_middleware) that puts the bundle in
//! `Authorization` and a fresh DPoP proof on every attempt, remembers each
//! server's nonce and answers a nonce challenge once — only on requests to
//! the origin of the passport's `aud` (or origins allowed with
//! [`PassportClientBuilder::allow_origin`]); [`PassportClient`] is a ready
//! client with it. With feature `rmcp`, [`McpHttpClient`] lets an
//! rmcp client speak MCP over it. No server framework is compiled in.
//!
//! ```no_run
//! # async fn run(bundle: String, key: passport_dpop::DpopKey) -> Result<(), passport_agent::ClientError> {
//! use passport_agent::{Credentials, PassportClient};
//! use reqwest_middleware::{Middleware, Next};
//!
//! /// Another middleware: logs each attempt (never its headers: they hold
//! /// the passport and the proof).
//! struct LogAttempts;
//!
//! #[async_trait::async_trait]
//! impl Middleware for LogAttempts {
//!     async fn handle(
//!         &self,
//!         request: reqwest::Request,
//!         extensions: &mut http::Extensions,
//!         next: Next<'_>,
//!     ) -> reqwest_middleware::Result<reqwest::Response> {
//!         eprintln!("{} {}", request.method(), request.url());
//!         next.run(request, extensions).await
//!     }
//! }
//!
//! // The passport bundle and the key its leaf is bound to (`cnf.jkt`).
//! let client = PassportClient::builder(Credentials::new(bundle, Some(key)))
//!     .outer(LogAttempts) // runs before the passport middleware
//!     .build();
//! let report = client.get("https://files.example/reports/q3").await?;
//! match report.status().as_u16() {
//!     200 => println!("{}", report.text().await.map_err(passport_agent::ClientError::from)?),
//!     // `WWW-Authenticate: DPoP …, error="insufficient_scope", scope="…"`
//!     403 => eprintln!("this passport does not cover the report"),
//!     other => eprintln!("refused: {other}"),
//! }
//! # Ok(()) }
//! ```
//!
//! Where the bundle comes from is a [`CredentialSource`]: a fixed
//! [`Credentials`], or a source that renews passports before they expire.
//!
//! ## Obtaining passports
//!
//! [`TokenService`] is the client of the token service (passport-server, or
//! any OAuth 2.1 authorization server minting passports), discovered by its
//! issuer URL: [`TokenService::client_credentials`] for a workload,
//! [`TokenService::exchange`] (RFC 8693) for a sub-agent's narrower,
//! DPoP-bound child, [`TokenService::authorization_code`] (PKCE, `state`,
//! RFC 9207 `iss`) through a [`UserAgent`] such as [`LoopbackUserAgent`]
//! for a person's agent, and [`TokenService::refresh`]. [`ServicePassport`]
//! turns that into a [`CredentialSource`] that renews the passport and
//! steps up on `insufficient_scope`:
//!
//! ```no_run
//! # async fn run(secret: String) -> Result<(), passport_agent::ClientError> {
//! use passport_agent::{
//!     ClientSecret, OAuthClient, PassportClient, PassportRequest, ServicePassport, TokenService,
//! };
//!
//! let me = OAuthClient::with_secret("workload-reports", ClientSecret::new(secret));
//! let service = TokenService::discover("https://auth.example", me).await?;
//! let key = passport_dpop::DpopKey::generate(passport_jose::Algorithm::ES256)?;
//! let request = PassportRequest::new("https://files.example").scope("files:read").dpop_key(key);
//! let passport = ServicePassport::client_credentials(service, request).await?;
//! let client = PassportClient::builder(passport).build();
//! // A 403 `insufficient_scope, scope="files:write"` here makes the source
//! // ask for files:read files:write, and the request is sent once more.
//! let uploaded = client.post_json("https://files.example/upload", &"…").await?;
//! # let _ = uploaded; Ok(()) }
//! ```
//!
//! [`RotatingPassport`] is a rotating cache for a workload: it replaces
//! the passport a margin before it expires, with one request in flight
//! however many tasks ask, backs off on failure, and names the predecessor
//! so the server marks it ROTATED.
//!
//! See the [workspace README](https://github.com/agent-passport/agent-passport-rs)
//! and `docs/design.md` ("passport-agent").
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod challenge;
mod client;
mod credentials;
mod error;
#[cfg(feature = "rmcp")]
mod mcp;
mod middleware;
mod rotating;
mod service_passport;
mod token_service;
mod user_agent;

pub use client::{PassportClient, PassportClientBuilder};
pub use credentials::{CredentialSource, Credentials, CredentialsFuture};
pub use error::ClientError;
#[cfg(feature = "rmcp")]
pub use mcp::McpHttpClient;
pub use middleware::PassportMiddleware;
pub use rotating::{CachedPassport, RotatingPassport, RotatingPassportBuilder, RotationMargin};
pub use service_passport::ServicePassport;
pub use token_service::{
    ClientSecret, OAuthClient, PassportRequest, RefreshToken, ServerMetadata, TokenResponse,
    TokenService, TokenServiceBuilder,
};
pub use user_agent::{AuthorizationRequest, AuthorizationResponse, LoopbackUserAgent, UserAgent};
