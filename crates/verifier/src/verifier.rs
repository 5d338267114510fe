//! The [`Verifier`]: finds keys, checks signatures (through the ancestor
//! cache), runs the rules of [`crate::rules`] in order and records the
//! outcome in the audit trail.

use std::sync::Arc;

use passport_claims::{Clock, PASSPORT_TYP, PassportClaims, SystemClock, UnverifiedBundle};
use passport_jose::{CompactJws, VerifyOptions, sha256};

use passport_audit::{Action, AuditRecord, AuditSink, LinkRef, Outcome, clip};

use crate::cache::{Admission, BundleMemo, DEFAULT_CACHE_CAPACITY, SignatureCache, Verified};
use crate::observe;
use crate::rules::{self, Link, shorten};
use crate::{
    DeferredAudit, KeyStore, PendingProof, StatusSource, Verification, VerificationPolicy,
    VerifiedPassport, VerifyError,
};

/// Verifies passports and bundles under one [`VerificationPolicy`] and one
/// [`KeyStore`]. Build it once and share it (it is `Send + Sync`); its
/// signature cache is what makes repeated bundles and chains cheap.
///
/// ```
/// use std::sync::Arc;
/// use passport_claims::{
///     AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet, UnverifiedBundle,
/// };
/// use passport_issuer::{IssuanceRequest, Issuer};
/// use passport_jose::{Algorithm, SigningKey};
/// use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
///
/// let key = SigningKey::generate(Algorithm::EdDSA)?;
/// let keys = InMemoryKeyStore::new();
/// keys.insert("https://issuer.local", key.verifying_key())?;
/// let issuer = Issuer::new("https://issuer.local", key);
/// let minted = issuer.issue(IssuanceRequest::new(
///     IdentityAssertion::new("https://idp.example", "alice"),
///     Audience::new("https://tool.example")?,
///     AgentId::new("agent-a")?,
///     AgentModel::new("model-x")?,
///     ScopeSet::parse(["files:read"])?,
/// ))?;
///
/// let verifier = Verifier::new(
///     VerificationPolicy::new("https://issuer.local", "https://tool.example").required_scope("files:read"),
///     keys,
/// )?;
/// let verified = verifier.verify_bundle(&UnverifiedBundle::parse(minted.bundle())?)?;
/// assert_eq!(verified.principal(), "alice");
/// assert_eq!(verified.agent_id(), "agent-a");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Verifier {
    policy: VerificationPolicy,
    options: VerifyOptions,
    keys: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    cache: SignatureCache,
    bundles: BundleMemo,
    status: Vec<Arc<dyn StatusSource>>,
    ignore_status: bool,
    audit: Option<(Arc<dyn AuditSink>, serde_json::Value)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .field("cached_tokens", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `policy` (validated here) using `keys`, the system
    /// clock, and a signature cache of [`DEFAULT_CACHE_CAPACITY`] tokens.
    pub fn new(
        policy: VerificationPolicy,
        keys: impl KeyStore + 'static,
    ) -> Result<Verifier, VerifyError> {
        Verifier::with_key_store(policy, Arc::new(keys))
    }

    /// As [`Verifier::new`], with a shared key store.
    pub fn with_key_store(
        policy: VerificationPolicy,
        keys: Arc<dyn KeyStore>,
    ) -> Result<Verifier, VerifyError> {
        policy.validate()?;
        let options = VerifyOptions {
            algorithms: policy.allowed_algorithms.clone(),
            typ: Some(PASSPORT_TYP.to_owned()),
            accept_untyped: policy.accept_untyped,
        };
        Ok(Verifier {
            policy,
            options,
            keys,
            clock: Arc::new(SystemClock),
            cache: SignatureCache::new(DEFAULT_CACHE_CAPACITY),
            bundles: BundleMemo::new(),
            status: Vec::new(),
            ignore_status: false,
            audit: None,
        })
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Verifier {
        self.clock = clock;
        self
    }

    /// Adds a revocation source, consulted for every link of every bundle
    /// (call again to add more: a status list and a deny list, say). A link
    /// any source reports revoked or suspended, or that a source cannot
    /// answer for, is refused.
    pub fn with_status_source(mut self, source: Arc<dyn StatusSource>) -> Verifier {
        self.status.push(source);
        self
    }

    /// Accepts passports that carry a `status` reference although this
    /// verifier has no status source: their revocation is not checked at
    /// all. Without this opt-out such passports are refused
    /// (`status_source_required`), since ignoring the reference in silence
    /// accepts revoked passports. For offline tools that know what they do.
    pub fn dangerous_ignore_status(mut self) -> Verifier {
        self.ignore_status = true;
        self
    }

    /// Records every verification in `sink`: accepted or refused, the error
    /// code, each link's `jti` and `agent_id`, `sub`, `iss`, `aud`, the
    /// required scope and a summary of the policy — never the token. An
    /// acceptance that cannot be recorded is refused (`audit_failed`).
    ///
    /// A bundle that does not even parse is recorded refused, with no
    /// links. A refused bundle's record quotes what its links claim, marked
    /// unverified, one entry per link in the bundle's order: a link that
    /// does not decode keeps its place with an empty `jti` and `agent_id`,
    /// and `sub` and `iss` are the leaf's, absent when the leaf does not
    /// decode. A bound passport from
    /// [`Verifier::verify_bundle_pending_proof`] is recorded when its proof
    /// is decided, not before (see [`PendingProof`]).
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Verifier {
        let p = &self.policy;
        let summary = serde_json::json!({
            "trusted_issuers": p.trusted_issuers,
            "audience": p.audience,
            "min_ial": p.min_assurance.ial.map(|l| l.get()),
            "min_aal": p.min_assurance.aal.map(|l| l.get()),
            "min_fal": p.min_assurance.fal.map(|l| l.get()),
            "required_scope": p.required_scope,
            "allow_wildcard": p.allow_wildcard,
            "clock_skew": p.clock_skew,
            "max_depth": p.max_depth,
            "max_lifetime": p.max_lifetime,
            "allowed_actors": p.allowed_actors,
            "accept_untyped": p.accept_untyped,
            "status_sources": self.status.len(),
        });
        self.audit = Some((sink, summary));
        self
    }

    /// Sets the signature cache's fixed capacity in tokens, leaves and
    /// ancestors together (0 disables it, and the memo of recently parsed
    /// bundle texts with it). An ancestor verified once, and a leaf
    /// verified twice, is then neither decoded nor signature-checked again
    /// while its key stays the same key object in the store; every other
    /// rule runs on every use. (Most leaves are new on every request: a
    /// leaf is kept only once it is presented again.)
    pub fn with_cache_capacity(mut self, capacity: usize) -> Verifier {
        self.cache = SignatureCache::new(capacity);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &VerificationPolicy {
        &self.policy
    }

    /// How many tokens (leaves and ancestors) are cached now, never more
    /// than the capacity.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    /// The cache's capacity.
    pub fn cache_capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// Parses `text` as a bundle and verifies it. A bundle that does not
    /// parse is a refusal like any other (and recorded so, with an audit
    /// sink).
    pub fn verify_str(&self, text: &str) -> Result<VerifiedPassport, VerifyError> {
        self.verify_bundle(&self.parse_audited(text)?)
    }

    /// Verifies `token` with its ancestors `chain`, nearest first (parent,
    /// grandparent, …, root) — the order of a bundle.
    pub fn verify(&self, token: &str, chain: &[&str]) -> Result<VerifiedPassport, VerifyError> {
        let mut tokens = Vec::with_capacity(chain.len() + 1);
        tokens.push(token);
        tokens.extend_from_slice(chain);
        let bundle = UnverifiedBundle::from_tokens(&tokens).map_err(|e| self.refuse_unparsed(e))?;
        self.verify_bundle(&bundle)
    }

    /// Verifies a bundle: every SPEC §5 rule on the leaf and every link.
    ///
    /// Order: the depth limit (before any cryptography); the leaf's
    /// signature, claims, issuer, time and actor; the leaf-only rules
    /// (audience, assurance floors, wildcard, required scope); then each
    /// ancestor (signature from the cache when possible; issuer, time and
    /// actor always) and the chain rules between each child and its parent.
    ///
    /// A passport bound to a key (`cnf.jkt`) is refused here
    /// (`dpop_proof_required`): it is only valid with a proof of possession,
    /// which this method cannot see. Callers that check proofs use
    /// [`Verifier::verify_bundle_pending_proof`].
    pub fn verify_bundle(
        &self,
        bundle: &UnverifiedBundle,
    ) -> Result<VerifiedPassport, VerifyError> {
        match self.verify_audited(bundle, false)? {
            Verification::Verified(v) => Ok(v),
            Verification::ProofRequired(_) => Err(VerifyError::ProofRequired),
        }
    }

    /// As [`Verifier::verify_bundle`], for callers that check proofs of
    /// possession themselves: a bound leaf is returned as a [`PendingProof`],
    /// which becomes a [`VerifiedPassport`] only once the caller confirms
    /// that the request proved possession of the bound key.
    ///
    /// With an audit sink, a bearer passport ([`Verification::Verified`])
    /// and a refusal are recorded here, as by [`Verifier::verify_bundle`];
    /// a bound one is recorded by its [`PendingProof`] once the proof is
    /// decided — `accepted` only on [`PendingProof::confirm`] with the bound
    /// key (or [`PendingProof::dangerous_assume_proven`]), refused otherwise.
    /// An HTTP layer whose decision also depends on the route's
    /// requirements uses [`Verifier::verify_str_deferring_audit`] instead.
    pub fn verify_bundle_pending_proof(
        &self,
        bundle: &UnverifiedBundle,
    ) -> Result<Verification, VerifyError> {
        self.verify_audited(bundle, true)
    }

    /// Parses `text` and calls [`Verifier::verify_bundle_pending_proof`]; a
    /// bundle that does not parse is a recorded refusal, as in
    /// [`Verifier::verify_str`].
    pub fn verify_str_pending_proof(&self, text: &str) -> Result<Verification, VerifyError> {
        self.verify_bundle_pending_proof(&self.parse_audited(text)?)
    }

    /// As [`Verifier::verify_str_pending_proof`], for a caller whose
    /// decision does not end with the bundle (an HTTP layer that still
    /// checks a DPoP proof and route requirements): no record is written
    /// now; the [`DeferredAudit`] writes the one record of the caller's
    /// final decision. A refusal here is final for the caller too: it
    /// records it with [`DeferredAudit::refuse`] and the error's code.
    pub fn verify_str_deferring_audit(
        &self,
        text: &str,
    ) -> (Result<Verification, VerifyError>, DeferredAudit) {
        match self.parse_bundle(text) {
            Ok(bundle) => {
                let result = self.verify_observed(&bundle, true);
                let audit = self.audit_draft(Some(&bundle), result.as_ref());
                (result, audit)
            }
            Err(e) => {
                let refused = self.unparsed(e);
                let audit = self.audit_draft(None, Err(&refused));
                (Err(refused), audit)
            }
        }
    }

    /// Verifies and records the outcome: a refusal or a bearer passport
    /// now; a bound passport's record goes with its [`PendingProof`], to
    /// be written when its proof is decided (it is not accepted before).
    fn verify_audited(
        &self,
        bundle: &UnverifiedBundle,
        allow_pending: bool,
    ) -> Result<Verification, VerifyError> {
        let result = self.verify_observed(bundle, allow_pending);
        let audit = self.audit_draft(Some(bundle), result.as_ref());
        match result {
            Ok(Verification::ProofRequired(pending)) => {
                Ok(Verification::ProofRequired(pending.owing(audit)))
            }
            Ok(verification) => audit.accept().map(|()| verification),
            Err(refused) => {
                audit.refuse(refused.code());
                Err(refused)
            }
        }
    }

    /// Parses a bundle, through the memo of recent bundles unless the
    /// cache is off (capacity 0: every verification starts from nothing).
    fn parse_bundle(&self, text: &str) -> Result<UnverifiedBundle, passport_claims::ClaimsError> {
        if self.cache.enabled() {
            self.bundles.parse(text)
        } else {
            UnverifiedBundle::parse(text)
        }
    }

    /// Parses a bundle; a bundle that does not parse is a refused
    /// verification for the span, the metrics and the audit trail too.
    fn parse_audited(&self, text: &str) -> Result<UnverifiedBundle, VerifyError> {
        self.parse_bundle(text).map_err(|e| self.refuse_unparsed(e))
    }

    /// A bundle that did not parse: a refused verification, observed and
    /// recorded (without a sink, `audit_draft` returns at once).
    /// Off the path of a bundle that parses.
    #[cold]
    fn refuse_unparsed(&self, e: passport_claims::ClaimsError) -> VerifyError {
        let refused = self.unparsed(e);
        self.audit_draft(None, Err(&refused)).refuse(refused.code());
        refused
    }

    /// A bundle that did not parse: a refused verification for the span and
    /// the metrics.
    fn unparsed(&self, e: passport_claims::ClaimsError) -> VerifyError {
        let refused = VerifyError::from(e);
        observe::verified(&observe::verify_span(), Err(&refused));
        refused
    }

    /// [`Verifier::verify_pending`] inside a `passport.verify` span, its
    /// outcome counted.
    fn verify_observed(
        &self,
        bundle: &UnverifiedBundle,
        allow_pending: bool,
    ) -> Result<Verification, VerifyError> {
        let span = observe::verify_span();
        let result = span.in_scope(|| self.verify_pending(bundle, allow_pending));
        observe::verified(&span, result.as_ref());
        result
    }

    fn verify_pending(
        &self,
        bundle: &UnverifiedBundle,
        allow_pending: bool,
    ) -> Result<Verification, VerifyError> {
        self.verify_unaudited(bundle)
            .and_then(|v| match (v.bound_jkt().is_some(), allow_pending) {
                (false, _) => Ok(Verification::Verified(v)),
                (true, true) => Ok(Verification::ProofRequired(PendingProof::new(v))),
                (true, false) => Err(VerifyError::ProofRequired),
            })
    }

    /// The record of a verification of `bundle` (`None`: it did not parse)
    /// that ended in `result`; its outcome is set when it is written.
    fn audit_draft(
        &self,
        bundle: Option<&UnverifiedBundle>,
        result: Result<&Verification, &VerifyError>,
    ) -> DeferredAudit {
        let Some((sink, policy)) = &self.audit else {
            return DeferredAudit::disabled();
        };
        let mut record = AuditRecord::new(self.clock.now(), Action::Verify, Outcome::Refused);
        record.aud = Some(self.policy.audience.clone());
        record.required_scope = self.policy.required_scope.clone();
        let mut policy = policy.clone();
        // Sources may be added after `with_audit`; report what applies now.
        policy["status_sources"] = serde_json::Value::from(self.status.len());
        record.policy = Some(policy);
        match result {
            Ok(verification) => {
                let v = verification.verified();
                record.links = v.links().iter().map(|p| link_ref(p)).collect();
                record.sub = Some(clip(&v.claims().sub));
                record.iss = Some(clip(&v.claims().iss));
            }
            Err(e) => {
                // What the refused bundle claims, marked as unverified: one
                // entry per token, in place (a token that does not decode
                // is an empty entry, so `links[i]` is always the bundle's
                // link i), and the identity of the leaf only: an
                // ancestor's would attribute the refusal to another
                // passport.
                record.error = Some(e.code().to_owned());
                record.verified = false;
                let claimed = bundle
                    .map(UnverifiedBundle::inspect_unverified)
                    .unwrap_or_default();
                record.links = claimed
                    .iter()
                    .map(|d| {
                        d.as_ref()
                            .map_or_else(|_| undecoded_link(), |d| link_ref(&d.claims))
                    })
                    .collect();
                if let Some(Ok(leaf)) = claimed.first() {
                    record.sub = Some(clip(&leaf.claims.sub));
                    record.iss = Some(clip(&leaf.claims.iss));
                }
            }
        }
        DeferredAudit::new(Arc::clone(sink), record)
    }

    fn verify_unaudited(&self, bundle: &UnverifiedBundle) -> Result<VerifiedPassport, VerifyError> {
        rules::depth(bundle.len(), &self.policy)?;
        let now = self.clock.now();
        let mut links = Vec::with_capacity(bundle.len());

        let status = rules::StatusCheck {
            sources: &self.status,
            dangerous_ignore: self.ignore_status,
        };
        let leaf = self.verify_link(bundle.leaf(), false)?;
        rules::every_link(&leaf.passport, &self.policy, &status, now)?;
        rules::leaf(&leaf.passport, &self.policy)?;
        links.push(leaf);

        for (index, token) in bundle.ancestors().enumerate() {
            let in_link = |e: VerifyError| VerifyError::InLink {
                link: index + 1,
                source: Box::new(e),
            };
            let link = self.verify_link(token, true).map_err(in_link)?;
            rules::every_link(&link.passport, &self.policy, &status, now).map_err(in_link)?;
            links.push(link);
        }

        rules::chain(&links, &self.policy)?;
        Ok(VerifiedPassport::new(
            bundle.clone(),
            links.into_iter().map(|link| link.passport).collect(),
            now,
        ))
    }

    /// Parses one token, finds the key its `iss` and `kid` name — a key of
    /// that issuer only — verifies its signature and checks the key was not
    /// retired when the token was issued, then offers it to the cache (an
    /// ancestor is kept at once, a leaf when it is verified again).
    /// An `ancestor` is hashed (its child's `parent_hash` must equal the
    /// digest); a leaf is not, unless it is later used as an ancestor.
    ///
    /// The claims are decoded before the signature is checked, because the
    /// issuer they name decides which keys may have signed; nothing in them
    /// is trusted until the signature verifies.
    fn verify_signature(&self, token: &str, ancestor: bool) -> Result<Link, VerifyError> {
        let jws = CompactJws::parse(token)?;
        let kid = jws.header().require_kid()?;
        let passport = Arc::new(PassportClaims::from_json(jws.unverified_payload())?);
        // An untrusted issuer's keys are never looked for.
        rules::trusted_issuer(&passport.iss, &self.policy)?;
        let key = self
            .keys
            .key(&passport.iss, kid)
            .ok_or_else(|| VerifyError::UnknownKey {
                iss: shorten(&passport.iss),
                kid: shorten(kid),
            })?;
        jws.verify(&key, &self.options)?;
        rules::key_not_retired(&passport, kid, key.retired_at())?;
        let untyped = jws.header().is_untyped();
        let digest = ancestor.then(|| sha256(token.as_bytes()));
        if self.cache.enabled() {
            let admission = match ancestor {
                true => Admission::Now,
                false => Admission::WhenSeenAgain,
            };
            self.cache.insert(token, digest, admission, || Verified {
                header: jws.header().clone(),
                key,
                passport: Arc::clone(&passport),
            });
        }
        Ok(Link {
            passport,
            untyped,
            digest,
        })
    }

    /// One token of the bundle, leaf or `ancestor`: from the cache when its
    /// exact bytes were verified before and its key is still the very key
    /// object the store returns, else parsed and its signature verified.
    /// Only the decoding and the signature are skipped on a hit; the caller
    /// runs every other rule on the link as on a cold one. An ancestor's
    /// SHA-256 is computed at most once per token, ever.
    fn verify_link(&self, token: &str, ancestor: bool) -> Result<Link, VerifyError> {
        if !self.cache.enabled() {
            return self.verify_signature(token, ancestor);
        }
        let Some(hit) = self.cache.get(token) else {
            observe::cache_lookup(false);
            return self.verify_signature(token, ancestor);
        };
        // The same question the cold path asked: the claims' `iss` and the
        // header's `kid`, so a hit is only ever used with a key of the
        // link's own issuer.
        let cached = &hit.verified;
        match self.keys.key(cached.iss(), cached.kid()) {
            Some(current) if current.same_key(&cached.key) => {
                observe::cache_lookup(true);
                rules::trusted_issuer(cached.iss(), &self.policy)?;
                // Retirement may have been published since it was cached.
                rules::key_not_retired(&cached.passport, cached.kid(), current.retired_at())?;
                // The header rules of the cold path, against the options
                // in force now (the same as when it was cached: each
                // verifier owns its cache; cheap, and the paths stay one).
                self.options.check_header(&cached.header)?;
                let untyped = cached.header.is_untyped();
                Ok(Link {
                    passport: Arc::clone(&cached.passport),
                    untyped,
                    digest: ancestor.then(|| hit.digest()),
                })
            }
            _ => {
                // The key was removed or replaced: the entry dies with it.
                observe::cache_lookup(false);
                self.cache.remove(token);
                self.verify_signature(token, ancestor)
            }
        }
    }
}

fn link_ref(p: &PassportClaims) -> LinkRef {
    LinkRef {
        jti: clip(&p.jti),
        agent_id: clip(&p.agent.agent_id),
    }
}

/// The entry of a refused bundle's link that does not decode: empty, which
/// no decoded link can be (`jti` is a non-empty string), so readers of the
/// record format as it is tell it apart.
fn undecoded_link() -> LinkRef {
    LinkRef {
        jti: String::new(),
        agent_id: String::new(),
    }
}
