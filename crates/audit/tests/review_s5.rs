//! REVIEW S5 (scratch): `verify_file` (what `passport audit verify --file`
//! runs) accepts a file whose tail was cut, and a file whose chained records
//! were all replaced by unchained lines.
#![allow(clippy::unwrap_used)]

use passport_audit::chain::ChainState;
use passport_audit::{Action, AuditRecord, Outcome, verify_file};

fn lines(n: i64) -> Vec<Vec<u8>> {
    let mut chain = ChainState::new("c1");
    (0..n)
        .map(|t| {
            chain
                .seal(&AuditRecord::new(t, Action::Issue, Outcome::Done))
                .unwrap()
                .line
        })
        .collect()
}

fn write(name: &str, lines: &[Vec<u8>]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("review-s5-{}-{name}", std::process::id()));
    let mut all = Vec::new();
    for l in lines {
        all.extend_from_slice(l);
        all.push(b'\n');
    }
    std::fs::write(&path, all).unwrap();
    path
}

#[test]
fn review_a_truncated_file_is_refused() {
    let mut all = lines(5);
    all.truncate(3); // the two newest records dropped
    let report = verify_file(&write("cut", &all)).unwrap();
    assert!(
        !report.ok(),
        "a file missing its last two records verifies: {report:?}"
    );
}

#[test]
fn review_a_file_of_only_unchained_lines_is_refused() {
    let forged = vec![br#"{"time":1,"action":"issue","outcome":"done"}"#.to_vec()];
    let report = verify_file(&write("forged", &forged)).unwrap();
    assert!(
        !report.ok(),
        "a file with no chained record verifies: {report:?}"
    );
}
