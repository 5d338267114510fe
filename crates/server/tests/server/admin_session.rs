//! Administrators' sessions and the dashboard: a real server with the mock
//! provider upstream (several users, each with its roles claim), every hop
//! of the login by hand (no redirects followed, cookies carried by hand).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use passport_claims::ManualClock;
use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::ServerBuilder;
use passport_store::server::PassportEntry;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use serde_json::json;

use crate::endpoints::{Running, start_on, start_with};
use crate::policy_fixture::role_mapping;

static MAPPING: LazyLock<String> = LazyLock::new(|| {
    role_mapping(&[
        ("identity_admin", "passport-admins"),
        ("resource_owner", "owners"),
        ("approver", "approvers"),
        ("auditor", "auditors"),
    ])
});

pub(crate) struct Admin {
    pub(crate) running: Running,
    pub(crate) mock: MockOidc,
    http: reqwest::Client,
    path: String,
}

async fn mock() -> MockOidc {
    MockOidc::builder()
        .redirect_path("/authorize/callback")
        .user("ada", json!({"roles": ["passport-admins", "owners"]}))
        .user("carl", json!({"roles": ["auditors"]}))
        .user("nobody", json!({"roles": ["employees"]}))
        .start()
        .await
        .unwrap()
}

fn configure(
    mock: &MockOidc,
    clock: Option<Arc<ManualClock>>,
) -> impl FnOnce(ServerBuilder) -> ServerBuilder + use<> {
    let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
    move |b| {
        let b = b.upstream(provider).admin_role_mapping(&MAPPING).unwrap();
        match clock {
            Some(clock) => b.clock(clock),
            None => b,
        }
    }
}

async fn admin_with(clock: Option<Arc<ManualClock>>) -> Admin {
    let mock = mock().await;
    let configure = configure(&mock, clock);
    admin_on(
        mock,
        start_with(tempfile::tempdir().unwrap(), configure).await,
    )
}

/// The administrators' view of `running` (started by `start_with`, its
/// database `server.db` in its directory), with `mock` upstream.
pub(crate) fn admin_on(mock: MockOidc, running: Running) -> Admin {
    let dir = running
        .dir
        .as_ref()
        .expect("a server started in a directory");
    let path = dir.path().join("server.db").to_str().unwrap().to_owned();
    Admin {
        running,
        mock,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        path,
    }
}

pub(crate) async fn admin() -> Admin {
    admin_with(None).await
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `name=value` of the `Set-Cookie` named `name`, and the whole header.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v))
}

/// What the callback answered.
pub(crate) struct Callback {
    status: StatusCode,
    session: Option<(String, String)>,
    body: String,
}

impl Admin {
    pub(crate) fn at(&self, path: &str) -> String {
        self.running.at(path)
    }

    /// The login of `user` through the mock's `login_hint`, up to the
    /// callback's answer; `with_login_cookie: false` drops the browser
    /// binding, as a victim sent the callback URL would.
    pub(crate) async fn login_as(&self, user: &str, with_login_cookie: bool) -> Callback {
        let start = self.http.get(self.at("/admin/login")).send().await.unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let (binding, _) = set_cookie(&start, "passport-admin-login").unwrap();
        let upstream = start.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(upstream.starts_with(self.mock.issuer()), "{upstream}");
        let at_mock = self
            .http
            .get(format!("{upstream}&login_hint={user}"))
            .send()
            .await
            .unwrap();
        assert_eq!(at_mock.status(), StatusCode::FOUND);
        let callback = at_mock.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(
            callback.starts_with(&self.at("/authorize/callback")),
            "{callback}"
        );
        let mut request = self.http.get(callback);
        if with_login_cookie {
            request = request.header(COOKIE, binding);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let session = set_cookie(&response, "passport-admin");
        let body = response.text().await.unwrap();
        Callback {
            status,
            session,
            body,
        }
    }

    /// A session cookie (`passport-admin=…`) of `user`.
    pub(crate) async fn session(&self, user: &str) -> String {
        let callback = self.login_as(user, true).await;
        assert_eq!(callback.status, StatusCode::OK, "{}", callback.body);
        callback.session.unwrap().0
    }

    pub(crate) async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(self.at(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    /// The page at `path` (status, body) for `cookie`.
    pub(crate) async fn page(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let r = self.get(path, cookie).await;
        (r.status(), r.text().await.unwrap())
    }

    /// The body of the page at `path` for `cookie`, which must answer
    /// `status`.
    pub(crate) async fn page_is(&self, path: &str, cookie: &str, status: StatusCode) -> String {
        let (got, page) = self.page(path, cookie).await;
        assert_eq!(got, status, "{page}");
        page
    }

    /// POSTs the registry's revoke form of `jti` with `cookie` and `csrf`.
    pub(crate) async fn revoke(&self, cookie: &str, csrf: &str, jti: &str) -> reqwest::Response {
        let form = [("jti", jti), ("csrf", csrf)];
        self.post("/admin/passports/revoke", cookie, None, &form)
            .await
    }

    /// The registry page's HTML for `cookie` (200 expected).
    pub(crate) async fn registry(&self, cookie: &str) -> String {
        let page = self.get("/admin", cookie).await;
        assert_eq!(page.status(), StatusCode::OK);
        page.text().await.unwrap()
    }

    /// POSTs `form` with `cookie`, from this server's origin unless `origin`.
    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.at(path))
            .header(COOKIE, cookie)
            .form(form);
        let own = self.running.url.clone();
        match origin {
            Some("") => {}
            Some(origin) => request = request.header(ORIGIN, origin),
            None => request = request.header(ORIGIN, own),
        }
        request.send().await.unwrap()
    }

    /// A passport minted through /token; its jti.
    pub(crate) async fn minted(&self) -> String {
        let client = self.running.workload("tools:read").await;
        self.running.mint(&client, "tools:read").await;
        let newest = self
            .running
            .server
            .database()
            .newest_passports(1)
            .await
            .unwrap();
        newest[0].entry.jti.clone()
    }

    pub(crate) async fn revoked(&self, jti: &str) -> bool {
        let record = self.running.record(jti).await;
        record.revoked_at.is_some()
    }
}

/// The CSRF token the page's forms carry.
pub(crate) fn csrf_of(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

/// Reads the event stream `events` until it holds `needle` (10 s at most).
pub(crate) async fn read_until(events: &mut reqwest::Response, needle: &str, seen: &mut String) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains(needle) {
            let chunk = events.chunk().await.unwrap().expect("the stream goes on");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle} in {seen}"));
}

#[tokio::test]
async fn a_login_gives_a_database_session_with_the_mapped_roles() {
    let a = admin().await;
    let callback = a.login_as("ada", true).await;
    assert_eq!(callback.status, StatusCode::OK, "{}", callback.body);
    let (cookie, header) = callback.session.unwrap();
    // the cookie: random 256 bits, HttpOnly, SameSite=Strict, Path=/admin;
    // not Secure on this loopback http issuer (browsers would drop it)
    assert_eq!(cookie.len(), "passport-admin=".len() + 43, "{cookie}");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=28800",
    ] {
        assert!(header.contains(attribute), "{header}");
    }
    assert!(!header.contains("Secure"), "{header}");
    // the page continues to the dashboard by a same-site navigation
    assert!(
        callback.body.contains(r#"http-equiv="refresh""#),
        "{}",
        callback.body
    );

    let page = a.registry(&cookie).await;
    assert!(page.contains("Logged in as <strong>ada</strong>"), "{page}");
    assert!(page.contains("identity_admin, resource_owner"), "{page}");
    assert!(page.contains(r#"<nav aria-label="Dashboard">"#), "{page}");
    assert!(page.contains(r#"<main id="main""#), "{page}");
    // the governance pages answer behind the same session (ada reads the
    // kill-switches; approvals and the audit trail need other roles)
    for (path, status) in [
        ("/admin/approvals", StatusCode::FORBIDDEN),
        ("/admin/kill-switches", StatusCode::OK),
        ("/admin/audit", StatusCode::FORBIDDEN),
    ] {
        let r = a.get(path, &cookie).await;
        assert_eq!(r.status(), status, "{path}");
        assert!(r.text().await.unwrap().contains("Logged in as"), "{path}");
    }
    // only the hash of the id is stored: the cookie's value is not in the database
    let id = cookie.strip_prefix("passport-admin=").unwrap();
    let hash = passport_store::server::TokenHash::of(id);
    assert!(
        a.running
            .server
            .database()
            .admin_session_live(&hash, now())
            .await
            .unwrap()
    );
    let forged = passport_store::server::TokenHash::of(hash.as_str());
    let r = a
        .get("/admin", &format!("passport-admin={}", hash.as_str()))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the stored hash is no session id"
    );
    assert!(
        !a.running
            .server
            .database()
            .admin_session_live(&forged, now())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn without_a_session_pages_send_to_the_login_and_events_are_refused() {
    let a = admin().await;
    for cookie in [
        "",
        "passport-admin=forged-session-id-0000000000000000000000000",
    ] {
        let r = a.get("/admin", cookie).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], a.at("/admin/login"));
        let r = a.get("/admin/events", cookie).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_principal_without_an_administrator_role_gets_a_403_page_and_no_session() {
    let a = admin().await;
    let callback = a.login_as("nobody", true).await;
    assert_eq!(callback.status, StatusCode::FORBIDDEN);
    assert!(callback.session.is_none());
    assert!(
        callback.body.contains("hold no administrator role"),
        "{}",
        callback.body
    );
    assert!(callback.body.contains("nobody"), "{}", callback.body);
}

#[tokio::test]
async fn a_callback_without_the_browsers_login_cookie_logs_nobody_in() {
    let a = admin().await;
    let callback = a.login_as("ada", false).await;
    assert_eq!(callback.status, StatusCode::FORBIDDEN);
    assert!(callback.session.is_none());
    assert!(
        callback.body.contains("not started by this browser"),
        "{}",
        callback.body
    );
}

#[tokio::test]
async fn revoking_needs_the_csrf_token_of_this_session_and_this_origin() {
    let a = admin().await;
    let jti = a.minted().await;
    let cookie = a.session("ada").await;
    let other = a.session("ada").await;
    let csrf = csrf_of(&a.registry(&cookie).await);
    let others_csrf = csrf_of(&a.registry(&other).await);
    assert_ne!(csrf, others_csrf);
    let refused = |body: String, why: &str| {
        assert!(body.contains(why), "{why}: {body}");
    };
    // missing, wrong, another session's token
    for token in [None, Some("wrong"), Some(others_csrf.as_str())] {
        let mut form = vec![("jti", jti.as_str())];
        if let Some(token) = token {
            form.push(("csrf", token));
        }
        let r = a
            .post("/admin/passports/revoke", &cookie, None, &form)
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{token:?}");
        refused(r.text().await.unwrap(), "csrf_token");
    }
    // the right token from another origin, or from nowhere said
    let form = [("jti", jti.as_str()), ("csrf", csrf.as_str())];
    for origin in ["http://evil.example", "null", ""] {
        let r = a
            .post("/admin/passports/revoke", &cookie, Some(origin), &form)
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
        refused(r.text().await.unwrap(), "csrf_origin");
    }
    // a Referer of another origin is no better
    let r = a
        .http
        .post(a.at("/admin/passports/revoke"))
        .header(COOKIE, &cookie)
        .header(REFERER, "http://evil.example/admin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!a.revoked(&jti).await, "nothing refused may revoke");

    // the session's own token from this origin (Referer alone will do)
    let r = a
        .http
        .post(a.at("/admin/passports/revoke"))
        .header(COOKIE, &cookie)
        .header(REFERER, a.at("/admin"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(a.revoked(&jti).await);
    let page = a.registry(&cookie).await;
    assert!(page.contains("REVOKED"), "{page}");
}

#[tokio::test]
async fn revoking_needs_the_resource_owner_role() {
    let a = admin().await;
    let jti = a.minted().await;
    let auditor = a.session("carl").await;
    let page = a.registry(&auditor).await;
    // the auditor sees the registry but no revoke button
    assert!(page.contains(&jti), "{page}");
    assert!(!page.contains(">Revoke</button>"), "{page}");
    let csrf = csrf_of(&page);
    let r = a.revoke(&auditor, &csrf, &jti).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("resource_owner"));
    assert!(!a.revoked(&jti).await);
}

#[tokio::test]
async fn sessions_expire_absolutely_and_when_idle() {
    let clock = Arc::new(ManualClock::new(now()));
    let a = admin_with(Some(Arc::clone(&clock))).await;
    let cookie = a.session("ada").await;
    // used every 20 minutes: alive until 8 h, then gone
    for _ in 0..23 {
        clock.advance(20 * 60);
        a.registry(&cookie).await;
    }
    clock.advance(20 * 60 + 1);
    let r = a.get("/admin", &cookie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "past 8 h");

    // unused for more than 30 minutes: gone
    let cookie = a.session("ada").await;
    clock.advance(29 * 60);
    a.registry(&cookie).await;
    clock.advance(30 * 60);
    let r = a.get("/admin", &cookie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "idle for 30 min");
}

#[tokio::test]
async fn logout_ends_the_session_in_the_database_and_needs_csrf() {
    let a = admin().await;
    let cookie = a.session("ada").await;
    let csrf = csrf_of(&a.registry(&cookie).await);
    let r = a
        .post("/admin/logout", &cookie, None, &[("csrf", "nope")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    a.registry(&cookie).await;
    let r = a
        .post("/admin/logout", &cookie, None, &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, cleared) = set_cookie(&r, "passport-admin").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let r = a.get("/admin", &cookie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_is_accepted_by_another_instance_on_the_same_database() {
    let a = admin().await;
    let cookie = a.session("ada").await;
    let second = start_on(&a.path, configure(&a.mock, None)).await;
    let r = a
        .http
        .get(second.at("/admin"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Logged in as <strong>ada</strong>")
    );
}

#[tokio::test]
async fn hostile_registry_values_are_escaped() {
    let a = admin().await;
    let db = a.running.server.database();
    let t = now();
    db.record_issued(PassportEntry {
        jti: "jti-\"><img src=x onerror=alert(1)>".into(),
        parent_jti: None,
        actor_jti: None,
        client_id: "client".into(),
        agent_id: "<script>alert('agent')</script>".into(),
        principal: "mallory & <b>co</b>".into(),
        audience: "https://tool.example/\"onmouseover=\"x".into(),
        scopes: "read</td><td>".into(),
        iat: t,
        exp: t + 300,
        kid: "k".into(),
        status_uri: None,
        status_idx: None,
        created_at: t,
        environment: None,
        approval_id: None,
    })
    .await
    .unwrap();
    let cookie = a.session("ada").await;
    let page = a.registry(&cookie).await;
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("&#60;script&#62;alert(&#39;agent&#39;)&#60;/script&#62;"),
        "{page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(!page.contains("<b>co</b>"), "{page}");
    assert!(!page.contains("\"onmouseover"), "{page}");
    assert!(!page.contains("read</td>"), "{page}");
}

#[tokio::test]
async fn the_event_stream_reports_a_revocation_without_reload() {
    let a = admin().await;
    let jti = a.minted().await;
    let cookie = a.session("ada").await;
    let csrf = csrf_of(&a.registry(&cookie).await);
    let mut events = a.get("/admin/events", &cookie).await;
    assert_eq!(events.status(), StatusCode::OK);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    read_until(&mut events, r#""state":"ACTIVE""#, &mut seen).await;
    assert!(seen.contains("event: registry"), "{seen}");
    let r = a.revoke(&cookie, &csrf, &jti).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    seen.clear();
    read_until(&mut events, r#""state":"REVOKED""#, &mut seen).await;
    assert!(seen.contains(&jti), "{seen}");
}

#[tokio::test]
async fn the_registry_shows_the_delegation_lineage_nested() {
    let a = admin().await;
    let db = a.running.server.database();
    let t = now();
    let entry = |jti: &str, parent: Option<&str>, at: i64| PassportEntry {
        jti: jti.into(),
        parent_jti: parent.map(Into::into),
        actor_jti: None,
        client_id: "client".into(),
        agent_id: format!("agent-{jti}"),
        principal: "alice".into(),
        audience: "https://tool.example".into(),
        scopes: "read".into(),
        iat: at,
        exp: at + 300,
        kid: "k".into(),
        status_uri: None,
        status_idx: None,
        created_at: at,
        environment: None,
        approval_id: None,
    };
    db.record_issued(entry("root-1", None, t)).await.unwrap();
    db.record_issued(entry("other-root", None, t + 1))
        .await
        .unwrap();
    db.record_issued(entry("child-1", Some("root-1"), t + 2))
        .await
        .unwrap();
    db.record_issued(entry("grandchild-1", Some("child-1"), t + 3))
        .await
        .unwrap();
    let cookie = a.session("ada").await;
    let page = a.registry(&cookie).await;
    let at = |needle: &str| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {page}"))
    };
    // each root followed by its descendants, deeper and deeper
    assert!(at(r#"data-jti="other-root""#) < at(r#"data-jti="root-1""#));
    assert!(at(r#"data-jti="root-1""#) < at(r#"data-jti="child-1""#));
    assert!(at(r#"data-jti="child-1""#) < at(r#"data-jti="grandchild-1""#));
    assert!(page.contains("lineage depth-2"), "{page}");
    assert!(page.contains("delegated (level 2) from child-1"), "{page}");
}
