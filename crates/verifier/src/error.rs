use passport_claims::{ClaimsError, Level};
use passport_jose::JoseError;

/// Which assurance dimension a floor applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssuranceKind {
    /// Identity assurance.
    Ial,
    /// Authenticator assurance.
    Aal,
    /// Federation assurance.
    Fal,
}

impl std::fmt::Display for AssuranceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AssuranceKind::Ial => "IAL",
            AssuranceKind::Aal => "AAL",
            AssuranceKind::Fal => "FAL",
        })
    }
}

/// How a link of a delegation chain fails to follow from its parent
/// (SPEC §5 item 9). Reported inside [`VerifyError::Chain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainViolation {
    /// The passport names a parent (`parent_jti`) but the bundle ends.
    #[error("it names parent {parent_jti:?} but the bundle has no parent for it")]
    ParentMissing {
        /// The parent it names.
        parent_jti: String,
    },
    /// The passport is a root (no `parent_jti`) but the bundle goes on.
    #[error("it is a root but the bundle carries {surplus} more passport(s) after it")]
    SurplusParent {
        /// How many passports follow it.
        surplus: usize,
    },
    /// The last passport of a multi-link bundle claims a parent.
    #[error("the chain root names a parent {parent_jti:?}")]
    RootClaimsParent {
        /// The parent it names.
        parent_jti: String,
    },
    /// `parent_jti` is not the next passport's `jti`.
    #[error("parent_jti {claimed:?} is not the parent's jti {actual:?}")]
    ParentJtiMismatch {
        /// What the child says.
        claimed: String,
        /// The parent's jti.
        actual: String,
    },
    /// The hash binding to the parent token does not match the parent's bytes.
    #[error("parent_hash does not match the parent token")]
    ParentHashMismatch,
    /// A typed passport without a hash binding to its parent.
    #[error("it has no parent_hash binding to its parent token")]
    ParentHashMissing,
    /// `sub` differs from the parent's.
    #[error("sub {child:?} differs from the parent's {parent:?}")]
    SubjectChanged {
        /// The child's.
        child: String,
        /// The parent's.
        parent: String,
    },
    /// `iss` differs from the parent's.
    #[error("iss {child:?} differs from the parent's {parent:?}")]
    IssuerChanged {
        /// The child's.
        child: String,
        /// The parent's.
        parent: String,
    },
    /// `acr` differs from the parent's.
    #[error("acr differs from the parent's")]
    AcrChanged,
    /// `act` is not `{"sub": agent_id, "act": <parent act>}` (or `{"sub": agent_id}` on a root).
    #[error("act is not the parent's act wrapped once around agent {agent_id:?}")]
    ActorChainMismatch {
        /// The agent the passport is for.
        agent_id: String,
    },
    /// A scope pattern not implied by any of the parent's.
    #[error("scope {widened:?} is wider than the parent's {parent:?}")]
    ScopeWidened {
        /// The child patterns the parent does not imply.
        widened: Vec<String>,
        /// The parent's patterns.
        parent: Vec<String>,
    },
    /// An assurance level higher than the parent's.
    #[error("{kind} rises from {parent} to {child}")]
    AssuranceRaised {
        /// Which level.
        kind: AssuranceKind,
        /// The child's.
        child: Level,
        /// The parent's.
        parent: Level,
    },
    /// An assurance level the parent does not have.
    #[error("{kind} {child} appears where the parent asserts none")]
    AssuranceAppeared {
        /// Which level.
        kind: AssuranceKind,
        /// The child's.
        child: Level,
    },
    /// The child expires after its parent.
    #[error("it expires at {child_exp}, after its parent at {parent_exp}")]
    OutlivesParent {
        /// The child's `exp`.
        child_exp: i64,
        /// The parent's `exp`.
        parent_exp: i64,
    },
}

passport_jose::error_codes! {
    ChainViolation {
        ChainViolation::ParentMissing { .. } => "parent_missing":
            "A passport names a parent (`parent_jti`) but the bundle ends.",
        ChainViolation::SurplusParent { .. } => "surplus_parent":
            "A root passport (no `parent_jti`) is followed by more passports.",
        ChainViolation::RootClaimsParent { .. } => "root_claims_parent":
            "The last passport of a multi-link bundle claims a parent.",
        ChainViolation::ParentJtiMismatch { .. } => "parent_jti_mismatch":
            "`parent_jti` is not the next passport's `jti`.",
        ChainViolation::ParentHashMismatch => "parent_hash_mismatch":
            "`parent_hash` does not match the parent token's bytes.",
        ChainViolation::ParentHashMissing => "parent_hash_missing":
            "A typed child passport has no `parent_hash` binding to its parent.",
        ChainViolation::SubjectChanged { .. } => "subject_changed":
            "A child's `sub` differs from its parent's.",
        ChainViolation::IssuerChanged { .. } => "issuer_changed":
            "A child's `iss` differs from its parent's (the parent was minted by another issuer).",
        ChainViolation::AcrChanged => "acr_changed":
            "A child's `acr` differs from its parent's.",
        ChainViolation::ActorChainMismatch { .. } => "actor_chain_mismatch":
            "`act` is not the parent's `act` wrapped once around the agent.",
        ChainViolation::ScopeWidened { .. } => "scope_widened":
            "A child scope pattern is not implied by any of the parent's (delegation would widen the scope).",
        ChainViolation::AssuranceRaised { .. } => "assurance_raised":
            "A child asserts a higher assurance level than its parent.",
        ChainViolation::AssuranceAppeared { .. } => "assurance_appeared":
            "A child asserts an assurance level its parent does not have.",
        ChainViolation::OutlivesParent { .. } => "outlives_parent":
            "A child expires after its parent.",
    }
}

/// Why a verification policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No trusted issuer.
    #[error("the policy trusts no issuer")]
    NoIssuers,
    /// Empty audience.
    #[error("the policy has an empty audience")]
    NoAudience,
    /// No algorithm allowed.
    #[error("the policy allows no algorithm")]
    NoAlgorithms,
    /// Clock skew above the 120 s ceiling.
    #[error("clock skew of {0} s is above the maximum of 120 s")]
    ClockSkewTooLarge(u64),
    /// `max_lifetime` of 0 or above [`crate::MAX_LIFETIME_CEILING`].
    #[error("max_lifetime {0} s is outside 1..={max} s", max = crate::MAX_LIFETIME_CEILING)]
    InvalidMaxLifetime(u64),
    /// `max_depth` of 0 or above the bundle limit.
    #[error("max_depth {0} is outside 1..={max}", max = passport_claims::MAX_BUNDLE_LINKS)]
    InvalidMaxDepth(usize),
}

/// Why a passport (or a bundle) was refused. Each variant has a stable
/// [`VerifyError::code`] shared by the CLI and the HTTP layers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The JWS layer refused the token (structure, header rules, algorithm,
    /// signature). The code is the JOSE code (`alg_none`, `bad_signature`, …).
    #[error(transparent)]
    Jose(#[from] JoseError),
    /// The bundle or the claims are malformed. The code is the claims code.
    #[error(transparent)]
    Malformed(#[from] ClaimsError),
    /// No trusted key of the token's issuer has the token's `kid` (a key of
    /// another issuer never counts).
    #[error("no trusted key of issuer {iss:?} has kid {kid:?}")]
    UnknownKey {
        /// The token's `iss` (truncated).
        iss: String,
        /// The `kid` (truncated).
        kid: String,
    },
    /// A key store was asked to hold one key for two issuers.
    #[error("key {kid:?} already belongs to issuer {owner:?}; it cannot belong to {issuer:?} too")]
    KeyIssuerConflict {
        /// The key's `kid` (truncated).
        kid: String,
        /// The issuer it was being added for.
        issuer: String,
        /// The issuer it belongs to.
        owner: String,
    },
    /// The token was issued (`iat`) after its key was retired.
    #[error("issued at {iat}, after its key {kid:?} was retired at {retired_at}")]
    KeyRetired {
        /// The key's `kid` (truncated).
        kid: String,
        /// The token's `iat`.
        iat: i64,
        /// When the key stopped signing.
        retired_at: i64,
    },
    /// `exp - iat` is above the policy's maximum lifetime.
    #[error("a lifetime of {lifetime} s is above the policy's maximum of {max} s")]
    LifetimeTooLong {
        /// `exp - iat`, in seconds.
        lifetime: i64,
        /// The policy's maximum.
        max: u64,
    },
    /// The passport names a status list and the verifier has no status
    /// source to ask (and did not opt out with
    /// [`crate::Verifier::dangerous_ignore_status`]).
    #[error("passport {jti:?} has a status reference and no status source is configured")]
    StatusSourceRequired {
        /// The passport's `jti`.
        jti: String,
    },
    /// `iss` is not a trusted issuer.
    #[error("issuer {iss:?} is not trusted")]
    UntrustedIssuer {
        /// The token's `iss`.
        iss: String,
    },
    /// `aud` is not exactly the expected audience.
    #[error("audience {found:?} is not the expected {expected:?}")]
    AudienceMismatch {
        /// The policy's.
        expected: String,
        /// The token's.
        found: String,
    },
    /// `exp` is in the past by more than the clock skew.
    #[error("expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The verifier's time.
        now: i64,
    },
    /// `nbf` is in the future by more than the clock skew.
    #[error("not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The verifier's time.
        now: i64,
    },
    /// `iat` is in the future by more than the clock skew: the passport
    /// claims to have been issued later than now.
    #[error("issued in the future, at {iat} (now {now})")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// The verifier's time.
        now: i64,
    },
    /// An assurance level is below the policy's floor, or missing.
    #[error("{kind} {found} is below the required {required}", found = found.map_or("absent".to_owned(), |l| l.to_string()))]
    InsufficientAssurance {
        /// Which level.
        kind: AssuranceKind,
        /// The floor.
        required: Level,
        /// What the passport asserts.
        found: Option<Level>,
    },
    /// The required scope is not covered by the leaf's `tool_scope`.
    #[error("required scope {required:?} is not covered by {granted:?}")]
    ScopeNotCovered {
        /// The required scope.
        required: String,
        /// The leaf's patterns.
        granted: Vec<String>,
    },
    /// The leaf claims a universal pattern (`*`) and the policy does not opt in.
    #[error("tool_scope {pattern:?} matches everything and the policy does not allow wildcards")]
    WildcardNotAllowed {
        /// The pattern.
        pattern: String,
    },
    /// A link's agent is not among the policy's allowed actors.
    #[error("agent {agent_id:?} is not an allowed actor")]
    ActorNotAllowed {
        /// The agent.
        agent_id: String,
    },
    /// The bundle has more passports than the policy's `max_depth`.
    #[error("the bundle holds {depth} passports; the policy allows at most {max}")]
    ChainTooDeep {
        /// Passports in the bundle.
        depth: usize,
        /// The policy's maximum.
        max: usize,
    },
    /// A link does not follow from its parent.
    #[error("delegation chain broken at link {link}: {violation}")]
    Chain {
        /// The child's position (0 = leaf).
        link: usize,
        /// What is wrong.
        violation: ChainViolation,
    },
    /// An ancestor failed a per-passport rule.
    #[error("link {link} (0 = leaf): {source}")]
    InLink {
        /// Its position.
        link: usize,
        /// The failure.
        #[source]
        source: Box<VerifyError>,
    },
    /// The passport has been revoked (by its issuer's status list or a deny list).
    #[error("passport {jti:?} has been revoked")]
    Revoked {
        /// The revoked passport's `jti`.
        jti: String,
    },
    /// The passport is suspended.
    #[error("passport {jti:?} is suspended")]
    Suspended {
        /// The suspended passport's `jti`.
        jti: String,
    },
    /// Its revocation status could not be established; refused (fail closed).
    #[error(transparent)]
    StatusUnavailable(#[from] crate::StatusUnavailable),
    /// The leaf is bound to a key (`cnf.jkt`) and was verified as a bearer
    /// passport, with no proof of possession.
    #[error("the passport is bound to a key (cnf.jkt) and needs a proof of possession (DPoP)")]
    ProofRequired,
    /// The proof of possession was made with another key than the bound one.
    #[error("the proof of possession was made with another key than the passport's cnf.jkt")]
    ProofKeyMismatch,
    /// The policy requires a sender-constrained passport and the leaf has no `cnf.jkt`.
    #[error(
        "the policy requires a passport bound to a key (cnf.jkt); this one is a bearer passport"
    )]
    ProofOfPossessionRequired,
    /// The bundle verified but the audit record could not be written, so it
    /// is refused (no acceptance without a trail).
    #[error("verification could not be audited")]
    AuditFailed(#[source] passport_audit::AuditError),
    /// The policy itself is invalid.
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
}

passport_jose::error_codes! {
    VerifyError {
        VerifyError::UnknownKey { .. } => "unknown_kid":
            "No key the verifier trusts for this kind of token has the token's `kid`.",
        VerifyError::KeyIssuerConflict { .. } => "key_issuer_conflict":
            "A key store was asked to hold one key for two issuers (every key belongs to exactly one).",
        VerifyError::KeyRetired { .. } => "key_retired":
            "A passport was issued (`iat`) after its key's retirement time (JWK member `https://agent-passport.org/jwk/retired_at`).",
        VerifyError::LifetimeTooLong { .. } => "lifetime_too_long":
            "A passport's lifetime (`exp - iat`) is above the policy's maximum (default 24 h).",
        VerifyError::StatusSourceRequired { .. } => "status_source_required":
            "A passport carries a `status` reference and the verifier has no status source (and did not opt out).",
        VerifyError::UntrustedIssuer { .. } => "untrusted_issuer":
            "The passport's `iss` is not a trusted issuer.",
        VerifyError::AudienceMismatch { .. } => "audience_mismatch":
            "The passport's `aud` is not exactly the expected audience.",
        VerifyError::Expired { .. } => "expired":
            "A passport's `exp` is in the past by more than the clock skew.",
        VerifyError::NotYetValid { .. } => "not_yet_valid":
            "A passport's `nbf` is in the future by more than the clock skew.",
        VerifyError::IssuedInFuture { .. } => "issued_in_future":
            "A passport's `iat` is in the future by more than the clock skew.",
        VerifyError::InsufficientAssurance { kind: AssuranceKind::Ial, .. } => "insufficient_ial":
            "The identity assurance level is below the policy's floor, or absent.",
        VerifyError::InsufficientAssurance { kind: AssuranceKind::Aal, .. } => "insufficient_aal":
            "The authenticator assurance level is below the policy's floor, or absent.",
        VerifyError::InsufficientAssurance { kind: AssuranceKind::Fal, .. } => "insufficient_fal":
            "The federation assurance level is below the policy's floor, or absent.",
        VerifyError::ScopeNotCovered { .. } => "scope_violation":
            "The required scope is not covered by the leaf's `tool_scope`.",
        VerifyError::WildcardNotAllowed { .. } => "wildcard_not_allowed":
            "The leaf claims a universal scope pattern (`*`) and the policy does not allow it.",
        VerifyError::ActorNotAllowed { .. } => "actor_not_allowed":
            "A link's agent is not among the policy's allowed actors.",
        VerifyError::ChainTooDeep { .. } => "chain_too_deep":
            "The chain has (or delegating would make it have) more passports than allowed.",
        VerifyError::Chain { .. } => "chain_broken":
            "A link does not follow from its parent (the violation has its own code, below).",
        VerifyError::Revoked { .. } => "revoked":
            "A passport of the chain has been revoked.",
        VerifyError::Suspended { .. } => "suspended":
            "A passport of the chain is suspended.",
        VerifyError::StatusUnavailable(_) => "status_unavailable":
            "The revocation status could not be established (fail closed; the cause has its own code, below).",
        VerifyError::AuditFailed(_) => "audit_failed":
            "The audit record could not be written, so the operation is refused.",
        VerifyError::ProofOfPossessionRequired => "pop_required":
            "Proof of possession is required and the passport is a bearer passport (no `cnf.jkt`).",
        VerifyError::ProofRequired => "dpop_proof_required":
            "The leaf is bound to a key (`cnf.jkt`) and was verified with no proof of possession.",
        VerifyError::ProofKeyMismatch => "dpop_key_mismatch":
            "The proof of possession was made with another key than the passport's `cnf.jkt`.",
        VerifyError::Policy(_) => "invalid_policy":
            "The verification policy itself is invalid.",
    }
    wraps {
        VerifyError::Jose(e) => e.code(),
        VerifyError::Malformed(e) => e.code(),
        VerifyError::InLink { source, .. } => source.code(),
    }
}

impl VerifyError {
    /// The position of the passport that failed (0 = leaf).
    pub fn link(&self) -> usize {
        match self {
            VerifyError::InLink { link, .. } | VerifyError::Chain { link, .. } => *link,
            _ => 0,
        }
    }

    /// The failure itself, without the [`VerifyError::InLink`] wrapper.
    pub fn root_cause(&self) -> &VerifyError {
        match self {
            VerifyError::InLink { source, .. } => source.root_cause(),
            other => other,
        }
    }

    /// For [`VerifyError::Chain`], the specific violation.
    pub fn chain_violation(&self) -> Option<&ChainViolation> {
        match self.root_cause() {
            VerifyError::Chain { violation, .. } => Some(violation),
            _ => None,
        }
    }
}
