//! A proof key that needs no private key (issue 10, item 2): a passport bound
//! to a small-order Ed25519 key would be usable by anyone, with the proof
//! signature `01 00 … 00` (R = identity, S = 0). Such a `jwk` is refused.

use std::sync::Arc;

use passport_claims::ManualClock;
use passport_dpop::{DpopError, DpopPolicy, DpopVerifier, ath, cnf_jkt};
use passport_jose::b64;
use passport_testkit::{NOW, compact};
use serde_json::{Map, Value, json};

const URL: &str = "https://tools.example/mcp";
const BUNDLE: &str = "eyJhbGciOiJFZERTQSJ9.e30.sig~eyJhbGciOiJFZERTQSJ9.e30.sig";

/// The public JWK of every vector of `fixtures/vectors/ed25519_small_order.json`.
fn small_order_jwks() -> Vec<(String, Map<String, Value>)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/vectors/ed25519_small_order.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": k["x"]});
            (
                k["name"].as_str().unwrap().to_owned(),
                jwk.as_object().unwrap().clone(),
            )
        })
        .collect()
}

fn weak(err: &DpopError) -> bool {
    matches!(err, DpopError::InvalidJwk(message) if message.starts_with("weak key"))
}

#[test]
fn a_proof_whose_jwk_is_a_small_order_key_is_refused() {
    let verifier = DpopVerifier::new(DpopPolicy::default(), Arc::new(ManualClock::new(NOW)));
    let mut forged = [0u8; 64];
    forged[0] = 1;
    for (i, (name, jwk)) in small_order_jwks().into_iter().enumerate() {
        // The passport is bound to this very key: its cnf.jkt is the key's
        // thumbprint, which the attacker computes without any private key.
        let jkt = passport_jose::thumbprint(&jwk).unwrap();
        let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk}).to_string();
        let claims = json!({
            "jti": format!("jti-{i}"), "htm": "POST", "htu": URL, "iat": NOW, "ath": ath(BUNDLE),
        })
        .to_string();
        let proof = compact(&header, &claims, &forged);
        let err = verifier
            .verify(&[&proof], "POST", URL, Some(BUNDLE), Some(&jkt))
            .unwrap_err();
        assert!(weak(&err), "{name}: {err:?}");
        assert_eq!(err.code(), "invalid_dpop_jwk", "{name}");
        // Nor can a passport be bound to it in the first place.
        let err = cnf_jkt(&jwk).unwrap_err();
        assert!(weak(&err), "{name}: {err:?}");
    }
    // The identity point, the vector the issue reproduced, is among them.
    let identity = b64::encode([1u8].into_iter().chain([0u8; 31]).collect::<Vec<_>>());
    assert!(
        small_order_jwks()
            .iter()
            .any(|(_, jwk)| jwk["x"] == identity)
    );
}

/// A 2048-bit prime RSA modulus (anyone computes its private exponent; see
/// crates/jose/tests/weak_keys.rs) as a proof key. Loading an RSA key costs
/// milliseconds (a primality test), so a proof's jwk is parsed only when it
/// can matter: an RSA jwk under a non-RSA `alg`, or one that is not the
/// passport's bound key, is refused on its members alone — the weak key is
/// never reached — and the bound key itself, when weak, is `weak_key`.
#[test]
fn an_rsa_proof_key_is_parsed_only_when_alg_and_binding_fit_and_a_prime_modulus_is_weak() {
    const PRIME_N: &str = "woJ2AMKV7lGahTUYMlw7npBuj8p5ayfmjfaA_9OkJh_E6_MvzbIsVRMmCqxDBQmoak59THkCYjWdSWa5xsCajHHtXMsNcreFhlAXev2GLMKZ0C829caiSPuAp1a6c92oNLHh0WdXZ2Ubaw1gJshDrJDDaD3WOsWdmHNGC4175RngLhVOqOPi6HY6_rm-1idtKCdWpenz9xjag8Pguku58bkFUdnwlAmq5fr4-7P2nzzRXeoFMgWLKefEGXlOn4NdelsM1IwBj_rwE9IRbCRl_Q90B6kz4O16L2JKBptONPuc0KMsnwnCmID4bXi5tuzB5h-jbFyolrJHLHDUiNINhw";
    let jwk = json!({"kty": "RSA", "n": PRIME_N, "e": "AQAB"});
    let jkt = passport_jose::thumbprint(jwk.as_object().unwrap()).unwrap();
    let policy = DpopPolicy {
        allowed_algorithms: vec![
            passport_jose::Algorithm::RS256,
            passport_jose::Algorithm::ES256,
        ],
        ..DpopPolicy::default()
    };
    let verifier = DpopVerifier::new(policy, Arc::new(ManualClock::new(NOW)));
    let claims =
        json!({"jti": "j", "htm": "POST", "htu": URL, "iat": NOW, "ath": ath(BUNDLE)}).to_string();
    let proof = |alg: &str| {
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}).to_string();
        compact(&header, &claims, &[7u8; 256])
    };
    let verify = |alg: &str, expected: &str| {
        verifier
            .verify(&[&proof(alg)], "POST", URL, Some(BUNDLE), Some(expected))
            .unwrap_err()
    };
    let err = verify("ES256", &jkt);
    assert!(
        matches!(err, DpopError::AlgorithmKeyMismatch { .. }),
        "{err:?}"
    );
    let err = verify("RS256", "another-key-thumbprint");
    assert!(matches!(err, DpopError::KeyMismatch), "{err:?}");
    let err = verify("RS256", &jkt);
    assert!(weak(&err), "{err:?}");
    assert!(err.to_string().contains("prime"), "{err}");
    // Nor can a passport be bound to it.
    let err = cnf_jkt(jwk.as_object().unwrap()).unwrap_err();
    assert!(weak(&err), "{err:?}");
}
