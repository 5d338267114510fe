//! What a verification yields: a [`VerifiedPassport`], or for a passport
//! bound to a key, a [`PendingProof`] owed its proof of possession.

use std::sync::Arc;

use passport_claims::{Assurance, PassportClaims, ScopeSet, UnverifiedBundle};

use crate::deferred::OwedRecord;
use crate::{DeferredAudit, VerifyError, rules};

/// The outcome of [`Verifier::verify_bundle_pending_proof`](crate::Verifier::verify_bundle_pending_proof).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Verification {
    /// A bearer passport (no `cnf`): verified.
    Verified(VerifiedPassport),
    /// A passport bound to a key: every rule passed, and it is usable once
    /// the request proves possession of that key.
    ProofRequired(PendingProof),
}

impl Verification {
    /// The verified claims, whether or not a proof is still owed.
    pub(crate) fn verified(&self) -> &VerifiedPassport {
        match self {
            Verification::Verified(v) => v,
            Verification::ProofRequired(p) => &p.verified,
        }
    }
}

/// A bound passport that passed every rule but still needs its holder's
/// proof of possession. Only [`PendingProof::confirm`] (with the thumbprint
/// of the key a proof was verified with) turns it into a [`VerifiedPassport`].
///
/// ## Audit
///
/// From [`Verifier::verify_bundle_pending_proof`](crate::Verifier::verify_bundle_pending_proof)
/// (or [`verify_str_pending_proof`](crate::Verifier::verify_str_pending_proof))
/// on a verifier with an audit sink, nothing is recorded when the bundle
/// verifies: a bound passport is not accepted until its holder has proven
/// possession, so whoever presents a stolen bundle without its key writes
/// no acceptance. The `PendingProof` carries the verification's one record
/// and writes it with the decision:
///
/// - [`confirm`](PendingProof::confirm) with the bound key: `accepted` (an
///   acceptance that cannot be recorded is refused, `audit_failed`);
/// - `confirm` with another key: refused, `dpop_key_mismatch`;
/// - [`dangerous_assume_proven`](PendingProof::dangerous_assume_proven):
///   `accepted` (refused with `audit_failed` if it cannot be recorded);
/// - dropped without either: refused, `dpop_proof_required` — the passport
///   was never used, and the trail keeps its presentation.
///
/// Each clone that is decided writes the record of its own decision; the
/// refusal for "dropped undecided" is written once, and only when no clone
/// was ever decided (a clone kept for logging adds nothing). From
/// [`Verifier::verify_str_deferring_audit`](crate::Verifier::verify_str_deferring_audit)
/// a `PendingProof` carries no record (the [`DeferredAudit`](crate::DeferredAudit)
/// does), and without a sink none either.
#[derive(Clone)]
pub struct PendingProof {
    verified: VerifiedPassport,
    audit: OwedRecord,
}

impl PendingProof {
    /// A pending proof that owes no audit record.
    pub(crate) fn new(verified: VerifiedPassport) -> PendingProof {
        PendingProof {
            verified,
            audit: OwedRecord::nothing(),
        }
    }

    /// The same, owing the record `audit` would write (nothing when the
    /// verifier has no sink).
    pub(crate) fn owing(mut self, audit: DeferredAudit) -> PendingProof {
        self.audit = OwedRecord::new(audit);
        self
    }

    /// The RFC 7638 thumbprint the proof's key must have (`cnf.jkt`).
    pub fn bound_jkt(&self) -> &str {
        self.verified.bound_jkt().unwrap_or_default()
    }

    /// The bundle as presented (what a DPoP proof's `ath` covers).
    pub fn bundle(&self) -> &str {
        self.verified.bundle()
    }

    /// Completes verification: `proven_jkt` is the thumbprint of the key the
    /// caller verified a proof of possession with (for DPoP, the verified
    /// proof's `jkt`). Any other key is refused (`dpop_key_mismatch`), and
    /// so recorded when the verifier has an audit sink; the bound key is
    /// recorded `accepted`, and an acceptance that cannot be recorded is
    /// refused (`audit_failed`).
    pub fn confirm(self, proven_jkt: &str) -> Result<VerifiedPassport, VerifyError> {
        let PendingProof { verified, audit } = self;
        if verified.bound_jkt().unwrap_or_default() != proven_jkt {
            let refused = VerifyError::ProofKeyMismatch;
            audit.refuse(refused.code());
            return Err(refused);
        }
        audit.accept()?;
        Ok(verified)
    }

    /// Treats possession as proven without a proof. Only for a party that is
    /// itself trusted with the passport's authority — the issuer's operator
    /// delegating on the holder's behalf — never for a server answering a
    /// request.
    ///
    /// Recorded `accepted` when the verifier has an audit sink; an
    /// acceptance that cannot be recorded is refused (`audit_failed`), the
    /// only error.
    pub fn dangerous_assume_proven(self) -> Result<VerifiedPassport, VerifyError> {
        let PendingProof { verified, audit } = self;
        audit.accept()?;
        Ok(verified)
    }
}

impl std::fmt::Debug for PendingProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingProof")
            .field("verified", &self.verified)
            .field("audit_owed", &self.audit.is_owed())
            .finish()
    }
}

/// A passport that passed every rule, with its verified chain.
///
/// Only [`Verifier`](crate::Verifier) makes one: there is no public constructor, so holding a
/// `VerifiedPassport` proves the checks ran.
#[derive(Clone)]
pub struct VerifiedPassport {
    bundle: UnverifiedBundle,
    links: Vec<Arc<PassportClaims>>,
    verified_at: i64,
}

impl VerifiedPassport {
    /// Only the [`Verifier`](crate::Verifier) calls this, once every rule passed on `links`
    /// (leaf first, at least one).
    pub(crate) fn new(
        bundle: UnverifiedBundle,
        links: Vec<Arc<PassportClaims>>,
        verified_at: i64,
    ) -> VerifiedPassport {
        VerifiedPassport {
            bundle,
            links,
            verified_at,
        }
    }

    /// The leaf's claims.
    pub fn claims(&self) -> &PassportClaims {
        &self.links[0]
    }

    /// Every link's claims, leaf first, root last.
    pub fn links(&self) -> &[Arc<PassportClaims>] {
        &self.links
    }

    /// The root passport (the leaf itself for a bundle of one).
    pub fn root(&self) -> &PassportClaims {
        self.links.last().map_or(&self.links[0], |p| p)
    }

    /// The principal (`sub`), the same on every link.
    pub fn principal(&self) -> &str {
        &self.links[0].sub
    }

    /// The agent holding the leaf.
    pub fn agent_id(&self) -> &str {
        &self.links[0].agent.agent_id
    }

    /// The leaf's scope patterns.
    pub fn scopes(&self) -> &ScopeSet {
        &self.links[0].agent.tool_scope
    }

    /// The leaf's assurance levels.
    pub fn assurance(&self) -> passport_claims::Assurance {
        self.links[0].assurance
    }

    /// How many passports the bundle held.
    pub fn depth(&self) -> usize {
        self.links.len()
    }

    /// The verified bundle's text (`leaf~…~root`).
    pub fn bundle(&self) -> &str {
        self.bundle.as_str()
    }

    /// The leaf token.
    pub fn token(&self) -> &str {
        self.bundle.leaf()
    }

    /// The RFC 7638 thumbprint of the key the leaf is bound to (`cnf.jkt`),
    /// if it is sender-constrained. A bound passport must be presented with a
    /// DPoP proof by that key, never as a plain bearer token.
    pub fn bound_jkt(&self) -> Option<&str> {
        self.links[0].cnf_jkt.as_deref()
    }

    /// The verifier's time when it was verified.
    pub fn verified_at(&self) -> i64 {
        self.verified_at
    }

    /// A further scope requirement (for example per route or per tool).
    pub fn require_scope(&self, required: &str) -> Result<(), VerifyError> {
        rules::scope_covers(self.scopes(), required)
    }

    /// Further assurance floors (for example per route): each level set in
    /// `floor` must be met by the leaf.
    pub fn require_assurance(&self, floor: &Assurance) -> Result<(), VerifyError> {
        rules::assurance_floors(self.claims(), floor)
    }
}

impl std::fmt::Debug for VerifiedPassport {
    // No token bytes: jti, sub and agent only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedPassport")
            .field("jti", &self.links[0].jti)
            .field("sub", &self.links[0].sub)
            .field("agent_id", &self.links[0].agent.agent_id)
            .field("depth", &self.links.len())
            .finish()
    }
}
