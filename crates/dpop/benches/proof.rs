//! DPoP proof verification next to a raw aws-lc-rs ES256 verification of a
//! proof-sized signing input, in the same group, so results read as ratios
//! (see `docs/performance.md`). Each iteration verifies a new proof (its own
//! `jti`, minted outside the measurement) with the same key, as an agent
//! sends: the first proof puts its header in the verifier's cache.
//!
//! Run with `cargo bench -p passport-dpop --bench proof`.
// A benchmark fixture that cannot be built is a bug in the benchmark.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use criterion::{BatchSize, Criterion};
use passport_claims::ManualClock;
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier, InMemoryReplayCache};
use passport_jose::{Algorithm, b64};

const NOW: i64 = 1_700_000_000;
const URL: &str = "https://files.example.com/mcp";
/// A 3-link bundle's size: what `ath` covers.
const BUNDLE_LEN: usize = 3711;

fn main() {
    let clock = Arc::new(ManualClock::new(NOW));
    let key = DpopKey::generate(Algorithm::ES256).expect("ES256 key");
    let bundle = "a".repeat(BUNDLE_LEN);
    // Room for every proof of the run in the replay cache (each is new).
    let replay =
        Arc::new(InMemoryReplayCache::new(10_000_000, clock.clone()).with_key_share(10_000_000));
    let verifier = DpopVerifier::new(DpopPolicy::default(), clock).with_replay_cache(replay);
    let proof = || {
        key.proof("GET", URL, Some(&bundle), None, NOW)
            .expect("proof")
    };
    verifier
        .verify(&[&proof()], "GET", URL, Some(&bundle), Some(key.jkt()))
        .expect("a proof verifies");

    // The baseline: the raw ES256 verification of one proof.
    let sample = proof();
    let (input, sig) = sample.rsplit_once('.').expect("three segments");
    let signature = b64::decode(sig).expect("base64url signature");
    let coordinate = |name: &str| {
        key.public_jwk()
            .get(name)
            .and_then(|v| v.as_str())
            .and_then(b64::decode)
            .expect("EC coordinate")
    };
    let mut point = vec![4u8];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    let raw = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).expect("raw key");
    raw.verify_sig(input.as_bytes(), &signature)
        .expect("baseline verifies");

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
        .configure_from_args();
    let mut g = c.benchmark_group("dpop_verify");
    g.bench_function("baseline_es256_verify", |b| {
        b.iter(|| {
            raw.verify_sig(black_box(input.as_bytes()), black_box(&signature))
                .is_ok()
        })
    });
    g.bench_function("verify_proof", |b| {
        b.iter_batched(
            proof,
            |p| {
                verifier
                    .verify(&[&p], "GET", URL, Some(&bundle), Some(key.jkt()))
                    .expect("verifies")
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    c.final_summary();
}
