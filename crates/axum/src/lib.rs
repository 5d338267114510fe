//! # passport-axum
//!
//! Protects an axum HTTP server with Agent Passports. The protocol lives in
//! [passport-tower](passport_tower) (a tower layer over the `http` crate's
//! types, for any tower server); this crate is its axum face: it turns on
//! passport-tower's `axum` feature and re-exports its API, so every path
//! below is also `passport_tower::…`.
//!
//! - [`PassportAuth`]: the shared state — one [`Verifier`](passport_verifier::Verifier)
//!   (ancestor cache, status sources, audit), an optional
//!   [`DpopVerifier`](passport_dpop::DpopVerifier) (replay cache, nonces),
//!   the RFC 9728 metadata and the public base URL;
//! - [`PassportLayer`]: a tower layer that reads `Authorization: Bearer
//!   <bundle>` or `Authorization: DPoP <bundle>` and the `DPoP` proof,
//!   verifies them (asking the [`Refetch`](passport_verifier::Refetch)es
//!   given to [`PassportAuthBuilder::refetch`] for a missing key or status
//!   list, then verifying once more), checks the route's [`Requirements`]
//!   and hands the handler a [`Passport`] (an extractor that dereferences
//!   to the [`VerifiedPassport`](passport_verifier::VerifiedPassport));
//! - refusals as RFC 6750 §3 / RFC 9449 §7.1 challenges ([`Rejection`]);
//! - [`PassportAuth::metadata_router`]: the RFC 9728 document at
//!   `/.well-known/oauth-protected-resource`;
//!
//! The agent's side (the bundle and a fresh DPoP proof on every request) is
//! `passport-agent`, which does not depend on axum.
//!
//! A passport bound to a key (`cnf.jkt`) is only accepted with the `DPoP`
//! scheme and a valid proof by that key for this method and URL, with `ath`
//! over the presented bundle; presented as `Bearer` it is refused (RFC 9449
//! §7.1). Where proof of possession is required, bearer passports are
//! refused.
//!
//! ## Protecting routes
//!
//! ```
//! use std::sync::Arc;
//!
//! use axum::{Router, routing::{get, post}};
//! use passport_axum::{Passport, PassportAuth, Rejection, Requirements};
//! use passport_claims::SystemClock;
//! use passport_dpop::{DpopPolicy, DpopVerifier};
//! use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
//!
//! async fn list_files(passport: Passport) -> String {
//!     format!("files of {} for {}", passport.principal(), passport.agent_id())
//! }
//!
//! async fn delete_file(passport: Passport) -> Result<&'static str, Rejection> {
//!     // A check inside the handler answers exactly like the layer would.
//!     passport.require_scope("files:delete")?;
//!     Ok("deleted")
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The issuer's public keys (from its JWKS) go in the key store, under
//! // that issuer: a key of one issuer never verifies another's passports.
//! let keys = InMemoryKeyStore::new();
//! let policy = VerificationPolicy::new("https://issuer.local", "https://files.example");
//! let verifier = Arc::new(Verifier::new(policy, keys)?);
//!
//! let auth = PassportAuth::builder(verifier)
//!     // Accept DPoP-bound passports (omit for bearer-only servers).
//!     .dpop(DpopVerifier::new(DpopPolicy::default(), Arc::new(SystemClock)))
//!     .scopes_supported(["files:read", "files:delete", "mcp:tools"])
//!     .build()?;
//!
//! // Per-route requirements with `route_layer`.
//! let files = Router::new()
//!     .route("/files", get(list_files))
//!     .route_layer(auth.require(Requirements::scope("files:read")))
//!     .route("/files/delete", post(delete_file));
//!
//! // A whole service under a path (an MCP server's streamable HTTP service,
//! // for example): the layer wraps it; `htu` uses the full path.
//! let mcp_service = Router::new().route("/", post(|| async { "{}" }));
//!
//! let app: Router = Router::new()
//!     .merge(files)
//!     .nest_service("/mcp", mcp_service)
//!     // Every route above needs a valid passport; the route layers above
//!     // then only check their own requirements.
//!     .layer(auth.layer())
//!     // Added after `.layer`, so the metadata document is public.
//!     .merge(auth.metadata_router());
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! ## Refusals and the audit trail
//!
//! Refusals answer as RFC 6750 §3 / RFC 9449 §7.1 challenges (401, 403
//! `insufficient_scope` naming the scope, 503 when the revocation status
//! cannot be established, …), and each request that presents a passport
//! leaves exactly one audit record of its final decision: see
//! [passport-tower's table](passport_tower#refusals) and [`Passport`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use passport_tower::{
    AuthError, DEFAULT_MAX_AUTHORIZATION_LEN, DEFAULT_REFETCH_TIMEOUT, Level, METADATA_PATH,
    Passport, PassportAuth, PassportAuthBuilder, PassportLayer, PassportService, Rejection,
    Requirements, ResourceMetadata, ResponseFuture, Scheme,
};
