//! Integration tests of passport-server's protocol core: each module fed
//! hostile input, expecting the specific typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod actor_token;
mod admin_session;
mod audit_actions;
mod audit_trail;
mod authorize;
mod authorize_flow;
mod chain_rules;
mod client_auth;
mod client_metadata;
mod clients;
mod code_grant;
mod dashboard_pages;
mod dpop_nonce;
mod endpoints;
mod exchange;
mod governance_policy;
mod grant_governance;
mod id_token_exchange;
mod introspect_limits;
mod kill_switch;
mod lifecycle;
mod limits;
mod multi_instance;
mod peer_attacks;
mod policy_fixture;
mod postgres;
mod rate_limit;
mod resource_server;
mod review_a;
mod review_b1;
mod review_b2;
mod review_s13;
mod review_s14;
mod review_s14_cancel_and_cap;
mod review_s14_grants;
mod review_s15;
mod review_s15b;
mod review_s15c;
mod review_s15d;
mod self_rules;
mod session_roles;
mod shared_state;
mod status_list_rollback;
mod stress_refresh;
mod token_request;
mod trusted_proxy;

/// Runs `future` to completion on a runtime of its own (for the sync tests
/// of async APIs that do not actually wait, such as secret checks).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// The database a test's server keeps its state in, named by the SQLite
/// file `path` it would use: that file, or — with
/// `PASSPORT_SERVER_TEST_BACKEND=postgres` (set by `scripts/test.sh` for a
/// second run of this suite) — a scratch database of its own on the
/// cluster at `PASSPORT_TEST_DATABASE_URL`, the same one for every server
/// of the test that names the same `path` (several instances, one
/// database).
///
/// A scratch database lives as long as the directory of its `path` (the
/// test's temporary directory): each call first drops the databases of
/// directories gone since, so the run does not keep ~8 MB for every test
/// server it ever started (3 GB once, on a disk shared with the build).
pub(crate) async fn test_database(path: &str) -> String {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    // path → (URL, whether the path's directory existed when it was made:
    // only such a database is dropped once its directory is gone)
    type Scratch = HashMap<String, (String, bool)>;
    static SCRATCH: OnceLock<Mutex<Scratch>> = OnceLock::new();
    if std::env::var("PASSPORT_SERVER_TEST_BACKEND").as_deref() != Ok("postgres") {
        return path.to_owned();
    }
    let dir_exists = |path: &str| {
        std::path::Path::new(path)
            .parent()
            .is_some_and(std::path::Path::exists)
    };
    let scratch = SCRATCH.get_or_init(Mutex::default);
    let finished: Vec<String> = {
        let mut map = scratch.lock().unwrap();
        if let Some((url, _)) = map.get(path) {
            return url.clone();
        }
        let gone: Vec<String> = map
            .iter()
            .filter(|(p, (_, had_dir))| *had_dir && !dir_exists(p))
            .map(|(p, _)| p.clone())
            .collect();
        gone.iter()
            .filter_map(|p| map.remove(p))
            .map(|(url, _)| url)
            .collect()
    };
    // Best effort: a cluster that refuses the drop (no `postgres`
    // database to connect to, a server older than 13) must not fail
    // whichever test happens to come next, nor stop the other drops.
    for url in finished {
        if let Err(e) = passport_store::server::Database::drop_scratch_postgres_database(&url).await
        {
            eprintln!("leaving a finished test's scratch database: {e}");
        }
    }
    let cluster = std::env::var("PASSPORT_TEST_DATABASE_URL")
        .expect("PASSPORT_SERVER_TEST_BACKEND=postgres needs PASSPORT_TEST_DATABASE_URL");
    let url = passport_store::server::Database::create_scratch_postgres_database(&cluster)
        .await
        .expect("a scratch database on the test cluster (feature passport-server/postgres)");
    scratch
        .lock()
        .unwrap()
        .entry(path.to_owned())
        .or_insert((url, dir_exists(path)))
        .0
        .clone()
}
