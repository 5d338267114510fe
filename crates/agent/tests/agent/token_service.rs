//! The token service's client against an authorization server and resource
//! servers played by wiremock: discovery, client credentials, exchange with
//! DPoP, the code flow (state, iss), refresh rotation, server nonces,
//! step-up; and against a real passport-server for what it has.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passport_agent::{
    AuthorizationRequest, AuthorizationResponse, ClientError, ClientSecret, CredentialSource,
    LoopbackUserAgent, OAuthClient, PassportClient, PassportRequest, ServicePassport, TokenService,
    UserAgent,
};
use passport_claims::{Clock as _, SystemClock, UnverifiedBundle};
use passport_dpop::{DpopPolicy, DpopVerifier};
use passport_testkit::{Kit, alice_ial2, bounded, issuance};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::{TokenServer, key};

pub(crate) const CLIENT_ID: &str = "agent-1";
const SECRET: &str = "s3cr3t/with+chars";

/// A passport bundle for `aud` (a bearer passport of a test issuer).
pub(crate) fn bundle_for(aud: &str, scopes: &[&str]) -> String {
    let kit = Kit::at(SystemClock.now(), aud);
    kit.issue(issuance(alice_ial2(), aud, "agent-a", "model-a", scopes))
        .bundle()
        .to_owned()
}

fn form_of(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn proof_claims(request: &Request) -> Value {
    let proof = header(request, "dpop").expect("a DPoP proof");
    let payload = proof.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn token(bundle: &str, token_type: &str, scope: &str) -> Value {
    json!({"access_token": bundle, "token_type": token_type, "expires_in": 600, "scope": scope})
}

/// An authorization server's metadata at the RFC 8414 path, naming
/// `issuer` (the mock's own URL unless given).
pub(crate) async fn authorization_server(issuer: Option<&str>, iss_supported: bool) -> MockServer {
    let server = MockServer::start().await;
    let own = server.uri();
    let issuer = issuer.unwrap_or(&own);
    Mock::given(method("GET"))
        .and(path("/.well-known/oauth-authorization-server"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "token_endpoint": format!("{own}/token"),
            "authorization_endpoint": format!("{own}/authorize"),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": iss_supported,
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
        })))
        .mount(&server)
        .await;
    server
}

/// `/token` answering `answers` in turn (the last one again past the end).
pub(crate) async fn token_endpoint(server: &MockServer, answers: Vec<ResponseTemplate>) {
    let next = AtomicUsize::new(0);
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |_: &Request| {
            let i = next.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1);
            answers[i].clone()
        })
        .mount(server)
        .await;
}

async fn requests_to(server: &MockServer, at: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

pub(crate) async fn service(server: &MockServer, client: OAuthClient) -> TokenService {
    TokenService::discover(&server.uri(), client).await.unwrap()
}

fn confidential() -> OAuthClient {
    OAuthClient::with_secret(CLIENT_ID, ClientSecret::new(SECRET))
}

#[tokio::test]
async fn discovery_refuses_metadata_naming_another_issuer() {
    bounded(async {
        let server = authorization_server(Some("https://evil.example"), true).await;
        let err = TokenService::discover(&server.uri(), confidential())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "issuer_mismatch", "{err}");
        // a plain-http issuer elsewhere than on loopback is refused unfetched
        let err = TokenService::discover("http://as.example", confidential())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "insecure_url", "{err}");
        // the matching one is read
        let ok = authorization_server(None, true).await;
        let service = service(&ok, confidential()).await;
        assert_eq!(
            service.metadata().token_endpoint,
            format!("{}/token", ok.uri())
        );
        assert!(
            service
                .metadata()
                .authorization_response_iss_parameter_supported
        );
        assert!(!format!("{service:?}").contains(SECRET), "{service:?}");
    })
    .await;
}

#[tokio::test]
async fn client_credentials_authenticate_with_basic_and_name_the_resource() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let bundle = bundle_for("https://files.example", &["files:read"]);
        token_endpoint(
            &server,
            vec![ResponseTemplate::new(200).set_body_json(token(&bundle, "Bearer", "files:read"))],
        )
        .await;
        let service = service(&server, confidential()).await;
        let issued = service
            .client_credentials(&PassportRequest::new("https://files.example").scope("files:read"))
            .await
            .unwrap();
        assert_eq!(issued.credentials.bundle(), bundle);
        assert!(issued.credentials.key().is_none());
        assert_eq!(issued.scopes, ["files:read"]);
        assert!(issued.expires_at.unwrap() > SystemClock.now());
        assert!(issued.refresh_token.is_none());

        let sent = requests_to(&server, "/token").await;
        assert_eq!(sent.len(), 1);
        let form = form_of(&sent[0]);
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["resource"], "https://files.example");
        assert_eq!(form["scope"], "files:read");
        assert!(!form.contains_key("client_id"), "the secret's client is in Basic");
        // RFC 6749 §2.3.1: both parts form-urlencoded, then Basic
        let basic = URL_SAFE_NO_PAD
            .encode("agent-1:s3cr3t%2Fwith%2Bchars")
            .replace('-', "+")
            .replace('_', "/");
        let sent_basic = header(&sent[0], "authorization").unwrap();
        assert_eq!(sent_basic.trim_end_matches('='), format!("Basic {basic}"));
        assert!(header(&sent[0], "dpop").is_none());

        // an OAuth error comes back typed
        let refusing = authorization_server(None, true).await;
        token_endpoint(
            &refusing,
            vec![ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_scope", "error_description": "not for you"}),
            )],
        )
        .await;
        let err = service_for(&refusing)
            .await
            .client_credentials(&PassportRequest::new("https://files.example").scope("x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "token_request_refused");
        assert!(
            matches!(&err, ClientError::TokenRefused { status: 400, error, .. } if error == "invalid_scope"),
            "{err:?}"
        );
    })
    .await;
}

/// A `ServicePassport` signed in through `server`'s authorization code
/// flow (a `FakeBrowser` that consents) for `request`, the token endpoint
/// giving `answers` in turn; and the browser.
async fn signed_in(
    server: &MockServer,
    request: PassportRequest,
    answers: Vec<ResponseTemplate>,
) -> (ServicePassport, FakeBrowser) {
    token_endpoint(server, answers).await;
    let browser = FakeBrowser::new(&server.uri(), Tamper::None);
    let passport =
        ServicePassport::authorization_code(service_for(server).await, browser.clone(), request)
            .await
            .unwrap();
    (passport, browser)
}

pub(crate) async fn service_for(server: &MockServer) -> TokenService {
    service(server, confidential()).await
}

#[tokio::test]
async fn an_exchange_sends_the_subject_token_and_a_proof_by_the_sub_agents_key() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let parent = bundle_for("https://files.example", &["files:*"]);
        let child = bundle_for("https://files.example", &["files:read"]);
        token_endpoint(
            &server,
            vec![ResponseTemplate::new(200).set_body_json(token(&child, "DPoP", "files:read"))],
        )
        .await;
        let sub_key = key();
        let jkt = sub_key.jkt().to_owned();
        let issued = service_for(&server)
            .await
            .exchange(
                &parent,
                &PassportRequest::new("https://files.example")
                    .scope("files:read")
                    .dpop_key(sub_key),
            )
            .await
            .unwrap();
        assert_eq!(issued.credentials.bundle(), child);
        assert_eq!(issued.credentials.key().unwrap().jkt(), jkt);

        let sent = requests_to(&server, "/token").await;
        let form = form_of(&sent[0]);
        assert_eq!(
            form["grant_type"],
            "urn:ietf:params:oauth:grant-type:token-exchange"
        );
        assert_eq!(form["subject_token"], parent);
        assert_eq!(
            form["subject_token_type"],
            "urn:ietf:params:oauth:token-type:access_token"
        );
        assert_eq!(form["resource"], "https://files.example");
        assert_eq!(form["scope"], "files:read");
        // the proof: POST to the token endpoint, by the sub-agent's key,
        // no `ath` (no access token is presented with it)
        let token_url = format!("{}/token", server.uri());
        let claims = proof_claims(&sent[0]);
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], token_url);
        assert!(claims.get("ath").is_none(), "{claims}");
        let proof = header(&sent[0], "dpop").unwrap();
        let verified = DpopVerifier::new(DpopPolicy::default(), Arc::new(SystemClock))
            .verify(&[&proof], "POST", &token_url, None, Some(&jkt))
            .unwrap();
        assert_eq!(verified.jkt, jkt);

        // a bearer answer to a request for a bound passport is refused
        let unbound = authorization_server(None, true).await;
        token_endpoint(
            &unbound,
            vec![ResponseTemplate::new(200).set_body_json(token(&child, "Bearer", "files:read"))],
        )
        .await;
        let err = service_for(&unbound)
            .await
            .exchange(
                &parent,
                &PassportRequest::new("https://files.example").dpop_key(key()),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_token_response", "{err}");
    })
    .await;
}

/// How the fake browser answers.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Tamper {
    None,
    State,
    Iss,
    NoIss,
}

/// A user agent that "consents" at once: answers with a code, the request's
/// state and the issuer — or tampers with them.
#[derive(Clone)]
pub(crate) struct FakeBrowser {
    issuer: String,
    tamper: Tamper,
    urls: Arc<Mutex<Vec<String>>>,
}

impl FakeBrowser {
    pub(crate) fn new(issuer: &str, tamper: Tamper) -> FakeBrowser {
        FakeBrowser {
            issuer: issuer.to_owned(),
            tamper,
            urls: Arc::default(),
        }
    }

    pub(crate) fn urls(&self) -> Vec<HashMap<String, String>> {
        self.urls
            .lock()
            .unwrap()
            .iter()
            .map(|u| {
                url::Url::parse(u)
                    .unwrap()
                    .query_pairs()
                    .into_owned()
                    .collect()
            })
            .collect()
    }
}

const REDIRECT: &str = "http://127.0.0.1:1/callback";

#[async_trait::async_trait]
impl UserAgent for FakeBrowser {
    async fn authorize(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, ClientError> {
        let url = request.url(REDIRECT);
        let query: HashMap<String, String> = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let n = {
            let mut urls = self.urls.lock().unwrap();
            urls.push(url);
            urls.len()
        };
        let mut params = vec![("code".to_owned(), format!("code-{n}"))];
        let state = match self.tamper {
            Tamper::State => "forged".to_owned(),
            _ => query["state"].clone(),
        };
        params.push(("state".to_owned(), state));
        match self.tamper {
            Tamper::Iss => params.push(("iss".to_owned(), "http://evil.example".to_owned())),
            Tamper::NoIss => {}
            _ => params.push(("iss".to_owned(), self.issuer.clone())),
        }
        Ok(AuthorizationResponse::new(REDIRECT, params))
    }
}

pub(crate) fn with_refresh(bundle: &str, scope: &str, refresh: &str) -> ResponseTemplate {
    let mut body = token(bundle, "Bearer", scope);
    body["refresh_token"] = refresh.into();
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn the_code_flow_checks_state_and_iss_and_redeems_with_the_verifier() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let bundle = bundle_for("https://files.example", &["files:read"]);
        token_endpoint(&server, vec![with_refresh(&bundle, "files:read", "r-1")]).await;
        let service = service(&server, OAuthClient::public(CLIENT_ID)).await;
        let request = PassportRequest::new("https://files.example").scope("files:read");

        let browser = FakeBrowser::new(&server.uri(), Tamper::None);
        let issued = service
            .authorization_code(&browser, &request)
            .await
            .unwrap();
        assert_eq!(issued.credentials.bundle(), bundle);
        let refresh = issued.refresh_token.unwrap();
        assert_eq!(refresh.expose(), "r-1");
        assert_eq!(format!("{refresh:?}"), "RefreshToken([redacted])");
        let asked = &browser.urls()[0];
        assert_eq!(asked["response_type"], "code");
        assert_eq!(asked["client_id"], CLIENT_ID);
        assert_eq!(asked["redirect_uri"], REDIRECT);
        assert_eq!(asked["scope"], "files:read");
        assert_eq!(asked["resource"], "https://files.example");
        assert_eq!(asked["code_challenge_method"], "S256");
        assert!(asked["state"].len() >= 43, "256 random bits");
        let sent = requests_to(&server, "/token").await;
        let form = form_of(&sent[0]);
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["code"], "code-1");
        assert_eq!(form["redirect_uri"], REDIRECT);
        assert_eq!(form["client_id"], CLIENT_ID, "a public client names itself");
        assert!(header(&sent[0], "authorization").is_none());
        let verifier =
            passport_oidc::PkceVerifier::from_string(form["code_verifier"].clone()).unwrap();
        assert_eq!(verifier.challenge_s256(), asked["code_challenge"]);

        // tampered redirects: refused before the code is redeemed
        for (tamper, code) in [
            (Tamper::State, "state_mismatch"),
            (Tamper::Iss, "issuer_mismatch"),
            (Tamper::NoIss, "issuer_mismatch"),
        ] {
            let browser = FakeBrowser::new(&server.uri(), tamper);
            let err = service
                .authorization_code(&browser, &request)
                .await
                .unwrap_err();
            assert_eq!(err.code(), code, "{err}");
        }
        assert_eq!(requests_to(&server, "/token").await.len(), 1);

        // without RFC 9207 advertised, a response without `iss` is accepted
        // (a wrong one never is)
        let old = authorization_server(None, false).await;
        token_endpoint(&old, vec![with_refresh(&bundle, "files:read", "r-1")]).await;
        let service = service_for(&old).await;
        let browser = FakeBrowser::new(&old.uri(), Tamper::NoIss);
        assert!(service.authorization_code(&browser, &request).await.is_ok());
        let browser = FakeBrowser::new(&old.uri(), Tamper::Iss);
        let err = service
            .authorization_code(&browser, &request)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "issuer_mismatch");
    })
    .await;
}

/// Final review, finding 5: a renewal whose passport cannot be read is
/// refused, but the server has rotated the grant all the same; the next
/// renewal presents the new refresh token, not the spent one (whose reuse
/// would end the grant).
#[tokio::test]
async fn a_refused_renewal_keeps_the_rotated_refresh_token() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let b1 = bundle_for("https://files.example", &["files:read"]);
        let b3 = bundle_for("https://files.example", &["files:read"]);
        let (passport, _browser) = signed_in(
            &server,
            PassportRequest::new("https://files.example").scope("files:read"),
            vec![
                with_refresh(&b1, "files:read", "r-1"),
                with_refresh("not-a-passport", "files:read", "r-2"),
                with_refresh(&b3, "files:read", "r-3"),
            ],
        )
        .await;
        let err = passport.renew().await.unwrap_err();
        assert_eq!(err.code(), "invalid_token_response");
        assert_eq!(passport.current().bundle(), b1, "the last good passport");
        assert_eq!(passport.refresh_token().unwrap().expose(), "r-2");
        assert_eq!(passport.renew().await.unwrap().bundle(), b3);
        let sent = requests_to(&server, "/token").await;
        let forms: Vec<_> = sent.iter().map(form_of).collect();
        assert_eq!(forms[2]["refresh_token"], "r-2", "the rotated one, not r-1");
    })
    .await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_newest_is_kept() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let b1 = bundle_for("https://files.example", &["files:read"]);
        let b2 = bundle_for("https://files.example", &["files:read"]);
        let b3 = bundle_for("https://files.example", &["files:read"]);
        let (passport, browser) = signed_in(
            &server,
            PassportRequest::new("https://files.example").scope("files:read"),
            vec![
                with_refresh(&b1, "files:read", "r-1"),
                with_refresh(&b2, "files:read", "r-2"),
                with_refresh(&b3, "files:read", "r-3"),
            ],
        )
        .await;
        assert_eq!(passport.refresh_token().unwrap().expose(), "r-1");
        assert!(!format!("{passport:?}").contains("r-1"), "{passport:?}");
        assert_eq!(passport.renew().await.unwrap().bundle(), b2);
        assert_eq!(passport.refresh_token().unwrap().expose(), "r-2");
        assert_eq!(passport.renew().await.unwrap().bundle(), b3);
        assert_eq!(passport.current().bundle(), b3);

        let sent = requests_to(&server, "/token").await;
        let forms: Vec<_> = sent.iter().map(form_of).collect();
        assert_eq!(forms[1]["grant_type"], "refresh_token");
        assert_eq!(forms[1]["refresh_token"], "r-1");
        assert_eq!(forms[2]["refresh_token"], "r-2", "the rotated one, not r-1");
        assert_eq!(forms[2]["resource"], "https://files.example");
        assert_eq!(browser.urls().len(), 1, "no new consent to renew");
    })
    .await;
}

/// `expires_in` is only RECOMMENDED (RFC 6749 §5.1): a server may send
/// none, or one running past the passport's own `exp`. The passport is
/// renewed by the sooner of the two, so an expired passport is never sent;
/// a token whose passport cannot be read (its expiry unknown) is refused.
#[tokio::test]
async fn a_service_passport_is_renewed_by_its_own_exp_whatever_expires_in_says() {
    bounded(async {
        const AUD: &str = "https://files.example";
        for expires_in in [None, Some(3600)] {
            let server = authorization_server(None, true).await;
            let kit = Kit::at(SystemClock.now(), AUD);
            let mint = |ttl: u64| {
                kit.issue(
                    issuance(alice_ial2(), AUD, "agent-a", "model-a", &["files:read"]).ttl(ttl),
                )
                .bundle()
                .to_owned()
            };
            let (b1, b2) = (mint(100), mint(300));
            let answer = |bundle: &str| {
                let mut body =
                    json!({"access_token": bundle, "token_type": "Bearer", "scope": "files:read"});
                if let Some(secs) = expires_in {
                    body["expires_in"] = json!(secs);
                }
                ResponseTemplate::new(200).set_body_json(body)
            };
            token_endpoint(&server, vec![answer(&b1), answer(&b2)]).await;
            let service = TokenService::builder(&server.uri(), confidential())
                .clock(kit.clock.clone())
                .discover()
                .await
                .unwrap();
            let passport = ServicePassport::client_credentials(
                service,
                PassportRequest::new(AUD).scope("files:read"),
            )
            .await
            .unwrap();
            // 31 s before b1's `exp`: still b1, nothing asked
            kit.clock.advance(69);
            assert_eq!(
                passport.credentials().await.unwrap().bundle(),
                b1,
                "{expires_in:?}"
            );
            assert_eq!(requests_to(&server, "/token").await.len(), 1);
            // 30 s before: renewed, whatever `expires_in` said
            kit.clock.advance(1);
            assert_eq!(
                passport.credentials().await.unwrap().bundle(),
                b2,
                "{expires_in:?}"
            );
            assert_eq!(requests_to(&server, "/token").await.len(), 2);
            // and kept until its own renewal time
            kit.clock.advance(100);
            assert_eq!(
                passport.credentials().await.unwrap().bundle(),
                b2,
                "{expires_in:?}"
            );
            assert_eq!(requests_to(&server, "/token").await.len(), 2);
        }

        // a token that is not a readable passport: its expiry is unknown
        let server = authorization_server(None, true).await;
        token_endpoint(
            &server,
            vec![
                ResponseTemplate::new(200).set_body_json(
                    json!({"access_token": "not-a-passport", "token_type": "Bearer"}),
                ),
            ],
        )
        .await;
        let err = ServicePassport::client_credentials(
            service_for(&server).await,
            PassportRequest::new(AUD).scope("files:read"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "invalid_token_response", "{err}");
    })
    .await;
}

/// A resource server at `/upload` that accepts only the bundle set in
/// `accepted` (its proof unchecked) and refuses anything else with
/// `insufficient_scope` naming `files:write`.
pub(crate) struct ResourceServer {
    pub(crate) server: MockServer,
    accepted: Arc<Mutex<Option<String>>>,
}

impl ResourceServer {
    pub(crate) async fn start() -> ResourceServer {
        let server = MockServer::start().await;
        let accepted: Arc<Mutex<Option<String>>> = Arc::default();
        let shared = accepted.clone();
        Mock::given(path("/upload"))
            .respond_with(move |request: &Request| {
                let ok = shared.lock().unwrap().clone();
                match (ok, header(request, "authorization")) {
                    (Some(ok), Some(auth))
                        if auth == format!("Bearer {ok}") || auth == format!("DPoP {ok}") =>
                    {
                        ResponseTemplate::new(200).set_body_json(json!({"ok": true}))
                    }
                    _ => ResponseTemplate::new(403).insert_header(
                        "www-authenticate",
                        r#"Bearer error="insufficient_scope", scope="files:write""#,
                    ),
                }
            })
            .mount(&server)
            .await;
        ResourceServer { server, accepted }
    }

    fn accept(&self, bundle: &str) {
        *self.accepted.lock().unwrap() = Some(bundle.to_owned());
    }

    pub(crate) fn upload(&self) -> String {
        format!("{}/upload", self.server.uri())
    }

    async fn authorizations(&self) -> Vec<String> {
        requests_to(&self.server, "/upload")
            .await
            .iter()
            .map(|r| header(r, "authorization").unwrap_or_default())
            .collect()
    }
}

#[tokio::test]
async fn insufficient_scope_steps_up_with_consent_and_retries_once() {
    bounded(async {
        let authz = authorization_server(None, true).await;
        let rs = ResourceServer::start().await;
        let b1 = bundle_for(&rs.server.uri(), &["files:read"]);
        let b2 = bundle_for(&rs.server.uri(), &["files:read", "files:write"]);
        rs.accept(&b2);
        let (passport, browser) = signed_in(
            &authz,
            PassportRequest::new(rs.server.uri()).scope("files:read"),
            vec![
                with_refresh(&b1, "files:read", "r-1"),
                with_refresh(&b2, "files:read files:write", "r-2"),
            ],
        )
        .await;
        let client = PassportClient::builder(passport).build();
        let answer = client
            .post_json(&rs.upload(), &json!({"f": 1}))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            rs.authorizations().await,
            [format!("Bearer {b1}"), format!("Bearer {b2}")],
            "refused once, then retried once with the wider passport"
        );
        // the person was asked again, for the passport's scopes and the
        // challenge's — nothing else
        let asked = browser.urls();
        assert_eq!(asked.len(), 2);
        assert_eq!(asked[1]["scope"], "files:read files:write");
        assert_eq!(asked[1]["resource"], rs.server.uri());
        // the body went again too
        let bodies = requests_to(&rs.server, "/upload").await;
        assert_eq!(bodies[1].body, bodies[0].body);
    })
    .await;
}

/// A workload's client holding a `files:read` passport for `rs`, whose
/// token service answers a step-up with `stepped` (granted `files:read
/// files:write`). Returns the client and its first bundle.
async fn workload_stepping_up_to(
    authz: &MockServer,
    rs: &ResourceServer,
    stepped: &str,
) -> (PassportClient, String) {
    let first = bundle_for(&rs.server.uri(), &["files:read"]);
    token_endpoint(
        authz,
        vec![
            ResponseTemplate::new(200).set_body_json(token(&first, "Bearer", "files:read")),
            ResponseTemplate::new(200).set_body_json(token(
                stepped,
                "Bearer",
                "files:read files:write",
            )),
        ],
    )
    .await;
    let passport = ServicePassport::client_credentials(
        service_for(authz).await,
        PassportRequest::new(rs.server.uri()).scope("files:read"),
    )
    .await
    .unwrap();
    (PassportClient::builder(passport).build(), first)
}

#[tokio::test]
async fn a_second_refusal_is_returned_and_nothing_loops() {
    bounded(async {
        let authz = authorization_server(None, true).await;
        let rs = ResourceServer::start().await; // accepts nothing
        let b2 = bundle_for(&rs.server.uri(), &["files:read", "files:write"]);
        let (client, _) = workload_stepping_up_to(&authz, &rs, &b2).await;
        let answer = client.post_json(&rs.upload(), &json!({})).await.unwrap();
        assert_eq!(answer.status(), 403, "the second refusal, as is");
        assert_eq!(rs.authorizations().await.len(), 2);
        let asked = requests_to(&authz, "/token").await;
        assert_eq!(asked.len(), 2, "one step-up");
        assert_eq!(form_of(&asked[1])["scope"], "files:read files:write");

        // the passport now holds files:write: a challenge for it again asks
        // for nothing (it could not help) and is answered as is
        let answer = client.post_json(&rs.upload(), &json!({})).await.unwrap();
        assert_eq!(answer.status(), 403);
        assert_eq!(rs.authorizations().await.len(), 3);
        assert_eq!(requests_to(&authz, "/token").await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_sub_agent_steps_up_by_a_new_exchange_from_its_parent() {
    bounded(async {
        let authz = authorization_server(None, true).await;
        let rs = ResourceServer::start().await;
        let parent = bundle_for(&rs.server.uri(), &["files:*"]);
        let c1 = bundle_for(&rs.server.uri(), &["files:read"]);
        let c2 = bundle_for(&rs.server.uri(), &["files:read", "files:write"]);
        rs.accept(&c2);
        token_endpoint(
            &authz,
            vec![
                ResponseTemplate::new(200).set_body_json(token(&c1, "DPoP", "files:read")),
                ResponseTemplate::new(200).set_body_json(token(
                    &c2,
                    "DPoP",
                    "files:read files:write",
                )),
            ],
        )
        .await;
        let sub_key = key();
        let jkt = sub_key.jkt().to_owned();
        let passport = ServicePassport::exchange(
            service_for(&authz).await,
            passport_agent::Credentials::new(parent.clone(), None),
            PassportRequest::new(rs.server.uri())
                .scope("files:read")
                .dpop_key(sub_key),
        )
        .await
        .unwrap();
        let client = PassportClient::builder(passport).build();
        let answer = client.get(&rs.upload()).await.unwrap();
        assert_eq!(answer.status(), 200);
        let sent = requests_to(&authz, "/token").await;
        assert_eq!(sent.len(), 2);
        let forms: Vec<_> = sent.iter().map(form_of).collect();
        assert_eq!(forms[1]["subject_token"], parent, "from the parent again");
        assert_eq!(forms[1]["scope"], "files:read files:write");
        for request in &sent {
            let proof = header(request, "dpop").unwrap();
            DpopVerifier::new(DpopPolicy::default(), Arc::new(SystemClock))
                .verify(
                    &[&proof],
                    "POST",
                    &format!("{}/token", authz.uri()),
                    None,
                    Some(&jkt),
                )
                .unwrap();
        }
        let seen = rs.authorizations().await;
        assert_eq!(seen, [format!("DPoP {c1}"), format!("DPoP {c2}")]);
    })
    .await;
}

#[tokio::test]
async fn a_stepped_up_passport_for_another_origin_is_not_sent() {
    bounded(async {
        let authz = authorization_server(None, true).await;
        let rs = ResourceServer::start().await;
        let elsewhere = MockServer::start().await;
        let foreign = bundle_for(&elsewhere.uri(), &["files:read", "files:write"]);
        let (client, b1) = workload_stepping_up_to(&authz, &rs, &foreign).await;
        let answer = client.get(&rs.upload()).await.unwrap();
        assert_eq!(answer.status(), 403);
        assert_eq!(
            rs.authorizations().await,
            [format!("Bearer {b1}")],
            "no retry with a passport for another audience"
        );
        assert!(elsewhere.received_requests().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_dpop_nonce_challenge_at_the_token_endpoint_is_answered_once() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let bundle = bundle_for("https://files.example", &["files:read"]);
        let nonce_please = |n: &str| {
            ResponseTemplate::new(400)
                .insert_header("dpop-nonce", n)
                .set_body_json(json!({"error": "use_dpop_nonce"}))
        };
        token_endpoint(
            &server,
            vec![
                nonce_please("n-1"),
                ResponseTemplate::new(200).set_body_json(token(&bundle, "DPoP", "files:read")),
            ],
        )
        .await;
        let service = service_for(&server).await;
        let request = PassportRequest::new("https://files.example").dpop_key(key());
        let issued = service.client_credentials(&request).await.unwrap();
        assert_eq!(issued.credentials.bundle(), bundle);
        let sent = requests_to(&server, "/token").await;
        assert_eq!(sent.len(), 2);
        assert!(proof_claims(&sent[0]).get("nonce").is_none());
        assert_eq!(proof_claims(&sent[1])["nonce"], "n-1");
        assert_ne!(proof_claims(&sent[0])["jti"], proof_claims(&sent[1])["jti"]);
        // the nonce is kept for the next request
        service.client_credentials(&request).await.unwrap();
        let sent = requests_to(&server, "/token").await;
        assert_eq!(proof_claims(&sent[2])["nonce"], "n-1");

        // a server that asks again and again gets one retry
        let greedy = authorization_server(None, true).await;
        let next = AtomicUsize::new(0);
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(move |_: &Request| {
                nonce_please(&format!("n-{}", next.fetch_add(1, Ordering::SeqCst)))
            })
            .mount(&greedy)
            .await;
        let err = service_for(&greedy)
            .await
            .client_credentials(&request)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::TokenRefused { error, .. } if error == "use_dpop_nonce"),
            "{err:?}"
        );
        assert_eq!(requests_to(&greedy, "/token").await.len(), 2);

        // without a key there is no proof, so no retry
        let bearer = authorization_server(None, true).await;
        token_endpoint(&bearer, vec![nonce_please("n-1")]).await;
        let err = service_for(&bearer)
            .await
            .client_credentials(&PassportRequest::new("https://files.example"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "token_request_refused");
        assert_eq!(requests_to(&bearer, "/token").await.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_user_agent_receives_the_redirect() {
    bounded(async {
        let server = authorization_server(None, true).await;
        let bundle = bundle_for("https://files.example", &["files:read"]);
        token_endpoint(&server, vec![with_refresh(&bundle, "files:read", "r-1")]).await;
        let issuer = server.uri();
        // the "browser": follows the authorization URL straight back to the
        // redirect URI, as a server that consents at once would
        let browser = LoopbackUserAgent::new("http://127.0.0.1:0/callback", move |url| {
            let query: HashMap<String, String> = url::Url::parse(url)
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
            let mut redirect = url::Url::parse(&query["redirect_uri"]).unwrap();
            redirect
                .query_pairs_mut()
                .append_pair("code", "loop-code")
                .append_pair("state", &query["state"])
                .append_pair("iss", &issuer);
            tokio::spawn(async move {
                let page = reqwest::get(redirect).await.unwrap();
                assert_eq!(page.status(), 200);
            });
        })
        .timeout(std::time::Duration::from_secs(10));
        let issued = service(&server, OAuthClient::public(CLIENT_ID))
            .await
            .authorization_code(&browser, &PassportRequest::new("https://files.example"))
            .await
            .unwrap();
        assert_eq!(issued.credentials.bundle(), bundle);
        let form = form_of(&requests_to(&server, "/token").await[0]);
        assert_eq!(form["code"], "loop-code");
        assert!(form["redirect_uri"].starts_with("http://127.0.0.1:"));
        assert!(!form["redirect_uri"].starts_with("http://127.0.0.1:0/"));

        // nobody comes back: login_timeout
        let idle = LoopbackUserAgent::new("http://127.0.0.1:0/callback", |_| {})
            .timeout(std::time::Duration::from_millis(50));
        let err = service(&server, OAuthClient::public(CLIENT_ID))
            .await
            .authorization_code(&idle, &PassportRequest::new("https://files.example"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "login_timeout");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_passport_server_issues_by_client_credentials_and_exchange() {
    bounded(async {
        let token_server = TokenServer::start(SystemClock.now(), |b| b).await;
        let (issuer, server) = (token_server.issuer.clone(), &token_server.server);
        let orchestrator = server.register_workload_client("alice", "files:*").await.unwrap();
        let reader = server.register_workload_client("alice", "files:read").await.unwrap();
        let client = |w: &passport_server::WorkloadClient| {
            OAuthClient::with_secret(w.client_id.clone(), ClientSecret::new(w.secret.expose()))
        };

        let agent = TokenService::discover(&issuer, client(&orchestrator)).await.unwrap();
        let parent = agent
            .client_credentials(
                &PassportRequest::new("https://files.example/api")
                    .scope("files:read")
                    .scope("files:write"),
            )
            .await
            .unwrap();
        assert_eq!(parent.scopes, ["files:read", "files:write"]);

        // The orchestrator delegates to a sub-agent whose key it provisions:
        // a bearer passport is exchanged only by the client that holds it
        // (another client presenting it is refused: RFC 8707 audience
        // restriction), and the child is bound to the sub-agent's key.
        let stranger = TokenService::discover(&issuer, client(&reader)).await.unwrap();
        let err = stranger
            .exchange(
                parent.credentials.bundle(),
                &PassportRequest::new("https://files.example/api").scope("files:read"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::TokenRefused { status: 400, error, .. } if error == "invalid_grant"),
            "{err:?}"
        );
        let sub_key = key();
        let jkt = sub_key.jkt().to_owned();
        let child = agent
            .exchange(
                parent.credentials.bundle(),
                &PassportRequest::new("https://files.example/api")
                    .scope("files:read")
                    .dpop_key(sub_key),
            )
            .await
            .unwrap();
        assert_eq!(child.scopes, ["files:read"]);
        let chain: Vec<_> = UnverifiedBundle::parse(child.credentials.bundle())
            .unwrap()
            .inspect_unverified()
            .into_iter()
            .map(|l| l.unwrap().claims)
            .collect();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].cnf_jkt.as_deref(), Some(jkt.as_str()));
        assert_eq!(chain[0].agent.parent_jti.as_deref(), Some(chain[1].jti.as_str()));

        // a wider child is refused with the server's OAuth error
        let err = agent
            .exchange(
                parent.credentials.bundle(),
                &PassportRequest::new("https://files.example/api").scope("mail:send"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::TokenRefused { status: 400, error, .. } if error == "invalid_scope"),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_passport_server_hands_a_child_to_the_actor_that_holds_its_own_key() {
    bounded(async {
        let token_server = TokenServer::start(SystemClock.now(), |b| b.dpop_nonces(true)).await;
        let (issuer, server) = (token_server.issuer.clone(), &token_server.server);
        let orchestrator = server
            .register_workload_client("alice", "files:*")
            .await
            .unwrap();
        let reader = server
            .register_workload_client("alice", "files:read")
            .await
            .unwrap();
        let client = |w: &passport_server::WorkloadClient| {
            OAuthClient::with_secret(w.client_id.clone(), ClientSecret::new(w.secret.expose()))
        };
        const API: &str = "https://files.example/api";

        // each agent holds its own key and its own bound passport
        let (agent_key, sub_key) = (Arc::new(key()), key());
        let sub_jkt = sub_key.jkt().to_owned();
        let agent = TokenService::discover(&issuer, client(&orchestrator))
            .await
            .unwrap();
        let parent = agent
            .client_credentials(
                &PassportRequest::new(API)
                    .scope("files:read")
                    .scope("files:write")
                    .shared_dpop_key(agent_key.clone()),
            )
            .await
            .unwrap();
        let sub_agent = TokenService::discover(&issuer, client(&reader))
            .await
            .unwrap();
        let own = sub_agent
            .client_credentials(
                &PassportRequest::new(API)
                    .scope("files:read")
                    .dpop_key(sub_key),
            )
            .await
            .unwrap();

        let child = agent
            .exchange_for_actor(
                parent.credentials.bundle(),
                own.credentials.bundle(),
                &PassportRequest::new(API)
                    .scope("files:read")
                    .shared_dpop_key(agent_key),
            )
            .await
            .unwrap();
        assert_eq!(child.scopes, ["files:read"]);
        // the agent does not hold the child's key
        assert!(child.credentials.key().is_none());
        let leaf = UnverifiedBundle::parse(child.credentials.bundle())
            .unwrap()
            .inspect_unverified()
            .remove(0)
            .unwrap()
            .claims;
        assert_eq!(leaf.cnf_jkt.as_deref(), Some(sub_jkt.as_str()));
        assert_eq!(leaf.agent.agent_id.as_str(), reader.client_id);
    })
    .await;
}

/// Where the real server sends the person's browser back to.
const CODE_REDIRECT: &str = "http://127.0.0.1:9/agent/callback";

/// A browser that follows every hop by hand — the token service's
/// `/authorize`, the upstream provider's login, the service's callback
/// (auto-consent) — until the redirect to [`CODE_REDIRECT`].
struct HopBrowser {
    http: reqwest::Client,
    authorizations: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl UserAgent for HopBrowser {
    async fn authorize(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, ClientError> {
        self.authorizations.fetch_add(1, Ordering::SeqCst);
        let mut url = url::Url::parse(&request.url(CODE_REDIRECT)).unwrap();
        for _ in 0..8 {
            if url.as_str().starts_with(CODE_REDIRECT) {
                let params = url.query_pairs().into_owned().collect();
                return Ok(AuthorizationResponse::new(CODE_REDIRECT, params));
            }
            let response = self.http.get(url.clone()).send().await.unwrap();
            assert!(
                response.status().is_redirection(),
                "{} at {url}",
                response.status()
            );
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            url = url.join(&location).unwrap();
        }
        panic!("no redirect back after 8 hops");
    }
}

/// A resource server that accepts a passport whose leaf holds
/// `files:write` and otherwise answers `insufficient_scope` for it.
async fn scope_checking_resource_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/upload"))
        .respond_with(|request: &Request| {
            let bundle = header(request, "authorization")
                .and_then(|a| a.split_once(' ').map(|(_, b)| b.to_owned()))
                .unwrap_or_default();
            let writes = UnverifiedBundle::parse(&bundle)
                .ok()
                .and_then(|b| b.inspect_unverified().into_iter().next())
                .and_then(Result::ok)
                .is_some_and(|leaf| {
                    leaf.claims
                        .agent
                        .tool_scope
                        .iter()
                        .any(|p| p.as_str() == "files:write")
                });
            if writes {
                ResponseTemplate::new(200)
            } else {
                ResponseTemplate::new(403).insert_header(
                    "www-authenticate",
                    r#"DPoP error="insufficient_scope", scope="files:write""#,
                )
            }
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_passport_server_runs_the_code_flow_with_nonces_refresh_and_step_up() {
    bounded(async {
        use passport_store::server::{ClientKind, NewClient};

        let mock = passport_mock_oidc::MockOidc::builder()
            .redirect_path("/authorize/callback")
            .start()
            .await
            .unwrap();
        let upstream = passport_oidc::Provider::new(passport_oidc::OidcConfig::new(
            mock.discovery_url(),
            mock.client_id(),
        ))
        .unwrap();
        let token_server = TokenServer::start(SystemClock.now(), |b| b.upstream(upstream).auto_consent(true).dpop_nonces(true)).await;
        let (issuer, server) = (token_server.issuer.clone(), &token_server.server);
        // a public client (`none`), as an agent on a person's machine is
        server
            .database()
            .insert_client(NewClient {
                client_id: "person-agent".into(),
                kind: ClientKind::Public,
                secret_hash: None,
                auth_method: "none".into(),
                redirect_uris: vec![CODE_REDIRECT.into()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                scopes: "files:read files:write".into(),
                owner: None,
                jwks: None,
                metadata: "{}".into(),
                created_at: SystemClock.now(),
            })
            .await
            .unwrap();
        let rs = scope_checking_resource_server().await;

        let service = TokenService::discover(
            &issuer,
            OAuthClient::public("person-agent"),
        )
        .await
        .unwrap();
        assert!(service.metadata().authorization_response_iss_parameter_supported);
        let authorizations = Arc::new(AtomicUsize::new(0));
        let browser = HopBrowser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            authorizations: authorizations.clone(),
        };
        let key = Arc::new(key());
        let jkt = key.jkt().to_owned();
        // every token request meets the server's nonce challenge first
        let passport = ServicePassport::authorization_code(
            service.clone(),
            browser,
            PassportRequest::new(rs.uri())
                .scope("files:read")
                .shared_dpop_key(key.clone()),
        )
        .await
        .unwrap();
        assert_eq!(passport.scopes(), ["files:read"]);
        let leaf = UnverifiedBundle::parse(passport.current().bundle())
            .unwrap()
            .inspect_unverified()
            .remove(0)
            .unwrap()
            .claims;
        assert_eq!(leaf.cnf_jkt.as_deref(), Some(jkt.as_str()));
        assert_eq!(leaf.aud, rs.uri());

        // refresh: rotated; the old refresh token is dead afterwards
        let first = passport.refresh_token().unwrap();
        let before = passport.current();
        let renewed = passport.renew().await.unwrap();
        assert_ne!(renewed.bundle(), before.bundle(), "a new passport");
        assert_eq!(renewed.key().unwrap().jkt(), jkt, "bound to the same key");
        let second = passport.refresh_token().unwrap();
        assert_ne!(first, second);

        // step-up: the server refuses files:write, the person consents
        // again (auto-consent), the upload goes once more and passes
        let client = PassportClient::builder(passport).build();
        let upload = format!("{}/upload", rs.uri());
        let answer = client.post_json(&upload, &json!({"f": 1})).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(authorizations.load(Ordering::SeqCst), 2);
        assert_eq!(requests_to(&rs, "/upload").await.len(), 2);

        // reusing the rotated-out refresh token is refused (and revokes
        // its family at the server)
        let err = service
            .refresh(&first, &PassportRequest::new(rs.uri()).shared_dpop_key(key))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::TokenRefused { status: 400, error, .. } if error == "invalid_grant"),
            "{err:?}"
        );
    })
    .await;
}
