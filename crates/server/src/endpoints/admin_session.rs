//! Administrators' browser sessions (issue 14): `/admin/login` starts a
//! login at the upstream provider (the same [`upstream_login`] as
//! `/authorize`, coming back to the same callback), the callback creates a
//! session in the database, `/admin/logout` ends it.
//!
//! - **The session.** A random 256-bit id in a cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/admin`, `Secure` and `__Secure-`-prefixed
//!   on an https issuer); the database keeps only its SHA-256, with the
//!   principal, the upstream claim values the role mapping reads (and the
//!   roles they gave at login, for the record), a CSRF secret, and its
//!   absolute ([`SESSION_TTL`]) and idle ([`IDLE_TIMEOUT`]) limits. Any
//!   instance on the database accepts it.
//! - **Roles in force.** A session's roles are mapped from its stored
//!   claim values at every request with the mapping in force
//!   ([`crate::governance::role_mapping`]): a role the policy takes away
//!   (and reloads) is gone from open sessions at once, on pages, forms
//!   and the event stream, as on the bearer path.
//! - **No role, no session.** A principal the mapping gives no role gets a
//!   403 page.
//! - **Login CSRF.** `/admin/login` sets a browser-binding cookie whose
//!   hash the pending login keeps; the callback requires it, so a callback
//!   URL sent to someone else logs nobody in.
//! - **Forms.** Every state-changing form carries the session's CSRF token
//!   (compared in constant time) and must come from this server's origin
//!   (`Origin`, else `Referer`): [`check_form`].

#[allow(clippy::wildcard_imports)]
use super::*;

use askama::Template;
use axum::http::request::Parts;
use passport_oidc::PendingLogin;
use passport_store::server::{NewAdminSession, RoleClaim, TokenHash};

use super::upstream_login;
use crate::governance::audit::{self, Action, AuditEvent, Outcome};
use crate::governance::roles::AdminActor;
use crate::service::random_token;

/// Where an administrator logs in.
pub(crate) const LOGIN_PATH: &str = "/admin/login";
/// Where the logout form posts.
pub(crate) const LOGOUT_PATH: &str = "/admin/logout";
/// The dashboard's home, where a login ends.
pub(crate) const HOME_PATH: &str = "/admin";
/// A session ends this long after login, however active (8 h).
pub(crate) const SESSION_TTL: i64 = 8 * 3600;
/// A session ends after this long without a request (30 min).
pub(crate) const IDLE_TIMEOUT: i64 = 30 * 60;
/// How long an administrator has to log in upstream.
const LOGIN_TTL: i64 = 600;
/// At most this many administrator logins in progress per instance.
pub(crate) const MAX_PENDING: usize = 1_000;
/// The session cookie's name (prefixed `__Secure-` on an https issuer).
const SESSION_COOKIE: &str = "passport-admin";
/// The login's browser-binding cookie's name.
const LOGIN_COOKIE: &str = "passport-admin-login";
/// The dashboard's pages: scripts and styles from this server only, never
/// framed, no referrer.
pub(crate) const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// A login between `/admin/login` and the callback.
pub(crate) struct PendingAdminLogin {
    login: Box<PendingLogin>,
    /// SHA-256 of the browser-binding cookie.
    browser: [u8; 32],
    /// The address of the browser that started it.
    peer: IpAddr,
    expires_at: i64,
}

impl super::authorize::InProgress for PendingAdminLogin {
    fn peer(&self) -> IpAddr {
        self.peer
    }
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// Administrators' logins in progress, keyed by the login's `state`: the
/// same bounded, expiring, per-address store as the authorizations'.
pub(crate) type PendingAdminLogins = super::authorize::BoundedPending<PendingAdminLogin>;

// ---- pages ----

/// A page with a heading, a message and an optional link (login results,
/// refusals, logout).
#[derive(Template)]
#[template(path = "admin/message.html")]
pub(crate) struct MessagePage<'a> {
    pub(crate) title: &'a str,
    pub(crate) message: &'a str,
    pub(crate) detail: Option<&'a str>,
    pub(crate) link: Option<(&'a str, &'a str)>,
    /// Follow `link` at once (a same-site navigation, so the new
    /// `SameSite=Strict` cookie goes with it).
    pub(crate) refresh: bool,
}

/// Renders `page` with `status`, hardened (no caching, no framing).
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => harden(
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard page could not be rendered");
            harden(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response(),
            )
        }
    }
}

/// An error as a page: its status, `error` code and description.
pub(crate) fn error_page(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = if status == StatusCode::FORBIDDEN {
        "Not allowed"
    } else {
        "Administration"
    };
    render(
        status,
        &MessagePage {
            title,
            message: &e.description,
            detail: Some(e.error),
            link: None,
            refresh: false,
        },
    )
}

/// Never cached, never framed, no referrer; scripts and styles from here.
pub(crate) fn harden(response: Response) -> Response {
    super::authorize::harden_page(response, DASHBOARD_CSP, "same-origin")
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(&OAuthError::new(
            500,
            codes::SERVER_ERROR,
            "the redirect cannot be sent",
        )),
    }
}

// ---- cookies ----

fn https(server: &Server) -> bool {
    server.inner.issuer.as_str().starts_with("https://")
}

/// The session cookie's name: `__Secure-passport-admin` on https (a
/// `__Host-` name would need `Path=/`, sending the session to every
/// endpoint), `passport-admin` on a loopback http issuer, where browsers
/// refuse `Secure` prefixes.
pub(crate) fn session_cookie_name(server: &Server) -> String {
    if https(server) {
        format!("__Secure-{SESSION_COOKIE}")
    } else {
        SESSION_COOKIE.to_owned()
    }
}

fn login_cookie_name(server: &Server) -> String {
    if https(server) {
        format!("__Secure-{LOGIN_COOKIE}")
    } else {
        LOGIN_COOKIE.to_owned()
    }
}

fn set_cookie(
    server: &Server,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: i64,
) -> String {
    let secure = if https(server) { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}",
        server.route_path(path)
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

// ---- login ----

/// `GET /admin/login`: to the upstream provider, with a browser-binding
/// cookie for the callback.
pub(super) async fn login(State(server): State<Server>, request: Request) -> Response {
    let peer = super::peer_of(request.extensions());
    if let Err(e) = server.inner.authorize_limiter.check_address(peer) {
        return error_page(&e.oauth());
    }
    let result = async {
        let login = upstream_login::start(&server).await?;
        let browser =
            random_token().map_err(|e| server_error("no randomness for the login cookie", &e))?;
        let location = login.authorization_url().to_owned();
        let key = login.state().to_owned();
        let now = server.now();
        server.inner.admin_logins.insert(
            key,
            PendingAdminLogin {
                login: Box::new(login),
                browser: passport_jose::sha256(browser.as_bytes()),
                peer,
                expires_at: now.saturating_add(LOGIN_TTL),
            },
            now,
        )?;
        // Lax: the provider's redirect back is a cross-site top-level GET
        let cookie = set_cookie(
            &server,
            &login_cookie_name(&server),
            &browser,
            super::authorize::CALLBACK_PATH,
            "Lax",
            LOGIN_TTL,
        );
        Ok::<_, OAuthError>((location, cookie))
    }
    .await;
    match result {
        Ok((location, cookie)) => {
            let mut response = harden(see_other(&location));
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => error_page(&e),
    }
}

/// The callback of an administrator's login: a session, or a refusal page.
pub(crate) async fn finish_login(
    server: &Server,
    pending: PendingAdminLogin,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Response {
    let bound = cookie_value(headers, &login_cookie_name(server)).is_some_and(|c| {
        passport_jose::constant_time_eq(&passport_jose::sha256(c.as_bytes()), &pending.browser)
    });
    let clear_login = set_cookie(
        server,
        &login_cookie_name(server),
        "",
        super::authorize::CALLBACK_PATH,
        "Lax",
        0,
    );
    let mut response = if bound {
        match create_session(server, pending, params).await {
            Ok(response) => response,
            Err(e) => error_page(&e),
        }
    } else {
        error_page(&OAuthError::new(
            403,
            codes::ACCESS_DENIED,
            "this login was not started by this browser (the login cookie is missing or wrong): \
             start again at /admin/login",
        ))
    };
    if let Ok(v) = HeaderValue::from_str(&clear_login) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn create_session(
    server: &Server,
    pending: PendingAdminLogin,
    params: &[(String, String)],
) -> Result<Response, OAuthError> {
    let identity = upstream_login::finish(server, *pending.login, params).await?;
    let mapping = crate::governance::role_mapping(server);
    let role_claim = mapping.claim_of(&identity.raw_claims);
    let roles = mapping.roles_from(&role_claim);
    if roles.is_empty() {
        // a refusal stays one, recorded or not
        audit::refusal(
            server,
            AuditEvent::new(Action::AdminLogin, Outcome::Refused)
                .actor(&identity.subject)
                .principal(&identity.subject)
                .rule("administrators.roles")
                .error(codes::ACCESS_DENIED),
        )
        .await;
        return Err(OAuthError::new(
            403,
            codes::ACCESS_DENIED,
            format!(
                "you are logged in at the identity provider as {}, but hold no administrator \
                 role here (identity_admin, approver, resource_owner or auditor)",
                passport_jose::clip(&identity.subject, 100)
            ),
        ));
    }
    let (id, csrf) = match (random_token(), random_token()) {
        (Ok(id), Ok(csrf)) => (id, csrf),
        (Err(e), _) | (_, Err(e)) => return Err(server_error("no randomness for a session", &e)),
    };
    let now = server.now();
    let names: Vec<String> = roles.iter().map(|r| r.name().to_owned()).collect();
    server
        .inner
        .db
        .insert_admin_session(
            NewAdminSession::new(
                TokenHash::of(&id),
                identity.subject.clone(),
                names.clone(),
                csrf,
                now,
                now.saturating_add(SESSION_TTL),
                IDLE_TIMEOUT,
            )
            .with_role_claim(role_claim),
        )
        .await
        .map_err(|e| server_error("the session could not be stored", &e))?;
    if let Err(e) = server.inner.db.purge_admin_sessions(now).await {
        tracing::warn!(error = %e, "expired administrator sessions could not be purged");
    }
    // no session without its record: the cookie is never handed out, and
    // the row goes
    let logged_in = AuditEvent::new(Action::AdminLogin, Outcome::Done)
        .actor(&identity.subject)
        .principal(&identity.subject)
        .detail(serde_json::json!({ "roles": names }));
    if let Err(e) = audit::record(server, logged_in).await {
        if let Err(e) = server
            .inner
            .db
            .delete_admin_session(&TokenHash::of(&id))
            .await
        {
            tracing::error!(error = %e, "an unaudited administrator session could not be removed");
        }
        return Err(e);
    }
    let home = server.inner.issuer.endpoint(HOME_PATH);
    let mut response = render(
        StatusCode::OK,
        &MessagePage {
            title: "Logged in",
            message: "You are logged in. Continue to the dashboard.",
            detail: None,
            link: Some((&home, "Open the dashboard")),
            refresh: true,
        },
    );
    let cookie = set_cookie(
        server,
        &session_cookie_name(server),
        &id,
        HOME_PATH,
        "Strict",
        SESSION_TTL,
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

// ---- the session ----

/// A logged-in administrator: who, what it may do, and its session.
pub(crate) struct Session {
    /// The administrator, as the API's bearer path gives it too.
    pub(crate) actor: AdminActor,
    /// The token every state-changing form of this session carries.
    pub(crate) csrf: String,
    id_hash: TokenHash,
    /// The upstream claim values the roles are mapped from.
    role_claim: RoleClaim,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("actor", &self.actor)
            .field("csrf", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The live session the request's cookie names (its use recorded), if any.
///
/// # Errors
/// 401 without a live session; 500 when the database fails.
pub(crate) async fn session_of(
    server: &Server,
    headers: &HeaderMap,
) -> Result<Session, OAuthError> {
    let unauthorized = || {
        OAuthError::new(
            401,
            codes::ACCESS_DENIED,
            "not logged in (no session, or it expired): log in at /admin/login",
        )
    };
    let id = cookie_value(headers, &session_cookie_name(server)).ok_or_else(unauthorized)?;
    let id_hash = TokenHash::of(&id);
    let record = server
        .inner
        .db
        .touch_admin_session(&id_hash, server.now())
        .await
        .map_err(|e| server_error("the session could not be read", &e))?
        .ok_or_else(unauthorized)?;
    // the mapping in force now, not the roles it gave at login
    let roles = crate::governance::role_mapping(server).roles_from(&record.role_claim);
    Ok(Session {
        actor: AdminActor {
            principal: record.principal,
            roles,
        },
        csrf: record.csrf_secret,
        id_hash,
        role_claim: record.role_claim,
    })
}

impl Session {
    /// Maps the session's claim values again with the mapping in force (a
    /// long-lived request, the event stream, calls it before each use of
    /// the roles); whether the session still holds any role.
    pub(crate) fn remap_roles(&mut self, server: &Server) -> bool {
        self.actor.roles = crate::governance::role_mapping(server).roles_from(&self.role_claim);
        !self.actor.roles.is_empty()
    }

    /// Whether the session is still live at `now` (without recording a
    /// use: an open event stream is not activity).
    pub(crate) async fn is_live(&self, server: &Server) -> bool {
        matches!(
            server
                .inner
                .db
                .admin_session_live(&self.id_hash, server.now())
                .await,
            Ok(true)
        )
    }
}

/// The session of a dashboard page: without one, a redirect to the login.
pub(crate) struct PageSession(pub(crate) Session);

impl axum::extract::FromRequestParts<Server> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, server: &Server) -> Result<Self, Response> {
        match session_of(server, &parts.headers).await {
            Ok(session) => Ok(PageSession(session)),
            Err(e) if e.status == 401 => {
                Err(harden(see_other(&server.inner.issuer.endpoint(LOGIN_PATH))))
            }
            Err(e) => Err(error_page(&e)),
        }
    }
}

/// Refuses a state-changing form unless it carries `session`'s CSRF token
/// (constant-time) and comes from this server's origin (`Origin`, else
/// `Referer`).
///
/// # Errors
/// 403 `access_denied` naming which check failed.
pub(crate) fn check_form(
    server: &Server,
    session: &Session,
    headers: &HeaderMap,
    form: &Form,
) -> Result<(), OAuthError> {
    let refuse = |why: &str| OAuthError::new(403, codes::ACCESS_DENIED, why);
    let origin = issuer_origin(server).ok_or_else(|| refuse("the issuer has no origin"))?;
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let same_origin = match (header(header::ORIGIN), header(header::REFERER)) {
        (Some(sent), _) => sent == origin,
        (None, Some(referer)) => {
            url::Url::parse(referer).is_ok_and(|u| u.origin().ascii_serialization() == origin)
        }
        (None, None) => false,
    };
    if !same_origin {
        return Err(refuse(
            "csrf_origin: this form was not sent from this server's pages (Origin/Referer)",
        ));
    }
    let sent = form.get("csrf").unwrap_or("");
    let matches = passport_jose::constant_time_eq(
        &passport_jose::sha256(sent.as_bytes()),
        &passport_jose::sha256(session.csrf.as_bytes()),
    );
    if !matches {
        return Err(refuse(
            "csrf_token: this form does not carry this session's CSRF token",
        ));
    }
    Ok(())
}

/// `scheme://host[:port]` of the issuer, as browsers send `Origin`.
fn issuer_origin(server: &Server) -> Option<String> {
    let url = url::Url::parse(server.inner.issuer.as_str()).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// Reads a posted dashboard form (bounded, `application/x-www-form-urlencoded`).
pub(crate) async fn read_form(request: Request) -> Result<(HeaderMap, Form), OAuthError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, DEFAULT_MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::new(413, codes::INVALID_REQUEST, "the form is too large"))?;
    let form = Form::parse(&bytes, DEFAULT_MAX_FORM_BYTES).map_err(|e| e.oauth())?;
    Ok((parts.headers, form))
}

/// `POST /admin/logout` (CSRF-checked): the session ends in the database,
/// the cookie is cleared.
pub(super) async fn logout(State(server): State<Server>, request: Request) -> Response {
    let result = async {
        let session = session_of(&server, request.headers()).await?;
        let (headers, form) = read_form(request).await?;
        check_form(&server, &session, &headers, &form)?;
        // the end and its record run to their end together, whether or
        // not the request waits; without waiting for a place among the
        // running actions, nor being charged to the actor's rate
        let id_hash = session.id_hash.clone();
        crate::governance::to_completion(
            &server,
            &session.actor,
            crate::governance::Place::Free,
            move |server, actor| async move {
                server
                    .inner
                    .db
                    .delete_admin_session(&id_hash)
                    .await
                    .map_err(|e| server_error("the session could not be ended", &e))?;
                // ended either way; answered as done only once recorded
                audit::record(
                    &server,
                    AuditEvent::new(Action::AdminLogout, Outcome::Done)
                        .actor(&actor.principal)
                        .principal(&actor.principal),
                )
                .await
            },
        )
        .await
    }
    .await;
    match result {
        Ok(()) => {
            let login = server.inner.issuer.endpoint(LOGIN_PATH);
            let mut response = render(
                StatusCode::OK,
                &MessagePage {
                    title: "Logged out",
                    message: "You are logged out.",
                    detail: None,
                    link: Some((&login, "Log in again")),
                    refresh: false,
                },
            );
            let clear = set_cookie(
                &server,
                &session_cookie_name(&server),
                "",
                HOME_PATH,
                "Strict",
                0,
            );
            if let Ok(v) = HeaderValue::from_str(&clear) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => error_page(&e),
    }
}
