//! Token service instances starting at once on one new SQLite file: each
//! waits its turn to switch the file to WAL instead of failing at once with
//! `store_busy` (SQLite refuses that switch's lock upgrade without calling
//! the busy handler; see the store tests' `first_open`).

use passport_store::server::Database;

use crate::common::NOW;

const ROUNDS: usize = 30;
const INSTANCES: usize = 6;

#[tokio::test(flavor = "multi_thread")]
async fn instances_starting_on_a_new_file_all_open_it() {
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("state.db").display().to_string();
        let opens: Vec<_> = (0..INSTANCES)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Database::open(&url, NOW).await.map(drop) })
            })
            .collect();
        for open in opens {
            if let Err(e) = open.await.unwrap() {
                panic!("round {round}: {} ({e})", e.code());
            }
        }
    }
}
