//! [`Passport`]: the passport of an authenticated request (with the `axum`
//! feature, an extractor).

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use passport_dpop::VerifiedProof;
use passport_verifier::{DeferredAudit, VerifiedPassport};

use crate::auth::Shared;
use crate::{AuthError, PassportAuth, Rejection, Requirements, Scheme};

/// An authenticated request's passport: the [`VerifiedPassport`] (it
/// dereferences to it), the DPoP proof when the passport is bound, and the
/// scheme. The layer puts it in the request's extensions
/// (`request.extensions().get::<Passport>()`); with the `axum` feature,
/// handlers take it as an extractor.
///
/// Inside a service mounted with `nest_service` (an MCP server, say) it is
/// in `request.extensions()`, and frameworks that keep the HTTP request
/// parts (as `rmcp` does) make it reachable from there.
///
/// ## The request's audit record
///
/// A request that presents a passport leaves exactly one record in the
/// verifier's audit sink: the decision of the passport layers. A refusal by
/// any layer (or any [`Passport::require`] before the application has the
/// passport) is recorded with its code at once. An acceptance is recorded
/// when the application receives the passport: when this extractor first
/// runs, or when a service calls [`Passport::accept`] — so an acceptance
/// that cannot be recorded is answered 503 `audit_failed` before the
/// handler acts. For a service that does neither, it is recorded when the
/// response passes back through the outermost layer: the service has run
/// by then, and a failing sink turns its response into that 503, so
/// whatever it did stays unrecorded (and a client retrying the 503 has it
/// done again). A tower service that is not an axum handler therefore
/// calls [`Passport::accept`] before it acts. Checks the handler makes
/// itself afterwards are the application's decisions, not the layer's:
/// the record stays `accepted`.
#[derive(Clone)]
pub struct Passport(Arc<Inner>);

struct Inner {
    verified: VerifiedPassport,
    proof: Option<VerifiedProof>,
    scheme: Scheme,
    shared: Arc<Shared>,
    audit: AuditSlot,
}

/// The request's audit record until the decision is known. Dropped while
/// still pending (the request's future was cancelled after the layers let
/// it through), it records the acceptance.
struct AuditSlot(Mutex<Option<DeferredAudit>>);

impl AuditSlot {
    fn take(&self) -> Option<DeferredAudit> {
        // Taking an Option cannot leave it inconsistent: a poisoned lock is
        // still safe to use.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Drop for AuditSlot {
    fn drop(&mut self) {
        if let Some(audit) = self.take() {
            // Nobody is left to answer: the layers let the request through.
            let _ = audit.accept();
        }
    }
}

impl Passport {
    /// `audit`: the request's record, written when the decision is known
    /// (see [`Passport::settle_accepted`] and [`Passport::require`]).
    pub(crate) fn new(
        verified: VerifiedPassport,
        proof: Option<VerifiedProof>,
        scheme: Scheme,
        shared: Arc<Shared>,
        audit: DeferredAudit,
    ) -> Passport {
        Passport(Arc::new(Inner {
            verified,
            proof,
            scheme,
            shared,
            audit: AuditSlot(Mutex::new(Some(audit))),
        }))
    }

    /// Records the request as accepted, unless its record was written
    /// already. An acceptance that cannot be recorded is refused (503
    /// `audit_failed`).
    pub(crate) fn settle_accepted(&self) -> Result<(), Rejection> {
        let Some(audit) = self.0.audit.take() else {
            return Ok(());
        };
        audit.accept().map_err(|e| {
            Rejection::new(
                AuthError::Token(e),
                Some(self.0.shared.clone()),
                Some(self.0.scheme),
                false,
            )
        })
    }

    /// Records the request as accepted now, unless its record was written
    /// already: what the axum extractor does, for a tower service that is
    /// not an axum handler. Call it before acting on the request: when the
    /// acceptance cannot be recorded (the audit sink is failing), it returns
    /// the 503 `audit_failed` rejection to answer with, and the request
    /// must not be acted on. Once it returned `Ok`, later calls (and the
    /// layer, when the response passes back) write nothing more.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{Request, Response};
    /// use passport_tower::Passport;
    ///
    /// fn handle(request: Request<Bytes>) -> Response<Bytes> {
    ///     let Some(passport) = request.extensions().get::<Passport>() else {
    ///         return Response::new(Bytes::from("no passport"));
    ///     };
    ///     if let Err(rejection) = passport.accept() {
    ///         return rejection.into_http_response();
    ///     }
    ///     // recorded: act on the request
    ///     Response::new(Bytes::from(format!("hello {}", passport.agent_id())))
    /// }
    /// ```
    pub fn accept(&self) -> Result<(), Rejection> {
        self.settle_accepted()
    }

    /// Records the request as refused with `code`, unless its record was
    /// written already: for a layer inside the passport layer that refuses
    /// an authenticated request for a reason of its own (a body too large,
    /// a session of another agent). Without it, the request's record would
    /// say `accepted` when the response passes back through the passport
    /// layer. `code` is the refusing layer's stable error code.
    pub fn record_refusal(&self, code: &str) {
        if let Some(audit) = self.0.audit.take() {
            audit.refuse(code);
        }
    }

    /// Records `rejection` as the request's outcome, unless its record was
    /// written already.
    fn settle_refused(&self, rejection: &Rejection, requirements: &Requirements) {
        if let Some(mut audit) = self.0.audit.take() {
            if let Some(scope) = &requirements.scope {
                audit.set_required_scope(scope);
            }
            audit.refuse(rejection.code());
        }
    }

    /// The verified passport and its chain.
    pub fn verified(&self) -> &VerifiedPassport {
        &self.0.verified
    }

    /// The DPoP proof that came with a bound passport.
    pub fn proof(&self) -> Option<&VerifiedProof> {
        self.0.proof.as_ref()
    }

    /// The scheme the passport was presented with.
    pub fn scheme(&self) -> Scheme {
        self.0.scheme
    }

    /// Checks `requirements` (for example per tool, inside a handler),
    /// answering like the layer would.
    ///
    /// A refusal before the application has received the passport (a
    /// route layer's check) is the request's audit record; after that, the
    /// record already says `accepted` (see [the type's
    /// documentation](Passport#the-requests-audit-record)).
    pub fn require(&self, requirements: &Requirements) -> Result<(), Rejection> {
        self.check(requirements).inspect_err(|rejection| {
            self.settle_refused(rejection, requirements);
        })
    }

    fn check(&self, requirements: &Requirements) -> Result<(), Rejection> {
        let reject = |error: AuthError| {
            Rejection::new(
                error,
                Some(self.0.shared.clone()),
                Some(self.0.scheme),
                requirements.proof_of_possession,
            )
        };
        if requirements.proof_of_possession && self.0.proof.is_none() {
            return Err(reject(AuthError::ProofOfPossessionRequired));
        }
        let v = &self.0.verified;
        v.require_assurance(&requirements.min_assurance)
            .map_err(|e| reject(AuthError::Token(e)))?;
        if let Some(scope) = &requirements.scope {
            v.require_scope(scope)
                .map_err(|e| reject(AuthError::Token(e)))?;
        }
        Ok(())
    }

    /// Checks one scope: `Err` is a 403 `insufficient_scope` naming it.
    ///
    /// ```
    /// use passport_tower::{Passport, Rejection};
    ///
    /// async fn delete_file(passport: Passport) -> Result<&'static str, Rejection> {
    ///     passport.require_scope("files:delete")?;
    ///     Ok("deleted")
    /// }
    /// ```
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        self.require(&Requirements::scope(scope))
    }

    pub(crate) fn same_auth(&self, auth: &PassportAuth) -> bool {
        Arc::ptr_eq(&self.0.shared, &auth.shared)
    }
}

impl Deref for Passport {
    type Target = VerifiedPassport;
    fn deref(&self) -> &VerifiedPassport {
        &self.0.verified
    }
}

impl fmt::Debug for Passport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passport")
            .field("verified", &self.0.verified)
            .field("scheme", &self.0.scheme)
            .field("proof_jkt", &self.0.proof.as_ref().map(|p| &p.jkt))
            .finish()
    }
}

/// Takes the [`Passport`] the layer put in the request. On a route without
/// the layer it answers 500 `passport_layer_missing` (a server bug, never a
/// silent pass). The first extraction records the request as accepted; if
/// that record cannot be written, it answers 503 `audit_failed` and the
/// handler does not run.
#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Passport {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Passport, Rejection> {
        let passport = parts
            .extensions
            .get::<Passport>()
            .cloned()
            .ok_or_else(|| Rejection::new(AuthError::LayerMissing, None, None, false))?;
        passport.settle_accepted()?;
        Ok(passport)
    }
}

/// `Option<Passport>`: `None` on a route without the layer; like
/// `Passport`, answers 503 `audit_failed` when the acceptance cannot be
/// recorded.
#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Passport {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Passport>, Rejection> {
        match parts.extensions.get::<Passport>().cloned() {
            Some(passport) => {
                passport.settle_accepted()?;
                Ok(Some(passport))
            }
            None => Ok(None),
        }
    }
}
