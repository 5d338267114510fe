//! Issue 12, part 2: configuration (`.env`, read strictly by env.rs, the data
//! directory's rules, every variable in `--help`), ID tokens never in argv,
//! `whoami`/`logout` with exit 4 to log in first, and hints.

use std::path::Path;
use std::process::Output;

use passport_mock_oidc::MockOidc;
use passport_testkit::ACR;

use super::state::ISSUE;
use super::{Env, assert_fails, stderr, stdout};

fn token(mock: &MockOidc) -> String {
    let mut claims = mock.default_claims();
    claims["acr"] = ACR.into();
    mock.mint_id_token(claims)
}

fn assert_ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

fn hint_of(out: &Output) -> String {
    stderr(out)
        .lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("no hint in {}", stderr(out)))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quoted_dotenv_value_with_a_comment_is_read_as_its_value() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    std::fs::write(
        env.work.path().join(".env"),
        format!(
            "# the mock provider\nCSP_DISCOVERY_URL=\"{}\" # a comment\nexport CSP_CLIENT_ID='{}'\n",
            env.discovery, env.client_id
        ),
    )
    .unwrap();
    let path = env.work.path().join("id_token.jwt");
    std::fs::write(&path, token(&mock)).unwrap();
    let mut cmd = env.cmd(&["login", "--id-token-file", "id_token.jwt"]);
    cmd.env_remove("CSP_DISCOVERY_URL")
        .env_remove("CSP_CLIENT_ID");
    let out = cmd.output().unwrap();
    assert_ok(&out);
    let err = stderr(&out);
    assert!(err.contains("CSP_CLIENT_ID, CSP_DISCOVERY_URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dotenv_that_cannot_be_parsed_is_a_config_error_with_a_hint() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    std::fs::write(env.work.path().join(".env"), "CSP_CLIENT_SECRET=\"s3cret\n").unwrap();
    let out = env.run(&["where"]);
    assert_fails(&out, 2, "config");
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    assert!(hint_of(&out).contains("KEY=VALUE"));
}

/// The first line of `passport where`: the directory and the rule that chose it.
fn where_first_line(out: &Output) -> String {
    assert_ok(out);
    stdout(out).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_directory_is_flag_then_home_then_xdg_then_the_platforms() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let flag = env.work.path().join("by-flag");
    let home = env.work.path().join("by-home");
    let flag_s = flag.to_str().unwrap();

    // --data-dir, written after the subcommand (a global option) or before.
    let mut cmd = env.cmd(&["where", "--data-dir", flag_s]);
    cmd.env("AGENT_PASSPORT_HOME", &home);
    let line = where_first_line(&cmd.output().unwrap());
    assert!(
        line.starts_with(flag_s) && line.contains("chosen by --data-dir"),
        "{line}"
    );
    let line = where_first_line(&env.run(&["--data-dir", flag_s, "where"]));
    assert!(line.contains("chosen by --data-dir"), "{line}");

    let mut cmd = env.cmd(&["where"]);
    cmd.env("AGENT_PASSPORT_HOME", &home);
    let line = where_first_line(&cmd.output().unwrap());
    assert!(
        line.starts_with(home.to_str().unwrap()) && line.contains("chosen by AGENT_PASSPORT_HOME"),
        "{line}"
    );

    let line = where_first_line(&env.run(&["where"]));
    let xdg = env.dir();
    assert!(
        line.starts_with(xdg.to_str().unwrap()) && line.contains("chosen by XDG_DATA_HOME"),
        "{line}"
    );

    // Neither HOME nor XDG_DATA_HOME: the platform's directory (here found
    // in the user database), not an error.
    let mut cmd = env.cmd(&["where"]);
    cmd.env_remove("HOME").env_remove("XDG_DATA_HOME");
    let line = where_first_line(&cmd.output().unwrap());
    assert!(
        line.contains("agent-passport") && line.contains("chosen by the platform"),
        "{line}"
    );

    // A state made under --data-dir is used there, and only there.
    let out = env.run_with_stdin(
        &["login", "--id-token", "-", "--data-dir", flag_s],
        token(&mock).as_bytes(),
    );
    assert_ok(&out);
    assert!(flag.join("id_token.jwt").exists());
    assert!(!env.dir().join("id_token.jwt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn help_names_every_documented_variable_and_hides_the_secret() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let spec =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/spec.md"))
            .unwrap();
    let section = spec
        .split("## 6. ")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap();
    let documented: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|v| v.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect();
    assert!(documented.len() >= 9, "{documented:?}");
    let mut cmd = env.cmd(&["--help"]);
    cmd.env("CSP_CLIENT_SECRET", "hunter2-secret");
    let out = cmd.output().unwrap();
    assert_ok(&out);
    let help = stdout(&out);
    for variable in &documented {
        assert!(help.contains(variable), "{variable} is not in --help");
    }
    assert!(help.contains("AGENT_PASSPORT_STATUS_URI"));
    assert!(!help.contains("hunter2-secret"), "{help}");
    // Not secret: the value shows.
    assert!(help.contains(&env.client_id), "{help}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_secret_on_the_command_line_is_refused_and_not_echoed() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let out = env.run(&["--client-secret", "hunter2-secret", "where"]);
    assert_fails(&out, 2, "usage");
    assert!(!stderr(&out).contains("hunter2-secret"), "{}", stderr(&out));
    assert!(hint_of(&out).contains("CSP_CLIENT_SECRET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_option_wins_over_the_environment() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let mut args = vec!["--local-issuer", "https://flag.example"];
    args.extend(ISSUE);
    let mut cmd = env.cmd(&args);
    cmd.env("AGENT_PASSPORT_ISSUER", "https://env.example");
    let out = cmd.output().unwrap();
    assert_ok(&out);
    let bundle = stdout(&out);
    let claims = passport_testkit::claims_of(bundle.trim());
    assert_eq!(claims.iss, "https://flag.example");
}

#[tokio::test(flavor = "multi_thread")]
async fn id_tokens_come_from_stdin_or_a_file() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    // login --id-token - (stdin)
    let out = env.run_with_stdin(
        &["login", "--id-token", "-"],
        format!("{}\n", token(&mock)).as_bytes(),
    );
    assert_ok(&out);
    // issue --id-token - and --id-token-file, without a stored login.
    let out = env.run(&["logout"]);
    assert_ok(&out);
    let mut args = ISSUE.to_vec();
    args.extend(["--id-token", "-"]);
    assert_ok(&env.run_with_stdin(&args, token(&mock).as_bytes()));
    std::fs::write(env.work.path().join("t.jwt"), token(&mock)).unwrap();
    let mut args = ISSUE.to_vec();
    args.extend(["--id-token-file", "t.jwt"]);
    assert_ok(&env.run(&args));

    // Both at once is a usage error; an empty one and a missing file too.
    let out = env.run(&["login", "--id-token", "-", "--id-token-file", "t.jwt"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.run_with_stdin(&["login", "--id-token", "-"], b"  \n");
    assert_fails(&out, 2, "no_input");
    assert!(hint_of(&out).contains("--id-token-file"));
    let out = env.run(&["login", "--id-token-file", "missing.jwt"]);
    assert_fails(&out, 2, "io_error");
    assert!(hint_of(&out).contains("path"));
    // A token in argv still works, with a warning.
    let out = env.run(&["login", "--id-token", &token(&mock)]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("prefer --id-token -"),
        "{}",
        stderr(&out)
    );
    // The help examples use the forms that keep the token out of argv.
    let help = stdout(&env.run(&["login", "--help"]));
    assert!(
        help.contains("--id-token-file id_token.jwt") && help.contains("--id-token -"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_and_logout_and_exit_4_to_log_in_first() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    let out = env.run(&["whoami"]);
    assert_fails(&out, 4, "no_session");
    assert_eq!(hint_of(&out), "run `passport login`");

    env.login_with_token(&mock);
    let out = env.run(&["whoami"]);
    assert_ok(&out);
    let text = stdout(&out);
    let subject = mock.default_claims()["sub"].as_str().unwrap().to_owned();
    assert!(text.contains(&subject), "{text}");
    assert!(
        text.contains(&format!(
            "provider {}",
            env.discovery
                .trim_end_matches("/.well-known/openid-configuration")
        )),
        "{text}"
    );
    assert!(text.contains("IAL"), "{text}");
    assert!(text.contains("until"), "{text}");

    assert_ok(&env.run(&["logout"]));
    assert!(!env.dir().join("id_token.jwt").exists());
    assert!(!env.dir().join("session.json").exists());
    let out = env.run(&["whoami"]);
    assert_fails(&out, 4, "no_session");
    // Idempotent.
    let out = env.run(&["logout"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("Not logged in"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_a_hint_where_a_next_step_exists() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    // Configuration: no provider configured.
    let mut cmd = env.cmd(&["login", "--id-token", "x.y.z"]);
    cmd.env_remove("CSP_DISCOVERY_URL");
    let out = cmd.output().unwrap();
    assert_fails(&out, 2, "config");
    assert!(hint_of(&out).contains("CSP_DISCOVERY_URL"));
    // Network: a provider nobody answers for.
    let mut cmd = env.cmd(&["login", "--id-token", &token(&mock)]);
    cmd.env(
        "CSP_DISCOVERY_URL",
        "http://127.0.0.1:9/.well-known/openid-configuration",
    );
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(hint_of(&out).contains("reachable"));
    // Files: a JWKS that does not exist.
    let out = env.run(&[
        "verify",
        "a.b.c",
        "--aud",
        "https://x.example",
        "--trust",
        "https://i.example=missing.json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(hint_of(&out).contains("path"));
    // The local issuer's records.
    let out = env.run(&["revoke", "no-such-jti"]);
    assert_fails(&out, 1, "unknown_passport");
    assert!(hint_of(&out).contains("passport audit"));
    // Files: the data directory open to others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        env.login_with_token(&mock);
        std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = env.run(ISSUE);
        assert_fails(&out, 2, "insecure_data_dir");
        assert!(hint_of(&out).contains("chmod 700"));
    }
}
