//! # passport-claims
//!
//! The wire model of Agent Passport, with no cryptography of its own:
//!
//! - [`PassportClaims`]: the claim set of SPEC §3, byte-compatible with
//!   csp-agent-passport 0.2.x, decoded strictly;
//! - [`scope`]: scope patterns (`*`, `?`), coverage and a sound attenuation check;
//! - [`UnverifiedBundle`]: the `leaf~parent~…~root` bundle of SPEC §4, which
//!   only `passport-verifier` can turn into a verified passport;
//! - [`StatusReference`]: the `status` claim, and the [`StatusAllocator`]
//!   hook through which an issuer gets one for each passport it mints;
//! - [`AgentId`], [`AgentModel`], [`Audience`]: validated request strings
//!   that cannot be swapped for one another;
//! - [`IdentityAssertion`] and the NIST [`Assurance`] levels an issuer starts from;
//! - [`Clock`]: injectable time.
//!
//! ## Example
//!
//! ```
//! use passport_claims::{
//!     AgentClaims, AgentId, Audience, PASSPORT_TYP, PassportClaims, ScopeSet, UnverifiedBundle,
//! };
//!
//! // Validated strings: an agent id is not an audience, and neither is blank.
//! let agent = AgentId::new("reader")?;
//! let aud = Audience::new("https://files.example")?;
//! assert_eq!(AgentId::new("  ").unwrap_err().code(), "invalid_claim");
//!
//! // Scopes: a delegated set must attenuate its parent's.
//! let parent = ScopeSet::parse(["files:*", "mail:send"])?;
//! let child = ScopeSet::parse(["files:read"])?;
//! assert!(child.attenuates(&parent) && child.covers("files:read"));
//! assert!(!ScopeSet::parse(["calendar:*"])?.attenuates(&parent));
//!
//! // Claims round-trip through the strict decoder.
//! let claims = PassportClaims::new(
//!     "https://issuer.example", "alice", aud.as_str(), "jti-1",
//!     1_700_000_000, 1_700_000_300,
//!     AgentClaims {
//!         agent_id: agent.to_string(), agent_model: "m1".into(), tool_scope: child,
//!         task_purpose: None, parent_jti: None,
//!     },
//! );
//! assert_eq!(PassportClaims::from_json(&claims.to_json())?, claims);
//!
//! // A bundle (`leaf~parent~…~root`) parsed and decoded WITHOUT verification:
//! // the signature here is junk, and only passport-verifier vouches for a token.
//! let header = format!(r#"{{"alg":"EdDSA","kid":"k1","typ":"{PASSPORT_TYP}"}}"#);
//! let token = format!(
//!     "{}.{}.c2ln",
//!     passport_jose::b64::encode(header),
//!     passport_jose::b64::encode(claims.to_json()),
//! );
//! let bundle = UnverifiedBundle::parse(&format!("{token}\n"))?;
//! assert_eq!(bundle.len(), 1);
//! let inspected = bundle.inspect_unverified().remove(0)?;
//! assert_eq!((inspected.claims.jti.as_str(), inspected.kid.as_deref()), ("jti-1", Some("k1")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod assertion;
mod assurance;
mod bundle;
mod clock;
mod error;
mod ids;
mod passport;
pub mod scope;
mod status;

pub use assertion::IdentityAssertion;
pub use assurance::{Assurance, Level};
pub use bundle::{Inspected, MAX_BUNDLE_LEN, MAX_BUNDLE_LINKS, UnverifiedBundle};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ClaimsError;
pub use ids::{AgentId, AgentModel, Audience};
pub use passport::{
    Actor, AgentClaims, CLAIM_NAMESPACE, MAX_NUMERIC_DATE, PASSPORT_TYP, PassportClaims,
};
pub use scope::{ScopePattern, ScopeSet};
pub use status::{AllocationError, StatusAllocator, StatusReference};
