//! The [`Passport`] extractor: the passport of an authenticated request.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use passport_dpop::VerifiedProof;
use passport_verifier::VerifiedPassport;

use crate::auth::Shared;
use crate::{AuthError, PassportAuth, Rejection, Requirements, Scheme};

/// An authenticated request's passport: the [`VerifiedPassport`] (it
/// dereferences to it), the DPoP proof when the passport is bound, and the
/// scheme. The layer puts it in the request's extensions; handlers take it
/// as an extractor.
///
/// Inside a service mounted with `nest_service` (an MCP server, say) it is
/// in `request.extensions()`, and frameworks that keep the HTTP request
/// parts (as `rmcp` does) make it reachable from there.
#[derive(Clone)]
pub struct Passport(Arc<Inner>);

struct Inner {
    verified: VerifiedPassport,
    proof: Option<VerifiedProof>,
    scheme: Scheme,
    shared: Arc<Shared>,
}

impl Passport {
    pub(crate) fn new(
        verified: VerifiedPassport,
        proof: Option<VerifiedProof>,
        scheme: Scheme,
        shared: Arc<Shared>,
    ) -> Passport {
        Passport(Arc::new(Inner {
            verified,
            proof,
            scheme,
            shared,
        }))
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
    pub fn require(&self, requirements: &Requirements) -> Result<(), Rejection> {
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
    /// ```no_run
    /// use passport_axum::{Passport, Rejection};
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
/// silent pass).
impl<S: Send + Sync> FromRequestParts<S> for Passport {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Passport, Rejection> {
        parts
            .extensions
            .get::<Passport>()
            .cloned()
            .ok_or_else(|| Rejection::new(AuthError::LayerMissing, None, None, false))
    }
}

/// `Option<Passport>`: `None` on a route without the layer.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Passport {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Passport>, Self::Rejection> {
        Ok(parts.extensions.get::<Passport>().cloned())
    }
}
