//! The per-request cost of the passport layer, as a ratio to raw signature
//! verifications measured in the same run. Two groups, each with its
//! baseline:
//!
//! - `layer_new_leaf`: a `GET` through the tower [`PassportService`] (over a
//!   trivial inner service) with `Authorization: DPoP <3-link bundle>` whose
//!   leaf is new on every request (its two ancestors are cached by the
//!   shared `Verifier`), an ES256 `DPoP` proof and a route scope check.
//!   Baseline: one raw aws-lc-rs Ed25519 verification (a leaf's
//!   signature) plus one raw ES256 verification (a proof's), keys parsed
//!   once, each time another of 64 signatures (see `BASELINE_SET`).
//!   Target: ≤ 1.2×.
//! - `layer_repeated_bundle`: the same, with the same bundle on every
//!   request (a fresh proof each time: proofs are single-use). Baseline: one
//!   raw ES256 verification, of another of 64 proofs each time. Target: ≤ 1.1× — only the proof should be left
//!   once the verifier caches leaf signatures too (that cache lands
//!   separately; without it the leaf's Ed25519 signature is still checked).
//!
//! Every request gets its own proof (and, in the first group, its own
//! leaf), made in criterion's `iter_batched` setup, outside the measured
//! time; the replay cache has room for every proof of the run. The clock is
//! a `ManualClock` stopped at one instant, so nothing expires.
//!
//! After the criterion groups, an interleaved run prints each ratio
//! directly: rounds alternate a batch of baselines and a batch of requests,
//! so CPU-speed drift on a shared machine affects both alike; the median
//! and spread of the per-round ratios are printed.
//!
//! Run with `cargo bench -p passport-tower --bench layer`.
// A benchmark fixture that cannot be built is a bug in the benchmark.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, missing_docs)]

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey};
use bytes::Bytes;
use criterion::{BatchSize, Criterion};
use http::{HeaderValue, Request, Response, StatusCode};
use passport_claims::{Assurance, IdentityAssertion, Level, ManualClock};
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier, InMemoryReplayCache};
use passport_issuer::Issuer;
use passport_jose::{Algorithm, SigningKey, b64};
use passport_testkit::{delegation, issuance};
use passport_tower::{PassportAuth, PassportService, Requirements};
use passport_verifier::{
    InMemoryKeyStore, KeyStore, Verification, VerificationPolicy, VerifiedPassport, Verifier,
};
use tower_layer::Layer;
use tower_service::Service;

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

/// The application behind the layer: answers 200 at once.
#[derive(Clone)]
struct Ok200;

impl Service<Request<Bytes>> for Ok200 {
    type Response = Response<Bytes>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Bytes>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(Bytes::new())))
    }
}

struct Fixture {
    /// The layer for `layer_new_leaf`.
    new_leaf: RefCell<PassportService<Ok200>>,
    /// The layer for `layer_repeated_bundle`: the same verifier, another
    /// replay cache.
    repeated: RefCell<PassportService<Ok200>>,
    verifier: Arc<Verifier>,
    issuer: Issuer,
    /// The leaf's parent, verified: new leaves are delegated from it.
    parent: VerifiedPassport,
    /// One 3-link bundle, for the repeated-bundle group.
    bundle: String,
    key: DpopKey,
    url: String,
    // Baselines: signed messages (signing input, signature) of the sizes
    // the layer verifies, each a different signature (see `BASELINE_SET`).
    ed_key: ParsedPublicKey,
    ed_set: Vec<(Vec<u8>, Vec<u8>)>,
    es_key: ParsedPublicKey,
    es_set: Vec<(Vec<u8>, Vec<u8>)>,
    /// The next entry of the sets.
    next: std::cell::Cell<usize>,
}

/// How many different signatures each baseline cycles through. The layer
/// verifies a new signature on every request (a new proof, and in the first
/// group a new leaf), so the baseline does too: verifying one signature
/// again and again lets the branch predictor learn ECDSA's variable-time
/// inversion, which makes the raw ES256 baseline about 5 % faster than any
/// real request can be. `PASSPORT_BENCH_BASELINE=same` verifies one signature
/// only (the method used before 2026-11-28), for comparison;
/// `PASSPORT_BENCH_BASELINE=<n>` cycles through `n`.
const BASELINE_SET: usize = 64;

impl Fixture {
    fn new() -> Fixture {
        let clock = Arc::new(ManualClock::new(NOW));
        let signing = SigningKey::generate(Algorithm::EdDSA).expect("issuer key");
        let keys = Arc::new(InMemoryKeyStore::new());
        keys.insert(ISSUER, signing.verifying_key())
            .expect("trusted key");
        let keys: Arc<dyn KeyStore> = keys;
        let issuer = Issuer::new(ISSUER, signing).with_clock(clock.clone());
        let policy = VerificationPolicy::new(ISSUER, AUD)
            .require_ial(Level::TWO)
            .require_aal(Level::TWO);
        let verifier = Verifier::with_key_store(policy, keys)
            .expect("policy")
            .with_clock(clock.clone());

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
        let mid = issuer
            .delegate(
                delegation(
                    &verify_bound(&verifier, root.bundle(), a.jkt()),
                    AUD,
                    "research-agent-02",
                    "claude-haiku-4",
                    &["files:read:reports/*", "search:query"],
                )
                .holder_jkt(b.jkt()),
            )
            .expect("child");
        let parent = verify_bound(&verifier, mid.bundle(), b.jkt());

        // Each group has its own replay cache, so one group's proofs do not
        // make the other's cache larger. Room for every proof of the run:
        // nothing is ever refused as full, and the one holder key of the
        // bench may fill all of it (the per-key share guards a server shared
        // by many agents).
        let verifier = Arc::new(verifier);
        let service = || {
            let replay = Arc::new(
                InMemoryReplayCache::new(10_000_000, clock.clone()).with_key_share(10_000_000),
            );
            let dpop =
                DpopVerifier::new(DpopPolicy::default(), clock.clone()).with_replay_cache(replay);
            let auth = PassportAuth::builder(verifier.clone())
                .dpop(dpop)
                .build()
                .expect("auth");
            RefCell::new(
                auth.require(Requirements::scope(REQUIRED_SCOPE))
                    .layer(Ok200),
            )
        };

        let url = format!("{AUD}{PATH}");
        let bundle = new_bundle(&issuer, &parent, &key);
        assert_eq!(bundle.split('~').count(), 3);

        // Baseline inputs: leaves' signatures, and proofs'.
        let set_len = match std::env::var("PASSPORT_BENCH_BASELINE").as_deref() {
            Ok("same") => 1,
            Ok(n) => n
                .parse()
                .expect("PASSPORT_BENCH_BASELINE is `same` or a count"),
            Err(_) => BASELINE_SET,
        };
        let split = |jws: &str| {
            let (signing_input, sig) = jws.rsplit_once('.').expect("three segments");
            (
                signing_input.as_bytes().to_vec(),
                b64::decode(sig).expect("b64"),
            )
        };
        let ed_set: Vec<_> = (0..set_len)
            .map(|_| {
                let bundle = new_bundle(&issuer, &parent, &key);
                split(bundle.split('~').next().expect("leaf"))
            })
            .collect();
        let jwk = issuer.verifying_key().jwk().clone();
        let x = b64::decode(jwk.get("x").and_then(|x| x.as_str()).expect("x")).expect("b64");
        let ed_key = ParsedPublicKey::new(&ED25519, &x).expect("raw Ed25519 key");
        let es_set: Vec<_> = (0..set_len)
            .map(|_| {
                split(
                    &key.proof("GET", &url, Some(&bundle), None, NOW)
                        .expect("proof"),
                )
            })
            .collect();
        let jwk = key.public_jwk();
        let coord = |name: &str| b64::decode(jwk[name].as_str().expect("coordinate")).expect("b64");
        let mut point = vec![0x04];
        point.extend(coord("x"));
        point.extend(coord("y"));
        let es_key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).expect("raw P-256 key");

        let f = Fixture {
            new_leaf: service(),
            repeated: service(),
            verifier,
            issuer,
            parent,
            bundle,
            key,
            url,
            ed_key,
            ed_set,
            es_key,
            es_set,
            next: std::cell::Cell::new(0),
        };
        assert!(f.ed_and_es256());

        // Warm the cache (and check the whole path): the ancestors are kept
        // the first time, the repeated bundle's leaf the second.
        for _ in 0..2 {
            assert_eq!(f.serve(&f.repeated, f.request(&f.bundle)), StatusCode::OK);
        }
        assert_eq!(f.verifier.cached_tokens(), 3);
        let fresh = f.new_bundle();
        assert_eq!(f.serve(&f.new_leaf, f.request(&fresh)), StatusCode::OK);
        f
    }

    /// A new 3-link bundle: a new leaf under the same (cached) ancestors.
    fn new_bundle(&self) -> String {
        new_bundle(&self.issuer, &self.parent, &self.key)
    }

    /// One request for `bundle`, with a fresh proof.
    fn request(&self, bundle: &str) -> Request<Bytes> {
        let proof = self
            .key
            .proof("GET", &self.url, Some(bundle), None, NOW)
            .expect("proof");
        let mut request = Request::get(PATH).body(Bytes::new()).expect("request");
        let headers = request.headers_mut();
        headers.insert("host", HeaderValue::from_static("files.example.com"));
        headers.insert(
            "authorization",
            HeaderValue::try_from(format!("DPoP {bundle}")).expect("header"),
        );
        headers.insert("dpop", HeaderValue::try_from(proof).expect("header"));
        request
    }

    /// The request through the layer; its status. The inner service is
    /// ready at once, so the future completes on its first poll.
    fn serve(
        &self,
        service: &RefCell<PassportService<Ok200>>,
        request: Request<Bytes>,
    ) -> StatusCode {
        let mut future = service.borrow_mut().call(request);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(Ok(response)) => response.status(),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => panic!("the layer waited"),
        }
    }

    /// The index of the next baseline signatures.
    fn next(&self) -> usize {
        let i = (self.next.get() + 1) % self.es_set.len();
        self.next.set(i);
        i
    }

    fn ed_and_es256(&self) -> bool {
        let (message, signature) = &self.ed_set[self.next()];
        self.ed_key
            .verify_sig(black_box(message), black_box(signature))
            .is_ok()
            & self.es256()
    }

    fn es256(&self) -> bool {
        let (message, signature) = &self.es_set[self.next()];
        self.es_key
            .verify_sig(black_box(message), black_box(signature))
            .is_ok()
    }
}

/// A leaf delegated from `parent`, bound to `key`, as a bundle.
fn new_bundle(issuer: &Issuer, parent: &VerifiedPassport, key: &DpopKey) -> String {
    issuer
        .delegate(
            delegation(
                parent,
                AUD,
                "reader-agent-03",
                "claude-haiku-4",
                &["files:read:reports/q3*"],
            )
            .task_purpose("Read the Q3 report")
            .holder_jkt(key.jkt()),
        )
        .expect("grandchild")
        .bundle()
        .to_owned()
}

fn criterion_groups(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("layer_new_leaf");
    g.bench_function("baseline_ed25519_plus_es256", |b| {
        b.iter(|| assert!(f.ed_and_es256()))
    });
    g.bench_function("dpop_chain3_new_leaf_scope", |b| {
        b.iter_batched(
            || f.request(&f.new_bundle()),
            |request| assert_eq!(f.serve(&f.new_leaf, request), StatusCode::OK),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("layer_repeated_bundle");
    g.bench_function("baseline_es256", |b| b.iter(|| assert!(f.es256())));
    g.bench_function("dpop_chain3_same_bundle_scope", |b| {
        b.iter_batched(
            || f.request(&f.bundle),
            |request| assert_eq!(f.serve(&f.repeated, request), StatusCode::OK),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Interleaved rounds of `batch` baselines and `batch` requests, each
/// request made beforehand; the median and spread of the per-round ratios.
fn interleaved(
    name: &str,
    target: f64,
    baseline: impl Fn() -> bool,
    request: impl Fn() -> Request<Bytes>,
    f: &Fixture,
    service: &RefCell<PassportService<Ok200>>,
) {
    // `PASSPORT_BENCH_ROUNDS` and `PASSPORT_BENCH_BATCH` override the
    // defaults: on a loaded machine, short batches (20) in many rounds
    // (400) keep each round's two halves under the same load.
    let setting = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (rounds, batch) = (
        setting("PASSPORT_BENCH_ROUNDS", 40),
        setting("PASSPORT_BENCH_BATCH", 200),
    );
    let mut ratios = Vec::with_capacity(rounds);
    let mut base_spread = Vec::with_capacity(rounds);
    let mut totals = [Duration::ZERO; 2];
    for _ in 0..rounds {
        let requests: Vec<Request<Bytes>> = (0..batch).map(|_| request()).collect();
        let start = Instant::now();
        for _ in 0..batch {
            assert!(black_box(baseline()));
        }
        let base = start.elapsed();
        let start = Instant::now();
        for request in requests {
            assert_eq!(black_box(f.serve(service, request)), StatusCode::OK);
        }
        let layer = start.elapsed();
        ratios.push(layer.as_secs_f64() / base.as_secs_f64());
        base_spread.push(base.as_secs_f64());
        totals[0] += base;
        totals[1] += layer;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / (rounds * batch) as f64;
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let (b10, b50, b90) = (
        pct(&mut base_spread, 0.1),
        pct(&mut base_spread, 0.5),
        pct(&mut base_spread, 0.9),
    );
    println!(
        "\n{name}: per request: baseline {:.1} µs (round p10/p90 {:+.1}%/{:+.1}% of median), layer {:.1} µs",
        per(totals[0]),
        (b10 / b50 - 1.0) * 100.0,
        (b90 / b50 - 1.0) * 100.0,
        per(totals[1]),
    );
    println!(
        "{name}: layer / baseline: median {:.3}× (p10 {:.3}×, p90 {:.3}×) over {rounds} rounds of {batch}; target ≤ {target}×",
        pct(&mut ratios, 0.5),
        pct(&mut ratios, 0.1),
        pct(&mut ratios, 0.9),
    );
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
    // `PASSPORT_BENCH_ONLY=new_leaf` or `=repeated`: one interleaved group
    // alone (for a profiler).
    let only = std::env::var("PASSPORT_BENCH_ONLY").ok();
    let run = |group: &str| only.as_deref().is_none_or(|o| o == group);
    if !std::env::args().any(|a| a == "--test") && run("new_leaf") {
        interleaved(
            "layer_new_leaf/interleaved",
            1.2,
            || f.ed_and_es256(),
            || f.request(&f.new_bundle()),
            &f,
            &f.new_leaf,
        );
    }
    if !std::env::args().any(|a| a == "--test") && run("repeated") {
        interleaved(
            "layer_repeated_bundle/interleaved",
            1.1,
            || f.es256(),
            || f.request(&f.bundle),
            &f,
            &f.repeated,
        );
    }
}
