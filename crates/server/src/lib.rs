//! # passport-server
//!
//! Agent Passport's OAuth 2.1 authorization server (SPEC §7, issue 13),
//! started by `passport serve`. [`Server`] serves, so far: the RFC 8414
//! metadata (advertising only what is implemented), the JWKS, the signed
//! Token Status List built from its registry, `/token` with
//! `client_credentials` for workload clients ([`Server::register_workload_client`]),
//! DPoP-bound on request, RFC 8693 token exchange of a passport for a
//! delegated child, `/introspect` (RFC 7662) and `/revoke` (RFC 7009,
//! cascading), `/register` (RFC 7591) and client ID metadata documents
//! (clients authenticate with `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt` (RFC 7523) or, public ones, `none`), and — with an
//! upstream OpenID provider ([`ServerBuilder::upstream`]) — `/authorize`:
//! the principal logs in upstream, approves on a consent page, and the
//! client gets a code, which `/token` redeems once (`authorization_code`,
//! PKCE S256) for a passport and a refresh token rotated on every use
//! (`refresh_token`). Its state is a `passport_store::server::Database`
//! (SQLite, or PostgreSQL with feature `postgres`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use passport_server::Server;
//! use passport_store::server::Database;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let issuer = format!("http://{}", listener.local_addr()?);
//! let db = Database::open("/var/lib/passport/server.db", 1_700_000_000).await?;
//! let server = Server::builder(&issuer, db).build().await?;
//! println!("{}", server.issuer());
//! server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The protocol core the endpoints stand on: pure, separately tested modules.
//!
//! | module | standard | what it does |
//! |---|---|---|
//! | [`metadata`] | RFC 8414 | issuer validation, the metadata document, the well-known URLs |
//! | [`pkce`] | RFC 7636 | S256 only, verifier syntax, constant-time check |
//! | [`client_auth`] | RFC 6749 §2.3, RFC 7523 | Basic, post, `private_key_jwt`, `none`; hashed 256-bit secrets |
//! | [`client_metadata`] | draft-ietf-oauth-client-id-metadata-document | fetching a client's metadata document behind SSRF defences |
//! | [`authorize`] | RFC 6749 §4.1, RFC 8707, RFC 9207 | validation of an authorization request |
//! | [`rate_limit`] | — | token buckets per client and per address |
//! | [`client_address`] | — | a request's address behind trusted reverse proxies (`X-Forwarded-For`) |
//! | [`token_request`] | RFC 6749 §4–6, RFC 8693 | strict parsing of token endpoint bodies |
//! | [`form`] | RFC 6749 §3 | form bodies with each parameter at most once |
//!
//! Every refusal is a typed error with a stable `code()` and an
//! [`OAuthError`] (the RFC 6749 `error`, status and headers).
//!
//! ```
//! use passport_server::metadata::{Issuer, MetadataOptions, ServerMetadata};
//! use passport_server::pkce::CodeChallenge;
//!
//! let issuer = Issuer::new("http://127.0.0.1:8080")?;
//! let metadata = ServerMetadata::new(&issuer, &MetadataOptions::default());
//! assert_eq!(metadata.issuer, "http://127.0.0.1:8080");
//!
//! let err = CodeChallenge::from_request(Some("x"), Some("plain")).unwrap_err();
//! assert_eq!(err.oauth().error, "invalid_request");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod active_cache;
pub mod authorize;
pub mod client_address;
pub mod client_auth;
pub mod client_metadata;
mod connections;
mod endpoints;
pub mod form;
#[doc(hidden)]
pub mod fuzzing;
mod governance;
mod grant;
mod key_reloads;
mod keys;
mod lru;
pub mod metadata;
mod oauth;
pub mod pkce;
pub mod rate_limit;
mod service;
mod status_pool;
pub mod token_request;

pub use keys::{KEY_RELOAD_INTERVAL, KEY_ROTATION_DELAY, ScheduledKey, rotate_signing_key};
pub use oauth::{OAuthError, codes};
pub use service::DEFAULT_REFRESH_GRANT_MAX_LIFETIME;
pub use service::{
    DEFAULT_ADMIN_RATE, DEFAULT_AUTHORIZE_RATE, DEFAULT_INTROSPECTION_RATE,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_PASSPORT_TTL,
    DEFAULT_REFRESH_TTL, DEFAULT_REGISTRATION_RATE, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_REVOCATION_RATE, DEFAULT_STATUS_TTL, DEFAULT_TOKEN_RATE, Server, ServerBuilder,
    ServerError, WorkloadClient,
};
pub use service::{DEFAULT_POLICY_RELOAD_INTERVAL, PolicyError, PolicyStatus, SHUTDOWN_GRACE};
