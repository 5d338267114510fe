//! [`PassportAuth`]: the shared state, and the one function that
//! authenticates a request.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::routing::get;
use passport_dpop::{DpopError, DpopVerifier, VerifiedProof};
use passport_verifier::{Verification, VerifiedPassport, Verifier};

use crate::credentials::{DPOP, credentials};
use crate::metadata::ResourceMetadata;
use crate::{
    AuthError, Passport, PassportAuthBuilder, PassportLayer, Rejection, Requirements, Scheme,
};

/// What every layer and rejection of one [`PassportAuth`] share.
pub(crate) struct Shared {
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) dpop: Option<DpopVerifier>,
    /// The public base URL, without a trailing `/`.
    pub(crate) base: String,
    pub(crate) metadata: ResourceMetadata,
    pub(crate) metadata_json: Bytes,
    pub(crate) metadata_path: String,
    pub(crate) metadata_url: String,
    pub(crate) realm: String,
    pub(crate) dpop_algs: String,
    pub(crate) require_pop: bool,
    pub(crate) max_authorization_len: usize,
}

impl Shared {
    /// The absolute URL of a request for `htu`: the configured base and the
    /// request's path (the query never matters for `htu`).
    pub(crate) fn htu(&self, path: &str) -> String {
        let path = if path.starts_with('/') { path } else { "/" };
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }
}

/// A resource server's passport authentication: the shared [`Verifier`]
/// (with its ancestor cache, status sources and audit sink), the optional
/// [`DpopVerifier`] (with its replay cache and nonce issuer), the RFC 9728
/// metadata and the public base URL. Cheap to clone (one `Arc`).
///
/// Build it once with [`PassportAuth::builder`], then take layers from it
/// ([`PassportAuth::layer`], [`PassportAuth::require`]) and the metadata
/// route ([`PassportAuth::metadata_router`]).
///
/// ## Why the base URL comes from configuration
///
/// A DPoP proof names the URL it is for (`htu`), and the server compares it
/// with the URL of the request. That URL is built from the configured public
/// base URL and the request's path, never from the `Host` header (or
/// `X-Forwarded-*`): those are chosen by the client, so trusting them would
/// let a proof made for another server (`https://other.example/mcp`, signed
/// by the same agent key and captured there) be replayed here with
/// `Host: other.example`. Behind a TLS-terminating proxy the server also
/// does not see the scheme and host the client used; configuration does.
#[derive(Clone)]
pub struct PassportAuth {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for PassportAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassportAuth")
            .field("resource", &self.shared.metadata.resource)
            .field("base", &self.shared.base)
            .field("dpop", &self.shared.dpop.is_some())
            .field("require_pop", &self.shared.require_pop)
            .finish_non_exhaustive()
    }
}

impl PassportAuth {
    /// Starts configuring authentication with `verifier`, whose policy's
    /// audience is by default the resource identifier.
    pub fn builder(verifier: Arc<Verifier>) -> PassportAuthBuilder {
        PassportAuthBuilder::new(verifier)
    }

    /// A layer that requires a valid passport and nothing more.
    pub fn layer(&self) -> PassportLayer {
        self.require(Requirements::none())
    }

    /// A layer that requires a valid passport meeting `requirements`.
    ///
    /// When an outer layer of the same `PassportAuth` has already
    /// authenticated the request, this one only checks its requirements
    /// (the bundle is not verified twice, and the DPoP proof is not
    /// presented twice to the replay cache).
    pub fn require(&self, requirements: Requirements) -> PassportLayer {
        PassportLayer::new(self.clone(), requirements)
    }

    /// A router serving the RFC 9728 metadata document at
    /// [`PassportAuth::metadata_path`]; merge it into the application's.
    pub fn metadata_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let body = self.shared.metadata_json.clone();
        Router::new().route(
            &self.shared.metadata_path,
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [
                            (
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("application/json"),
                            ),
                            (
                                header::CACHE_CONTROL,
                                HeaderValue::from_static("max-age=300"),
                            ),
                        ],
                        body,
                    )
                }
            }),
        )
    }

    /// The metadata document.
    pub fn metadata(&self) -> &ResourceMetadata {
        &self.shared.metadata
    }

    /// The path the metadata is served at (RFC 9728 §3.1).
    pub fn metadata_path(&self) -> &str {
        &self.shared.metadata_path
    }

    /// The absolute URL of the metadata (the challenges' `resource_metadata`).
    pub fn metadata_url(&self) -> &str {
        &self.shared.metadata_url
    }

    /// The shared verifier.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.shared.verifier
    }

    /// A [`Rejection`] for `error`, answered with this server's challenges.
    pub fn reject(&self, error: AuthError) -> Rejection {
        Rejection::new(error, Some(self.shared.clone()), None, false)
    }

    /// Authenticates one request: the function the layer runs, exposed for
    /// other frameworks and for benchmarks.
    ///
    /// `path` is the request's path as the client sent it (under axum's
    /// `nest`, the `OriginalUri`'s path; the layer takes care of that);
    /// `headers` its headers. In order: exactly one well-formed
    /// `Authorization` header (`Bearer` or `DPoP`, any case, at most the
    /// configured length); the bundle verified by the shared [`Verifier`];
    /// a passport bound to a key (`cnf.jkt`) must come with the `DPoP`
    /// scheme and exactly one `DPoP` proof by that key, for this method and
    /// URL, with `ath` over the bundle (and the server nonce when the DPoP
    /// policy requires one); a bearer passport is refused where proof of
    /// possession is required; then the assurance floors and the scope.
    ///
    /// When the verifier has an audit sink, a request that presents a
    /// passport leaves exactly one record of this decision: `accepted` when
    /// this returns `Ok` (an acceptance that cannot be recorded is refused,
    /// 503 `audit_failed`), otherwise the refusal with its code — never an
    /// `accepted` record for a bound passport whose proof failed.
    ///
    /// Prefer [`Requirements`] to the verifier policy's own
    /// `required_scope` and floors: the policy's are checked while the
    /// bundle is verified, so their refusals come before the DPoP proof is
    /// looked at.
    pub fn authenticate(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        requirements: &Requirements,
    ) -> Result<Passport, Rejection> {
        let passport = self.authenticate_deferred(method, path, headers, requirements)?;
        passport.settle_accepted()?;
        Ok(passport)
    }

    /// [`PassportAuth::authenticate`] for the layer: a refusal is recorded
    /// at once; an accepted request's record waits in the [`Passport`]
    /// until the application receives it (inner layers may still refuse).
    pub(crate) fn authenticate_deferred(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        requirements: &Requirements,
    ) -> Result<Passport, Rejection> {
        let shared = &self.shared;
        let pop_required = requirements.proof_of_possession || shared.require_pop;
        let reject = |error: AuthError, scheme: Option<Scheme>| {
            Rejection::new(error, Some(shared.clone()), scheme, pop_required)
        };

        // A request without a passport has nothing to attribute a record to.
        let (scheme, token) =
            credentials(headers, shared.max_authorization_len, shared.dpop.is_some())
                .map_err(|e| reject(e, None))?;
        let (verification, audit) = shared.verifier.verify_str_deferring_audit(token);
        let decided = verification
            .map_err(|e| reject(AuthError::Token(e), Some(scheme)))
            .and_then(|verification| {
                let request = RequestParts {
                    method,
                    path,
                    headers,
                    token,
                };
                self.prove(&request, scheme, verification, pop_required)
                    .map_err(|e| reject(e, Some(scheme)))
            });
        match decided {
            Ok((verified, proof)) => {
                let passport = Passport::new(verified, proof, scheme, shared.clone(), audit);
                // Records its own refusal.
                passport.require(requirements)?;
                Ok(passport)
            }
            Err(rejection) => {
                let mut audit = audit;
                if let Some(scope) = &requirements.scope {
                    audit.set_required_scope(scope);
                }
                audit.refuse(rejection.code());
                Err(rejection)
            }
        }
    }

    /// The scheme and the proof of possession, for a bundle that verified.
    fn prove(
        &self,
        request: &RequestParts<'_>,
        scheme: Scheme,
        verification: Verification,
        pop_required: bool,
    ) -> Result<(VerifiedPassport, Option<VerifiedProof>), AuthError> {
        let shared = &self.shared;
        match (scheme, verification, shared.dpop.as_ref()) {
            (Scheme::Bearer, Verification::ProofRequired(_), _) => {
                Err(AuthError::BoundTokenAsBearer)
            }
            (Scheme::Bearer, Verification::Verified(_), _) if pop_required => {
                Err(AuthError::ProofOfPossessionRequired)
            }
            (Scheme::Bearer, Verification::Verified(verified), _) => Ok((verified, None)),
            (Scheme::Dpop, Verification::Verified(_), _) => Err(AuthError::TokenNotBound),
            // `credentials` only returns `Dpop` when a DPoP verifier is set.
            (Scheme::Dpop, Verification::ProofRequired(_), None) => {
                Err(AuthError::UnsupportedScheme)
            }
            (Scheme::Dpop, Verification::ProofRequired(pending), Some(dpop)) => {
                let mut proofs: [&str; 2] = ["", ""];
                let mut count = 0;
                for value in request.headers.get_all(&DPOP).iter().take(2) {
                    proofs[count] = value.to_str().map_err(|_| {
                        AuthError::Proof(DpopError::Malformed(
                            "the DPoP header is not visible ASCII".into(),
                        ))
                    })?;
                    count += 1;
                }
                let htu = shared.htu(request.path);
                let proof = dpop
                    .verify(
                        &proofs[..count],
                        request.method.as_str(),
                        &htu,
                        Some(request.token),
                        Some(pending.bound_jkt()),
                    )
                    .map_err(AuthError::Proof)?;
                // The proof's key is the bound key (checked above); this is
                // what turns the pending passport into a verified one.
                let verified = pending.confirm(&proof.jkt).map_err(AuthError::Token)?;
                Ok((verified, Some(proof)))
            }
            // A kind of verification this layer does not know: refuse.
            (_, _, _) => Err(AuthError::UnsupportedScheme),
        }
    }
}

/// What [`PassportAuth::prove`] needs of the request.
struct RequestParts<'a> {
    method: &'a Method,
    path: &'a str,
    headers: &'a HeaderMap,
    /// The bundle as presented (what the proof's `ath` covers).
    token: &'a str,
}
