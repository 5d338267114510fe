//! Verifier and issuer benchmarks, each group measured against the raw
//! aws-lc-rs Ed25519 verification of a passport-sized signing input in the
//! same run, so results read as ratios (see `docs/performance.md`).
//!
//! Groups: `verify_root`, `verify_chain3_cold`, `verify_chain3_warm` (the
//! ancestors cached, a new leaf each time), `verify_repeat` (a bundle seen
//! before: every token cached), `issue`, `delegate`, and `components` (the parts of one link's cold
//! verification, for the breakdown).
//!
//! Run with `cargo bench -p passport-verifier` (wall-clock time).
//!
//! On a shared or virtualised machine the CPU's speed drifts by tens of
//! percent over seconds, which makes a ratio of two benchmarks measured a few
//! seconds apart meaningless. `PASSPORT_BENCH_UNIT=ed25519` measures every
//! benchmark in *Ed25519 verifications* instead: each criterion sample is
//! bracketed by a short calibration run of the raw baseline, and the sample's
//! time is divided by the calibrated time of one verification. The ratio then
//! comes out directly (the `baseline_ed25519_verify` benchmarks read ≈ 1.0,
//! a built-in sanity check). Those groups carry a `_ratio` suffix so
//! criterion never compares them with wall-clock runs.
// A benchmark fixture that cannot be built is a bug in the benchmark; failing
// loudly is the right behaviour.
#![allow(clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ED25519, ParsedPublicKey};
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, BenchmarkGroup, Criterion, Throughput};
use passport_claims::{
    Assurance, IdentityAssertion, Level, ManualClock, PassportClaims, ScopeSet, UnverifiedBundle,
};
use passport_issuer::{IssuanceRequest, IssuedPassport, Issuer};
use passport_jose::{Algorithm, CompactJws, SigningKey, VerifyOptions, b64, sha256};
use passport_testkit::{delegation, issuance};
use passport_verifier::{
    InMemoryKeyStore, KeyStore, VerificationPolicy, VerifiedPassport, Verifier,
};

const ISSUER: &str = "https://issuer.agent-passport.example";
const ROOT_AUD: &str = "https://orchestrator.example.com";
const MID_AUD: &str = "https://research-agent.example.com";
const LEAF_AUD: &str = "https://files.example.com";
const ROOT_SCOPE: &[&str] = &["files:read:*", "files:write:drafts/*", "search:query"];
const MID_SCOPE: &[&str] = &["files:read:reports/*", "search:query"];
const LEAF_SCOPE: &[&str] = &["files:read:reports/q3*"];
/// 2023-11-14T22:13:20Z; the clock never moves, so nothing expires mid-run.
const NOW: i64 = 1_700_000_000;

/// Everything the groups share: one Ed25519 issuer, a root and a 3-link
/// bundle minted at `NOW`, and the raw key for the baseline.
struct Fixture {
    clock: Arc<ManualClock>,
    keys: Arc<InMemoryKeyStore>,
    issuer: Issuer,
    root_request: IssuanceRequest,
    root: IssuedPassport,
    root_verified: VerifiedPassport,
    chain3: IssuedPassport,
    mid_verified: VerifiedPassport,
    raw_key: ParsedPublicKey,
    raw_public: Vec<u8>,
}

/// The raw-crypto baseline inputs for one token: its signing input and signature.
struct Baseline {
    message: Vec<u8>,
    signature: Vec<u8>,
}

impl Baseline {
    fn of(token: &str) -> Baseline {
        let jws = CompactJws::parse(token).expect("token parses");
        let sig_b64 = token.rsplit('.').next().expect("three segments");
        Baseline {
            message: jws.signing_input().to_vec(),
            signature: b64::decode(sig_b64).expect("signature is base64url"),
        }
    }
}

fn root_policy() -> VerificationPolicy {
    VerificationPolicy::new(ISSUER, ROOT_AUD)
        .require_ial(Level::TWO)
        .require_aal(Level::TWO)
        .required_scope("files:read:reports/q3.pdf")
}

fn mid_policy() -> VerificationPolicy {
    VerificationPolicy::new(ISSUER, MID_AUD)
}

fn chain3_policy() -> VerificationPolicy {
    VerificationPolicy::new(ISSUER, LEAF_AUD)
        .require_ial(Level::TWO)
        .require_aal(Level::TWO)
        .required_scope("files:read:reports/q3.pdf")
}

fn verifier(
    clock: &Arc<ManualClock>,
    keys: &Arc<InMemoryKeyStore>,
    policy: VerificationPolicy,
) -> Verifier {
    let keys: Arc<dyn KeyStore> = keys.clone();
    Verifier::with_key_store(policy, keys)
        .expect("valid policy")
        .with_clock(clock.clone())
}

fn scopes(patterns: &[&str]) -> ScopeSet {
    ScopeSet::parse(patterns).expect("valid scope patterns")
}

impl Fixture {
    fn new() -> Fixture {
        let clock = Arc::new(ManualClock::new(NOW));
        let key = SigningKey::generate(Algorithm::EdDSA).expect("Ed25519 key");
        let verifying = key.verifying_key();
        let x = verifying
            .jwk()
            .get("x")
            .and_then(|x| x.as_str())
            .and_then(b64::decode)
            .expect("Ed25519 JWK has a base64url x");
        let raw_key = ParsedPublicKey::new(&ED25519, &x).expect("raw Ed25519 key");
        let keys = Arc::new(InMemoryKeyStore::new());
        keys.insert(ISSUER, verifying).expect("trusted key");
        let issuer = Issuer::new(ISSUER, key).with_clock(clock.clone());

        let assertion =
            IdentityAssertion::new("https://login.idp.example.com", "alice@example.com").with_acr(
                "http://idmanagement.gov/ns/assurance/ial/2",
                Assurance::uniform(Level::TWO),
            );
        let root_request = issuance(
            assertion,
            ROOT_AUD,
            "planner-agent-01",
            "claude-sonnet-4",
            ROOT_SCOPE,
        )
        .task_purpose("Prepare the Q3 board summary from the finance reports");
        let root = issuer.issue(root_request.clone()).expect("root issued");

        let root_verified = verifier(&clock, &keys, root_policy())
            .verify_str(root.bundle())
            .expect("root verifies");
        let mid = issuer
            .delegate(
                delegation(
                    &root_verified,
                    MID_AUD,
                    "research-agent-02",
                    "claude-haiku-4",
                    MID_SCOPE,
                )
                .task_purpose("Collect the Q3 finance reports"),
            )
            .expect("child delegated");
        let mid_verified = verifier(&clock, &keys, mid_policy())
            .verify_str(mid.bundle())
            .expect("child verifies");
        let chain3 = issuer
            .delegate(
                delegation(
                    &mid_verified,
                    LEAF_AUD,
                    "reader-agent-03",
                    "claude-haiku-4",
                    LEAF_SCOPE,
                )
                .task_purpose("Read the Q3 report"),
            )
            .expect("grandchild delegated");
        assert_eq!(chain3.bundle().split('~').count(), 3);

        Fixture {
            clock,
            keys,
            issuer,
            root_request,
            root,
            root_verified,
            chain3,
            mid_verified,
            raw_key,
            raw_public: x,
        }
    }

    fn verifier(&self, policy: VerificationPolicy) -> Verifier {
        verifier(&self.clock, &self.keys, policy)
    }

    /// A new leaf under the 3-link bundle's middle link (its own `jti`,
    /// so its own bytes), as a whole bundle.
    fn fresh_leaf_bundle(&self) -> String {
        self.issuer
            .delegate(
                delegation(
                    &self.mid_verified,
                    LEAF_AUD,
                    "reader-agent-03",
                    "claude-haiku-4",
                    LEAF_SCOPE,
                )
                .task_purpose("Read the Q3 report"),
            )
            .expect("grandchild delegated")
            .bundle()
            .to_owned()
    }

    /// The baseline every group carries: one raw Ed25519 verification of
    /// `token`'s signing input with a key parsed once.
    fn bench_baseline<M: Measurement>(&self, group: &mut BenchmarkGroup<'_, M>, token: &str) {
        let b = Baseline::of(token);
        self.raw_key
            .verify_sig(&b.message, &b.signature)
            .expect("baseline signature verifies");
        group.bench_function("baseline_ed25519_verify", |bench| {
            bench.iter(|| {
                self.raw_key
                    .verify_sig(black_box(&b.message), black_box(&b.signature))
                    .is_ok()
            })
        });
    }
}

fn benches<M: Measurement + 'static>(c: &mut Criterion<M>, f: &Fixture, suffix: &str) {
    let name = |group: &str| format!("{group}{suffix}");

    // 1. A root passport seen for the first time, from text (the main
    //    number) and pre-parsed: the signature cache is off, so every
    //    iteration decodes and checks the signature (`verify_repeat` has the
    //    same root served from the cache).
    {
        let v = f.verifier(root_policy()).with_cache_capacity(0);
        let text = f.root.bundle();
        let parsed = UnverifiedBundle::parse(text).expect("bundle parses");
        v.verify_str(text).expect("root verifies");
        let mut g = c.benchmark_group(name("verify_root"));
        f.bench_baseline(&mut g, f.root.token());
        g.bench_function("verify_str", |b| {
            b.iter(|| v.verify_str(black_box(text)).expect("verifies"))
        });
        g.bench_function("verify_bundle_preparsed", |b| {
            b.iter(|| v.verify_bundle(black_box(&parsed)).expect("verifies"))
        });
        g.finish();
    }

    // 2. Three links, ancestor cache disabled: three signatures per call.
    {
        let v = f.verifier(chain3_policy()).with_cache_capacity(0);
        let text = f.chain3.bundle();
        let parsed = UnverifiedBundle::parse(text).expect("bundle parses");
        v.verify_str(text).expect("chain verifies");
        assert_eq!(v.cached_tokens(), 0);
        let mut g = c.benchmark_group(name("verify_chain3_cold"));
        f.bench_baseline(&mut g, f.chain3.token());
        g.bench_function("verify_str", |b| {
            b.iter(|| v.verify_str(black_box(text)).expect("verifies"))
        });
        g.bench_function("verify_bundle_preparsed", |b| {
            b.iter(|| v.verify_bundle(black_box(&parsed)).expect("verifies"))
        });
        g.finish();
    }

    // 3. Ancestors cached, the leaf new: a fresh leaf is delegated from the
    //    verified middle link for every iteration (outside the measurement),
    //    as when an agent mints a new passport per task on a known chain.
    {
        let v = f.verifier(chain3_policy());
        let text = f.chain3.bundle();
        v.verify_str(text).expect("chain verifies");
        assert_eq!(v.cached_tokens(), 2, "the ancestors, kept at once");
        let fresh = || f.fresh_leaf_bundle();
        let probe = fresh();
        v.verify_str(&probe).expect("a fresh leaf verifies");
        let before = v.cached_tokens();
        v.verify_str(&fresh()).expect("a fresh leaf verifies");
        assert_eq!(v.cached_tokens(), before, "a leaf seen once is not kept");
        let mut g = c.benchmark_group(name("verify_chain3_warm"));
        f.bench_baseline(&mut g, f.chain3.token());
        g.bench_function("verify_str", |b| {
            b.iter_batched(
                fresh,
                |text| v.verify_str(black_box(&text)).expect("verifies"),
                BatchSize::NumBatches(1),
            )
        });
        g.bench_function("verify_bundle_preparsed", |b| {
            b.iter_batched(
                || UnverifiedBundle::parse(&fresh()).expect("bundle parses"),
                |parsed| v.verify_bundle(black_box(&parsed)).expect("verifies"),
                BatchSize::NumBatches(1),
            )
        });
        g.finish();
    }

    // 3b. A bundle seen before: the same bytes again, every token cached.
    {
        let v = f.verifier(chain3_policy());
        let text = f.chain3.bundle();
        let parsed = UnverifiedBundle::parse(text).expect("bundle parses");
        // Twice: the ancestors are kept the first time, the leaf the second.
        for _ in 0..2 {
            v.verify_str(text).expect("chain verifies");
        }
        assert_eq!(v.cached_tokens(), 3);
        let root_v = f.verifier(root_policy());
        for _ in 0..2 {
            root_v.verify_str(f.root.bundle()).expect("root verifies");
        }
        assert_eq!(root_v.cached_tokens(), 1);
        let mut g = c.benchmark_group(name("verify_repeat"));
        f.bench_baseline(&mut g, f.chain3.token());
        g.bench_function("chain3_verify_str", |b| {
            b.iter(|| v.verify_str(black_box(text)).expect("verifies"))
        });
        g.bench_function("chain3_verify_bundle_preparsed", |b| {
            b.iter(|| v.verify_bundle(black_box(&parsed)).expect("verifies"))
        });
        g.bench_function("root_verify_str", |b| {
            b.iter(|| {
                root_v
                    .verify_str(black_box(f.root.bundle()))
                    .expect("verifies")
            })
        });
        g.finish();
    }

    // 4. Minting a root (the request clone is outside the measurement).
    {
        let mut g = c.benchmark_group(name("issue"));
        f.bench_baseline(&mut g, f.root.token());
        g.bench_function("issue_root", |b| {
            b.iter_batched(
                || f.root_request.clone(),
                |req| f.issuer.issue(req).expect("issued"),
                BatchSize::NumBatches(1),
            )
        });
        g.finish();
    }

    // 5. Delegating from a verified root.
    {
        let mut g = c.benchmark_group(name("delegate"));
        f.bench_baseline(&mut g, f.root.token());
        g.bench_function("delegate_from_root", |b| {
            b.iter_batched(
                || {
                    delegation(
                        &f.root_verified,
                        MID_AUD,
                        "research-agent-02",
                        "claude-haiku-4",
                        MID_SCOPE,
                    )
                    .task_purpose("Collect the Q3 finance reports")
                },
                |req| f.issuer.delegate(req).expect("delegated"),
                BatchSize::NumBatches(1),
            )
        });
        g.finish();
    }

    // 6. The parts of one link's cold verification, for the breakdown in
    //    docs/performance.md (the leaf of the 3-link bundle: the largest token).
    {
        let token = f.chain3.token();
        let text = f.chain3.bundle();
        let options = VerifyOptions::new(&[Algorithm::EdDSA], passport_claims::PASSPORT_TYP);
        let jws = CompactJws::parse(token).expect("token parses");
        let key = f
            .keys
            .key(ISSUER, jws.header().kid().expect("kid"))
            .expect("key");
        let payload = jws.verify(&key, &options).expect("verifies").to_vec();
        let mut g = c.benchmark_group(name("components"));
        f.bench_baseline(&mut g, token);
        g.bench_function("bundle_parse_3", |b| {
            b.iter(|| UnverifiedBundle::parse(black_box(text)).expect("parses"))
        });
        g.bench_function("jws_parse", |b| {
            b.iter(|| CompactJws::parse(black_box(token)).expect("parses"))
        });
        g.bench_function("jws_verify_parsed", |b| {
            b.iter(|| {
                jws.verify(black_box(&key), &options)
                    .expect("verifies")
                    .len()
            })
        });
        g.bench_function("key_lookup", |b| {
            b.iter(|| {
                f.keys
                    .key(black_box(ISSUER), black_box(key.kid()))
                    .expect("key")
            })
        });
        g.bench_function("passport_from_json", |b| {
            b.iter(|| PassportClaims::from_json(black_box(&payload)).expect("decodes"))
        });
        // check_chain's attenuation test, for both links of the 3-link bundle.
        let (root_scope, mid_scope, leaf_scope) =
            (scopes(ROOT_SCOPE), scopes(MID_SCOPE), scopes(LEAF_SCOPE));
        g.bench_function("scope_attenuation_x2", |b| {
            b.iter(|| {
                black_box(&leaf_scope).not_implied_by(&mid_scope).len()
                    + black_box(&mid_scope).not_implied_by(&root_scope).len()
            })
        });
        g.bench_function("sha256_token", |b| {
            b.iter(|| sha256(black_box(token.as_bytes())))
        });
        g.finish();
    }
}

fn config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
}

/// Time in units of one raw Ed25519 verification, calibrated around every
/// sample (see the crate documentation).
struct Ed25519Units {
    key: ParsedPublicKey,
    baseline: Baseline,
}

/// Verifications per calibration run, before and after each sample.
const CALIBRATION_ROUNDS: u32 = 16;

impl Ed25519Units {
    fn new(f: &Fixture) -> Ed25519Units {
        let key = ParsedPublicKey::new(&ED25519, &f.raw_public).expect("raw Ed25519 key");
        Ed25519Units {
            key,
            baseline: Baseline::of(f.root.token()),
        }
    }

    fn calibrate(&self) -> Duration {
        let start = Instant::now();
        for _ in 0..CALIBRATION_ROUNDS {
            black_box(
                self.key
                    .verify_sig(black_box(&self.baseline.message), &self.baseline.signature)
                    .is_ok(),
            );
        }
        start.elapsed()
    }
}

impl Measurement for Ed25519Units {
    type Intermediate = (Duration, Instant);
    type Value = f64;

    fn start(&self) -> (Duration, Instant) {
        let before = self.calibrate();
        (before, Instant::now())
    }
    fn end(&self, (before, start): (Duration, Instant)) -> f64 {
        let elapsed = start.elapsed();
        let after = self.calibrate();
        let one = (before + after).as_secs_f64() / f64::from(2 * CALIBRATION_ROUNDS);
        elapsed.as_secs_f64() / one
    }
    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }
    fn zero(&self) -> f64 {
        0.0
    }
    fn to_f64(&self, value: &f64) -> f64 {
        *value
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &RatioFormatter
    }
}

struct RatioFormatter;

impl ValueFormatter for RatioFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "x ed25519"
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        _throughput: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "x ed25519"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ed25519_verifications"
    }
}

/// Runs `op` `n` times: the only function whose instructions are collected
/// in the instruction-count mode (see [`count_instructions`]).
#[inline(never)]
fn count_target(op: &mut dyn FnMut(), n: usize) {
    for _ in 0..n {
        op();
    }
}

/// One operation of the instruction-count and interleaved modes: `run`
/// is timed; `prepare(k)`, called outside the timed part before every `k`
/// runs, makes their inputs (a warm chain mints `k` fresh leaves, so each
/// bundle is new to the verifier but, like a request just read from a
/// socket, already in the CPU's cache).
struct Op<'a> {
    run: Box<dyn FnMut() + 'a>,
    prepare: Box<dyn FnMut(usize) + 'a>,
}

impl<'a> Op<'a> {
    fn plain(run: impl FnMut() + 'a) -> Op<'a> {
        Op {
            run: Box::new(run),
            prepare: Box::new(|_| {}),
        }
    }
}

fn operation<'a>(f: &'a Fixture, op: &str) -> Op<'a> {
    let chain = f.chain3.bundle();
    match op {
        // The baselines: raw verifications of the very signing inputs the
        // operation verifies (their length decides the SHA-512 work: the
        // root's is 993 bytes, the 3-link leaf's 1,225, and one over the
        // other reads 0.988). `baseline_chain3` verifies the bundle's three
        // tokens in turn: its three signatures are 3.0 of it.
        "baseline" | "baseline_root" | "baseline_chain3" | "baseline_distinct" => {
            let set: Vec<Baseline> = match op {
                "baseline" => vec![Baseline::of(f.chain3.token())],
                "baseline_root" => vec![Baseline::of(f.root.token())],
                "baseline_chain3" => chain.split('~').map(Baseline::of).collect(),
                // The control for the baseline: another of 64 leaves'
                // signatures each time, as the warm chain verifies a new
                // leaf each time. It reads 1.00 (unlike ES256, whose
                // variable-time inversion runs faster on one signature
                // repeated: see the layer bench), so one repeated
                // signature is a fair Ed25519 baseline.
                _ => (0..64)
                    .map(|_| {
                        let b = f.fresh_leaf_bundle();
                        Baseline::of(b.split('~').next().expect("leaf"))
                    })
                    .collect(),
            };
            let mut i = 0;
            Op::plain(move || {
                i = (i + 1) % set.len();
                let b = &set[i];
                black_box(
                    f.raw_key
                        .verify_sig(black_box(&b.message), black_box(&b.signature))
                        .is_ok(),
                );
            })
        }
        "root_cold" => {
            let v = f.verifier(root_policy()).with_cache_capacity(0);
            Op::plain(move || {
                black_box(v.verify_str(black_box(f.root.bundle())).expect("verifies"));
            })
        }
        "chain3_cold" => {
            let v = f.verifier(chain3_policy()).with_cache_capacity(0);
            Op::plain(move || {
                black_box(v.verify_str(black_box(chain)).expect("verifies"));
            })
        }
        "chain3_warm" => {
            let v = f.verifier(chain3_policy());
            v.verify_str(chain).expect("chain verifies");
            let fresh = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
            let minted = std::rc::Rc::clone(&fresh);
            Op {
                run: Box::new(move || {
                    let text = fresh.borrow_mut().pop().expect("prepared fresh leaves");
                    black_box(v.verify_str(black_box(&text)).expect("verifies"));
                }),
                prepare: Box::new(move |k| {
                    minted
                        .borrow_mut()
                        .extend((0..k).map(|_| f.fresh_leaf_bundle()));
                }),
            }
        }
        "chain3_repeat" => {
            let v = f.verifier(chain3_policy());
            // Twice: the ancestors are kept the first time, the leaf the second.
            v.verify_str(chain).expect("chain verifies");
            v.verify_str(chain).expect("chain verifies");
            Op::plain(move || {
                black_box(v.verify_str(black_box(chain)).expect("verifies"));
            })
        }
        "root_repeat" => {
            let v = f.verifier(root_policy());
            v.verify_str(f.root.bundle()).expect("root verifies");
            v.verify_str(f.root.bundle()).expect("root verifies");
            Op::plain(move || {
                black_box(v.verify_str(black_box(f.root.bundle())).expect("verifies"));
            })
        }
        other => panic!("unknown PASSPORT_BENCH_OP {other:?}"),
    }
}

/// Instruction counts: `PASSPORT_BENCH_COUNT=<n> PASSPORT_BENCH_OP=<op>`
/// runs one operation `n` times inside [`count_target`] and exits. Run it
/// under `valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect=*count_target*` and divide by `n`. Valgrind hides
/// AVX-512 and SHA-NI from aws-lc, so the baseline takes the portable path:
/// compare builds with it, not against the timed ratios.
fn count_instructions(f: &Fixture, n: usize, op: &str) {
    let mut op = operation(f, op);
    (op.prepare)(n);
    count_target(&mut op.run, n);
}

/// `PASSPORT_BENCH_INTERLEAVED=<rounds>`: for each operation, `rounds`
/// times, `BATCH` raw Ed25519 verifications then `BATCH` runs of the
/// operation, each batch timed; prints the median, 10th and 90th percentile
/// of the per-round ratio and of the baseline batch time. Both halves of a
/// round see the same machine within milliseconds, so a shared machine's
/// load drifts out of the ratio.
fn interleaved(f: &Fixture, rounds: usize) {
    const BATCH: usize = 20;

    println!(
        "op median p10 p90 (ratio to one raw Ed25519 verification); baseline us median p10 p90"
    );
    for name in [
        "baseline_distinct",
        "root_cold",
        "chain3_cold",
        "chain3_warm",
        "chain3_repeat",
        "root_repeat",
    ] {
        // `PASSPORT_BENCH_OP=<op>`: that operation alone (for a profiler).
        if std::env::var("PASSPORT_BENCH_OP").is_ok_and(|only| only != name) {
            continue;
        }
        let mut base = operation(
            f,
            match name {
                "root_cold" | "root_repeat" => "baseline_root",
                "chain3_cold" => "baseline_chain3",
                _ => "baseline",
            },
        );
        let mut op = operation(f, name);
        (op.prepare)(BATCH);
        count_target(&mut op.run, BATCH);
        let mut ratios = Vec::with_capacity(rounds);
        let mut bases = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            (op.prepare)(BATCH);
            let t = Instant::now();
            count_target(&mut base.run, BATCH);
            let b = t.elapsed().as_secs_f64();
            let t = Instant::now();
            count_target(&mut op.run, BATCH);
            let o = t.elapsed().as_secs_f64();
            ratios.push(o / b);
            bases.push(b * 1e6 / BATCH as f64);
        }
        let pick = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
            (at(0.5), at(0.1), at(0.9))
        };
        let (m, lo, hi) = pick(&mut ratios);
        let (bm, blo, bhi) = pick(&mut bases);
        println!("{name} {m:.4} {lo:.4} {hi:.4}; {bm:.1} {blo:.1} {bhi:.1}");
    }
}

fn main() {
    let f = Fixture::new();
    if let Ok(n) = std::env::var("PASSPORT_BENCH_COUNT") {
        let n = n.parse().expect("PASSPORT_BENCH_COUNT is a count");
        let op = std::env::var("PASSPORT_BENCH_OP").expect("PASSPORT_BENCH_OP names an operation");
        count_instructions(&f, n, &op);
        return;
    }
    if let Ok(rounds) = std::env::var("PASSPORT_BENCH_INTERLEAVED") {
        interleaved(
            &f,
            rounds
                .parse()
                .expect("PASSPORT_BENCH_INTERLEAVED is a count"),
        );
        return;
    }
    if std::env::var("PASSPORT_BENCH_UNIT").as_deref() == Ok("ed25519") {
        let unit = Ed25519Units::new(&f);
        let mut c = config(Criterion::default().with_measurement(unit)).configure_from_args();
        benches(&mut c, &f, "_ratio");
    } else {
        let mut c = config(Criterion::default()).configure_from_args();
        benches(&mut c, &f, "");
    }
    Criterion::default().configure_from_args().final_summary();
}
