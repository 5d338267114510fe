//! `/authorize` end to end: a real server on 127.0.0.1:0 with the mock
//! OpenID provider upstream, driven by reqwest with redirects disabled,
//! following each hop by hand: the login, the consent page, the code in the
//! store, and every refusal.

use passport_claims::ScopeSet;
use passport_mock_oidc::{Endpoint, Fault, MockOidc};
use passport_oidc::{OidcConfig, PkceVerifier, Provider};
use passport_server::ServerBuilder;
use passport_server::rate_limit::RateLimit;
use passport_store::StoreError;
use passport_store::server::{ClientKind, NewClient, TokenHash};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::endpoints::{RESOURCE, Running, authorize_url, no_redirects, start, start_with};

const CLIENT: &str = "app";
pub(crate) const REDIRECT: &str = "https://app.example/cb";
const STATE: &str = "st-4711 &<x>";

/// Parameters of the standard request to replace (`None`: remove).
type Changes<'a> = &'a [(&'static str, Option<&'a str>)];

struct Flow {
    running: Running,
    mock: MockOidc,
    /// No redirects followed, no cookies kept: every hop is by hand.
    http: reqwest::Client,
    verifier: PkceVerifier,
}

async fn flow() -> Flow {
    flow_with(json!({ "client_name": "Example App" }), |b| b).await
}

async fn flow_with(
    client_metadata: Value,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> Flow {
    let (mock, running) = login_server(configure).await;
    register_client(&running, CLIENT, client_metadata, "authorization_code").await;
    Flow {
        running,
        mock,
        http: no_redirects(),
        verifier: PkceVerifier::generate().unwrap(),
    }
}

/// A server with the mock provider upstream, which sends the browser back
/// to `/authorize/callback`; its builder further `configure`d.
pub(crate) async fn login_server(
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (MockOidc, Running) {
    let mock = MockOidc::builder()
        .redirect_path("/authorize/callback")
        .start()
        .await
        .unwrap();
    let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
    let running = start_with(tempfile::tempdir().unwrap(), |b| {
        configure(b.upstream(provider))
    })
    .await;
    (mock, running)
}

/// Registers a client of `kind` with the one redirect URI `redirect`
/// (the code grant, scope `tools:read`).
async fn register_client_as(running: &Running, client_id: &str, kind: ClientKind, redirect: &str) {
    let client = NewClient {
        kind,
        redirect_uris: vec![redirect.to_owned()],
        ..public_client(client_id, json!({}), "authorization_code")
    };
    running
        .server
        .database()
        .insert_client(client)
        .await
        .unwrap();
}

pub(crate) async fn register_client(
    running: &Running,
    client_id: &str,
    metadata: Value,
    grant: &str,
) {
    let client = public_client(client_id, metadata, grant);
    running
        .server
        .database()
        .insert_client(client)
        .await
        .unwrap();
}

/// A public client (`none`) redirecting to [`REDIRECT`], with `grant`.
fn public_client(client_id: &str, metadata: Value, grant: &str) -> NewClient {
    NewClient {
        client_id: client_id.to_owned(),
        kind: ClientKind::Public,
        secret_hash: None,
        auth_method: "none".into(),
        redirect_uris: vec![REDIRECT.to_owned()],
        grant_types: vec![grant.to_owned()],
        scopes: "tools:read tools:list".into(),
        owner: None,
        jwks: None,
        metadata: metadata.to_string(),
        created_at: 1_700_000_000,
    }
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} answer", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The value of `<input … name="NAME" value="…">` in the page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    let end = page[start..].find('"').unwrap();
    page[start..start + end].to_owned()
}

/// The cookie a response sets, as `name=value`.
fn set_cookie(response: &reqwest::Response) -> String {
    let header = response
        .headers()
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Lax"), "{header}");
    header.split(';').next().unwrap().to_owned()
}

fn assert_hardened(response: &reqwest::Response) {
    let h = response.headers();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

/// The consent page, the form's fields and the browser's cookie.
struct Consent {
    page: String,
    id: String,
    csrf: String,
    cookie: String,
}

impl Flow {
    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", CLIENT.into()),
            ("redirect_uri", REDIRECT.into()),
            ("state", STATE.into()),
            ("code_challenge", self.verifier.challenge_s256()),
            ("code_challenge_method", "S256".into()),
            ("resource", RESOURCE.into()),
            ("scope", "tools:read".into()),
        ]
    }

    /// `/authorize` with the standard request, `changes` applied (a `None`
    /// value removes the parameter).
    async fn authorize(&self, changes: &[(&'static str, Option<&str>)]) -> reqwest::Response {
        let mut params = self.params();
        for (name, value) in changes {
            params.retain(|(n, _)| n != name);
            if let Some(v) = value {
                params.push((name, (*v).to_owned()));
            }
        }
        let url = url::Url::parse_with_params(&self.running.at("/authorize"), &params).unwrap();
        self.http.get(url).send().await.unwrap()
    }

    /// `/authorize`, then the upstream login: the URL of our callback the
    /// provider sends the browser back to.
    async fn upstream_login(&self) -> String {
        self.upstream_login_with(&[]).await
    }

    /// [`Flow::upstream_login`] for the standard request, `changes`
    /// applied.
    async fn upstream_login_with(&self, changes: Changes<'_>) -> String {
        let response = self.authorize(changes).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_hardened(&response);
        let upstream = location(&response);
        assert!(upstream.starts_with(self.mock.issuer()), "{upstream}");
        let response = self.http.get(&upstream).send().await.unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
        let callback = location(&response);
        assert!(
            callback.starts_with(&self.running.at("/authorize/callback")),
            "{callback}"
        );
        callback
    }

    async fn consent(&self) -> Consent {
        let callback = self.upstream_login().await;
        let response = self.http.get(&callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_hardened(&response);
        let cookie = set_cookie(&response);
        let page = response.text().await.unwrap();
        Consent {
            id: hidden(&page, "id"),
            csrf: hidden(&page, "csrf"),
            cookie,
            page,
        }
    }

    async fn decide(
        &self,
        consent: &Consent,
        decision: &str,
        csrf: Option<&str>,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![("id", consent.id.as_str()), ("decision", decision)];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let mut request = self
            .http
            .post(self.running.at("/authorize/consent"))
            .form(&form);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    async fn approve(&self, consent: &Consent) -> reqwest::Response {
        self.decide(
            consent,
            "approve",
            Some(&consent.csrf),
            Some(&consent.cookie),
        )
        .await
    }

    /// Reads the code back from the store (this uses it).
    async fn code_grant(&self, code: &str) -> passport_store::server::CodeGrant {
        self.running
            .server
            .database()
            .consume_code(&TokenHash::of(code), now(), &[])
            .await
            .unwrap()
    }

    fn issuer(&self) -> &str {
        self.running.server.issuer()
    }

    /// An error redirect to the client: `error`, `state` and `iss` present.
    fn assert_error_redirect(&self, response: &reqwest::Response, error: &str) -> String {
        assert!(response.status().is_redirection(), "{}", response.status());
        let to = location(response);
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{to}");
        assert_eq!(param(&to, "state").as_deref(), Some(STATE), "{to}");
        assert_eq!(param(&to, "iss").as_deref(), Some(self.issuer()), "{to}");
        assert_eq!(param(&to, "code"), None, "{to}");
        to
    }
}

async fn metadata_of(running: &Running) -> Value {
    let url = running.at("/.well-known/oauth-authorization-server");
    running
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An error page: the status, the OAuth error in the page, no redirect.
async fn assert_page(response: reqwest::Response, status: StatusCode, error: &str) -> String {
    assert_eq!(response.status(), status);
    assert!(response.headers().get(LOCATION).is_none());
    assert_hardened(&response);
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!("<code>{error}</code>")), "{page}");
    page
}

#[tokio::test]
async fn the_whole_round_trip_ends_with_a_code_in_the_store() {
    let f = flow().await;
    let consent = f.consent().await;
    assert!(consent.page.contains("Example App"), "{}", consent.page);
    assert!(consent.page.contains(RESOURCE), "{}", consent.page);
    assert!(
        consent.page.contains("<code>tools:read</code>"),
        "{}",
        consent.page
    );
    assert!(consent.page.contains("alice"), "{}", consent.page);
    assert!(!consent.page.contains("<script"), "{}", consent.page);

    let response = f.approve(&consent).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_hardened(&response);
    let cleared = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let to = location(&response);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some(STATE));
    assert_eq!(param(&to, "iss").as_deref(), Some(f.issuer()));
    let code = param(&to, "code").unwrap();
    assert_eq!(code.len(), 43, "256 bits, base64url");

    let grant = f.code_grant(&code).await;
    assert_eq!(grant.client_id, CLIENT);
    assert_eq!(grant.redirect_uri, REDIRECT);
    assert_eq!(grant.resource, RESOURCE);
    assert_eq!(grant.scope, "tools:read");
    assert_eq!(grant.code_challenge, f.verifier.challenge_s256());
    assert!(grant.expires_at <= now() + 60, "a code lives 60 s at most");
    let claims: Value = serde_json::from_str(&grant.claims).unwrap();
    assert_eq!(claims["subject"], "alice");
    assert_eq!(claims["issuer"], f.mock.issuer());

    // the form is used once
    let again = f.approve(&consent).await;
    assert_page(again, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn the_consent_page_escapes_the_client_name() {
    let f = flow_with(
        json!({ "client_name": "<script>alert(1)</script> & \"Co\"" }),
        |b| b,
    )
    .await;
    let consent = f.consent().await;
    assert!(!consent.page.contains("<script"), "{}", consent.page);
    assert!(
        consent
            .page
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;"),
        "{}",
        consent.page
    );
}

/// A name stored before registration checked names (or written to the
/// store directly, as here) is checked again when the page is drawn: one
/// that would render as something else is not shown; the client id is.
#[tokio::test]
async fn a_stored_spoofing_client_name_is_not_shown() {
    for name in ["Trusted App\u{202E}nosj.tneilc", "Tru\u{200B}sted App"] {
        let f = flow_with(json!({ "client_name": name }), |b| b).await;
        let consent = f.consent().await;
        assert!(!consent.page.contains(name), "{}", consent.page);
        assert!(!consent.page.contains("Trusted"), "{}", consent.page);
        assert!(
            consent
                .page
                .contains(&format!("the client <code>{CLIENT}</code>")),
            "{}",
            consent.page
        );
    }
}

#[tokio::test]
async fn approval_needs_the_csrf_token_and_the_browser_cookie() {
    let f = flow().await;
    let consent = f.consent().await;
    let wrong_cookie = format!("{}x", consent.cookie);
    for (csrf, cookie) in [
        (None, Some(consent.cookie.as_str())),
        (Some("wrong-token"), Some(consent.cookie.as_str())),
        (Some(consent.csrf.as_str()), None),
        (Some(consent.csrf.as_str()), Some(wrong_cookie.as_str())),
    ] {
        let response = f.decide(&consent, "approve", csrf, cookie).await;
        assert!(
            response.headers().get(SET_COOKIE).is_none(),
            "the cookie stays"
        );
        if csrf.is_none() {
            assert_page(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        } else {
            assert_page(response, StatusCode::FORBIDDEN, "access_denied").await;
        }
    }
    // the refusals did not consume it: the real browser still approves
    let response = f.approve(&consent).await;
    assert!(param(&location(&response), "code").is_some());
}

async fn flow_on_manual_clock() -> (Flow, std::sync::Arc<passport_claims::ManualClock>) {
    let clock = std::sync::Arc::new(passport_claims::ManualClock::new(now()));
    let server_clock = clock.clone();
    (
        flow_with(json!({}), move |b| b.clock(server_clock)).await,
        clock,
    )
}

#[tokio::test]
async fn a_consent_form_expires() {
    let (f, clock) = flow_on_manual_clock().await;
    let consent = f.consent().await;
    clock.advance(5 * 60 + 1);
    let response = f.approve(&consent).await;
    let page = assert_page(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(page.contains("expired"), "{page}");
}

#[tokio::test]
async fn an_upstream_login_expires() {
    let (f, clock) = flow_on_manual_clock().await;
    let callback = f.upstream_login().await;
    clock.advance(10 * 60 + 1);
    let response = f.http.get(&callback).send().await.unwrap();
    assert_page(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn deny_redirects_with_access_denied_state_and_iss() {
    let f = flow().await;
    let consent = f.consent().await;
    let response = f
        .decide(&consent, "deny", Some(&consent.csrf), Some(&consent.cookie))
        .await;
    assert_hardened(&response);
    f.assert_error_redirect(&response, "access_denied");
}

#[tokio::test]
async fn invalid_requests_redirect_with_the_error_state_and_iss() {
    let f = flow().await;
    let cases: [(Changes, &str); 6] = [
        (
            &[("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (&[("code_challenge", None)], "invalid_request"),
        (&[("code_challenge_method", None)], "invalid_request"),
        (&[("resource", None)], "invalid_target"),
        (&[("scope", Some("tools:write"))], "invalid_scope"),
        (
            &[("response_type", Some("token"))],
            "unsupported_response_type",
        ),
    ];
    for (changes, error) in cases {
        let response = f.authorize(changes).await;
        assert_hardened(&response);
        let to = f.assert_error_redirect(&response, error);
        assert!(!to.starts_with(f.mock.issuer()), "{to}");
    }
    assert_eq!(
        f.mock.request_count(Endpoint::Authorize),
        0,
        "never sent upstream"
    );
}

#[tokio::test]
async fn an_untrustworthy_client_or_redirect_uri_gets_a_page_never_a_redirect() {
    let f = flow().await;
    let off_by_one = "https://app.example/cc";
    let cases: [(Changes, &str); 5] = [
        (&[("redirect_uri", Some(off_by_one))], "invalid_request"),
        (
            &[("redirect_uri", Some("https://app.example/cb/"))],
            "invalid_request",
        ),
        (&[("redirect_uri", None)], "invalid_request"),
        (&[("client_id", Some("stranger"))], "invalid_client"),
        (&[("client_id", None)], "invalid_client"),
    ];
    for (changes, error) in cases {
        assert_page(f.authorize(changes).await, StatusCode::BAD_REQUEST, error).await;
    }
    // a repeated parameter: nothing can be trusted
    let mut url = f.authorize_url();
    url.push_str("&redirect_uri=https%3A%2F%2Fevil.example%2Fcb");
    let response = f.http.get(url).send().await.unwrap();
    assert_page(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

impl Flow {
    fn authorize_url(&self) -> String {
        url::Url::parse_with_params(&self.running.at("/authorize"), &self.params())
            .unwrap()
            .to_string()
    }
}

#[tokio::test]
async fn a_client_without_the_code_grant_is_unauthorized() {
    let f = flow().await;
    let workload = f.running.workload("tools:read").await;
    // a workload has no redirect URI: the page, not a redirect
    let response = f
        .authorize(&[("client_id", Some(&workload.client_id))])
        .await;
    assert_page(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // a client with a redirect URI but not the grant: told so at its URI
    register_client(&f.running, "machine", json!({}), "client_credentials").await;
    let response = f.authorize(&[("client_id", Some("machine"))]).await;
    f.assert_error_redirect(&response, "unauthorized_client");
}

#[tokio::test]
async fn authorize_by_post_works_too() {
    let f = flow().await;
    let params = f.params();
    let response = f
        .http
        .post(f.running.at("/authorize"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with(f.mock.issuer()));
}

#[tokio::test]
async fn the_upstream_callback_refuses_a_wrong_state() {
    let f = flow().await;
    let callback = f.upstream_login().await;
    let forged = callback.replace(
        &format!("state={}", param(&callback, "state").unwrap()),
        "state=forged",
    );
    assert_ne!(forged, callback);
    let response = f.http.get(&forged).send().await.unwrap();
    let page = assert_page(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(page.contains("state_mismatch"), "{page}");
    // no state at all
    let response = f
        .http
        .get(f.running.at("/authorize/callback?code=x"))
        .send()
        .await
        .unwrap();
    assert_page(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_wrong_upstream_iss_is_refused_as_a_mix_up() {
    let f = flow().await;
    f.mock.set_fault(Endpoint::Authorize, Fault::WrongIssuer);
    let callback = f.upstream_login().await;
    assert_eq!(
        param(&callback, "iss").as_deref(),
        Some(passport_mock_oidc::WRONG_ISSUER)
    );
    let response = f.http.get(&callback).send().await.unwrap();
    assert_hardened(&response);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let to = f.assert_error_redirect(&response, "access_denied");
    assert!(
        param(&to, "error_description")
            .unwrap()
            .contains("issuer_mismatch"),
        "{to}"
    );
    assert_eq!(
        f.mock.request_count(Endpoint::Token),
        0,
        "no code exchanged"
    );
}

#[tokio::test]
async fn a_login_refused_upstream_is_access_denied() {
    let f = flow().await;
    f.mock.set_deny(true);
    let callback = f.upstream_login().await;
    let response = f.http.get(&callback).send().await.unwrap();
    let to = f.assert_error_redirect(&response, "access_denied");
    assert!(
        param(&to, "error_description")
            .unwrap()
            .contains("provider_error"),
        "{to}"
    );
}

#[tokio::test]
async fn auto_consent_issues_the_code_right_after_the_login() {
    let f = flow_with(json!({}), |b| b.auto_consent(true)).await;
    let callback = f.upstream_login().await;
    let response = f.http.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let to = location(&response);
    assert_eq!(param(&to, "state").as_deref(), Some(STATE));
    assert_eq!(param(&to, "iss").as_deref(), Some(f.issuer()));
    let grant = f.code_grant(&param(&to, "code").unwrap()).await;
    assert_eq!(
        ScopeSet::parse(grant.scope.split(' ')).unwrap(),
        ScopeSet::parse(["tools:read"]).unwrap()
    );
    // a code is used once
    let again = f
        .running
        .server
        .database()
        .consume_code(&TokenHash::of(&param(&to, "code").unwrap()), now(), &[])
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::CodeReused { .. }), "{again:?}");
}

/// Review rev11-c, finding 3: with auto-consent, any page the principal
/// opens while signed in upstream can start an authorization (a top-level
/// navigation carries the issuer's Host). A client that registered itself
/// names any redirect URI it likes — here a metadata document naming the
/// attacker's — and got its code with no consent page. Now such a client
/// gets the consent page, unless its code cannot leave the machine (a
/// loopback redirect URI); an operator's client is still approved at once
/// (`auto_consent_issues_the_code_right_after_the_login`).
#[tokio::test]
async fn auto_consent_asks_consent_for_a_self_registered_client_with_a_remote_redirect() {
    let evil = "https://attacker.example/cb";
    let (base, task) = crate::clients::document_server(|base| {
        vec![(
            "/evil.json",
            json!({
                "client_id": format!("{base}/evil.json"),
                "redirect_uris": [evil],
                "token_endpoint_auth_method": "none",
            }),
        )]
    })
    .await;
    let f = flow_with(json!({}), |b| {
        b.auto_consent(true).dangerous_client_metadata_test_mode()
    })
    .await;
    let loopback = "http://127.0.0.1:9/cb";
    for (kind, client, redirect) in [
        (None, "document", evil),
        (Some(ClientKind::Dynamic), "dyn-remote", evil),
        (Some(ClientKind::Dynamic), "dyn-loopback", loopback),
        (Some(ClientKind::MetadataDocument), "doc-loopback", loopback),
    ] {
        let client_id = match kind {
            None => format!("{base}/evil.json"),
            Some(kind) => {
                register_client_as(&f.running, client, kind, redirect).await;
                client.to_owned()
            }
        };
        let callback = f
            .upstream_login_with(&[
                ("client_id", Some(&client_id)),
                ("redirect_uri", Some(redirect)),
                // a metadata document's client is granted no scope
                ("scope", None),
            ])
            .await;
        let response = f.http.get(&callback).send().await.unwrap();
        if redirect == loopback {
            // the code can only reach this machine: approved at once
            assert_eq!(response.status(), StatusCode::FOUND, "{client}");
            let to = location(&response);
            assert!(
                to.starts_with(&format!("{loopback}?code=")),
                "{client}: {to}"
            );
        } else {
            assert_eq!(response.status(), StatusCode::OK, "{client}");
            assert!(response.headers().get(LOCATION).is_none(), "{client}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains(evil),
                "{client}: the consent page names the redirect URI"
            );
            assert!(!hidden(&page, "csrf").is_empty(), "{client}");
        }
    }
    task.abort();
}

#[tokio::test]
async fn without_an_upstream_there_is_no_login_and_no_code() {
    let running = start().await;
    register_client(&running, CLIENT, json!({}), "authorization_code").await;
    let url = authorize_url(&running, (CLIENT, REDIRECT), &[]);
    let response = no_redirects().get(url).send().await.unwrap();
    let page = assert_page(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    assert!(page.contains("upstream identity provider"), "{page}");
    let metadata = metadata_of(&running).await;
    for member in [
        "authorization_endpoint",
        "code_challenge_methods_supported",
        "authorization_response_iss_parameter_supported",
    ] {
        assert!(metadata.get(member).is_none(), "{member}: {metadata}");
    }
    assert_eq!(metadata["response_types_supported"], json!([]));
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
}

#[tokio::test]
async fn the_metadata_advertises_authorize_with_an_upstream() {
    let f = flow().await;
    let metadata = metadata_of(&f.running).await;
    assert_eq!(
        metadata["authorization_endpoint"],
        f.running.at("/authorize")
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
}

#[tokio::test]
async fn authorize_is_rate_limited_per_address() {
    let f = flow_with(json!({}), |b| {
        b.authorize_rate_limit(RateLimit {
            burst: 2,
            per_second: 0.0,
        })
    })
    .await;
    for _ in 0..2 {
        assert_eq!(f.authorize(&[]).await.status(), StatusCode::FOUND);
    }
    let response = f.authorize(&[]).await;
    assert!(response.headers().get("retry-after").is_some());
    assert_page(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    )
    .await;
}

/// The cookies of `responses` kept as a browser keeps them: one value per
/// name, a later cookie replacing an earlier one of the same name; as a
/// `Cookie` header.
fn jar(cookies: &[&str]) -> String {
    let mut jar = std::collections::BTreeMap::new();
    for cookie in cookies {
        let (name, value) = cookie.split_once('=').unwrap();
        jar.insert(name, value);
    }
    let pairs: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
    pairs.join("; ")
}

#[tokio::test]
async fn two_consent_pages_open_in_one_browser_both_work() {
    let f = flow().await;
    let first = f.consent().await;
    let second = f.consent().await;
    let browser = jar(&[&first.cookie, &second.cookie]);
    for consent in [&first, &second] {
        let response = f
            .decide(consent, "approve", Some(&consent.csrf), Some(&browser))
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        // only this consent's cookie is forgotten
        let cleared = response.headers()[SET_COOKIE].to_str().unwrap();
        let name = consent.cookie.split_once('=').unwrap().0;
        assert!(cleared.starts_with(&format!("{name}=;")), "{cleared}");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        assert!(param(&location(&response), "code").is_some());
    }
}

/// A browser-like client sending from `address` (any 127.0.0.0/8 address
/// reaches the server on 127.0.0.1).
fn from_address(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from(address))
        .build()
        .unwrap()
}

#[tokio::test]
async fn one_address_cannot_fill_the_authorizations_in_progress() {
    let f = flow_with(json!({}), |b| {
        b.authorize_rate_limit(RateLimit {
            burst: 1_000,
            per_second: 0.0,
        })
    })
    .await;
    let url = url::Url::parse_with_params(&f.running.at("/authorize"), &f.params()).unwrap();
    let (greedy, other) = (from_address([127, 0, 0, 2]), from_address([127, 0, 0, 3]));
    for _ in 0..64 {
        let response = greedy.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        assert!(location(&response).starts_with(f.mock.issuer()));
    }
    let response = greedy.get(url.clone()).send().await.unwrap();
    let to = f.assert_error_redirect(&response, "temporarily_unavailable");
    assert!(
        param(&to, "error_description")
            .unwrap()
            .contains("from this address"),
        "{to}"
    );
    // another address is served
    let response = other.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with(f.mock.issuer()));
}
