//! Several processes opening a new state database at once (the CLI's
//! commands run side by side; several token service instances start on one
//! file). SQLite switches a new file to WAL by upgrading a read transaction
//! to a write one, and refuses an upgrade that would wait at once, without
//! the busy handler: before the fix one opener in a few hundred failed with
//! `store_busy` instead of waiting (found by CI: `the_json_state_of_earlier_
//! versions_is_imported` in passport-cli).

use std::sync::{Arc, Barrier};

use passport_store::Store;

/// Rounds × openers: SQLite's unix VFS keeps one set of file locks per
/// inode and applies them between connections of one process as between
/// processes, so threads meet the same race. Before the fix this failed in
/// most runs (at least one round of 60 lost the race).
const ROUNDS: usize = 60;
const OPENERS: usize = 8;

#[test]
fn openers_racing_on_a_new_file_all_wait_their_turn() {
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("state.db"));
        let start = Arc::new(Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Store::open(path.as_path()).map(|s| s.schema_version().unwrap())
                })
            })
            .collect();
        for opener in openers {
            match opener.join().unwrap() {
                Ok(version) => assert_eq!(version, Store::SCHEMA_VERSION),
                Err(e) => panic!("round {round}: {} ({e})", e.code()),
            }
        }
    }
}
