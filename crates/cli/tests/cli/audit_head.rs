//! `passport audit verify` and the head file: a cut tail, a missing head,
//! an empty or unchained file and an empty database are refused with their
//! own codes; `--legacy` accepts an old file and says so; an interrupted
//! append is told from a cut.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use passport_audit::{Action, AuditRecord, AuditSink as _, JsonLinesSink, Outcome, head_path};
use passport_store::server::Database;

use super::audit_chain::passport;
use super::{BIN, assert_fails, stderr, stdout};

fn trail(path: &Path, n: i64) {
    let sink = JsonLinesSink::open(path).unwrap();
    for t in 0..n {
        sink.record(&AuditRecord::new(t, Action::Issue, Outcome::Done))
            .unwrap();
    }
}

fn verify(dir: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["audit", "verify", "--file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    passport(&dir.join("data"), &args)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).unwrap()
}

#[test]
fn a_file_cut_down_is_refused_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.jsonl");
    trail(&file, 5);
    let out = verify(dir.path(), &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // the two newest records cut off
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&file, kept.join("\n") + "\n").unwrap();
    let out = verify(dir.path(), &file, &["--json"]);
    assert_fails(&out, 1, "audit_chain_broken");
    assert_eq!(json(&out)["chains"][0]["result"]["kind"], "truncated");
    assert_eq!(json(&out)["chains"][0]["result"]["seq"], 4);
    // --legacy does not excuse it
    assert_fails(
        &verify(dir.path(), &file, &["--legacy"]),
        1,
        "audit_chain_broken",
    );
}

#[test]
fn a_file_without_its_head_is_refused_unless_legacy_which_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.jsonl");
    trail(&file, 3);
    std::fs::remove_file(head_path(&file)).unwrap();
    let out = verify(dir.path(), &file, &[]);
    assert_fails(&out, 1, "audit_no_head");
    assert!(stdout(&out).contains("REFUSED"), "{}", stdout(&out));
    assert!(stderr(&out).contains("no head"), "{}", stderr(&out));

    let out = verify(dir.path(), &file, &["--legacy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("LEGACY, accepted by --legacy, NOT verified"),
        "{}",
        stdout(&out)
    );
    let out = verify(dir.path(), &file, &["--legacy", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        (report["ok"].clone(), report["legacy"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(report["findings"][0]["kind"], "no_head");
}

#[test]
fn an_empty_or_unchained_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.jsonl");
    std::fs::write(&file, "").unwrap();
    assert_fails(&verify(dir.path(), &file, &[]), 1, "audit_no_chain");
    let out = verify(dir.path(), &file, &["--legacy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("NOT verified"), "{}", stdout(&out));

    let unchained =
        serde_json::to_string(&AuditRecord::new(1, Action::Issue, Outcome::Done)).unwrap();
    std::fs::write(&file, format!("{unchained}\n")).unwrap();
    assert_fails(&verify(dir.path(), &file, &[]), 1, "audit_no_chain");

    // unchained lines before a chain with its head
    trail(&file, 2);
    let out = verify(dir.path(), &file, &[]);
    assert_fails(&out, 1, "audit_unchained");
    let out = verify(dir.path(), &file, &["--legacy", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["findings"][0]["kind"], "unchained");
}

#[test]
fn an_interrupted_append_verifies_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.jsonl");
    trail(&file, 2);
    let head = std::fs::read(head_path(&file)).unwrap();
    trail(&file, 1);
    std::fs::write(head_path(&file), head).unwrap();
    let out = verify(dir.path(), &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("record 3 written after the head: an interrupted append"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_unreadable_head_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.jsonl");
    trail(&file, 2);
    std::fs::write(head_path(&file), "{}").unwrap();
    assert_fails(&verify(dir.path(), &file, &[]), 1, "audit_head_corrupt");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_without_heads_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let url = path.to_str().unwrap().to_owned();
    drop(Database::open(&url, 1_800_000_000).await.unwrap());
    let data = dir.path().join("data");
    let out = passport(&data, &["audit", "verify", "--database", &url]);
    assert_fails(&out, 1, "audit_no_chain");
    // --legacy is for files only
    let out = passport(&data, &["audit", "verify", "--database", &url, "--legacy"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Review S14 re-review: `audit verify --database` created (and migrated)
/// a database it was only asked to verify, and took a libpq `key=value`
/// string for a file name, creating files named after the password in the
/// working directory and printing it.
#[test]
fn verify_never_creates_the_database_nor_takes_a_conninfo_string_for_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = dir.path().join("missing.db");
    let url = missing.to_str().unwrap();
    for command in ["verify", "export"] {
        let out = passport(&data, &["audit", command, "--database", url]);
        assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("missing.db"), "{}", stderr(&out));
        assert!(!missing.exists(), "audit {command} created the database");
    }

    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let conninfo = "host=127.0.0.1 user=passport password=s3cret dbname=passport";
    for command in ["verify", "export"] {
        let out = Command::new(BIN)
            .current_dir(&work)
            .arg("--data-dir")
            .arg(&data)
            .args(["audit", command, "--database", conninfo])
            .env_remove("AGENT_PASSPORT_HOME")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!said.contains("s3cret"), "{said}");
        assert!(stderr(&out).contains("invalid_database_url"), "{said}");
        assert!(stderr(&out).contains("postgres://"), "{said}");
        let made: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
        assert!(made.is_empty(), "audit {command} created {made:?}");
    }
}
