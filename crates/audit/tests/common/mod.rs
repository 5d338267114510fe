//! Helpers the audit test files share: write a log through the sink, read
//! its lines, put edited lines back.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use passport_audit::{AuditRecord, AuditSink as _, JsonLinesSink};

/// Appends `n` records (`record(0)`, …) through one sink.
pub(crate) fn append(path: &Path, n: usize, record: impl Fn(usize) -> AuditRecord) {
    let sink = JsonLinesSink::open(path).unwrap();
    for i in 0..n {
        sink.record(&record(i)).unwrap();
    }
}

/// The log's lines.
pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Replaces the log with `lines`.
pub(crate) fn put(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}
