//! The file's hash chain: every kind of tampering is found, with the first
//! bad seq; sinks in several processes extend one chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

mod common;

use common::{lines, put};
use passport_audit::chain::{BreakKind, ChainBreak};
use passport_audit::{
    Action, AuditRecord, AuditSink, Filter, JsonLinesSink, LinkRef, Outcome, read_records,
    verify_file,
};

fn record(n: usize) -> AuditRecord {
    let mut r = AuditRecord::new(1_700_000_000 + n as i64, Action::Issue, Outcome::Done);
    r.links = vec![LinkRef {
        jti: format!("j{n}"),
        agent_id: "bot".into(),
    }];
    r
}

fn write(path: &Path, n: usize) {
    common::append(path, n, record);
}

fn first_break(path: &Path) -> ChainBreak {
    let report = verify_file(path).unwrap();
    assert!(!report.ok(), "{report:?}");
    report.first_break().unwrap().clone()
}

fn tampered(edit: impl FnOnce(&mut Vec<String>)) -> ChainBreak {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write(&path, 6);
    assert!(verify_file(&path).unwrap().ok());
    let mut all = lines(&path);
    edit(&mut all);
    put(&path, &all);
    first_break(&path)
}

#[test]
fn a_clean_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write(&path, 5);
    let report = verify_file(&path).unwrap();
    assert!(report.ok());
    assert_eq!(report.unchained, 0);
    assert_eq!(report.chains.len(), 1);
    assert_eq!(report.chains[0].records, 5);
    assert_eq!(report.chains[0].head.seq, 5);
    // the records read back, chain members and all
    let back = read_records(&path, &Filter::default()).unwrap();
    assert_eq!(
        back.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn an_edited_record_is_named() {
    let b = tampered(|l| l[2] = l[2].replace("\"j2\"", "\"jX\""));
    assert_eq!((b.kind, b.seq, b.line), (BreakKind::Edited, 3, Some(3)));
}

#[test]
fn an_edited_prev_member_names_its_own_record() {
    let b = tampered(|l| {
        let r: serde_json::Value = serde_json::from_str(&l[3]).unwrap();
        let prev = r["prev"].as_str().unwrap().to_owned();
        l[3] = l[3].replace(&prev, "AAAA");
    });
    assert_eq!((b.kind, b.seq), (BreakKind::Edited, 4));
}

#[test]
fn a_mangled_line_is_an_edit() {
    let b = tampered(|l| l[1] = "not json".into());
    assert_eq!((b.kind, b.seq), (BreakKind::Edited, 2));
}

#[test]
fn a_dropped_record_is_a_gap() {
    let b = tampered(|l| {
        l.remove(3);
    });
    assert_eq!((b.kind, b.seq), (BreakKind::Gap, 4));
}

#[test]
fn two_swapped_records_are_reordered() {
    let b = tampered(|l| l.swap(1, 2));
    assert_eq!((b.kind, b.seq), (BreakKind::Reordered, 2));
}

#[test]
fn a_duplicated_record_is_named() {
    let b = tampered(|l| {
        let copy = l[2].clone();
        l.insert(3, copy);
    });
    assert_eq!((b.kind, b.seq), (BreakKind::Duplicated, 3));
}

#[test]
fn an_inserted_unchained_line_is_named() {
    let b = tampered(|l| {
        let forged = serde_json::to_string(&record(99)).unwrap();
        l.insert(2, forged);
    });
    assert_eq!((b.kind, b.seq, b.line), (BreakKind::Inserted, 3, Some(3)));
}

#[test]
fn the_first_of_many_inserted_lines_is_named() {
    // Thousands of forged lines: the verdict names the first, and keeping
    // only the first per chain keeps the work linear in the lines.
    let b = tampered(|l| {
        let forged = serde_json::to_string(&record(99)).unwrap();
        for _ in 0..5_000 {
            l.insert(4, forged.clone());
        }
        l.insert(2, forged);
    });
    assert_eq!((b.kind, b.seq, b.line), (BreakKind::Inserted, 3, Some(3)));
}

#[test]
fn a_truncated_tail_is_found_through_the_head_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write(&path, 6);
    let mut all = lines(&path);
    all.truncate(4);
    put(&path, &all);
    // the remaining chain is valid; the head file says it went on to 6
    let b = first_break(&path);
    assert_eq!((b.kind, b.seq), (BreakKind::Truncated, 5));
}

#[test]
fn legacy_lines_before_the_chain_are_refused_unless_legacy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // two records as written before chaining
    let legacy: Vec<String> = (0..2)
        .map(|n| serde_json::to_string(&record(n)).unwrap())
        .collect();
    put(&path, &legacy);
    write(&path, 3);
    let report = verify_file(&path).unwrap();
    assert!(!report.ok(), "{report:?}");
    assert_eq!(report.check().unwrap_err().code(), "audit_unchained");
    assert_eq!(report.unchained, 2);
    // accepted, and said, with the legacy option
    let report = passport_audit::verify_legacy_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.legacy);
    assert_eq!(
        report.findings,
        [passport_audit::chain::Finding::Unchained { lines: 2 }]
    );
    assert_eq!(report.chains[0].records, 3);
}

#[test]
fn two_sinks_on_one_file_extend_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let a = JsonLinesSink::open(&path).unwrap();
    let b = JsonLinesSink::open(&path).unwrap();
    for n in 0..6 {
        let sink = if n % 2 == 0 { &a } else { &b };
        sink.record(&record(n)).unwrap();
    }
    // and a sink opened later continues it too
    write(&path, 2);
    let report = verify_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.chains.len(), 1);
    assert_eq!(report.chains[0].records, 8);
}

/// As a child process (`AUDIT_CHAIN_CHILD=path`): append records and exit.
#[test]
fn chain_child_writer() {
    let Ok(path) = std::env::var("AUDIT_CHAIN_CHILD") else {
        return;
    };
    write(Path::new(&path), 50);
}

#[test]
fn processes_and_threads_keep_the_chain_linear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "chain_child_writer", "--test-threads", "1"])
                .env("AUDIT_CHAIN_CHILD", &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let sink = Arc::new(JsonLinesSink::open(&path).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let sink = sink.clone();
            std::thread::spawn(move || {
                for n in 0..50 {
                    sink.record(&record(n)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let report = verify_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.chains.len(), 1);
    assert_eq!(report.chains[0].records, 7 * 50);
    assert_eq!(report.chains[0].head.seq, 7 * 50);
}

#[test]
fn the_break_is_a_typed_error() {
    let b = tampered(|l| l.swap(4, 5));
    let e = passport_audit::AuditError::ChainBroken(b);
    assert_eq!(e.code(), "audit_chain_broken");
    assert!(e.to_string().contains("record 5"), "{e}");
}
