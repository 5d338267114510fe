//! Review S15b (session 15, second independent review) on the store:
//! `Database::open_existing` for a SQLite file (commit a7c85fce). Each
//! test failed on the code as reviewed (ignored until fixed; fixed now).

use passport_store::server::Database;

use crate::common::NOW;

/// S15b-4: `open_existing` ("opens the existing database without changing
/// it", sqlite.rs `Sqlite::open_unmigrated`) opens the file read-write
/// through `open_connection` (sqlite.rs:143-156), which sets
/// `PRAGMA journal_mode = WAL`: a file in rollback-journal mode — an
/// auditor's copy of a server's database (`sqlite3 .backup`, `VACUUM INTO`
/// write one) handed to `passport audit verify` or `audit export` — has
/// its header rewritten (bytes 18-19, the file format's read/write
/// versions, 1 → 2) and gains `-wal`/`-shm` files. The evidence the
/// auditor was asked only to read no longer hashes as it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15b_4_a_read_only_open_leaves_a_rollback_journal_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.db");
    let url = path.to_str().unwrap().to_owned();
    // a migrated database (a server's), then turned into a copy in
    // rollback-journal mode, as an auditor receives one
    drop(Database::open(&url, NOW).await.unwrap());
    // the server's writer thread closes its connection on its own time:
    // wait for the file to be ours alone before changing its mode
    let mut converted = false;
    for _ in 0..200 {
        let conn = rusqlite::Connection::open(&path).unwrap();
        // busy (the writer still has it) is an error here: try again
        let mode: Option<String> = conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .ok();
        if mode.as_deref() == Some("delete") {
            converted = true;
            break;
        }
        drop(conn);
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        converted,
        "the copy could not be put in rollback-journal mode"
    );
    let before = std::fs::read(&path).unwrap();
    assert_eq!(&before[18..20], &[1, 1], "not a rollback-journal file");

    let reader = Database::open_existing(&url, NOW).await.unwrap();
    let report = reader.verify_audit().await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let after = std::fs::read(&path).unwrap();
    let side_files: Vec<String> = ["-wal", "-shm"]
        .iter()
        .filter(|s| dir.path().join(format!("copy.db{s}")).exists())
        .map(|s| (*s).to_owned())
        .collect();
    drop(reader);
    assert_eq!(
        &after[18..20],
        &before[18..20],
        "a read-only open rewrote the file's header (journal mode changed to WAL); \
         side files now beside it: {side_files:?}"
    );
    assert!(after == before, "a read-only open changed the file's bytes");
}
