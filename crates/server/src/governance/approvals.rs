//! Approvals: a request for an environment with `approval = true` waits
//! for an approver — a principal holding the approver role other than the
//! identity's owner (or its workload client's owner) and other than the
//! requester. An approval admits passports whose scopes it covers, for the
//! principal that asked, until it expires (the policy's `approval_ttl`); a
//! denial refuses the same request of the same principal for as long,
//! after which it may be asked again. A request waits for a decision as
//! long (then it is expired, cannot be decided, and the next request opens
//! a new one). Each principal's request is an approval of its own: another
//! principal asking the same through the same agent waits for a decision
//! on theirs. A principal has at most `MAX_PENDING_PER_REQUESTER`
//! requests waiting through one agent at once (so no principal's flood
//! refuses another's request), and approvers see the pending ones oldest
//! first, so no flood buries a request waiting before it.

use passport_claims::ScopeSet;
use passport_store::server::{
    ApprovalRecord, ApprovalRequest, ApprovalState, Decision, MAX_PENDING_PER_REQUESTER,
};

use serde_json::json;

use super::Candidate;
use super::audit::{self, Action, AuditEvent, Outcome};
use super::identities::unavailable;
use super::policy::{DEFAULT_APPROVAL_TTL, Environment, beyond};
use super::roles::{AdminActor, AdminRole};
use crate::oauth::{OAuthError, codes};
use crate::service::{Server, random_id};

/// The approval `candidate` is issued under in `env`: a standing approval
/// covering its scopes, or the refusal — `authorization_pending` naming
/// the pending approval (created or found), or `access_denied` when the
/// same request of the same principal was denied.
pub(crate) async fn admit_under(
    server: &Server,
    env: &Environment,
    candidate: &Candidate,
) -> Result<String, OAuthError> {
    let db = &server.inner.db;
    let now = server.inner.clock.now();
    let rule = format!("environments.{}.approval", env.name);
    let standing = db
        .standing_approvals(&candidate.agent_id, &env.name, &candidate.audience, now)
        .await
        .map_err(|e| unavailable(&e))?;
    let asked = canonical(&candidate.scopes);
    for a in &standing {
        let Ok(approved) = ScopeSet::parse(a.scopes.split_ascii_whitespace()) else {
            continue;
        };
        // for the principal that asked only: the approver (or anyone else)
        // minting through the same agent under it would be a self-approval
        // by another route (found by the session-5 review)
        if a.state == ApprovalState::Approved
            && a.requested_by == candidate.principal
            && beyond(&candidate.scopes, &approved.iter().collect::<Vec<_>>()).is_empty()
        {
            return Ok(a.id.clone());
        }
    }
    // as an approval, a denial answers the principal that asked: another
    // principal's request for the same is theirs to ask, and an approver's
    // to decide (review S14, finding 3)
    if let Some(denied) = standing.iter().find(|a| {
        a.state == ApprovalState::Denied
            && a.scopes == asked
            && a.requested_by == candidate.principal
    }) {
        let refused = OAuthError::new(
            400,
            codes::ACCESS_DENIED,
            format!("policy: {rule}: the request was denied by an approver"),
        )
        .with("rule", rule)
        .with("approval_id", denied.id.clone());
        audit::refusal(
            server,
            super::refused_event(candidate, &refused).environment(Some(&env.name)),
        )
        .await;
        return Err(refused);
    }
    let id = random_id().map_err(|e| {
        tracing::error!(error = %e, "no approval id");
        OAuthError::new(500, codes::SERVER_ERROR, "no approval id could be drawn")
    })?;
    let requested = db
        .request_approval(ApprovalRecord {
            id,
            agent_id: candidate.agent_id.clone(),
            environment: env.name.clone(),
            audience: candidate.audience.clone(),
            scopes: asked,
            requested_by: candidate.principal.clone(),
            requested_at: now,
            state: ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            // nobody decided in time: expired, and the next request opens
            // a new one (an approver never approves a stale request)
            expires_at: Some(now.saturating_add(approval_ttl(server))),
        })
        .await
        .map_err(|e| unavailable(&e))?;
    let pending = match requested {
        ApprovalRequest::Pending(pending) => pending,
        ApprovalRequest::Full(oldest) => {
            return Err(too_many_pending(server, env, candidate, &oldest, now).await);
        }
    };
    let waiting = OAuthError::new(
        400,
        codes::AUTHORIZATION_PENDING,
        format!("policy: {rule}: this environment needs an approval; ask again once approved"),
    )
    .with("rule", rule.clone())
    .with("approval_id", pending.id.clone());
    // the issuance is refused for now: a request left pending
    audit::refusal(
        server,
        AuditEvent::new(Action::ApprovalRequested, Outcome::Refused)
            .actor(&candidate.client_id)
            .client(&candidate.client_id)
            .agent(&candidate.agent_id)
            .principal(&candidate.principal)
            .audience(&candidate.audience)
            .environment(Some(&env.name))
            .approval(Some(&pending.id))
            .rule(&rule)
            .error(codes::AUTHORIZATION_PENDING)
            .detail(json!({ "scopes": pending.scopes })),
    )
    .await;
    Err(waiting)
}

/// The refusal of a request of a principal who has
/// [`MAX_PENDING_PER_REQUESTER`] requests waiting through the agent already
/// (review S14, finding 6; fourth pass, V4-1), audited: not
/// `authorization_pending`, since no request of this one waits for a
/// decision. 429 `temporarily_unavailable`, with `Retry-After` always:
/// until the `oldest` pending one expires (a slot is free by then), or
/// the policy's `approval_ttl` should it carry no expiry.
async fn too_many_pending(
    server: &Server,
    env: &Environment,
    candidate: &Candidate,
    oldest: &ApprovalRecord,
    now: i64,
) -> OAuthError {
    let rule = format!("environments.{}.approval", env.name);
    let mut refused = OAuthError::new(
        429,
        codes::TEMPORARILY_UNAVAILABLE,
        format!(
            "policy: {rule}: you have {MAX_PENDING_PER_REQUESTER} requests waiting for an \
             approver through this agent, the most you may; this one is not recorded: ask \
             again once one of them is decided or expires"
        ),
    )
    .with("rule", rule);
    let until = oldest
        .expires_at
        .unwrap_or_else(|| now.saturating_add(approval_ttl(server)));
    refused.retry_after = Some(u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1));
    audit::refusal(
        server,
        super::refused_event(candidate, &refused).environment(Some(&env.name)),
    )
    .await;
    refused
}

/// The policy's `approval_ttl` in seconds: how long a decision holds, and
/// how long a request waits for one.
fn approval_ttl(server: &Server) -> i64 {
    let ttl = server
        .inner
        .policy
        .as_ref()
        .map_or(DEFAULT_APPROVAL_TTL, |p| p.current().approval_ttl);
    i64::try_from(ttl).unwrap_or(i64::MAX)
}

/// The scopes as stored: sorted, space-separated.
fn canonical(scopes: &ScopeSet) -> String {
    let mut all: Vec<&str> = scopes.iter().map(|p| p.as_str()).collect();
    all.sort_unstable();
    all.dedup();
    all.join(" ")
}

/// The approvals (in `state`, or all): approvers and auditors.
pub(crate) async fn list(
    server: &Server,
    actor: &AdminActor,
    state: Option<ApprovalState>,
) -> Result<Vec<ApprovalRecord>, OAuthError> {
    actor
        .require(AdminRole::Approver)
        .or_else(|_| actor.require(AdminRole::Auditor))?;
    server
        .inner
        .db
        .approvals(state, server.inner.clock.now())
        .await
        .map_err(|e| unavailable(&e))
}

/// An approver approves (or denies) the pending approval `id`. Refused
/// without the approver role (403), to the identity's owner and to the
/// principal that asked (403 `self_approval`, audited as refused), for an
/// unknown approval (404) or one already decided (409). The decision is
/// answered only once audited (500 otherwise; it stands, and the
/// administrator sees it was not confirmed).
pub(crate) async fn decide(
    server: &Server,
    actor: &AdminActor,
    id: &str,
    approve: bool,
) -> Result<ApprovalRecord, OAuthError> {
    actor.require(AdminRole::Approver)?;
    let db = &server.inner.db;
    let Some(approval) = db.approval(id).await.map_err(|e| unavailable(&e))? else {
        return Err(OAuthError::new(
            404,
            codes::INVALID_REQUEST,
            "unknown_approval: no approval with this id",
        ));
    };
    // the owner: the identity's, or its workload client's (review 2b)
    if approval.requested_by == actor.principal
        || super::identities::owned_by(server, &approval.agent_id, &actor.principal).await?
    {
        let refused = OAuthError::new(
            403,
            codes::ACCESS_DENIED,
            "self_approval: the identity's owner and the requester may not decide this approval",
        )
        .with("rule", SELF_APPROVAL);
        audit::refusal(
            server,
            decision_event(actor, &approval, approve, Outcome::Refused)
                .rule(SELF_APPROVAL)
                .error(codes::ACCESS_DENIED),
        )
        .await;
        return Err(refused);
    }
    let now = server.inner.clock.now();
    let decision = Decision {
        approve,
        decided_by: actor.principal.clone(),
        now,
        expires_at: now.saturating_add(approval_ttl(server)),
    };
    let Some(decided) = db
        .decide_approval(id, decision)
        .await
        .map_err(|e| unavailable(&e))?
    else {
        return Err(OAuthError::new(
            409,
            codes::INVALID_REQUEST,
            "approval_decided: this approval is no longer pending (decided, or expired undecided)",
        ));
    };
    // answered as decided only once audited
    audit::record(
        server,
        decision_event(actor, &decided, approve, Outcome::Done)
            .detail(json!({ "scopes": decided.scopes, "expires_at": decided.expires_at })),
    )
    .await?;
    Ok(decided)
}

/// The rule a self-approval breaks.
const SELF_APPROVAL: &str = "approvals.self_approval";

/// The audit record of `actor`'s decision on `approval`.
fn decision_event(
    actor: &AdminActor,
    approval: &ApprovalRecord,
    approve: bool,
    outcome: Outcome,
) -> AuditEvent {
    let action = if approve {
        Action::ApprovalApproved
    } else {
        Action::ApprovalDenied
    };
    AuditEvent::new(action, outcome)
        .actor(&actor.principal)
        .agent(&approval.agent_id)
        .principal(&approval.requested_by)
        .audience(&approval.audience)
        .environment(Some(&approval.environment))
        .approval(Some(&approval.id))
}
