//! Key generation, private JWK files (mode 0600), public JWK and JWKS export.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use passport_jose::{
    Algorithm, CompactJws, JoseError, JwkSet, SigningKey, VerifyOptions, VerifyingKey, thumbprint,
};
use serde_json::json;

#[test]
fn every_algorithm_generates_signs_saves_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [
        Algorithm::EdDSA,
        Algorithm::Ed25519,
        Algorithm::ES256,
        Algorithm::RS256,
    ] {
        let key = SigningKey::generate(alg).unwrap();
        assert_eq!(key.algorithm(), alg);
        assert_eq!(key.kid(), thumbprint(key.public_jwk()).unwrap());
        let path = dir.path().join(format!("{alg}.jwk"));
        key.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let loaded = SigningKey::load(&path).unwrap();
        assert_eq!(loaded.kid(), key.kid());
        let token = loaded.sign_compact(Some("passport+jwt"), b"{}").unwrap();
        let options = VerifyOptions::new(&[alg], "passport+jwt");
        CompactJws::parse(&token)
            .unwrap()
            .verify(&key.verifying_key(), &options)
            .unwrap();
        // No temporary file is left beside the key.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}

#[cfg(unix)]
#[test]
fn a_private_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.jwk");
    SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .save(&path)
        .unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match SigningKey::load(&path) {
            Err(JoseError::InsecureKeyFile { mode: m, .. }) => assert_eq!(m, mode),
            other => panic!("{mode:o}: {other:?}"),
        }
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    SigningKey::load(&path).unwrap();
}

#[test]
fn a_missing_or_corrupt_key_file_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jwk");
    assert!(matches!(
        SigningKey::load(&missing),
        Err(JoseError::KeyFile { .. })
    ));
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let path = dir.path().join("k.jwk");
    key.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    assert_eq!(SigningKey::load(&path).unwrap_err().code(), "invalid_json");
}

#[test]
fn debug_never_prints_private_material() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let d = key.public_jwk().get("d").cloned();
    assert!(d.is_none(), "public JWK must not carry d");
    let text = format!("{key:?}");
    assert!(text.contains("redacted"));
    assert!(!text.contains("\"d\""));
}

#[test]
fn inconsistent_or_mislabelled_private_keys_are_refused() {
    let a = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let b = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jwk");
    a.save(&path).unwrap();
    let mut jwk: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Public half of another key: the pair does not match.
    jwk.insert("x".into(), b.public_jwk()["x"].clone());
    jwk.remove("kid");
    assert_eq!(
        SigningKey::from_jwk_map(jwk.clone()).unwrap_err().code(),
        "invalid_key"
    );
    // A kid that is not the thumbprint.
    let mut jwk2: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    jwk2.insert("kid".into(), "chosen-by-attacker".into());
    assert_eq!(
        SigningKey::from_jwk_map(jwk2.clone()).unwrap_err().code(),
        "invalid_key"
    );
    // alg that does not fit the key type.
    jwk2.insert("kid".into(), a.kid().into());
    jwk2.insert("alg".into(), "ES256".into());
    assert_eq!(
        SigningKey::from_jwk_map(jwk2).unwrap_err().code(),
        "invalid_key"
    );
}

#[test]
fn public_jwks_refuse_private_members_and_bad_points() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let mut jwk = key.public_jwk().clone();
    jwk.insert("d".into(), "AAAA".into());
    assert_eq!(
        VerifyingKey::from_jwk_map(jwk).unwrap_err().code(),
        "invalid_key"
    );
    // A point that is not on P-256.
    let off_curve = json!({"kty": "EC", "crv": "P-256",
        "x": passport_jose::b64::encode([1u8; 32]), "y": passport_jose::b64::encode([2u8; 32])});
    assert_eq!(
        VerifyingKey::from_jwk_map(off_curve.as_object().unwrap().clone())
            .unwrap_err()
            .code(),
        "invalid_key"
    );
    // An RSA key under 2048 bits (more weak RSA keys in rsa_keys.rs).
    let small = json!({"kty": "RSA", "e": "AQAB", "n": passport_jose::b64::encode([0xc5u8; 128])});
    assert_eq!(
        VerifyingKey::from_jwk_map(small.as_object().unwrap().clone())
            .unwrap_err()
            .code(),
        "weak_key"
    );
    // An encryption key.
    let mut enc = key.public_jwk().clone();
    enc.insert("use".into(), "enc".into());
    assert_eq!(
        VerifyingKey::from_jwk_map(enc).unwrap_err().code(),
        "invalid_key"
    );
}

#[test]
fn jwks_round_trip_skip_unusable_keys_and_refuse_duplicate_kids() {
    let a = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let b = SigningKey::generate(Algorithm::RS256).unwrap();
    let set = JwkSet::from_keys([a.verifying_key(), b.verifying_key()]).unwrap();
    let mut doc = set.to_json();
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "oct", "k": "c2VjcmV0"}));
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}));
    let mut enc = a.public_jwk().clone();
    enc.insert("use".into(), "enc".into());
    enc.insert("kid".into(), "enc-key".into());
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::Value::Object(enc));
    let parsed = JwkSet::from_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed.skipped(), 3);
    assert!(parsed.get(a.kid()).is_some() && parsed.get(b.kid()).is_some());

    let dup = json!({"keys": [a.public_jwk(), a.public_jwk()]});
    assert_eq!(
        JwkSet::from_json(dup.to_string().as_bytes())
            .unwrap_err()
            .code(),
        "invalid_key"
    );
    for bad in [&b"{}"[..], b"{\"keys\": {}}", b"[]", b"{\"keys\": [1]}"] {
        assert_eq!(JwkSet::from_json(bad).unwrap_err().code(), "invalid_json");
    }
}

#[test]
fn a_retired_at_member_must_be_a_non_negative_integer() {
    use passport_jose::JWK_RETIRED_AT;
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    assert_eq!(key.verifying_key().retired_at(), None);
    for good in [0i64, 1_700_000_000] {
        let mut jwk = key.public_jwk().clone();
        jwk.insert(JWK_RETIRED_AT.into(), good.into());
        let parsed = VerifyingKey::from_jwk_map(jwk).unwrap();
        assert_eq!(parsed.retired_at(), Some(good));
        // Published again as it came, and read back from a JWKS.
        let doc = JwkSet::from_keys([parsed]).unwrap().to_json().to_string();
        let set = JwkSet::from_json(doc.as_bytes()).unwrap();
        assert_eq!(set.get(key.kid()).unwrap().retired_at(), Some(good));
    }
    for bad in [
        serde_json::json!(-1),
        serde_json::json!(1.5),
        serde_json::json!("1700000000"),
        serde_json::json!(true),
        serde_json::json!(null),
        serde_json::json!(1e300),
        serde_json::json!(u64::MAX),
    ] {
        let mut jwk = key.public_jwk().clone();
        jwk.insert(JWK_RETIRED_AT.into(), bad.clone());
        let err = VerifyingKey::from_jwk_map(jwk.clone()).unwrap_err();
        assert_eq!(err.code(), "invalid_key", "{bad}");
        let doc = serde_json::json!({ "keys": [jwk] }).to_string();
        assert_eq!(
            JwkSet::from_json(doc.as_bytes()).unwrap_err().code(),
            "invalid_key",
            "{bad}"
        );
    }
}

/// A JWKS of more keys than any real set holds is refused before a key is
/// parsed: each RSA key costs milliseconds to check, so a hostile provider's
/// set of hundreds of large keys would cost minutes. (Sign-off review.)
#[test]
fn a_jwks_with_too_many_keys_is_refused_before_parsing_them() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let jwk = key.public_jwk().clone();
    let at_most = serde_json::json!({"keys": vec![jwk.clone(); passport_jose::MAX_JWKS_KEYS]});
    // At the limit the parse proceeds (and refuses the duplicate kids).
    let err = JwkSet::from_json(at_most.to_string().as_bytes()).unwrap_err();
    assert_ne!(err.code(), "invalid_json", "{err}");
    let too_many = serde_json::json!({"keys": vec![jwk; passport_jose::MAX_JWKS_KEYS + 1]});
    let err = JwkSet::from_json(too_many.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.code(), "invalid_json");
    assert!(err.to_string().contains("65 keys"), "{err}");
}
