//! The token service for a load run (`scripts/load-server.sh`): a server on
//! 127.0.0.1:0 with three workload clients and the `/token` limit
//! [`load_fixture::LOAD_RATE`], its passports prepared in-process, the
//! request parts written to files in DIR for wrk's script
//! (`scripts/load-server.lua`) — `exchange.auth`, `exchange.body`,
//! `introspect.auth`, `repeated.body`, `distinct.bodies` (one body a line;
//! the files hold client secrets: DIR must be private) —, its URL printed
//! on the first line of output; it serves for SECONDS, then exits.
//!
//! With `--join ISSUER` it prepares nothing: a second instance under the
//! first one's issuer name, on the same database, with the same limits
//! (several instances, one database); its own URL is printed.
//! `--status-ttl S` sets the status list's `ttl` (the revocation
//! propagation run sets it low).
//!
//! Run: `cargo run --release -p passport-server --example token_load_server --
//! DIR SECONDS [--database URL] [--distinct N] [--join ISSUER] [--status-ttl S]`
//! (a `postgres://` URL needs `--features postgres`; without `--database`
//! the state is SQLite in DIR).
// A load fixture that cannot be built should fail loudly.
#![allow(clippy::expect_used, clippy::panic)]

#[path = "../benches/load_fixture/mod.rs"]
mod load_fixture;

use std::path::PathBuf;
use std::time::Duration;

use passport_store::server::Database;

const USAGE: &str = "usage: token_load_server DIR SECONDS [--database URL] [--distinct N] \
                     [--join ISSUER] [--status-ttl S]";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect(USAGE));
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).expect(USAGE);
    let mut database = dir.join("server.db").to_string_lossy().into_owned();
    let mut distinct = 20_000;
    let mut join = None;
    let mut status_ttl = passport_server::DEFAULT_STATUS_TTL;
    while let Some(flag) = args.next() {
        let value = args.next().expect("a value after the flag");
        match flag.as_str() {
            "--database" => database = value,
            "--distinct" => distinct = value.parse().expect("--distinct N"),
            "--join" => join = Some(value),
            "--status-ttl" => status_ttl = value.parse().expect("--status-ttl S"),
            other => panic!("unknown flag {other}; {USAGE}"),
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let db = Database::open(&database, now).await.expect("database");
    let configure = |b: passport_server::ServerBuilder| b.status_ttl(status_ttl);
    let server = match join {
        Some(issuer) => load_fixture::load_server(&issuer, db, configure).await,
        None => {
            let f = load_fixture::prepare_with(&url, db, distinct, configure).await;
            let write = |name: &str, text: &str| {
                std::fs::write(dir.join(name), text).expect("write");
            };
            write("exchange.auth", &f.exchange_auth);
            write("exchange.body", &f.exchange_body);
            write("introspect.auth", &f.introspect_auth);
            write("repeated.body", &f.repeated_body);
            write("distinct.bodies", &(f.distinct_bodies.join("\n") + "\n"));
            f.server
        }
    };
    println!("{url}");
    server
        .serve(listener, tokio::time::sleep(Duration::from_secs(seconds)))
        .await
        .expect("serve");
}
