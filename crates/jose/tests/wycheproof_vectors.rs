//! Wycheproof Ed25519 and ECDSA P-256/SHA-256 (IEEE P1363 encoding, the JWS
//! form) through this crate's verification path. Every "valid" vector must be
//! accepted and every "invalid" one refused; "acceptable" ones may go either way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use passport_jose::{Algorithm, JoseError, VerifyingKey, b64};
use serde_json::json;
use wycheproof::TestResult;

fn check(result: Result<(), JoseError>, expected: TestResult, id: usize, comment: &str) -> bool {
    match (expected, result) {
        (TestResult::Valid, Ok(())) => true,
        (TestResult::Valid, Err(e)) => panic!("valid vector {id} ({comment}) refused: {e}"),
        (TestResult::Invalid, Ok(())) => panic!("invalid vector {id} ({comment}) accepted"),
        (TestResult::Invalid, Err(_)) => false,
        (_, _) => false,
    }
}

#[test]
fn wycheproof_ed25519() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let (mut valid, mut total) = (0, 0);
    for group in &set.test_groups {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(&*group.key.pk)});
        let key = VerifyingKey::from_jwk_map(jwk.as_object().unwrap().clone());
        for test in &group.tests {
            total += 1;
            let result = key
                .as_ref()
                .map_err(|_| JoseError::BadSignature)
                .and_then(|k| k.verify(Algorithm::EdDSA, &test.msg, &test.sig));
            if check(result, test.result, test.tc_id, &test.comment) {
                valid += 1;
            }
        }
    }
    assert!(total > 100, "only {total} vectors");
    assert!(valid > 10);
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    let set =
        wycheproof::ecdsa::TestSet::load(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363)
            .unwrap();
    let (mut valid, mut total) = (0, 0);
    for group in &set.test_groups {
        let point: &[u8] = &group.key.key;
        assert_eq!(point.len(), 65);
        let jwk = json!({
            "kty": "EC", "crv": "P-256",
            "x": b64::encode(&point[1..33]), "y": b64::encode(&point[33..65]),
        });
        let key = VerifyingKey::from_jwk_map(jwk.as_object().unwrap().clone());
        for test in &group.tests {
            total += 1;
            let result = key
                .as_ref()
                .map_err(|_| JoseError::BadSignature)
                .and_then(|k| k.verify(Algorithm::ES256, &test.msg, &test.sig));
            if check(result, test.result, test.tc_id, &test.comment) {
                valid += 1;
            }
        }
    }
    assert!(total > 100, "only {total} vectors");
    assert!(valid > 10);
}
