//! The administrators' JSON API for kill-switches and the registry (issue
//! 14): thin handlers over [`crate::governance::kill_switch`] and
//! [`crate::governance::lifecycle`]. Each authenticates the administrator
//! first (`Authorization: Bearer <upstream ID token>`, 401 without) and
//! the domain function checks the role (403).
//!
//! - `POST /admin/api/kill-switches` `{"kind", "subject", "reason"}`
//! - `POST /admin/api/kill-switches/lift` `{"kind", "subject"}`
//! - `GET /admin/api/kill-switches?all=true&limit=N`
//! - `GET /admin/api/registry?agent=&principal=&state=&limit=`
//! - `POST /admin/api/registry/{jti}/revoke`

#[allow(clippy::wildcard_imports)]
use super::*;

use axum::extract::{Path, RawQuery};
use passport_store::server::Lifecycle;

use crate::governance::kill_switch::{self, switch_json};
use crate::governance::lifecycle::{self, RegistryQuery};
use crate::governance::revocation::revoke_passport;
use crate::governance::roles::actor_from_bearer;

/// The largest JSON body accepted.
const MAX_BODY: usize = 16 * 1024;
/// The largest query string accepted.
const MAX_QUERY: usize = 4 * 1024;

pub(crate) const KILL_SWITCHES: &str = "/admin/api/kill-switches";
pub(crate) const KILL_SWITCHES_LIFT: &str = "/admin/api/kill-switches/lift";
pub(crate) const REGISTRY: &str = "/admin/api/registry";
/// After [`REGISTRY`] (a URL's path would percent-encode the braces).
pub(crate) const REVOKE_SUFFIX: &str = "/{jti}/revoke";

fn answer(result: Result<Value, OAuthError>) -> Response {
    match result {
        Ok(body) => no_store(&body),
        Err(e) => oauth_error(&e),
    }
}

fn bad_request(why: impl AsRef<str>) -> OAuthError {
    OAuthError::new(400, codes::INVALID_REQUEST, why)
}

/// The request's JSON object body (at most [`MAX_BODY`] bytes).
async fn json_body(request: Request) -> Result<Map<String, Value>, OAuthError> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| bad_request(format!("the body must be at most {MAX_BODY} bytes")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad_request("the body must be a JSON object")),
    }
}

/// The string member `name` of `body`.
fn member<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, OAuthError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request(format!("{name} (a string) is required")))
}

/// The query string as a form (a repeated name is refused).
fn query(raw: Option<String>) -> Result<Form, OAuthError> {
    Form::parse(raw.unwrap_or_default().as_bytes(), MAX_QUERY)
        .map_err(|e| bad_request(format!("query: {e}")))
}

fn limit(form: &Form) -> Result<u32, OAuthError> {
    form.get("limit")
        .map(|l| {
            l.parse::<u32>()
                .ok()
                .filter(|n| (1..=lifecycle::MAX_LIMIT).contains(n))
                .ok_or_else(|| bad_request(format!("limit must be 1 to {}", lifecycle::MAX_LIMIT)))
        })
        .transpose()
        .map(|l| l.unwrap_or(lifecycle::DEFAULT_LIMIT))
}

pub(super) async fn engage_switch(State(server): State<Server>, request: Request) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, request.headers()).await?;
            let body = json_body(request).await?;
            let kind = kill_switch::kind(member(&body, "kind")?)?;
            let (subject, reason) = (member(&body, "subject")?, member(&body, "reason")?);
            let engaged = kill_switch::engage(&server, &actor, kind, subject, reason).await?;
            Ok(json!({
                "kill_switch": switch_json(&engaged.switch),
                "revoked": engaged.revoked.len(),
            }))
        }
        .await,
    )
}

pub(super) async fn lift_switch(State(server): State<Server>, request: Request) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, request.headers()).await?;
            let body = json_body(request).await?;
            let kind = kill_switch::kind(member(&body, "kind")?)?;
            let lifted =
                kill_switch::lift(&server, &actor, kind, member(&body, "subject")?).await?;
            Ok(json!({ "kill_switch": switch_json(&lifted) }))
        }
        .await,
    )
}

pub(super) async fn list_switches(
    State(server): State<Server>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            let form = query(raw)?;
            let all = match form.get("all") {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(bad_request("all must be true or false")),
            };
            let switches = kill_switch::list(&server, &actor, all, limit(&form)?).await?;
            let switches: Vec<Value> = switches.iter().map(switch_json).collect();
            Ok(json!({ "kill_switches": switches }))
        }
        .await,
    )
}

pub(super) async fn registry(
    State(server): State<Server>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            let form = query(raw)?;
            let state = form
                .get("state")
                .map(|s| {
                    Lifecycle::parse(s).ok_or_else(|| {
                        bad_request("state must be active, rotated, expired or revoked")
                    })
                })
                .transpose()?;
            let query = RegistryQuery {
                agent: form.get("agent").map(str::to_owned),
                principal: form.get("principal").map(str::to_owned),
                state,
                limit: limit(&form)?,
            };
            let entries = lifecycle::list(&server, &actor, query).await?;
            Ok(json!({ "passports": entries }))
        }
        .await,
    )
}

pub(super) async fn registry_revoke(
    State(server): State<Server>,
    headers: HeaderMap,
    Path(jti): Path<String>,
) -> Response {
    answer(
        async {
            let actor = actor_from_bearer(&server, &headers).await?;
            let revoked = revoke_passport(&server, &actor, &jti).await?;
            Ok(json!({ "revoked": revoked }))
        }
        .await,
    )
}
