//! Revocation: a [`StatusSource`] is asked about every link of a bundle, so
//! revoking a root or a middle passport refuses all its descendants without
//! touching them.

use passport_claims::PassportClaims;

/// What a status source says about one passport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkStatus {
    /// Not revoked (or not listed).
    Valid,
    /// Revoked for good.
    Revoked,
    /// Suspended: refused now, may be reinstated.
    Suspended,
}

/// Why a status source could not answer. A verifier refuses the passport
/// (fail closed); sources that allow a grace period apply it themselves and
/// only report this once the grace is over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("revocation status unavailable: {reason}")]
pub struct StatusUnavailable {
    /// What went wrong (list unreachable, expired, invalid, index out of range…).
    pub reason: String,
    /// A stable code for the cause (`status_list_unreachable`, `status_list_expired`, …).
    pub code: &'static str,
}

impl StatusUnavailable {
    /// A failure with a code and a reason.
    pub fn new(code: &'static str, reason: impl Into<String>) -> StatusUnavailable {
        StatusUnavailable {
            reason: reason.into(),
            code,
        }
    }
}

/// Answers "is this passport revoked?" for a verifier. It must answer from
/// what it holds (a verified status list, a deny list); fetching is the
/// source's own business, done before or between verifications.
pub trait StatusSource: Send + Sync {
    /// The status of `passport` at time `now` (seconds).
    fn status(&self, passport: &PassportClaims, now: i64) -> Result<LinkStatus, StatusUnavailable>;
}

impl<S: StatusSource + ?Sized> StatusSource for std::sync::Arc<S> {
    fn status(&self, passport: &PassportClaims, now: i64) -> Result<LinkStatus, StatusUnavailable> {
        (**self).status(passport, now)
    }
}
