//! [`PassportAuth`]: the shared state, and the one function that
//! authenticates a request.

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use passport_claims::UnverifiedBundle;
use passport_dpop::{DpopError, DpopVerifier, VerifiedProof};
use passport_verifier::{
    DeferredAudit, Refetch, RefetchFuture, Verification, VerifiedPassport, Verifier,
};

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
    /// The scope named in a challenge to a request without a passport.
    pub(crate) challenge_scope: Option<String>,
    pub(crate) dpop_algs: String,
    pub(crate) require_pop: bool,
    pub(crate) max_authorization_len: usize,
    pub(crate) refetch: Vec<Arc<dyn Refetch>>,
    pub(crate) refetch_timeout: Duration,
    /// What [`PassportAuth::trusting`] started (keys and status refreshers).
    #[cfg(feature = "remote")]
    pub(crate) trust: Option<crate::Trust>,
}

thread_local! {
    /// The `htu` of the request being checked on this thread: one buffer
    /// reused, so building the URL costs no allocation per request.
    static HTU: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Shared {
    /// Calls `f` with the absolute URL of a request for `htu`: the
    /// configured base and the request's path (the query never matters for
    /// `htu`).
    pub(crate) fn with_htu<T>(&self, path: &str, f: impl FnOnce(&str) -> T) -> T {
        let path = if path.starts_with('/') { path } else { "/" };
        HTU.with(|cell| match cell.try_borrow_mut() {
            Ok(mut url) => {
                url.clear();
                url.push_str(&self.base);
                url.push_str(path);
                f(&url)
            }
            // Only if `f` itself checked a proof on this thread: never in
            // this crate, but a fresh String is always correct.
            Err(_) => f(&format!("{}{path}", self.base)),
        })
    }
}

/// A refusal of the first verification, before it is recorded.
pub(crate) enum Refused {
    /// Recorded already: the answer.
    Final(Rejection),
    /// The verifier refused the bundle and a [`Refetch`] may help: the
    /// record waits for the retry's decision.
    Retry {
        /// The refusal, answered if the retry does not happen.
        rejection: Rejection,
        /// The first verification's record, never written when a second
        /// verification runs (that one writes its own). Boxed: a record is
        /// large, and this path is rare.
        audit: Box<DeferredAudit>,
    },
}

/// A resource server's passport authentication: the shared [`Verifier`]
/// (with its ancestor cache, status sources and audit sink), the optional
/// [`DpopVerifier`] (with its replay cache and nonce issuer), the RFC 9728
/// metadata and the public base URL. Cheap to clone (one `Arc`).
///
/// Build it once with [`PassportAuth::builder`], then take layers from it
/// ([`PassportAuth::layer`], [`PassportAuth::require`]) and the metadata
/// route ([`PassportAuth::metadata_path`], [`PassportAuth::metadata_json`];
/// passport-axum serves them with `metadata_router`).
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

    /// A resource server that trusts `issuer` by its URL alone (feature
    /// `remote`, on by default):
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), passport_tower::AuthError> {
    /// use passport_tower::PassportAuth;
    ///
    /// let auth = PassportAuth::trusting("https://issuer.example")
    ///     .resource("https://files.example")
    ///     .build()
    ///     .await?;
    /// # let _ = auth;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// The defaults are the safe ones: the issuer's keys come from its RFC
    /// 8414 (or OpenID) metadata and are refreshed in the background within
    /// their HTTP cache lifetime, refetched when a passport names a new
    /// `kid` (once per cooldown), and failed closed after a bounded outage;
    /// status lists under the issuer's URL are fetched when first named and
    /// refreshed before they expire, and every passport's status is checked
    /// (a passport whose list cannot be established is refused, 503);
    /// passports must name `resource` as their audience exactly; bearer and
    /// DPoP-bound passports are accepted, each under its rules; the RFC 9728
    /// metadata names the issuer as the authorization server.
    /// [`PassportAuth::trust`] reports the refreshers' health. The fetches
    /// on first need (a new `kid`, a list not held yet) are run by the
    /// request's authentication: the layer's, or
    /// [`PassportAuth::authenticate`] for other frameworks.
    #[cfg(feature = "remote")]
    pub fn trusting(issuer: impl Into<String>) -> crate::TrustingBuilder {
        crate::TrustingBuilder::new(issuer)
    }

    /// The key store and status refresher [`PassportAuth::trusting`]
    /// started, for their health; `None` for a `PassportAuth` built from
    /// its parts.
    #[cfg(feature = "remote")]
    pub fn trust(&self) -> Option<&crate::Trust> {
        self.shared.trust.as_ref()
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
    /// [`PassportAuth::metadata_path`], without authentication; merge it
    /// into the application's after its passport layers.
    #[cfg(feature = "axum")]
    pub fn metadata_router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        use http::{HeaderValue, header};
        let body = self.shared.metadata_json.clone();
        axum::Router::new().route(
            &self.shared.metadata_path,
            axum::routing::get(move || {
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

    /// The RFC 9728 metadata document as served: its JSON bytes (cheap to
    /// clone), for a server that routes [`PassportAuth::metadata_path`]
    /// itself (with the `axum` feature, `metadata_router` serves it).
    pub fn metadata_json(&self) -> Bytes {
        self.shared.metadata_json.clone()
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

    /// Authenticates one request as the layer does, for other frameworks
    /// (and for benchmarks): the same first verification and, when the
    /// verifier refuses the bundle and a registered [`Refetch`] may help
    /// (a remote key store for a new `kid`, a status refresher for a list
    /// not held yet — both registered by [`PassportAuth::trusting`]), the
    /// same refetch and second verification, within the configured
    /// timeout. It is async for that wait only: without a refetch to do it
    /// completes at once. The refetch needs a tokio runtime; outside one the
    /// first refusal stands, and no [`Refetch`] is asked (none spends its
    /// cooldown).
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
    /// passport leaves exactly one record of this decision once the future
    /// is first polled (also when it is dropped during a refetch; a future
    /// dropped before its first poll decided nothing and leaves no record):
    /// `accepted` when this returns
    /// `Ok` (an acceptance that cannot be recorded is refused, 503
    /// `audit_failed`), otherwise the refusal with its code — never an
    /// `accepted` record for a bound passport whose proof failed.
    ///
    /// Prefer [`Requirements`] to the verifier policy's own
    /// `required_scope` and floors: the policy's are checked while the
    /// bundle is verified, so their refusals come before the DPoP proof is
    /// looked at.
    pub async fn authenticate(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        requirements: &Requirements,
    ) -> Result<Passport, Rejection> {
        let passport =
            match self.first_attempt(method, path, headers, requirements, self.refetches()) {
                Ok(passport) => passport,
                Err(Refused::Final(rejection)) => return Err(rejection),
                Err(Refused::Retry { rejection, audit }) => {
                    self.refetch_and_retry(method, path, headers, requirements, rejection, audit)
                        .await?
                }
            };
        passport.settle_accepted()?;
        Ok(passport)
    }

    /// One verification, never retried: a refusal is recorded at once; an
    /// accepted request's record waits in the [`Passport`] until the
    /// application receives it (inner layers may still refuse). The second
    /// attempt of [`PassportAuth::refetch_and_retry`].
    pub(crate) fn authenticate_deferred(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        requirements: &Requirements,
    ) -> Result<Passport, Rejection> {
        self.first_attempt(method, path, headers, requirements, false)
            .map_err(|refused| match refused {
                Refused::Final(rejection) => rejection,
                Refused::Retry { rejection, audit } => {
                    record_refusal(*audit, &rejection, requirements);
                    rejection
                }
            })
    }

    /// True when a refusal of the verifier may be worth a refetch.
    pub(crate) fn refetches(&self) -> bool {
        !self.shared.refetch.is_empty()
    }

    /// The first verification of a request. With `may_retry`, a refusal by
    /// the verifier is returned unrecorded ([`Refused::Retry`]), for
    /// [`PassportAuth::refetch_and_retry`].
    pub(crate) fn first_attempt(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        requirements: &Requirements,
        may_retry: bool,
    ) -> Result<Passport, Refused> {
        let shared = &self.shared;
        let pop_required = requirements.proof_of_possession || shared.require_pop;
        let reject = |error: AuthError, scheme: Option<Scheme>| {
            Rejection::new(error, Some(shared.clone()), scheme, pop_required)
        };

        // A request without a passport has nothing to attribute a record to.
        let (scheme, token) =
            credentials(headers, shared.max_authorization_len, shared.dpop.is_some())
                .map_err(|e| Refused::Final(reject(e, None)))?;
        let (verification, audit) = shared.verifier.verify_str_deferring_audit(token);
        let verification = match verification {
            Ok(verification) => verification,
            Err(e) => {
                let rejection = reject(AuthError::Token(e), Some(scheme));
                if may_retry {
                    return Err(Refused::Retry {
                        rejection,
                        audit: Box::new(audit),
                    });
                }
                record_refusal(audit, &rejection, requirements);
                return Err(Refused::Final(rejection));
            }
        };
        let request = RequestParts {
            method,
            path,
            headers,
            token,
        };
        match self.prove(&request, scheme, verification, pop_required) {
            Ok((verified, proof)) => {
                let passport = Passport::new(verified, proof, scheme, shared.clone(), audit);
                // Records its own refusal.
                passport.require(requirements).map_err(Refused::Final)?;
                Ok(passport)
            }
            Err(e) => {
                let rejection = reject(e, Some(scheme));
                record_refusal(audit, &rejection, requirements);
                Err(Refused::Final(rejection))
            }
        }
    }

    /// After the verifier refused a request's bundle: asks each
    /// [`Refetch`] for the work that may let it pass, awaits that work
    /// (concurrently, within the configured timeout) and authenticates the
    /// request once more. Without any work to do, or when the work does not
    /// finish in time, the first refusal stands. Either way exactly one
    /// audit record is written: the first refusal's, or the second
    /// attempt's.
    pub(crate) async fn refetch_and_retry(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        requirements: &Requirements,
        rejection: Rejection,
        audit: Box<DeferredAudit>,
    ) -> Result<Passport, Rejection> {
        let shared = &self.shared;
        // Written if this future is dropped while the refetch runs (the
        // client went away): the request still leaves its one record.
        let pending = PendingRefusal {
            audit: Some(*audit),
            code: rejection.code(),
            scope: requirements.scope.as_deref(),
        };
        let refetched = match (
            rejection.error(),
            credentials(headers, shared.max_authorization_len, shared.dpop.is_some()),
        ) {
            // The timeout needs tokio's timer (and the refetches their
            // tasks): outside a tokio runtime the first refusal stands
            // rather than a panic, and no refetch is asked for — asking
            // spends its cooldown.
            (AuthError::Token(error), Ok((_, token)))
                if tokio::runtime::Handle::try_current().is_ok() =>
            {
                match UnverifiedBundle::parse(token) {
                    Ok(bundle) => {
                        let work: Vec<RefetchFuture<'_>> = shared
                            .refetch
                            .iter()
                            .filter_map(|r| r.refetch(&bundle, error))
                            .collect();
                        !work.is_empty()
                            && tokio::time::timeout(shared.refetch_timeout, join_all(work))
                                .await
                                .is_ok()
                    }
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if !refetched {
            // Records the first refusal.
            drop(pending);
            return Err(rejection);
        }
        // The first verification's record is dropped unwritten: the second
        // one is the request's decision.
        pending.disarm();
        self.authenticate_deferred(method, path, headers, requirements)
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
                let proof = shared
                    .with_htu(request.path, |htu| {
                        dpop.verify(
                            &proofs[..count],
                            request.method.as_str(),
                            htu,
                            Some(request.token),
                            Some(pending.bound_jkt()),
                        )
                    })
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

/// Records a refusal as the request's one audit record, with the route's
/// scope.
fn record_refusal(mut audit: DeferredAudit, rejection: &Rejection, requirements: &Requirements) {
    if let Some(scope) = &requirements.scope {
        audit.set_required_scope(scope);
    }
    audit.refuse(rejection.code());
}

/// The first refusal's record while a refetch runs: written when dropped
/// (also when the request's future is cancelled mid-wait), unless
/// [`PendingRefusal::disarm`]ed because a second verification decides.
struct PendingRefusal<'a> {
    audit: Option<DeferredAudit>,
    code: &'static str,
    scope: Option<&'a str>,
}

impl PendingRefusal<'_> {
    /// Drops the record unwritten.
    fn disarm(mut self) {
        drop(self.audit.take());
    }
}

impl Drop for PendingRefusal<'_> {
    fn drop(&mut self) {
        if let Some(mut audit) = self.audit.take() {
            if let Some(scope) = self.scope {
                audit.set_required_scope(scope);
            }
            audit.refuse(self.code);
        }
    }
}

/// Awaits every future, polling them together.
async fn join_all(mut work: Vec<RefetchFuture<'_>>) {
    std::future::poll_fn(|cx| {
        work.retain_mut(|future| Pin::as_mut(future).poll(cx).is_pending());
        if work.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}
