//! Output: every command's `--json` against docs/cli-json.md, `--quiet`,
//! colour (NO_COLOR, CLICOLOR_FORCE) and `-v`/`RUST_LOG` tracing.

use std::process::Output;

use passport_mock_oidc::MockOidc;
use passport_testkit::ACR;
use serde_json::Value;

use super::state::ISSUE;
use super::{Env, assert_fails, stderr, stdout};

/// Objects whose members are open: documented in part (claims, audit
/// records' optional members, JWKs), the rest checked elsewhere.
const OPEN: &[&str] = &["passport", "claims", "audit", "keys jwks/keys[]"];

/// The JSON examples of docs/cli-json.md, by section (`login`, `keys show`).
fn documented() -> Vec<(String, Value)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli-json.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut section = String::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## passport ") {
            section = name.trim().to_owned();
        } else if line == "```json" {
            block = Some(String::new());
        } else if line == "```" {
            let json = block.take().unwrap();
            let value = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("docs/cli-json.md, {section}: {e}\n{json}"));
            out.push((section.clone(), value));
        } else if let Some(b) = &mut block {
            b.push_str(line);
        }
    }
    out
}

/// `actual` has every member `doc` has, recursively (the first element of
/// each array), and no other unless `path` is open. `null` in either is a
/// field that does not apply here.
fn same_shape(doc: &Value, actual: &Value, path: &str) {
    match (doc, actual) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(d), Value::Object(a)) => {
            for (k, v) in d {
                let inner = format!("{path}/{k}");
                let got = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{inner}: documented, missing in {actual}"));
                same_shape(v, got, &inner);
            }
            let open = OPEN
                .iter()
                .any(|o| path == *o || path.ends_with(&format!("/{o}")));
            if !open {
                for k in a.keys() {
                    assert!(d.contains_key(k), "{path}/{k}: printed, not documented");
                }
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            if let (Some(d), Some(a)) = (d.first(), a.first()) {
                same_shape(d, a, &format!("{path}[]"));
            }
        }
        (d, a) => assert_eq!(
            std::mem::discriminant(d),
            std::mem::discriminant(a),
            "{path}: documented {d}, printed {a}"
        ),
    }
}

fn json_of(what: &str, out: &Output) -> Value {
    let text = stdout(out);
    assert!(!text.contains('\u{1b}'), "{what}: {text:?}");
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{what}: {e}: {text:?}"))
}

fn ok(what: &str, out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
    json_of(what, out)
}

fn id_token(mock: &MockOidc) -> String {
    let mut claims = mock.default_claims();
    claims["acr"] = ACR.into();
    mock.mint_id_token(claims)
}

/// `issue` (as the state tests run it) with one scope.
const SCOPE: &[&str] = &["--tool-scope", "files:*"];

#[tokio::test(flavor = "multi_thread")]
async fn json_shapes_match_docs_cli_json() {
    let mock = MockOidc::builder().acr(ACR).start().await.unwrap();
    let env = Env::new(&mock);
    let token = id_token(&mock);
    let mut printed: Vec<(&str, Value)> = Vec::new();

    let login = ok(
        "login",
        &env.run(&["login", "--id-token", &token, "--json"]),
    );
    assert_eq!(login["sub"], "alice");
    assert_eq!(login["ial"], 2);
    printed.push(("login", login.clone()));

    let who = ok("whoami", &env.run(&["whoami", "--json"]));
    for member in ["sub", "iss", "acr", "ial", "aal", "fal", "expires_at"] {
        assert_eq!(
            who[member], login[member],
            "whoami and login agree on {member}"
        );
    }
    let left = who["expires_in"].as_i64().unwrap();
    assert!(
        left > 0 && left <= who["expires_at"].as_i64().unwrap(),
        "{who}"
    );
    printed.push(("whoami", who));

    let issued = ok("issue", &env.run(&[ISSUE, SCOPE, &["--json"]].concat()));
    let bundle = issued["bundle"].as_str().unwrap().to_owned();
    printed.push(("issue", issued.clone()));

    let child = ok(
        "delegate",
        &env.run_with_stdin(
            &[
                "--json",
                "delegate",
                "--agent-id",
                "reader",
                "--agent-model",
                "m2",
                "--aud",
                "https://files.example",
                "--tool-scope",
                "files:read",
            ],
            bundle.as_bytes(),
        ),
    );
    assert_eq!(child["agent_id"], "reader");
    let child_bundle = child["bundle"].as_str().unwrap().to_owned();
    printed.push(("delegate", child));

    let verified = ok(
        "verify",
        &env.run(&[
            "verify",
            &child_bundle,
            "--aud",
            "https://files.example",
            "--json",
        ]),
    );
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["chain"].as_array().unwrap().len(), 2);
    printed.push(("verify", verified));

    printed.push((
        "inspect",
        ok("inspect", &env.run(&["inspect", "--json", &bundle])),
    ));
    printed.push((
        "keys jwks",
        ok("keys jwks", &env.run(&["keys", "jwks", "--json"])),
    ));

    let revoked = ok(
        "revoke",
        &env.run(&["revoke", "--json", issued["jti"].as_str().unwrap()]),
    );
    assert_eq!(
        (&revoked["jti"], &revoked["status"]),
        (&issued["jti"], &"invalid".into())
    );
    printed.push(("revoke", revoked));

    // Refused, in the same command's JSON: the second verify example.
    let out = env.run(&[
        "verify",
        &child_bundle,
        "--aud",
        "https://files.example",
        "--json",
    ]);
    assert_fails(&out, 1, "revoked");
    let refused = json_of("verify refused", &out);
    assert_eq!(
        (&refused["valid"], &refused["error"]),
        (&false.into(), &"revoked".into())
    );
    printed.push(("verify", refused));

    let list = ok("revocations", &env.run(&["revocations", "--json"]));
    assert_eq!(list["revocations"][0]["jti"], issued["jti"]);
    printed.push(("revocations", list));
    printed.push((
        "status-list",
        ok("status-list", &env.run(&["status-list", "--json"])),
    ));
    let out = env.run(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for line in stdout(&out).lines() {
        printed.push(("audit", serde_json::from_str(line).unwrap()));
    }
    let verified = ok("audit verify", &env.run(&["audit", "verify", "--json"]));
    assert_eq!(verified["ok"], true);
    printed.push(("audit verify", verified));
    printed.push(("where", ok("where", &env.run(&["where", "--json"]))));
    let registered = ok(
        "serve --register-workload",
        &env.run(&[
            "serve",
            "--register-workload",
            "alice",
            "--scope",
            "files:read",
            "--json",
        ]),
    );
    printed.push(("serve", registered));
    let mut server = env
        .cmd(&["serve", "--listen", "127.0.0.1:0", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = {
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        line
    };
    server.kill().unwrap();
    server.wait().unwrap();
    printed.push(("serve", serde_json::from_str(&first).unwrap()));
    let first = ok("keys show", &env.run(&["keys", "show", "--json"]));
    let old_kid = first["keys"][0]["kid"].clone();
    printed.push(("keys show", first));
    let rotated = ok("keys rotate", &env.run(&["keys", "rotate", "--json"]));
    assert_eq!(rotated["retired"]["kid"], old_kid);
    assert_eq!(rotated["retired"]["status"], "retired");
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    printed.push(("keys rotate", rotated));
    let withdrawn = ok(
        "keys revoke",
        &env.run(&["keys", "revoke", &new_kid, "--json"]),
    );
    assert_eq!(
        (&withdrawn["kid"], &withdrawn["status"]),
        (&new_kid.clone().into(), &"revoked".into())
    );
    printed.push(("keys revoke", withdrawn));

    // Last, so the commands above still had the login.
    let out = ok("logout", &env.run(&["--json", "logout"]));
    assert_eq!(out["logged_out"], true);
    printed.push(("logout", out));
    let again = ok("logout", &env.run(&["logout", "--json"]));
    assert_eq!(again["logged_out"], false, "nothing left to forget");
    printed.push(("logout", again));
    let out = env.run(&["whoami", "--json"]);
    assert_fails(&out, 4, "no_session");
    assert!(stdout(&out).is_empty(), "no JSON without a login");

    let docs = documented();
    // Every documented command was printed, every printed one is documented.
    for (section, _) in &docs {
        assert!(
            printed.iter().any(|(name, _)| name == section),
            "docs/cli-json.md documents `{section}`, not tested"
        );
    }
    for (name, value) in &printed {
        let examples: Vec<&Value> = docs
            .iter()
            .filter(|(s, _)| s == name)
            .map(|(_, v)| v)
            .collect();
        assert!(
            !examples.is_empty(),
            "`{name} --json` is not in docs/cli-json.md"
        );
        // verify has two shapes, told apart by `valid`; serve two, told
        // apart by `client_id`.
        let doc = examples
            .iter()
            .find(|d| {
                d.get("valid") == value.get("valid")
                    && d.get("client_id").is_some() == value.get("client_id").is_some()
            })
            .unwrap_or(&examples[0]);
        let root = if *name == "audit" { "audit" } else { name };
        same_shape(doc, value, root);
    }
}

#[test]
fn the_shape_check_catches_a_missing_or_extra_member() {
    let doc: Value = serde_json::json!({"a": 1, "b": [{"c": "x"}]});
    let missing = serde_json::json!({"a": 1, "b": [{}]});
    let extra = serde_json::json!({"a": 1, "b": [], "d": true});
    let wrong = serde_json::json!({"a": "1", "b": []});
    for bad in [missing, extra, wrong] {
        assert!(
            std::panic::catch_unwind(|| same_shape(&doc, &bad, "t")).is_err(),
            "{bad}"
        );
    }
    same_shape(&doc, &serde_json::json!({"a": 2, "b": [{"c": "y"}]}), "t");
}

/// A provider, a logged-in data directory, and a root passport's bundle
/// and jti.
async fn logged_in_with_a_passport() -> (MockOidc, Env, String, String) {
    let mock = MockOidc::builder().acr(ACR).start().await.unwrap();
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let bundle = env.issue(&["files:*"]);
    let jti = ok("inspect", &env.run(&["inspect", "--json", &bundle]))[0]["claims"]["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    (mock, env, bundle, jti)
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_leaves_results_and_errors_only() {
    let (_mock, env, bundle, jti) = logged_in_with_a_passport().await;

    // Without --quiet, these say something on stderr.
    let out = env.run(&["revoke", "--suspend", &jti]);
    assert!(
        stderr(&out).contains("is now suspended"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["inspect", &bundle]);
    assert!(stderr(&out).contains("WITHOUT verification"));

    let out = env.run(&["--quiet", "revoke", "--reinstate", &jti]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
    let out = env.run(&["inspect", "-q", &bundle]);
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).contains(&jti), "results still on stdout");
    let out = env.run(&["-q", "keys", "rotate"]);
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), ""));
    assert!(!stdout(&out).trim().is_empty());

    // Errors still reach stderr.
    let out = env.run(&["-q", "revoke", "no-such-jti"]);
    assert_fails(&out, 1, "unknown_passport");
}

/// Runs with the colour variables given (the test Env sets NO_COLOR).
fn run_coloured(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = env.cmd(args);
    cmd.env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn colour_follows_clicolor_force_and_no_color_never_in_json() {
    let mock = MockOidc::builder().acr(ACR).start().await.unwrap();
    let env = Env::new(&mock);
    let refused = ["revoke", "no-such-jti"];
    const ESC: char = '\u{1b}';

    // Piped, no variables: plain.
    let out = run_coloured(&env, &[], &refused);
    assert_fails(&out, 1, "unknown_passport");
    assert!(!stderr(&out).contains(ESC), "{:?}", stderr(&out));

    // CLICOLOR_FORCE: the error label is red even through a pipe.
    let out = run_coloured(&env, &[("CLICOLOR_FORCE", "1")], &refused);
    let err = stderr(&out);
    assert!(
        err.contains("\u{1b}[1m\u{1b}[31merror[unknown_passport]\u{1b}[0m: "),
        "{err:?}"
    );
    let out = run_coloured(&env, &[("CLICOLOR_FORCE", "1")], &["keys", "show"]);
    assert!(
        stdout(&out).contains("\u{1b}[32mcurrent\u{1b}[0m"),
        "{:?}",
        stdout(&out)
    );

    // ...never in JSON, on stdout, even when forced.
    let out = run_coloured(
        &env,
        &[("CLICOLOR_FORCE", "1")],
        &["keys", "show", "--json"],
    );
    assert_eq!(out.status.code(), Some(0));
    json_of("keys show --json", &out);

    // NO_COLOR wins over CLICOLOR_FORCE.
    let both = [("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")];
    let out = run_coloured(&env, &both, &refused);
    assert_fails(&out, 1, "unknown_passport");
    assert!(!stderr(&out).contains(ESC), "{:?}", stderr(&out));
    let out = run_coloured(&env, &both, &["keys", "show"]);
    assert!(!stdout(&out).contains(ESC), "{:?}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_logs_identifiers_never_the_token() {
    let (_mock, env, bundle, jti) = logged_in_with_a_passport().await;
    let jti = jti.as_str();
    let verify = ["verify", &bundle, "--aud", "https://orch.example"];

    // Quiet by default: no log lines.
    let out = env.run(&verify);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    let with_rust_log = {
        let mut cmd = env.cmd(&verify);
        cmd.env("RUST_LOG", "passport=info");
        cmd.output().unwrap()
    };
    for (how, out) in [
        ("-v", env.run(&[&verify[..], &["-v"]].concat())),
        ("RUST_LOG", with_rust_log),
    ] {
        assert_eq!(out.status.code(), Some(0), "{how}: {}", stderr(&out));
        let log = stderr(&out);
        assert!(log.contains("passport::audit"), "{how}: {log}");
        assert!(log.contains(jti), "{how}: the jti is logged: {log}");
        assert!(log.contains("outcome=\"accepted\""), "{how}: {log}");
        // No token, nor any of its three parts (header, claims, signature).
        for part in bundle.split(['.', '~']) {
            assert!(!log.contains(part), "{how}: a token part is logged: {log}");
        }
        // The result is still the only thing on stdout.
        let text = stdout(&out);
        assert!(text.starts_with("valid  alice (IAL2"), "{how}: {text}");
        assert!(
            text.contains("\n└─ planner [files:*] aud https://orch.example expires "),
            "{how}: {text}"
        );
    }

    // A refusal is a warning naming the error.
    let out = env.run(&["-v", "verify", &bundle, "--aud", "https://other.example"]);
    assert_eq!(out.status.code(), Some(1));
    let log = stderr(&out);
    assert!(
        log.contains("WARN") && log.contains("audience_mismatch"),
        "{log}"
    );
}

/// A base64url kid may start with `-` (one in 64 keys): `keys revoke`
/// takes it as the kid, not as an unknown flag.
#[tokio::test(flavor = "multi_thread")]
async fn keys_revoke_takes_a_kid_starting_with_a_hyphen() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    for args in [
        &["keys", "revoke", "-Yabc", "--json"][..],
        &["keys", "revoke", "--json", "-Yabc"],
    ] {
        let out = env.run(args);
        assert_fails(&out, 1, "unknown_key");
        assert!(stderr(&out).contains("-Yabc"), "{}", stderr(&out));
    }
}

/// `--json` output is escaped for the terminal and still reads back as
/// what the token said (every command prints through the same function).
#[tokio::test(flavor = "multi_thread")]
async fn json_output_of_a_hostile_bundle_is_escaped() {
    use super::hardening::{HOSTILE, assert_escaped, hostile_bundle};
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let bundle = hostile_bundle();
    let out = env.run(&["inspect", "--json", &bundle]);
    assert_escaped("inspect --json", &stdout(&out));
    let doc = ok("inspect --json", &out);
    assert_eq!(doc[0]["claims"]["sub"], HOSTILE);
    assert_eq!(stdout(&out).lines().count(), 1, "one line");
}
