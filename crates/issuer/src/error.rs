//! [`IssueError`]: why a passport was not minted.

use passport_audit::AuditError;
use passport_claims::AllocationError;
use passport_jose::JoseError;

/// Why a passport was not minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A request field is empty or invalid.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The requested child scope is wider than the parent's.
    #[error("scope {requested:?} is not within the parent's {parent:?} (not implied: {widened:?})")]
    ScopeAttenuation {
        /// What was asked for.
        requested: Vec<String>,
        /// What the parent holds.
        parent: Vec<String>,
        /// The requested patterns the parent does not imply.
        widened: Vec<String>,
    },
    /// Delegating would make the bundle longer than the issuer's limit.
    #[error("delegating would make a chain of {depth} passports; the limit is {max}")]
    DepthExceeded {
        /// The resulting length.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// The parent has expired.
    #[error("the parent passport expired at {exp} (now {now})")]
    ParentExpired {
        /// The parent's `exp`.
        exp: i64,
        /// Now.
        now: i64,
    },
    /// The parent was minted by another issuer; a chain keeps one issuer.
    #[error("the parent was issued by {parent:?}, not by this issuer {issuer:?}")]
    IssuerMismatch {
        /// The parent's `iss`.
        parent: String,
        /// This issuer.
        issuer: String,
    },
    /// The parent is bound to a key and the child names no holder key.
    #[error(
        "the parent is bound to a key (cnf.jkt); its child must be bound to its own holder's key"
    )]
    HolderKeyRequired,
    /// The passport was minted but could not be audited, so it is withheld.
    #[error("the passport could not be audited")]
    AuditFailed(#[source] AuditError),
    /// No status-list index could be allocated.
    #[error(transparent)]
    Status(#[from] AllocationError),
    /// Signing failed.
    #[error(transparent)]
    Jose(#[from] JoseError),
}

passport_jose::error_codes! {
    IssueError {
        IssueError::InvalidRequest { .. } => "invalid_request":
            "An issuance or delegation request field is empty or invalid.",
        IssueError::ScopeAttenuation { .. } => "scope_widened":
            "A child scope pattern is not implied by any of the parent's (delegation would widen the scope).",
        IssueError::DepthExceeded { .. } => "chain_too_deep":
            "The chain has (or delegating would make it have) more passports than allowed.",
        IssueError::ParentExpired { .. } => "parent_expired":
            "Delegation from a parent passport that has expired.",
        IssueError::IssuerMismatch { .. } => "issuer_changed":
            "A child's `iss` differs from its parent's (the parent was minted by another issuer).",
        IssueError::Status(_) => "status_allocation_failed":
            "No status-list index could be allocated for a new passport.",
        IssueError::AuditFailed(_) => "audit_failed":
            "The audit record could not be written, so the operation is refused.",
        IssueError::HolderKeyRequired => "holder_key_required":
            "The parent is bound to a key and the child names no holder key.",
    }
    wraps {
        IssueError::Jose(e) => e.code(),
    }
}
