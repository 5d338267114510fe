//! A bounded load program: how many passports per second the token
//! service's registry records durably, at 1, 8 and 64 concurrent callers.
//!
//! ```sh
//! cargo run --release -p passport-store --features postgres --example record_rate
//! PASSPORT_TEST_DATABASE_URL=$(scripts/postgres.sh start) \
//!     cargo run --release -p passport-store --features postgres --example record_rate
//! ```
//!
//! SQLite always (a temporary directory), PostgreSQL too when
//! `PASSPORT_TEST_DATABASE_URL` is set (it writes into that database).
//! Each run lasts `RECORD_RATE_SECONDS` (default 3) per concurrency level.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use passport_store::server::{Database, PassportEntry};

fn entry(jti: String) -> PassportEntry {
    PassportEntry {
        jti,
        parent_jti: None,
        actor_jti: None,
        client_id: "bench".into(),
        agent_id: "agent".into(),
        principal: "alice".into(),
        audience: "https://tool.example".into(),
        scopes: "read".into(),
        iat: 1_800_000_000,
        exp: 1_800_000_300,
        kid: "k1".into(),
        status_uri: None,
        status_idx: None,
        created_at: 1_800_000_000,
        environment: None,
        approval_id: None,
    }
}

async fn measure(db: Arc<Database>, label: &str, callers: usize, seconds: u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers {
        let (db, counter) = (Arc::clone(&db), Arc::clone(&counter));
        let label = label.to_owned();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                db.record_issued(entry(format!("{label}-{callers}-{caller}-{n}")))
                    .await
                    .unwrap();
                latencies.push(started.elapsed());
                n += 1;
                counter.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        });
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let p99 = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    let total = counter.load(Ordering::Relaxed);
    println!(
        "{label:8} {callers:3} callers: {:8.0} records/s  p99 {:7.2} ms  ({total} in {elapsed:.1} s)",
        total as f64 / elapsed,
        p99.as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = std::env::var("RECORD_RATE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("server.db");
    let mut targets = vec![("sqlite", path.to_str().unwrap().to_owned())];
    if let Ok(url) = std::env::var("PASSPORT_TEST_DATABASE_URL") {
        targets.push(("postgres", url));
    }
    let run = format!("{}", std::process::id());
    for (label, url) in targets {
        let db = Arc::new(Database::open(&url, 1_800_000_000).await.unwrap());
        for callers in [1, 8, 64] {
            measure(Arc::clone(&db), &format!("{label}-{run}"), callers, seconds).await;
        }
    }
}
