//! The PKCE loopback login end to end against the mock provider, with the
//! test playing the browser: fetch the authorization URL without following
//! the redirect, then deliver the redirect to the loopback listener.

use std::time::Duration;

use passport_claims::{Assurance, Level};
use passport_mock_oidc::{Endpoint, Fault, MockOidc, MockOidcBuilder};
use passport_oidc::{LoginOptions, LoginResult, OidcConfig, OidcError, login};
use tokio::sync::mpsc;
use url::Url;

use crate::common::{Env, bounded, env_with};

/// What the browser saw: the status and body of the loopback page.
#[derive(Debug)]
struct BrowserVisit {
    status: u16,
    page: String,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows the authorization URL to the provider's redirect, lets `tamper`
/// rewrite the redirect, and delivers it to the loopback listener.
async fn play_browser(auth_url: &str, tamper: impl FnOnce(Url) -> Url) -> BrowserVisit {
    let client = browser();
    let response = client.get(auth_url).send().await.unwrap();
    assert_eq!(response.status(), 302, "the provider did not redirect");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let callback = tamper(Url::parse(&location).unwrap());
    let response = client.get(callback).send().await.unwrap();
    BrowserVisit {
        status: response.status().as_u16(),
        page: response.text().await.unwrap(),
    }
}

fn options(tx: mpsc::UnboundedSender<String>) -> LoginOptions {
    LoginOptions::new()
        .open_browser(false)
        .port(0)
        .timeout(Duration::from_secs(10))
        .url_sink(move |url| {
            let _ = tx.send(url.to_owned());
        })
}

async fn login_env(builder: MockOidcBuilder, tweak: impl FnOnce(&mut OidcConfig)) -> Env {
    env_with(builder, |c| {
        c.redirect_uri = "http://127.0.0.1:8765/callback".to_owned();
        c.scopes = vec!["openid".into(), "email".into()];
        tweak(c);
    })
    .await
}

/// Runs a login while the "browser" follows the URL with `tamper`.
async fn run_login(
    env: &Env,
    tamper: impl FnOnce(Url) -> Url,
) -> (Result<LoginResult, OidcError>, BrowserVisit, Url) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let browse = async {
        let auth_url = rx.recv().await.unwrap();
        let visit = play_browser(&auth_url, tamper).await;
        (visit, Url::parse(&auth_url).unwrap())
    };
    let (result, (visit, auth_url)) =
        bounded(async { tokio::join!(login(&env.provider, options(tx)), browse) }).await;
    (result, visit, auth_url)
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn set_query(mut url: Url, name: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

#[tokio::test]
async fn login_succeeds_end_to_end() {
    let builder = MockOidc::builder()
        .subject("bob")
        .acr("http://idmanagement.gov/ns/assurance/ial/2")
        .amr(["pwd", "mfa"]);
    let env = login_env(builder, |_| {}).await;
    let (result, visit, auth_url) = run_login(&env, |u| u).await;
    let result = result.unwrap();

    assert_eq!(visit.status, 200);
    assert!(
        visit
            .page
            .contains("Login finished; you can close this window."),
        "{}",
        visit.page
    );

    assert_eq!(result.assertion.subject, "bob");
    assert_eq!(result.assertion.issuer, env.mock.issuer());
    assert_eq!(
        result.assertion.acr.as_deref(),
        Some("http://idmanagement.gov/ns/assurance/ial/2")
    );
    // `ial/2` asserts the IAL only.
    assert_eq!(
        result.assertion.assurance,
        Assurance {
            ial: Some(Level::TWO),
            ..Assurance::none()
        }
    );
    assert!(!result.access_token.as_str().is_empty());
    assert!(
        !format!("{result:?}").contains(result.id_token.as_str()),
        "the ID token leaked into Debug"
    );

    // What was asked for: code flow, PKCE S256, fresh state and nonce, the
    // redirect URI with the port actually listened on.
    assert_eq!(query(&auth_url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query(&auth_url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query(&auth_url, "code_challenge").map(|c| c.len()),
        Some(43)
    );
    assert_eq!(query(&auth_url, "scope").as_deref(), Some("openid email"));
    assert!(query(&auth_url, "state").is_some_and(|s| s.len() >= 22));
    let nonce = query(&auth_url, "nonce").unwrap();
    assert!(nonce.len() >= 22);
    assert_eq!(
        result.assertion.raw_claims["nonce"],
        serde_json::Value::String(nonce)
    );
    let redirect = Url::parse(&query(&auth_url, "redirect_uri").unwrap()).unwrap();
    assert_eq!(redirect.as_str(), result.redirect_uri);
    assert_ne!(redirect.port(), Some(8765), "port(0) asked for a free port");
    assert_eq!(redirect.path(), "/callback");

    // One callback, then the listener is closed.
    assert!(
        browser().get(redirect.as_str()).send().await.is_err(),
        "the listener is still open"
    );
}

#[tokio::test]
async fn confidential_client_logs_in_with_its_secret() {
    let env = login_env(MockOidc::builder().client_secret("s3cr:t/&"), |c| {
        c.client_secret = Some(passport_oidc::ClientSecret::new("s3cr:t/&"));
    })
    .await;
    let (result, _, _) = run_login(&env, |u| u).await;
    assert_eq!(result.unwrap().assertion.subject, "alice");
}

#[tokio::test]
async fn wrong_client_secret_fails_the_exchange() {
    let env = login_env(MockOidc::builder().client_secret("right"), |c| {
        c.client_secret = Some(passport_oidc::ClientSecret::new("wrong"));
    })
    .await;
    let (result, _, _) = run_login(&env, |u| u).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, OidcError::TokenExchangeFailed(m) if m.contains("invalid_client")),
        "{err:?}"
    );
}

/// A request on the redirect path with another `state`, or none (an error
/// response too: RFC 6749 §4.1.2.1 has it carry the request's `state`), is
/// what any page open in the browser can send: answered 400, and the login
/// waits on for the real redirect, which completes it.
#[tokio::test]
async fn a_callback_with_another_state_is_refused_and_the_login_goes_on() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let browse = async {
        let auth_url = rx.recv().await.unwrap();
        let client = browser();
        let response = client.get(&auth_url).send().await.unwrap();
        let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let mut no_state = location.clone();
        no_state.set_query(None);
        no_state
            .query_pairs_mut()
            .append_pair("error", "access_denied");
        let forged = [
            set_query(location.clone(), "state", "forged-state"),
            no_state,
            Url::parse(&format!("{location}&state=forged-state")).unwrap(),
        ];
        for forged in forged {
            let answer = client.get(forged.as_str()).send().await.unwrap();
            assert_eq!(answer.status(), 400, "{forged}");
            assert!(answer.text().await.unwrap().contains("not the answer"));
        }
        let genuine = client.get(location).send().await.unwrap();
        assert_eq!(genuine.status(), 200);
    };
    let (result, ()) =
        bounded(async { tokio::join!(login(&env.provider, options(tx)), browse) }).await;
    assert_eq!(result.unwrap().assertion.subject, "alice");
    assert_eq!(env.mock.request_count(Endpoint::Token), 1);
}

/// With only forged callbacks, the login ends at its timeout, never on one
/// of them; nothing is exchanged.
#[tokio::test]
async fn only_forged_callbacks_end_the_login_at_its_timeout() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let browse = async {
        let auth_url = rx.recv().await.unwrap();
        let visit = play_browser(&auth_url, |u| set_query(u, "state", "forged-state")).await;
        assert_eq!(visit.status, 400);
    };
    let options = options(tx).timeout(Duration::from_millis(800));
    let (result, ()) = bounded(async { tokio::join!(login(&env.provider, options), browse) }).await;
    assert_eq!(result.unwrap_err().code(), "login_timeout");
    assert_eq!(env.mock.request_count(Endpoint::Token), 0);
}

#[tokio::test]
async fn provider_error_is_reported() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    env.mock.set_deny(true);
    let (result, visit, _) = run_login(&env, |u| u).await;
    match result.unwrap_err() {
        OidcError::ProviderError { error, description } => {
            assert_eq!(error, "access_denied");
            assert!(description.is_some());
        }
        other => panic!("expected provider_error, got {other:?}"),
    }
    assert!(visit.page.contains("provider_error"));
}

#[tokio::test]
async fn wrong_iss_in_the_authorization_response_is_refused() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    env.mock.set_fault(Endpoint::Authorize, Fault::WrongIssuer);
    let (result, _, _) = run_login(&env, |u| u).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            &err,
            OidcError::IssuerMismatch {
                context: "authorization response",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_iss_is_refused_when_the_provider_advertises_rfc9207() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    let strip_iss = |mut u: Url| {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "iss")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        u
    };
    let (result, _, _) = run_login(&env, strip_iss).await;
    assert_eq!(result.unwrap_err().code(), "issuer_mismatch");

    // A provider that does not advertise it may omit it.
    let env = login_env(MockOidc::builder().advertise_iss_parameter(false), |_| {}).await;
    let strip_iss = |mut u: Url| {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "iss")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        u
    };
    let (result, _, _) = run_login(&env, strip_iss).await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn id_token_from_another_issuer_fails_validation() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    env.mock.set_fault(Endpoint::Token, Fault::WrongIssuer);
    let (result, _, _) = run_login(&env, |u| u).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            &err,
            OidcError::IssuerMismatch {
                context: "ID token",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn login_times_out_without_a_callback() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    let (tx, _rx) = mpsc::unbounded_channel::<String>();
    let options = options(tx).timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = bounded(login(&env.provider, options)).await.unwrap_err();
    assert!(
        matches!(err, OidcError::LoginTimeout(d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn stray_requests_do_not_count_as_the_callback() {
    let env = login_env(MockOidc::builder(), |_| {}).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let browse = async {
        let auth_url = rx.recv().await.unwrap();
        let redirect =
            Url::parse(&query(&Url::parse(&auth_url).unwrap(), "redirect_uri").unwrap()).unwrap();
        // An idle pre-connected socket, as browsers open, must not block anything.
        let _idle = tokio::net::TcpStream::connect(redirect.socket_addrs(|| None).unwrap()[0])
            .await
            .unwrap();
        let favicon = redirect.join("/favicon.ico").unwrap();
        let response = browser().get(favicon).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let response = browser().post(redirect.clone()).send().await.unwrap();
        assert_eq!(response.status(), 405);
        play_browser(&auth_url, |u| u).await
    };
    let (result, visit) =
        bounded(async { tokio::join!(login(&env.provider, options(tx)), browse) }).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(visit.status, 200);
}

#[tokio::test]
async fn non_loopback_redirect_uri_is_a_configuration_error() {
    let env = login_env(MockOidc::builder(), |c| {
        c.redirect_uri = "https://app.example/callback".into()
    })
    .await;
    let (tx, _rx) = mpsc::unbounded_channel::<String>();
    let err = bounded(login(&env.provider, options(tx)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "config");
}
