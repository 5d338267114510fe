//! `GET /admin/api/audit`: the stored audit records an auditor asks for
//! (filters `agent`, `principal`, `outcome`, `since`, `until` — Unix
//! seconds — and `limit`), and `GET /admin/api/audit/verify`: every
//! chain's verdict. Both need an administrator's bearer ID token with
//! the auditor role.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use passport_audit::{Filter, Outcome};
use serde_json::{Value, json};

use super::{json_response, oauth_error};
use crate::governance::audit::{self, MAX_EXPORT};
use crate::governance::roles::actor_from_bearer;
use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// The route of the records.
pub(crate) const AUDIT_PATH: &str = "/admin/api/audit";
/// The route of the verification.
pub(crate) const AUDIT_VERIFY_PATH: &str = "/admin/api/audit/verify";

fn bad(what: &str) -> OAuthError {
    OAuthError::new(400, codes::INVALID_REQUEST, what)
}

/// The filter of a query string.
fn filter(query: &HashMap<String, String>) -> Result<(Filter, usize), OAuthError> {
    let time = |name: &str| {
        query
            .get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| bad(&format!("{name}: Unix seconds")))
            })
            .transpose()
    };
    let outcome = query
        .get("outcome")
        .map(|o| {
            serde_json::from_value::<Outcome>(Value::String(o.clone()))
                .map_err(|_| bad("outcome: accepted, refused, done or failed"))
        })
        .transpose()?;
    let limit = query
        .get("limit")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| bad("limit: a number of records"))
        })
        .transpose()?
        .unwrap_or(1000)
        .min(MAX_EXPORT);
    Ok((
        Filter {
            agent: query.get("agent").cloned(),
            principal: query.get("principal").cloned(),
            outcome,
            since: time("since")?,
            until: time("until")?,
            ..Filter::default()
        },
        limit,
    ))
}

pub(super) async fn audit_records(
    State(server): State<Server>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let answer = async {
        let actor = actor_from_bearer(&server, &headers).await?;
        let (filter, limit) = filter(&query)?;
        let lines = audit::export(&server, &actor, &filter, limit).await?;
        let records: Vec<Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Ok::<_, OAuthError>(json!({ "records": records }))
    };
    match answer.await {
        Ok(body) => json_response(&body, "no-store"),
        Err(e) => oauth_error(&e),
    }
}

pub(super) async fn audit_verify(State(server): State<Server>, headers: HeaderMap) -> Response {
    let answer = async {
        let actor = actor_from_bearer(&server, &headers).await?;
        let report = audit::verify(&server, &actor).await?;
        Ok::<_, OAuthError>(json!({ "ok": report.ok(), "report": report }))
    };
    match answer.await {
        Ok(body) => json_response(&body, "no-store"),
        Err(e) => oauth_error(&e),
    }
}
