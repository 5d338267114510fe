//! `passport serve`: starts on a free loopback port, prints its issuer URL
//! first, answers its metadata, registers workloads without reading a
//! secret from argv, refuses a non-loopback address, and stops on Ctrl-C.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use super::{BIN, assert_fails, stdout};

fn passport(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("AGENT_PASSPORT_HOME");
    cmd
}

async fn metadata_at(issuer: &str) -> serde_json::Value {
    let url = format!("{issuer}/.well-known/oauth-authorization-server");
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_prints_its_issuer_serves_metadata_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // a workload client, registered before the server starts
    let out = passport(&data)
        .args([
            "serve",
            "--register-workload",
            "alice",
            "--scope",
            "files:read",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = stdout(&out);
    let id = printed
        .lines()
        .find_map(|l| l.strip_prefix("client_id: "))
        .unwrap()
        .to_owned();
    let secret = printed
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 43, "256 bits, base64url");

    let mut child = passport(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = lines.next().unwrap().unwrap();
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
    assert!(!issuer.ends_with(":0"), "{issuer}");

    let metadata = metadata_at(&issuer).await;
    assert_eq!(metadata["issuer"], issuer.as_str());

    // the workload registered above gets a passport from the running server
    let token = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "https://tools.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);

    // Ctrl-C
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(data.join("server.db").exists());
}

#[test]
fn serve_refuses_a_non_loopback_address_without_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let out = passport(dir.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_fails(&out, 2, "serve_not_loopback");
}

/// Session 15: `--trusted-proxy` takes a network, and refuses one that
/// would let every client choose its address, or a typo'd one;
/// `--nat64-prefix` a prefix of a length RFC 6052 defines; both before
/// anything starts.
#[test]
fn serve_refuses_a_trusted_proxy_or_nat64_prefix_that_trusts_everyone_or_is_mistyped() {
    let dir = tempfile::tempdir().unwrap();
    for (option, value, said) in [
        ("--trusted-proxy", "0.0.0.0/0", "trusts every address"),
        ("--trusted-proxy", "::/0", "trusts every address"),
        ("--trusted-proxy", "10.0.0.1/8", "did you mean 10.0.0.0/8"),
        (
            "--trusted-proxy",
            "proxy.internal",
            "not an IP address or network",
        ),
        (
            "--nat64-prefix",
            "64:ff9b:1::/50",
            "must be 32, 40, 48, 56, 64 or 96",
        ),
        (
            "--nat64-prefix",
            "64:ff9b:1::1/48",
            "did you mean 64:ff9b:1::/48",
        ),
        ("--nat64-prefix", "10.0.0.0/8", "not an IPv6 prefix"),
    ] {
        let out = passport(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", option, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{option} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(said), "{option} {value}: {err}");
    }
    assert!(
        !dir.path().join("server.db").exists(),
        "a refused option created the database"
    );
}

#[test]
fn a_workload_needs_a_scope() {
    let dir = tempfile::tempdir().unwrap();
    let out = passport(dir.path())
        .args(["serve", "--register-workload", "alice"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn auto_consent_is_refused_on_a_non_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // --allow-remote lifts the listening rule, not the auto-consent one; the
    // refusal comes before anything is bound or created
    let out = passport(&data)
        .args([
            "serve",
            "--auto-consent",
            "--allow-remote",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_fails(&out, 2, "auto_consent_not_loopback");
    assert!(!data.join("server.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_principals_in_at_the_csp_provider() {
    let mock = passport_mock_oidc::MockOidc::builder()
        .redirect_path("/authorize/callback")
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = passport(&dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0", "--auto-consent"])
        .env("CSP_DISCOVERY_URL", mock.discovery_url())
        .env("CSP_CLIENT_ID", mock.client_id())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = lines.next().unwrap().unwrap();
    let metadata = metadata_at(&issuer).await;
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{issuer}/authorize")
    );
    assert_eq!(metadata["code_challenge_methods_supported"][0], "S256");
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Starts `passport serve` with `extra` arguments on a free port; the child
/// and its issuer URL.
fn serve_with(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = passport(&dir.join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = lines.next().unwrap().unwrap();
    (child, issuer)
}

fn stop(mut child: std::process::Child) {
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_scopes_bound_what_a_registered_client_may_have() {
    let dir = tempfile::tempdir().unwrap();
    let (child, issuer) = serve_with(
        dir.path(),
        &[
            "--registration-scope",
            "files:read",
            "--registration-scope",
            "files:write",
        ],
    );
    let metadata = metadata_at(&issuer).await;
    assert_eq!(
        metadata["registration_endpoint"],
        format!("{issuer}/register")
    );
    let registered: serde_json::Value = reqwest::Client::new()
        .post(format!("{issuer}/register"))
        .json(&serde_json::json!({
            "redirect_uris": ["http://127.0.0.1:9/callback"],
            "token_endpoint_auth_method": "none",
            "scope": "files:read admin:all",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // the operator's set, whatever was asked (never admin:all)
    assert_eq!(registered["scope"], "files:read files:write");
    stop(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_registration_serves_and_advertises_no_register_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (child, issuer) = serve_with(dir.path(), &["--no-registration"]);
    let metadata = metadata_at(&issuer).await;
    assert!(
        metadata.get("registration_endpoint").is_none(),
        "{metadata}"
    );
    let status = reqwest::Client::new()
        .post(format!("{issuer}/register"))
        .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1:9/callback"]}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_client_error(), "{status}");
    stop(child);
}

#[test]
fn a_bad_registration_scope_is_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = passport(&dir.path().join("data"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--registration-scope",
            "bad scope\u{7f}",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // bounded: a server that accepted the scope would serve until killed
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("passport serve accepted a registration scope with a control character");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("scope"), "{stderr}");
}
