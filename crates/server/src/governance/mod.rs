//! Governance (SPEC §8, issue 14): what may be minted, for whom, for how
//! long, and who decides.
//!
//! Every grant asks [`admit`] before it signs: the grant describes what it
//! is about to mint as a [`Candidate`], and gets back an [`Admission`] (the
//! lifetime to sign with, the environment, the approval it cites) or the
//! refusal to answer with. Without a policy every candidate is admitted as
//! asked, which is the token service of SPEC §7 alone.
//!
//! The parts, each in its own module:
//! - [`roles`]: administrators' roles and the mapping from the upstream
//!   provider's claim.
//! - [`events`]: the in-process broadcast of registry changes the
//!   dashboard's server-sent events follow.
//! - [`revocation`]: an administrator revokes a passport.

// A skeleton: the governance modules read these as they land.
#![allow(dead_code)]

pub(crate) mod events;
pub(crate) mod revocation;
pub(crate) mod roles;

use passport_claims::ScopeSet;

use crate::oauth::OAuthError;
use crate::service::Server;

/// What a grant is about to mint, as governance sees it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// The holder (`agent.agent_id`).
    pub(crate) agent_id: String,
    /// The principal (`sub`).
    pub(crate) principal: String,
    /// The client that asked.
    pub(crate) client_id: String,
    /// The requested resource (`aud`).
    pub(crate) audience: String,
    /// The scopes the grant would give (already within the client's).
    pub(crate) scopes: ScopeSet,
    /// The lifetime the grant would give, in seconds (already clamped by
    /// the grant's own rules).
    pub(crate) ttl: u64,
    /// The parent, for a delegated child.
    pub(crate) parent_jti: Option<String>,
    /// The predecessor this passport replaces (a rotation), if named.
    pub(crate) replaces: Option<String>,
}

/// What governance allows a [`Candidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admission {
    /// The lifetime to sign with: the candidate's, capped by policy.
    pub(crate) ttl: u64,
    /// The environment whose policy applied, if any.
    pub(crate) environment: Option<String>,
    /// The approval the passport is issued under, if one was needed.
    pub(crate) approval_id: Option<String>,
}

impl Admission {
    /// The candidate as asked: no policy applied.
    fn as_asked(candidate: &Candidate) -> Admission {
        Admission {
            ttl: candidate.ttl,
            environment: None,
            approval_id: None,
        }
    }
}

/// The administrators' role mapping in force (the policy file's
/// `[administrators]`; none without a policy: nobody has a role).
pub(crate) fn role_mapping(server: &Server) -> std::sync::Arc<roles::RoleMapping> {
    // until the policy file lands: the mapping the builder was given (test
    // support, `ServerBuilder::admin_role_mapping`), else none
    server.inner.admin_roles.clone().unwrap_or_default()
}

/// Decides whether `candidate` may be minted, and how.
///
/// # Errors
/// The OAuth error to answer with when governance refuses.
pub(crate) async fn admit(server: &Server, candidate: &Candidate) -> Result<Admission, OAuthError> {
    let _ = server;
    Ok(Admission::as_asked(candidate))
}
