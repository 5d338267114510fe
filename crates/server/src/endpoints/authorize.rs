//! `/authorize` (RFC 6749 §4.1 with PKCE S256, RFC 8707, RFC 9207), the
//! upstream login's callback and the consent page.
//!
//! 1. `GET` (or `POST`) `/authorize`: the request is validated
//!    ([`crate::authorize::validate`]); an untrustworthy client or redirect
//!    URI is an error page, anything else an error redirect with `state` and
//!    `iss`. A valid request is kept in [`PendingAuthorizations`] and the
//!    browser is sent to the upstream provider
//!    ([`passport_oidc::PendingLogin`], keyed by its `state`).
//! 2. `GET /authorize/callback`: the upstream login is finished (`state`,
//!    RFC 9207 `iss`, code exchange, ID token with nonce). Then the consent
//!    page, with a CSRF token bound to this authorization and a cookie bound
//!    to this browser — or, with auto-consent, the code at once.
//! 3. `POST /authorize/consent`: Approve mints a code (256 random bits,
//!    stored by hash, 60 s); Deny redirects with `access_denied`.
//!
//! Pending authorizations live in this instance's memory (bounded, expiring);
//! codes are in the database, shared by every instance.

use super::admin_session::cookie_value;
#[allow(clippy::wildcard_imports)]
use super::*;
use crate::service::random_token;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::http::Method;
use passport_oidc::PendingLogin;

use super::upstream_login;
use passport_store::server::{ClientKind, NewCode, TokenHash};

use crate::authorize::{AuthorizationRequest, AuthorizeError, AuthorizeFailure, ClientPolicy};
use crate::grant::GrantedPrincipal;

/// The upstream provider's redirect URI on this server (register
/// `<issuer>/authorize/callback` at the provider).
pub(crate) const CALLBACK_PATH: &str = "/authorize/callback";
/// Where the consent form posts.
pub(crate) const CONSENT_PATH: &str = "/authorize/consent";
/// At most this many authorizations in progress per instance.
pub(crate) const MAX_PENDING: usize = 10_000;
/// At most this many of them from one address (review A finding 5: a few
/// addresses must not fill the whole store). Behind a reverse proxy every
/// request comes from the proxy's address, so this is then a cap on the
/// proxy, unless the proxy is trusted ([`crate::client_address`]).
const MAX_PENDING_PER_ADDRESS: usize = 64;
/// How long an authorization code lives, in seconds.
const CODE_TTL: i64 = 60;
/// How long the principal has to log in upstream, in seconds.
const LOGIN_TTL: i64 = 600;
/// How long the consent page stays answerable, in seconds.
const CONSENT_TTL: i64 = 300;
/// The browser-binding cookie's name (prefixed `__Host-` on an https
/// issuer, suffixed per authorization: see [`cookie_name`]).
const COOKIE: &str = "passport-consent";
/// The longest client name shown.
const MAX_CLIENT_NAME: usize = 100;
/// The consent page and error pages: no script, no framing, no referrer.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

/// Where an authorization stands.
enum Stage {
    /// Waiting for the browser to come back from the upstream login.
    Login(Box<PendingLogin>),
    /// Logged in; waiting for Approve or Deny.
    Consent {
        identity: Box<IdentityAssertion>,
        /// SHA-256 of the form's CSRF token.
        csrf: [u8; 32],
        /// SHA-256 of the browser's cookie.
        browser: [u8; 32],
    },
}

pub(crate) struct Pending {
    /// The address of the browser that started it (or finished its login).
    peer: IpAddr,
    request: AuthorizationRequest,
    client_name: Option<String>,
    /// Approved right after the login, without a consent page (see
    /// [`auto_approves`]).
    auto_approve: bool,
    expires_at: i64,
    stage: Stage,
}

/// Why a consent form was refused.
enum ConsentRefusal {
    /// No such authorization (used, expired, never made).
    Unknown,
    /// The CSRF token or the cookie does not match.
    NotBound,
}

/// What a store of logins in progress needs of an entry.
pub(crate) trait InProgress {
    /// The address of the browser that started it.
    fn peer(&self) -> IpAddr;
    /// When it is forgotten.
    fn expires_at(&self) -> i64;
}

impl InProgress for Pending {
    fn peer(&self) -> IpAddr {
        self.peer
    }
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// Logins in progress (authorizations between `/authorize` and the code,
/// administrators' logins between `/admin/login` and the callback), in
/// this instance's memory: random unguessable keys, expiring, at most
/// `max`, at most `per_address` of them from one address (an IPv6 /64,
/// as the rate limits count it; a place is
/// freed when its login ends or expires), so one address cannot fill the
/// store and lock everybody else out.
pub(crate) struct BoundedPending<T> {
    max: usize,
    per_address: usize,
    /// What the entries are, for the refusals ("authorizations").
    what: &'static str,
    entries: Mutex<HashMap<String, T>>,
}

/// The authorizations between `/authorize` and the code.
pub(crate) type PendingAuthorizations = BoundedPending<Pending>;

impl<T: InProgress> BoundedPending<T> {
    pub(crate) fn new(max: usize, what: &'static str) -> BoundedPending<T> {
        BoundedPending {
            max: max.max(1),
            per_address: MAX_PENDING_PER_ADDRESS.min(max).max(1),
            what,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `pending` under `key`; refused when full of live entries, or
    /// when its address already has `per_address` live ones.
    pub(crate) fn insert(&self, key: String, pending: T, now: i64) -> Result<(), OAuthError> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let live = |p: &T| p.expires_at() > now;
        // the address as every per-address limit counts it: an IPv6
        // address by its /64 (review S15b-2: a host rotating its interface
        // identifier got 64 fresh places with every new address)
        let address = crate::rate_limit::address_key(pending.peer());
        let from_peer = entries
            .values()
            .filter(|p| crate::rate_limit::address_key(p.peer()) == address && live(p))
            .count();
        if from_peer >= self.per_address {
            return Err(OAuthError::new(
                503,
                codes::TEMPORARILY_UNAVAILABLE,
                format!(
                    "too many {} in progress from this address; try again later",
                    self.what
                ),
            ));
        }
        if entries.len() >= self.max {
            entries.retain(|_, p| live(p));
        }
        if entries.len() >= self.max {
            return Err(OAuthError::new(
                503,
                codes::TEMPORARILY_UNAVAILABLE,
                format!("too many {} in progress; try again later", self.what),
            ));
        }
        entries.insert(key, pending);
        Ok(())
    }

    /// Takes the live entry `key` (an expired one is dropped).
    pub(crate) fn take(&self, key: &str, now: i64) -> Option<T> {
        if key.is_empty() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(key).filter(|p| p.expires_at() > now)
    }
}

impl BoundedPending<Pending> {
    /// Takes the authorization waiting for the login whose `state` this is.
    fn take_login(&self, state: &str, now: i64) -> Option<Pending> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(state) {
            Some(p) if matches!(p.stage, Stage::Login(_)) => {}
            _ => return None,
        }
        entries.remove(state).filter(|p| p.expires_at > now)
    }

    /// Takes the authorization `id` waiting for consent, if `csrf` and the
    /// browser's `cookie` are its own; left in place when they are not.
    fn take_consent(
        &self,
        id: &str,
        csrf: &str,
        cookie: Option<&str>,
        now: i64,
    ) -> Result<Pending, ConsentRefusal> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(pending) = entries.get(id) else {
            return Err(ConsentRefusal::Unknown);
        };
        let Stage::Consent {
            csrf: csrf_hash,
            browser,
            ..
        } = &pending.stage
        else {
            return Err(ConsentRefusal::Unknown);
        };
        if pending.expires_at <= now {
            entries.remove(id);
            return Err(ConsentRefusal::Unknown);
        }
        let csrf_ok =
            passport_jose::constant_time_eq(&passport_jose::sha256(csrf.as_bytes()), csrf_hash);
        let cookie_ok = cookie.is_some_and(|c| {
            passport_jose::constant_time_eq(&passport_jose::sha256(c.as_bytes()), browser)
        });
        if !(csrf_ok && cookie_ok) {
            return Err(ConsentRefusal::NotBound);
        }
        entries.remove(id).ok_or(ConsentRefusal::Unknown)
    }
}

// ---- /authorize ----

/// Whether auto-consent approves this authorization without a consent
/// page: only for a client an operator registered, or where the code
/// cannot leave this machine (an `http` redirect URI to a loopback IP
/// literal). A client that registered itself — a metadata document,
/// dynamic registration — names whatever redirect URI it likes, and any
/// page the principal opens while signed in upstream can start its
/// authorization: without a consent page, its code would go to that page's
/// author (review rev11-c, finding 3). Such a client gets the consent page.
fn auto_approves(server: &Server, kind: ClientKind, redirect_uri: &str) -> bool {
    let operator_registered = match kind {
        ClientKind::Public | ClientKind::Confidential | ClientKind::Workload => true,
        // a kind added later is not trusted until it is listed here
        _ => false,
    };
    server.inner.auto_consent
        && (operator_registered || crate::authorize::is_loopback_redirect(redirect_uri))
}

pub(super) async fn authorize(State(server): State<Server>, request: Request) -> Response {
    harden(
        authorize_inner(&server, request)
            .await
            .unwrap_or_else(|r| r),
    )
}

async fn authorize_inner(server: &Server, request: Request) -> Result<Response, Response> {
    // the address's limit before anything is read
    let peer = super::peer_of(request.extensions());
    check_rate(server, peer).map_err(|e| error_page(&e))?;
    if server.inner.auto_consent && !addressed_to_issuer(server, &request) {
        // the loopback rule keeps out the network, not the browser: a page
        // that rebinds its own name to 127.0.0.1 would drive this endpoint
        // (and read /token) as a same-origin page
        return Err(error_page(&OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "with auto-consent, authorization requests must be addressed to the issuer's host",
        )));
    }
    let post = request.method() == Method::POST;
    let form = if post {
        read_post(request).await.map_err(|e| error_page(&e))?.form
    } else {
        let query = request.uri().query().unwrap_or("").as_bytes();
        Form::parse(query, DEFAULT_MAX_FORM_BYTES).map_err(|e| error_page(&e.oauth()))?
    };
    upstream_login::provider(server).map_err(|e| error_page(&e))?;
    let unknown = || error_page(&AuthorizeError::UnknownClient.oauth());
    let client_id = form.get("client_id").ok_or_else(unknown)?;
    let client = match client_by_id(server, client_id, peer).await {
        Ok(client) => client,
        Err(e) if e.error == codes::INVALID_CLIENT => return Err(unknown()),
        Err(e) => return Err(error_page(&e)),
    };
    let allowed = ScopeSet::parse(client.scopes.split_ascii_whitespace())
        .map_err(|e| error_page(&server_error("a client's scopes are unreadable", &e)))?;
    let policy = ClientPolicy {
        client_id: &client.client_id,
        redirect_uris: &client.redirect_uris,
        allowed_scopes: &allowed,
    };
    let issuer = server.inner.issuer.as_str();
    let redirect_status = if post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let request = crate::authorize::validate(&form, &policy).map_err(|f| match &f {
        AuthorizeFailure::Page(e) => error_page(&e.oauth()),
        _ => match f.location(issuer) {
            Some(location) => redirect(redirect_status, &location),
            None => error_page(&f.error().oauth()),
        },
    })?;
    let refuse =
        |e: OAuthError| redirect(redirect_status, &request.redirect_with_error(&e, issuer));
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(refuse(OAuthError::new(
            400,
            codes::UNAUTHORIZED_CLIENT,
            "this client may not use the authorization code grant",
        )));
    }
    let login = upstream_login::start(server).await.map_err(refuse)?;
    let location = login.authorization_url().to_owned();
    let key = login.state().to_owned();
    let now = server.now();
    let pending = Pending {
        peer,
        client_name: client_name(&client),
        auto_approve: auto_approves(server, client.kind, &request.redirect_uri),
        request: request.clone(),
        expires_at: now.saturating_add(LOGIN_TTL),
        stage: Stage::Login(Box::new(login)),
    };
    server
        .inner
        .authorizations
        .insert(key, pending, now)
        .map_err(refuse)?;
    Ok(redirect(redirect_status, &location))
}

// ---- the upstream login's callback ----

pub(super) async fn callback(State(server): State<Server>, request: Request) -> Response {
    harden(callback_inner(&server, request).await.unwrap_or_else(|r| r))
}

async fn callback_inner(server: &Server, request: Request) -> Result<Response, Response> {
    let peer = super::peer_of(request.extensions());
    check_rate(server, peer).map_err(|e| error_page(&e))?;
    let params = upstream_login::callback_params(&request).map_err(|e| error_page(&e))?;
    let state = upstream_login::state_of(&params);
    if let Some(login) = server.inner.admin_logins.take(state, server.now()) {
        // an administrator's login (`/admin/login`) comes back here too
        return Ok(
            super::admin_session::finish_login(server, login, &params, request.headers()).await,
        );
    }
    let now = server.now();
    let Some(pending) = server.inner.authorizations.take_login(state, now) else {
        return Err(error_page(&OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "this login response matches no authorization in progress \
             (state_mismatch: unknown, used or expired)",
        )));
    };
    let Stage::Login(login) = pending.stage else {
        return Err(error_page(&OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "this authorization is not waiting for a login",
        )));
    };
    let issuer = server.inner.issuer.as_str();
    let request = pending.request;
    let refuse =
        |e: OAuthError| redirect(StatusCode::FOUND, &request.redirect_with_error(&e, issuer));
    let identity = upstream_login::finish(server, *login, &params)
        .await
        .map_err(refuse)?;
    if pending.auto_approve {
        return approve(server, &request, &identity, StatusCode::FOUND).await;
    }
    let (Ok(id), Ok(csrf), Ok(browser)) = (random_token(), random_token(), random_token()) else {
        return Err(refuse(OAuthError::new(
            500,
            codes::SERVER_ERROR,
            "no randomness for the consent form",
        )));
    };
    let page = consent_page(
        server,
        &request,
        pending.client_name.as_deref(),
        &identity,
        &id,
        &csrf,
    );
    let set_cookie = cookie(server, &id, &browser, CONSENT_TTL);
    server
        .inner
        .authorizations
        .insert(
            id,
            Pending {
                peer,
                request: request.clone(),
                client_name: pending.client_name,
                auto_approve: false,
                expires_at: now.saturating_add(CONSENT_TTL),
                stage: Stage::Consent {
                    identity: Box::new(identity),
                    csrf: passport_jose::sha256(csrf.as_bytes()),
                    browser: passport_jose::sha256(browser.as_bytes()),
                },
            },
            now,
        )
        .map_err(&refuse)?;
    let mut response = html(StatusCode::OK, page);
    if let Ok(v) = HeaderValue::from_str(&set_cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

// ---- the consent form ----

pub(super) async fn consent(State(server): State<Server>, request: Request) -> Response {
    let response = match consent_inner(&server, request).await {
        Ok((mut response, id)) => {
            // the cookie has served: forget it (not on a refusal, which a
            // forged cross-site post would otherwise use to log the real
            // browser out of its consent); another consent's stays
            if let Ok(v) = HeaderValue::from_str(&cookie(&server, &id, "", 0)) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(response) => response,
    };
    harden(response)
}

/// The answer, and the authorization's id (naming its cookie).
async fn consent_inner(server: &Server, request: Request) -> Result<(Response, String), Response> {
    check_rate(server, super::peer_of(request.extensions())).map_err(|e| error_page(&e))?;
    let posted = read_post(request).await.map_err(|e| error_page(&e))?;
    let bad = |what: &str| error_page(&OAuthError::new(400, codes::INVALID_REQUEST, what));
    let approve_it = match posted.form.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Err(bad("decision must be approve or deny")),
    };
    let id = posted
        .form
        .get("id")
        .ok_or_else(|| bad("the form has no id"))?;
    let csrf = posted
        .form
        .get("csrf")
        .ok_or_else(|| bad("the form has no CSRF token"))?;
    let browser = cookie_value(&posted.headers, &cookie_name(server, id));
    let now = server.now();
    let pending = match server
        .inner
        .authorizations
        .take_consent(id, csrf, browser.as_deref(), now)
    {
        Ok(pending) => pending,
        Err(ConsentRefusal::Unknown) => {
            return Err(bad(
                "this consent form matches no authorization in progress (used or expired)",
            ));
        }
        Err(ConsentRefusal::NotBound) => {
            return Err(error_page(&OAuthError::new(
                403,
                codes::ACCESS_DENIED,
                "this consent form was not sent by the browser that logged in \
                 (CSRF token or cookie missing or wrong)",
            )));
        }
    };
    let Stage::Consent { identity, .. } = &pending.stage else {
        return Err(bad("this authorization is not waiting for consent"));
    };
    let id = id.to_owned();
    if approve_it {
        let response = approve(server, &pending.request, identity, StatusCode::SEE_OTHER).await?;
        return Ok((response, id));
    }
    let denied = OAuthError::new(
        400,
        codes::ACCESS_DENIED,
        "the principal denied the request",
    );
    let response = redirect(
        StatusCode::SEE_OTHER,
        &pending
            .request
            .redirect_with_error(&denied, server.inner.issuer.as_str()),
    );
    Ok((response, id))
}

/// Mints the code (256 random bits; the store keeps its SHA-256) and
/// redirects with `code`, `state`, `iss`.
async fn approve(
    server: &Server,
    request: &AuthorizationRequest,
    identity: &IdentityAssertion,
    status: StatusCode,
) -> Result<Response, Response> {
    let issuer = server.inner.issuer.as_str();
    let refuse = |e: OAuthError| redirect(status, &request.redirect_with_error(&e, issuer));
    let code = random_token()
        .map_err(|e| refuse(server_error("no randomness for the authorization code", &e)))?;
    let scope: Vec<&str> = request.scope.iter().map(|p| p.as_str()).collect();
    server
        .inner
        .db
        .insert_code(NewCode {
            code: TokenHash::of(&code),
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.as_str().to_owned(),
            resource: request.resource.clone(),
            scope: scope.join(" "),
            claims: GrantedPrincipal::from_assertion(identity).to_json(),
            expires_at: server.now().saturating_add(CODE_TTL),
        })
        .await
        .map_err(|e| {
            refuse(server_error(
                "the authorization code could not be stored",
                &e,
            ))
        })?;
    Ok(redirect(status, &request.redirect_with_code(&code, issuer)))
}

// ---- helpers ----

/// Whether the request's `Host` (or HTTP/2 `:authority`) is the issuer's
/// host and port, as sent (ASCII case aside).
fn addressed_to_issuer(server: &Server, request: &Request) -> bool {
    let Ok(issuer) = url::Url::parse(server.inner.issuer.as_str()) else {
        return false;
    };
    let Some(host) = issuer.host_str() else {
        return false;
    };
    let expected = match issuer.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let sent = match request.headers().get(header::HOST) {
        Some(v) => v.to_str().ok(),
        None => request.uri().authority().map(|a| a.as_str()),
    };
    sent.is_some_and(|h| h.eq_ignore_ascii_case(&expected))
}

fn check_rate(server: &Server, peer: IpAddr) -> Result<(), OAuthError> {
    server
        .inner
        .authorize_limiter
        .check_address(peer)
        .map_err(|e| e.oauth())
}

/// The client's `client_name` from its registered metadata, if any.
fn client_name(client: &ClientRecord) -> Option<String> {
    let metadata: Value = serde_json::from_str(&client.metadata).ok()?;
    let name = metadata.get("client_name")?.as_str()?.trim();
    (!name.is_empty()).then(|| passport_jose::clip(name, MAX_CLIENT_NAME))
}

/// The cookie of the authorization `id`: one per authorization, so two
/// consent pages open in one browser each keep their own. The suffix (48
/// bits of the SHA-256 of `id`, which the page's form carries anyway) is
/// not a secret; the cookie's value is.
fn cookie_name(server: &Server, id: &str) -> String {
    let digest = passport_jose::b64::encode(passport_jose::sha256(id.as_bytes()));
    let suffix = digest.get(..8).unwrap_or(&digest);
    if server.inner.issuer.as_str().starts_with("https://") {
        format!("__Host-{COOKIE}-{suffix}")
    } else {
        // browsers refuse a `__Host-` cookie that is not `Secure`, and an
        // http (loopback) issuer cannot set `Secure`
        format!("{COOKIE}-{suffix}")
    }
}

fn cookie(server: &Server, id: &str, value: &str, max_age: i64) -> String {
    let secure = if server.inner.issuer.as_str().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(server, id)
    )
}

fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (status, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(&OAuthError::new(
            500,
            codes::SERVER_ERROR,
            "the redirect URI cannot be sent",
        )),
    }
}

/// Never cached, never framed, no script, no referrer.
fn harden(response: Response) -> Response {
    harden_page(response, PAGE_CSP, "no-referrer")
}

/// The headers of every page this server renders (the consent page, the
/// dashboard): never cached, never framed, not sniffed, with the page's
/// own content security and referrer policies.
pub(crate) fn harden_page(
    mut response: Response,
    csp: &'static str,
    referrer: &'static str,
) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::REFERRER_POLICY, referrer),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// HTML-escapes text for element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;\
    padding:0 1em;line-height:1.5}code{background:#eee;padding:0 .2em;word-break:break-all}\
    button{font-size:1em;padding:.4em 1.2em;margin-right:1em}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// An error shown in the browser, never redirected: the OAuth `error`, its
/// description, the status (and `Retry-After` for 429).
fn error_page(e: &OAuthError) -> Response {
    let body = format!(
        "<h1>Authorization failed</h1>\n<p><code>{}</code></p>\n<p>{}</p>",
        escape(e.error),
        escape(&e.description)
    );
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = html(status, page("Authorization failed", &body));
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn consent_page(
    server: &Server,
    request: &AuthorizationRequest,
    client_name: Option<&str>,
    identity: &IdentityAssertion,
    id: &str,
    csrf: &str,
) -> String {
    // checked again here: a name stored before registration checked it (or
    // written to the store by other means) must not reach the page either
    let shown = client_name.filter(|n| crate::client_metadata::displayable_name(n));
    let client = match shown {
        Some(name) => format!(
            "<strong>{}</strong> (client <code>{}</code>)",
            escape(name),
            escape(&request.client_id)
        ),
        None => format!("the client <code>{}</code>", escape(&request.client_id)),
    };
    let scopes = if request.scope.is_empty() {
        "<p>No tool scope: the passport only says who you are.</p>".to_owned()
    } else {
        let items: String = request
            .scope
            .iter()
            .map(|p| format!("<li><code>{}</code></li>", escape(p.as_str())))
            .collect();
        format!("<p>with these scopes:</p>\n<ul>{items}</ul>")
    };
    let body = format!(
        "<h1>Authorize access</h1>\n\
         <p>Signed in as <strong>{subject}</strong> at <code>{upstream}</code>.</p>\n\
         <p>{client} asks for a passport for the resource <code>{resource}</code></p>\n\
         {scopes}\n\
         <p>It will be sent to <code>{redirect}</code>.</p>\n\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"id\" value=\"{id}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         </form>",
        subject = escape(&identity.subject),
        upstream = escape(&identity.issuer),
        resource = escape(&request.resource),
        redirect = escape(&request.redirect_uri),
        action = escape(&server.inner.issuer.endpoint(CONSENT_PATH)),
        id = escape(id),
        csrf = escape(csrf),
    );
    page("Authorize access", &body)
}

#[cfg(test)]
mod tests {

    /// Administrators' logins are kept in the same store type
    /// ([`super::super::admin_session::PendingAdminLogins`] is a
    /// `BoundedPending`): one address cannot fill it and lock the
    /// administrators out of the dashboard (final review of session 5: the
    /// admin logins had their own copy without the per-address cap).
    #[test]
    fn any_logins_in_progress_are_capped_per_address() {
        struct Login(IpAddr);
        impl InProgress for Login {
            fn peer(&self) -> IpAddr {
                self.0
            }
            fn expires_at(&self) -> i64 {
                600
            }
        }
        let store = BoundedPending::new(1_000, "administrator logins");
        let attacker = IpAddr::from([127, 0, 0, 9]);
        for i in 0..MAX_PENDING_PER_ADDRESS {
            store.insert(format!("x{i}"), Login(attacker), 0).unwrap();
        }
        let refused = store
            .insert("x-more".into(), Login(attacker), 0)
            .unwrap_err();
        assert_eq!(refused.status, 503);
        assert!(
            refused.description.contains("administrator logins"),
            "{refused:?}"
        );
        // another address still logs in, and a login is taken once
        store
            .insert("admin".into(), Login(IpAddr::from([127, 0, 0, 1])), 0)
            .unwrap();
        assert!(store.take("admin", 1).is_some());
        assert!(store.take("admin", 1).is_none());
        assert!(store.take("", 1).is_none());
    }

    use super::*;

    #[test]
    fn escaping_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
    }

    fn waiting_for_consent(expires_at: i64) -> Pending {
        let uris = vec!["https://app.example/cb".to_owned()];
        let allowed = ScopeSet::empty();
        let policy = ClientPolicy {
            client_id: "app",
            redirect_uris: &uris,
            allowed_scopes: &allowed,
        };
        let query = "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
            &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
            &code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example";
        let form = Form::parse(query.as_bytes(), 8192).unwrap();
        Pending {
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            request: crate::authorize::validate(&form, &policy).unwrap(),
            client_name: None,
            auto_approve: false,
            expires_at,
            stage: Stage::Consent {
                identity: Box::new(IdentityAssertion::new("https://idp.example", "alice")),
                csrf: passport_jose::sha256(b"csrf"),
                browser: passport_jose::sha256(b"cookie"),
            },
        }
    }

    #[test]
    fn the_pending_store_is_bounded_and_expires() {
        let store = PendingAuthorizations::new(1, "authorizations");
        store
            .insert("a".into(), waiting_for_consent(100), 0)
            .unwrap();
        // full of live entries: refused
        let full = store
            .insert("b".into(), waiting_for_consent(100), 50)
            .unwrap_err();
        assert_eq!(
            (full.status, full.error),
            (503, codes::TEMPORARILY_UNAVAILABLE)
        );
        // once the first expired, its place is taken
        store
            .insert("b".into(), waiting_for_consent(300), 100)
            .unwrap();
        assert!(matches!(
            store.take_consent("a", "csrf", Some("cookie"), 100),
            Err(ConsentRefusal::Unknown)
        ));
        // the wrong cookie leaves it in place; an expired one is gone
        assert!(matches!(
            store.take_consent("b", "csrf", Some("other"), 200),
            Err(ConsentRefusal::NotBound)
        ));
        assert!(matches!(
            store.take_consent("b", "csrf", Some("cookie"), 300),
            Err(ConsentRefusal::Unknown)
        ));
        // a login key never answers a consent form
        assert!(store.take_login("b", 0).is_none());
    }

    fn from(peer: [u8; 4], expires_at: i64) -> Pending {
        Pending {
            peer: IpAddr::V4(Ipv4Addr::from(peer)),
            ..waiting_for_consent(expires_at)
        }
    }

    #[test]
    fn one_address_cannot_fill_the_pending_store() {
        let store = PendingAuthorizations::new(1_000, "authorizations");
        let (a, b) = ([127, 0, 0, 2], [127, 0, 0, 3]);
        for i in 0..MAX_PENDING_PER_ADDRESS {
            store.insert(format!("a{i}"), from(a, 100), 0).unwrap();
        }
        let refused = store.insert("a-more".into(), from(a, 100), 0).unwrap_err();
        assert_eq!(
            (refused.status, refused.error),
            (503, codes::TEMPORARILY_UNAVAILABLE)
        );
        assert!(refused.description.contains("from this address"));
        // another address still has its places
        store.insert("b0".into(), from(b, 100), 0).unwrap();
        // an authorization that ends frees its place
        assert!(store.take_consent("a0", "csrf", Some("cookie"), 0).is_ok());
        store.insert("a-again".into(), from(a, 100), 0).unwrap();
        assert!(store.insert("a-more".into(), from(a, 100), 0).is_err());
        // and so do expired ones
        store.insert("a-later".into(), from(a, 300), 100).unwrap();
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; passport-consent=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie_value(&headers, COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&headers, "__Host-passport-consent"), None);
    }
}
