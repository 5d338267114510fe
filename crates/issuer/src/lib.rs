//! # passport-issuer
//!
//! Mints Agent Passports: [`Issuer::issue`] makes a root passport from an
//! already validated [`IdentityAssertion`] (RFC 8693-style exchange: the OIDC
//! crate validates the ID token, this crate never speaks HTTP), and
//! [`Issuer::delegate`] makes a narrower child from a [`VerifiedPassport`].
//!
//! A request names its audience, agent and model with the validated types
//! [`Audience`], [`AgentId`] and [`AgentModel`] of `passport-claims`: each is
//! refused when empty, and passing them in the wrong order does not compile.
//!
//! [`Audience`]: passport_claims::Audience
//! [`AgentId`]: passport_claims::AgentId
//! [`AgentModel`]: passport_claims::AgentModel
//! [`IdentityAssertion`]: passport_claims::IdentityAssertion
//! [`VerifiedPassport`]: passport_verifier::VerifiedPassport
//!
//! Delegation rules, enforced here and re-checked by every verifier:
//! - the child's scope must attenuate the parent's ([`IssueError::ScopeAttenuation`]);
//! - the child's `exp` is clamped to the parent's (reported in [`IssuedPassport::clamped`]);
//! - `sub`, `acr` and the IAL/AAL/FAL levels are inherited, never raised;
//! - `act` wraps the parent's actor; `parent_jti` names the parent and
//!   `parent_hash` binds the child to the parent token's exact bytes;
//! - a bundle is at most `max_depth` passports long (default 5).
//!
//! Defaults: root TTL 15 minutes, child TTL 5 minutes, no TTL above 24 hours.
//!
//! ```
//! use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
//! use passport_issuer::{DelegationRequest, IssuanceRequest, Issuer};
//! use passport_jose::{Algorithm, SigningKey};
//! use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
//!
//! let key = SigningKey::generate(Algorithm::EdDSA)?;
//! let keys = InMemoryKeyStore::new();
//! keys.insert("https://issuer.local", key.verifying_key())?;
//! let issuer = Issuer::new("https://issuer.local", key);
//!
//! let root = issuer.issue(IssuanceRequest::new(
//!     IdentityAssertion::new("https://idp.example", "alice"),
//!     Audience::new("https://orchestrator.example")?,
//!     AgentId::new("planner")?,
//!     AgentModel::new("model-a")?,
//!     ScopeSet::parse(["files:*"])?,
//! ))?;
//!
//! // The holder verifies its own passport before delegating from it.
//! let verifier = Verifier::new(
//!     VerificationPolicy::new("https://issuer.local", "https://orchestrator.example"), keys)?;
//! let parent = verifier.verify_str(root.bundle())?;
//! let child = issuer.delegate(DelegationRequest::new(
//!     &parent,
//!     Audience::new("https://files.example")?,
//!     AgentId::new("reader")?,
//!     AgentModel::new("model-b")?,
//!     ScopeSet::parse(["files:read"])?,
//! ))?;
//! assert_eq!(child.bundle().split('~').count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod issuer;
mod request;

pub use error::IssueError;
pub use issuer::{DEFAULT_CHILD_TTL, DEFAULT_ROOT_TTL, Issuer, MAX_TTL};
pub use request::{DelegationRequest, IssuanceRequest, IssuedPassport};
