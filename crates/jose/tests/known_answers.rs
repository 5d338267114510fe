//! Known-answer tests from the RFCs. Each vector names its source; the values
//! are copied from the RFC text (see fixtures/vectors/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use passport_jose::{
    Algorithm, CompactJws, SigningKey, VerifyOptions, VerifyingKey, b64, thumbprint,
};
use serde_json::json;

// RFC 8037 Appendix A.1 (private key), A.2 (public key), A.3 (thumbprint),
// A.4 (signing), A.5 (validation).
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
const RFC8037_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

// RFC 7515 Appendix A.3 (ES256).
const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const RFC7515_A3_JWS: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

fn rfc8037_signing_key() -> SigningKey {
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "d": RFC8037_D, "x": RFC8037_X});
    SigningKey::from_jwk_map(jwk.as_object().unwrap().clone()).unwrap()
}

#[test]
fn rfc8037_a3_thumbprint_is_the_kid() {
    let key = rfc8037_signing_key();
    assert_eq!(key.kid(), RFC8037_THUMBPRINT);
    let public = json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X});
    assert_eq!(
        thumbprint(public.as_object().unwrap()).unwrap(),
        RFC8037_THUMBPRINT
    );
}

#[test]
fn rfc8037_a4_signs_byte_for_byte() {
    let key = rfc8037_signing_key();
    let (input, sig) = RFC8037_JWS.rsplit_once('.').unwrap();
    let signature = key.sign_raw(input.as_bytes()).unwrap();
    assert_eq!(b64::encode(signature), sig);
}

#[test]
fn rfc8037_a5_verifies_and_a_flipped_bit_does_not() {
    let public = json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X});
    let key = VerifyingKey::from_jwk_map(public.as_object().unwrap().clone()).unwrap();
    let jws = CompactJws::parse(RFC8037_JWS).unwrap();
    let options = VerifyOptions {
        algorithms: vec![Algorithm::EdDSA],
        typ: None,
        accept_untyped: true,
    };
    assert_eq!(
        jws.verify(&key, &options).unwrap(),
        b"Example of Ed25519 signing"
    );

    let (input, sig) = RFC8037_JWS.rsplit_once('.').unwrap();
    let mut raw = b64::decode(sig).unwrap();
    raw[10] ^= 1;
    let tampered = format!("{input}.{}", b64::encode(raw));
    let jws = CompactJws::parse(&tampered).unwrap();
    assert_eq!(
        jws.verify(&key, &options).unwrap_err().code(),
        "bad_signature"
    );
}

#[test]
fn rfc7638_3_1_thumbprint() {
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        thumbprint(jwk.as_object().unwrap()).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

/// RFC 7515 A.3 verified through the full compact path; the time check uses
/// an injected clock (the payload's `exp` is 1300819380, March 2011).
#[test]
fn rfc7515_a3_es256_verifies_with_an_injected_clock() {
    let public = json!({"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": RFC7515_A3_Y});
    let key = VerifyingKey::from_jwk_map(public.as_object().unwrap().clone()).unwrap();
    let jws = CompactJws::parse(RFC7515_A3_JWS).unwrap();
    let options = VerifyOptions {
        algorithms: vec![Algorithm::ES256],
        typ: None,
        accept_untyped: true,
    };
    let payload = jws.verify(&key, &options).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(payload).unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert_eq!(exp, 1_300_819_380);
    assert_eq!(claims["iss"], "joe");

    // The clock is a parameter: the same token is live before exp and dead after.
    let is_live = |now: i64| now <= exp;
    assert!(is_live(1_300_819_379));
    assert!(!is_live(1_300_819_381));

    // RFC 7515 A.3 under the wrong key family is refused by the key, not the token.
    let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X});
    let ed = VerifyingKey::from_jwk_map(ed.as_object().unwrap().clone()).unwrap();
    let options = VerifyOptions {
        algorithms: vec![Algorithm::ES256, Algorithm::EdDSA],
        typ: None,
        accept_untyped: true,
    };
    assert_eq!(
        jws.verify(&ed, &options).unwrap_err().code(),
        "alg_key_mismatch"
    );
}
