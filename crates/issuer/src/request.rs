//! What is asked of the issuer ([`IssuanceRequest`], [`DelegationRequest`])
//! and what it hands back ([`IssuedPassport`]).

use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, PassportClaims, ScopeSet};
use passport_verifier::VerifiedPassport;

/// A request for a root passport.
///
/// The audience, agent id and agent model are distinct validated types, so
/// they cannot be passed in the wrong order:
///
/// ```
/// use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
/// use passport_issuer::IssuanceRequest;
///
/// let request = IssuanceRequest::new(
///     IdentityAssertion::new("https://idp.example", "alice"),
///     Audience::new("https://orchestrator.example")?,
///     AgentId::new("planner")?,
///     AgentModel::new("model-a")?,
///     ScopeSet::parse(["files:*"])?,
/// )
/// .task_purpose("plan the quarter")
/// .ttl(600);
/// assert_eq!(request.agent_id.as_str(), "planner");
/// // An empty agent id never gets this far.
/// assert_eq!(AgentId::new("").unwrap_err().code(), "invalid_claim");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Swapping two of them is a type error:
///
/// ```compile_fail,E0308
/// use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
/// use passport_issuer::IssuanceRequest;
///
/// let request = IssuanceRequest::new(
///     IdentityAssertion::new("https://idp.example", "alice"),
///     AgentId::new("planner")?,
///     Audience::new("https://orchestrator.example")?,
///     AgentModel::new("model-a")?,
///     ScopeSet::parse(["files:*"])?,
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuanceRequest {
    /// Who the principal is, already validated.
    pub assertion: IdentityAssertion,
    /// The verifier the passport is for (becomes `aud`).
    pub audience: Audience,
    /// The agent acting for the principal.
    pub agent_id: AgentId,
    /// The agent's model.
    pub agent_model: AgentModel,
    /// What the agent may do; empty = no authority.
    pub tool_scope: ScopeSet,
    /// Audit-only description.
    pub task_purpose: Option<String>,
    /// Lifetime in seconds; `None` = [`DEFAULT_ROOT_TTL`](crate::DEFAULT_ROOT_TTL).
    pub ttl: Option<u64>,
    /// The RFC 7638 thumbprint of the agent's own key: the passport gets
    /// `cnf: {"jkt": …}` and is only usable with a DPoP proof by that key.
    pub holder_jkt: Option<String>,
    /// The passport's `jti`, chosen by the caller; `None` = a random UUID.
    pub jti: Option<String>,
    /// The latest `exp` the passport may have (clock seconds): the end of
    /// what it stands for, e.g. the ID token's `exp`. `None` = no cap.
    pub not_after: Option<i64>,
}

impl IssuanceRequest {
    /// A request with the default lifetime and no task purpose.
    pub fn new(
        assertion: IdentityAssertion,
        audience: Audience,
        agent_id: AgentId,
        agent_model: AgentModel,
        tool_scope: ScopeSet,
    ) -> IssuanceRequest {
        IssuanceRequest {
            assertion,
            audience,
            agent_id,
            agent_model,
            tool_scope,
            task_purpose: None,
            ttl: None,
            holder_jkt: None,
            jti: None,
            not_after: None,
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

    /// Caps the passport's `exp` at `exp` (clock seconds), read against the
    /// issuer's clock when it signs: a root never outlives the
    /// authentication it stands for, however long the caller took between
    /// reading the ID token and asking. A cap that is not after the
    /// signing time is refused (`invalid_request`, field `not_after`).
    ///
    /// ```
    /// # use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
    /// # use passport_issuer::IssuanceRequest;
    /// let request = IssuanceRequest::new(
    ///     IdentityAssertion::new("https://idp.example", "alice"),
    ///     Audience::new("https://tools.example")?,
    ///     AgentId::new("agent-a")?,
    ///     AgentModel::new("model-a")?,
    ///     ScopeSet::parse(["files:read"])?,
    /// )
    /// .ttl(900)
    /// .not_after(1_700_000_060);
    /// assert_eq!(request.not_after, Some(1_700_000_060));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn not_after(mut self, exp: i64) -> Self {
        self.not_after = Some(exp);
        self
    }

    /// Uses `jti` (1 to 128 printable ASCII characters, unique: e.g. 128
    /// random bits) instead of a random UUID, for a caller that must record
    /// the `jti` before the passport exists (a token service consuming an
    /// authorization code names what it will issue).
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
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
    pub audience: Audience,
    /// The agent receiving the delegation.
    pub agent_id: AgentId,
    /// Its model.
    pub agent_model: AgentModel,
    /// Must attenuate the parent's scope.
    pub tool_scope: ScopeSet,
    /// Audit-only description.
    pub task_purpose: Option<String>,
    /// Lifetime in seconds; `None` = [`DEFAULT_CHILD_TTL`](crate::DEFAULT_CHILD_TTL). Clamped to the parent's expiry.
    pub ttl: Option<u64>,
    /// The thumbprint of the child agent's own key (not the parent's): the
    /// child gets `cnf: {"jkt": …}`.
    pub holder_jkt: Option<String>,
}

impl<'a> DelegationRequest<'a> {
    /// A request with the default lifetime and no task purpose.
    pub fn new(
        parent: &'a VerifiedPassport,
        audience: Audience,
        agent_id: AgentId,
        agent_model: AgentModel,
        tool_scope: ScopeSet,
    ) -> DelegationRequest<'a> {
        DelegationRequest {
            parent,
            audience,
            agent_id,
            agent_model,
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
    pub(crate) token: String,
    pub(crate) bundle: String,
    pub(crate) claims: PassportClaims,
    pub(crate) clamped: bool,
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

    /// True when the requested lifetime was cut: to the parent's expiry (a
    /// child), or to [`IssuanceRequest::not_after`] (a root).
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
