//! RFC 9449 §8 server nonces at `/token`, and the per-client and
//! per-address limits of `/introspect` and `/revoke`.
//!
//! A nonce is [`NonceIssuer`]'s HMAC-SHA-256 of a five-minute time window
//! under a 256-bit secret that the first instance to start stores in the
//! database ([`Database::shared_secret`]) and every other instance reads:
//! all of them issue and accept the same nonces (the current and the
//! previous window), and nothing is written per request.

use std::sync::Arc;

#[allow(clippy::wildcard_imports)]
use super::*;

use passport_claims::Clock;
use passport_dpop::{DpopPolicy, DpopVerifier, MIN_NONCE_SECRET_LEN, NonceIssuer};
use passport_store::server::Database;

use crate::rate_limit::RateLimiter;
use crate::service::ServerError;

/// RFC 9449 §8's error: the proof lacks the server's current nonce.
pub(super) const USE_DPOP_NONCE: &str = "use_dpop_nonce";
/// The name the nonce secret is kept under in the database.
const NONCE_SECRET: &str = "dpop_nonce";

/// The token endpoint's DPoP verifier: replay checked by the database
/// ([`StoreReplay`]), and, when `nonces`, a server nonce required.
pub(crate) async fn dpop_verifier(
    db: &Database,
    clock: &Arc<dyn Clock>,
    nonces: bool,
) -> Result<DpopVerifier, ServerError> {
    let policy = DpopPolicy {
        require_nonce: nonces,
        ..DpopPolicy::default()
    };
    let mut verifier =
        DpopVerifier::new(policy, clock.clone()).with_replay_cache(Arc::new(StoreReplay));
    if nonces {
        let mut candidate = [0u8; MIN_NONCE_SECRET_LEN];
        getrandom::fill(&mut candidate)
            .map_err(|e| ServerError::Store(StoreError::RandomUnavailable(e.to_string())))?;
        let stored = db
            .shared_secret(
                NONCE_SECRET,
                &passport_jose::b64::encode(candidate),
                clock.now(),
            )
            .await?;
        let secret = passport_jose::b64::decode(&stored).ok_or_else(|| {
            ServerError::Store(StoreError::Corrupt("the DPoP nonce secret".into()))
        })?;
        let issuer = NonceIssuer::from_secret(&secret, clock.clone())
            .map_err(|e| ServerError::Store(StoreError::Corrupt(e.to_string())))?;
        verifier = verifier.with_nonce_issuer(issuer);
    }
    Ok(verifier)
}

/// A refused proof: `use_dpop_nonce` when it lacks a current nonce (the
/// answer's `DPoP-Nonce` header, added by [`with_nonce`], is the one to
/// use), `invalid_dpop_proof` otherwise.
pub(super) fn proof_error(e: &DpopError) -> OAuthError {
    let error = match e {
        DpopError::UseNonce { .. } => USE_DPOP_NONCE,
        _ => INVALID_DPOP_PROOF,
    };
    OAuthError::new(400, error, format!("{}: {e}", e.code()))
}

/// Adds the current `DPoP-Nonce` to a `/token` answer when the server
/// requires nonces (RFC 9449 §8.2: a fresh one with every answer, success
/// or error).
pub(super) fn with_nonce(server: &Server, mut response: Response) -> Response {
    if let Some(issuer) = server.inner.dpop.nonce_issuer()
        && let Ok(v) = HeaderValue::from_str(&issuer.current())
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static("dpop-nonce"), v);
    }
    response
}

/// Charges `limiter`'s bucket of the request's address: before anything
/// else of the request is looked at.
pub(super) fn limit_address(limiter: &RateLimiter, posted: &Posted) -> Result<(), OAuthError> {
    limiter.check_address(posted.peer).map_err(|e| e.oauth())
}

/// Charges `limiter`'s bucket of a client that authenticated.
pub(super) fn limit_client(limiter: &RateLimiter, caller: &Caller) -> Result<(), OAuthError> {
    limiter.check_client(caller.proof()).map_err(|e| e.oauth())
}
