//! # passport-tower
//!
//! Protects any tower HTTP server (hyper, axum, tonic's HTTP side, …)
//! with Agent Passports, over the `http` crate's request and response
//! types — no web framework needed:
//!
//! - [`PassportAuth`]: the shared state — one [`Verifier`](passport_verifier::Verifier)
//!   (ancestor cache, status sources, audit), an optional
//!   [`DpopVerifier`](passport_dpop::DpopVerifier) (replay cache, nonces),
//!   the RFC 9728 metadata, the public base URL and the
//!   [`Refetch`](passport_verifier::Refetch)es to try when a verification
//!   fails for want of a key or a status list;
//! - [`PassportLayer`]: a tower layer that reads `Authorization: Bearer
//!   <bundle>` or `Authorization: DPoP <bundle>` and the `DPoP` proof,
//!   verifies them, checks the route's [`Requirements`] and puts a
//!   [`Passport`] (which dereferences to the
//!   [`VerifiedPassport`](passport_verifier::VerifiedPassport)) in the
//!   request's extensions;
//! - refusals as RFC 6750 §3 / RFC 9449 §7.1 challenges ([`Rejection`]).
//!
//! A refusal is answered without reading the request's body: an
//! unauthenticated client cannot make the server read (or wait for)
//! anything. hyper then closes the connection if the body has not fully
//! arrived, and a client still sending a large or streamed body may lose
//! the answer to the reset (see passport-agent's notes on streamed bodies).
//!
//! The layer wraps any `Service<http::Request<ReqBody>, Response =
//! http::Response<ResBody>>` whose `ResBody: From<bytes::Bytes>` (the
//! bound that lets a refusal carry its JSON body): hyper's and
//! `http-body-util`'s `Full<Bytes>`, axum's `Body`, `Bytes`.
//!
//! The feature `axum` adds axum's `IntoResponse` for [`Rejection`] and the
//! `Passport` extractor, and takes `htu`'s path from axum's `OriginalUri`
//! under `nest`; without it, `htu` uses the request URI's path. Axum
//! servers use passport-axum, which turns it on and adds the metadata
//! route.
//!
//! ```
//! use std::convert::Infallible;
//! use std::future::{Ready, ready};
//! use std::sync::Arc;
//! use std::task::{Context, Poll};
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode, header};
//! use passport_tower::{Passport, PassportAuth, Requirements};
//! use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! /// The application: a plain tower service, no framework.
//! #[derive(Clone)]
//! struct Files;
//!
//! impl Service<Request<Bytes>> for Files {
//!     type Response = Response<Bytes>;
//!     type Error = Infallible;
//!     type Future = Ready<Result<Response<Bytes>, Infallible>>;
//!
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
//!         Poll::Ready(Ok(()))
//!     }
//!
//!     fn call(&mut self, request: Request<Bytes>) -> Self::Future {
//!         // The layer put the verified passport in the extensions.
//!         let agent = match request.extensions().get::<Passport>() {
//!             Some(passport) => passport.agent_id().to_string(),
//!             None => String::new(),
//!         };
//!         ready(Ok(Response::new(Bytes::from(agent))))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The issuer's public keys (from its JWKS) go in the key store, under
//! // that issuer: a key of one issuer never verifies another's passports.
//! let keys = InMemoryKeyStore::new();
//! let policy = VerificationPolicy::new("https://issuer.local", "https://files.example");
//! let auth = PassportAuth::builder(Arc::new(Verifier::new(policy, keys)?)).build()?;
//! let mut files = auth.require(Requirements::scope("files:read")).layer(Files);
//!
//! // No passport: the layer answers, the application never runs.
//! let response = files.call(Request::new(Bytes::new())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
//! # Ok(()) }
//! ```
//!
//! Serve [`PassportAuth::metadata_json`] at [`PassportAuth::metadata_path`]
//! (unauthenticated) so agents find the authorization server (RFC 9728).
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
//! | `Passport` extractor (axum) on a route without the layer | 500 | no challenge (body: `server_error`) | `passport_layer_missing` |
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
//! through — written when the application takes the passport (the axum
//! extractor, or [`Passport::accept`] in a plain tower service, before it
//! acts), so an acceptance that cannot be recorded is answered 503
//! `audit_failed` before the handler acts. A service that never takes it
//! has run when its acceptance is written: a failing sink then turns its
//! response into that 503, with what it did unrecorded. The bundle
//! verifying is not an acceptance: a bound bundle whose proof fails is
//! recorded as refused, so whoever holds a stolen bundle without its key
//! cannot write `accepted` records. See [`Passport`] for when exactly it is
//! written.
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
mod credentials;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod layer;
mod metadata;
mod passport;
mod rejection;
mod requirements;
#[cfg(feature = "remote")]
mod trusting;

pub use auth::PassportAuth;
pub use builder::{
    DEFAULT_MAX_AUTHORIZATION_LEN, DEFAULT_REFETCH_TIMEOUT, METADATA_PATH, PassportAuthBuilder,
};
pub use credentials::Scheme;
pub use error::AuthError;
pub use layer::{PassportLayer, PassportService, ResponseFuture};
pub use metadata::ResourceMetadata;
pub use passport::Passport;
pub use rejection::Rejection;
pub use requirements::Requirements;
#[cfg(feature = "remote")]
pub use trusting::{Trust, TrustingBuilder};

/// Re-exported for [`Requirements`]' assurance floors.
pub use passport_claims::Level;
