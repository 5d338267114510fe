//! The code exchange against a wiremock token endpoint: what the request
//! carries (PKCE verifier, client authentication) and how every unusable
//! answer becomes `token_exchange_failed`. The test plays the browser by
//! delivering the callback straight to the loopback listener.

use std::time::Duration;

use passport_jose::{Algorithm, JwkSet, SigningKey};
use passport_oidc::{
    ClientSecret, LoginOptions, LoginResult, OidcConfig, OidcError, Provider, login,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use url::Url;
use wiremock::matchers::{basic_auth, body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::bounded;
use crate::provider_faults::discovery_doc;

const WELL_KNOWN: &str = "/.well-known/openid-configuration";
const CODE: &str = "the-code";

struct Idp {
    server: MockServer,
    key: SigningKey,
}

/// What the authorization request asked for.
struct Asked {
    nonce: String,
    challenge: String,
}

impl Idp {
    async fn start(tweak_discovery: impl FnOnce(&mut Value)) -> Idp {
        let idp = Idp {
            server: MockServer::start().await,
            key: SigningKey::generate(Algorithm::EdDSA).unwrap(),
        };
        let mut doc = discovery_doc(&idp.server.uri());
        tweak_discovery(&mut doc);
        idp.get(WELL_KNOWN, ResponseTemplate::new(200).set_body_json(doc))
            .await;
        let jwks = JwkSet::from_keys([idp.key.verifying_key()])
            .unwrap()
            .to_json();
        idp.get("/jwks", ResponseTemplate::new(200).set_body_json(jwks))
            .await;
        idp
    }

    async fn get(&self, route: &str, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    fn provider(&self, secret: Option<&str>) -> Provider {
        let mut config = OidcConfig::new(format!("{}{WELL_KNOWN}", self.server.uri()), "client");
        config.http_timeout = Duration::from_millis(500);
        config.redirect_uri = "http://127.0.0.1/callback".into();
        config.client_secret = secret.map(ClientSecret::new);
        Provider::new(config).unwrap()
    }

    fn id_token(&self, nonce: &str) -> String {
        let now = passport_claims::Clock::now(&passport_claims::SystemClock);
        let claims = json!({"iss": self.server.uri(), "sub": "alice", "aud": "client",
            "iat": now, "exp": now + 60, "nonce": nonce});
        self.key
            .sign_compact(Some("JWT"), claims.to_string().as_bytes())
            .unwrap()
    }

    fn tokens(&self, nonce: &str) -> Value {
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60,
            "id_token": self.id_token(nonce)})
    }

    /// Runs a login: once the authorization URL is known, `token_endpoint`
    /// mounts the token endpoint, then the callback is delivered.
    async fn login<'a>(
        &'a self,
        secret: Option<&str>,
        token_endpoint: impl AsyncFnOnce(&'a Idp, Asked) + 'a,
    ) -> Result<LoginResult, OidcError> {
        let provider = self.provider(secret);
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let options = LoginOptions::new()
            .open_browser(false)
            .port(0)
            .timeout(Duration::from_secs(10))
            .url_sink(move |url| {
                let _ = tx.send(url.to_owned());
            });
        let browse = async {
            let auth_url = Url::parse(&rx.recv().await.unwrap()).unwrap();
            let q = |name: &str| {
                auth_url
                    .query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .unwrap()
            };
            let asked = Asked {
                nonce: q("nonce"),
                challenge: q("code_challenge"),
            };
            token_endpoint(self, asked).await;
            let mut callback = Url::parse(&q("redirect_uri")).unwrap();
            callback
                .query_pairs_mut()
                .append_pair("code", CODE)
                .append_pair("state", &q("state"));
            reqwest::get(callback).await.unwrap().status()
        };
        let (result, status) =
            bounded(async { tokio::join!(login(&provider, options), browse) }).await;
        assert_eq!(status, 200);
        result
    }

    async fn token_requests(&self) -> Vec<wiremock::Request> {
        let all = self.server.received_requests().await.unwrap();
        all.into_iter()
            .filter(|r| r.url.path() == "/token")
            .collect()
    }
}

fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A token endpoint that answers `response` to any POST.
async fn answer(idp: &Idp, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(response)
        .mount(&idp.server)
        .await;
}

async fn exchange_error(response: impl FnOnce(&Idp, &str) -> ResponseTemplate) -> OidcError {
    let idp = Idp::start(|_| {}).await;
    let result = idp
        .login(None, async |idp, asked| {
            answer(idp, response(idp, &asked.nonce)).await
        })
        .await;
    result.unwrap_err()
}

#[tokio::test]
async fn a_public_client_sends_the_code_the_verifier_and_its_id() {
    let idp = Idp::start(|_| {}).await;
    let mut challenge = String::new();
    let result = idp
        .login(None, async |idp, asked| {
            challenge = asked.challenge.clone();
            answer(
                idp,
                ResponseTemplate::new(200).set_body_json(idp.tokens(&asked.nonce)),
            )
            .await
        })
        .await
        .unwrap();
    assert_eq!(result.assertion.subject, "alice");
    assert_eq!(result.access_token.as_str(), "at");

    let requests = idp.token_requests().await;
    assert_eq!(requests.len(), 1);
    let form = form(&requests[0]);
    assert_eq!(field(&form, "grant_type"), Some("authorization_code"));
    assert_eq!(field(&form, "code"), Some(CODE));
    assert_eq!(field(&form, "client_id"), Some("client"));
    assert_eq!(
        field(&form, "redirect_uri"),
        Some(result.redirect_uri.as_str())
    );
    assert_eq!(field(&form, "client_secret"), None);
    assert!(!requests[0].headers.contains_key("authorization"));
    // The verifier sent is the one whose S256 challenge was in the URL.
    let verifier =
        passport_oidc::PkceVerifier::from_string(field(&form, "code_verifier").unwrap()).unwrap();
    assert_eq!(verifier.challenge_s256(), challenge);
}

#[tokio::test]
async fn a_confidential_client_uses_client_secret_basic_by_default() {
    let idp = Idp::start(|_| {}).await;
    let result = idp
        .login(Some("s3cr:t/&"), async |idp, asked| {
            // RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
            Mock::given(method("POST"))
                .and(path("/token"))
                .and(basic_auth("client", "s3cr%3At%2F%26"))
                .respond_with(ResponseTemplate::new(200).set_body_json(idp.tokens(&asked.nonce)))
                .mount(&idp.server)
                .await
        })
        .await;
    assert_eq!(result.unwrap().assertion.subject, "alice");
    let form = form(&idp.token_requests().await[0]);
    assert_eq!(field(&form, "client_secret"), None);
}

#[tokio::test]
async fn client_secret_post_when_it_is_all_the_provider_offers() {
    let idp = Idp::start(|doc| {
        doc["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]);
    })
    .await;
    let result = idp
        .login(Some("s3cr:t/&"), async |idp, asked| {
            Mock::given(method("POST"))
                .and(path("/token"))
                .and(body_string_contains("client_secret=s3cr%3At%2F%26"))
                .respond_with(ResponseTemplate::new(200).set_body_json(idp.tokens(&asked.nonce)))
                .mount(&idp.server)
                .await
        })
        .await;
    assert_eq!(result.unwrap().assertion.subject, "alice");
    let requests = idp.token_requests().await;
    assert!(!requests[0].headers.contains_key("authorization"));
    assert_eq!(field(&form(&requests[0]), "client_id"), Some("client"));
}

#[tokio::test]
async fn an_oauth_error_response_is_reported() {
    let err = exchange_error(|_, _| {
        ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "code already used"}),
        )
    })
    .await;
    assert!(
        matches!(&err, OidcError::TokenExchangeFailed(m) if m == "invalid_grant: code already used"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_oversized_token_response_is_refused() {
    let err = exchange_error(|idp, nonce| {
        let mut tokens = idp.tokens(nonce);
        tokens["padding"] = "x".repeat(passport_oidc::MAX_RESPONSE_BYTES).into();
        ResponseTemplate::new(200).set_body_json(tokens)
    })
    .await;
    assert!(
        matches!(&err, OidcError::TokenExchangeFailed(m) if m.contains("larger than")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unusable_token_responses_are_token_exchange_failed() {
    type Case = fn(&Idp, &str) -> ResponseTemplate;
    let cases: [(&str, Case, &str); 7] = [
        (
            "no id_token",
            |_, _| {
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": "at", "token_type": "Bearer"}))
            },
            "no id_token",
        ),
        (
            "empty id_token",
            |_, _| {
                ResponseTemplate::new(200).set_body_json(
                    json!({"access_token": "at", "token_type": "Bearer", "id_token": ""}),
                )
            },
            "no id_token",
        ),
        (
            "no access_token (RFC 6749 §5.1)",
            |idp, nonce| {
                let mut t = idp.tokens(nonce);
                t.as_object_mut().unwrap().remove("access_token");
                ResponseTemplate::new(200).set_body_json(t)
            },
            "access_token",
        ),
        (
            "not JSON",
            |_, _| ResponseTemplate::new(200).set_body_raw("<html></html>", "application/json"),
            "not usable",
        ),
        (
            "not JSON by its content type",
            |idp, nonce| {
                ResponseTemplate::new(200).set_body_raw(idp.tokens(nonce).to_string(), "text/html")
            },
            "Content-Type",
        ),
        (
            "an error without a body",
            |_, _| ResponseTemplate::new(500),
            "empty",
        ),
        (
            "a redirect, not followed",
            |_, _| ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/token"),
            "",
        ),
    ];
    for (what, response, detail) in cases {
        let err = exchange_error(response).await;
        assert!(
            matches!(&err, OidcError::TokenExchangeFailed(m) if m.contains(detail)),
            "{what}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_stalled_token_endpoint_times_out() {
    let started = std::time::Instant::now();
    let err = exchange_error(|idp, nonce| {
        ResponseTemplate::new(200)
            .set_body_json(idp.tokens(nonce))
            .set_delay(Duration::from_secs(5))
    })
    .await;
    assert_eq!(err.code(), "token_exchange_failed", "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the HTTP timeout was not applied"
    );
}

#[tokio::test]
async fn the_id_token_must_carry_the_nonce_sent() {
    let err =
        exchange_error(|idp, _| ResponseTemplate::new(200).set_body_json(idp.tokens("another")))
            .await;
    assert!(matches!(err, OidcError::NonceMismatch), "{err:?}");
}
