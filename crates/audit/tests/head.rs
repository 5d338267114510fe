//! The head file next to a JSON-lines log: a cut tail, an edited last
//! record, a missing or unreadable head, an empty or unchained file are
//! each refused with their own code; an append interrupted before its head
//! is told from a cut; the next append after a cut keeps the evidence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::{lines, put};

use passport_audit::chain::{BreakKind, ChainState, Finding, Head, Report, hash_line};
use passport_audit::{
    Action, AuditRecord, AuditSink, JsonLinesSink, Outcome, head_path, read_heads, verify_file,
    verify_legacy_file,
};

fn record(n: usize) -> AuditRecord {
    AuditRecord::new(1_700_000_000 + n as i64, Action::Issue, Outcome::Done)
}

fn log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    (dir, path)
}

fn append(path: &Path, n: usize) {
    common::append(path, n, record);
}

/// The code `passport audit verify` would fail with.
fn refusal(report: &Report) -> &'static str {
    assert!(!report.ok(), "{report:?}");
    report.check().unwrap_err().code()
}

#[test]
fn every_append_replaces_the_head_file_0600() {
    let (_dir, path) = log();
    append(&path, 3);
    let heads = read_heads(&path).unwrap().unwrap();
    assert_eq!(heads.len(), 1);
    let head = heads.values().next().unwrap();
    assert_eq!(head.seq, 3);
    let last = lines(&path).pop().unwrap();
    assert_eq!(head.hash, hash_line(last.as_bytes()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(head_path(&path))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // no temporary file left behind
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let report = verify_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.findings.is_empty());
}

#[test]
fn a_cut_tail_is_truncated() {
    let (_dir, path) = log();
    append(&path, 5);
    let mut all = lines(&path);
    all.truncate(3);
    put(&path, &all);
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_chain_broken");
    let b = report.first_break().unwrap();
    assert_eq!((b.kind, b.seq), (BreakKind::Truncated, 4));
    // the legacy option does not excuse a broken chain
    assert_eq!(
        refusal(&verify_legacy_file(&path).unwrap()),
        "audit_chain_broken"
    );
}

#[test]
fn an_emptied_file_with_its_head_is_truncated_from_seq_1() {
    let (_dir, path) = log();
    append(&path, 2);
    std::fs::write(&path, "").unwrap();
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_chain_broken");
    let b = report.first_break().unwrap();
    assert_eq!((b.kind, b.seq), (BreakKind::Truncated, 1));
}

#[test]
fn an_edited_last_record_is_found_through_the_head() {
    let (_dir, path) = log();
    append(&path, 4);
    let mut all = lines(&path);
    all[3] = all[3].replace("1700000003", "1700000099");
    put(&path, &all);
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_chain_broken");
    let b = report.first_break().unwrap();
    assert_eq!((b.kind, b.seq), (BreakKind::Edited, 4));
}

#[test]
fn an_empty_file_is_refused_unless_legacy() {
    let (_dir, path) = log();
    std::fs::write(&path, "").unwrap();
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_no_chain");
    let report = verify_legacy_file(&path).unwrap();
    assert!(report.ok() && report.legacy, "{report:?}");
    assert_eq!(report.findings, [Finding::NoChainedRecord]);
}

#[test]
fn a_file_of_only_unchained_lines_is_refused_unless_legacy() {
    let (_dir, path) = log();
    let forged = serde_json::to_string(&record(1)).unwrap();
    put(&path, &[forged.clone(), forged]);
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_no_chain");
    assert!(report.findings.contains(&Finding::Unchained { lines: 2 }));
    assert!(verify_legacy_file(&path).unwrap().ok());
}

#[test]
fn chained_records_without_a_head_file_are_refused_unless_legacy() {
    let (_dir, path) = log();
    append(&path, 3);
    std::fs::remove_file(head_path(&path)).unwrap();
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_no_head");
    let chain = report.chains[0].chain.clone();
    assert_eq!(report.findings, [Finding::NoHead { chain }]);
    let e = report.check().unwrap_err();
    assert!(e.to_string().contains("no head"), "{e}");
    // a log written before heads existed: accepted, and said
    let report = verify_legacy_file(&path).unwrap();
    assert!(report.ok() && report.legacy, "{report:?}");
    assert_eq!(report.findings.len(), 1);
}

#[test]
fn a_head_deleted_then_appended_to_leaves_the_old_chain_headless() {
    let (_dir, path) = log();
    append(&path, 3);
    std::fs::remove_file(head_path(&path)).unwrap();
    // the sink does not adopt a headless chain: it starts a new one
    append(&path, 2);
    let report = verify_file(&path).unwrap();
    assert_eq!(report.chains.len(), 2);
    assert_eq!(refusal(&report), "audit_no_head");
    assert!(verify_legacy_file(&path).unwrap().ok());
}

#[test]
fn an_interrupted_append_is_told_from_a_cut_and_confirmed_by_the_next() {
    let (_dir, path) = log();
    append(&path, 4);
    let head_before = std::fs::read(head_path(&path)).unwrap();
    append(&path, 1);
    // as if the fifth append died after writing its record, before its head
    std::fs::write(head_path(&path), &head_before).unwrap();
    let report = verify_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.chains[0].interrupted);
    assert_eq!(report.chains[0].head.seq, 5);
    // the next append continues the chain and confirms the record
    append(&path, 1);
    let report = verify_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.chains.len(), 1);
    assert_eq!(
        (report.chains[0].head.seq, report.chains[0].interrupted),
        (6, false)
    );
}

#[test]
fn a_head_two_records_behind_is_not_an_interrupted_append() {
    let (_dir, path) = log();
    append(&path, 3);
    let head_before = std::fs::read(head_path(&path)).unwrap();
    append(&path, 2);
    std::fs::write(head_path(&path), &head_before).unwrap();
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_chain_broken");
    let b = report.first_break().unwrap();
    assert_eq!((b.kind, b.seq), (BreakKind::Inserted, 4));
}

#[test]
fn a_record_forged_after_a_cut_is_not_taken_for_an_interrupted_append() {
    // cut to 3 and a record appended by hand continuing from seq 3: the
    // head (seq 5) is ahead of the file, not one behind it
    let (_dir, path) = log();
    append(&path, 5);
    let mut all = lines(&path);
    all.truncate(3);
    let id = read_heads(&path)
        .unwrap()
        .unwrap()
        .into_keys()
        .next()
        .unwrap();
    let mut chain = ChainState::resume(
        id,
        Head {
            seq: 3,
            hash: hash_line(all[2].as_bytes()),
        },
    );
    let forged = chain.seal(&record(42)).unwrap().line;
    all.push(String::from_utf8(forged).unwrap());
    put(&path, &all);
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_chain_broken");
    let b = report.first_break().unwrap();
    assert_eq!((b.kind, b.seq), (BreakKind::Truncated, 5));
}

#[test]
fn the_next_append_after_a_cut_keeps_the_evidence() {
    let (_dir, path) = log();
    append(&path, 5);
    let mut all = lines(&path);
    all.truncate(3);
    put(&path, &all);
    // the sink does not continue the chain from the cut line (that would
    // overwrite its head): a new chain, the old head kept
    append(&path, 2);
    let heads = read_heads(&path).unwrap().unwrap();
    assert_eq!(heads.len(), 2);
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_chain_broken");
    let b = report.first_break().unwrap();
    assert_eq!((b.kind, b.seq), (BreakKind::Truncated, 4));
    assert!(report.chains[1].result.is_ok());
}

#[test]
fn an_unreadable_head_file_refuses_appends_and_verification() {
    let (_dir, path) = log();
    append(&path, 2);
    std::fs::write(head_path(&path), "not a head").unwrap();
    let sink = JsonLinesSink::open(&path).unwrap();
    let e = sink.record(&record(9)).unwrap_err();
    assert_eq!(e.code(), "audit_head_corrupt");
    assert_eq!(lines(&path).len(), 2, "nothing appended");
    let e = verify_file(&path).unwrap_err();
    assert_eq!(e.code(), "audit_head_corrupt");
    let e = verify_legacy_file(&path).unwrap_err();
    assert_eq!(e.code(), "audit_head_corrupt");
}

#[cfg(unix)]
#[test]
fn a_planted_temporary_file_is_never_written_through() {
    let (dir, path) = log();
    append(&path, 1);
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    let mut tmp = head_path(&path).into_os_string();
    tmp.push(".tmp");
    std::os::unix::fs::symlink(&victim, &tmp).unwrap();
    append(&path, 1);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert!(verify_file(&path).unwrap().ok());
}

#[test]
fn verification_during_appends_sees_heads_and_records_that_agree() {
    let (_dir, path) = log();
    append(&path, 1);
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || append(&path, 60))
    };
    let mut rounds = 0;
    while !writer.is_finished() {
        let report = verify_file(&path).unwrap();
        assert!(report.ok(), "{report:?}");
        rounds += 1;
    }
    writer.join().unwrap();
    let report = verify_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.chains[0].head.seq, 61);
    assert!(rounds > 0);
}

/// A file of one endless line is refused before it fills memory: no line
/// longer than `MAX_VERIFIED_LINE` is read (final review of session 5).
///
/// Review 7: such a line is the log's fault, not the disk's:
/// `audit_corrupt` naming the line (as the sink's own refusal of an endless
/// last line is), never `audit_io`.
#[test]
fn an_endless_line_is_refused_not_read_into_memory() {
    let (_dir, path) = log();
    append(&path, 2);
    let mut all = std::fs::read(&path).unwrap();
    all.extend(std::iter::repeat_n(
        b'x',
        passport_audit::MAX_VERIFIED_LINE + 10,
    ));
    std::fs::write(&path, all).unwrap();
    let e = verify_file(&path).unwrap_err();
    assert!(e.to_string().contains("longer than"), "{e}");
    assert_eq!(e.code(), "audit_corrupt", "{e}");
    assert!(
        matches!(e, passport_audit::AuditError::Corrupt { line: 3, .. }),
        "{e:?}"
    );
    // a last line without its newline, short, is read as before
    let (_dir2, ok) = log();
    append(&ok, 3);
    strip_last_newline(&ok);
    assert!(verify_file(&ok).unwrap().ok());
}

/// Removes the newline that ends the log's last line.
fn strip_last_newline(path: &std::path::Path) {
    let mut text = std::fs::read(path).unwrap();
    assert_eq!(text.pop(), Some(b'\n'));
    std::fs::write(path, text).unwrap();
}

/// Review 7: a write torn by a crash (or a full disk) leaves a partial last
/// line without its newline. The next append must not glue its record onto
/// it: the torn record is reported (`edited`, its seq), and the records
/// written after it form a chain that verifies.
#[test]
fn a_torn_last_line_does_not_swallow_the_next_record() {
    let (_dir, path) = log();
    append(&path, 3);
    let mut all = std::fs::read(&path).unwrap();
    all.extend_from_slice(br#"{"time":1700000042,"action":"iss"#);
    std::fs::write(&path, all).unwrap();
    append(&path, 2);
    let report = verify_file(&path).unwrap();
    assert_eq!(refusal(&report), "audit_chain_broken");
    let b = report.first_break().unwrap();
    assert_eq!((b.kind, b.seq, b.line), (BreakKind::Edited, 4, Some(4)));
    assert_eq!(report.chains.len(), 2, "{report:?}");
    assert_eq!(
        (report.chains[1].records, &report.chains[1].result),
        (2, &Ok(())),
        "the records appended after the torn line are lost: {report:?}"
    );
}

/// Review 7: a log whose last record lost only its newline (copied or
/// edited by a tool that strips it) still verifies, as
/// `an_endless_line_is_refused_not_read_into_memory` shows; the next
/// append must continue it on a line of its own, not glue onto it.
#[test]
fn an_append_after_a_last_line_without_its_newline_starts_a_new_line() {
    let (_dir, path) = log();
    append(&path, 3);
    strip_last_newline(&path);
    assert!(verify_file(&path).unwrap().ok());
    append(&path, 1);
    let report = verify_file(&path).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.chains.len(), report.chains[0].head.seq), (1, 4));
}
