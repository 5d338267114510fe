//! # passport-jose
//!
//! The only crate of Agent Passport that touches cryptography, and it does so
//! through one library, `aws-lc-rs`: every signature, key generation and MAC.
//! It owns:
//!
//! - [`SigningKey`]: a private key (EdDSA/Ed25519 by default, ES256, RS256) that
//!   can be generated, saved as a private JWK file with mode `0600`, and loaded;
//! - [`VerifyingKey`]: a public key parsed **once** into an `aws-lc-rs` parsed
//!   key, so verifying a token never re-parses key material. Keys that admit
//!   a signature without their private key, or are too weak to trust, are
//!   refused on load as [`JoseError::WeakKey`], whatever their source (a
//!   JWKS, a holder key, a DPoP proof's `jwk`): Ed25519 points of small order
//!   and non-canonical encodings; RSA keys under 2048 bits, with an even or
//!   small exponent, or a modulus that is prime, a prime power, has a prime
//!   factor below 752 or the ROCA fingerprint. P-256
//!   points off the curve, or with a coordinate not below the field prime,
//!   are not keys at all: [`JoseError::InvalidKey`];
//! - [`MacKey`]: HMAC-SHA256 with a constant-time check (the DPoP nonce);
//! - [`JwkSet`]: a JWKS document of public keys, indexed by `kid`;
//! - [`thumbprint`]: the RFC 7638 JWK thumbprint, which is the `kid` of every key
//!   minted here;
//! - [`CompactJws`]: strict parsing of a compact JWS and verification under a
//!   [`VerifyOptions`] (algorithm allow-list, explicit `typ`).
//!
//! ## Rules enforced on every token (SPEC §5, items 1–4 and 10)
//!
//! | rule | error |
//! |---|---|
//! | larger than [`MAX_TOKEN_LEN`] | [`JoseError::TokenTooLarge`] |
//! | not exactly three non-empty segments | [`JoseError::Malformed`] |
//! | padding or non-base64url characters, non-canonical trailing bits | [`JoseError::InvalidBase64`] |
//! | header not a JSON object, invalid JSON | [`JoseError::InvalidJson`] |
//! | a duplicate member name anywhere in the header | [`JoseError::DuplicateMember`] |
//! | `alg` missing / `none` in any case / unknown (HS256 …) | [`JoseError::MissingAlgorithm`] / [`JoseError::AlgorithmNone`] / [`JoseError::UnsupportedAlgorithm`] |
//! | `alg` outside the caller's allow-list | [`JoseError::AlgorithmNotAllowed`] |
//! | `alg` not the resolved key's algorithm | [`JoseError::AlgorithmKeyMismatch`] |
//! | `jwk`, `jku`, `x5u`, `x5c`, `x5t`, `x5t#S256` present | [`JoseError::ForbiddenHeader`] |
//! | `crit` present | [`JoseError::CriticalHeader`] |
//! | `b64` present | [`JoseError::UnencodedPayload`] |
//! | `typ` not the expected one (or untyped where not accepted) | [`JoseError::InvalidType`] / [`JoseError::UntypedNotAccepted`] |
//! | bad signature, including ECDSA `r = 0`/`s = 0` and Ed25519 `S ≥ L` | [`JoseError::BadSignature`] |
//!
//! The `kid` is required by the key stores of the verifier, which look keys up
//! by `kid` only; a header's embedded key material is never used.
//!
//! ## Base64url and SIMD
//!
//! Tokens are decoded with the base64 crate's SIMD engine (AVX2 or NEON,
//! detected at run time; its scalar engine elsewhere). This crate forbids
//! unsafe code of its own; built with `RUSTFLAGS="--cfg
//! passport_scalar_base64"`, every decode takes the scalar engine, with the
//! same strict rules and answers.
//!
//! ## Example
//!
//! ```
//! use passport_jose::{Algorithm, CompactJws, SigningKey, VerifyOptions};
//!
//! let key = SigningKey::generate(Algorithm::EdDSA)?;
//! let token = key.sign_compact(Some("passport+jwt"), br#"{"hello":"world"}"#)?;
//!
//! let jws = CompactJws::parse(&token)?;
//! assert_eq!(jws.header().kid(), Some(key.kid()));
//! let verifying = key.verifying_key();
//! let options = VerifyOptions::new(&[Algorithm::EdDSA], "passport+jwt");
//! let payload = jws.verify(&verifying, &options)?;
//! assert_eq!(payload, br#"{"hello":"world"}"#);
//! # Ok::<(), passport_jose::JoseError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alg;
pub mod b64;
mod der;
mod digest;
mod ed25519;
mod error;
pub mod json;
mod jwk;
mod jws;
mod key;
mod mac;
mod modulus;
mod rsa;

pub use alg::{Algorithm, KeyAlgorithm};

/// `s` in at most `max` bytes: whole when it fits, otherwise cut on a
/// character boundary and ended with `…` (the ellipsis counts towards
/// `max`). For attacker-chosen strings (a `kid`, an `iss`, a URL) that end up
/// in error messages and logs, which must stay bounded; the workspace's
/// crates all use this one.
///
/// ```
/// assert_eq!(passport_jose::clip("abc", 8), "abc");
/// assert_eq!(passport_jose::clip("abcdef", 4), "a…");
/// assert_eq!(passport_jose::clip("éééé", 7), "éé…");
/// assert!(passport_jose::clip(&"é".repeat(40), 32).len() <= 32);
/// ```
pub fn clip(s: &str, max: usize) -> String {
    const ELLIPSIS: &str = "…";
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
pub use digest::{sha256, sha256_b64url};
pub use error::JoseError;
pub use jwk::{JWK_RETIRED_AT, JwkSet, MAX_CLIENT_JWKS_KEYS, MAX_JWKS_KEYS, thumbprint};
pub use jws::{CompactJws, Header, MAX_TOKEN_LEN, VerifyOptions};
pub use key::{SigningKey, VerifyingKey};
pub use mac::{MacKey, constant_time_eq};
