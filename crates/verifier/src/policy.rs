//! What a verifier requires of a passport.

use std::collections::BTreeSet;

use passport_claims::{Assurance, Level, MAX_BUNDLE_LINKS};
use passport_jose::Algorithm;

use crate::PolicyError;

/// The default clock skew, in seconds.
pub const DEFAULT_CLOCK_SKEW: u64 = 30;
/// The largest clock skew a policy may set, in seconds.
pub const MAX_CLOCK_SKEW: u64 = 120;
/// The default maximum number of passports in a bundle (root + 4 delegations).
pub const DEFAULT_MAX_DEPTH: usize = 5;
/// The default maximum lifetime of a passport (`exp - iat`), in seconds:
/// 24 h, the issuer's own ceiling. A stolen signing key cannot mint
/// passports that outlive this.
pub const DEFAULT_MAX_LIFETIME: u64 = 24 * 60 * 60;
/// The largest `max_lifetime` a policy may set, in seconds (30 days).
pub const MAX_LIFETIME_CEILING: u64 = 30 * 24 * 60 * 60;

/// What a [`crate::Verifier`] requires before it accepts a passport.
///
/// A plain struct with public fields whose defaults are the safe ones:
/// explicit typing required, no wildcard, depth 5, 30 s skew, lifetimes of
/// at most 24 h, every implemented asymmetric algorithm and nothing else.
///
/// ```
/// use passport_verifier::VerificationPolicy;
/// use passport_claims::Level;
///
/// let policy = VerificationPolicy::new("https://issuer.local", "https://tool.example")
///     .require_ial(Level::TWO)
///     .required_scope("files:read");
/// assert_eq!(policy.clock_skew, 30);
/// assert_eq!(policy.max_lifetime, 86_400);
/// assert!(!policy.accept_untyped);
/// policy.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerificationPolicy {
    /// Issuers whose passports are accepted (exact string match on `iss`).
    pub trusted_issuers: BTreeSet<String>,
    /// The audience this verifier is (exact match on the leaf's `aud`).
    pub audience: String,
    /// Assurance floors, one per level that is set: a passport whose level
    /// is lower, or absent, fails it.
    pub min_assurance: Assurance,
    /// A scope the leaf's `tool_scope` must cover.
    pub required_scope: Option<String>,
    /// Accept a leaf whose `tool_scope` has a pattern that matches everything.
    pub allow_wildcard: bool,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (at most 120).
    pub clock_skew: u64,
    /// Algorithms accepted in a header.
    pub allowed_algorithms: Vec<Algorithm>,
    /// The most passports a bundle may hold (1 = roots only).
    pub max_depth: usize,
    /// The longest lifetime (`exp - iat`) of any link, in seconds (1 to
    /// [`MAX_LIFETIME_CEILING`]; default [`DEFAULT_MAX_LIFETIME`]).
    pub max_lifetime: u64,
    /// When set, every link's `agent_id` must be one of these.
    pub allowed_actors: Option<BTreeSet<String>>,
    /// Accept passports with no `typ` or `typ: JWT` (minted by csp-agent-passport).
    pub accept_untyped: bool,
    /// Require the leaf to be bound to a holder key (`cnf.jkt`); the caller
    /// (an HTTP layer) then checks a DPoP proof by that key.
    pub require_proof_of_possession: bool,
}

impl VerificationPolicy {
    /// A policy trusting `issuer` for `audience`, with every other setting at
    /// its default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> VerificationPolicy {
        VerificationPolicy {
            trusted_issuers: BTreeSet::from([issuer.into()]),
            audience: audience.into(),
            min_assurance: Assurance::none(),
            required_scope: None,
            allow_wildcard: false,
            clock_skew: DEFAULT_CLOCK_SKEW,
            allowed_algorithms: Algorithm::ALL.to_vec(),
            max_depth: DEFAULT_MAX_DEPTH,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            allowed_actors: None,
            accept_untyped: false,
            require_proof_of_possession: false,
        }
    }

    /// Also trusts `issuer`.
    pub fn trust_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.trusted_issuers.insert(issuer.into());
        self
    }

    /// Sets the IAL floor.
    pub fn require_ial(mut self, level: Level) -> Self {
        self.min_assurance.ial = Some(level);
        self
    }

    /// Sets the AAL floor.
    pub fn require_aal(mut self, level: Level) -> Self {
        self.min_assurance.aal = Some(level);
        self
    }

    /// Sets the FAL floor.
    pub fn require_fal(mut self, level: Level) -> Self {
        self.min_assurance.fal = Some(level);
        self
    }

    /// Requires the leaf to cover `scope`.
    pub fn required_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scope = Some(scope.into());
        self
    }

    /// Accepts a universal scope pattern (`*`) on the leaf.
    pub fn allow_wildcard(mut self, allow: bool) -> Self {
        self.allow_wildcard = allow;
        self
    }

    /// Sets the clock skew in seconds (validated: at most 120).
    pub fn clock_skew(mut self, seconds: u64) -> Self {
        self.clock_skew = seconds;
        self
    }

    /// Restricts the algorithms.
    pub fn allowed_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.allowed_algorithms = algorithms.to_vec();
        self
    }

    /// Sets the maximum bundle length.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets the longest lifetime (`exp - iat`) accepted on any link, in
    /// seconds (validated: 1 to [`MAX_LIFETIME_CEILING`]).
    pub fn max_lifetime(mut self, seconds: u64) -> Self {
        self.max_lifetime = seconds;
        self
    }

    /// Restricts the agents that may appear anywhere in a chain.
    pub fn allowed_actors<I, S>(mut self, actors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_actors = Some(actors.into_iter().map(Into::into).collect());
        self
    }

    /// Accepts untyped (csp-agent-passport) passports.
    pub fn accept_untyped(mut self, accept: bool) -> Self {
        self.accept_untyped = accept;
        self
    }

    /// Requires the leaf to be sender-constrained (`cnf.jkt`).
    pub fn require_proof_of_possession(mut self, require: bool) -> Self {
        self.require_proof_of_possession = require;
        self
    }

    /// Checks the policy is usable: an issuer, an audience, an algorithm,
    /// skew ≤ 120 s, `max_depth` in `1..=32`, `max_lifetime` in
    /// `1..=`[`MAX_LIFETIME_CEILING`].
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.trusted_issuers.is_empty() || self.trusted_issuers.iter().any(String::is_empty) {
            return Err(PolicyError::NoIssuers);
        }
        if self.audience.is_empty() {
            return Err(PolicyError::NoAudience);
        }
        if self.allowed_algorithms.is_empty() {
            return Err(PolicyError::NoAlgorithms);
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(PolicyError::ClockSkewTooLarge(self.clock_skew));
        }
        if self.max_depth == 0 || self.max_depth > MAX_BUNDLE_LINKS {
            return Err(PolicyError::InvalidMaxDepth(self.max_depth));
        }
        if self.max_lifetime == 0 || self.max_lifetime > MAX_LIFETIME_CEILING {
            return Err(PolicyError::InvalidMaxLifetime(self.max_lifetime));
        }
        Ok(())
    }
}
