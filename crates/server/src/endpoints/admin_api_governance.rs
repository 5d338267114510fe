//! The administrators' JSON API of governance (issue 14): agent
//! identities, approvals, the policy's status. Each handler authenticates
//! the administrator ([`actor_from_bearer`]: an upstream ID token) and
//! calls the governance function, which checks the role.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use passport_store::server::{AgentIdentity, ApprovalRecord, ApprovalState};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{no_store, oauth_error};
use crate::governance::approvals;
use crate::governance::identities::{self, IdentityChange, NewIdentity, invalid};
use crate::governance::roles::{AdminActor, AdminRole, actor_from_bearer};
use crate::oauth::OAuthError;
use crate::service::Server;

/// The largest JSON body accepted.
const MAX_BODY: usize = 16 * 1024;

fn answer(result: Result<(StatusCode, Value), OAuthError>) -> Response {
    match result {
        Ok((status, body)) => (status, no_store(&body)).into_response(),
        Err(e) => oauth_error(&e),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, OAuthError> {
    if body.len() > MAX_BODY {
        return Err(invalid(format!("the body is larger than {MAX_BODY} bytes")));
    }
    serde_json::from_slice(body).map_err(|e| invalid(format!("the JSON body: {e}")))
}

fn identity_json(i: &AgentIdentity) -> Value {
    json!({
        "agent_id": i.agent_id,
        "owner": i.owner,
        "team": i.team,
        "roles": i.roles,
        "state": i.state.as_str(),
        "created_at": i.created_at,
        "updated_at": i.updated_at,
        "updated_by": i.updated_by,
        "version": identities::version(i),
    })
}

fn approval_json(a: &ApprovalRecord) -> Value {
    json!({
        "id": a.id,
        "agent_id": a.agent_id,
        "environment": a.environment,
        "audience": a.audience,
        "scopes": a.scopes,
        "requested_by": a.requested_by,
        "requested_at": a.requested_at,
        "state": a.state.as_str(),
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "expires_at": a.expires_at,
    })
}

/// `GET /admin/api/identities`.
pub(super) async fn list_identities(State(server): State<Server>, headers: HeaderMap) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            let all = identities::list(&server, &actor).await?;
            let list: Vec<Value> = all.iter().map(identity_json).collect();
            Ok((StatusCode::OK, json!({ "identities": list })))
        }
        .await,
    )
}

/// `POST /admin/api/identities`: `{"agent_id", "owner", "team", "roles"}`.
pub(super) async fn register_identity(
    State(server): State<Server>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            let new: NewIdentity = parse(&body)?;
            let identity = identities::register(&server, &actor, new).await?;
            Ok((StatusCode::CREATED, identity_json(&identity)))
        }
        .await,
    )
}

/// `POST /admin/api/identities/{id}`: `{"owner"?, "team"?, "roles"?,
/// "state"?: "active"|"disabled", "if_version"?}` (`if_version`: the
/// `version` as read; 409 `identity_changed` when it no longer is).
pub(super) async fn update_identity(
    State(server): State<Server>,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            let change: IdentityChange = parse(&body)?;
            let identity = identities::update(&server, &actor, &agent_id, change).await?;
            Ok((StatusCode::OK, identity_json(&identity)))
        }
        .await,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApprovalQuery {
    state: Option<String>,
}

/// `GET /admin/api/approvals[?state=pending|approved|denied|expired]`.
pub(super) async fn list_approvals(
    State(server): State<Server>,
    Query(query): Query<ApprovalQuery>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            let state = match query.state.as_deref() {
                None => None,
                Some("pending") => Some(ApprovalState::Pending),
                Some("approved") => Some(ApprovalState::Approved),
                Some("denied") => Some(ApprovalState::Denied),
                Some("expired") => Some(ApprovalState::Expired),
                Some(_) => return Err(invalid("state: pending, approved, denied or expired")),
            };
            let all = approvals::list(&server, &actor, state).await?;
            let list: Vec<Value> = all.iter().map(approval_json).collect();
            Ok((StatusCode::OK, json!({ "approvals": list })))
        }
        .await,
    )
}

/// `POST /admin/api/approvals/{id}/approve`.
pub(super) async fn approve(
    State(server): State<Server>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    decide(&server, &id, &headers, true).await
}

/// `POST /admin/api/approvals/{id}/deny`.
pub(super) async fn deny(
    State(server): State<Server>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    decide(&server, &id, &headers, false).await
}

async fn decide(server: &Server, id: &str, headers: &HeaderMap, approve: bool) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(server, headers).await?;
            let decided = crate::governance::decide(server, &actor, id, approve).await?;
            Ok((StatusCode::OK, approval_json(&decided)))
        }
        .await,
    )
}

/// Refuses an actor holding none of the administrators' roles (naming
/// the auditor role, the one meant for reading).
fn require_any(actor: &AdminActor) -> Result<(), OAuthError> {
    if actor.roles.is_empty() {
        return actor.require(AdminRole::Auditor);
    }
    Ok(())
}

/// `GET /admin/api/policy`: the policy's status (any administrator).
pub(super) async fn policy_status(State(server): State<Server>, headers: HeaderMap) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            require_any(&actor)?;
            let status = match server.policy_status() {
                Some(s) => json!({ "policy": s }),
                None => json!({ "policy": null }),
            };
            Ok((StatusCode::OK, status))
        }
        .await,
    )
}
