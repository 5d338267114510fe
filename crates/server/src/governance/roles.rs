//! Administrators' roles, and the mapping from the upstream provider's
//! claim to them (the policy file's `[administrators]` table).
//!
//! ```toml
//! [administrators]
//! claim = "roles"
//! [administrators.roles]
//! identity_admin = ["passport-admins"]
//! approver = ["approvers"]
//! resource_owner = ["owners"]
//! auditor = ["auditors"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// What an administrator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AdminRole {
    /// Registers agent identities and changes their roles and state.
    IdentityAdmin,
    /// Approves or denies requests for environments that need approval.
    Approver,
    /// Revokes passports and engages or lifts kill-switches for its
    /// resources.
    ResourceOwner,
    /// Reads the registry and the audit trail.
    Auditor,
}

/// Which upstream claim values give which role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleMapping {
    /// The ID-token claim holding the upstream roles or groups: an array
    /// of strings or one space-separated string.
    #[serde(default = "default_claim")]
    pub(crate) claim: String,
    /// For each role, the upstream values that give it.
    #[serde(default)]
    pub(crate) roles: BTreeMap<AdminRole, Vec<String>>,
}

fn default_claim() -> String {
    "roles".to_owned()
}
