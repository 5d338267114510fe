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
