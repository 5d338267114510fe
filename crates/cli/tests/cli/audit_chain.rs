//! `passport audit verify` (a file, the token service's database) and
//! `passport audit export` with its filters.

use std::process::{Command, Output, Stdio};

use passport_audit::chain::ChainState;
use passport_audit::{Action, AuditRecord, AuditSink as _, JsonLinesSink, LinkRef, Outcome};
use passport_store::server::{AuditAppend, Database};

use super::{BIN, assert_fails, stderr, stdout};

pub(super) fn passport(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("AGENT_PASSPORT_HOME")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn record(time: i64, agent: &str, principal: &str, outcome: Outcome) -> AuditRecord {
    let mut r = AuditRecord::new(time, Action::Issue, outcome);
    r.links = vec![LinkRef {
        jti: format!("j-{time}"),
        agent_id: agent.into(),
    }];
    r.sub = Some(principal.into());
    r
}

#[test]
fn verify_names_the_first_tampered_seq() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.jsonl");
    let sink = JsonLinesSink::open(&file).unwrap();
    for t in 0..5 {
        sink.record(&record(t, "bot", "alice", Outcome::Done))
            .unwrap();
    }
    let data = dir.path().join("data");
    let arg = file.to_str().unwrap();
    let out = passport(&data, &["audit", "verify", "--file", arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("records 5"), "{}", stdout(&out));
    assert!(stdout(&out).contains(" ok"), "{}", stdout(&out));

    // two records swapped
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(2, 3);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = passport(&data, &["audit", "verify", "--file", arg]);
    assert_fails(&out, 1, "audit_chain_broken");
    assert!(stderr(&out).contains("record 3"), "{}", stderr(&out));
    let out = passport(&data, &["audit", "verify", "--file", arg, "--json"]);
    assert_fails(&out, 1, "audit_chain_broken");
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["chains"][0]["result"]["kind"], "reordered");
    assert_eq!(report["chains"][0]["result"]["seq"], 3);
}

async fn server_database(path: &str) -> Database {
    let db = Database::open(path, 1_800_000_000).await.unwrap();
    let mut chain = ChainState::new("server-chain");
    let mut appends = Vec::new();
    let rows = [
        (100, "reader", "alice", Outcome::Done),
        (200, "writer", "bob", Outcome::Refused),
        (300, "reader", "bob", Outcome::Done),
        (400, "reader", "alice", Outcome::Failed),
    ];
    for (time, agent, principal, outcome) in rows {
        let r = record(time, agent, principal, outcome);
        let sealed = chain.seal(&r).unwrap();
        appends.push(AuditAppend {
            seq: sealed.seq,
            at: time,
            line: String::from_utf8(sealed.line).unwrap(),
        });
    }
    db.append_audit("server-chain", appends, &chain.head().hash, 1_800_000_000)
        .await
        .unwrap();
    db
}

fn times(out: &Output) -> Vec<i64> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap().time)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_filters_and_verify_reads_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("server.db");
    let url = path.to_str().unwrap().to_owned();
    let db = server_database(&url).await;

    let export = |extra: &[&str]| {
        let mut args = vec!["audit", "export", "--database", url.as_str()];
        args.extend_from_slice(extra);
        passport(&data, &args)
    };
    let all = export(&[]);
    assert_eq!(times(&all), [100, 200, 300, 400]);
    // verbatim: the stored lines, which the chain's hashes cover
    let stored = db
        .export_audit(&passport_audit::Filter::default(), 100)
        .await
        .unwrap();
    assert_eq!(stdout(&all), stored.join("\n") + "\n");
    assert_eq!(times(&export(&["--agent", "reader"])), [100, 300, 400]);
    assert_eq!(times(&export(&["--principal", "bob"])), [200, 300]);
    assert_eq!(times(&export(&["--outcome", "refused"])), [200]);
    assert_eq!(
        times(&export(&["--since", "200", "--until", "300"])),
        [200, 300]
    );
    assert_eq!(
        times(&export(&["--agent", "reader", "--principal", "alice"])),
        [100, 400]
    );

    let out = passport(&data, &["audit", "verify", "--database", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("records 4"), "{}", stdout(&out));

    // the tail cut off: only the head row shows it
    db.execute_script_for_tests("DELETE FROM audit_log WHERE seq = 4")
        .await
        .unwrap();
    let out = passport(&data, &["audit", "verify", "--database", &url, "--json"]);
    assert_fails(&out, 1, "audit_chain_broken");
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(report["chains"][0]["result"]["kind"], "truncated");
    assert_eq!(report["chains"][0]["result"]["seq"], 4);
}

/// A write error (a full disk, a closed pipe) is an io_error, exit 2,
/// whether it comes while the lines stream (a trail of several pages) or
/// at the last flush (two lines); a whole export is the stored lines.
#[tokio::test(flavor = "multi_thread")]
async fn export_write_errors_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("server.db");
    let url = path.to_str().unwrap().to_owned();
    let db = Database::open(&url, 1_800_000_000).await.unwrap();
    let mut chain = ChainState::new("server-chain");
    let mut appends = Vec::new();
    for time in 0..3_000 {
        let r = record(time, "reader", "alice", Outcome::Done);
        let sealed = chain.seal(&r).unwrap();
        appends.push(AuditAppend {
            seq: sealed.seq,
            at: time,
            line: String::from_utf8(sealed.line).unwrap(),
        });
    }
    db.append_audit("server-chain", appends, &chain.head().hash, 1_800_000_000)
        .await
        .unwrap();
    for extra in [&[][..], &["--until", "1"][..]] {
        let run = |stdout: Stdio| {
            let mut c = Command::new(BIN);
            c.arg("--data-dir")
                .arg(&data)
                .args(["audit", "export", "--database", url.as_str()])
                .args(extra)
                .env_remove("AGENT_PASSPORT_HOME")
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(Stdio::piped());
            c
        };
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = run(Stdio::from(full)).output().unwrap();
        assert_fails(&out, 2, "io_error");
        // a closed pipe
        let mut child = run(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_fails(&out, 2, "io_error");
    }
    let out = passport(&data, &["audit", "export", "--database", &url]);
    let stored = db
        .export_audit(&passport_audit::Filter::default(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(stdout(&out), stored.join("\n") + "\n");
    assert_eq!(stored.len(), 3_000);
}
