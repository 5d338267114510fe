//! Revocation: a [`StatusSource`] is asked about every link of a bundle, so
//! revoking a root or a middle passport refuses all its descendants without
//! touching them.

use std::sync::Arc;

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
#[derive(Debug, Clone)]
pub struct StatusUnavailable {
    /// What went wrong (list unreachable, expired, invalid, index out of range…).
    pub reason: String,
    /// A stable code for the cause (`status_list_unreachable`, `status_list_expired`, …).
    pub code: &'static str,
    /// The source's own error, when there is one.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StatusUnavailable {
    /// A failure with a code and a reason.
    pub fn new(code: &'static str, reason: impl Into<String>) -> StatusUnavailable {
        StatusUnavailable {
            reason: reason.into(),
            code,
            source: None,
        }
    }

    /// A failure caused by `source` (its message is the reason; it stays
    /// reachable through [`std::error::Error::source`]).
    pub fn caused_by(
        code: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StatusUnavailable {
        StatusUnavailable {
            reason: source.to_string(),
            code,
            source: Some(Arc::new(source)),
        }
    }
}

impl std::fmt::Display for StatusUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "revocation status unavailable: {}", self.reason)
    }
}

impl std::error::Error for StatusUnavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The inner error itself, not the `Arc` around it, so that callers
        // can downcast to the source's own type.
        let source: &(dyn std::error::Error + 'static) = self.source.as_deref()?;
        Some(source)
    }
}

/// Answers "is this passport revoked?" for a verifier. It must answer from
/// what it holds (a verified status list, a deny list); fetching is the
/// source's own business, done before or between verifications.
pub trait StatusSource: Send + Sync {
    /// The status of `passport` at time `now` (seconds).
    fn status(&self, passport: &PassportClaims, now: i64) -> Result<LinkStatus, StatusUnavailable>;

    /// Whether this source answers for a passport's `status` reference (the
    /// status list it names). A verifier none of whose sources does refuses
    /// passports carrying one (`status_source_required`), since their
    /// revocation would go unchecked. False by default, so that a source
    /// that never reads the claim cannot stand in for one that does: a
    /// source that looks up the list a passport's `status` names says true.
    fn answers_status_references(&self) -> bool {
        false
    }
}

impl<S: StatusSource + ?Sized> StatusSource for std::sync::Arc<S> {
    fn status(&self, passport: &PassportClaims, now: i64) -> Result<LinkStatus, StatusUnavailable> {
        (**self).status(passport, now)
    }

    fn answers_status_references(&self) -> bool {
        (**self).answers_status_references()
    }
}
