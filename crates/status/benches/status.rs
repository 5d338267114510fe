//! Status-list benchmarks, each group measured against the raw aws-lc-rs
//! Ed25519 verification of a passport's signing input in the same run, so
//! results read as ratios.
//!
//! - `status_chain3_warm`: verifying a 3-link bundle with a warm ancestor
//!   cache, without a status source and with a [`StatusListSource`] holding
//!   a warm list (the issue's target: at most 5 % added).
//!   `status_check_3_links` measures the added work alone.
//! - `status_list_1m`: decoding a 1,000,000-entry 2-bit list
//!   ([`StatusList::decode`], 250 000 bytes inflated) and one `get`.
//!
//! Run with `cargo bench -p passport-status`.
// A benchmark fixture that cannot be built is a bug in the benchmark.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{ED25519, ParsedPublicKey};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use passport_claims::{IdentityAssertion, ManualClock};
use passport_issuer::{IssuedPassport, Issuer};
use passport_jose::{Algorithm, CompactJws, SigningKey, b64};
use passport_status::{IndexAllocator, Status, StatusList, StatusListSource};
use passport_testkit::{delegation, issuance};
use passport_verifier::{
    InMemoryKeyStore, KeyStore, StatusSource as _, VerificationPolicy, Verifier,
};

const ISSUER: &str = "https://issuer.agent-passport.example";
const AUD: &str = "https://files.example.com";
const URI: &str = "https://issuer.agent-passport.example/status/1";
const STATUS_BASE: &str = "https://issuer.agent-passport.example/status";
const NOW: i64 = 1_700_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    keys: Arc<InMemoryKeyStore>,
    clock: Arc<ManualClock>,
    chain3: IssuedPassport,
    source: Arc<StatusListSource>,
    raw_key: ParsedPublicKey,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let clock = Arc::new(ManualClock::new(NOW));
        let key = SigningKey::generate(Algorithm::EdDSA).expect("Ed25519 key");
        let x = key
            .public_jwk()
            .get("x")
            .and_then(|x| x.as_str())
            .and_then(b64::decode)
            .expect("Ed25519 x");
        let raw_key = ParsedPublicKey::new(&ED25519, &x).expect("raw Ed25519 key");
        let keys = Arc::new(InMemoryKeyStore::new());
        keys.insert(ISSUER, key.verifying_key())
            .expect("trusted key");
        let allocator =
            Arc::new(IndexAllocator::open(dir.path().join("status.json"), URI).expect("allocator"));
        let issuer = Issuer::new(ISSUER, key.try_clone().expect("key clone"))
            .with_clock(clock.clone())
            .with_status(allocator.clone());
        // Parents just minted here, verified to delegate from: no status check.
        let plain = verifier(&clock, &keys).dangerous_ignore_status();
        let root = issuer
            .issue(issuance(
                IdentityAssertion::new("https://login.idp.example.com", "alice@example.com"),
                AUD,
                "planner-agent-01",
                "claude-sonnet-4",
                &["files:read:*", "search:query"],
            ))
            .expect("root");
        let mid = issuer
            .delegate(delegation(
                &plain.verify_str(root.bundle()).expect("root verifies"),
                AUD,
                "research-agent-02",
                "claude-haiku-4",
                &["files:read:reports/*"],
            ))
            .expect("child");
        let chain3 = issuer
            .delegate(delegation(
                &plain.verify_str(mid.bundle()).expect("child verifies"),
                AUD,
                "reader-agent-03",
                "claude-haiku-4",
                &["files:read:reports/q3*"],
            ))
            .expect("grandchild");
        // Some other passports revoked, so the list is not all zeros.
        for i in 0..200 {
            let jti = format!("other-{i}");
            allocator.allocate_record(&jti, "x", NOW).expect("allocate");
            allocator
                .set_status(jti.as_str(), Status::Invalid)
                .expect("revoke");
        }
        let token = allocator.publish(&key, NOW, 300, 3600).expect("list token");
        let keystore: Arc<dyn KeyStore> = keys.clone();
        let source = StatusListSource::new(keystore)
            .with_clock(clock.clone())
            .trust_issuer(ISSUER, STATUS_BASE)
            .expect("an https base");
        source.add_token(&token).expect("list verifies");
        Fixture {
            _dir: dir,
            keys,
            clock,
            chain3,
            source: Arc::new(source),
            raw_key,
        }
    }

    fn baseline(&self, group: &mut BenchmarkGroup<'_, WallTime>) {
        let token = self.chain3.token();
        let jws = CompactJws::parse(token).expect("token parses");
        let message = jws.signing_input().to_vec();
        let signature =
            b64::decode(token.rsplit('.').next().expect("signature")).expect("base64url");
        group.bench_function("baseline_ed25519_verify", |b| {
            b.iter(|| {
                self.raw_key
                    .verify_sig(black_box(&message), black_box(&signature))
                    .expect("verifies")
            })
        });
    }
}

fn verifier(clock: &Arc<ManualClock>, keys: &Arc<InMemoryKeyStore>) -> Verifier {
    let keys: Arc<dyn KeyStore> = keys.clone();
    Verifier::with_key_store(VerificationPolicy::new(ISSUER, AUD), keys)
        .expect("policy")
        .with_clock(clock.clone())
}

fn chain3_warm(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("status_chain3_warm");
    f.baseline(&mut group);
    let bundle = f.chain3.bundle();
    // The same verification without asking any status source (the baseline).
    let plain = verifier(&f.clock, &f.keys).dangerous_ignore_status();
    let with_status = verifier(&f.clock, &f.keys).with_status_source(f.source.clone());
    plain.verify_str(bundle).expect("warm up");
    with_status.verify_str(bundle).expect("warm up");
    group.bench_function("verify_no_status", |b| {
        b.iter(|| plain.verify_str(black_box(bundle)).expect("verifies"))
    });
    group.bench_function("verify_status_list", |b| {
        b.iter(|| with_status.verify_str(black_box(bundle)).expect("verifies"))
    });
    // The added work alone (what the two benchmarks above differ by, far
    // below this machine's noise): the source asked about the three links.
    let links = plain.verify_str(bundle).expect("verifies").links().to_vec();
    group.bench_function("status_check_3_links", |b| {
        b.iter(|| {
            for link in &links {
                black_box(f.source.status(black_box(link), NOW).expect("answers"));
            }
        })
    });
    group.finish();
}

fn list_1m(c: &mut Criterion, f: &Fixture) {
    const ENTRIES: u64 = 1_000_000;
    let mut list = StatusList::with_capacity(2, ENTRIES).expect("list");
    // 1 % of the entries revoked or suspended, spread pseudo-randomly.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..ENTRIES / 100 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        list.set(x % ENTRIES, 1 + (x % 2) as u8).expect("set");
    }
    let (bits, lst) = list.encode().expect("encode");
    eprintln!(
        "status_list_1m: {} entries, {} bytes raw, lst {} characters",
        list.len(),
        list.as_bytes().len(),
        lst.len()
    );
    let mut group = c.benchmark_group("status_list_1m");
    f.baseline(&mut group);
    group.bench_function("decode_1m_2bit", |b| {
        b.iter(|| StatusList::decode(bits.into(), black_box(&lst), 1 << 20).expect("decodes"))
    });
    group.bench_function("get", |b| {
        b.iter(|| list.get(black_box(x % ENTRIES)).expect("in range"))
    });
    group.bench_function("encode_1m_2bit", |b| {
        b.iter(|| list.encode().expect("encodes"))
    });
    group.finish();
}

fn main() {
    let f = Fixture::new();
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
        .configure_from_args();
    chain3_warm(&mut c, &f);
    list_1m(&mut c, &f);
    c.final_summary();
}
