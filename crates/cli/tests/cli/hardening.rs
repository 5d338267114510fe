//! Issue 10, items 6 and 8: what reaches the terminal is escaped, files are
//! read with a size cap, `.env` cannot override what the environment sets,
//! the JWKS cache is private, and the issuer refuses what `verify` would.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};

use passport_claims::CLAIM_NAMESPACE;
use passport_mock_oidc::MockOidc;
use passport_testkit::Kit;
use serde_json::{Value, json};

use super::{Env, LOOPBACK_ISSUER, assert_fails, stderr, stdout};

/// ESC sequences (a window title, clear screen, an OSC 8 link), the C1 CSI,
/// a right-to-left override, and a newline with a forged line after it.
pub(super) const HOSTILE: &str =
    "x\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]8;;https://evil/\u{7}\u{9b}31m\u{202e}fdp.exe\n\rFORGED";
/// How [`HOSTILE`]'s ESC shows once escaped.
const SHOWN: &str = "x\\u001b]0;pwned\\u0007";

/// Characters that must never reach a terminal raw from a token, a provider
/// or a file (layout newlines aside).
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// Asserts that `text` (one stream of a command) carries nothing unsafe and
/// shows the hostile string escaped; no line may start with the forged text.
pub(super) fn assert_escaped(what: &str, text: &str) {
    assert!(
        !text.chars().any(is_unsafe),
        "{what} is not escaped: {text:?}"
    );
    assert!(
        text.contains(SHOWN),
        "{what} lost the hostile value: {text:?}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED")),
        "{what} let a field forge a line: {text:?}"
    );
}

/// A passport whose every free-text claim is [`HOSTILE`], signed by a key
/// nobody here trusts (`inspect` does not care; `verify` refuses it).
pub(super) fn hostile_bundle() -> String {
    let kit = Kit::new();
    let payload = kit.payload(json!({
        "sub": HOSTILE,
        "aud": HOSTILE,
        "acr": HOSTILE,
        "jti": HOSTILE,
        format!("{CLAIM_NAMESPACE}agent_id"): HOSTILE,
    }));
    kit.sign_raw(&kit.header(json!({})), &payload)
}

/// A sparse file one byte over `cap`: no disk is spent on the attack.
fn file_over(dir: &Path, name: &str, cap: u64) -> String {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .set_len(cap + 1)
        .unwrap();
    path.to_str().unwrap().to_owned()
}

/// `passport issue` with the usual names and `extra` flags.
fn issue_with(env: &Env, extra: &[&str]) -> Output {
    let mut args = vec![
        "issue",
        "--agent-id",
        "a",
        "--agent-model",
        "m",
        "--aud",
        "https://x.example",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn run_blocking(env: &Env, args: &[&str]) -> Output {
    tokio::task::block_in_place(|| env.run(args))
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_escapes_every_claim_of_a_hostile_bundle() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let bundle = hostile_bundle();
    let out = env.run(&["inspect", "--tree", &bundle]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_escaped("inspect --tree", &stdout(&out));

    let out = env.run(&["inspect", &bundle]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_escaped("inspect", &stdout(&out));
    // Still JSON, and still the same data once parsed.
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc[0]["claims"]["sub"], HOSTILE);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_table_escapes_what_a_refused_bundle_claimed() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    assert_eq!(env.run(&["keys", "show"]).status.code(), Some(0));
    let log = env.work.path().join("verifier-audit.jsonl");
    let log = log.to_str().unwrap();
    let out = env.run(&[
        "verify",
        &hostile_bundle(),
        "--aud",
        "https://files.example",
        "--audit-log",
        log,
    ]);
    assert_fails(&out, 1, "unknown_kid");

    let out = env.run(&["audit", "--file", log]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("(claimed, unverified)"), "{table}");
    assert_escaped("audit table", &table);

    let out = env.run(&["audit", "--file", log, "--json"]);
    assert_escaped("audit --json", &stdout(&out));
    let record: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(record["links"][0]["agent_id"], HOSTILE);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_escapes_the_providers_subject_and_error_description() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let mut claims = mock.default_claims();
    claims["sub"] = HOSTILE.into();
    let out = env.run(&["login", "--id-token", &mock.mint_id_token(claims)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_escaped("login's confirmation", &stderr(&out));

    // The provider refuses, with an error_description of its choosing.
    mock.set_deny(true);
    let mut child = env
        .cmd(&["login", "--no-browser", "--timeout", "30"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // All of stderr is kept: the URL line first, the error report last.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let mut pipe = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut line = String::new();
        while pipe.read_line(&mut line).unwrap() > 0 {
            if let Some(at) = line.find("http://") {
                let _ = url_tx.send(line[at..].trim().to_owned());
            }
            all.push_str(&line);
            line.clear();
        }
        all
    });
    let url = tokio::task::spawn_blocking(move || url_rx.recv().unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(&url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let start = location.find("error_description=").unwrap() + "error_description=".len();
    let end = location[start..]
        .find('&')
        .map_or(location.len(), |i| start + i);
    let hostile: String = HOSTILE.bytes().map(|b| format!("%{b:02X}")).collect();
    let location = format!("{}{hostile}{}", &location[..start], &location[end..]);
    let _ = client.get(&location).send().await;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let err = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("error[provider_error]"), "{err}");
    assert_escaped("login's error report", &err);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_an_operator_names_are_read_with_a_size_cap() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let dir = env.work.path();

    let jwks = file_over(dir, "huge-jwks.json", 1024 * 1024);
    let out = env.run(&["verify", "x.y.z", "--aud", "a", "--jwks", &jwks]);
    assert_fails(&out, 2, "file_too_large");
    assert!(stderr(&out).contains("huge-jwks.json"), "{}", stderr(&out));
    assert!(stderr(&out).contains("1048576 bytes"), "{}", stderr(&out));

    let log = file_over(dir, "huge-audit.jsonl", 64 * 1024 * 1024);
    assert_fails(&env.run(&["audit", "--file", &log]), 2, "file_too_large");

    // An endless "file": /dev/zero as the holder key.
    env.login_with_token(&mock);
    let out = issue_with(&env, &["--holder-key", "/dev/zero"]);
    assert_fails(&out, 2, "file_too_large");
    assert!(stdout(&out).is_empty());

    file_over(dir, ".env", 64 * 1024);
    assert_fails(&env.run(&["where"]), 2, "file_too_large");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dotenv_file_is_named_and_never_overrides_a_set_variable() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    std::fs::write(
        env.work.path().join(".env"),
        "CSP_DISCOVERY_URL=http://127.0.0.1:9/evil/.well-known/openid-configuration\n\
         CSP_ACR_MAPPING=/evil/acr.toml\n\
         AGENT_PASSPORT_ISSUER=https://evil.example\u{1b}]0;t\u{7}\n",
    )
    .unwrap();
    // Set but empty in the environment: the default, never the file's value.
    let out = env
        .cmd(&["keys", "show"])
        .env("AGENT_PASSPORT_ISSUER", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("issuer https://issuer.local"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("read configuration from"), "{err}");
    assert!(err.contains(".env"), "{err}");
    assert!(err.contains("CSP_ACR_MAPPING"), "{err}");
    assert!(!err.contains("AGENT_PASSPORT_ISSUER"), "{err}");

    let out = env
        .cmd(&["login", "--id-token", "x.y.z"])
        .env("CSP_DISCOVERY_URL", "")
        .env("CSP_ACR_MAPPING", "")
        .output()
        .unwrap();
    assert_fails(&out, 2, "config");
    assert!(
        stderr(&out).contains("CSP_DISCOVERY_URL is not set"),
        "{}",
        stderr(&out)
    );

    // Not set at all: the file applies, and says so.
    let out = env
        .cmd(&["keys", "show"])
        .env_remove("AGENT_PASSPORT_ISSUER")
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("issuer https://evil.example\\u001b]0;t\\u0007"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).chars().any(is_unsafe), "{:?}", stdout(&out));
    assert!(stderr(&out).contains("AGENT_PASSPORT_ISSUER"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jwks_cache_directory_is_private() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock).with_issuer(LOOPBACK_ISSUER);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let body = stdout(&env.run(&["keys", "jwks"]));
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/jwks.json"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string(body))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/jwks.json", server.uri());
    let out = run_blocking(
        &env,
        &[
            "verify",
            &root,
            "--aud",
            "https://orch.example",
            "--jwks",
            &url,
            // The local passport carries a status reference this remote-key
            // verification has no source for; the test is about the cache.
            "--no-status-check",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(super::mode(&env.dir().join("jwks-cache")), 0o700);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_refuses_a_passport_larger_than_verify_accepts() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let purpose = "p".repeat(20 * 1024);
    let out = issue_with(&env, &["--task-purpose", &purpose]);
    assert_fails(&out, 1, "token_too_large");
    assert!(stdout(&out).is_empty(), "a passport was handed out");
}

/// The JWKS cache lives in the data directory, so it is trusted only when
/// the data directory is. A copy planted in a directory others can write to
/// (here the issuer's real JWKS; an attacker would plant its own key) is not
/// used: `verify --jwks URL` refuses the directory (`insecure_data_dir`), as
/// `issue`, `keys` and `revocations` do. Nothing listens at the URL, so only
/// the planted copy could answer. (Found by the second adversarial review.)
#[tokio::test(flavor = "multi_thread")]
async fn a_jwks_cache_in_an_insecure_data_directory_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt as _;
    let mock = MockOidc::start().await;
    let env = Env::new(&mock).with_issuer(LOOPBACK_ISSUER);
    env.login_with_token(&mock);
    let root = env.issue(&["files:read"]);
    let body = stdout(&env.run(&["keys", "jwks"]));
    let url = "http://127.0.0.1:9/jwks.json";
    let name = format!(
        "{}.json",
        &passport_jose::sha256_b64url(url.as_bytes())[..22]
    );
    let cache = env.dir().join("jwks-cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    let planted = cache.join(name);
    std::fs::write(&planted, &body).unwrap();
    let verify = [
        "verify",
        &root,
        "--aud",
        "https://orch.example",
        "--jwks",
        url,
        "--no-status-check",
    ];

    // An open data directory: refused before the cache is read.
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run_blocking(&env, &verify);
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_fails(&out, 2, "insecure_data_dir");

    // A private directory but a cached file others could have written.
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_fails(&run_blocking(&env, &verify), 2, "insecure_path");

    // A symbolic link in the cache is never followed.
    std::fs::remove_file(&planted).unwrap();
    let elsewhere = env.work.path().join("keys.json");
    std::fs::write(&elsewhere, &body).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
    assert_fails(&run_blocking(&env, &verify), 2, "insecure_path");

    // The genuine, private cache entry is still used (nothing listens at the URL).
    std::fs::remove_file(&planted).unwrap();
    std::fs::write(&planted, &body).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run_blocking(&env, &verify);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
