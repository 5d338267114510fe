//! The token service handled in-process (through the router with
//! `tower::ServiceExt::oneshot`, no socket), each group measured beside a
//! raw aws-lc-rs Ed25519 verification of a passport-sized message in the
//! same run (`baseline_ed25519_verify`), so figures read as ratios too.
//!
//! - `introspect/repeated`: one child (a 2-link bundle) asked about again
//!   and again: every signature from the verifier's cache, the registry
//!   from the active cache after one read of the revocation epoch.
//! - `introspect/distinct`: 4,096 children in turn, more than the
//!   verifier's signature cache (1,024) holds: one Ed25519 verification of
//!   the leaf per request (the parent stays cached).
//! - `exchange/one`: one token exchange (bundle → child) waiting alone for
//!   its durable commit (SQLite `synchronous=FULL`: an fsync).
//! - `exchange/concurrent_64`: 64 exchanges in flight at once, sharing
//!   group commits (throughput per exchange).
//!
//! State: SQLite in a temporary directory, or PostgreSQL with
//! `PASSPORT_BENCH_DATABASE_URL=postgres://…` (build with
//! `--features postgres`). Run: `cargo bench -p passport-server`.
// A benchmark fixture that cannot be built is a bug in the benchmark.
#![allow(clippy::expect_used, clippy::panic)]

mod load_fixture;

use std::hint::black_box;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, ParsedPublicKey};
use axum::http::StatusCode;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use passport_store::server::Database;

const DISTINCT: usize = 4096;

fn active(body: &[u8]) -> bool {
    body.windows(13).any(|w| w == b"\"active\":true")
}
const CONCURRENT: usize = 64;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = std::env::var("PASSPORT_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| dir.path().join("server.db").to_string_lossy().into_owned());
    let f = rt.block_on(async {
        let db = Database::open(&url, 1_700_000_000).await.expect("database");
        load_fixture::prepare("http://127.0.0.1:9", db, DISTINCT).await
    });

    // the baseline: a raw Ed25519 verification of a passport-sized input
    let pair = Ed25519KeyPair::generate().expect("key");
    let message = vec![b'x'; 700];
    let signature = pair.sign(&message);
    let public = ParsedPublicKey::new(&ED25519, pair.public_key().as_ref()).expect("public key");
    let baseline = |b: &mut criterion::Bencher<'_>| {
        b.iter(|| {
            public
                .verify_sig(black_box(&message), black_box(signature.as_ref()))
                .expect("valid")
        });
    };

    let mut group = c.benchmark_group("introspect");
    group.bench_function("baseline_ed25519_verify", baseline);
    group.bench_function("repeated", |b| {
        b.iter(|| {
            let (status, body) = rt.block_on(load_fixture::post(
                &f.router,
                "/introspect",
                &f.introspect_auth,
                &f.repeated_body,
            ));
            assert_eq!(status, StatusCode::OK);
            assert!(active(&body), "inactive?");
        });
    });
    let mut turn = 0usize;
    group.bench_function("distinct", |b| {
        b.iter(|| {
            turn = (turn + 1) % f.distinct_bodies.len();
            let (status, body) = rt.block_on(load_fixture::post(
                &f.router,
                "/introspect",
                &f.introspect_auth,
                &f.distinct_bodies[turn],
            ));
            assert_eq!(status, StatusCode::OK);
            assert!(active(&body), "inactive?");
        });
    });
    group.finish();

    let mut group = c.benchmark_group("exchange");
    group.bench_function("baseline_ed25519_verify", baseline);
    group.bench_function("one", |b| {
        b.iter(|| {
            let (status, _) = rt.block_on(load_fixture::post(
                &f.router,
                "/token",
                &f.exchange_auth,
                &f.exchange_body,
            ));
            assert_eq!(status, StatusCode::OK);
        });
    });
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function("concurrent_64", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..CONCURRENT {
                    let router = f.router.clone();
                    let auth = f.exchange_auth.clone();
                    let body = f.exchange_body.clone();
                    tasks.spawn(async move {
                        load_fixture::post(&router, "/token", &auth, &body).await.0
                    });
                }
                while let Some(status) = tasks.join_next().await {
                    assert_eq!(status.expect("task"), StatusCode::OK);
                }
            });
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
