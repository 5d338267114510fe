//! The rules of SPEC §5 that follow a passport's signature, as pure
//! functions: each takes what it needs (a link's claims, two links, the
//! policy, the time) and says yes or which [`VerifyError`]. The
//! [`crate::Verifier`] finds keys, checks signatures and runs these in order;
//! nothing here touches a key, the cache or the clock.
//!
//! The chain rules between a child and its parent report the
//! [`ChainViolation`] itself; [`chain`] places it in a
//! [`VerifyError::Chain`] with the child's position.

use std::sync::Arc;

use passport_claims::{Assurance, PassportClaims, ScopeSet};

use crate::{
    AssuranceKind, ChainViolation, LinkStatus, StatusSource, VerificationPolicy, VerifyError,
};

/// One passport of a bundle whose signature has been verified.
pub(crate) struct Link {
    /// Its claims (shared with the signature cache and the outcome).
    pub(crate) passport: Arc<PassportClaims>,
    /// Its header had no `typ` or `typ: JWT` (a csp-agent-passport token).
    pub(crate) untyped: bool,
    /// SHA-256 of its token bytes: what its child's `parent_hash` must be.
    /// `None` for the leaf, which has no child (so it is not hashed).
    pub(crate) digest: Option<[u8; 32]>,
}

/// A bundle holds at most the policy's `max_depth` passports. Checked before
/// any cryptography.
pub(crate) fn depth(passports: usize, policy: &VerificationPolicy) -> Result<(), VerifyError> {
    if passports > policy.max_depth {
        return Err(VerifyError::ChainTooDeep {
            depth: passports,
            max: policy.max_depth,
        });
    }
    Ok(())
}

/// How a verifier learns about revocation: its status sources, and whether
/// its caller explicitly chose to ignore `status` references.
pub(crate) struct StatusCheck<'a> {
    pub(crate) sources: &'a [Arc<dyn StatusSource>],
    pub(crate) dangerous_ignore: bool,
}

/// Every link: a trusted issuer, inside its time window and its maximum
/// lifetime, an allowed actor, neither revoked nor suspended.
pub(crate) fn every_link(
    p: &PassportClaims,
    policy: &VerificationPolicy,
    status: &StatusCheck<'_>,
    now: i64,
) -> Result<(), VerifyError> {
    trusted_issuer(&p.iss, policy)?;
    time_window(p, policy, now)?;
    lifetime(p, policy)?;
    allowed_actor(p, policy)?;
    status_answerable(p, status)?;
    not_revoked(p, status.sources, now)
}

/// `iss` is one of the policy's trusted issuers (exact match).
pub(crate) fn trusted_issuer(iss: &str, policy: &VerificationPolicy) -> Result<(), VerifyError> {
    if !policy.trusted_issuers.contains(iss) {
        return Err(VerifyError::UntrustedIssuer { iss: shorten(iss) });
    }
    Ok(())
}

/// A passport issued (`iat`) after its key's retirement (`retired_at`, from
/// the key's JWK) is refused; a key without a retirement time is active.
/// No clock skew: both times come from the same issuer's clock.
pub(crate) fn key_not_retired(
    p: &PassportClaims,
    kid: &str,
    retired_at: Option<i64>,
) -> Result<(), VerifyError> {
    match retired_at {
        Some(retired_at) if p.iat > retired_at => Err(VerifyError::KeyRetired {
            kid: shorten(kid),
            iat: p.iat,
            retired_at,
        }),
        _ => Ok(()),
    }
}

/// `exp - iat` is at most the policy's `max_lifetime`, so a stolen key
/// cannot mint long-lived passports.
pub(crate) fn lifetime(p: &PassportClaims, policy: &VerificationPolicy) -> Result<(), VerifyError> {
    let lifetime = p.exp.saturating_sub(p.iat);
    if u64::try_from(lifetime).is_ok_and(|l| l > policy.max_lifetime) {
        return Err(VerifyError::LifetimeTooLong {
            lifetime,
            max: policy.max_lifetime,
        });
    }
    Ok(())
}

/// A passport with a `status` reference needs a status source that answers
/// for it, unless the caller opted out explicitly: ignoring it in silence
/// would accept revoked passports.
pub(crate) fn status_answerable(
    p: &PassportClaims,
    status: &StatusCheck<'_>,
) -> Result<(), VerifyError> {
    let answered = status
        .sources
        .iter()
        .any(|source| source.answers_status_references());
    if p.status.is_some() && !answered && !status.dangerous_ignore {
        return Err(VerifyError::StatusSourceRequired {
            jti: shorten(&p.jti),
        });
    }
    Ok(())
}

/// `exp` not passed, `nbf` and `iat` not ahead, each beyond the clock skew.
pub(crate) fn time_window(
    p: &PassportClaims,
    policy: &VerificationPolicy,
    now: i64,
) -> Result<(), VerifyError> {
    // A validated policy's skew is at most 120 s; 0 only if unvalidated.
    let skew = i64::try_from(policy.clock_skew).unwrap_or(0);
    if now > p.exp.saturating_add(skew) {
        return Err(VerifyError::Expired { exp: p.exp, now });
    }
    if now < p.nbf.saturating_sub(skew) {
        return Err(VerifyError::NotYetValid { nbf: p.nbf, now });
    }
    if now < p.iat.saturating_sub(skew) {
        return Err(VerifyError::IssuedInFuture { iat: p.iat, now });
    }
    Ok(())
}

/// With `allowed_actors` set, the link's `agent_id` is one of them.
pub(crate) fn allowed_actor(
    p: &PassportClaims,
    policy: &VerificationPolicy,
) -> Result<(), VerifyError> {
    if let Some(allowed) = &policy.allowed_actors
        && !allowed.contains(&p.agent.agent_id)
    {
        return Err(VerifyError::ActorNotAllowed {
            agent_id: shorten(&p.agent.agent_id),
        });
    }
    Ok(())
}

/// No source reports the link revoked or suspended, and every source can
/// answer (fail closed). Never cached: asked for every link on every use.
pub(crate) fn not_revoked(
    p: &PassportClaims,
    status: &[Arc<dyn StatusSource>],
    now: i64,
) -> Result<(), VerifyError> {
    for source in status {
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

/// The presented passport only: the audience, the assurance floors, a holder
/// key when required, no universal scope unless allowed, the required scope.
pub(crate) fn leaf(p: &PassportClaims, policy: &VerificationPolicy) -> Result<(), VerifyError> {
    audience(p, policy)?;
    assurance_floors(p, &policy.min_assurance)?;
    proof_of_possession(p, policy)?;
    no_wildcard(p, policy)?;
    if let Some(required) = &policy.required_scope {
        scope_covers(&p.agent.tool_scope, required)?;
    }
    Ok(())
}

/// `aud` is exactly the policy's audience. Leaf only: an ancestor's `aud`
/// names whom it delegated to.
pub(crate) fn audience(p: &PassportClaims, policy: &VerificationPolicy) -> Result<(), VerifyError> {
    if p.aud != policy.audience {
        return Err(VerifyError::AudienceMismatch {
            expected: policy.audience.clone(),
            found: shorten(&p.aud),
        });
    }
    Ok(())
}

/// Each level `floor` sets is asserted and at least the floor.
pub(crate) fn assurance_floors(p: &PassportClaims, floor: &Assurance) -> Result<(), VerifyError> {
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

/// A policy requiring proof of possession gets a leaf bound to a key.
pub(crate) fn proof_of_possession(
    p: &PassportClaims,
    policy: &VerificationPolicy,
) -> Result<(), VerifyError> {
    if policy.require_proof_of_possession && p.cnf_jkt.is_none() {
        return Err(VerifyError::ProofOfPossessionRequired);
    }
    Ok(())
}

/// No pattern that matches everything unless the policy opts in.
pub(crate) fn no_wildcard(
    p: &PassportClaims,
    policy: &VerificationPolicy,
) -> Result<(), VerifyError> {
    if !policy.allow_wildcard
        && let Some(pattern) = p.agent.tool_scope.iter().find(|s| s.is_universal())
    {
        return Err(VerifyError::WildcardNotAllowed {
            pattern: pattern.to_string(),
        });
    }
    Ok(())
}

/// Some pattern of `scope` matches `required`.
pub(crate) fn scope_covers(scope: &ScopeSet, required: &str) -> Result<(), VerifyError> {
    if scope.covers(required) {
        return Ok(());
    }
    Err(VerifyError::ScopeNotCovered {
        required: required.to_owned(),
        granted: scope.iter().map(ToString::to_string).collect(),
    })
}

/// SPEC §5 item 9 on a whole bundle, leaf first: each child follows from
/// the next link, and the last link is a root.
pub(crate) fn chain(links: &[Link], policy: &VerificationPolicy) -> Result<(), VerifyError> {
    for (i, child) in links.iter().enumerate() {
        let result = match links.get(i + 1) {
            Some(parent) => follows(child, parent, links.len() - 1 - i, policy),
            None => is_root(&child.passport, i),
        };
        result.map_err(|violation| VerifyError::Chain { link: i, violation })?;
    }
    Ok(())
}

/// The last link, at position `index`, is a root whose actor is just itself.
pub(crate) fn is_root(p: &PassportClaims, index: usize) -> Result<(), ChainViolation> {
    if let Some(parent_jti) = &p.agent.parent_jti {
        let parent_jti = shorten(parent_jti);
        return Err(if index == 0 {
            ChainViolation::ParentMissing { parent_jti }
        } else {
            ChainViolation::RootClaimsParent { parent_jti }
        });
    }
    // `act` must equal `Actor::new(agent_id)`, compared without building it.
    if p.act.sub != p.agent.agent_id || p.act.act.is_some() || !p.act.extra.is_empty() {
        return Err(ChainViolation::ActorChainMismatch {
            agent_id: shorten(&p.agent.agent_id),
        });
    }
    Ok(())
}

/// Every rule between `child` and its `parent`; `following` is how many
/// passports the bundle holds after the child.
pub(crate) fn follows(
    child: &Link,
    parent: &Link,
    following: usize,
    policy: &VerificationPolicy,
) -> Result<(), ChainViolation> {
    names_parent(&child.passport, &parent.passport, following)?;
    binds_parent(child, parent, policy)?;
    same_principal(&child.passport, &parent.passport)?;
    actor_wraps_parent(&child.passport, &parent.passport)?;
    scope_attenuates(&child.passport, &parent.passport)?;
    assurance_never_rises(&child.passport, &parent.passport)?;
    within_parent_lifetime(&child.passport, &parent.passport)
}

/// The child names a parent, and it is this one (`parent_jti`). A root
/// followed by `following` more passports reports them as surplus.
pub(crate) fn names_parent(
    child: &PassportClaims,
    parent: &PassportClaims,
    following: usize,
) -> Result<(), ChainViolation> {
    let Some(parent_jti) = &child.agent.parent_jti else {
        return Err(ChainViolation::SurplusParent { surplus: following });
    };
    if *parent_jti != parent.jti {
        return Err(ChainViolation::ParentJtiMismatch {
            claimed: shorten(parent_jti),
            actual: shorten(&parent.jti),
        });
    }
    Ok(())
}

/// The child's `parent_hash` is the SHA-256 of the parent's exact bytes.
/// Only an untyped (csp-agent-passport) child under a policy accepting
/// untyped passports may lack it; a typed passport minted here always has it.
pub(crate) fn binds_parent(
    child: &Link,
    parent: &Link,
    policy: &VerificationPolicy,
) -> Result<(), ChainViolation> {
    match &child.passport.parent_hash {
        Some(hash) => {
            // A SHA-256 is 32 bytes: anything longer does not fit, and does
            // not match.
            let mut decoded = [0u8; 32];
            let matches = passport_jose::b64::decode_into(hash, &mut decoded)
                .is_some_and(|n| parent.digest.is_some_and(|d| decoded[..n] == d[..]));
            if !matches {
                return Err(ChainViolation::ParentHashMismatch);
            }
        }
        None if child.untyped && policy.accept_untyped => {}
        None => return Err(ChainViolation::ParentHashMissing),
    }
    Ok(())
}

/// The same `sub` and `iss` as the parent, and its `acr` if it has one.
pub(crate) fn same_principal(
    child: &PassportClaims,
    parent: &PassportClaims,
) -> Result<(), ChainViolation> {
    if child.sub != parent.sub {
        return Err(ChainViolation::SubjectChanged {
            child: shorten(&child.sub),
            parent: shorten(&parent.sub),
        });
    }
    if child.iss != parent.iss {
        return Err(ChainViolation::IssuerChanged {
            child: shorten(&child.iss),
            parent: shorten(&parent.iss),
        });
    }
    if child.acr.is_some() && child.acr != parent.acr {
        return Err(ChainViolation::AcrChanged);
    }
    Ok(())
}

/// `act` is `{"sub": agent_id, "act": <parent's act>}`, nothing more.
pub(crate) fn actor_wraps_parent(
    child: &PassportClaims,
    parent: &PassportClaims,
) -> Result<(), ChainViolation> {
    let wrapped = child.act.sub == child.agent.agent_id
        && child.act.extra.is_empty()
        && child.act.act.as_deref() == Some(&parent.act);
    if !wrapped {
        return Err(ChainViolation::ActorChainMismatch {
            agent_id: shorten(&child.agent.agent_id),
        });
    }
    Ok(())
}

/// Every pattern of the child is implied by one of the parent's.
pub(crate) fn scope_attenuates(
    child: &PassportClaims,
    parent: &PassportClaims,
) -> Result<(), ChainViolation> {
    let widened = child
        .agent
        .tool_scope
        .not_implied_by(&parent.agent.tool_scope);
    if !widened.is_empty() {
        return Err(ChainViolation::ScopeWidened {
            widened: widened.iter().map(ToString::to_string).collect(),
            parent: parent
                .agent
                .tool_scope
                .iter()
                .map(ToString::to_string)
                .collect(),
        });
    }
    Ok(())
}

/// No assurance level above the parent's, nor one the parent lacks.
pub(crate) fn assurance_never_rises(
    child: &PassportClaims,
    parent: &PassportClaims,
) -> Result<(), ChainViolation> {
    let (c, p) = (&child.assurance, &parent.assurance);
    for (kind, child, parent) in [
        (AssuranceKind::Ial, c.ial, p.ial),
        (AssuranceKind::Aal, c.aal, p.aal),
        (AssuranceKind::Fal, c.fal, p.fal),
    ] {
        match (child, parent) {
            (Some(child), None) => {
                return Err(ChainViolation::AssuranceAppeared { kind, child });
            }
            (Some(child), Some(parent)) if child > parent => {
                return Err(ChainViolation::AssuranceRaised {
                    kind,
                    child,
                    parent,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The child expires no later than its parent.
pub(crate) fn within_parent_lifetime(
    child: &PassportClaims,
    parent: &PassportClaims,
) -> Result<(), ChainViolation> {
    if child.exp > parent.exp {
        return Err(ChainViolation::OutlivesParent {
            child_exp: child.exp,
            parent_exp: parent.exp,
        });
    }
    Ok(())
}

/// Keeps attacker-chosen strings in errors and logs short.
pub(crate) fn shorten(s: &str) -> String {
    passport_jose::clip(s, 128)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use passport_claims::{Actor, AgentClaims, ScopeSet};

    const NOW: i64 = 1_700_000_000;

    fn policy() -> VerificationPolicy {
        VerificationPolicy::new("https://issuer.local", "https://tool.example")
    }

    fn root(agent_id: &str) -> PassportClaims {
        let agent = AgentClaims {
            agent_id: agent_id.to_owned(),
            agent_model: "model".to_owned(),
            tool_scope: ScopeSet::parse(["files:*"]).unwrap(),
            task_purpose: None,
            parent_jti: None,
        };
        PassportClaims::new(
            "https://issuer.local",
            "alice",
            "https://tool.example",
            format!("jti-{agent_id}"),
            NOW,
            NOW + 300,
            agent,
        )
    }

    fn link(passport: PassportClaims, untyped: bool, digest: Option<[u8; 32]>) -> Link {
        Link {
            passport: Arc::new(passport),
            untyped,
            digest,
        }
    }

    /// `parent` as an ancestor (hashed) and a child bound to it.
    fn parent_and_child() -> (Link, PassportClaims) {
        let parent = root("agent-a");
        let digest = [7u8; 32];
        let mut child = root("agent-b");
        child.agent.parent_jti = Some(parent.jti.clone());
        child.parent_hash = Some(passport_jose::b64::encode(digest));
        child.act = Actor::wrapping("agent-b", &parent.act);
        (link(parent, false, Some(digest)), child)
    }

    #[test]
    fn time_window_saturates_instead_of_overflowing() {
        let mut p = root("agent-a");
        p.exp = i64::MAX;
        p.nbf = i64::MIN;
        p.iat = i64::MIN;
        time_window(&p, &policy(), i64::MAX).unwrap();
        p.nbf = i64::MAX;
        assert!(matches!(
            time_window(&p, &policy(), i64::MIN),
            Err(VerifyError::NotYetValid { .. })
        ));
        p = root("agent-a");
        p.exp = i64::MIN;
        assert!(matches!(
            time_window(&p, &policy(), NOW),
            Err(VerifyError::Expired { .. })
        ));
    }

    #[test]
    fn a_key_retired_before_iat_refuses_and_an_active_key_does_not() {
        let p = root("agent-a");
        key_not_retired(&p, "k", None).unwrap();
        key_not_retired(&p, "k", Some(NOW)).unwrap();
        assert!(matches!(
            key_not_retired(&p, "k", Some(NOW - 1)),
            Err(VerifyError::KeyRetired { iat: NOW, retired_at, .. }) if retired_at == NOW - 1
        ));
    }

    #[test]
    fn lifetime_is_bounded_exactly_and_saturates() {
        let mut p = root("agent-a");
        let policy = policy().max_lifetime(300);
        lifetime(&p, &policy).unwrap();
        p.exp += 1;
        assert!(matches!(
            lifetime(&p, &policy),
            Err(VerifyError::LifetimeTooLong {
                lifetime: 301,
                max: 300
            })
        ));
        p.iat = i64::MIN;
        p.exp = i64::MAX;
        assert!(matches!(
            lifetime(&p, &policy),
            Err(VerifyError::LifetimeTooLong { .. })
        ));
        p.iat = NOW;
        p.exp = NOW - 10;
        lifetime(&p, &policy).unwrap();
    }

    #[test]
    fn a_status_reference_needs_a_source_unless_ignored_explicitly() {
        let mut p = root("agent-a");
        let none = StatusCheck {
            sources: &[],
            dangerous_ignore: false,
        };
        status_answerable(&p, &none).unwrap();
        p.status = Some(
            passport_claims::StatusReference::new(7, "https://issuer.local/status/1").unwrap(),
        );
        assert!(matches!(
            status_answerable(&p, &none),
            Err(VerifyError::StatusSourceRequired { .. })
        ));
        let ignoring = StatusCheck {
            sources: &[],
            dangerous_ignore: true,
        };
        status_answerable(&p, &ignoring).unwrap();
        // A source that does not answer for references (a deny list) is not
        // enough; one that does is.
        struct Source(bool);
        impl StatusSource for Source {
            fn status(
                &self,
                _: &PassportClaims,
                _: i64,
            ) -> Result<LinkStatus, crate::StatusUnavailable> {
                Ok(LinkStatus::Valid)
            }
            fn answers_status_references(&self) -> bool {
                self.0
            }
        }
        let deny_only: [Arc<dyn StatusSource>; 1] = [Arc::new(Source(false))];
        let check = StatusCheck {
            sources: &deny_only,
            dangerous_ignore: false,
        };
        assert!(matches!(
            status_answerable(&p, &check),
            Err(VerifyError::StatusSourceRequired { .. })
        ));
        let both: [Arc<dyn StatusSource>; 2] = [Arc::new(Source(false)), Arc::new(Source(true))];
        let check = StatusCheck {
            sources: &both,
            dangerous_ignore: false,
        };
        status_answerable(&p, &check).unwrap();
    }

    #[test]
    fn a_well_formed_pair_follows() {
        let (parent, child) = parent_and_child();
        follows(&link(child, false, None), &parent, 1, &policy()).unwrap();
    }

    #[test]
    fn a_child_cannot_bind_to_a_link_that_was_never_hashed() {
        let (parent, child) = parent_and_child();
        let unhashed = link((*parent.passport).clone(), false, None);
        assert_eq!(
            binds_parent(&link(child, false, None), &unhashed, &policy()),
            Err(ChainViolation::ParentHashMismatch)
        );
    }

    #[test]
    fn only_an_accepted_untyped_child_may_lack_the_parent_hash() {
        let (parent, mut child) = parent_and_child();
        child.parent_hash = None;
        let child_untyped = link(child.clone(), true, None);
        let child_typed = link(child, false, None);
        let lenient = policy().accept_untyped(true);
        binds_parent(&child_untyped, &parent, &lenient).unwrap();
        for (c, p) in [
            (&child_untyped, &policy()),
            (&child_typed, &lenient),
            (&child_typed, &policy()),
        ] {
            assert_eq!(
                binds_parent(c, &parent, p),
                Err(ChainViolation::ParentHashMissing)
            );
        }
    }

    #[test]
    fn chain_counts_the_surplus_after_a_root_and_checks_the_last_root() {
        let links = [
            link(root("agent-a"), false, None),
            link(root("agent-b"), false, Some([1; 32])),
            link(root("agent-c"), false, Some([2; 32])),
        ];
        match chain(&links, &policy()) {
            Err(VerifyError::Chain {
                link: 0,
                violation: ChainViolation::SurplusParent { surplus: 2 },
            }) => {}
            other => panic!("{other:?}"),
        }
        let mut impostor = root("agent-a");
        impostor.act = Actor::wrapping("agent-a", &Actor::new("agent-z"));
        match chain(&[link(impostor, false, None)], &policy()) {
            Err(VerifyError::Chain {
                link: 0,
                violation: ChainViolation::ActorChainMismatch { .. },
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
