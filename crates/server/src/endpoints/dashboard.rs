//! The administrators' dashboard (issue 14): server-rendered pages
//! (askama templates, escaped by default), a small script for the live
//! parts (TTL countdown, server-sent events), and the forms that change
//! state, each CSRF-checked.
//!
//! Every page needs a session ([`PageSession`]); without one the browser is
//! sent to `/admin/login`. The pages read through the same domain functions
//! as the API (`governance::*` taking an `AdminActor`).

#[allow(clippy::wildcard_imports)]
use super::*;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use passport_store::server::RegistryRecord;

use super::admin_session::{
    LOGOUT_PATH, PageSession, Session, check_form, error_page, harden, read_form, render,
    session_of,
};
use crate::governance::roles::AdminRole;

/// The registry overview.
pub(crate) const REGISTRY_PATH: &str = "/admin";
/// Pending approvals.
pub(crate) const APPROVALS_PATH: &str = "/admin/approvals";
/// Kill-switches.
pub(crate) const KILL_SWITCHES_PATH: &str = "/admin/kill-switches";
/// The audit trail.
pub(crate) const AUDIT_PATH: &str = "/admin/audit";
/// Where the revoke form posts.
pub(crate) const REVOKE_PATH: &str = "/admin/passports/revoke";
/// The server-sent events.
pub(crate) const EVENTS_PATH: &str = "/admin/events";
/// The dashboard's script.
pub(crate) const SCRIPT_PATH: &str = "/admin/static/dashboard.js";
/// The dashboard's style sheet.
pub(crate) const STYLE_PATH: &str = "/admin/static/dashboard.css";
/// How many of the newest passports the overview shows.
const NEWEST: u32 = 100;
/// How often the event stream re-reads the registry (changes made by
/// another instance reach no broadcast here).
const TICK: Duration = Duration::from_secs(2);
/// The deepest lineage shown (a corrupt cycle does not loop).
const MAX_DEPTH: usize = 16;

const SCRIPT: &str = include_str!("../../templates/admin/dashboard.js");
const STYLE: &str = include_str!("../../templates/admin/dashboard.css");

/// The links and forms every page's layout needs.
pub(crate) struct Layout {
    pub(crate) current: &'static str,
    pub(crate) principal: String,
    pub(crate) roles: String,
    pub(crate) csrf: String,
    pub(crate) home: String,
    pub(crate) approvals: String,
    pub(crate) kill_switches: String,
    pub(crate) audit: String,
    pub(crate) logout: String,
    pub(crate) script: String,
    pub(crate) style: String,
    pub(crate) events: String,
}

impl Layout {
    fn new(server: &Server, session: &Session, current: &'static str) -> Layout {
        let url = |p: &str| server.inner.issuer.endpoint(p);
        let roles: Vec<&str> = session.actor.roles.iter().map(|r| r.name()).collect();
        Layout {
            current,
            principal: session.actor.principal.clone(),
            roles: roles.join(", "),
            csrf: session.csrf.clone(),
            home: url(REGISTRY_PATH),
            approvals: url(APPROVALS_PATH),
            kill_switches: url(KILL_SWITCHES_PATH),
            audit: url(AUDIT_PATH),
            logout: url(LOGOUT_PATH),
            script: url(SCRIPT_PATH),
            style: url(STYLE_PATH),
            events: url(EVENTS_PATH),
        }
    }
}

/// One passport of the overview, at its place in the lineage.
pub(crate) struct PassportRow {
    pub(crate) jti: String,
    pub(crate) parent: Option<String>,
    pub(crate) depth: usize,
    pub(crate) state: &'static str,
    pub(crate) agent: String,
    pub(crate) principal: String,
    pub(crate) audience: String,
    pub(crate) scopes: String,
    pub(crate) exp: i64,
    pub(crate) lifetime: i64,
    pub(crate) remaining: i64,
}

#[derive(Template)]
#[template(path = "admin/registry.html")]
struct RegistryPage {
    layout: Layout,
    rows: Vec<PassportRow>,
    revoke: String,
    can_revoke: bool,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/placeholder.html")]
struct PlaceholderPage {
    layout: Layout,
    heading: &'static str,
    what: &'static str,
}

/// The state a passport is in at `now`, as the dashboard names it.
fn state_of(record: &RegistryRecord, now: i64) -> &'static str {
    match record.state {
        PassportState::Revoked => "REVOKED",
        _ if record.entry.exp <= now => "EXPIRED",
        _ => "ACTIVE",
    }
}

/// The newest passports in lineage order: each root (a passport whose
/// parent is not among them) followed by its descendants, depth-first.
fn lineage(records: &[RegistryRecord], now: i64) -> Vec<PassportRow> {
    let shown: HashSet<&str> = records.iter().map(|r| r.entry.jti.as_str()).collect();
    let mut children: HashMap<&str, Vec<&RegistryRecord>> = HashMap::new();
    let mut roots = Vec::new();
    for r in records {
        match r.entry.parent_jti.as_deref().filter(|p| shown.contains(p)) {
            Some(parent) => children.entry(parent).or_default().push(r),
            None => roots.push(r),
        }
    }
    let mut rows = Vec::with_capacity(records.len());
    let mut visited = HashSet::new();
    let mut stack: Vec<(&RegistryRecord, usize)> =
        roots.into_iter().rev().map(|r| (r, 0)).collect();
    while let Some((r, depth)) = stack.pop() {
        if !visited.insert(r.entry.jti.as_str()) {
            continue;
        }
        let e = &r.entry;
        rows.push(PassportRow {
            jti: e.jti.clone(),
            parent: e.parent_jti.clone(),
            depth,
            state: state_of(r, now),
            agent: e.agent_id.clone(),
            principal: e.principal.clone(),
            audience: e.audience.clone(),
            scopes: e.scopes.clone(),
            exp: e.exp,
            lifetime: e.exp.saturating_sub(e.iat).max(1),
            remaining: e.exp.saturating_sub(now).max(0),
        });
        if depth < MAX_DEPTH
            && let Some(kids) = children.get(e.jti.as_str())
        {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    rows
}

/// `GET /admin`: the registry overview.
pub(super) async fn registry(
    State(server): State<Server>,
    PageSession(session): PageSession,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let records = match server.inner.db.newest_passports(NEWEST).await {
        Ok(records) => records,
        Err(e) => return error_page(&server_error("the registry could not be read", &e)),
    };
    let notice = query.get("revoked").map(|jti| {
        format!(
            "Revoked {} and its descendants.",
            passport_jose::clip(jti, 80)
        )
    });
    let page = RegistryPage {
        rows: lineage(&records, server.now()),
        revoke: server.inner.issuer.endpoint(REVOKE_PATH),
        can_revoke: session.actor.roles.contains(&AdminRole::ResourceOwner),
        notice,
        layout: Layout::new(&server, &session, "registry"),
    };
    render(StatusCode::OK, &page)
}

fn placeholder(
    server: &Server,
    session: &Session,
    current: &'static str,
    heading: &'static str,
    what: &'static str,
) -> Response {
    render(
        StatusCode::OK,
        &PlaceholderPage {
            layout: Layout::new(server, session, current),
            heading,
            what,
        },
    )
}

/// `GET /admin/approvals`.
pub(super) async fn approvals(
    State(server): State<Server>,
    PageSession(session): PageSession,
) -> Response {
    placeholder(
        &server,
        &session,
        "approvals",
        "Pending approvals",
        "the pending approvals, with approve and deny",
    )
}

/// `GET /admin/kill-switches`.
pub(super) async fn kill_switches(
    State(server): State<Server>,
    PageSession(session): PageSession,
) -> Response {
    placeholder(
        &server,
        &session,
        "kill-switches",
        "Kill-switches",
        "the engaged kill-switches, with engage and lift",
    )
}

/// `GET /admin/audit`.
pub(super) async fn audit(
    State(server): State<Server>,
    PageSession(session): PageSession,
) -> Response {
    placeholder(
        &server,
        &session,
        "audit",
        "Audit trail",
        "the live audit stream",
    )
}

/// `POST /admin/passports/revoke` (`csrf`, `jti`): the cascade revoke, for
/// a `resource_owner`.
pub(super) async fn revoke(State(server): State<Server>, request: Request) -> Response {
    let result = async {
        let session = session_of(&server, request.headers()).await?;
        let (headers, form) = read_form(request).await?;
        check_form(&server, &session, &headers, &form)?;
        let jti = form
            .get("jti")
            .filter(|j| !j.is_empty())
            .ok_or_else(|| OAuthError::new(400, codes::INVALID_REQUEST, "missing parameter: jti"))?
            .to_owned();
        crate::governance::revocation::revoke_passport(&server, &session.actor, &jti).await?;
        Ok::<_, OAuthError>(jti)
    }
    .await;
    match result {
        Ok(jti) => {
            let jti: String = url::form_urlencoded::byte_serialize(jti.as_bytes()).collect();
            let home = format!(
                "{}?revoked={jti}",
                server.inner.issuer.endpoint(REGISTRY_PATH)
            );
            harden((StatusCode::SEE_OTHER, [(header::LOCATION, home)]).into_response())
        }
        Err(e) => error_page(&e),
    }
}

/// What the event stream sends about the registry: each shown passport's
/// state.
async fn registry_snapshot(server: &Server) -> Option<String> {
    let records = server.inner.db.newest_passports(NEWEST).await.ok()?;
    let now = server.now();
    let passports: Vec<Value> = records
        .iter()
        .map(|r| json!({"jti": r.entry.jti, "state": state_of(r, now), "exp": r.entry.exp}))
        .collect();
    Some(json!({ "passports": passports }).to_string())
}

/// `GET /admin/events`: server-sent events for the session's dashboard.
/// An event `registry` carries the newest passports' states whenever they
/// change: on a mint or revocation here (the broadcast), or on the next
/// tick for changes made by another instance. Ends when the session does.
pub(super) async fn events(State(server): State<Server>, headers: HeaderMap) -> Response {
    let session = match session_of(&server, &headers).await {
        Ok(session) => session,
        Err(e) => return oauth_error(&e),
    };
    if session.actor.roles.is_empty() {
        return oauth_error(&OAuthError::new(403, codes::ACCESS_DENIED, "no role"));
    }
    let receiver = server.inner.events.subscribe();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (server, session, receiver, tick, String::new());
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            let (server, session, receiver, tick, last) = &mut st;
            tokio::select! {
                _ = receiver.recv() => {}
                _ = tick.tick() => {
                    if !session.is_live(server).await {
                        return None;
                    }
                }
            }
            let Some(snapshot) = registry_snapshot(server).await else {
                continue;
            };
            if snapshot != *last {
                *last = snapshot.clone();
                let event = SseEvent::default().event("registry").data(snapshot);
                return Some((Ok::<_, Infallible>(event), st));
            }
        }
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The dashboard's script (the TTL countdown and the live updates).
pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The dashboard's style sheet.
pub(super) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
