//! [`DeferredAudit`]: the one audit record of a verification whose final
//! decision the caller takes; [`OwedRecord`]: the one a
//! [`PendingProof`](crate::PendingProof) owes until its proof is decided.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    // Boxed: without a sink the value is one pointer wide (`None`), so it
    // costs nothing to move along the verification's path, and a
    // `PendingProof` that carries it grows by a pointer only.
    pending: Option<Box<Draft>>,
}

/// A record waiting for its outcome, and the sink it goes to.
#[derive(Clone)]
struct Draft {
    sink: Arc<dyn AuditSink>,
    record: AuditRecord,
}

impl DeferredAudit {
    /// No sink: nothing will be written.
    pub(crate) const fn disabled() -> DeferredAudit {
        DeferredAudit { pending: None }
    }

    pub(crate) fn new(sink: Arc<dyn AuditSink>, record: AuditRecord) -> DeferredAudit {
        DeferredAudit {
            pending: Some(Box::new(Draft { sink, record })),
        }
    }

    /// True when the verifier has an audit sink (a record will be written).
    pub fn is_enabled(&self) -> bool {
        self.pending.is_some()
    }

    /// Sets the record's required scope (the caller's own requirement, a
    /// route's scope for example), clipped like every identifier.
    pub fn set_required_scope(&mut self, scope: &str) {
        if let Some(draft) = &mut self.pending {
            draft.record.required_scope = Some(clip(scope));
        }
    }

    /// Records the acceptance. An acceptance that cannot be recorded is
    /// refused: the error is [`VerifyError::AuditFailed`].
    pub fn accept(self) -> Result<(), VerifyError> {
        let Some(mut draft) = self.pending else {
            return Ok(());
        };
        draft.record.outcome = Outcome::Accepted;
        draft.record.error = None;
        draft
            .sink
            .record(&draft.record)
            .map_err(VerifyError::AuditFailed)
    }

    /// Records a refusal with its stable `code`. The refusal stands whether
    /// or not it can be recorded, so a failing sink is not reported.
    pub fn refuse(self, code: &str) {
        let Some(mut draft) = self.pending else {
            return;
        };
        draft.record.outcome = Outcome::Refused;
        draft.record.error = Some(clip(code));
        // Best effort: refusing already is the safe answer.
        let _ = draft.sink.record(&draft.record);
    }
}

impl fmt::Debug for DeferredAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredAudit")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

/// The audit record a [`PendingProof`](crate::PendingProof) owes: a bound
/// passport verified, its proof of possession not yet decided, nothing
/// written yet. Each decision writes its record:
/// [`OwedRecord::accept`] (the proof was confirmed, or assumed by the
/// dangerous opt-out) or [`OwedRecord::refuse`] (the proof's key is not the
/// bound one). When no decision was ever taken — the pending proof and
/// every clone of it dropped undecided — one refusal is written
/// (`dpop_proof_required`): the passport never became a
/// [`VerifiedPassport`](crate::VerifiedPassport), and the trail keeps the
/// presentation of a bound passport that was never proven (a stolen bundle
/// without its key) rather than losing it.
///
/// Clones share that fallback: a decision on one clone means the others,
/// dropped undecided, write nothing (a caller that clones a
/// [`Verification`](crate::Verification) to log it adds no refusal to the
/// trail), and each clone that is decided writes its own decision. Without
/// a sink it is `None`: dropping it is one branch.
#[derive(Clone)]
pub(crate) struct OwedRecord(Option<Arc<Owed>>);

/// The record shared by the clones of one pending proof.
struct Owed {
    draft: Draft,
    /// Whether any clone has been decided.
    decided: AtomicBool,
}

impl Drop for Owed {
    fn drop(&mut self) {
        // the last clone is gone: no decision was ever taken on any
        if !*self.decided.get_mut() {
            let draft = Box::new(self.draft.clone());
            DeferredAudit {
                pending: Some(draft),
            }
            .refuse(VerifyError::ProofRequired.code());
        }
    }
}

impl OwedRecord {
    /// Owes the record `audit` would have written (nothing without a sink).
    pub(crate) fn new(audit: DeferredAudit) -> OwedRecord {
        OwedRecord(audit.pending.map(|draft| {
            Arc::new(Owed {
                draft: *draft,
                decided: AtomicBool::new(false),
            })
        }))
    }

    /// Owes nothing: the caller records the decision itself (the deferring
    /// path's [`DeferredAudit`]), or there is no sink.
    pub(crate) const fn nothing() -> OwedRecord {
        OwedRecord(None)
    }

    /// Whether a record is owed (the verifier has a sink).
    pub(crate) fn is_owed(&self) -> bool {
        self.0.is_some()
    }

    /// Writes the acceptance; one that cannot be written is refused
    /// ([`VerifyError::AuditFailed`]), as everywhere in the crate.
    pub(crate) fn accept(self) -> Result<(), VerifyError> {
        self.decide().accept()
    }

    /// Writes the refusal with its stable `code` (best effort).
    pub(crate) fn refuse(self, code: &str) {
        self.decide().refuse(code);
    }

    /// This clone's record, for its decision; the shared fallback is off.
    fn decide(self) -> DeferredAudit {
        let Some(owed) = self.0 else {
            return DeferredAudit::disabled();
        };
        owed.decided.store(true, Ordering::Release);
        DeferredAudit {
            pending: Some(Box::new(owed.draft.clone())),
        }
    }
}
