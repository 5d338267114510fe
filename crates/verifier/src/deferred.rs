//! [`DeferredAudit`]: the one audit record of a verification whose final
//! decision the caller takes.

use std::fmt;
use std::sync::Arc;

use passport_audit::{AuditRecord, AuditSink, Outcome, clip};

use crate::VerifyError;

/// The audit record of one verification, written once the caller has
/// decided: by [`DeferredAudit::accept`] or [`DeferredAudit::refuse`].
///
/// [`Verifier::verify_str_deferring_audit`](crate::Verifier::verify_str_deferring_audit)
/// returns it for callers whose decision does not end with the bundle — an
/// HTTP layer still checks a DPoP proof and the route's requirements. A
/// bound passport verifies before its holder has proven anything, so a
/// verifier that recorded `accepted` at that point would let whoever holds
/// a stolen bundle (but not its key) write acceptances. Deferring makes the
/// record say what happened to the request: `accepted` only when it was let
/// through, otherwise the refusal with its code.
///
/// Without an audit sink on the verifier, both methods do nothing. A value
/// dropped without either writes nothing.
#[must_use = "a deferred audit record is written only by accept() or refuse()"]
pub struct DeferredAudit {
    pending: Option<(Arc<dyn AuditSink>, AuditRecord)>,
}

impl DeferredAudit {
    pub(crate) fn new(pending: Option<(Arc<dyn AuditSink>, AuditRecord)>) -> DeferredAudit {
        DeferredAudit { pending }
    }

    /// True when the verifier has an audit sink (a record will be written).
    pub fn is_enabled(&self) -> bool {
        self.pending.is_some()
    }

    /// Sets the record's required scope (the caller's own requirement, a
    /// route's scope for example), clipped like every identifier.
    pub fn set_required_scope(&mut self, scope: &str) {
        if let Some((_, record)) = &mut self.pending {
            record.required_scope = Some(clip(scope));
        }
    }

    /// Records the acceptance. An acceptance that cannot be recorded is
    /// refused: the error is [`VerifyError::AuditFailed`].
    pub fn accept(self) -> Result<(), VerifyError> {
        let Some((sink, mut record)) = self.pending else {
            return Ok(());
        };
        record.outcome = Outcome::Accepted;
        record.error = None;
        sink.record(&record).map_err(VerifyError::AuditFailed)
    }

    /// Records a refusal with its stable `code`. The refusal stands whether
    /// or not it can be recorded, so a failing sink is not reported.
    pub fn refuse(self, code: &str) {
        let Some((sink, mut record)) = self.pending else {
            return;
        };
        record.outcome = Outcome::Refused;
        record.error = Some(clip(code));
        // Best effort: refusing already is the safe answer.
        let _ = sink.record(&record);
    }
}

impl fmt::Debug for DeferredAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredAudit")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}
