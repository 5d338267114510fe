//! # passport-axum
//!
//! Protects an axum (or any tower) HTTP server with Agent Passports:
//!
//! - [`PassportAuth`]: the shared state — one [`Verifier`](passport_verifier::Verifier)
//!   (ancestor cache, status sources, audit), an optional
//!   [`DpopVerifier`](passport_dpop::DpopVerifier) (replay cache, nonces),
//!   the RFC 9728 metadata and the public base URL;
//! - [`PassportLayer`]: a tower layer that reads `Authorization: Bearer
//!   <bundle>` or `Authorization: DPoP <bundle>` and the `DPoP` proof,
//!   verifies them, checks the route's [`Requirements`] and hands the
//!   handler a [`Passport`] (an extractor that dereferences to the
//!   [`VerifiedPassport`](passport_verifier::VerifiedPassport));
//! - refusals as RFC 6750 §3 / RFC 9449 §7.1 challenges ([`Rejection`]);
//! - [`PassportAuth::metadata_router`]: the RFC 9728 document at
//!   `/.well-known/oauth-protected-resource`;
//! - [`PassportClient`] (feature `client`, on by default): the agent's side,
//!   a reqwest helper that attaches the bundle and a fresh DPoP proof.
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
//! ## Refusals
//!
//! | situation | status | challenge `error` | `error_description` |
//! |---|---|---|---|
//! | no `Authorization`, or another scheme (`Basic …`) | 401 | none (RFC 6750 §3.1) | — (body: `missing_credentials` / `unsupported_scheme`) |
//! | two `Authorization` headers, no token, not token68, not ASCII | 400 | `invalid_request` | `multiple_authorization_headers`, `malformed_authorization` |
//! | `DPoP` scheme without a `DPoP` header, or with two | 400 | `invalid_request` | `missing_dpop_proof`, `multiple_dpop_proofs` |
//! | header over the limit (64 KiB by default) | 401 | `invalid_token` | `token_too_large` |
//! | bundle refused by the verifier | 401 | `invalid_token` | the verifier's code (`audience_mismatch`, `expired`, `revoked`, …) |
//! | bound passport sent as `Bearer`; `DPoP` with an unbound one; bearer where possession is required | 401 | `invalid_token` | `dpop_bound_token_as_bearer`, `token_not_bound`, `pop_required` |
//! | proof by another key than `cnf.jkt` | 401 | `invalid_token` | `dpop_key_mismatch` |
//! | proof refused | 401 | `invalid_dpop_proof` | the DPoP code (`replay`, `htu_mismatch`, `htm_mismatch`, `dpop_iat_too_old`, …) |
//! | server nonce missing or stale | 401 | `use_dpop_nonce` + `DPoP-Nonce` header | `use_dpop_nonce` |
//! | assurance below a floor | 401 | `insufficient_user_authentication` (RFC 9470) | `insufficient_ial` / `_aal` / `_fal` |
//! | scope not covered | 403 | `insufficient_scope` + `scope="<missing>"` | `scope_violation` |
//! | this proof key holds its whole share of the replay cache (it floods the server with proofs) | 429 + `Retry-After` | no challenge (body: `replay_quota_exceeded`) | `replay_quota_exceeded` |
//! | revocation status unknown, audit sink down, replay cache full or down | 503 | no challenge (body: `temporarily_unavailable`) | `status_unavailable`, `audit_failed`, `replay_cache_full`, … |
//! | [`Passport`] extractor on a route without the layer | 500 | no challenge (body: `server_error`) | `passport_layer_missing` |
//!
//! Every 400/401/403 carries `WWW-Authenticate: Bearer realm="…", …,
//! resource_metadata="…"` and, when DPoP is enabled, `DPoP realm="…",
//! algs="ES256 EdDSA Ed25519", …` (the Bearer challenge is left out where
//! proof of possession is required); the error parameters go in the
//! challenge of the scheme the client used. The body is
//! `{"error": …, "error_description": <code>}` (plus `scope` on 403).
//!
//! **One audit record per request, of its final decision.** With an audit
//! sink on the verifier, each request that presents a passport leaves
//! exactly one record: the refusal with its code (whichever layer refused,
//! including a route layer's 403), or `accepted` once the layers let it
//! through — written before the handler runs, so an acceptance that cannot
//! be recorded is answered 503 `audit_failed`. The bundle verifying is not
//! an acceptance: a bound bundle whose proof fails is recorded as refused,
//! so whoever holds a stolen bundle without its key cannot write
//! `accepted` records. See [`Passport`] for when exactly it is written.
//!
//! **Status source unavailable → 503, not 401.** The verifier refuses a
//! passport whose revocation status it cannot establish (fail closed); that
//! is the server's condition, not a fault of the passport. A 401
//! `invalid_token` would tell every agent to throw its passport away and
//! get a new one (a re-issuance storm during a status-list outage, and the
//! new passports fail the same way); 503 says "try again later" and the
//! request is still refused.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod builder;
#[cfg(feature = "client")]
mod client;
mod credentials;
mod error;
mod extract;
mod layer;
mod metadata;
mod rejection;
mod requirements;

pub use auth::PassportAuth;
pub use builder::{DEFAULT_MAX_AUTHORIZATION_LEN, METADATA_PATH, PassportAuthBuilder};
#[cfg(feature = "client")]
pub use client::{ClientError, PassportClient};
pub use credentials::Scheme;
pub use error::AuthError;
pub use extract::Passport;
pub use layer::{PassportLayer, PassportService, ResponseFuture};
pub use metadata::ResourceMetadata;
pub use rejection::Rejection;
pub use requirements::Requirements;

/// Re-exported for [`Requirements`]' assurance floors.
pub use passport_claims::Level;
