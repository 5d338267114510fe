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

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};

use super::admin_session::{
    LOGOUT_PATH, PageSession, Session, check_form, error_page, harden, read_form, render,
    session_of,
};
use super::dashboard_governance::{approvals_fragment, audit_row_html, switches_fragment};
use crate::governance::audit::AuditEntry;
use crate::governance::kill_switch::{OPERATORS, require_any};
use crate::governance::lifecycle::{self, RegistryEntry, RegistryQuery};
use crate::governance::roles::{AdminActor, AdminRole};

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

/// The least time between two reads of one stream's snapshots. Every mint
/// here is an event and an audit record: read on each, a burst of a
/// thousand mints made each open dashboard run three thousand queries (one
/// of them a write, expiring stale approvals). Read at once after a quiet
/// spell, then at most once per gap while events keep coming.
const REFRESH_GAP: Duration = Duration::from_millis(250);

/// When a stream reads its snapshots again (see [`REFRESH_GAP`]).
#[derive(Debug, Default)]
struct RefreshGate {
    /// Something happened since the last read.
    pending: bool,
    /// When the snapshots were last read.
    last: Option<tokio::time::Instant>,
}

impl RefreshGate {
    /// Something happened: the snapshots are to be read again.
    fn mark(&mut self) {
        self.pending = true;
    }

    /// When the pending read is due; `None` when nothing is pending.
    fn due(&self) -> Option<tokio::time::Instant> {
        if !self.pending {
            return None;
        }
        Some(match self.last {
            Some(last) => last + REFRESH_GAP,
            None => tokio::time::Instant::now(),
        })
    }

    /// Whether to read the snapshots at `now`; if so, the read is counted.
    fn take(&mut self, now: tokio::time::Instant) -> bool {
        let ready = self.pending && self.last.is_none_or(|last| now >= last + REFRESH_GAP);
        if ready {
            self.pending = false;
            self.last = Some(now);
        }
        ready
    }
}
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
    pub(crate) fn new(server: &Server, session: &Session, current: &'static str) -> Layout {
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
    /// Why the TTL bar stopped (`None` while ACTIVE: it counts down).
    pub(crate) stopped: Option<String>,
    /// The passport that replaced this one (ROTATED).
    pub(crate) successor: Option<String>,
    /// The passport this one replaced.
    pub(crate) predecessor: Option<String>,
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

/// The state `entry` is in, as the dashboard names it.
fn state_name(entry: &RegistryEntry) -> &'static str {
    match entry.state {
        "revoked" => "REVOKED",
        "rotated" => "ROTATED",
        "expired" => "EXPIRED",
        _ => "ACTIVE",
    }
}

/// Why the TTL bar of `entry` no longer counts down.
fn stopped(entry: &RegistryEntry) -> Option<String> {
    let clip = |jti: &str| passport_jose::clip(jti, 80).to_string();
    match state_name(entry) {
        "REVOKED" => Some(match entry.revoked_reason {
            Some("cascaded") => "stopped: revoked with its parent".to_owned(),
            _ => "stopped: revoked".to_owned(),
        }),
        "ROTATED" => Some(match &entry.successor_jti {
            Some(next) => format!("stopped: rotated, replaced by {}", clip(next)),
            None => "stopped: rotated".to_owned(),
        }),
        "EXPIRED" => Some("stopped: expired".to_owned()),
        _ => None,
    }
}

/// The newest passports in lineage order: each root (a passport whose
/// parent is not among them) followed by its descendants, depth-first.
fn lineage(entries: &[RegistryEntry]) -> Vec<PassportRow> {
    let shown: HashSet<&str> = entries.iter().map(|e| e.jti.as_str()).collect();
    let mut children: HashMap<&str, Vec<&RegistryEntry>> = HashMap::new();
    let mut roots = Vec::new();
    for e in entries {
        match e.parent_jti.as_deref().filter(|p| shown.contains(p)) {
            Some(parent) => children.entry(parent).or_default().push(e),
            None => roots.push(e),
        }
    }
    let mut rows = Vec::with_capacity(entries.len());
    let mut visited = HashSet::new();
    let mut stack: Vec<(&RegistryEntry, usize)> = roots.into_iter().rev().map(|e| (e, 0)).collect();
    while let Some((e, depth)) = stack.pop() {
        if !visited.insert(e.jti.as_str()) {
            continue;
        }
        rows.push(PassportRow {
            jti: e.jti.clone(),
            parent: e.parent_jti.clone(),
            depth,
            state: state_name(e),
            stopped: stopped(e),
            successor: e.successor_jti.clone(),
            predecessor: e.predecessor_jti.clone(),
            agent: e.agent_id.clone(),
            principal: e.principal.clone(),
            audience: e.audience.clone(),
            scopes: e.scopes.clone(),
            exp: e.exp,
            lifetime: e.exp.saturating_sub(e.iat).max(1),
            remaining: e.expires_in,
        });
        if depth < MAX_DEPTH
            && let Some(kids) = children.get(e.jti.as_str())
        {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    rows
}

/// The newest passports `actor` may read (the JSON API's registry rule).
async fn newest(server: &Server, actor: &AdminActor) -> Result<Vec<RegistryEntry>, OAuthError> {
    let query = RegistryQuery {
        limit: NEWEST,
        ..RegistryQuery::default()
    };
    lifecycle::list(server, actor, query).await
}

/// `GET /admin`: the registry overview (for the roles that may read the
/// registry; an approver is sent to the approvals, the others get a page
/// saying so, with the navigation).
pub(super) async fn registry(
    State(server): State<Server>,
    PageSession(session): PageSession,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let entries = match newest(&server, &session.actor).await {
        Ok(entries) => entries,
        // an approver's home is the approvals page
        Err(e) if e.status == 403 && session.actor.roles.contains(&AdminRole::Approver) => {
            let approvals = server.inner.issuer.endpoint(APPROVALS_PATH);
            return harden(
                (StatusCode::SEE_OTHER, [(header::LOCATION, approvals)]).into_response(),
            );
        }
        Err(e) => return refused_page(&server, &session, "registry", "Registry", &e),
    };
    // only for a passport the registry shows revoked: a crafted link
    // shows nothing (session-5 review 2)
    let notice = match query.get("revoked") {
        Some(jti) => match server.inner.db.registry_lineage(jti).await {
            Ok(Some(found))
                if found.record.state == passport_store::server::PassportState::Revoked =>
            {
                Some(format!(
                    "Revoked {} and its descendants.",
                    passport_jose::clip(jti, 80)
                ))
            }
            _ => None,
        },
        None => None,
    };
    let page = RegistryPage {
        rows: lineage(&entries),
        revoke: server.inner.issuer.endpoint(REVOKE_PATH),
        can_revoke: require_any(&session.actor, &OPERATORS).is_ok(),
        notice,
        layout: Layout::new(&server, &session, "registry"),
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "admin/refused.html")]
struct RefusedPage<'a> {
    layout: Layout,
    heading: &'a str,
    message: &'a str,
}

/// A dashboard page refused to this session (its status, the navigation
/// kept, the reason said).
pub(crate) fn refused_page(
    server: &Server,
    session: &Session,
    current: &'static str,
    heading: &str,
    e: &OAuthError,
) -> Response {
    if e.status != 403 {
        return error_page(e);
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::FORBIDDEN);
    render(
        status,
        &RefusedPage {
            layout: Layout::new(server, session, current),
            heading,
            message: &e.description,
        },
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
/// state (with why its TTL bar stopped).
async fn registry_snapshot(server: &Server, actor: &AdminActor) -> Option<String> {
    let entries = newest(server, actor).await.ok()?;
    let passports: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "jti": e.jti,
                "state": state_name(e),
                "exp": e.exp,
                "stopped": stopped(e),
            })
        })
        .collect();
    Some(json!({ "passports": passports }).to_string())
}

/// The event stream of one session: what it last sent of each kind, and
/// what waits to be sent.
struct Stream {
    server: Server,
    session: Session,
    changes: tokio::sync::broadcast::Receiver<crate::governance::events::Event>,
    audit: tokio::sync::broadcast::Receiver<std::sync::Arc<AuditEntry>>,
    tick: tokio::time::Interval,
    /// The server's shutdown: the stream ends (review S15c-1: an open
    /// dashboard held the shutdown's drain without bound).
    closing: tokio::sync::watch::Receiver<bool>,
    gate: RefreshGate,
    last: HashMap<&'static str, String>,
    queue: VecDeque<SseEvent>,
}

impl Stream {
    /// Queues each snapshot (registry, approvals, kill-switches) the
    /// session may read that changed since it was last sent.
    async fn refresh(&mut self) {
        let snapshots = [
            (
                "registry",
                registry_snapshot(&self.server, &self.session.actor).await,
            ),
            (
                "approvals",
                approvals_fragment(&self.server, &self.session)
                    .await
                    .ok()
                    .map(|f| f.json()),
            ),
            (
                "kill-switches",
                switches_fragment(&self.server, &self.session)
                    .await
                    .ok()
                    .map(|f| f.json()),
            ),
        ];
        for (kind, snapshot) in snapshots {
            let Some(snapshot) = snapshot else { continue };
            if self.last.get(kind) != Some(&snapshot) {
                self.queue
                    .push_back(SseEvent::default().event(kind).data(&snapshot));
                self.last.insert(kind, snapshot);
            }
        }
    }

    /// The next event, or `None` once the session ended.
    async fn next(&mut self) -> Option<SseEvent> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            // the roles the mapping in force gives, before each event: a
            // role taken away (a policy reload) stops what it let the
            // stream send; no role left ends the stream
            let before = self.session.actor.roles.clone();
            if !self.session.remap_roles(&self.server) {
                return None;
            }
            if self.session.actor.roles != before {
                // queued under the roles before: read again under these
                self.queue.clear();
                self.last.clear();
                self.refresh().await;
            }
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if *self.closing.borrow_and_update() {
                return None;
            }
            let due = self.gate.due();
            tokio::select! {
                changed = self.closing.changed() => {
                    // the server shuts down (or is gone)
                    if changed.is_err() || *self.closing.borrow_and_update() {
                        return None;
                    }
                }
                _ = self.changes.recv() => self.gate.mark(),
                entry = self.audit.recv() => {
                    match entry {
                        Ok(entry) if self.session.actor.require(AdminRole::Auditor).is_ok() => {
                            if let Some(row) = audit_row_html(&entry.record) {
                                self.queue.push_back(SseEvent::default().event("audit").data(row));
                            }
                        }
                        // a lagging reader skips ahead; the page shows the
                        // stored trail on reload
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return None,
                    }
                    self.gate.mark();
                }
                _ = self.tick.tick() => {
                    if !self.session.is_live(&self.server).await {
                        return None;
                    }
                    // changes another instance made reach no broadcast here
                    self.gate.mark();
                }
                () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)),
                    if due.is_some() => {}
            }
            if self.gate.take(tokio::time::Instant::now()) {
                self.refresh().await;
            }
        }
    }
}

/// `GET /admin/events`: server-sent events for the session's dashboard,
/// each kind only to a session whose roles may read it:
///
/// - `registry`: the newest passports' states (JSON);
/// - `approvals`, `kill-switches`: the pending approvals and the engaged
///   switches, rendered for this session (JSON `{digest, html}`);
/// - `audit`: each audit record stored from now on, rendered as a row.
///
/// Snapshots are re-read on a mint, revocation or audit record here, and
/// every tick for changes made by another instance — at most once per
/// [`REFRESH_GAP`] however many events arrive; sent when changed.
/// The session's roles are mapped again with the mapping in force before
/// each event. Ends when the session does, holds no role any more, or the
/// server shuts down.
pub(super) async fn events(State(server): State<Server>, headers: HeaderMap) -> Response {
    let session = match session_of(&server, &headers).await {
        Ok(session) => session,
        Err(e) => return oauth_error(&e),
    };
    if session.actor.roles.is_empty() {
        return oauth_error(&OAuthError::new(403, codes::ACCESS_DENIED, "no role"));
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Stream {
        closing: server.inner.closing.subscribe(),
        changes: server.inner.events.subscribe(),
        audit: crate::governance::audit::subscribe(&server),
        server,
        session,
        tick,
        gate: RefreshGate::default(),
        last: HashMap::new(),
        queue: VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let event = st.next().await?;
        Some((Ok::<_, Infallible>(event), st))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_events_is_read_once_per_gap() {
        let t0 = tokio::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut gate = RefreshGate::default();
        assert_eq!(gate.due(), None, "nothing happened");
        assert!(!gate.take(ms(0)));
        // The first event after a quiet spell is read at once.
        gate.mark();
        assert!(gate.take(ms(0)));
        assert!(!gate.take(ms(1)), "read: nothing pending");
        // A burst: a thousand events within the gap, one read at its end.
        for n in 1..=1000 {
            gate.mark();
            assert!(!gate.take(ms(n / 10)), "event {n} read within the gap");
        }
        assert_eq!(gate.due(), Some(ms(250)));
        assert!(gate.take(ms(250)));
        assert_eq!(gate.due(), None);
        // Quiet again: the next event waits only for the rest of the gap.
        gate.mark();
        assert!(!gate.take(ms(499)));
        assert!(gate.take(ms(500)));
        gate.mark();
        assert!(gate.take(ms(2_000)));
    }
}
