//! # passport-dpop
//!
//! Sender-constrained Agent Passports with DPoP (RFC 9449): a passport whose
//! `cnf.jkt` names an agent's key is only accepted together with a fresh
//! proof, signed by that key, for the very request it comes with.
//!
//! - [`DpopKey`]: an agent's key (ES256 or EdDSA) and [`DpopKey::proof`];
//! - [`DpopVerifier`]: every check of RFC 9449 §4.3 under a [`DpopPolicy`],
//!   with a pluggable [`ReplayCache`] ([`InMemoryReplayCache`] by default:
//!   bounded, and each proof key limited to its share, so one agent cannot
//!   fill it for everyone)
//!   and optional stateless server nonces ([`NonceIssuer`]);
//! - [`cnf_jkt`] and [`ath`]: the values a passport and a proof bind with.
//!
//! Proofs carry their key in the `jwk` header, which `passport_jose`'s
//! passport parser refuses by design; this crate parses proofs with its own
//! equally strict parser (size limit, three segments, canonical base64url,
//! JSON without duplicate members) and verifies through `passport_jose`.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use passport_claims::ManualClock;
//! use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier};
//! use passport_jose::Algorithm;
//!
//! let clock = Arc::new(ManualClock::new(1_700_000_000));
//! let verifier = DpopVerifier::new(DpopPolicy::default(), clock.clone());
//!
//! // The agent's key; its thumbprint is the passport's `cnf.jkt`.
//! let key = DpopKey::generate(Algorithm::ES256)?;
//! let bound_jkt = key.jkt().to_owned();
//! let bundle = "eyJ...passport~eyJ...parent";
//!
//! let proof = key.proof("GET", "https://tools.example/mcp?x=1", Some(bundle), None, 1_700_000_000)?;
//! let verified = verifier.verify(
//!     &[&proof],
//!     "GET",
//!     "https://tools.example/mcp",
//!     Some(bundle),
//!     Some(&bound_jkt),
//! )?;
//! assert_eq!(verified.jkt, bound_jkt);
//!
//! // The same proof again is a replay.
//! let err = verifier
//!     .verify(&[&proof], "GET", "https://tools.example/mcp", Some(bundle), Some(&bound_jkt))
//!     .unwrap_err();
//! assert_eq!(err.code(), "replay");
//! # Ok::<(), passport_dpop::DpopError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod claims;
mod error;
mod htu;
mod key;
mod nonce;
mod replay;
mod verify;

use serde_json::{Map, Value};

pub use error::DpopError;
pub use htu::normalize_htu;
pub use key::DpopKey;
pub use nonce::{MIN_NONCE_SECRET_LEN, NonceIssuer};
pub use replay::{
    DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_KEY_SHARE, InMemoryReplayCache, ReplayCache,
};
pub use verify::{DpopPolicy, DpopVerifier, VerifiedProof};

/// The `typ` of every DPoP proof.
pub const DPOP_TYP: &str = "dpop+jwt";

/// The largest proof accepted, in bytes (a P-256 proof with a nonce and
/// `ath` is well under 1 KiB).
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Members that only a private (or symmetric) JWK has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The `cnf.jkt` for a holder's public JWK: its RFC 7638 thumbprint.
///
/// Refuses a JWK that carries private members (a private key must never be
/// handed to an issuer) and key types that are not supported.
///
/// ```
/// // RFC 9449 §6.1: the thumbprint of the example key of §4.1.
/// let jwk = serde_json::json!({
///     "kty": "EC",
///     "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
///     "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
///     "crv": "P-256"
/// });
/// let jkt = passport_dpop::cnf_jkt(jwk.as_object().unwrap())?;
/// assert_eq!(jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
/// # Ok::<(), passport_dpop::DpopError>(())
/// ```
pub fn cnf_jkt(jwk: &Map<String, Value>) -> Result<String, DpopError> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::PrivateKeyInProof);
    }
    // Parsing checks the key is a real public key of a supported type.
    passport_jose::VerifyingKey::from_holder_jwk_map(jwk.clone())
        .map_err(|e| DpopError::InvalidJwk(e.to_string()))?;
    passport_jose::thumbprint(jwk).map_err(|e| DpopError::InvalidJwk(e.to_string()))
}

/// The `ath` of an access token (here: a passport bundle):
/// base64url(SHA-256(ASCII token)), RFC 9449 §4.2.
///
/// ```
/// // RFC 9449 §7.1.
/// assert_eq!(
///     passport_dpop::ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
///     "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
/// );
/// ```
pub fn ath(token: &str) -> String {
    passport_jose::sha256_b64url(token.as_bytes())
}
