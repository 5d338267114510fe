//! End-to-end tests of the `passport` binary: a temporary data directory, the
//! mock provider on loopback, real pipes between commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use passport_mock_oidc::MockOidc;
use passport_testkit::{ACR, claims_of};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_passport");

#[path = "cli/hardening.rs"]
mod hardening;
#[path = "cli/plain_http.rs"]
mod plain_http;

/// A plain-http issuer on this machine: `verify` fetches its keys and
/// status list over plain http (an https issuer's only over https).
const LOOPBACK_ISSUER: &str = "http://127.0.0.1:8080";

struct Env {
    data: tempfile::TempDir,
    work: tempfile::TempDir,
    discovery: String,
    client_id: String,
    /// `AGENT_PASSPORT_ISSUER`, when not the default (`https://issuer.local`).
    issuer: Option<&'static str>,
}

impl Env {
    fn new(mock: &MockOidc) -> Env {
        Env {
            data: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            discovery: mock.discovery_url(),
            client_id: mock.client_id().to_owned(),
            issuer: None,
        }
    }

    /// The local issuer named `issuer` in every command.
    fn with_issuer(mut self, issuer: &'static str) -> Env {
        self.issuer = Some(issuer);
        self
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.work.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.work.path())
            .env("XDG_DATA_HOME", self.data.path())
            .env("CSP_DISCOVERY_URL", &self.discovery)
            .env("CSP_CLIENT_ID", &self.client_id)
            .env("CSP_REDIRECT_URI", "http://127.0.0.1:0/callback")
            .env("NO_COLOR", "1");
        if let Some(issuer) = self.issuer {
            c.env("AGENT_PASSPORT_ISSUER", issuer);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn dir(&self) -> std::path::PathBuf {
        self.data.path().join("agent-passport")
    }

    /// The current private key file, `keys/<kid>.jwk` (the only one there).
    fn key_file(&self) -> std::path::PathBuf {
        let files: Vec<_> = std::fs::read_dir(self.dir().join("keys"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files.into_iter().next().unwrap()
    }

    /// `login --id-token` with a fresh token from the mock.
    fn login_with_token(&self, mock: &MockOidc) {
        let mut claims = mock.default_claims();
        claims["acr"] = ACR.into();
        let token = mock.mint_id_token(claims);
        let out = self.run(&["login", "--id-token", &token]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }

    fn issue(&self, scopes: &[&str]) -> String {
        let mut args = vec![
            "issue",
            "--agent-id",
            "planner",
            "--agent-model",
            "m1",
            "--aud",
            "https://orch.example",
        ];
        for s in scopes {
            args.extend(["--tool-scope", s]);
        }
        let out = self.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }
}

/// Asserts that a command failed with exit code `exit` and said
/// `error[<code>]` on stderr.
fn assert_fails(out: &Output, exit: i32, code: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(exit), "{err}");
    assert!(err.contains(&format!("error[{code}]")), "{err}");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The authorization URL `passport login --no-browser` prints on stderr; the
/// rest of stderr keeps being drained so the child never blocks on a full pipe.
async fn login_url(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stderr);
        let mut seen = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            seen.push_str(&line);
            if let Some(start) = line.find("http://") {
                let url = line[start..].trim().to_owned();
                std::thread::spawn(move || {
                    let mut rest = String::new();
                    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
                });
                return url;
            }
            line.clear();
        }
        panic!("login printed no URL: {seen}");
    })
    .await
    .unwrap()
}

/// Waits for `passport login --no-browser` to print the URL, then plays the
/// browser: GET the authorization URL, follow the redirect to the CLI.
async fn play_browser(child: &mut Child, tamper_state: bool) -> reqwest::StatusCode {
    let url = login_url(child).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let mut location = response.headers()["location"].to_str().unwrap().to_owned();
    if tamper_state {
        location = location.replace("state=", "state=x");
    }
    client.get(&location).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_through_the_loopback_flow_then_issue_delegate_verify_through_pipes() {
    let mock = MockOidc::builder().acr(ACR).start().await.unwrap();
    let env = Env::new(&mock);
    let mut child = env
        .cmd(&["login", "--no-browser", "--timeout", "30"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = play_browser(&mut child, false).await;
    assert!(status.is_success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for file in ["id_token.jwt", "session.json"] {
        assert_eq!(mode(&env.dir().join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&env.dir()), 0o700);

    // issue | delegate | delegate | verify, through real OS pipes.
    let sh = format!(
        "'{bin}' issue --agent-id alice-bot --agent-model m1 --aud https://orch.example --tool-scope 'files:*' --tool-scope mail:send \
         | '{bin}' delegate --agent-id bob --agent-model m2 --aud https://orch.example --tool-scope 'files:*' \
         | '{bin}' delegate --agent-id carol --agent-model m3 --aud https://files.example --tool-scope files:read \
         | '{bin}' verify --aud https://files.example --required-scope files:read --require-ial 2 --json",
        bin = BIN
    );
    let cmd = env.cmd(&[]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(&sh)
        .current_dir(env.work.path())
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env_remove("CARGO")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["passport"]["sub"], "alice");
    assert_eq!(result["passport"]["ial"], 2);
    let chain: Vec<&str> = result["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["carol", "bob", "alice-bot"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refuses_a_tampered_state_and_reports_provider_errors() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    // a callback with another state is answered 400 and does not end the
    // login; with no other callback it times out, storing nothing
    let mut child = env
        .cmd(&["login", "--no-browser", "--timeout", "2"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(play_browser(&mut child, true).await, 400);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !env.dir().join("id_token.jwt").exists(),
        "nothing stored on failure"
    );

    mock.set_deny(true);
    let mut child = env
        .cmd(&["login", "--no-browser", "--timeout", "30"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = login_url(&mut child).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(&url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("error=access_denied"), "{location}");
    let _ = client.get(&location).send().await;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_times_out_cleanly() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let out = env
        .cmd(&["login", "--no-browser", "--timeout", "1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_fails(&out, 1, "login_timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_a_pasted_token_validates_it_before_storing() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let mut claims = mock.default_claims();
    claims["aud"] = "another-client".into();
    let out = env.run(&["login", "--id-token", &mock.mint_id_token(claims)]);
    assert_fails(&out, 1, "id_token_audience_mismatch");
    assert!(!env.dir().join("id_token.jwt").exists());
    env.login_with_token(&mock);
    assert!(env.dir().join("id_token.jwt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_without_a_session_or_with_an_expired_one_says_run_login() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let args = [
        "issue",
        "--agent-id",
        "a",
        "--agent-model",
        "m",
        "--aud",
        "https://x.example",
    ];
    let out = env.run(&args);
    assert_fails(&out, 4, "no_session");
    assert!(
        stderr(&out).contains("run `passport login`"),
        "{}",
        stderr(&out)
    );

    env.login_with_token(&mock);
    let session = env.dir().join("session.json");
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&session).unwrap()).unwrap();
    meta["exp"] = 1.into();
    std::fs::write(&session, meta.to_string()).unwrap();
    let out = env.run(&args);
    assert_fails(&out, 4, "id_token_expired");
    assert!(stderr(&out).contains("run `passport login`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn delegate_refuses_a_wider_scope_with_both_lists() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let out = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "b",
            "--agent-model",
            "m",
            "--aud",
            "https://x.example",
            "--tool-scope",
            "files:*",
        ],
        root.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error[scope_widened]"), "{err}");
    assert!(
        err.contains("[files:*]") && err.contains("[files:read]"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_rejections_with_codes_and_json() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let out = env.run(&["verify", &root, "--aud", "https://wrong.example"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error[audience_mismatch]: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    let out = env.run(&[
        "verify",
        &root,
        "--aud",
        "https://orch.example",
        "--require-ial",
        "3",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["error"], "insufficient_ial");
    let out = env.run(&["verify", &root, "--aud", "https://orch.example", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["chain"][0]["tool_scope"][0], "files:read");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_message_and_the_right_exit_code() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let verify = ["verify", "--aud", "https://orch.example"];
    // Empty stdin: usage.
    let out = env.run_with_stdin(&verify, b"");
    assert_fails(&out, 2, "no_input");
    // Truncated bundle: rejected.
    let out = env.run_with_stdin(&verify, &root.as_bytes()[..root.len() - 10]);
    assert_eq!(out.status.code(), Some(1));
    let out = env.run_with_stdin(&verify, &root.as_bytes()[..root.len() / 2]);
    assert_eq!(out.status.code(), Some(1));
    // A non-UTF-8 byte.
    let mut bytes = root.clone().into_bytes();
    bytes[5] = 0xff;
    let out = env.run_with_stdin(&verify, &bytes);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not UTF-8"));
    // Usage errors from clap: exit 2.
    assert_eq!(env.run(&["verify"]).status.code(), Some(2));
    assert_eq!(
        env.run(&["verify", &root, "--aud", "x", "--require-ial", "4"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(env.run(&["frobnicate"]).status.code(), Some(2));
    // A missing JWKS file: configuration.
    let out = env.run(&[
        "verify",
        &root,
        "--aud",
        "https://orch.example",
        "--jwks",
        "/nonexistent/jwks.json",
    ]);
    assert_fails(&out, 2, "key_file");
    // A key file that others can read: refused, exit 2.
    use std::os::unix::fs::PermissionsExt as _;
    let key = env.key_file();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "b",
            "--agent-model",
            "m",
            "--aud",
            "x",
        ],
        root.as_bytes(),
    );
    assert_fails(&out, 2, "insecure_key_file");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // An unreadable data directory.
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = env.run(&["verify", &root, "--aud", "https://orch.example"]);
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // Root ignores permissions; only check when the directory really was unreadable.
    if std::fs::read_dir("/root").is_err() || out.status.code() != Some(0) {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
    // An unreachable provider.
    let mut cmd = env.cmd(&[
        "issue",
        "--agent-id",
        "a",
        "--agent-model",
        "m",
        "--aud",
        "https://x.example",
    ]);
    cmd.env(
        "CSP_DISCOVERY_URL",
        "http://127.0.0.1:9/.well-known/openid-configuration",
    );
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_fails(&out, 1, "discovery_failed");
    // Missing configuration.
    let mut cmd = env.cmd(&["login", "--no-browser"]);
    cmd.env_remove("CSP_DISCOVERY_URL");
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // No panic and no stack trace anywhere.
    assert!(!stderr(&out).contains("panicked") && !stderr(&out).contains("RUST_BACKTRACE"));
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_rotate_keeps_verifying_passports_signed_by_the_old_key() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let old = env.issue(&["files:read"]);
    let old_kid = stdout(&env.run(&["keys", "jwks"]));
    let out = env.run(&["keys", "rotate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new_kid = stdout(&out).trim().to_owned();
    assert!(!old_kid.contains(&new_kid));
    let jwks: Value = serde_json::from_str(&stdout(&env.run(&["keys", "jwks"]))).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let out = env.run(&["verify", &old, "--aud", "https://orch.example"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = env.issue(&["files:read"]);
    assert_eq!(
        env.run(&["verify", &new, "--aud", "https://orch.example"])
            .status
            .code(),
        Some(0)
    );
    // The retired key's private half is gone: only the new one is left.
    assert!(env.key_file().ends_with(format!("{new_kid}.jwk")));
    assert_eq!(mode(&env.key_file()), 0o600);
    let shown = stdout(&env.run(&["keys", "show"]));
    assert!(
        shown.contains("current") && shown.contains("published until"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_with_a_jwks_served_on_loopback() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock).with_issuer(LOOPBACK_ISSUER);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let jwks = stdout(&env.run(&["keys", "jwks"]));
    // The JWKS on loopback, answered once only.
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/jwks.json"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(jwks, "application/json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/jwks.json", server.uri());
    let env_ref = &env;
    let out = tokio::task::block_in_place(|| {
        env_ref.run(&[
            "verify",
            &root,
            "--aud",
            "https://orch.example",
            "--jwks",
            &url,
            "--no-status-check",
        ])
    });
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Cached: a second run does not need the server.
    let out = tokio::task::block_in_place(|| {
        env_ref.run(&[
            "verify",
            &root,
            "--aud",
            "https://orch.example",
            "--jwks",
            &url,
            "--no-status-check",
        ])
    });
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Dropping the server checks it was asked exactly once.
    drop(server);
    // A JWKS without the issuer's key: unknown_kid.
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), r#"{"keys":[]}"#).unwrap();
    let out = env.run(&[
        "verify",
        &root,
        "--aud",
        "https://orch.example",
        "--jwks",
        other.path().to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "no_keys");
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_where_version_completions_and_help() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let out = env.run_with_stdin(&["inspect", "--tree"], root.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert!(
        // The mock's acr is `ial/2`: an IAL, and no AAL or FAL.
        stdout(&out).contains("alice (IAL2 AAL- FAL-)"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("planner [files:read]"));
    assert!(stderr(&out).contains("WITHOUT verification"));
    let out = env.run(&["inspect", &root]);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json[0]["header"]["typ"], "passport+jwt");
    let out = env.run(&["where"]);
    assert!(
        stdout(&out).contains("0600")
            && stdout(&out).contains("state.db")
            && stdout(&out).contains(".jwk"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&env.run(&["--version"])).starts_with("passport "));
    let out = env.run(&["completions", "bash"]);
    assert!(stdout(&out).contains("_passport"));
    for sub in [
        "login",
        "issue",
        "delegate",
        "verify",
        "inspect",
        "keys",
        "where",
        "completions",
    ] {
        let out = env.run(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{sub}");
        assert!(
            stdout(&out).contains("Example"),
            "{sub} --help has no example"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_comes_from_a_dotenv_file() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    std::fs::write(
        env.work.path().join(".env"),
        format!(
            "CSP_DISCOVERY_URL={}\nCSP_CLIENT_ID={}\nAGENT_PASSPORT_ISSUER=https://dotenv.issuer\n",
            mock.discovery_url(),
            mock.client_id()
        ),
    )
    .unwrap();
    let token = mock.mint_id_token(mock.default_claims());
    let out = env
        .cmd(&["login", "--id-token", &token])
        .env_remove("CSP_DISCOVERY_URL")
        .env_remove("CSP_CLIENT_ID")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.run(&[
        "issue",
        "--agent-id",
        "a",
        "--agent-model",
        "m",
        "--aud",
        "https://x.example",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.run(&["inspect", stdout(&out).trim()]);
    assert!(stdout(&out).contains("https://dotenv.issuer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stdout_is_not_a_crash() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let cmd = env.cmd(&[]);
    let script =
        format!("'{BIN}' inspect '{root}' | head -c 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .output()
        .unwrap();
    let status: i32 = stdout(&out).trim().parse().unwrap();
    assert_ne!(status, 101, "panicked: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
    let _ = Duration::from_secs(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_records_issuer_actions_and_audited_verifications() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:*"]);
    let out = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "reader",
            "--agent-model",
            "m",
            "--aud",
            "https://files.example",
            "--tool-scope",
            "files:read",
        ],
        root.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    let child = stdout(&out).trim().to_owned();
    let refused = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "x",
            "--agent-model",
            "m",
            "--aud",
            "https://files.example",
            "--tool-scope",
            "admin:*",
        ],
        root.as_bytes(),
    );
    assert_eq!(refused.status.code(), Some(1));
    let log = env.work.path().join("verifier-audit.jsonl");
    let log_arg = log.to_str().unwrap();
    env.run(&[
        "verify",
        &child,
        "--aud",
        "https://files.example",
        "--audit-log",
        log_arg,
    ]);
    env.run(&[
        "verify",
        &child,
        "--aud",
        "https://wrong.example",
        "--audit-log",
        log_arg,
    ]);

    let out = env.run(&["audit", "--json"]);
    let records: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("issue", "done"),
            ("delegate", "done"),
            ("delegate", "failed")
        ]
    );
    assert_eq!(records[2]["error"], "scope_widened");
    assert_eq!(records[1]["links"][1]["agent_id"], "planner");
    let raw = std::fs::read_to_string(env.dir().join("audit.jsonl")).unwrap();
    assert!(
        !raw.contains(root.split('.').nth(2).unwrap()),
        "a signature leaked into the audit log"
    );
    assert_eq!(mode(&env.dir().join("audit.jsonl")), 0o600);

    let out = env.run(&["audit", "--file", log_arg, "--outcome", "refused"]);
    let table = stdout(&out);
    assert!(
        table.contains("audience_mismatch") && table.contains("reader <- planner"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2, "{table}");
    let out = env.run(&["audit", "--agent", "nobody"]);
    assert_eq!(stdout(&out).lines().count(), 1);
    assert_eq!(
        env.run(&["audit", "--since", "yesterday"]).status.code(),
        Some(2)
    );
    let out = env.run(&["audit", "--since", "2999-01-01T00:00:00Z", "--json"]);
    assert!(stdout(&out).is_empty());
}

/// issue → delegate → delegate, returning the three bundles.
fn chain(env: &Env) -> (String, String, String) {
    let root = env.issue(&["files:*"]);
    let delegate = |parent: &str, agent: &str| {
        let out = env.run_with_stdin(
            &[
                "delegate",
                "--agent-id",
                agent,
                "--agent-model",
                "m",
                "--aud",
                "https://orch.example",
                "--tool-scope",
                "files:read",
            ],
            parent.as_bytes(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    let child = delegate(&root, "reader");
    let grandchild = delegate(&child, "helper");
    (root, child, grandchild)
}

fn jti_of(bundle: &str) -> String {
    claims_of(bundle.split('~').next().unwrap()).jti
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_root_refuses_every_descendant_locally_and_through_a_published_list() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let (root, child, grandchild) = chain(&env);
    let verify = |bundle: &str, extra: &[&str]| {
        let mut args = vec!["verify", bundle, "--aud", "https://orch.example"];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    assert_eq!(verify(&grandchild, &[]).status.code(), Some(0));

    // Revoke the root by handing over its bundle.
    let out = env.run_with_stdin(&["revoke"], root.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for bundle in [&child, &grandchild] {
        let out = verify(bundle, &["--json"]);
        assert_eq!(out.status.code(), Some(1));
        let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(json["error"], "revoked");
        assert!(
            json["message"].as_str().unwrap().contains(&jti_of(&root)),
            "{json}"
        );
    }
    let listed = stdout(&env.run(&["revocations"]));
    assert!(
        listed.contains(&jti_of(&root)) && listed.contains("planner") && listed.contains("invalid"),
        "{listed}"
    );
    // Revocation is final.
    let out = env.run(&["revoke", "--reinstate", &jti_of(&root)]);
    assert_fails(&out, 1, "invalid_transition");
    // Delegating from a revoked chain is refused too.
    let out = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "z",
            "--agent-model",
            "m",
            "--aud",
            "x",
        ],
        child.as_bytes(),
    );
    assert_fails(&out, 1, "revoked");

    // A verifier elsewhere: the public JWKS and the published status list.
    let jwks = env.work.path().join("jwks.json");
    std::fs::write(&jwks, stdout(&env.run(&["keys", "jwks"]))).unwrap();
    let list = env.work.path().join("status-1.jwt");
    let out = env.run(&["status-list", "--out", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let external = [
        "--jwks",
        jwks.to_str().unwrap(),
        "--status-list",
        list.to_str().unwrap(),
    ];
    let out = verify(&grandchild, &external);
    assert_fails(&out, 1, "revoked");
    // Without the list, the external verifier cannot know: it refuses the
    // passports that name a list, unless told explicitly not to check.
    let out = verify(&grandchild, &["--jwks", jwks.to_str().unwrap()]);
    assert_fails(&out, 1, "status_source_required");
    assert_eq!(
        verify(
            &grandchild,
            &["--jwks", jwks.to_str().unwrap(), "--no-status-check"]
        )
        .status
        .code(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_pairs_each_key_set_with_its_own_issuer() {
    const LOCAL: &str = "https://issuer.local";
    const OTHER: &str = "https://other.example";
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let jwks = env.work.path().join("jwks.json");
    std::fs::write(&jwks, stdout(&env.run(&["keys", "jwks"]))).unwrap();
    let jwks = jwks.to_str().unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            root.as_str(),
            "--aud",
            "https://orch.example",
            "--no-status-check",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let local = format!("{LOCAL}={jwks}");
    let other = format!("{OTHER}={jwks}");
    // The local issuer with its own keys.
    let out = verify(&["--trust", &local]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The same keys given to another issuer: they verify nothing of ours.
    assert_fails(&verify(&["--trust", &other]), 1, "untrusted_issuer");
    // One JWKS cannot be both issuers' keys.
    assert_fails(
        &verify(&["--trust", &local, "--trust", &other]),
        1,
        "key_issuer_conflict",
    );
    // Ambiguous pairings are refused, pointing at --trust.
    for ambiguous in [
        vec!["--issuer", LOCAL, "--issuer", OTHER, "--jwks", jwks],
        vec!["--issuer", OTHER],
        vec!["--trust", &local, "--jwks", jwks],
        vec!["--trust", &local, "--issuer", LOCAL],
        vec!["--trust", jwks],
    ] {
        let out = verify(&ambiguous);
        assert_fails(&out, 2, "ambiguous_trust");
        assert!(stderr(&out).contains("--trust"), "{}", stderr(&out));
    }
    // One issuer with --jwks stays unambiguous.
    let out = verify(&["--issuer", LOCAL, "--jwks", jwks]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_list_served_over_loopback_reaches_an_offline_verifier() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock).with_issuer(LOOPBACK_ISSUER);
    // Not from wiremock's pool: dropped, it stops listening (the
    // unreachable case below).
    let server = wiremock::MockServer::builder().start().await;
    let uri = format!("{}/status/1", server.uri());
    // Passports minted from now on name this list (configured through .env).
    std::fs::write(
        env.work.path().join(".env"),
        format!("AGENT_PASSPORT_STATUS_URI={uri}\n"),
    )
    .unwrap();
    env.login_with_token(&mock);
    let (root, _, grandchild) = chain(&env);
    assert_eq!(env.run(&["revoke", &jti_of(&root)]).status.code(), Some(0));
    let token = stdout(&env.run(&["status-list"])).trim().to_owned();
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/status/1"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_raw(token, "application/statuslist+jwt"),
        )
        .expect(1..)
        .mount(&server)
        .await;
    let jwks = env.work.path().join("jwks.json");
    std::fs::write(&jwks, stdout(&env.run(&["keys", "jwks"]))).unwrap();
    let env_ref = &env;
    let (grand, jwks_arg) = (grandchild.clone(), jwks.to_str().unwrap().to_owned());
    let out = tokio::task::block_in_place(|| {
        env_ref.run(&[
            "verify",
            &grand,
            "--aud",
            "https://orch.example",
            "--jwks",
            &jwks_arg,
            "--status-list",
            &uri,
        ])
    });
    assert_fails(&out, 1, "revoked");
    // Checks the list was fetched, and stops listening.
    drop(server);
    // An unreachable list: fail closed.
    let out = tokio::task::block_in_place(|| {
        env_ref.run(&[
            "verify",
            &grand,
            "--aud",
            "https://orch.example",
            "--jwks",
            &jwks_arg,
            "--status-list",
            &uri,
        ])
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unreachable") || stderr(&out).contains("status"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn suspension_is_reversible_and_deny_lists_work() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let (_, child, grandchild) = chain(&env);
    let verify = |bundle: &str| env.run(&["verify", bundle, "--aud", "https://orch.example"]);
    let child_jti = jti_of(&child);
    assert_eq!(
        env.run(&["revoke", "--suspend", &child_jti]).status.code(),
        Some(0)
    );
    let out = verify(&grandchild);
    assert_fails(&out, 1, "suspended");
    assert_eq!(
        env.run(&["revoke", "--reinstate", &child_jti])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(verify(&grandchild).status.code(), Some(0));
    let out = env.run(&["revoke", "no-such-jti"]);
    assert_fails(&out, 1, "unknown_passport");

    let deny = env.work.path().join("deny.json");
    std::fs::write(&deny, format!(r#"{{"revoked": ["{child_jti}"]}}"#)).unwrap();
    let out = env.run(&[
        "verify",
        &grandchild,
        "--aud",
        "https://orch.example",
        "--deny-list",
        deny.to_str().unwrap(),
    ]);
    assert_fails(&out, 1, "revoked");
    std::fs::write(&deny, "{not json").unwrap();
    let out = env.run(&[
        "verify",
        &grandchild,
        "--aud",
        "https://orch.example",
        "--deny-list",
        deny.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let audit = stdout(&env.run(&["audit", "--json"]));
    assert!(
        audit.contains(r#""action":"suspend""#) && audit.contains(r#""action":"reinstate""#),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn holder_keys_bind_each_passport_to_its_own_agent() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let write_key = |name: &str| {
        let key = passport_jose::SigningKey::generate(passport_jose::Algorithm::ES256).unwrap();
        let path = env.work.path().join(name);
        std::fs::write(&path, serde_json::to_vec(key.public_jwk()).unwrap()).unwrap();
        (path, key.verifying_key().thumbprint().unwrap(), key)
    };
    let (planner_path, planner_jkt, planner_key) = write_key("planner.jwk");
    let (reader_path, reader_jkt, _) = write_key("reader.jwk");
    let out = env.run(&[
        "issue",
        "--agent-id",
        "planner",
        "--agent-model",
        "m",
        "--aud",
        "https://orch.example",
        "--tool-scope",
        "files:*",
        "--holder-key",
        planner_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let root = stdout(&out).trim().to_owned();
    let out = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "reader",
            "--agent-model",
            "m",
            "--aud",
            "https://orch.example",
            "--tool-scope",
            "files:read",
            "--holder-key",
            reader_path.to_str().unwrap(),
        ],
        root.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let child = stdout(&out).trim().to_owned();
    let inspected: Value = serde_json::from_str(&stdout(&env.run(&["inspect", &child]))).unwrap();
    assert_eq!(inspected[0]["claims"]["cnf"]["jkt"], reader_jkt.as_str());
    assert_eq!(inspected[1]["claims"]["cnf"]["jkt"], planner_jkt.as_str());
    // A private key is refused: the issuer never needs the agent's secret.
    let private = env.work.path().join("private.jwk");
    planner_key.save(&private).unwrap();
    let out = env.run(&[
        "issue",
        "--agent-id",
        "p",
        "--agent-model",
        "m",
        "--aud",
        "x",
        "--holder-key",
        private.to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "invalid_key");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_refuses_a_key_bound_passport_and_says_why() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let key = passport_jose::SigningKey::generate(passport_jose::Algorithm::ES256).unwrap();
    let path = env.work.path().join("agent.jwk");
    std::fs::write(&path, serde_json::to_vec(key.public_jwk()).unwrap()).unwrap();
    let out = env.run(&[
        "issue",
        "--agent-id",
        "a",
        "--agent-model",
        "m",
        "--aud",
        "https://orch.example",
        "--holder-key",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bound = stdout(&out).trim().to_owned();
    let out = env.run(&["verify", &bound, "--aud", "https://orch.example"]);
    assert_fails(&out, 1, "dpop_proof_required");
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    assert!(stdout(&env.run(&["verify", "--help"])).contains("dpop_proof_required"));
}

/// Issue 10, item 2: a key that needs no private key. A passport "signed"
/// under the identity point of edwards25519 (signature `01 00 … 00`) with that
/// key in `--jwks`, or the key given as `--holder-key`: refused on load as
/// `weak_key` (exit 2: the key file is the problem, not the passport).
#[tokio::test(flavor = "multi_thread")]
async fn small_order_ed25519_keys_are_refused_as_jwks_and_as_holder_keys() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let jwk = serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    });
    let kid = passport_jose::thumbprint(jwk.as_object().unwrap()).unwrap();
    let genuine = passport_testkit::Kit::new().root(&["files:read"]);
    let payload = genuine.token().split('.').nth(1).unwrap();
    let header = serde_json::json!({"alg": "EdDSA", "kid": kid, "typ": "passport+jwt"});
    let mut forged_sig = [0u8; 64];
    forged_sig[0] = 1;
    let forged = format!(
        "{}.{payload}.{}",
        passport_jose::b64::encode(header.to_string()),
        passport_jose::b64::encode(forged_sig)
    );
    let jwks = env.work.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::json!({"keys": [jwk]}).to_string()).unwrap();
    let out = env.run(&[
        "verify",
        &forged,
        "--aud",
        passport_testkit::AUD,
        "--issuer",
        passport_testkit::ISS,
        "--jwks",
        jwks.to_str().unwrap(),
    ]);
    assert_fails(&out, 2, "weak_key");
    env.login_with_token(&mock);
    // As a holder key too; and so is an RSA holder key whose modulus is
    // prime (anyone computes its private exponent; crates/jose/tests/
    // weak_keys.rs forges a signature with it).
    let prime_n = "woJ2AMKV7lGahTUYMlw7npBuj8p5ayfmjfaA_9OkJh_E6_MvzbIsVRMmCqxDBQmoak59THkCYjWdSWa5xsCajHHtXMsNcreFhlAXev2GLMKZ0C829caiSPuAp1a6c92oNLHh0WdXZ2Ubaw1gJshDrJDDaD3WOsWdmHNGC4175RngLhVOqOPi6HY6_rm-1idtKCdWpenz9xjag8Pguku58bkFUdnwlAmq5fr4-7P2nzzRXeoFMgWLKefEGXlOn4NdelsM1IwBj_rwE9IRbCRl_Q90B6kz4O16L2JKBptONPuc0KMsnwnCmID4bXi5tuzB5h-jbFyolrJHLHDUiNINhw";
    let prime_rsa = serde_json::json!({"kty": "RSA", "n": prime_n, "e": "AQAB"});
    let holder = env.work.path().join("holder.jwk");
    for key in [jwk, prime_rsa] {
        std::fs::write(&holder, key.to_string()).unwrap();
        let out = env.run(&[
            "issue",
            "--agent-id",
            "a",
            "--agent-model",
            "m",
            "--aud",
            "https://orch.example",
            "--holder-key",
            holder.to_str().unwrap(),
        ]);
        assert_fails(&out, 2, "weak_key");
    }
}

#[path = "cli/audit_chain.rs"]
mod audit_chain;
#[path = "cli/audit_head.rs"]
mod audit_head;
#[path = "cli/state.rs"]
mod state;

#[path = "cli/help.rs"]
mod help;
#[path = "cli/output.rs"]
mod output;
#[path = "cli/serve.rs"]
mod serve;
#[path = "cli/serve_rotate.rs"]
mod serve_rotate;
#[path = "cli/session.rs"]
mod session;
#[path = "cli/units.rs"]
mod units;
