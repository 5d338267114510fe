//! # passport-verifier
//!
//! Verifies Agent Passports and their delegation chains offline, under a
//! [`VerificationPolicy`], with keys from a trusted [`KeyStore`].
//!
//! ## What is checked (SPEC §5)
//!
//! On every passport of a bundle: the JWS rules of `passport-jose` (strict
//! structure, no `none`/HMAC, allow-listed `alg` that is the key's algorithm,
//! no embedded keys, no `crit`/`b64`, explicit `typ` unless the policy
//! accepts csp-agent-passport's untyped tokens), the key found by `kid`
//! only, the signature, strict claims, a trusted `iss`, `exp`/`nbf`/`iat`
//! within the clock skew, and the allowed actors.
//!
//! A leaf bound to its holder's key (`cnf.jkt`) is never accepted as a
//! bearer token: [`Verifier::verify_bundle`] refuses it
//! (`dpop_proof_required`), and [`Verifier::verify_bundle_pending_proof`]
//! returns a [`PendingProof`] that becomes a [`VerifiedPassport`] only
//! through [`PendingProof::confirm`] with the key a DPoP proof was verified
//! with.
//!
//! On the leaf only: `aud` exactly the policy's audience, the IAL/AAL/FAL
//! floors (a missing level fails a floor), no universal scope unless the
//! policy opts in, and the required scope.
//!
//! Between each child and its parent: `parent_jti` and the `parent_hash`
//! binding to the parent's exact bytes, the same `sub`, `iss` and `acr`,
//! `act` equal to the parent's wrapped once, scope attenuation, assurance
//! never rising or appearing, the child not outliving its parent; the chain
//! ends in a root (no parent, `act` just itself) and is no deeper than
//! `max_depth`.
//!
//! ## Performance
//!
//! Keys are parsed once, when they enter the key store. Ancestors' signature
//! results are kept in a bounded cache keyed by the SHA-256 of the token
//! bytes, so a server that sees the same chain prefix on every request
//! verifies one signature per request. See `docs/performance.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod error;
mod keys;
mod outcome;
mod policy;
mod rules;
mod status;
mod verifier;

pub use cache::{DEFAULT_CACHE_CAPACITY, MAX_CACHED_TOKEN_LEN};
pub use error::{AssuranceKind, ChainViolation, PolicyError, VerifyError};
pub use keys::{InMemoryKeyStore, JwksKeyStore, KeyStore};
pub use outcome::{PendingProof, Verification, VerifiedPassport};
pub use policy::{DEFAULT_CLOCK_SKEW, DEFAULT_MAX_DEPTH, MAX_CLOCK_SKEW, VerificationPolicy};
pub use status::{LinkStatus, StatusSource, StatusUnavailable};
pub use verifier::Verifier;
