//! Concurrent writers — threads and separate processes — never interleave
//! partial lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use passport_audit::{
    Action, AuditRecord, AuditSink, Filter, JsonLinesSink, LinkRef, Outcome, read_records,
};

const WRITERS: usize = 4;
const RECORDS: usize = 250;

fn record(writer: usize, n: usize) -> AuditRecord {
    let mut r = AuditRecord::new(
        n as i64,
        Action::Verify,
        if n.is_multiple_of(2) {
            Outcome::Accepted
        } else {
            Outcome::Refused
        },
    );
    // Long enough that a torn write would show.
    r.links = (0..5)
        .map(|i| LinkRef {
            jti: format!("w{writer}-r{n}-l{i}-{}", "x".repeat(200)),
            agent_id: format!("agent-{writer}"),
        })
        .collect();
    r
}

/// When run as a child process (`AUDIT_CHILD=path,writer`), write records and exit.
#[test]
fn child_writer() {
    let Ok(spec) = std::env::var("AUDIT_CHILD") else {
        return;
    };
    let (path, writer) = spec.split_once(',').unwrap();
    let sink = JsonLinesSink::open(path).unwrap();
    for n in 0..RECORDS {
        sink.record(&record(writer.parse().unwrap(), n)).unwrap();
    }
}

#[test]
fn processes_and_threads_never_interleave_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_writer",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env("AUDIT_CHILD", format!("{},{w}", path.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let sink = std::sync::Arc::new(JsonLinesSink::open(&path).unwrap());
    let threads: Vec<_> = (WRITERS..WRITERS * 2)
        .map(|w| {
            let sink = sink.clone();
            std::thread::spawn(move || {
                for n in 0..RECORDS {
                    sink.record(&record(w, n)).unwrap();
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
    // Every line parses, and every record of every writer is there once.
    let all = read_records(&path, &Filter::default()).unwrap();
    assert_eq!(all.len(), WRITERS * 2 * RECORDS);
    for w in 0..WRITERS * 2 {
        let mine = all
            .iter()
            .filter(|r| r.links[0].agent_id == format!("agent-{w}"))
            .count();
        assert_eq!(mine, RECORDS, "writer {w}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn filters_and_corrupt_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let sink = JsonLinesSink::open(&path).unwrap();
    for n in 0..10 {
        sink.record(&record(n % 3, n)).unwrap();
    }
    let refused = Filter {
        outcome: Some(Outcome::Refused),
        ..Filter::default()
    };
    assert_eq!(read_records(&path, &refused).unwrap().len(), 5);
    let since = Filter {
        since: Some(7),
        ..Filter::default()
    };
    assert_eq!(read_records(&path, &since).unwrap().len(), 3);
    let agent = Filter {
        agent: Some("agent-1".into()),
        ..Filter::default()
    };
    assert_eq!(read_records(&path, &agent).unwrap().len(), 3);
    std::fs::write(&path, "{\"time\":1}\nnot json\n").unwrap();
    let err = read_records(&path, &Filter::default()).unwrap_err();
    assert_eq!(err.code(), "audit_corrupt");
    assert!(
        read_records(&dir.path().join("missing.jsonl"), &Filter::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_tracing_sink_accepts_every_record() {
    let sink = passport_audit::TracingSink;
    sink.record(&record(0, 0)).unwrap();
    sink.record(&record(0, 1)).unwrap();
}
