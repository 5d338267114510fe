//! The dashboard's governance pages (issue 14): pending approvals with
//! approve and deny, kill-switches with engage and lift, and the live
//! audit stream. Each page and form goes through the same governance
//! functions as the JSON API (`approvals::list` / `decide`,
//! `kill_switch::list` / `engage` / `lift`, `audit::export`), which check
//! the session's roles; every form carries the session's CSRF token and
//! must come from this server's origin ([`check_form`]).
//!
//! The lists the event stream keeps live (approvals, kill-switches) are
//! rendered here as fragments with a digest: the page embeds one, the
//! stream sends the next when its digest changes, and the script swaps it
//! in (see `dashboard.js`).

#[allow(clippy::wildcard_imports)]
use super::*;

use std::collections::HashMap;

use askama::Template;
use passport_audit::AuditRecord;
use passport_store::server::{ApprovalRecord, ApprovalState, KillSwitch};

use super::admin_session::{
    PageSession, Session, check_form, error_page, harden, read_form, render, session_of,
};
use super::dashboard::{APPROVALS_PATH, KILL_SWITCHES_PATH, Layout, refused_page};
use crate::governance::audit;
use crate::governance::kill_switch::{self, OPERATORS, require_any};
use crate::governance::roles::AdminRole;
use crate::governance::{approvals, roles::AdminActor};

/// Where the approve and deny forms post.
pub(crate) const DECIDE_PATH: &str = "/admin/approvals/decide";
/// Where the engage form posts.
pub(crate) const ENGAGE_PATH: &str = "/admin/kill-switches/engage";
/// Where the lift forms post.
pub(crate) const LIFT_PATH: &str = "/admin/kill-switches/lift";
/// How many of the newest audit records the audit page shows.
const AUDIT_ROWS: usize = 100;
/// The most engaged switches listed.
const SWITCHES: u32 = 200;

/// A rendered list and its digest (the script replaces the list only when
/// the digest changed, so focus stays put while nothing did).
pub(crate) struct Fragment {
    html: String,
    digest: String,
}

impl Fragment {
    fn of(html: String) -> Fragment {
        let hash = passport_jose::sha256(html.as_bytes());
        let digest = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
        Fragment { html, digest }
    }

    fn rendered(template: &impl Template) -> Result<Fragment, OAuthError> {
        template.render().map(Fragment::of).map_err(|e| {
            tracing::error!(error = %e, "a dashboard fragment could not be rendered");
            OAuthError::new(500, codes::SERVER_ERROR, "the page could not be rendered")
        })
    }

    /// What the event stream sends: `{"digest", "html"}`.
    pub(crate) fn json(&self) -> String {
        json!({ "digest": self.digest, "html": self.html }).to_string()
    }
}

/// `t` (Unix seconds) as `YYYY-MM-DD HH:MM:SS UTC` (the proleptic
/// Gregorian calendar, days converted by the civil-from-days method).
fn utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Redirects (303) to `path` with `query` (a page after its form).
fn back_to(server: &Server, path: &str, query: &[(&str, &str)]) -> Response {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let location = format!("{}?{query}", server.inner.issuer.endpoint(path));
    harden((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}

/// The session and the posted form, checked (CSRF token and origin).
async fn checked_form(server: &Server, request: Request) -> Result<(Session, Form), OAuthError> {
    let session = session_of(server, request.headers()).await?;
    let (headers, form) = read_form(request).await?;
    check_form(server, &session, &headers, &form)?;
    Ok((session, form))
}

/// The non-empty form field `name`, or 400 naming it.
fn field<'a>(form: &'a Form, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            format!("missing parameter: {name}"),
        )
    })
}

// ---- approvals ----

struct ApprovalRow {
    id: String,
    agent: String,
    environment: String,
    audience: String,
    scopes: String,
    requester: String,
    requested_at: i64,
    asked: String,
}

#[derive(Template)]
#[template(path = "admin/approvals_list.html")]
struct ApprovalsList<'a> {
    rows: Vec<ApprovalRow>,
    csrf: &'a str,
    decide: String,
    can_decide: bool,
}

#[derive(Template)]
#[template(path = "admin/approvals.html")]
struct ApprovalsPage {
    layout: Layout,
    list: Fragment,
    notice: Option<String>,
    alert: Option<String>,
}

/// The pending approvals as the session sees them (the decide forms for
/// an approver). Needs the approver or auditor role.
pub(crate) async fn approvals_fragment(
    server: &Server,
    session: &Session,
) -> Result<Fragment, OAuthError> {
    let pending = approvals::list(server, &session.actor, Some(ApprovalState::Pending)).await?;
    let rows = pending
        .into_iter()
        .map(|a: ApprovalRecord| ApprovalRow {
            asked: utc(a.requested_at),
            id: a.id,
            agent: a.agent_id,
            environment: a.environment,
            audience: a.audience,
            scopes: a.scopes,
            requester: a.requested_by,
            requested_at: a.requested_at,
        })
        .collect();
    Fragment::rendered(&ApprovalsList {
        rows,
        csrf: &session.csrf,
        decide: server.inner.issuer.endpoint(DECIDE_PATH),
        can_decide: session.actor.require(AdminRole::Approver).is_ok(),
    })
}

/// The approvals page with `status`, a notice and an alert.
async fn approvals_page(
    server: &Server,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    alert: Option<String>,
) -> Response {
    match approvals_fragment(server, session).await {
        Ok(list) => render(
            status,
            &ApprovalsPage {
                layout: Layout::new(server, session, "approvals"),
                list,
                notice,
                alert,
            },
        ),
        Err(e) => refused_page(server, session, "approvals", "Pending approvals", &e),
    }
}

/// `GET /admin/approvals`: the pending approvals (approvers and auditors).
pub(super) async fn approvals_index(
    State(server): State<Server>,
    PageSession(session): PageSession,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    // A notice only for what the store confirms this administrator did: a
    // crafted link (`?decided=approved&id=…`) shows nothing (session-5
    // review 2: the query string was echoed as a confirmation).
    let notice = match (query.get("decided"), query.get("id")) {
        (Some(decision), Some(id)) => match server.inner.db.approval(id).await {
            Ok(Some(a))
                if a.state.as_str() == decision.as_str()
                    && a.decided_by.as_deref() == Some(session.actor.principal.as_str()) =>
            {
                Some(format!(
                    "Request {} {}.",
                    passport_jose::clip(&a.id, 80),
                    a.state.as_str()
                ))
            }
            _ => None,
        },
        _ => None,
    };
    approvals_page(&server, &session, StatusCode::OK, notice, None).await
}

/// `POST /admin/approvals/decide` (`csrf`, `id`, `decision` =
/// `approve`|`deny`): an approver's decision. A refused decision (the
/// identity's owner or the requester deciding, one already decided) is
/// said on the approvals page, with its status.
pub(super) async fn decide(State(server): State<Server>, request: Request) -> Response {
    let (session, form) = match checked_form(&server, request).await {
        Ok(checked) => checked,
        Err(e) => return error_page(&e),
    };
    let decided = async {
        let id = field(&form, "id")?;
        let approve = match field(&form, "decision")? {
            "approve" => true,
            "deny" => false,
            _ => {
                return Err(OAuthError::new(
                    400,
                    codes::INVALID_REQUEST,
                    "decision must be approve or deny",
                ));
            }
        };
        crate::governance::decide(&server, &session.actor, id, approve).await
    }
    .await;
    match decided {
        Ok(a) => back_to(
            &server,
            APPROVALS_PATH,
            &[("decided", a.state.as_str()), ("id", &a.id)],
        ),
        Err(e) if e.status == 403 && !e.description.starts_with("self_approval") => {
            refused_page(&server, &session, "approvals", "Pending approvals", &e)
        }
        Err(e) if matches!(e.status, 400 | 403 | 404 | 409) => {
            let alert = if e.description.starts_with("self_approval") {
                "You may not decide this request: the agent identity's owner and the \
                 principal who asked may not approve or deny it (self_approval). Another \
                 approver must decide."
                    .to_owned()
            } else {
                format!("Not decided: {}", e.description)
            };
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            approvals_page(&server, &session, status, None, Some(alert)).await
        }
        Err(e) => error_page(&e),
    }
}

// ---- kill-switches ----

struct SwitchRow {
    kind: &'static str,
    subject: String,
    engaged_at: String,
    engaged_by: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "admin/kill_switches_list.html")]
struct SwitchesList<'a> {
    rows: Vec<SwitchRow>,
    csrf: &'a str,
    lift: String,
    can_operate: bool,
}

#[derive(Template)]
#[template(path = "admin/kill_switches.html")]
struct SwitchesPage {
    layout: Layout,
    list: Fragment,
    engage: String,
    /// The longest subject (the form's `maxlength`).
    max_subject: usize,
    can_operate: bool,
    notice: Option<String>,
    alert: Option<String>,
}

/// The engaged kill-switches as the session sees them (the lift forms for
/// an operator). Needs the auditor, resource owner or identity admin role.
pub(crate) async fn switches_fragment(
    server: &Server,
    session: &Session,
) -> Result<Fragment, OAuthError> {
    let engaged = kill_switch::list(server, &session.actor, false, SWITCHES).await?;
    let rows = engaged
        .into_iter()
        .map(|s: KillSwitch| SwitchRow {
            kind: s.kind.as_str(),
            engaged_at: utc(s.engaged_at),
            subject: s.subject,
            engaged_by: s.engaged_by,
            reason: s.reason,
        })
        .collect();
    Fragment::rendered(&SwitchesList {
        rows,
        csrf: &session.csrf,
        lift: server.inner.issuer.endpoint(LIFT_PATH),
        can_operate: can_operate(&session.actor),
    })
}

fn can_operate(actor: &AdminActor) -> bool {
    require_any(actor, &OPERATORS).is_ok()
}

async fn switches_page(
    server: &Server,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    alert: Option<String>,
) -> Response {
    match switches_fragment(server, session).await {
        Ok(list) => render(
            status,
            &SwitchesPage {
                layout: Layout::new(server, session, "kill-switches"),
                list,
                engage: server.inner.issuer.endpoint(ENGAGE_PATH),
                max_subject: kill_switch::MAX_SUBJECT,
                can_operate: can_operate(&session.actor),
                notice,
                alert,
            },
        ),
        Err(e) => refused_page(server, session, "kill-switches", "Kill-switches", &e),
    }
}

/// `GET /admin/kill-switches`: the engaged switches, and the engage form
/// for an operator.
pub(super) async fn switches_index(
    State(server): State<Server>,
    PageSession(session): PageSession,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    // A notice only for a switch the store shows this administrator
    // engaged (still engaged) or lifted: a crafted link shows nothing
    // (session-5 review 2).
    let notice = match (query.get("engaged"), query.get("lifted")) {
        (None, None) => None,
        (engaged, lifted) => {
            let me = session.actor.principal.as_str();
            let switches = kill_switch::list(&server, &session.actor, true, 500)
                .await
                .unwrap_or_default();
            let what = |s: &passport_store::server::KillSwitch| {
                passport_jose::clip(&format!("{} {}", s.kind.as_str(), s.subject), 160)
            };
            match (engaged, lifted) {
                (Some(id), _) => switches
                    .iter()
                    .find(|s| &s.id == id && s.engaged_by == me && s.lifted_at.is_none())
                    .map(|s| {
                        format!(
                            "Kill-switch engaged for {}: the passports it holds are revoked; \
                             issuance is refused until it is lifted.",
                            what(s)
                        )
                    }),
                (None, Some(id)) => switches
                    .iter()
                    .find(|s| &s.id == id && s.lifted_by.as_deref() == Some(me))
                    .map(|s| format!("Kill-switch lifted for {}.", what(s))),
                (None, None) => None,
            }
        }
    };
    switches_page(&server, &session, StatusCode::OK, notice, None).await
}

/// The page after a refused engage or lift: the refusal said.
async fn switch_refused(server: &Server, session: &Session, e: &OAuthError) -> Response {
    if e.status == 403 {
        return refused_page(server, session, "kill-switches", "Kill-switches", e);
    }
    if matches!(e.status, 400 | 404) {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        let alert = Some(format!("Not done: {}", e.description));
        return switches_page(server, session, status, None, alert).await;
    }
    error_page(e)
}

/// `POST /admin/kill-switches/engage` (`csrf`, `kind`, `subject`,
/// `reason`): engages the switch and revokes what it holds.
pub(super) async fn engage(State(server): State<Server>, request: Request) -> Response {
    let (session, form) = match checked_form(&server, request).await {
        Ok(checked) => checked,
        Err(e) => return error_page(&e),
    };
    let engaged = async {
        let kind = kill_switch::kind(field(&form, "kind")?)?;
        let subject = field(&form, "subject")?;
        let reason = field(&form, "reason")?;
        kill_switch::engage(&server, &session.actor, kind, subject, reason).await
    }
    .await;
    match engaged {
        Ok(engaged) => back_to(
            &server,
            KILL_SWITCHES_PATH,
            &[("engaged", &engaged.switch.id)],
        ),
        Err(e) => switch_refused(&server, &session, &e).await,
    }
}

/// `POST /admin/kill-switches/lift` (`csrf`, `kind`, `subject`).
pub(super) async fn lift(State(server): State<Server>, request: Request) -> Response {
    let (session, form) = match checked_form(&server, request).await {
        Ok(checked) => checked,
        Err(e) => return error_page(&e),
    };
    let lifted = async {
        let kind = kill_switch::kind(field(&form, "kind")?)?;
        kill_switch::lift(&server, &session.actor, kind, field(&form, "subject")?).await
    }
    .await;
    match lifted {
        Ok(s) => back_to(&server, KILL_SWITCHES_PATH, &[("lifted", &s.id)]),
        Err(e) => switch_refused(&server, &session, &e).await,
    }
}

// ---- the audit stream ----

/// One audit record as the page shows it: identifiers only (the records
/// hold no token).
struct AuditRow {
    at: String,
    action: String,
    outcome: String,
    /// `name: value` of each field the record names.
    fields: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "admin/audit_row.html")]
struct AuditRowTemplate<'a> {
    row: &'a AuditRow,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    rows: Vec<String>,
}

/// A serde enum's snake_case name.
fn name_of(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

fn audit_row(r: &AuditRecord) -> AuditRow {
    let mut fields: Vec<(&'static str, String)> = Vec::new();
    let mut add = |name: &'static str, value: Option<&String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            fields.push((name, v.clone()));
        }
    };
    add("actor", r.actor.as_ref());
    add("agent", r.agent_id.as_ref());
    add("principal", r.sub.as_ref());
    add("client", r.client_id.as_ref());
    add("audience", r.aud.as_ref());
    add("environment", r.environment.as_ref());
    add("approval", r.approval_id.as_ref());
    add("rule", r.rule.as_ref());
    add("error", r.error.as_ref());
    add("via", r.via.as_ref());
    for link in &r.links {
        fields.push(("passport", link.jti.clone()));
    }
    if let (Some(chain), Some(seq)) = (&r.chain, r.seq) {
        fields.push(("chain", format!("{}#{seq}", passport_jose::clip(chain, 12))));
    }
    AuditRow {
        at: utc(r.time),
        action: name_of(&r.action),
        outcome: name_of(&r.outcome),
        fields,
    }
}

/// `record` rendered as one entry of the audit stream.
pub(crate) fn audit_row_html(record: &AuditRecord) -> Option<String> {
    row_html(&audit_row(record))
}

fn row_html(row: &AuditRow) -> Option<String> {
    AuditRowTemplate { row }.render().ok()
}

/// How much of a stored line the page shows when it cannot read it.
const UNREADABLE_SHOWN: usize = 512;

/// A stored line that is not an audit record this version can read (one
/// written by a newer version, or changed in the database): shown, never
/// dropped, so the page has no silent hole. Its text (the first
/// [`UNREADABLE_SHOWN`] characters) is escaped by the template like any
/// other field; `audit verify` says whether the chain still holds.
fn unreadable_row(line: &str) -> AuditRow {
    let shown = match line.char_indices().nth(UNREADABLE_SHOWN) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    };
    AuditRow {
        at: "unknown time".to_owned(),
        action: "unreadable".to_owned(),
        outcome: "unknown".to_owned(),
        fields: vec![("stored", shown)],
    }
}

/// The newest `n` stored lines by time, oldest first (one indexed read: a
/// flood of records in the last minute cannot push the newest out of
/// view), each rendered as a row; a line this version cannot read as
/// [`unreadable_row`]. Needs the auditor role.
async fn newest_rows(
    server: &Server,
    actor: &AdminActor,
    n: usize,
) -> Result<Vec<String>, OAuthError> {
    Ok(audit::newest(server, actor, n)
        .await?
        .iter()
        .filter_map(|l| match serde_json::from_str::<AuditRecord>(l) {
            Ok(record) => audit_row_html(&record),
            Err(_) => row_html(&unreadable_row(l)),
        })
        .collect())
}

/// `GET /admin/audit`: the newest audit records, rendered here, then each
/// new one appended live (the event stream's `audit`). For an auditor.
pub(super) async fn audit_index(
    State(server): State<Server>,
    PageSession(session): PageSession,
) -> Response {
    match newest_rows(&server, &session.actor, AUDIT_ROWS).await {
        Ok(rows) => render(
            StatusCode::OK,
            &AuditPage {
                layout: Layout::new(&server, &session, "audit"),
                rows,
            },
        ),
        Err(e) => refused_page(&server, &session, "audit", "Audit trail", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
