//! RS256 through aws-lc-rs: the RFC 7515 A.2 known answer, private JWK
//! round trips, private JWKs without CRT members, and weak public keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use passport_jose::{
    Algorithm, CompactJws, JoseError, JwkSet, SigningKey, VerifyOptions, VerifyingKey, b64,
};
use serde_json::{Map, Value, json};

// RFC 7515 Appendix A.2.1: the RSA key (also RFC 7517 Appendix A.2) and the
// RS256 JWS over the A.1 payload. RSASSA-PKCS1-v1_5 is deterministic, so the
// signature must come out byte for byte.
const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const A2_E: &str = "AQAB";
const A2_D: &str = "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ";
const A2_P: &str = "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc";
const A2_Q: &str = "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc";
const A2_DP: &str = "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0";
const A2_DQ: &str = "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU";
const A2_QI: &str = "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U";
const A2_JWS: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

fn a2_private() -> Map<String, Value> {
    json!({"kty": "RSA", "n": A2_N, "e": A2_E, "d": A2_D, "p": A2_P, "q": A2_Q,
        "dp": A2_DP, "dq": A2_DQ, "qi": A2_QI})
    .as_object()
    .unwrap()
    .clone()
}

fn a2_public() -> Map<String, Value> {
    json!({"kty": "RSA", "n": A2_N, "e": A2_E})
        .as_object()
        .unwrap()
        .clone()
}

fn untyped(alg: Algorithm) -> VerifyOptions {
    VerifyOptions {
        algorithms: vec![alg],
        typ: None,
        accept_untyped: true,
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, JoseError>) -> &'static str {
    result.unwrap_err().code()
}

#[test]
fn rfc7515_a2_rs256_signs_byte_for_byte_and_verifies() {
    let key = SigningKey::from_jwk_map(a2_private()).unwrap();
    assert_eq!(key.algorithm(), Algorithm::RS256);
    let (input, sig) = A2_JWS.rsplit_once('.').unwrap();
    assert_eq!(b64::encode(key.sign_raw(input.as_bytes()).unwrap()), sig);

    let public = VerifyingKey::from_jwk_map(a2_public()).unwrap();
    let jws = CompactJws::parse(A2_JWS).unwrap();
    let payload = jws.verify(&public, &untyped(Algorithm::RS256)).unwrap();
    let claims: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(claims["iss"], "joe");

    let mut raw = b64::decode(sig).unwrap();
    raw[100] ^= 1;
    let tampered = format!("{input}.{}", b64::encode(&raw));
    let jws = CompactJws::parse(&tampered).unwrap();
    assert_eq!(
        code(jws.verify(&public, &untyped(Algorithm::RS256))),
        "bad_signature"
    );
    // A signature one byte short of the modulus never reaches the library.
    let short = format!("{input}.{}", b64::encode(&raw[1..]));
    let jws = CompactJws::parse(&short).unwrap();
    assert_eq!(
        code(jws.verify(&public, &untyped(Algorithm::RS256))),
        "bad_signature"
    );
}

#[test]
fn generated_rsa_jwk_round_trips_through_export_and_import() {
    let key = SigningKey::generate(Algorithm::RS256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rsa.jwk");
    key.save(&path).unwrap();
    let exported: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for member in ["kty", "n", "e", "d", "p", "q", "dp", "dq", "qi", "kid"] {
        assert!(exported[member].is_string(), "{member} exported");
    }
    assert_eq!(exported["e"], "AQAB");
    assert_eq!(
        b64::decode(exported["n"].as_str().unwrap()).unwrap().len(),
        256
    );

    let imported = SigningKey::from_jwk_map(exported).unwrap();
    assert_eq!(imported.kid(), key.kid());
    // PKCS#1 v1.5 is deterministic: the same key signs the same bytes.
    let input = b"eyJhbGciOiJSUzI1NiJ9.e30";
    let signature = imported.sign_raw(input).unwrap();
    assert_eq!(signature, key.sign_raw(input).unwrap());

    // The exported public JWK, imported on its own, verifies both.
    let public = VerifyingKey::from_jwk_map(key.public_jwk().clone()).unwrap();
    assert!(!public.jwk().contains_key("d"));
    public.verify(Algorithm::RS256, input, &signature).unwrap();
    let token = imported.sign_compact(Some("passport+jwt"), b"{}").unwrap();
    CompactJws::parse(&token)
        .unwrap()
        .verify(
            &public,
            &VerifyOptions::new(&[Algorithm::RS256], "passport+jwt"),
        )
        .unwrap();
    // A different key's signature does not.
    let other = SigningKey::generate(Algorithm::RS256).unwrap();
    assert_eq!(
        code(public.verify(Algorithm::RS256, input, &other.sign_raw(input).unwrap())),
        "bad_signature"
    );
}

#[test]
fn private_rsa_jwk_without_crt_members_is_refused() {
    for missing in ["d", "p", "q", "dp", "dq", "qi"] {
        let mut jwk = a2_private();
        jwk.remove(missing);
        let err = SigningKey::from_jwk_map(jwk).unwrap_err();
        assert!(
            matches!(err, JoseError::IncompleteRsaKey(m) if m == missing),
            "{missing}: {err:?}"
        );
        assert_eq!(err.code(), "incomplete_rsa_key");
    }
    // Only `d`, as RFC 7518 §6.3.2 permits: still refused, naming `p`.
    let mut jwk = a2_private();
    for m in ["p", "q", "dp", "dq", "qi"] {
        jwk.remove(m);
    }
    let err = SigningKey::from_jwk_map(jwk).unwrap_err();
    assert!(err.to_string().contains("CRT"), "{err}");
}

#[test]
fn inconsistent_or_multi_prime_private_rsa_jwk_is_refused() {
    let mut swapped = a2_private();
    swapped.insert("dp".into(), A2_DQ.into());
    swapped.insert("dq".into(), A2_DP.into());
    assert_eq!(code(SigningKey::from_jwk_map(swapped)), "invalid_key");

    let mut wrong_d = a2_private();
    wrong_d.insert("d".into(), A2_QI.into());
    assert_eq!(code(SigningKey::from_jwk_map(wrong_d)), "invalid_key");

    let mut multi = a2_private();
    multi.insert("oth".into(), json!([{"r": "AQ", "d": "AQ", "t": "AQ"}]));
    assert_eq!(code(SigningKey::from_jwk_map(multi)), "invalid_key");

    let mut not_b64 = a2_private();
    not_b64.insert("qi".into(), "not base64!".into());
    assert_eq!(code(SigningKey::from_jwk_map(not_b64)), "invalid_key");
}

/// The A.2 public key with `n` or `e` replaced.
fn with(member: &str, bytes: &[u8]) -> Map<String, Value> {
    let mut jwk = a2_public();
    jwk.insert(member.into(), b64::encode(bytes).into());
    jwk
}

fn a2_n() -> Vec<u8> {
    b64::decode(A2_N).unwrap()
}

#[test]
fn weak_rsa_public_keys_are_refused() {
    let mut even = a2_n();
    *even.last_mut().unwrap() &= 0xfe;
    let mut bits_2047 = a2_n();
    bits_2047[0] = 0x7f;
    let weak: Vec<(&str, Map<String, Value>)> = vec![
        ("e = 1", with("e", &[1])),
        ("e = 3", with("e", &[3])),
        ("e = 0", with("e", &[0])),
        ("e = 65535", with("e", &[0xff, 0xff])),
        ("e = 65536", with("e", &[1, 0, 0])),
        ("e = 65540 (even)", with("e", &[1, 0, 4])),
        ("even n", with("n", &even)),
        ("n of 2047 bits", with("n", &bits_2047)),
        ("n of 1024 bits", with("n", &a2_n()[128..])),
        ("n of 8 bits", with("n", &[0xc5])),
    ];
    for (what, jwk) in weak {
        let err = VerifyingKey::from_jwk_map(jwk.clone()).unwrap_err();
        assert!(matches!(err, JoseError::WeakKey(_)), "{what}: {err:?}");
        assert_eq!(err.code(), "weak_key");
        // A JWKS with the key is refused as a whole, with the same error.
        let doc = json!({"keys": [jwk]}).to_string();
        assert_eq!(
            code(JwkSet::from_json(doc.as_bytes())),
            "weak_key",
            "{what}"
        );
    }
    // The private key with e = 3 is refused before aws-lc-rs sees it.
    let mut private = a2_private();
    private.insert("e".into(), "Aw".into());
    assert_eq!(code(SigningKey::from_jwk_map(private)), "weak_key");
}

#[test]
fn rsa_keys_outside_what_aws_lc_implements_are_invalid_and_edges_are_accepted() {
    // Over 8192 bits, an exponent over 33 bits, an empty modulus.
    let mut huge = vec![0xc5u8; 1025];
    huge[1024] = 0x01;
    assert_eq!(
        code(VerifyingKey::from_jwk_map(with("n", &huge))),
        "invalid_key"
    );
    let big_e = [0x04, 0, 0, 0, 1]; // 2^34 + 1
    assert_eq!(
        code(VerifyingKey::from_jwk_map(with("e", &big_e))),
        "invalid_key"
    );
    let long_e = [1u8; 9];
    assert_eq!(
        code(VerifyingKey::from_jwk_map(with("e", &long_e))),
        "invalid_key"
    );
    assert_eq!(code(VerifyingKey::from_jwk_map(with("n", &[]))), "weak_key");

    // Accepted: e at the 33-bit limit, a 2048-bit n (the A.2 key itself).
    VerifyingKey::from_jwk_map(with("e", &[0x01, 0xff, 0xff, 0xff, 0xff])).unwrap();
    let (input, sig) = A2_JWS.rsplit_once('.').unwrap();
    let sig = b64::decode(sig).unwrap();
    VerifyingKey::from_jwk_map(a2_public())
        .unwrap()
        .verify(Algorithm::RS256, input.as_bytes(), &sig)
        .unwrap();
}

/// RFC 7518 §6.3.1 requires the minimal encoding of `n` and `e`. A leading
/// zero octet does not change the value, so an accepted one would give one
/// key a second RFC 7638 thumbprint: a second `kid`, a second `cnf.jkt`.
/// Zero itself is spelled as one zero octet and is refused as weak instead.
#[test]
fn rsa_members_with_a_leading_zero_are_refused_not_a_second_thumbprint() {
    let mut padded_n = vec![0u8];
    padded_n.extend(a2_n());
    let mut padded_both = with("n", &padded_n);
    padded_both.insert("e".into(), "AAEAAQ".into());
    let cases = [
        ("n with a zero octet", with("n", &padded_n)),
        ("e = 00 01 00 01", with("e", &[0, 1, 0, 1])),
        ("e = 00 00 01 00 01", with("e", &[0, 0, 1, 0, 1])),
        ("both", padded_both),
    ];
    for (what, jwk) in cases {
        let err = VerifyingKey::from_jwk_map(jwk.clone()).unwrap_err();
        assert!(matches!(err, JoseError::InvalidKey(_)), "{what}: {err:?}");
        assert!(err.to_string().contains("leading zero"), "{what}: {err}");
        let doc = json!({"keys": [jwk.clone()]}).to_string();
        assert_eq!(
            code(JwkSet::from_json(doc.as_bytes())),
            "invalid_key",
            "{what}"
        );
        // The private key spelled so is refused too.
        let mut private = a2_private();
        private.insert("n".into(), jwk["n"].clone());
        private.insert("e".into(), jwk["e"].clone());
        assert_eq!(
            code(SigningKey::from_jwk_map(private)),
            "invalid_key",
            "{what}"
        );
    }
    // e = 0 as the single octet RFC 7518 §2 prescribes is minimal, and weak.
    assert_eq!(
        code(VerifyingKey::from_jwk_map(with("e", &[0]))),
        "weak_key"
    );
}

/// A private JWK whose `d` (or any CRT member) is longer than the modulus is
/// refused before aws-lc-rs sees it: its consistency check takes time in the
/// length of `d` (about a second for 1 MiB).
#[test]
fn private_rsa_members_longer_than_the_modulus_are_refused_quickly() {
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        // 1 MiB: refused without being decoded.
        let mut jwk = a2_private();
        jwk.insert(member.into(), b64::encode(vec![0xabu8; 1 << 20]).into());
        let start = std::time::Instant::now();
        let err = SigningKey::from_jwk_map(jwk).unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, JoseError::InvalidKey(_)), "{member}: {err:?}");
        assert!(err.to_string().contains("longer than the modulus"), "{err}");
        assert!(took.as_millis() < 200, "{member}: {took:?}");
        // One byte longer than the modulus (257 bytes): refused after decoding.
        let mut jwk = a2_private();
        jwk.insert(member.into(), b64::encode(vec![0x01u8; 257]).into());
        let err = SigningKey::from_jwk_map(jwk).unwrap_err();
        assert!(
            err.to_string().contains("longer than the modulus"),
            "{member}: {err}"
        );
    }
}
