//! The per-request cost of the passport layer, as a ratio to raw signature
//! verifications measured in the same run.
//!
//! What is measured: [`PassportAuth::authenticate`], the very function the
//! tower layer calls for every request, on a `GET` with
//! `Authorization: DPoP <3-link bundle>` and a `DPoP` proof (ES256), with
//! route requirements (a scope). That is: header parsing, the bundle
//! verified by the shared `Verifier` with both ancestors in its cache
//! ("warm": one Ed25519 signature, the leaf's), the DPoP proof verified
//! (one ES256 signature, `htm`/`htu`/`iat`/`ath`/`cnf.jkt`, and a replay
//! cache insertion), and the scope check. No HTTP.
//!
//! The baseline: one raw aws-lc-rs Ed25519 verification of the leaf's
//! signing input plus one raw ES256 verification of a proof's signing input,
//! both with keys parsed once (`ParsedPublicKey`). Target: ≤ 1.3×.
//!
//! Every DPoP proof is single-use (the replay cache refuses a `jti` it has
//! seen), so each measured call gets its own fresh proof: proofs are signed
//! in criterion's `iter_batched` setup, outside the measured time, and the
//! replay cache is given room for every proof of the run (it holds tens of
//! thousands of live entries by the end, as a busy server's would). The
//! clock is a `ManualClock` stopped at one instant, so nothing expires.
//!
//! After the criterion groups, an interleaved run prints the ratio directly:
//! rounds alternate a batch of baseline pairs and a batch of authenticated
//! requests, so CPU-speed drift on a shared machine affects both alike; the
//! median and spread of the per-round ratios are printed.
//!
//! Run with `cargo bench -p passport-axum --bench layer`.
// A benchmark fixture that cannot be built is a bug in the benchmark.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey};
use axum::http::{HeaderMap, HeaderValue, Method};
use criterion::{BatchSize, Criterion};
use passport_axum::{PassportAuth, Requirements};
use passport_claims::{Assurance, IdentityAssertion, Level, ManualClock};
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier, InMemoryReplayCache};
use passport_issuer::Issuer;
use passport_jose::{Algorithm, CompactJws, SigningKey, b64};
use passport_testkit::{delegation, issuance};
use passport_verifier::{
    InMemoryKeyStore, KeyStore, Verification, VerificationPolicy, VerifiedPassport, Verifier,
};

const ISSUER: &str = "https://issuer.agent-passport.example";
const AUD: &str = "https://files.example.com";
const PATH: &str = "/files/reports/q3.pdf";
const REQUIRED_SCOPE: &str = "files:read:reports/q3.pdf";
const NOW: i64 = 1_700_000_000;

/// What the layer does with a key-bound bundle once the holder's proof
/// verified: `verify_str_pending_proof`, then `confirm` with the proof key's
/// thumbprint (`verify_str` alone refuses bound passports).
fn verify_bound(v: &Verifier, bundle: &str, jkt: &str) -> VerifiedPassport {
    let Verification::ProofRequired(pending) =
        v.verify_str_pending_proof(bundle).expect("verifies")
    else {
        unreachable!("the bench's passports are key-bound");
    };
    pending.confirm(jkt).expect("holder key")
}

struct Fixture {
    auth: PassportAuth,
    /// For the components group: the same verifier and DPoP configuration,
    /// separately.
    verifier: Verifier,
    dpop: DpopVerifier,
    requirements: Requirements,
    bundle: String,
    key: DpopKey,
    url: String,
    authorization: HeaderValue,
    // Baseline.
    ed_key: ParsedPublicKey,
    ed_message: Vec<u8>,
    ed_signature: Vec<u8>,
    es_key: ParsedPublicKey,
    es_message: Vec<u8>,
    es_signature: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let clock = Arc::new(ManualClock::new(NOW));
        let signing = SigningKey::generate(Algorithm::EdDSA).expect("issuer key");
        let keys = Arc::new(InMemoryKeyStore::new());
        keys.insert(ISSUER, signing.verifying_key())
            .expect("trusted key");
        let keys: Arc<dyn KeyStore> = keys;
        let issuer = Issuer::new(ISSUER, signing).with_clock(clock.clone());
        let policy = || {
            VerificationPolicy::new(ISSUER, AUD)
                .require_ial(Level::TWO)
                .require_aal(Level::TWO)
        };
        let verifier = || {
            Verifier::with_key_store(policy(), keys.clone())
                .expect("policy")
                .with_clock(clock.clone())
        };

        // root (planner, key a) → research (key b) → reader (ES256 key c).
        let (a, b) = (
            DpopKey::generate(Algorithm::EdDSA).expect("key"),
            DpopKey::generate(Algorithm::EdDSA).expect("key"),
        );
        let key = DpopKey::generate(Algorithm::ES256).expect("ES256 key");
        let assertion =
            IdentityAssertion::new("https://login.idp.example.com", "alice@example.com").with_acr(
                "http://idmanagement.gov/ns/assurance/ial/2",
                Assurance::uniform(Level::TWO),
            );
        let root = issuer
            .issue(
                issuance(
                    assertion,
                    AUD,
                    "planner-agent-01",
                    "claude-sonnet-4",
                    &["files:read:*", "files:write:drafts/*", "search:query"],
                )
                .task_purpose("Prepare the Q3 board summary from the finance reports")
                .holder_jkt(a.jkt()),
            )
            .expect("root");
        let v = verifier();
        let mid = issuer
            .delegate(
                delegation(
                    &verify_bound(&v, root.bundle(), a.jkt()),
                    AUD,
                    "research-agent-02",
                    "claude-haiku-4",
                    &["files:read:reports/*", "search:query"],
                )
                .holder_jkt(b.jkt()),
            )
            .expect("child");
        let leaf = issuer
            .delegate(
                delegation(
                    &verify_bound(&v, mid.bundle(), b.jkt()),
                    AUD,
                    "reader-agent-03",
                    "claude-haiku-4",
                    &["files:read:reports/q3*"],
                )
                .task_purpose("Read the Q3 report")
                .holder_jkt(key.jkt()),
            )
            .expect("grandchild");
        let bundle = leaf.bundle().to_owned();
        assert_eq!(bundle.split('~').count(), 3);

        // Room for every proof of the run: nothing is ever refused as full,
        // and the one holder key of the bench may fill all of it (the
        // per-key share guards a server shared by many agents).
        let replay = Arc::new(
            InMemoryReplayCache::new(10_000_000, clock.clone()).with_key_share(10_000_000),
        );
        let dpop =
            DpopVerifier::new(DpopPolicy::default(), clock.clone()).with_replay_cache(replay);
        let auth = PassportAuth::builder(Arc::new(verifier()))
            .dpop(dpop)
            .build()
            .expect("auth");

        // Baseline inputs: the leaf's signature, and one proof's.
        let jws = CompactJws::parse(leaf.token()).expect("leaf parses");
        let ed_message = jws.signing_input().to_vec();
        let ed_signature = b64::decode(leaf.token().rsplit('.').next().expect("sig")).expect("b64");
        let x = signing_x(&issuer);
        let ed_key = ParsedPublicKey::new(&ED25519, &x).expect("raw Ed25519 key");
        let url = format!("{AUD}{PATH}");
        let proof = key
            .proof("GET", &url, Some(&bundle), None, NOW)
            .expect("proof");
        let (signing_input, sig) = proof.rsplit_once('.').expect("proof");
        let es_message = signing_input.as_bytes().to_vec();
        let es_signature = b64::decode(sig).expect("b64");
        let jwk = key.public_jwk();
        let coord = |name: &str| b64::decode(jwk[name].as_str().expect("coordinate")).expect("b64");
        let mut point = vec![0x04];
        point.extend(coord("x"));
        point.extend(coord("y"));
        let es_key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).expect("raw P-256 key");
        assert!(ed_key.verify_sig(&ed_message, &ed_signature).is_ok());
        assert!(es_key.verify_sig(&es_message, &es_signature).is_ok());

        let authorization = HeaderValue::from_str(&format!("DPoP {bundle}")).expect("header");
        let components_dpop = DpopVerifier::new(DpopPolicy::default(), clock.clone())
            .with_replay_cache(Arc::new(
                InMemoryReplayCache::new(10_000_000, clock.clone()).with_key_share(10_000_000),
            ));
        let f = Fixture {
            auth,
            verifier: verifier(),
            dpop: components_dpop,
            requirements: Requirements::scope(REQUIRED_SCOPE),
            bundle,
            key,
            url,
            authorization,
            ed_key,
            ed_message,
            ed_signature,
            es_key,
            es_message,
            es_signature,
        };
        // Warm the signature cache, leaf and ancestors (and check the whole path once).
        let passport = f.authenticate(f.request()).expect("authenticates");
        assert_eq!(passport.agent_id(), "reader-agent-03");
        assert_eq!(f.auth.verifier().cached_tokens(), 3);
        verify_bound(&f.verifier, &f.bundle, f.key.jkt());
        assert_eq!(f.verifier.cached_tokens(), 3);
        f
    }

    /// The headers of one request, with a fresh proof.
    fn request(&self) -> HeaderMap {
        let proof = self
            .key
            .proof("GET", &self.url, Some(&self.bundle), None, NOW)
            .expect("proof");
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert("host", HeaderValue::from_static("files.example.com"));
        headers.insert("authorization", self.authorization.clone());
        headers.insert("dpop", HeaderValue::from_str(&proof).expect("header"));
        headers
    }

    fn authenticate(
        &self,
        headers: HeaderMap,
    ) -> Result<passport_axum::Passport, passport_axum::Rejection> {
        self.auth
            .authenticate(&Method::GET, PATH, &headers, &self.requirements)
    }

    fn baseline(&self) -> bool {
        self.ed_key
            .verify_sig(black_box(&self.ed_message), black_box(&self.ed_signature))
            .is_ok()
            & self
                .es_key
                .verify_sig(black_box(&self.es_message), black_box(&self.es_signature))
                .is_ok()
    }
}

fn signing_x(issuer: &Issuer) -> Vec<u8> {
    let jwk = issuer.verifying_key().jwk().clone();
    b64::decode(jwk.get("x").and_then(|x| x.as_str()).expect("x")).expect("b64")
}

fn criterion_groups(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("layer");
    g.bench_function("baseline_ed25519_plus_es256", |b| {
        b.iter(|| assert!(f.baseline()))
    });
    g.bench_function("authenticate_dpop_chain3_warm", |b| {
        b.iter_batched(
            || f.request(),
            |headers| f.authenticate(headers).expect("authenticates"),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Where the time goes (for the report; same run, same machine state).
    let mut g = c.benchmark_group("layer_components");
    g.bench_function("raw_ed25519_verify", |b| {
        b.iter(|| {
            f.ed_key
                .verify_sig(black_box(&f.ed_message), black_box(&f.ed_signature))
                .is_ok()
        })
    });
    g.bench_function("raw_es256_verify", |b| {
        b.iter(|| {
            f.es_key
                .verify_sig(black_box(&f.es_message), black_box(&f.es_signature))
                .is_ok()
        })
    });
    g.bench_function("verifier_verify_str_chain3_warm", |b| {
        b.iter(|| verify_bound(&f.verifier, black_box(&f.bundle), f.key.jkt()))
    });
    let jwk = f.key.public_jwk().clone();
    g.bench_function("p256_key_from_jwk", |b| {
        b.iter(|| passport_jose::VerifyingKey::from_jwk_map(black_box(jwk.clone())).expect("key"))
    });
    g.bench_function("ath_sha256_bundle", |b| {
        b.iter(|| passport_dpop::ath(black_box(&f.bundle)))
    });
    let jkt = f.key.jkt().to_owned();
    g.bench_function("dpop_verify_es256", |b| {
        b.iter_batched(
            || f.request(),
            |headers| {
                let proof = headers["dpop"].to_str().expect("ascii");
                f.dpop
                    .verify(&[proof], "GET", &f.url, Some(&f.bundle), Some(&jkt))
                    .expect("proof verifies")
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Interleaved rounds: `BATCH` baseline pairs, `BATCH` requests through
/// `authenticate`, and `BATCH` times the two verifications it wraps
/// (`Verifier::verify_str` + `DpopVerifier::verify`, called directly), each
/// request with its own proof signed beforehand; per-round ratios.
fn interleaved_ratio(f: &Fixture) {
    const ROUNDS: usize = 60;
    const BATCH: usize = 200;
    let jkt = f.key.jkt().to_owned();
    let mut layer_ratios = Vec::with_capacity(ROUNDS);
    let mut parts_ratios = Vec::with_capacity(ROUNDS);
    let mut totals = [Duration::ZERO; 3];
    for _ in 0..ROUNDS {
        let requests: Vec<HeaderMap> = (0..BATCH).map(|_| f.request()).collect();
        let direct: Vec<HeaderMap> = (0..BATCH).map(|_| f.request()).collect();
        let start = Instant::now();
        for _ in 0..BATCH {
            assert!(black_box(f.baseline()));
        }
        let base = start.elapsed();
        let start = Instant::now();
        for headers in requests {
            black_box(f.authenticate(headers).expect("authenticates"));
        }
        let layer = start.elapsed();
        let start = Instant::now();
        for headers in direct {
            let proof = headers["dpop"].to_str().expect("ascii");
            black_box(verify_bound(&f.verifier, &f.bundle, &jkt));
            black_box(
                f.dpop
                    .verify(&[proof], "GET", &f.url, Some(&f.bundle), Some(&jkt))
                    .expect("proof verifies"),
            );
        }
        let parts = start.elapsed();
        layer_ratios.push(layer.as_secs_f64() / base.as_secs_f64());
        parts_ratios.push(parts.as_secs_f64() / base.as_secs_f64());
        for (total, d) in totals.iter_mut().zip([base, layer, parts]) {
            *total += d;
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / (ROUNDS * BATCH) as f64;
    println!(
        "\nlayer/interleaved: per request: baseline (Ed25519 + ES256) {:.1} µs, authenticate {:.1} µs, verify_str + dpop verify called directly {:.1} µs",
        per(totals[0]),
        per(totals[1]),
        per(totals[2])
    );
    for (name, ratios) in [
        ("authenticate", &mut layer_ratios),
        ("verify_str + dpop verify", &mut parts_ratios),
    ] {
        ratios.sort_by(f64::total_cmp);
        let pct = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
        println!(
            "layer/interleaved: {name} / baseline: median {:.3}× (p10 {:.3}×, p90 {:.3}×) over {ROUNDS} rounds of {BATCH}",
            pct(0.5),
            pct(0.1),
            pct(0.9),
        );
    }
    println!("layer/interleaved: target for authenticate ≤ 1.3×");
}

fn main() {
    let f = Fixture::new();
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
        .configure_from_args();
    criterion_groups(&mut c, &f);
    c.final_summary();
    // `cargo test --benches` runs each benchmark once, in test mode.
    if !std::env::args().any(|a| a == "--test") {
        interleaved_ratio(&f);
    }
}
