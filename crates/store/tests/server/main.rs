//! Integration tests of the token service's state (`passport_store::server`):
//! every operation on both databases, with the same test code.
//!
//! PostgreSQL: set `PASSPORT_TEST_DATABASE_URL` (`scripts/postgres.sh
//! start` prints one) and build with `--features postgres`; each test
//! creates a database of its own. Without it the PostgreSQL tests fail,
//! unless `PASSPORT_SKIP_POSTGRES=1` says to skip them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod actor_lineage;
mod audit;
mod common;
mod first_open;
mod governance;
mod hot_paths;
mod kill;
mod list_iat_session_claims;
mod review3;
mod review_s15b;
mod schema;
mod secrets;
mod state;
mod status_entries;
