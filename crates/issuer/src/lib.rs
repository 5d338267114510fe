//! # passport-issuer
//!
//! Mints Agent Passports: [`Issuer::issue`] makes a root passport from an
//! already validated [`IdentityAssertion`] (RFC 8693-style exchange: the OIDC
//! crate validates the ID token, this crate never speaks HTTP), and
//! [`Issuer::delegate`] makes a narrower child from a [`VerifiedPassport`].
//!
//! Delegation rules, enforced here and re-checked by every verifier:
//! - the child's scope must attenuate the parent's ([`IssueError::ScopeAttenuation`]);
//! - the child's `exp` is clamped to the parent's (reported in [`IssuedPassport::clamped`]);
//! - `sub`, `acr` and the IAL/AAL/FAL levels are inherited, never raised;
//! - `act` wraps the parent's actor; `parent_jti` names the parent and
//!   `parent_hash` binds the child to the parent token's exact bytes;
//! - a bundle is at most `max_depth` passports long (default 5).
//!
//! Defaults: root TTL 15 minutes, child TTL 5 minutes, no TTL above 24 hours.
//!
//! ```
//! use passport_claims::{IdentityAssertion, ScopeSet};
//! use passport_issuer::{DelegationRequest, IssuanceRequest, Issuer};
//! use passport_jose::{Algorithm, SigningKey};
//! use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
//!
//! let key = SigningKey::generate(Algorithm::EdDSA)?;
//! let keys = InMemoryKeyStore::new();
//! keys.insert(key.verifying_key());
//! let issuer = Issuer::new("https://issuer.local", key);
//!
//! let root = issuer.issue(IssuanceRequest::new(
//!     IdentityAssertion::new("https://idp.example", "alice"),
//!     "https://orchestrator.example", "planner", "model-a",
//!     ScopeSet::parse(["files:*"])?,
//! ))?;
//!
//! // The holder verifies its own passport before delegating from it.
//! let verifier = Verifier::new(
//!     VerificationPolicy::new("https://issuer.local", "https://orchestrator.example"), keys)?;
//! let parent = verifier.verify_str(root.bundle())?;
//! let child = issuer.delegate(DelegationRequest::new(
//!     &parent, "https://files.example", "reader", "model-b", ScopeSet::parse(["files:read"])?,
//! ))?;
//! assert_eq!(child.bundle().split('~').count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

use passport_audit::{Action, AuditError, AuditRecord, AuditSink, LinkRef, Outcome, clip};
use passport_claims::{
    Actor, AgentClaims, AllocationError, Clock, IdentityAssertion, PASSPORT_TYP, PassportClaims,
    ScopeSet, StatusAllocator, SystemClock,
};
use passport_jose::{JoseError, SigningKey, VerifyingKey, sha256_b64url};
use passport_verifier::VerifiedPassport;

/// Default lifetime of a root passport, in seconds (15 minutes).
pub const DEFAULT_ROOT_TTL: u64 = 15 * 60;
/// Default lifetime of a delegated passport, in seconds (5 minutes).
pub const DEFAULT_CHILD_TTL: u64 = 5 * 60;
/// The longest lifetime an issuer grants, in seconds (24 hours).
pub const MAX_TTL: u64 = 24 * 60 * 60;

/// Why a passport was not minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A request field is empty or invalid.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The requested child scope is wider than the parent's.
    #[error("scope {requested:?} is not within the parent's {parent:?} (not implied: {widened:?})")]
    ScopeAttenuation {
        /// What was asked for.
        requested: Vec<String>,
        /// What the parent holds.
        parent: Vec<String>,
        /// The requested patterns the parent does not imply.
        widened: Vec<String>,
    },
    /// Delegating would make the bundle longer than the issuer's limit.
    #[error("delegating would make a chain of {depth} passports; the limit is {max}")]
    DepthExceeded {
        /// The resulting length.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// The parent has expired.
    #[error("the parent passport expired at {exp} (now {now})")]
    ParentExpired {
        /// The parent's `exp`.
        exp: i64,
        /// Now.
        now: i64,
    },
    /// The parent was minted by another issuer; a chain keeps one issuer.
    #[error("the parent was issued by {parent:?}, not by this issuer {issuer:?}")]
    IssuerMismatch {
        /// The parent's `iss`.
        parent: String,
        /// This issuer.
        issuer: String,
    },
    /// The parent is bound to a key and the child names no holder key.
    #[error(
        "the parent is bound to a key (cnf.jkt); its child must be bound to its own holder's key"
    )]
    HolderKeyRequired,
    /// The passport was minted but could not be audited, so it is withheld.
    #[error("the passport could not be audited")]
    AuditFailed(#[source] AuditError),
    /// No status-list index could be allocated.
    #[error(transparent)]
    Status(#[from] AllocationError),
    /// Signing failed.
    #[error(transparent)]
    Jose(#[from] JoseError),
}

impl IssueError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            IssueError::InvalidRequest { .. } => "invalid_request",
            IssueError::ScopeAttenuation { .. } => "scope_attenuation",
            IssueError::DepthExceeded { .. } => "depth_exceeded",
            IssueError::ParentExpired { .. } => "parent_expired",
            IssueError::IssuerMismatch { .. } => "issuer_mismatch",
            IssueError::Status(_) => "status_allocation_failed",
            IssueError::AuditFailed(_) => "audit_failed",
            IssueError::HolderKeyRequired => "holder_key_required",
            IssueError::Jose(e) => e.code(),
        }
    }
}

/// A request for a root passport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuanceRequest {
    /// Who the principal is, already validated.
    pub assertion: IdentityAssertion,
    /// The verifier the passport is for (becomes `aud`).
    pub audience: String,
    /// The agent acting for the principal.
    pub agent_id: String,
    /// The agent's model.
    pub agent_model: String,
    /// What the agent may do; empty = no authority.
    pub tool_scope: ScopeSet,
    /// Audit-only description.
    pub task_purpose: Option<String>,
    /// Lifetime in seconds; `None` = [`DEFAULT_ROOT_TTL`].
    pub ttl: Option<u64>,
    /// The RFC 7638 thumbprint of the agent's own key: the passport gets
    /// `cnf: {"jkt": …}` and is only usable with a DPoP proof by that key.
    pub holder_jkt: Option<String>,
}

impl IssuanceRequest {
    /// A request with the default lifetime and no task purpose.
    pub fn new(
        assertion: IdentityAssertion,
        audience: impl Into<String>,
        agent_id: impl Into<String>,
        agent_model: impl Into<String>,
        tool_scope: ScopeSet,
    ) -> IssuanceRequest {
        IssuanceRequest {
            assertion,
            audience: audience.into(),
            agent_id: agent_id.into(),
            agent_model: agent_model.into(),
            tool_scope,
            task_purpose: None,
            ttl: None,
            holder_jkt: None,
        }
    }

    /// Sets the task purpose.
    pub fn task_purpose(mut self, purpose: impl Into<String>) -> Self {
        self.task_purpose = Some(purpose.into());
        self
    }

    /// Sets the lifetime in seconds.
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Binds the passport to the holder's key (its RFC 7638 thumbprint).
    pub fn holder_jkt(mut self, jkt: impl Into<String>) -> Self {
        self.holder_jkt = Some(jkt.into());
        self
    }
}

/// A request for a child passport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DelegationRequest<'a> {
    /// The verified parent (its leaf is the parent passport).
    pub parent: &'a VerifiedPassport,
    /// The child's audience (may differ from the parent's).
    pub audience: String,
    /// The agent receiving the delegation.
    pub agent_id: String,
    /// Its model.
    pub agent_model: String,
    /// Must attenuate the parent's scope.
    pub tool_scope: ScopeSet,
    /// Audit-only description.
    pub task_purpose: Option<String>,
    /// Lifetime in seconds; `None` = [`DEFAULT_CHILD_TTL`]. Clamped to the parent's expiry.
    pub ttl: Option<u64>,
    /// The thumbprint of the child agent's own key (not the parent's): the
    /// child gets `cnf: {"jkt": …}`.
    pub holder_jkt: Option<String>,
}

impl<'a> DelegationRequest<'a> {
    /// A request with the default lifetime and no task purpose.
    pub fn new(
        parent: &'a VerifiedPassport,
        audience: impl Into<String>,
        agent_id: impl Into<String>,
        agent_model: impl Into<String>,
        tool_scope: ScopeSet,
    ) -> DelegationRequest<'a> {
        DelegationRequest {
            parent,
            audience: audience.into(),
            agent_id: agent_id.into(),
            agent_model: agent_model.into(),
            tool_scope,
            task_purpose: None,
            ttl: None,
            holder_jkt: None,
        }
    }

    /// Sets the task purpose.
    pub fn task_purpose(mut self, purpose: impl Into<String>) -> Self {
        self.task_purpose = Some(purpose.into());
        self
    }

    /// Sets the lifetime in seconds.
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Binds the passport to the holder's key (its RFC 7638 thumbprint).
    pub fn holder_jkt(mut self, jkt: impl Into<String>) -> Self {
        self.holder_jkt = Some(jkt.into());
        self
    }
}

/// A freshly minted passport.
#[derive(Clone)]
pub struct IssuedPassport {
    token: String,
    bundle: String,
    claims: PassportClaims,
    clamped: bool,
}

impl IssuedPassport {
    /// The passport alone (compact JWS).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The passport followed by its ancestors: what to hand to the agent.
    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// The claims that were signed.
    pub fn claims(&self) -> &PassportClaims {
        &self.claims
    }

    /// True when the requested lifetime was cut to the parent's expiry.
    pub fn clamped(&self) -> bool {
        self.clamped
    }
}

impl std::fmt::Debug for IssuedPassport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedPassport")
            .field("jti", &self.claims.jti)
            .field("agent_id", &self.claims.agent.agent_id)
            .field("exp", &self.claims.exp)
            .field("clamped", &self.clamped)
            .finish_non_exhaustive()
    }
}

/// Mints root and delegated passports with one signing key.
pub struct Issuer {
    url: String,
    key: SigningKey,
    clock: Arc<dyn Clock>,
    max_depth: usize,
    status: Option<Arc<dyn StatusAllocator>>,
    audit: Option<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("url", &self.url)
            .field("kid", &self.key.kid())
            .field("max_depth", &self.max_depth)
            .field("status", &self.status.is_some())
            .field("audit", &self.audit.is_some())
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer named `url` (the `iss` of everything it mints) signing with `key`.
    pub fn new(url: impl Into<String>, key: SigningKey) -> Issuer {
        Issuer {
            url: url.into(),
            key,
            clock: Arc::new(SystemClock),
            max_depth: passport_verifier::DEFAULT_MAX_DEPTH,
            status: None,
            audit: None,
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Issuer {
        self.clock = clock;
        self
    }

    /// Sets the maximum bundle length delegation may reach.
    pub fn with_max_depth(mut self, max_depth: usize) -> Issuer {
        self.max_depth = max_depth;
        self
    }

    /// Gives every passport minted from now on a `status` claim
    /// (`{"status_list": {"idx": N, "uri": U}}`) from `allocator`.
    pub fn with_status(mut self, allocator: Arc<dyn StatusAllocator>) -> Issuer {
        self.status = Some(allocator);
        self
    }

    /// Records every issuance and delegation (and every refusal to mint) in
    /// `sink`. A passport that cannot be audited is not handed out.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Issuer {
        self.audit = Some(sink);
        self
    }

    /// The issuer identifier.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The signing key's `kid`.
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    /// The public key verifiers need.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Mints a root passport for the asserted principal.
    pub fn issue(&self, request: IssuanceRequest) -> Result<IssuedPassport, IssueError> {
        let audience = request.audience.clone();
        let result = self.issue_unaudited(request);
        self.audited(Action::Issue, &audience, &[], result)
    }

    fn issue_unaudited(&self, request: IssuanceRequest) -> Result<IssuedPassport, IssueError> {
        let IssuanceRequest {
            assertion,
            audience,
            agent_id,
            agent_model,
            tool_scope,
            task_purpose,
            ttl,
            holder_jkt,
        } = request;
        non_empty("audience", &audience)?;
        non_empty("agent_id", &agent_id)?;
        non_empty("subject", &assertion.subject)?;
        check_jkt(holder_jkt.as_deref())?;
        let ttl = checked_ttl(ttl.unwrap_or(DEFAULT_ROOT_TTL))?;
        let now = self.clock.now();
        let mut passport = PassportClaims::new(
            self.url.clone(),
            assertion.subject,
            audience,
            new_jti(),
            now,
            now.saturating_add(ttl),
            AgentClaims {
                agent_id,
                agent_model,
                tool_scope,
                task_purpose,
                parent_jti: None,
            },
        );
        passport.acr = assertion.acr;
        passport.assurance = assertion.assurance;
        passport.cnf_jkt = holder_jkt;
        let token = self.sign(&mut passport)?;
        Ok(IssuedPassport {
            bundle: token.clone(),
            token,
            claims: passport,
            clamped: false,
        })
    }

    /// Mints a child of `request.parent`'s leaf for another agent.
    pub fn delegate(&self, request: DelegationRequest<'_>) -> Result<IssuedPassport, IssueError> {
        let audience = request.audience.clone();
        let parent = request.parent;
        let result = self.delegate_unaudited(request);
        self.audited(Action::Delegate, &audience, parent.links(), result)
    }

    /// Records the outcome; a minted passport that cannot be recorded is withheld.
    fn audited(
        &self,
        action: Action,
        audience: &str,
        ancestors: &[Arc<PassportClaims>],
        result: Result<IssuedPassport, IssueError>,
    ) -> Result<IssuedPassport, IssueError> {
        let Some(sink) = &self.audit else {
            return result;
        };
        let outcome = if result.is_ok() {
            Outcome::Done
        } else {
            Outcome::Failed
        };
        let mut record = AuditRecord::new(self.clock.now(), action, outcome);
        record.aud = Some(clip(audience));
        record.iss = Some(self.url.clone());
        let link = |p: &PassportClaims| LinkRef {
            jti: clip(&p.jti),
            agent_id: clip(&p.agent.agent_id),
        };
        match &result {
            Ok(minted) => {
                record.links.push(link(minted.claims()));
                record.sub = Some(clip(&minted.claims().sub));
            }
            Err(e) => {
                record.error = Some(e.code().to_owned());
                record.sub = ancestors.first().map(|p| clip(&p.sub));
            }
        }
        record.links.extend(ancestors.iter().map(|p| link(p)));
        match (sink.record(&record), result) {
            (Ok(()), result) => result,
            (Err(e), Ok(_)) => Err(IssueError::AuditFailed(e)),
            (Err(_), Err(e)) => Err(e),
        }
    }

    fn delegate_unaudited(
        &self,
        request: DelegationRequest<'_>,
    ) -> Result<IssuedPassport, IssueError> {
        let DelegationRequest {
            parent: verified,
            audience,
            agent_id,
            agent_model,
            tool_scope,
            task_purpose,
            ttl,
            holder_jkt,
        } = request;
        non_empty("audience", &audience)?;
        non_empty("agent_id", &agent_id)?;
        check_jkt(holder_jkt.as_deref())?;
        let parent = verified.claims();
        // A bound parent's authority must stay bound: a child without its
        // own holder key would turn a sender-constrained passport into a
        // bearer one.
        if parent.cnf_jkt.is_some() && holder_jkt.is_none() {
            return Err(IssueError::HolderKeyRequired);
        }
        if parent.iss != self.url {
            return Err(IssueError::IssuerMismatch {
                parent: parent.iss.clone(),
                issuer: self.url.clone(),
            });
        }
        let now = self.clock.now();
        if parent.exp <= now {
            return Err(IssueError::ParentExpired {
                exp: parent.exp,
                now,
            });
        }
        let depth = verified.depth() + 1;
        if depth > self.max_depth {
            return Err(IssueError::DepthExceeded {
                depth,
                max: self.max_depth,
            });
        }
        let widened = tool_scope.not_implied_by(&parent.agent.tool_scope);
        if !widened.is_empty() {
            return Err(IssueError::ScopeAttenuation {
                requested: tool_scope.iter().map(ToString::to_string).collect(),
                parent: parent
                    .agent
                    .tool_scope
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                widened: widened.iter().map(ToString::to_string).collect(),
            });
        }
        let ttl = checked_ttl(ttl.unwrap_or(DEFAULT_CHILD_TTL))?;
        let wanted = now.saturating_add(ttl);
        let exp = wanted.min(parent.exp);
        let mut child = PassportClaims::new(
            self.url.clone(),
            parent.sub.clone(),
            audience,
            new_jti(),
            now,
            exp,
            AgentClaims {
                agent_id,
                agent_model,
                tool_scope,
                task_purpose,
                parent_jti: Some(parent.jti.clone()),
            },
        );
        child.act = Actor::wrapping(child.agent.agent_id.clone(), &parent.act);
        child.acr = parent.acr.clone();
        child.assurance = parent.assurance;
        child.cnf_jkt = holder_jkt;
        child.parent_hash = Some(sha256_b64url(verified.token().as_bytes()));
        let token = self.sign(&mut child)?;
        let bundle = format!("{token}~{}", verified.bundle());
        Ok(IssuedPassport {
            token,
            bundle,
            claims: child,
            clamped: exp < wanted,
        })
    }

    /// Adds the `status` reference (when configured) and signs.
    fn sign(&self, passport: &mut PassportClaims) -> Result<String, IssueError> {
        if let Some(allocator) = &self.status {
            passport.status = Some(allocator.allocate(passport)?);
        }
        Ok(self
            .key
            .sign_compact(Some(PASSPORT_TYP), &passport.to_json())?)
    }
}

fn new_jti() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn non_empty(field: &'static str, value: &str) -> Result<(), IssueError> {
    if value.trim().is_empty() {
        return Err(IssueError::InvalidRequest {
            field,
            reason: "must not be empty".into(),
        });
    }
    Ok(())
}

/// A holder key thumbprint: 43 base64url characters (SHA-256).
fn check_jkt(jkt: Option<&str>) -> Result<(), IssueError> {
    match jkt {
        Some(jkt) if passport_jose::b64::decode(jkt).is_none_or(|h| h.len() != 32) => {
            Err(IssueError::InvalidRequest {
                field: "holder_jkt",
                reason: "not an RFC 7638 SHA-256 thumbprint (43 base64url characters)".into(),
            })
        }
        _ => Ok(()),
    }
}

fn checked_ttl(ttl: u64) -> Result<i64, IssueError> {
    if ttl == 0 || ttl > MAX_TTL {
        return Err(IssueError::InvalidRequest {
            field: "ttl",
            reason: format!("{ttl} s is outside 1..={MAX_TTL} s"),
        });
    }
    i64::try_from(ttl).map_err(|_| IssueError::InvalidRequest {
        field: "ttl",
        reason: "too large".into(),
    })
}
