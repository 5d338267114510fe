//! `GET /admin/api/audit`: the stored audit records an auditor asks for
//! (filters `agent`, `principal`, `outcome`, `since`, `until` — Unix
//! seconds — and `limit`), and `GET /admin/api/audit/verify`: every
//! chain's verdict. Both need an administrator's bearer ID token with
//! the auditor role.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use passport_audit::text::escape_terminal_controls;
use passport_audit::{Filter, Outcome};
use serde_json::{Value, json};

use super::{json_response, json_text_response, oauth_error};
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
        records_body(&lines)
    };
    match answer.await {
        Ok(body) => json_text_response(body, "no-store"),
        Err(e) => oauth_error(&e),
    }
}

/// `{"records":[…]}` of the stored lines as stored, not re-serialised:
/// serde_json would write raw again the C1, bidi and line-separator
/// characters the seal writes as `\uXXXX`. Those an older line holds raw
/// are escaped here ([`escape_terminal_controls`]: the same JSON value).
/// A line that is not one JSON value is a 500, logged, never dropped
/// silently: an auditor must not read a trail with a record missing.
fn records_body(lines: &[String]) -> Result<String, OAuthError> {
    let mut body = String::from("{\"records\":[");
    for (n, line) in lines.iter().enumerate() {
        let line = escape_terminal_controls(line.trim(), &[]);
        if serde_json::from_str::<Value>(&line).is_err() {
            tracing::error!(
                line = n + 1,
                "a stored audit line is not JSON; the records are not answered"
            );
            return Err(OAuthError::new(
                500,
                codes::SERVER_ERROR,
                "the audit trail holds a line that is not JSON",
            ));
        }
        if n > 0 {
            body.push(',');
        }
        body.push_str(&line);
    }
    body.push_str("]}");
    Ok(body)
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

#[cfg(test)]
mod tests {
    use super::records_body;

    /// Review S14 re-review: the records were parsed and serialised again,
    /// so a C1 or bidi character went out raw, and a line that did not
    /// parse was dropped silently.
    #[test]
    fn stored_lines_go_out_as_stored_escaped_and_never_dropped() {
        let sealed = r#"{"agent_id":"a\u009b31mb\u202e","seq":1}"#.to_owned();
        let old = "{\"agent_id\":\"c\u{9b}d\u{202e}\u{2028}\",\"seq\":2}".to_owned();
        let body = records_body(&[sealed.clone(), old]).unwrap();
        assert!(
            !body.chars().any(passport_audit::text::is_terminal_control),
            "{body:?}"
        );
        assert!(body.contains(&sealed), "{body}");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["records"][1]["agent_id"], "c\u{9b}d\u{202e}\u{2028}");
        let err = records_body(&[sealed, "not json".to_owned()]).unwrap_err();
        assert_eq!(err.status, 500);
    }
}
