//! What the CLI fetches for an https issuer comes over https: its keys
//! (`verify --jwks`/`--trust`), its status list (`verify --status-list`),
//! the provider's discovery document (`login`, `serve`'s upstream). Plain
//! http only for an issuer on this machine, the rule of passport-remote.
//! Each refusal is `insecure_url`, exit 2, before any request.

use std::process::{Output, Stdio};

use passport_mock_oidc::MockOidc;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Env, LOOPBACK_ISSUER, assert_fails, stderr, stdout};

/// The default local issuer of the CLI.
const HTTPS_ISSUER: &str = "https://issuer.local";

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

fn run(env: &Env, args: &[&str]) -> Output {
    tokio::task::block_in_place(|| env.run(args))
}

/// `passport verify` of `root` with the keys at `jwks` and the status list
/// at `list` (a file or a URL).
fn verify_with_list(env: &Env, root: &str, jwks: &str, list: &str) -> Output {
    run(
        env,
        &[
            "verify",
            root,
            "--aud",
            "https://orch.example",
            "--jwks",
            jwks,
            "--status-list",
            list,
        ],
    )
}

fn assert_insecure(out: &Output) {
    assert_fails(out, 2, "insecure_url");
    assert!(!stdout(out).contains("valid"), "{}", stdout(out));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_refuses_an_https_issuers_keys_over_plain_http() {
    let mock = MockOidc::start().await;
    // An attacker with its own key, on the path of a plain-http request: it
    // signs a passport naming the https issuer and answers the JWKS request
    // with its own key, which would make the forgery `valid`.
    let attacker = Env::new(&mock);
    attacker.login_with_token(&mock);
    let forged = attacker.issue(&["files:read"]);
    let server = plain_http_server(stdout(&attacker.run(&["keys", "jwks"]))).await;
    let url = format!("{}/jwks.json", server.uri());
    let verifier = Env::new(&mock);
    let trust = format!("{HTTPS_ISSUER}={url}");
    for keys in [
        vec!["--jwks", url.as_str()],
        vec!["--issuer", HTTPS_ISSUER, "--jwks", url.as_str()],
        vec!["--trust", trust.as_str()],
    ] {
        let mut args = vec![
            "verify",
            forged.as_str(),
            "--aud",
            "https://orch.example",
            "--no-status-check",
        ];
        args.extend(keys.iter().copied());
        let out = run(&verifier, &args);
        assert_insecure(&out);
        let err = stderr(&out);
        assert!(
            err.contains("plain http while the issuer is https"),
            "{err}"
        );
        assert!(err.contains(HTTPS_ISSUER), "{err}");
    }
    // A plain-http issuer elsewhere than on this machine: refused too.
    let trust = format!("http://issuer.example={url}");
    let out = run(
        &verifier,
        &[
            "verify",
            &forged,
            "--aud",
            "https://orch.example",
            "--trust",
            &trust,
        ],
    );
    assert_insecure(&out);
    // --json says so as well.
    let out = run(
        &verifier,
        &[
            "--json",
            "verify",
            &forged,
            "--aud",
            "https://orch.example",
            "--jwks",
            &url,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["error"], "insecure_url");
    assert_never_asked(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_refuses_a_plain_http_status_list_when_an_issuer_is_https() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let server = MockServer::start().await;
    let list = format!("{}/status/1", server.uri());
    // Passports of the https issuer name this list.
    std::fs::write(
        env.work.path().join(".env"),
        format!("AGENT_PASSPORT_STATUS_URI={list}\n"),
    )
    .unwrap();
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let jwks = env.work.path().join("jwks.json");
    std::fs::write(&jwks, stdout(&env.run(&["keys", "jwks"]))).unwrap();
    let jwks = jwks.to_str().unwrap();
    // An attacker on the path answers with the list signed before the
    // revocation (the CLI keeps no record of the lists it saw), which would
    // make the revoked passport `valid`.
    let before = stdout(&env.run(&["status-list"])).trim().to_owned();
    assert_eq!(env.run(&["revoke", &root]).status.code(), Some(0));
    answer(&server, before).await;
    let out = verify_with_list(&env, &root, jwks, &list);
    assert_insecure(&out);
    // The list answers for every trusted issuer whose key signs it: one
    // https issuer among them is enough to refuse it.
    let empty = env.work.path().join("other-jwks.json");
    std::fs::write(&empty, r#"{"keys":[]}"#).unwrap();
    let loopback = format!("{LOOPBACK_ISSUER}={}", empty.to_str().unwrap());
    let https = format!("{HTTPS_ISSUER}={jwks}");
    let out = run(
        &env,
        &[
            "verify",
            &root,
            "--aud",
            "https://orch.example",
            "--trust",
            &loopback,
            "--trust",
            &https,
            "--status-list",
            &list,
        ],
    );
    assert_insecure(&out);
    assert!(stderr(&out).contains(HTTPS_ISSUER), "{}", stderr(&out));
    assert_never_asked(&server).await;
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

/// Review S14 (second pass, V2-1): a list file that names no URI (no
/// `sub`) is refused for what it is, `invalid_status_list_claims` "no `sub`", exit 1 —
/// not `insecure_url` about an empty URL, which the https check of the
/// (missing) base reported once the issuers were trusted with it first.
#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_a_status_list_file_without_a_sub_as_such() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let jwks = env.work.path().join("jwks.json");
    std::fs::write(&jwks, stdout(&env.run(&["keys", "jwks"]))).unwrap();
    // A JWS whose payload is `{}`: no `sub`, nothing else either.
    let list = env.work.path().join("no-sub.jwt");
    std::fs::write(&list, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln").unwrap();
    let out = verify_with_list(&env, &root, jwks.to_str().unwrap(), list.to_str().unwrap());
    assert_fails(&out, 1, "invalid_status_list_claims");
    assert!(stderr(&out).contains("no `sub`"), "{}", stderr(&out));
}
