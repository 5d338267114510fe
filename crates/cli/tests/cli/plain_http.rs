//! What the CLI fetches for an https issuer comes over https: its keys
//! (`verify --jwks`/`--trust`), its status list (`verify --status-list`),
//! the provider's discovery document (`login`, `serve`'s upstream). Plain
//! http only for an issuer on this machine, the rule of passport-remote.
//! Each refusal is `insecure_url`, exit 2, before any request.

use std::process::Stdio;

use passport_mock_oidc::MockOidc;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Env, assert_fails, stderr};

/// A server on 127.0.0.1 answering `body` to anything; the test checks it
/// was never asked.
async fn plain_http_server(body: String) -> MockServer {
    let server = MockServer::start().await;
    answer(&server, body).await;
    server
}

async fn answer(server: &MockServer, body: String) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(server)
        .await;
}

async fn assert_never_asked(server: &MockServer) {
    let received = server.received_requests().await.unwrap_or_default();
    assert!(
        received.is_empty(),
        "{} request(s) went out over plain http: {:?}",
        received.len(),
        received
            .iter()
            .map(|r| r.url.to_string())
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refuses_a_plain_http_provider_before_any_request() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    // Every plain-http request goes through this proxy, standing for an
    // attacker on the path: its discovery answer would name its own token
    // endpoint, and get the client secret, the code and the PKCE verifier.
    let proxy = plain_http_server(String::new()).await;
    // A typo: http for https.
    let mut cmd = env.cmd(&["login", "--no-browser", "--timeout", "1"]);
    cmd.env(
        "CSP_DISCOVERY_URL",
        "http://idp.example/.well-known/openid-configuration",
    )
    .env("CSP_CLIENT_SECRET", "s3cret-not-to-be-sent")
    .env("HTTP_PROXY", proxy.uri())
    .env("http_proxy", proxy.uri());
    let out = tokio::task::block_in_place(|| cmd.stdin(Stdio::null()).output().unwrap());
    assert_fails(&out, 2, "insecure_url");
    let err = stderr(&out);
    assert!(err.contains("http://idp.example"), "{err}");
    assert!(err.contains("loopback"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert_never_asked(&proxy).await;
}
