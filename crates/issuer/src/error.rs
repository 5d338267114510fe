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

impl IssueError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            IssueError::InvalidRequest { .. } => "invalid_request",
            IssueError::ScopeAttenuation { .. } => "scope_attenuation",
            IssueError::DepthExceeded { .. } => "depth_exceeded",
            IssueError::ParentExpired { .. } => "parent_expired",
            IssueError::IssuerMismatch { .. } => "issuer_mismatch",
            IssueError::Status(_) => "status_allocation_failed",
            IssueError::AuditFailed(_) => "audit_failed",
            IssueError::HolderKeyRequired => "holder_key_required",
            IssueError::Jose(e) => e.code(),
        }
    }
}
