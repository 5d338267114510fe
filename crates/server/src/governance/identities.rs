//! Agent identities: registered and changed by an administrator holding
//! the `identity_admin` role, never by an agent (agents hold passports and
//! client secrets, neither of which authenticates an administrator).
//!
//! No one grants itself a role: an administrator may not add roles to an
//! identity it owns (before or after the change), nor switch a disabled
//! identity it owns back on. Removing roles, changing the team and
//! disabling are allowed: they only take away.
//!
//! Who owns an identity, for every self rule (here, the kill-switch's
//! `self_lift` and the approvals' `self_approval`): its `owner`, and the
//! owner of the workload client whose `client_id` is the agent id (the
//! principal every passport of that workload is issued for), when such a
//! client exists ([`owned_by`]). An identity's `owner` may name another
//! principal than its client's owner (the person accountable for a
//! service account need not be the principal it acts for): both count.

use passport_store::StoreError;
use passport_store::server::{AgentIdentity, IdentityState};
use serde::Deserialize;

use super::audit::{self, Action, AuditEvent, Outcome};
use super::policy::valid_label;
use super::roles::{AdminActor, AdminRole};
use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// The most roles an identity holds.
const MAX_ROLES: usize = 32;

/// A registration (the JSON body of `POST /admin/api/identities`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewIdentity {
    pub(crate) agent_id: String,
    pub(crate) owner: String,
    #[serde(default)]
    pub(crate) team: String,
    #[serde(default)]
    pub(crate) roles: Vec<String>,
}

/// A change (the JSON body of `POST /admin/api/identities/{id}`): what is
/// absent is kept. `if_version`, the identity's [`version`] as the client
/// read it, makes the change conditional: made only if the identity is
/// still as read (409 `identity_changed` otherwise).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityChange {
    pub(crate) owner: Option<String>,
    pub(crate) team: Option<String>,
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) state: Option<StateName>,
    pub(crate) if_version: Option<String>,
}

/// An identity's version, as the API shows it (`version`) and a change's
/// `if_version` names it: a digest of everything it holds, so any change
/// of any field (or a write of the same values by another administrator
/// or at another time) gives another.
pub(crate) fn version(identity: &AgentIdentity) -> String {
    let held = serde_json::json!([
        identity.agent_id,
        identity.owner,
        identity.team,
        identity.roles,
        identity.state.as_str(),
        identity.created_at,
        identity.updated_at,
        identity.updated_by,
    ]);
    passport_jose::sha256_b64url(held.to_string().as_bytes())
}

/// An identity's state as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StateName {
    Active,
    Disabled,
}

pub(crate) fn invalid(why: impl AsRef<str>) -> OAuthError {
    OAuthError::new(400, codes::INVALID_REQUEST, why)
}

pub(crate) fn unavailable(e: &StoreError) -> OAuthError {
    tracing::error!(error = %e, "governance state unavailable");
    OAuthError::new(
        503,
        codes::TEMPORARILY_UNAVAILABLE,
        "the governance state cannot be read",
    )
}

fn check(agent_id: &str, owner: &str, team: &str, roles: &[String]) -> Result<(), OAuthError> {
    if !valid_label(agent_id) {
        return Err(invalid("agent_id: 1 to 256 characters, no controls"));
    }
    if !valid_label(owner) {
        return Err(invalid("owner: 1 to 256 characters, no controls"));
    }
    if team.len() > 256 || team.chars().any(char::is_control) {
        return Err(invalid("team: at most 256 characters, no controls"));
    }
    if roles.len() > MAX_ROLES || roles.iter().any(|r| !valid_label(r)) {
        return Err(invalid(format!(
            "roles: at most {MAX_ROLES}, each 1 to 256 characters without controls"
        )));
    }
    Ok(())
}

/// Refuses an actor giving roles to an identity it owns, directly or by
/// way of its ownership: adding roles to an identity it owns before or
/// after the change; handing an identity it owns to another owner (else:
/// hand it to a placeholder, add roles, take it back — found by the
/// session-5 review); taking ownership of an identity that has roles.
/// Switching a disabled identity it owns back on gives back all it could
/// mint: refused too (review 2b). The owner of the agent's workload client
/// (`client_owner`) owns the identity before and after, whatever `owner`
/// says. Another identity administrator does each of these.
fn no_self_grant(
    actor: &AdminActor,
    client_owner: Option<&str>,
    (before_owner, after_owner): (Option<&str>, &str),
    (before, after): (&Side, &Side),
) -> Result<(), OAuthError> {
    let me = actor.principal.as_str();
    let refuse = |why: &str| {
        Err(
            OAuthError::new(403, codes::ACCESS_DENIED, format!("self_grant: {why}"))
                .with("rule", "identities.self_grant"),
        )
    };
    let by_client = client_owner == Some(me);
    let owned_before = before_owner == Some(me) || by_client;
    let owned_after = after_owner == me || by_client;
    let adds = after.roles.iter().any(|r| !before.roles.contains(r));
    if adds && (owned_before || owned_after) {
        return refuse("an administrator may not give roles to an identity it owns");
    }
    if before.state == IdentityState::Disabled
        && after.state == IdentityState::Active
        && (owned_before || owned_after)
    {
        return refuse(
            "an administrator may not re-enable an identity it owns: another administrator does",
        );
    }
    if owned_before && !owned_after {
        return refuse(
            "an administrator may not hand over an identity it owns: another administrator does",
        );
    }
    if !owned_before && owned_after && !after.roles.is_empty() {
        return refuse(
            "an administrator may not take ownership of an identity with roles: another \
             administrator does",
        );
    }
    Ok(())
}

/// What [`no_self_grant`] compares of an identity, before and after.
struct Side<'a> {
    roles: &'a [String],
    state: IdentityState,
}

/// The owner of the workload client `agent_id` names, if there is one
/// (and it has an owner).
///
/// # Errors
/// 503 when the client cannot be read (fail closed).
async fn client_owner(server: &Server, agent_id: &str) -> Result<Option<String>, OAuthError> {
    Ok(server
        .inner
        .db
        .client(agent_id)
        .await
        .map_err(|e| unavailable(&e))?
        .and_then(|c| c.owner))
}

/// Whether `principal` owns the agent `agent_id` for the self rules: it
/// is its registered identity's `owner`, or the owner of the workload
/// client of that id (see the module).
///
/// # Errors
/// 503 when the identity or the client cannot be read (fail closed).
pub(crate) async fn owned_by(
    server: &Server,
    agent_id: &str,
    principal: &str,
) -> Result<bool, OAuthError> {
    let identity = server
        .inner
        .db
        .agent_identity(agent_id)
        .await
        .map_err(|e| unavailable(&e))?;
    if identity.is_some_and(|i| i.owner == principal) {
        return Ok(true);
    }
    Ok(client_owner(server, agent_id).await?.as_deref() == Some(principal))
}

fn dedup(mut roles: Vec<String>) -> Vec<String> {
    roles.sort();
    roles.dedup();
    roles
}

/// Every identity (identity administrators and auditors).
pub(crate) async fn list(
    server: &Server,
    actor: &AdminActor,
) -> Result<Vec<AgentIdentity>, OAuthError> {
    actor
        .require(AdminRole::IdentityAdmin)
        .or_else(|_| actor.require(AdminRole::Auditor))?;
    server
        .inner
        .db
        .agent_identities()
        .await
        .map_err(|e| unavailable(&e))
}

/// Registers an identity, active; answered only once audited (500
/// otherwise: the identity stands, unconfirmed). Runs to its end whether
/// or not the request waits ([`super::to_completion`]).
pub(crate) async fn register(
    server: &Server,
    actor: &AdminActor,
    new: NewIdentity,
) -> Result<AgentIdentity, OAuthError> {
    // refused at once, without taking a place
    actor.require(AdminRole::IdentityAdmin)?;
    super::to_completion(
        server,
        actor,
        super::Place::Wait,
        move |server, actor| async move { register_to_end(&server, &actor, new).await },
    )
    .await
}

/// [`register`], on the task [`super::to_completion`] gives it: the role
/// was checked before.
async fn register_to_end(
    server: &Server,
    actor: &AdminActor,
    new: NewIdentity,
) -> Result<AgentIdentity, OAuthError> {
    let roles = dedup(new.roles);
    check(&new.agent_id, &new.owner, &new.team, &roles)?;
    let by_client = client_owner(server, &new.agent_id).await?;
    let (none, some) = (
        Side {
            roles: &[],
            state: IdentityState::Active,
        },
        Side {
            roles: &roles,
            state: IdentityState::Active,
        },
    );
    no_self_grant(
        actor,
        by_client.as_deref(),
        (None, &new.owner),
        (&none, &some),
    )?;
    let now = server.inner.clock.now();
    let identity = AgentIdentity {
        agent_id: new.agent_id,
        owner: new.owner,
        team: new.team,
        roles,
        state: IdentityState::Active,
        created_at: now,
        updated_at: now,
        updated_by: actor.principal.clone(),
    };
    let inserted = server
        .inner
        .db
        .insert_agent_identity(identity.clone())
        .await
        .map_err(|e| unavailable(&e))?;
    if !inserted {
        return Err(OAuthError::new(
            409,
            codes::INVALID_REQUEST,
            "identity_exists: this agent_id is registered already",
        ));
    }
    identity_event(server, actor, &identity, "registered").await?;
    Ok(identity)
}

/// Records `actor`'s change (`registered` or `changed`) of `identity`, as
/// it now stands; the change is answered as done only once audited.
async fn identity_event(
    server: &Server,
    actor: &AdminActor,
    identity: &AgentIdentity,
    change: &str,
) -> Result<(), OAuthError> {
    audit::record(
        server,
        AuditEvent::new(Action::IdentityChanged, Outcome::Done)
            .actor(&actor.principal)
            .agent(&identity.agent_id)
            .principal(&identity.owner)
            .detail(serde_json::json!({
                "change": change,
                "owner": identity.owner,
                "team": identity.team,
                "roles": identity.roles,
                "state": identity.state.as_str(),
            })),
    )
    .await
}

/// How many times [`update`] makes its change on a fresh reading when
/// another change landed between its reading and its write.
const ATTEMPTS: usize = 4;

/// Changes an identity; answered only once audited, as [`register`].
///
/// With `if_version`, the change is made only on the identity as the
/// client read it: when it is no longer so (another administrator's change
/// landed since), 409 `identity_changed`, without retrying — a client that
/// sends back fields as it read them (an edit form; `roles` is always the
/// whole list) would otherwise write them over the other change. Without
/// it, the fields sent are made on the identity as it is now:
/// The change and the self rules are made on the identity as read, and
/// written only if it still stands so (the write is conditional): when
/// another administrator's change landed in between, the identity is read
/// again and the change made and checked anew on it, at most [`ATTEMPTS`]
/// times (then 409 `identity_changed`). Written unconditionally, a change
/// made on a stale reading silently undid the other (a disable, a role
/// removal) — even one the self rules would refuse if asked for directly.
/// Runs to its end whether or not the request waits
/// ([`super::to_completion`]).
pub(crate) async fn update(
    server: &Server,
    actor: &AdminActor,
    agent_id: &str,
    change: IdentityChange,
) -> Result<AgentIdentity, OAuthError> {
    // refused at once, without taking a place
    actor.require(AdminRole::IdentityAdmin)?;
    let agent_id = agent_id.to_owned();
    super::to_completion(
        server,
        actor,
        super::Place::Wait,
        move |server, actor| async move { update_to_end(&server, &actor, &agent_id, change).await },
    )
    .await
}

/// [`update`], on the task [`super::to_completion`] gives it: the role
/// was checked before.
async fn update_to_end(
    server: &Server,
    actor: &AdminActor,
    agent_id: &str,
    change: IdentityChange,
) -> Result<AgentIdentity, OAuthError> {
    let db = &server.inner.db;
    for _ in 0..ATTEMPTS {
        let Some(before) = db
            .agent_identity(agent_id)
            .await
            .map_err(|e| unavailable(&e))?
        else {
            return Err(OAuthError::new(
                404,
                codes::INVALID_REQUEST,
                "unknown_identity: no identity with this agent_id",
            ));
        };
        if let Some(expected) = &change.if_version
            && *expected != version(&before)
        {
            return Err(OAuthError::new(
                409,
                codes::INVALID_REQUEST,
                "identity_changed: the identity changed since it was read (if_version); read \
                 it again and make the change on what it is now",
            ));
        }
        let after = changed(server, actor, &before, &change).await?;
        if db
            .update_agent_identity(&before, after.clone())
            .await
            .map_err(|e| unavailable(&e))?
        {
            identity_event(server, actor, &after, "changed").await?;
            return Ok(after);
        }
    }
    Err(OAuthError::new(
        409,
        codes::INVALID_REQUEST,
        "identity_changed: other changes of this identity kept landing while this one was \
         made; read it again and retry",
    ))
}

/// `before` with `change` made by `actor`, checked (400) and within the
/// self rules (403).
async fn changed(
    server: &Server,
    actor: &AdminActor,
    before: &AgentIdentity,
    change: &IdentityChange,
) -> Result<AgentIdentity, OAuthError> {
    let mut after = before.clone();
    if let Some(owner) = &change.owner {
        after.owner.clone_from(owner);
    }
    if let Some(team) = &change.team {
        after.team.clone_from(team);
    }
    if let Some(roles) = &change.roles {
        after.roles = dedup(roles.clone());
    }
    if let Some(state) = change.state {
        after.state = match state {
            StateName::Active => IdentityState::Active,
            StateName::Disabled => IdentityState::Disabled,
        };
    }
    check(&after.agent_id, &after.owner, &after.team, &after.roles)?;
    let by_client = client_owner(server, &before.agent_id).await?;
    no_self_grant(
        actor,
        by_client.as_deref(),
        (Some(&before.owner), &after.owner),
        (
            &Side {
                roles: &before.roles,
                state: before.state,
            },
            &Side {
                roles: &after.roles,
                state: after.state,
            },
        ),
    )?;
    after.updated_at = server.inner.clock.now();
    after.updated_by = actor.principal.clone();
    Ok(after)
}

/// Disables an identity: nothing more is issued to it.
pub(crate) async fn disable(
    server: &Server,
    actor: &AdminActor,
    agent_id: &str,
) -> Result<AgentIdentity, OAuthError> {
    let change = IdentityChange {
        state: Some(StateName::Disabled),
        ..IdentityChange::default()
    };
    update(server, actor, agent_id, change).await
}

/// The identity `agent_id` as issuance sees it: registered and active, or
/// the refusal (rule `identities`). A database that cannot be read
/// refuses (fail closed).
pub(crate) async fn active(server: &Server, agent_id: &str) -> Result<AgentIdentity, OAuthError> {
    let refuse = |why: &str| {
        OAuthError::new(
            400,
            codes::ACCESS_DENIED,
            format!("policy: identities: {why}"),
        )
        .with("rule", "identities")
    };
    match server.inner.db.agent_identity(agent_id).await {
        Ok(Some(identity)) if identity.state == IdentityState::Active => Ok(identity),
        Ok(Some(_)) => Err(refuse("the agent identity is disabled")),
        Ok(None) => Err(refuse("the agent identity is not registered")),
        Err(e) => Err(unavailable(&e)),
    }
}
