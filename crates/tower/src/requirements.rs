//! What a route requires beyond a valid passport.

use passport_claims::{Assurance, Level};

/// What a route requires beyond a valid passport. Applied with
/// [`PassportAuth::require`] (as a layer) or [`Passport::require`] (in a
/// handler).
///
/// [`PassportAuth::require`]: crate::PassportAuth::require
/// [`Passport::require`]: crate::Passport::require
///
/// ```
/// use passport_tower::{Level, Requirements};
///
/// let read = Requirements::scope("files:read");
/// let admin = Requirements::scope("files:admin")
///     .min_aal(Level::TWO)
///     .with_proof_of_possession();
/// assert_eq!(admin.scope.as_deref(), Some("files:admin"));
/// assert!(admin.proof_of_possession && !read.proof_of_possession);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Requirements {
    /// A scope the leaf's `tool_scope` must cover (403 `insufficient_scope`
    /// with this `scope` otherwise).
    pub scope: Option<String>,
    /// Assurance floors (401 `insufficient_user_authentication` when one
    /// is not met).
    pub min_assurance: Assurance,
    /// Only a DPoP-bound passport with a valid proof is accepted.
    pub proof_of_possession: bool,
}

impl Requirements {
    /// Nothing beyond a valid passport.
    pub fn none() -> Requirements {
        Requirements::default()
    }

    /// A required scope.
    pub fn scope(scope: impl Into<String>) -> Requirements {
        Requirements::none().with_scope(scope)
    }

    /// Sets the required scope.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Requirements {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the IAL floor.
    #[must_use]
    pub fn min_ial(mut self, level: Level) -> Requirements {
        self.min_assurance.ial = Some(level);
        self
    }

    /// Sets the AAL floor.
    #[must_use]
    pub fn min_aal(mut self, level: Level) -> Requirements {
        self.min_assurance.aal = Some(level);
        self
    }

    /// Sets the FAL floor.
    #[must_use]
    pub fn min_fal(mut self, level: Level) -> Requirements {
        self.min_assurance.fal = Some(level);
        self
    }

    /// Requires a DPoP-bound passport (refuses bearer passports).
    #[must_use]
    pub fn with_proof_of_possession(mut self) -> Requirements {
        self.proof_of_possession = true;
        self
    }
}
