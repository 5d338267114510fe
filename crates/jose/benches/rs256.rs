//! RS256 signing and verification through `passport-jose`, each measured
//! against the raw aws-lc-rs operation on a 2048-bit key in the same group,
//! so results read as ratios (see `docs/performance.md`).
//!
//! Run with `cargo bench -p passport-jose --bench rs256` (wall-clock time).
// A benchmark fixture that cannot be built is a bug in the benchmark; failing
// loudly is the right behaviour.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use criterion::Criterion;
use passport_jose::{Algorithm, SigningKey, VerifyingKey, b64};

/// The signing input of a passport-sized JWS (about 600 bytes).
fn signing_input() -> Vec<u8> {
    let mut input =
        b"eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIiwidHlwIjoicGFzc3BvcnQrand0In0.".to_vec();
    input.extend(std::iter::repeat_n(b'A', 540));
    input
}

fn rs256(c: &mut Criterion) {
    let input = signing_input();
    let key = SigningKey::generate(Algorithm::RS256).expect("RS256 key");
    let verifying = key.verifying_key();
    let signature = key.sign_raw(&input).expect("RS256 signature");

    let raw = KeyPair::generate(KeySize::Rsa2048).expect("raw RSA key");
    let rng = SystemRandom::new();
    let mut raw_signature = vec![0u8; raw.public_modulus_len()];
    raw.sign(&RSA_PKCS1_SHA256, &rng, &input, &mut raw_signature)
        .expect("raw signature");
    let raw_public = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, raw.public_key().as_ref())
        .expect("raw public key");

    let mut group = c.benchmark_group("rs256");
    group.bench_function("sign/passport_jose", |b| {
        b.iter(|| key.sign_raw(black_box(&input)).expect("sign"))
    });
    group.bench_function("sign/baseline_aws_lc_rs", |b| {
        let mut out = vec![0u8; raw.public_modulus_len()];
        b.iter(|| {
            raw.sign(&RSA_PKCS1_SHA256, &rng, black_box(&input), &mut out)
                .expect("sign")
        })
    });
    group.bench_function("verify/passport_jose", |b| {
        b.iter(|| {
            verifying
                .verify(Algorithm::RS256, black_box(&input), black_box(&signature))
                .expect("verify")
        })
    });
    group.bench_function("verify/baseline_aws_lc_rs", |b| {
        b.iter(|| {
            raw_public
                .verify_sig(black_box(&input), black_box(&raw_signature))
                .expect("verify")
        })
    });
    group.finish();
}

/// Loading a public RSA JWK (`VerifyingKey::from_jwk_map`: decoding, the
/// weak-key checks, parsing) against aws-lc-rs parsing the same `n` and `e`,
/// for a 2048- and a 4096-bit modulus. Every key that arrives with a request
/// (a DPoP proof's `jwk`) pays this once per distinct key.
fn rsa_key_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("rsa_key_load");
    for (bits, size) in [(2048, KeySize::Rsa2048), (4096, KeySize::Rsa4096)] {
        let pair = KeyPair::generate(size).expect("raw RSA key");
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = serde_json::json!({
            "kty": "RSA", "n": b64::encode(&public.n), "e": b64::encode(&public.e),
        });
        let jwk = jwk.as_object().expect("object").clone();
        group.bench_function(format!("{bits}/passport_jose"), |b| {
            b.iter(|| VerifyingKey::from_jwk_map(black_box(jwk.clone())).expect("load"))
        });
        group.bench_function(format!("{bits}/baseline_aws_lc_rs"), |b| {
            b.iter(|| {
                PublicKeyComponents {
                    n: black_box(&public.n[..]),
                    e: black_box(&public.e[..]),
                }
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .expect("parse")
            })
        });
    }
    group.finish();
}

criterion::criterion_group!(benches, rs256, rsa_key_load);
criterion::criterion_main!(benches);
