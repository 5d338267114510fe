//! The verifier: every rule of SPEC §5 on the leaf and on every link.

use std::sync::Arc;

use passport_claims::{
    Actor, Assurance, Clock, PASSPORT_TYP, PassportClaims, ScopeSet, SystemClock, UnverifiedBundle,
};
use passport_jose::{CompactJws, JoseError, VerifyOptions, sha256};

use passport_audit::{Action, AuditRecord, AuditSink, LinkRef, Outcome, clip};

use crate::cache::{AncestorCache, CachedLink, DEFAULT_CACHE_CAPACITY};
use crate::{
    AssuranceKind, ChainViolation, KeyStore, LinkStatus, StatusSource, VerificationPolicy,
    VerifyError,
};

/// Verifies passports and bundles under one [`VerificationPolicy`] and one
/// [`KeyStore`]. Build it once and share it (it is `Send + Sync`); its
/// ancestor cache is what makes repeated chains cheap.
///
/// ```
/// use std::sync::Arc;
/// use passport_claims::{IdentityAssertion, ScopeSet, UnverifiedBundle};
/// use passport_issuer::{IssuanceRequest, Issuer};
/// use passport_jose::{Algorithm, SigningKey};
/// use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
///
/// let key = SigningKey::generate(Algorithm::EdDSA)?;
/// let keys = InMemoryKeyStore::new();
/// keys.insert(key.verifying_key());
/// let issuer = Issuer::new("https://issuer.local", key);
/// let minted = issuer.issue(IssuanceRequest::new(
///     IdentityAssertion::new("https://idp.example", "alice"),
///     "https://tool.example", "agent-a", "model-x",
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
    cache: AncestorCache,
    status: Vec<Arc<dyn StatusSource>>,
    audit: Option<(Arc<dyn AuditSink>, serde_json::Value)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .field("cached_ancestors", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `policy` (validated here) using `keys`, the system
    /// clock, and an ancestor cache of [`DEFAULT_CACHE_CAPACITY`] entries.
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
            cache: AncestorCache::new(DEFAULT_CACHE_CAPACITY),
            status: Vec::new(),
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

    /// Records every verification in `sink`: accepted or refused, the error
    /// code, each link's `jti` and `agent_id`, `sub`, `iss`, `aud`, the
    /// required scope and a summary of the policy — never the token. An
    /// acceptance that cannot be recorded is refused (`audit_failed`).
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
            "allowed_actors": p.allowed_actors,
            "accept_untyped": p.accept_untyped,
            "status_sources": self.status.len(),
        });
        self.audit = Some((sink, summary));
        self
    }

    /// Sets the ancestor cache's fixed capacity (0 disables it).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Verifier {
        self.cache = AncestorCache::new(capacity);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &VerificationPolicy {
        &self.policy
    }

    /// How many ancestors are cached now (never more than the capacity).
    pub fn cached_ancestors(&self) -> usize {
        self.cache.len()
    }

    /// The cache's capacity.
    pub fn cache_capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// Parses `text` as a bundle and verifies it.
    pub fn verify_str(&self, text: &str) -> Result<VerifiedPassport, VerifyError> {
        self.verify_bundle(&UnverifiedBundle::parse(text)?)
    }

    /// Verifies `token` with its ancestors `chain`, nearest first (parent,
    /// grandparent, …, root) — the order of a bundle.
    pub fn verify(&self, token: &str, chain: &[&str]) -> Result<VerifiedPassport, VerifyError> {
        let mut tokens = Vec::with_capacity(chain.len() + 1);
        tokens.push(token);
        tokens.extend_from_slice(chain);
        self.verify_bundle(&UnverifiedBundle::from_tokens(&tokens)?)
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
    /// possession (an HTTP layer with DPoP): a bound leaf is returned as a
    /// [`PendingProof`], which becomes a [`VerifiedPassport`] only once the
    /// caller confirms that the request proved possession of the bound key.
    pub fn verify_bundle_pending_proof(
        &self,
        bundle: &UnverifiedBundle,
    ) -> Result<Verification, VerifyError> {
        self.verify_audited(bundle, true)
    }

    /// Parses `text` and calls [`Verifier::verify_bundle_pending_proof`].
    pub fn verify_str_pending_proof(&self, text: &str) -> Result<Verification, VerifyError> {
        self.verify_bundle_pending_proof(&UnverifiedBundle::parse(text)?)
    }

    fn verify_audited(
        &self,
        bundle: &UnverifiedBundle,
        allow_pending: bool,
    ) -> Result<Verification, VerifyError> {
        let result = self.verify_unaudited(bundle).and_then(|v| {
            match (v.bound_jkt().is_some(), allow_pending) {
                (false, _) => Ok(Verification::Verified(v)),
                (true, true) => Ok(Verification::ProofRequired(PendingProof { verified: v })),
                (true, false) => Err(VerifyError::ProofRequired),
            }
        });
        let Some((sink, policy)) = &self.audit else {
            return result;
        };
        let mut record = AuditRecord::new(
            self.clock.now(),
            Action::Verify,
            if result.is_ok() {
                Outcome::Accepted
            } else {
                Outcome::Refused
            },
        );
        record.aud = Some(self.policy.audience.clone());
        record.required_scope = self.policy.required_scope.clone();
        let mut policy = policy.clone();
        // Sources may be added after `with_audit`; report what applies now.
        policy["status_sources"] = serde_json::Value::from(self.status.len());
        record.policy = Some(policy);
        match &result {
            Ok(verification) => {
                let v = verification.verified();
                record.links = v.links.iter().map(|p| link_ref(p)).collect();
                record.sub = Some(clip(&v.claims().sub));
                record.iss = Some(clip(&v.claims().iss));
            }
            Err(e) => {
                // What the refused bundle claims, marked as unverified.
                record.error = Some(e.code().to_owned());
                record.verified = false;
                let claimed: Vec<PassportClaims> = bundle
                    .inspect_unverified()
                    .into_iter()
                    .filter_map(|d| d.ok().map(|d| d.claims))
                    .collect();
                record.links = claimed.iter().map(link_ref).collect();
                record.sub = claimed.first().map(|p| clip(&p.sub));
                record.iss = claimed.first().map(|p| clip(&p.iss));
            }
        }
        match (sink.record(&record), result) {
            (Ok(()), result) => result,
            (Err(e), Ok(_)) => Err(VerifyError::AuditFailed(e)),
            (Err(_), Err(refused)) => Err(refused),
        }
    }

    fn verify_unaudited(&self, bundle: &UnverifiedBundle) -> Result<VerifiedPassport, VerifyError> {
        if bundle.len() > self.policy.max_depth {
            return Err(VerifyError::ChainTooDeep {
                depth: bundle.len(),
                max: self.policy.max_depth,
            });
        }
        let now = self.clock.now();
        let mut links = Vec::with_capacity(bundle.len());
        let mut untyped = Vec::with_capacity(bundle.len());
        // SHA-256 of each ancestor's bytes: the cache key, and what its
        // child's `parent_hash` must be. Computed once per ancestor.
        let mut digests = Vec::with_capacity(bundle.len());
        digests.push([0u8; 32]);

        let (leaf, leaf_untyped) = self.verify_signature(bundle.leaf())?;
        self.check_link(&leaf, now)?;
        self.check_leaf(&leaf)?;
        links.push(leaf);
        untyped.push(leaf_untyped);

        for (index, token) in bundle.ancestors().enumerate() {
            let link = index + 1;
            let in_link = |e: VerifyError| VerifyError::InLink {
                link,
                source: Box::new(e),
            };
            let digest = sha256(token.as_bytes());
            let (passport, is_untyped) = self.verify_ancestor(token, &digest).map_err(in_link)?;
            digests.push(digest);
            self.check_link(&passport, now).map_err(in_link)?;
            links.push(passport);
            untyped.push(is_untyped);
        }

        self.check_chain(&links, &untyped, &digests)?;
        Ok(VerifiedPassport {
            bundle: bundle.clone(),
            links,
            verified_at: now,
        })
    }

    /// Parses and verifies one token's signature and decodes its claims.
    fn verify_signature(&self, token: &str) -> Result<(Arc<PassportClaims>, bool), VerifyError> {
        let (passport, _, untyped) = self.verify_signature_with_key(token)?;
        Ok((passport, untyped))
    }

    fn verify_signature_with_key(
        &self,
        token: &str,
    ) -> Result<(Arc<PassportClaims>, CachedLinkKey, bool), VerifyError> {
        let jws = CompactJws::parse(token)?;
        let kid = jws.header().require_kid()?;
        let key = self
            .keys
            .key(kid)
            .ok_or_else(|| VerifyError::UnknownKey { kid: shorten(kid) })?;
        let payload = jws.verify(&key, &self.options)?;
        let passport = Arc::new(PassportClaims::from_json(payload)?);
        let untyped = jws.header().is_untyped();
        Ok((
            passport,
            CachedLinkKey {
                kid: kid.to_owned(),
                key,
                alg: jws.header().alg(),
            },
            untyped,
        ))
    }

    /// An ancestor: from the cache when its key is still the trusted one.
    fn verify_ancestor(
        &self,
        token: &str,
        digest: &[u8; 32],
    ) -> Result<(Arc<PassportClaims>, bool), VerifyError> {
        if let Some(hit) = self.cache.get(digest) {
            // The same question the cold path asked: the header's `kid`.
            match self.keys.key(&hit.kid) {
                Some(current) if current.same_key(&hit.key) => {
                    // The policy could only differ if the cache outlived it;
                    // it cannot, but these checks are cheap and keep the
                    // cached path identical to the cold one.
                    if !self.options.algorithms.contains(&hit.alg) {
                        return Err(JoseError::AlgorithmNotAllowed {
                            alg: hit.alg,
                            allowed: self.options.algorithms.clone(),
                        }
                        .into());
                    }
                    if hit.untyped && !self.options.accept_untyped {
                        return Err(JoseError::UntypedNotAccepted { found: None }.into());
                    }
                    return Ok((hit.passport, hit.untyped));
                }
                _ => self.cache.remove(digest),
            }
        }
        let (passport, key, untyped) = self.verify_signature_with_key(token)?;
        self.cache.insert(
            *digest,
            token.len(),
            CachedLink {
                kid: key.kid,
                key: key.key,
                alg: key.alg,
                untyped,
                passport: Arc::clone(&passport),
            },
        );
        Ok((passport, untyped))
    }

    /// Rules every link must meet: issuer, time window, allowed actor.
    fn check_link(&self, p: &PassportClaims, now: i64) -> Result<(), VerifyError> {
        if !self.policy.trusted_issuers.contains(&p.iss) {
            return Err(VerifyError::UntrustedIssuer {
                iss: shorten(&p.iss),
            });
        }
        let skew = i64::try_from(self.policy.clock_skew).unwrap_or(0);
        if now > p.exp.saturating_add(skew) {
            return Err(VerifyError::Expired { exp: p.exp, now });
        }
        if now < p.nbf.saturating_sub(skew) {
            return Err(VerifyError::NotYetValid { nbf: p.nbf, now });
        }
        if now < p.iat.saturating_sub(skew) {
            return Err(VerifyError::IssuedInFuture { iat: p.iat, now });
        }
        if let Some(allowed) = &self.policy.allowed_actors
            && !allowed.contains(&p.agent.agent_id)
        {
            return Err(VerifyError::ActorNotAllowed {
                agent_id: shorten(&p.agent.agent_id),
            });
        }
        // Revocation is never cached: asked for every link on every use.
        for source in &self.status {
            match source.status(p, now)? {
                LinkStatus::Valid => {}
                LinkStatus::Revoked => {
                    return Err(VerifyError::Revoked {
                        jti: shorten(&p.jti),
                    });
                }
                LinkStatus::Suspended => {
                    return Err(VerifyError::Suspended {
                        jti: shorten(&p.jti),
                    });
                }
            }
        }
        Ok(())
    }

    /// Rules only the presented passport must meet.
    fn check_leaf(&self, p: &PassportClaims) -> Result<(), VerifyError> {
        if p.aud != self.policy.audience {
            return Err(VerifyError::AudienceMismatch {
                expected: self.policy.audience.clone(),
                found: shorten(&p.aud),
            });
        }
        check_floors(p, &self.policy.min_assurance)?;
        if self.policy.require_proof_of_possession && p.cnf_jkt.is_none() {
            return Err(VerifyError::ProofOfPossessionRequired);
        }
        if !self.policy.allow_wildcard
            && let Some(pattern) = p.agent.tool_scope.iter().find(|s| s.is_universal())
        {
            return Err(VerifyError::WildcardNotAllowed {
                pattern: pattern.to_string(),
            });
        }
        if let Some(required) = &self.policy.required_scope {
            check_scope(&p.agent.tool_scope, required)?;
        }
        Ok(())
    }

    /// SPEC §5 item 9 between each child and its parent.
    fn check_chain(
        &self,
        links: &[Arc<PassportClaims>],
        untyped: &[bool],
        digests: &[[u8; 32]],
    ) -> Result<(), VerifyError> {
        let last = links.len() - 1;
        for (i, child) in links.iter().enumerate() {
            let broken = |violation| VerifyError::Chain { link: i, violation };
            let Some(parent) = links.get(i + 1) else {
                // The last passport must be a root whose actor is just itself.
                if let Some(parent_jti) = &child.agent.parent_jti {
                    return Err(broken(if last == 0 {
                        ChainViolation::ParentMissing {
                            parent_jti: shorten(parent_jti),
                        }
                    } else {
                        ChainViolation::RootClaimsParent {
                            parent_jti: shorten(parent_jti),
                        }
                    }));
                }
                if child.act != Actor::new(child.agent.agent_id.clone()) {
                    return Err(broken(ChainViolation::ActorChainMismatch {
                        agent_id: shorten(&child.agent.agent_id),
                    }));
                }
                continue;
            };
            let Some(parent_jti) = &child.agent.parent_jti else {
                return Err(broken(ChainViolation::SurplusParent { surplus: last - i }));
            };
            if *parent_jti != parent.jti {
                return Err(broken(ChainViolation::ParentJtiMismatch {
                    claimed: shorten(parent_jti),
                    actual: shorten(&parent.jti),
                }));
            }
            match &child.parent_hash {
                Some(hash) => {
                    let matches = passport_jose::b64::decode(hash).is_some_and(|h| {
                        digests
                            .get(i + 1)
                            .is_some_and(|d| h.as_slice() == d.as_slice())
                    });
                    if !matches {
                        return Err(broken(ChainViolation::ParentHashMismatch));
                    }
                }
                // Only csp-agent-passport children (untyped, accepted by
                // policy) may lack the binding; a typed passport minted here
                // always carries it.
                None if untyped[i] && self.policy.accept_untyped => {}
                None => return Err(broken(ChainViolation::ParentHashMissing)),
            }
            if child.sub != parent.sub {
                return Err(broken(ChainViolation::SubjectChanged {
                    child: shorten(&child.sub),
                    parent: shorten(&parent.sub),
                }));
            }
            if child.iss != parent.iss {
                return Err(broken(ChainViolation::IssuerChanged {
                    child: shorten(&child.iss),
                    parent: shorten(&parent.iss),
                }));
            }
            if child.acr.is_some() && child.acr != parent.acr {
                return Err(broken(ChainViolation::AcrChanged));
            }
            let actor_ok = child.act.sub == child.agent.agent_id
                && child.act.extra.is_empty()
                && child.act.act.as_deref() == Some(&parent.act);
            if !actor_ok {
                return Err(broken(ChainViolation::ActorChainMismatch {
                    agent_id: shorten(&child.agent.agent_id),
                }));
            }
            let widened = child
                .agent
                .tool_scope
                .not_implied_by(&parent.agent.tool_scope);
            if !widened.is_empty() {
                return Err(broken(ChainViolation::ScopeWidened {
                    widened: widened.iter().map(ToString::to_string).collect(),
                    parent: parent
                        .agent
                        .tool_scope
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                }));
            }
            for (kind, c, p) in [
                (
                    AssuranceKind::Ial,
                    child.assurance.ial,
                    parent.assurance.ial,
                ),
                (
                    AssuranceKind::Aal,
                    child.assurance.aal,
                    parent.assurance.aal,
                ),
                (
                    AssuranceKind::Fal,
                    child.assurance.fal,
                    parent.assurance.fal,
                ),
            ] {
                match (c, p) {
                    (Some(child), None) => {
                        return Err(broken(ChainViolation::AssuranceAppeared { kind, child }));
                    }
                    (Some(child), Some(parent)) if child > parent => {
                        return Err(broken(ChainViolation::AssuranceRaised {
                            kind,
                            child,
                            parent,
                        }));
                    }
                    _ => {}
                }
            }
            if child.exp > parent.exp {
                return Err(broken(ChainViolation::OutlivesParent {
                    child_exp: child.exp,
                    parent_exp: parent.exp,
                }));
            }
        }
        Ok(())
    }
}

fn link_ref(p: &PassportClaims) -> LinkRef {
    LinkRef {
        jti: clip(&p.jti),
        agent_id: clip(&p.agent.agent_id),
    }
}

struct CachedLinkKey {
    kid: String,
    key: passport_jose::VerifyingKey,
    alg: passport_jose::Algorithm,
}

fn check_floors(p: &PassportClaims, floor: &Assurance) -> Result<(), VerifyError> {
    for (kind, required, found) in [
        (AssuranceKind::Ial, floor.ial, p.assurance.ial),
        (AssuranceKind::Aal, floor.aal, p.assurance.aal),
        (AssuranceKind::Fal, floor.fal, p.assurance.fal),
    ] {
        if let Some(required) = required
            && found.is_none_or(|found| found < required)
        {
            return Err(VerifyError::InsufficientAssurance {
                kind,
                required,
                found,
            });
        }
    }
    Ok(())
}

fn check_scope(scope: &ScopeSet, required: &str) -> Result<(), VerifyError> {
    if scope.covers(required) {
        return Ok(());
    }
    Err(VerifyError::ScopeNotCovered {
        required: required.to_owned(),
        granted: scope.iter().map(ToString::to_string).collect(),
    })
}

/// Keeps attacker-chosen strings in errors and logs short.
fn shorten(s: &str) -> String {
    passport_jose::clip(s, 128)
}

/// The outcome of [`Verifier::verify_bundle_pending_proof`].
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
    fn verified(&self) -> &VerifiedPassport {
        match self {
            Verification::Verified(v) => v,
            Verification::ProofRequired(p) => &p.verified,
        }
    }
}

/// A bound passport that passed every rule but still needs its holder's
/// proof of possession. Only [`PendingProof::confirm`] (with the thumbprint
/// of the key a proof was verified with) turns it into a [`VerifiedPassport`].
#[derive(Debug, Clone)]
pub struct PendingProof {
    verified: VerifiedPassport,
}

impl PendingProof {
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
    /// proof's `jkt`). Any other key is refused (`dpop_key_mismatch`).
    pub fn confirm(self, proven_jkt: &str) -> Result<VerifiedPassport, VerifyError> {
        if self.bound_jkt() != proven_jkt {
            return Err(VerifyError::ProofKeyMismatch);
        }
        Ok(self.verified)
    }

    /// Treats possession as proven without a proof. Only for a party that is
    /// itself trusted with the passport's authority — the issuer's operator
    /// delegating on the holder's behalf — never for a server answering a
    /// request.
    pub fn dangerous_assume_proven(self) -> VerifiedPassport {
        self.verified
    }
}

/// A passport that passed every rule, with its verified chain.
///
/// Only [`Verifier`] makes one: there is no public constructor, so holding a
/// `VerifiedPassport` proves the checks ran.
#[derive(Clone)]
pub struct VerifiedPassport {
    bundle: UnverifiedBundle,
    links: Vec<Arc<PassportClaims>>,
    verified_at: i64,
}

impl VerifiedPassport {
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
        check_scope(self.scopes(), required)
    }

    /// Further assurance floors (for example per route): each level set in
    /// `floor` must be met by the leaf.
    pub fn require_assurance(&self, floor: &Assurance) -> Result<(), VerifyError> {
        check_floors(self.claims(), floor)
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
