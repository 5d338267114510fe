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
//! - [`IdentityAssertion`] and the NIST [`Assurance`] levels an issuer starts from;
//! - [`Clock`]: injectable time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod assertion;
mod assurance;
mod bundle;
mod clock;
mod error;
mod passport;
pub mod scope;
mod status;

pub use assertion::IdentityAssertion;
pub use assurance::{Assurance, Level};
pub use bundle::{Inspected, MAX_BUNDLE_LEN, MAX_BUNDLE_LINKS, UnverifiedBundle};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ClaimsError;
pub use passport::{
    Actor, AgentClaims, CLAIM_NAMESPACE, MAX_NUMERIC_DATE, PASSPORT_TYP, PassportClaims,
};
pub use scope::{ScopePattern, ScopeSet};
pub use status::{AllocationError, StatusAllocator, StatusReference};
