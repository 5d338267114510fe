//! Approvals: a request for an environment with `approval = true` waits
//! for an approver — a principal holding the approver role other than the
//! identity's owner and other than the requester. An approval admits
//! passports whose scopes it covers, for the principal that asked, until it
//! expires (the policy's `approval_ttl`); a denial refuses the same request
//! for as long, after which it may be asked again.

use passport_claims::ScopeSet;
use passport_store::server::{AgentIdentity, ApprovalRecord, ApprovalState, Decision};

use super::Candidate;
use super::identities::unavailable;
use super::policy::{DEFAULT_APPROVAL_TTL, Environment, beyond};
use super::roles::{AdminActor, AdminRole};
use crate::oauth::{OAuthError, codes};
use crate::service::{Server, random_id};

/// The approval `candidate` is issued under in `env`: a standing approval
/// covering its scopes, or the refusal — `authorization_pending` naming
/// the pending approval (created or found), or `access_denied` when the
/// same request was denied.
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
    if let Some(denied) = standing
        .iter()
        .find(|a| a.state == ApprovalState::Denied && a.scopes == asked)
    {
        // audit: refused (denied approval)
        tracing::info!(agent_id = %candidate.agent_id, approval_id = %denied.id, rule = %rule, outcome = "refused", "issuance refused: the approval was denied");
        return Err(OAuthError::new(
            400,
            codes::ACCESS_DENIED,
            format!("policy: {rule}: the request was denied by an approver"),
        )
        .with("rule", rule)
        .with("approval_id", denied.id.clone()));
    }
    let id = random_id().map_err(|e| {
        tracing::error!(error = %e, "no approval id");
        OAuthError::new(500, codes::SERVER_ERROR, "no approval id could be drawn")
    })?;
    let pending = db
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
            expires_at: None,
        })
        .await
        .map_err(|e| unavailable(&e))?;
    // audit: approval requested (issuance pending)
    tracing::info!(agent_id = %candidate.agent_id, principal = %candidate.principal, approval_id = %pending.id, rule = %rule, outcome = "pending", "issuance waits for an approval");
    Err(OAuthError::new(
        400,
        codes::AUTHORIZATION_PENDING,
        format!("policy: {rule}: this environment needs an approval; ask again once approved"),
    )
    .with("rule", rule)
    .with("approval_id", pending.id))
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
/// principal that asked (403 `self_approval`), for an unknown approval
/// (404) or one already decided (409).
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
    let owner = db
        .agent_identity(&approval.agent_id)
        .await
        .map_err(|e| unavailable(&e))?
        .map(|i: AgentIdentity| i.owner);
    if owner.as_deref() == Some(actor.principal.as_str())
        || approval.requested_by == actor.principal
    {
        // audit: self-approval refused
        tracing::info!(actor = %actor.principal, approval_id = %id, outcome = "refused", "self-approval refused");
        return Err(OAuthError::new(
            403,
            codes::ACCESS_DENIED,
            "self_approval: the identity's owner and the requester may not decide this approval",
        )
        .with("rule", "approvals.self_approval"));
    }
    let now = server.inner.clock.now();
    let ttl = server
        .inner
        .policy
        .as_ref()
        .map_or(DEFAULT_APPROVAL_TTL, |p| p.current().approval_ttl);
    let decision = Decision {
        approve,
        decided_by: actor.principal.clone(),
        now,
        expires_at: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
    };
    let Some(decided) = db
        .decide_approval(id, decision)
        .await
        .map_err(|e| unavailable(&e))?
    else {
        return Err(OAuthError::new(
            409,
            codes::INVALID_REQUEST,
            "approval_decided: this approval is no longer pending",
        ));
    };
    // audit: approval decided
    tracing::info!(
        actor = %actor.principal,
        approval_id = %id,
        agent_id = %decided.agent_id,
        environment = %decided.environment,
        decision = decided.state.as_str(),
        expires_at = ?decided.expires_at,
        outcome = "ok",
        "approval decided"
    );
    Ok(decided)
}
