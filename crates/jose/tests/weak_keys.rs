//! Keys that need no private key are refused when they are loaded, whatever
//! their source (SPEC §5 item 4): Ed25519 points of small order and
//! non-canonical encodings, P-256 points off the curve or out of range, RSA
//! keys with the ROCA fingerprint, and keys whose `key_ops` are not for
//! signatures. The Ed25519 vectors are `fixtures/vectors/ed25519_small_order.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use passport_jose::{
    Algorithm, JoseError, JwkSet, MAX_CLIENT_JWKS_KEYS, SigningKey, VerifyingKey, b64,
};
use serde_json::{Map, Value, json};

/// The signature that verifies under a small-order key without any private
/// key: `R` = the identity (`01 00 … 00`), `S = 0`.
fn forged_signature() -> Vec<u8> {
    let mut sig = vec![0u8; 64];
    sig[0] = 1;
    sig
}

fn fixtures(path: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/vectors")
        .join(path);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `(name, x)` of every small-order or non-canonical Ed25519 vector.
fn small_order_keys() -> Vec<(String, String)> {
    let doc = fixtures("ed25519_small_order.json");
    let keys: Vec<(String, String)> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let x = k["x"].as_str().unwrap().to_owned();
            assert_eq!(
                hex(&b64::decode(&x).unwrap()),
                k["hex"].as_str().unwrap(),
                "{k}"
            );
            (k["name"].as_str().unwrap().to_owned(), x)
        })
        .collect();
    assert_eq!(keys.len(), 14);
    keys
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn okp(x: &str) -> Map<String, Value> {
    json!({"kty": "OKP", "crv": "Ed25519", "x": x})
        .as_object()
        .unwrap()
        .clone()
}

/// How many of 64 messages the forged signature verifies for under `x`,
/// straight through aws-lc-rs (no check of this crate in the way).
fn forgeries(x: &[u8]) -> usize {
    let key = UnparsedPublicKey::new(&ED25519, x);
    (0..64u32)
        .filter(|i| key.verify(&i.to_be_bytes(), &forged_signature()).is_ok())
        .count()
}

/// The vectors are what they claim: under each canonical small-order key,
/// aws-lc-rs accepts `R = identity, S = 0` for some messages (for every one
/// under the identity; for about one in 2, 4 or 8 otherwise, as the order of
/// the key must divide `k`). A real key admits none. The messages are fixed,
/// so the counts are deterministic.
#[test]
fn small_order_ed25519_keys_admit_signatures_without_a_private_key() {
    let doc = fixtures("ed25519_small_order.json");
    let mut orders_seen = std::collections::BTreeSet::new();
    for key in doc["keys"].as_array().unwrap() {
        let x = b64::decode(key["x"].as_str().unwrap()).unwrap();
        let order = key["order"].as_u64().unwrap();
        let forged = forgeries(&x);
        eprintln!("{}: {forged}/64 forged", key["name"]);
        if key["canonical"] == true {
            orders_seen.insert(order);
            assert!(forged > 0, "{}: no forgery", key["name"]);
            if order == 1 {
                assert_eq!(forged, 64, "{}", key["name"]);
            }
        } else {
            // aws-lc-rs refuses these spellings itself when it verifies;
            // they are refused on load all the same, so no key held here is
            // one that another decoder reads as a small-order point.
            assert_eq!(forged, 0, "{}", key["name"]);
        }
    }
    assert_eq!(
        orders_seen.into_iter().collect::<Vec<_>>(),
        vec![1, 2, 4, 8]
    );
    let real = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let x = b64::decode(real.public_jwk()["x"].as_str().unwrap()).unwrap();
    assert_eq!(forgeries(&x), 0);
}

#[test]
fn every_small_order_or_non_canonical_ed25519_key_is_refused_on_load() {
    let good = SigningKey::generate(Algorithm::EdDSA).unwrap();
    for (name, x) in small_order_keys() {
        let err = VerifyingKey::from_jwk_map(okp(&x)).unwrap_err();
        assert!(matches!(err, JoseError::WeakKey(_)), "{name}: {err:?}");
        let doc = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "EdDSA"}).to_string();
        let err = VerifyingKey::from_jwk_json(doc.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "weak_key", "{name}");
        // In a JWKS beside a good key, the whole set is refused.
        let set = json!({"keys": [good.public_jwk(), okp(&x)]}).to_string();
        let err = JwkSet::from_json(set.as_bytes()).unwrap_err();
        assert!(matches!(err, JoseError::WeakKey(_)), "{name}: {err:?}");
    }
    // Non-canonical y from p to p + 18, both sign bits: all refused.
    // p = 2^255 - 19, little-endian (RFC 8032 §5.1).
    let mut p = vec![0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    for k in 0..=18u8 {
        for sign in [0, 0x80] {
            let mut x = p.clone();
            x[0] += k;
            x[31] |= sign;
            let err = VerifyingKey::from_jwk_map(okp(&b64::encode(&x))).unwrap_err();
            assert!(matches!(err, JoseError::WeakKey(_)), "p + {k}: {err:?}");
        }
    }
    // p - 1 is canonical (and the point of order 2, refused as such).
    p[0] -= 1;
    let err = VerifyingKey::from_jwk_map(okp(&b64::encode(&p))).unwrap_err();
    assert!(err.to_string().contains("order 2"), "{err}");
}

/// The attack of the issue: a passport "signed" with no private key under
/// the identity point, its key published in a JWKS. The signature is real
/// to aws-lc-rs; the JWKS is refused when it loads.
#[test]
fn a_passport_forged_under_a_small_order_key_is_refused_when_its_jwks_loads() {
    let identity = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let kid = passport_jose::thumbprint(&okp(identity)).unwrap();
    let header = json!({"alg": "EdDSA", "kid": kid, "typ": "passport+jwt"}).to_string();
    let claims = json!({
        "iss": "https://issuer.local", "sub": "mallory", "aud": "https://tool.example",
        "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 1_700_003_600,
        "jti": "forged", "tool_scope": ["*"],
    })
    .to_string();
    let signing_input = format!("{}.{}", b64::encode(&header), b64::encode(&claims));
    let token = format!("{signing_input}.{}", b64::encode(forged_signature()));
    // Without the load-time check the forgery verifies.
    let raw = UnparsedPublicKey::new(&ED25519, b64::decode(identity).unwrap());
    assert!(
        raw.verify(signing_input.as_bytes(), &forged_signature())
            .is_ok()
    );
    assert!(passport_jose::CompactJws::parse(&token).is_ok());
    let mut jwk = okp(identity);
    jwk.insert("kid".into(), kid.into());
    jwk.insert("alg".into(), "EdDSA".into());
    let jwks = json!({"keys": [jwk]}).to_string();
    let err = JwkSet::from_json(jwks.as_bytes()).unwrap_err();
    assert!(matches!(err, JoseError::WeakKey(_)), "{err:?}");
    assert_eq!(err.code(), "weak_key");
}

/// A P-256 point: `(0, y0)` with `y0² = b` (SEC 2 §2.4.2 parameters); it is
/// on the curve, so aws-lc-rs loads it. The same point with `x = p` (a
/// coordinate not below the field prime) and a point off the curve are not
/// keys: `invalid_key`, refused by aws-lc-rs's point decoding.
#[test]
fn p256_points_off_the_curve_or_out_of_range_are_invalid_keys() {
    const P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
    const Y0: &str = "66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4";
    let bytes = |h: &str| -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    let ec = |x: &[u8], y: &[u8]| {
        json!({"kty": "EC", "crv": "P-256", "x": b64::encode(x), "y": b64::encode(y)})
            .as_object()
            .unwrap()
            .clone()
    };
    let y0 = bytes(Y0);
    assert!(VerifyingKey::from_jwk_map(ec(&[0; 32], &y0)).is_ok());
    let mut y1 = y0.clone();
    y1[31] ^= 1;
    for (what, jwk) in [
        ("x = p", ec(&bytes(P), &y0)),
        ("y = p", ec(&[0; 32], &bytes(P))),
        ("x = 2^256 - 1", ec(&[0xff; 32], &y0)),
        ("off the curve", ec(&[0; 32], &y1)),
        ("(0, 0)", ec(&[0; 32], &[0; 32])),
    ] {
        let err = VerifyingKey::from_jwk_map(jwk).unwrap_err();
        assert!(matches!(err, JoseError::InvalidKey(_)), "{what}: {err:?}");
    }
}

/// The Wycheproof JWK set `jws_rsa_roca_key` (tcId 7): a modulus with the
/// ROCA fingerprint is refused as weak; RFC keys and fresh keys are not.
#[test]
fn rsa_keys_with_the_roca_fingerprint_are_weak() {
    let doc = fixtures("wycheproof/json_web_key_test.json");
    let group = doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "jws_rsa_roca_key")
        .unwrap();
    let jwk = group["public"]["keys"][0].as_object().unwrap().clone();
    let err = VerifyingKey::from_jwk_map(jwk.clone()).unwrap_err();
    assert!(matches!(err, JoseError::WeakKey(_)), "{err:?}");
    assert!(err.to_string().contains("ROCA"), "{err}");
    let set = json!({"keys": [jwk]}).to_string();
    assert_eq!(
        JwkSet::from_json(set.as_bytes()).unwrap_err().code(),
        "weak_key"
    );
    // RFC 7638 §3.1's key, and freshly generated keys, pass.
    let rfc = json!({"kty": "RSA", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
    assert!(VerifyingKey::from_jwk_map(rfc.as_object().unwrap().clone()).is_ok());
    for _ in 0..2 {
        assert!(SigningKey::generate(Algorithm::RS256).is_ok());
    }
}

/// RFC 7517 §4.3: a key whose `key_ops` names encryption is not a signature
/// key (Wycheproof `rejectWrongKeyOps`); unregistered values are ignored.
#[test]
fn keys_whose_key_ops_are_not_for_signatures_are_refused() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let with_ops = |ops: Value| {
        let mut jwk = key.public_jwk().clone();
        jwk.insert("key_ops".into(), ops);
        jwk
    };
    for ops in [json!(["encrypt", "decrypt"]), json!(["verify", "wrapKey"])] {
        let err = VerifyingKey::from_jwk_map(with_ops(ops.clone())).unwrap_err();
        assert!(matches!(err, JoseError::InvalidKey(_)), "{ops}: {err:?}");
        // In a JWKS it is skipped, like `use: enc`.
        let set = json!({"keys": [with_ops(ops.clone())]}).to_string();
        let set = JwkSet::from_json(set.as_bytes()).unwrap();
        assert_eq!((set.len(), set.skipped()), (0, 1), "{ops}");
    }
    for ops in [
        json!(["verify"]),
        json!(["sign", "verify"]),
        json!(["sign, verify"]),
    ] {
        assert!(VerifyingKey::from_jwk_map(with_ops(ops)).is_ok());
    }
    for ops in [json!("verify"), json!([1])] {
        let err = VerifyingKey::from_jwk_map(with_ops(ops.clone())).unwrap_err();
        assert_eq!(err.code(), "invalid_key", "{ops}");
    }
}

// A 2048-bit *prime* modulus with e = 65537, and an RS256 signature over
// FORGED_INPUT made from the public key alone (d = e⁻¹ mod n − 1). From the
// independent review of crates/jose/src/rsa.rs (branch `review`, 8eb2bac).
const PRIME_N: &str = "woJ2AMKV7lGahTUYMlw7npBuj8p5ayfmjfaA_9OkJh_E6_MvzbIsVRMmCqxDBQmoak59THkCYjWdSWa5xsCajHHtXMsNcreFhlAXev2GLMKZ0C829caiSPuAp1a6c92oNLHh0WdXZ2Ubaw1gJshDrJDDaD3WOsWdmHNGC4175RngLhVOqOPi6HY6_rm-1idtKCdWpenz9xjag8Pguku58bkFUdnwlAmq5fr4-7P2nzzRXeoFMgWLKefEGXlOn4NdelsM1IwBj_rwE9IRbCRl_Q90B6kz4O16L2JKBptONPuc0KMsnwnCmID4bXi5tuzB5h-jbFyolrJHLHDUiNINhw";
const FORGED_INPUT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZvcmdlZCJ9.eyJzdWIiOiJmb3JnZWQifQ";
const FORGED_SIG: &str = "f7DCFyHMfw8E1CWs4CjYxbA2BjcUpBlG1le3AJKe7TDZLooCnk6N4kkNLXmhQAMQtqp-sqzJW8bgatMEsW3cnfQ0ZooBVjtjcwlnaulpWJmCDcCVSu9f_si9ns4kr8ofsYNVaghPBu3Dac_Sjzmwot10VmOo7udWh27kUl9nigAa29YNSIUcm8oywESdWY67_UuzyxRqXRoJJ50u2QjEZWxQvA11tldukbzqWDZbJRomVFITi54tqEhyzQzAMZ4r7-30JuBWN1ooJemvBFNQWNS9ZJTyMaOa1FjWC_r6oKd2g5ZP2-N-6zZjoArGAa-iTttGiaMue4iE0wyC36F85g";

fn rsa_public(n: &[u8]) -> Map<String, Value> {
    json!({"kty": "RSA", "n": b64::encode(n), "e": "AQAB"})
        .as_object()
        .unwrap()
        .clone()
}

/// Refused as weak by every loader, with `what` in the message.
fn assert_weak_rsa(n: &[u8], what: &str) {
    let jwk = rsa_public(n);
    for result in [
        VerifyingKey::from_jwk_map(jwk.clone()),
        VerifyingKey::from_holder_jwk_map(jwk.clone()),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, JoseError::WeakKey(_)), "{what}: {err:?}");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    let set = json!({"keys": [jwk]}).to_string();
    assert_eq!(code_of(JwkSet::from_json(set.as_bytes())), "weak_key");
}

fn code_of<T: std::fmt::Debug>(result: Result<T, JoseError>) -> &'static str {
    result.unwrap_err().code()
}

/// Big-endian `x·y`, schoolbook, for building test moduli.
fn mul(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut acc = vec![0u64; x.len() + y.len()];
    for (i, a) in x.iter().rev().enumerate() {
        for (j, b) in y.iter().rev().enumerate() {
            acc[i + j] += u64::from(*a) * u64::from(*b);
        }
    }
    let mut out = Vec::with_capacity(acc.len());
    let mut carry = 0u64;
    for v in acc {
        let v = v + carry;
        out.push(v as u8);
        carry = v >> 8;
    }
    out.reverse();
    let zeros = out.iter().take_while(|b| **b == 0).count();
    out.split_off(zeros)
}

/// `p`, `q` and `n` of a freshly generated 2048-bit key, from its private JWK.
fn fresh_primes() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let key = SigningKey::generate(Algorithm::RS256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.jwk");
    key.save(&path).unwrap();
    let jwk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let member = |m: &str| b64::decode(jwk[m].as_str().unwrap()).unwrap();
    (member("p"), member("q"), member("n"))
}

/// SPEC §5 item 4. A prime modulus passes every structural check (odd, 2048
/// bits, e = 65537), and anyone computes its private exponent from the
/// public key: the review's forged signature verifies through aws-lc-rs
/// itself. Loading it is refused (`weak_key`), from every source.
#[test]
fn a_prime_rsa_modulus_admits_a_forged_signature_and_is_refused() {
    let n = b64::decode(PRIME_N).unwrap();
    let forged = b64::decode(FORGED_SIG).unwrap();
    // The vector is what it claims: aws-lc-rs, with no check of ours in
    // the way, accepts the signature made without any private key.
    let raw = aws_lc_rs::rsa::PublicKeyComponents {
        n: &n[..],
        e: &[1u8, 0, 1][..],
    }
    .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
    .unwrap();
    raw.verify_sig(FORGED_INPUT.as_bytes(), &forged).unwrap();

    assert_weak_rsa(&n, "prime");
}

/// The other moduli whose private key anyone computes: a prime times a
/// small prime (NIST SP 800-89 §5.3.3 trial division up to 751), a prime
/// squared, a prime cubed. A product of two fresh primes, and a 5120-bit
/// product of three, load; the latter only where keys may have 8192 bits.
#[test]
fn rsa_moduli_with_computable_factors_are_refused() {
    let prime = b64::decode(PRIME_N).unwrap();
    assert_weak_rsa(&mul(&prime, &[0x02, 0xef]), "divisible by 751");
    assert_weak_rsa(&mul(&prime, &[3]), "divisible by 3");

    let (p, q, n) = fresh_primes();
    let p_squared = mul(&p, &p);
    assert_eq!(p_squared.len(), 256);
    assert_weak_rsa(&p_squared, "square");
    let p_cubed = mul(&p_squared, &p);
    assert_weak_rsa(&p_cubed, "prime power");
    // p²·q: 3072 bits, not a prime power; nobody factors it more easily
    // than p·q, and it loads.
    VerifyingKey::from_jwk_map(rsa_public(&mul(&p_squared, &q))).unwrap();

    assert_eq!(mul(&p, &q), n);
    VerifyingKey::from_holder_jwk_map(rsa_public(&n)).unwrap();
    let (p2, _, n2) = fresh_primes();
    let big = mul(&mul(&n, &n2), &p2);
    assert_eq!(big.len(), 640);
    VerifyingKey::from_jwk_map(rsa_public(&big)).unwrap();
    let err = VerifyingKey::from_holder_jwk_map(rsa_public(&big)).unwrap_err();
    assert!(matches!(err, JoseError::InvalidKey(_)), "{err:?}");
    assert!(err.to_string().contains("at most 4096"), "{err}");

    // A client's key set (anyone may register one) is bounded as a
    // holder's key: the 5120-bit key loads in a trusted set, not in a
    // client's, and the 2048-bit one loads in both.
    let set = |n: &[u8]| json!({"keys": [rsa_public(n)]}).to_string();
    JwkSet::from_json(set(&big).as_bytes()).unwrap();
    let err = JwkSet::from_client_json(set(&big).as_bytes()).unwrap_err();
    assert!(matches!(err, JoseError::InvalidKey(_)), "{err:?}");
    assert!(err.to_string().contains("at most 4096"), "{err}");
    assert_eq!(
        JwkSet::from_client_json(set(&n).as_bytes()).unwrap().len(),
        1
    );
}

/// A client's key set holds at most `MAX_CLIENT_JWKS_KEYS` keys, counted
/// before any key is parsed (each RSA key costs a primality test); a
/// trusted set may hold more.
#[test]
fn a_client_key_set_is_refused_past_its_key_count_before_any_key_is_parsed() {
    let keys = |count: usize| -> Vec<Value> {
        (0..count)
            .map(|_| {
                Value::Object(
                    SigningKey::generate(Algorithm::EdDSA)
                        .unwrap()
                        .verifying_key()
                        .jwk()
                        .clone(),
                )
            })
            .collect()
    };
    let doc = |keys: Vec<Value>| json!({ "keys": keys }).to_string();
    let most = doc(keys(MAX_CLIENT_JWKS_KEYS));
    assert_eq!(
        JwkSet::from_client_json(most.as_bytes()).unwrap().len(),
        MAX_CLIENT_JWKS_KEYS
    );
    // One more: refused by its count, even though the extra entry is not a
    // key at all (nothing was parsed).
    let mut over = keys(MAX_CLIENT_JWKS_KEYS);
    over.push(json!("not a key"));
    let err = JwkSet::from_client_json(doc(over.clone()).as_bytes()).unwrap_err();
    assert!(matches!(err, JoseError::InvalidJson { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("more than the {MAX_CLIENT_JWKS_KEYS} accepted")),
        "{err}"
    );
    over.pop();
    over.extend(keys(1));
    assert_eq!(
        JwkSet::from_json(doc(over).as_bytes()).unwrap().len(),
        MAX_CLIENT_JWKS_KEYS + 1
    );
}
