//! Proof creation, and every hostile case of RFC 9449 §4.3 refused with its
//! own error.

use std::sync::Arc;

use passport_claims::{Clock, ManualClock};
use passport_dpop::{
    DpopError, DpopKey, DpopPolicy, DpopVerifier, InMemoryReplayCache, NonceIssuer, ath,
};
use passport_jose::{Algorithm, SigningKey, b64};
use passport_testkit::{NOW, sign_json, with};
use serde_json::{Map, Value, json};

const URL: &str = "https://tools.example/mcp";
const BUNDLE: &str = "eyJhbGciOiJFZERTQSJ9.e30.sig~eyJhbGciOiJFZERTQSJ9.e30.sig";

struct Fixture {
    clock: Arc<ManualClock>,
    verifier: DpopVerifier,
    key: DpopKey,
}

fn fixture() -> Fixture {
    fixture_with(DpopPolicy::default())
}

fn fixture_with(policy: DpopPolicy) -> Fixture {
    let clock = Arc::new(ManualClock::new(NOW));
    Fixture {
        verifier: DpopVerifier::new(policy, clock.clone()),
        clock,
        key: DpopKey::generate(Algorithm::ES256).unwrap(),
    }
}

impl Fixture {
    fn proof(&self) -> String {
        self.key
            .proof("POST", URL, Some(BUNDLE), None, self.clock.now())
            .unwrap()
    }

    fn verify(&self, proof: &str) -> Result<passport_dpop::VerifiedProof, DpopError> {
        self.verifier
            .verify(&[proof], "POST", URL, Some(BUNDLE), Some(self.key.jkt()))
    }

    fn code(&self, proof: &str) -> &'static str {
        self.verify(proof).unwrap_err().code()
    }
}

/// Public JWK members of a jose signing key.
fn public_jwk(key: &SigningKey) -> Map<String, Value> {
    key.public_jwk()
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "kty" | "crv" | "x" | "y"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn good_claims() -> Value {
    json!({
        "jti": "jti-1",
        "htm": "POST",
        "htu": URL,
        "iat": NOW,
        "ath": ath(BUNDLE),
    })
}

/// A proof signed by `key` with an arbitrary header and claims.
fn craft(key: &SigningKey, header: Value, claims: Value) -> String {
    sign_json(key, &header, claims.to_string().as_bytes())
}

fn es256() -> SigningKey {
    SigningKey::generate(Algorithm::ES256).unwrap()
}

fn good_header(key: &SigningKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.algorithm().as_str(), "jwk": public_jwk(key)})
}

/// Verifies a crafted proof under the default policy; no binding expected.
fn crafted_code(proof: &str) -> &'static str {
    let clock = Arc::new(ManualClock::new(NOW));
    DpopVerifier::new(DpopPolicy::default(), clock)
        .verify(&[proof], "POST", URL, Some(BUNDLE), None)
        .unwrap_err()
        .code()
}

// ---------------------------------------------------------------- creation

#[test]
fn created_proofs_carry_what_section_4_2_asks() {
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::Ed25519] {
        let key = DpopKey::generate(alg).unwrap();
        let proof = key
            .proof(
                "GET",
                "HTTPS://Tools.Example:443/mcp?page=2#top",
                Some(BUNDLE),
                Some("n-1"),
                NOW,
            )
            .unwrap();
        let parts: Vec<&str> = proof.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&b64::decode(parts[0]).unwrap()).unwrap();
        let claims: Value = serde_json::from_slice(&b64::decode(parts[1]).unwrap()).unwrap();
        let mut names: Vec<&String> = header.as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, ["alg", "jwk", "typ"]);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], alg.as_str());
        let mut jwk_members: Vec<&String> = header["jwk"].as_object().unwrap().keys().collect();
        jwk_members.sort();
        let expected: &[&str] = if alg == Algorithm::ES256 {
            &["crv", "kty", "x", "y"]
        } else {
            &["crv", "kty", "x"]
        };
        assert_eq!(jwk_members, expected);
        assert_eq!(header["jwk"].as_object().unwrap(), key.public_jwk());
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://tools.example/mcp");
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["ath"], ath(BUNDLE));
        assert_eq!(claims["nonce"], "n-1");
        let jti = claims["jti"].as_str().unwrap();
        assert_eq!(b64::decode(jti).unwrap().len(), 16, "128-bit jti");
        assert_eq!(key.jkt(), passport_dpop::cnf_jkt(key.public_jwk()).unwrap());

        // Without token and nonce, neither claim appears; jti differs.
        let bare = key.proof("GET", URL, None, None, NOW).unwrap();
        let bare_claims: Value =
            serde_json::from_slice(&b64::decode(bare.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert!(bare_claims.get("ath").is_none());
        assert!(bare_claims.get("nonce").is_none());
        assert_ne!(bare_claims["jti"], claims["jti"]);

        // And it verifies.
        let verifier = DpopVerifier::new(DpopPolicy::default(), Arc::new(ManualClock::new(NOW)));
        let verified = verifier
            .verify(&[&proof], "GET", URL, Some(BUNDLE), Some(key.jkt()))
            .unwrap();
        assert_eq!(verified.jkt, key.jkt());
        assert_eq!(verified.htm, "GET");
        assert_eq!(verified.htu, URL);
        assert_eq!(verified.jti, jti);
        assert_eq!(verified.iat, NOW);
    }
}

#[test]
fn rsa_keys_and_bad_urls_are_refused_for_proofs() {
    let rsa = SigningKey::generate(Algorithm::RS256).unwrap();
    assert_eq!(
        DpopKey::from_signing_key(rsa).unwrap_err().code(),
        "unsupported_dpop_key"
    );
    assert_eq!(
        DpopKey::generate(Algorithm::RS256).unwrap_err().code(),
        "unsupported_dpop_key"
    );
    let key = DpopKey::generate(Algorithm::EdDSA).unwrap();
    assert_eq!(
        key.proof("GET", "/relative", None, None, NOW)
            .unwrap_err()
            .code(),
        "invalid_url"
    );
}

#[test]
fn cnf_jkt_refuses_private_and_unsupported_keys() {
    let key = es256();
    let mut jwk = public_jwk(&key);
    assert_eq!(passport_dpop::cnf_jkt(&jwk).unwrap(), key.kid());
    jwk.insert("d".into(), "AAAA".into());
    assert_eq!(
        passport_dpop::cnf_jkt(&jwk).unwrap_err().code(),
        "private_key_in_proof"
    );
    let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
    assert_eq!(
        passport_dpop::cnf_jkt(oct.as_object().unwrap())
            .unwrap_err()
            .code(),
        "private_key_in_proof"
    );
    let p384 = json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"});
    assert_eq!(
        passport_dpop::cnf_jkt(p384.as_object().unwrap())
            .unwrap_err()
            .code(),
        "invalid_dpop_jwk"
    );
}

// ------------------------------------------------------- number of proofs

#[test]
fn no_proof_and_two_proofs() {
    let f = fixture();
    let err = f
        .verifier
        .verify(&[], "POST", URL, Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "missing_dpop_proof");
    let (a, b) = (f.proof(), f.proof());
    let err = f
        .verifier
        .verify(&[&a, &b], "POST", URL, Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "multiple_dpop_proofs");
    let folded = format!("{a}, {b}");
    let err = f
        .verifier
        .verify(&[&folded], "POST", URL, Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "multiple_dpop_proofs");
    // Neither proof was spent by the refusals.
    f.verify(&a).unwrap();
    f.verify(&b).unwrap();
}

// --------------------------------------------------------------- malformed

#[test]
fn malformed_proofs() {
    let f = fixture();
    let h = b64::encode(good_header(&es256()).to_string());
    let p = b64::encode(good_claims().to_string());
    let cases = [
        String::new(),
        "not-a-jws".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        format!("{h}.{p}."),
        format!(".{p}.AAAA"),
        format!("{h}=.{p}.AAAA"),
        format!("{h}.{p}.AA+A"),
        format!("{}.{p}.AAAA", b64::encode("not json")),
        format!("{}.{p}.AAAA", b64::encode("[1,2]")),
        format!("{h}.{}.AAAA", b64::encode("\"a string\"")),
        format!(
            "{}.{p}.AAAA",
            b64::encode(r#"{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256"}"#)
        ),
        format!("{h}.{}.AAAA", b64::encode(r#"{"jti":"a","jti":"b"}"#)),
    ];
    for proof in cases {
        assert_eq!(f.code(&proof), "malformed_dpop_proof", "{proof}");
    }
    let huge = format!("{h}.{}.AAAA", "A".repeat(9_000));
    assert_eq!(f.code(&huge), "dpop_proof_too_large");
}

#[test]
fn garbage_never_panics() {
    let f = fixture();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let alphabet = b"abcXYZ019-_.=+/ {}\",:~\x00\xff";
    for len in 0..400 {
        let mut s = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let text = String::from_utf8_lossy(&s).into_owned();
        assert!(f.verify(&text).is_err());
    }
}

// ------------------------------------------------------------- typ and alg

#[test]
fn typ_must_be_exactly_dpop_jwt() {
    let key = es256();
    for typ in [
        json!("jwt"),
        json!("JWT"),
        json!("DPOP+JWT"),
        json!("application/dpop+jwt"),
        json!("passport+jwt"),
        json!(1),
        Value::Null,
    ] {
        let header = with(good_header(&key), json!({ "typ": typ }));
        let proof = craft(&key, header, good_claims());
        assert_eq!(crafted_code(&proof), "invalid_dpop_typ", "{typ}");
    }
}

#[test]
fn alg_none_hmac_missing_and_not_allowed() {
    let key = es256();
    let claims = b64::encode(good_claims().to_string());
    let unsigned = |header: Value| format!("{}.{claims}.AAAA", b64::encode(header.to_string()));
    let jwk = public_jwk(&key);
    for (alg, code) in [
        (json!("none"), "dpop_alg_none"),
        (json!("NONE"), "dpop_alg_none"),
        (json!("HS256"), "unsupported_dpop_alg"),
        (json!("ES384"), "unsupported_dpop_alg"),
        (json!(null), "missing_dpop_alg"),
        (json!(7), "missing_dpop_alg"),
    ] {
        let mut header = json!({"typ": "dpop+jwt", "jwk": jwk});
        if !alg.is_null() {
            header["alg"] = alg.clone();
        }
        assert_eq!(crafted_code(&unsigned(header)), code, "{alg}");
    }
    // An HS256 proof with a symmetric jwk is refused for its algorithm.
    let hmac = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
    assert_eq!(crafted_code(&unsigned(hmac)), "unsupported_dpop_alg");

    // RS256 is asymmetric but outside the default allow-list.
    let rsa = SigningKey::generate(Algorithm::RS256).unwrap();
    let rsa_jwk: Map<String, Value> = rsa
        .public_jwk()
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "kty" | "n" | "e"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": rsa_jwk});
    let proof = craft(&rsa, header, good_claims());
    assert_eq!(crafted_code(&proof), "dpop_alg_not_allowed");

    // A policy can narrow the list: EdDSA refused under an ES256-only policy.
    let f = fixture_with(DpopPolicy {
        allowed_algorithms: vec![Algorithm::ES256],
        ..DpopPolicy::default()
    });
    let ed = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let proof = ed.proof("POST", URL, Some(BUNDLE), None, NOW).unwrap();
    let err = f
        .verifier
        .verify(&[&proof], "POST", URL, Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "dpop_alg_not_allowed");
}

#[test]
fn processing_and_key_source_headers_are_refused() {
    let key = es256();
    for member in ["crit", "b64", "jku", "x5u", "x5c", "x5t", "x5t#S256"] {
        let mut header = good_header(&key);
        header[member] = json!(["x"]);
        let proof = craft(&key, header, good_claims());
        assert_eq!(crafted_code(&proof), "forbidden_dpop_header", "{member}");
    }
    // A `kid` is ignored, never used to look a key up.
    let header = with(good_header(&key), json!({"kid": "some-other-key"}));
    let proof = craft(&key, header, good_claims());
    let clock = Arc::new(ManualClock::new(NOW));
    let verified = DpopVerifier::new(DpopPolicy::default(), clock)
        .verify(&[&proof], "POST", URL, Some(BUNDLE), Some(key.kid()))
        .unwrap();
    assert_eq!(verified.jkt, key.kid());
}

// --------------------------------------------------------------------- jwk

#[test]
fn jwk_missing_private_invalid_or_mismatched() {
    let key = es256();
    let no_jwk = with(good_header(&key), json!({"jwk": null}));
    assert_eq!(
        crafted_code(&craft(&key, no_jwk, good_claims())),
        "missing_dpop_jwk"
    );

    let mut private = public_jwk(&key);
    private.insert("d".into(), b64::encode([7u8; 32]).into());
    let header = with(good_header(&key), json!({ "jwk": private }));
    assert_eq!(
        crafted_code(&craft(&key, header, good_claims())),
        "private_key_in_proof"
    );

    for jwk in [
        json!("a string"),
        json!([1]),
        json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "crv": "P-256", "x": b64::encode([1u8; 32]), "y": b64::encode([2u8; 32])}),
        json!({"kty": "EC", "crv": "P-256"}),
        json!({"kty": "OKP", "crv": "X25519", "x": b64::encode([1u8; 32])}),
        with(Value::Object(public_jwk(&key)), json!({"use": "enc"})),
    ] {
        let header = with(good_header(&key), json!({ "jwk": jwk }));
        assert_eq!(
            crafted_code(&craft(&key, header, good_claims())),
            "invalid_dpop_jwk",
            "{jwk}"
        );
    }

    // The header's alg must fit the key: EdDSA over a P-256 jwk and the reverse.
    let ed = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": public_jwk(&key)});
    assert_eq!(
        crafted_code(&craft(&ed, header, good_claims())),
        "dpop_alg_key_mismatch"
    );
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&ed)});
    assert_eq!(
        crafted_code(&craft(&key, header, good_claims())),
        "dpop_alg_key_mismatch"
    );
}

// --------------------------------------------------------------- signature

#[test]
fn bad_signatures() {
    let f = fixture();
    let proof = f.proof();
    let (head, sig) = proof.rsplit_once('.').unwrap();
    let mut bytes = b64::decode(sig).unwrap();
    bytes[0] ^= 0x80;
    assert_eq!(
        f.code(&format!("{head}.{}", b64::encode(&bytes))),
        "bad_dpop_signature"
    );
    // r = 0, s = 0; truncated; empty-ish.
    for sig in [vec![0u8; 64], vec![1u8; 63], vec![0u8; 1]] {
        assert_eq!(
            f.code(&format!("{head}.{}", b64::encode(&sig))),
            "bad_dpop_signature"
        );
    }
    // Signed by one key, carrying another key's jwk.
    let signer = es256();
    let other = es256();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&other)});
    assert_eq!(
        crafted_code(&craft(&signer, header, good_claims())),
        "bad_dpop_signature"
    );
    // A payload swapped under a valid signature.
    let (h, rest) = proof.split_once('.').unwrap();
    let (_, s) = rest.split_once('.').unwrap();
    let swapped = format!(
        "{h}.{}.{s}",
        b64::encode(with(good_claims(), json!({"jti": "x"})).to_string())
    );
    assert_eq!(f.code(&swapped), "bad_dpop_signature");
}

// ------------------------------------------------------------------ claims

#[test]
fn required_claims_present_and_typed() {
    let key = es256();
    for name in ["jti", "htm", "htu", "iat"] {
        let claims = with(good_claims(), json!({ name: null }));
        let proof = craft(&key, good_header(&key), claims);
        let err = DpopVerifier::new(DpopPolicy::default(), Arc::new(ManualClock::new(NOW)))
            .verify(&[&proof], "POST", URL, Some(BUNDLE), None)
            .unwrap_err();
        assert_eq!(err, DpopError::MissingClaim(name));
        assert_eq!(err.code(), "missing_dpop_claim");
    }
    for (name, value) in [
        ("jti", json!("")),
        ("jti", json!(5)),
        ("htm", json!(["POST"])),
        ("htu", json!("not a url")),
        ("htu", json!("/mcp")),
        ("iat", json!("1700000000")),
        ("iat", json!(1_700_000_000.5)),
        ("ath", json!(42)),
    ] {
        let claims = with(good_claims(), json!({ name: value }));
        let proof = craft(&key, good_header(&key), claims);
        let err = DpopVerifier::new(DpopPolicy::default(), Arc::new(ManualClock::new(NOW)))
            .verify(&[&proof], "POST", URL, Some(BUNDLE), None)
            .unwrap_err();
        assert_eq!(err, DpopError::InvalidClaim(name), "{name}={value}");
    }
}

#[test]
fn htm_must_equal_the_method() {
    let f = fixture();
    for method in ["GET", "post", "POST "] {
        let err = f
            .verifier
            .verify(&[&f.proof()], method, URL, Some(BUNDLE), None)
            .unwrap_err();
        assert_eq!(err.code(), "htm_mismatch", "{method:?}");
    }
}

#[test]
fn htu_must_equal_the_uri_after_normalisation() {
    let f = fixture();
    for other in [
        "https://tools.example/other",
        "http://tools.example/mcp",
        "https://tools.example:8443/mcp",
        "https://evil.example/mcp",
        "https://tools.example/MCP",
        "https://tools.example/mcp/",
    ] {
        let err = f
            .verifier
            .verify(&[&f.proof()], "POST", other, Some(BUNDLE), None)
            .unwrap_err();
        assert_eq!(err.code(), "htu_mismatch", "{other}");
    }
    let err = f
        .verifier
        .verify(&[&f.proof()], "POST", "not a url", Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_url");

    // Equal after normalisation, whichever side is un-normalised.
    let key = es256();
    let claims = with(
        good_claims(),
        json!({"htu": "https://server.example.com/token"}),
    );
    let proof = craft(&key, good_header(&key), claims);
    let verifier = DpopVerifier::new(DpopPolicy::default(), Arc::new(ManualClock::new(NOW)));
    let verified = verifier
        .verify(
            &[&proof],
            "POST",
            "HTTPS://Server.Example.COM:443/token?x=1#f",
            Some(BUNDLE),
            None,
        )
        .unwrap();
    assert_eq!(verified.htu, "https://server.example.com/token");
    let claims = with(
        good_claims(),
        json!({"jti": "jti-2", "htu": "HTTPS://Server.Example.COM:443/token?x=1#f"}),
    );
    let proof = craft(&key, good_header(&key), claims);
    verifier
        .verify(
            &[&proof],
            "POST",
            "https://server.example.com/token",
            Some(BUNDLE),
            None,
        )
        .unwrap();
}

// --------------------------------------------------------------------- iat

#[test]
fn iat_window_exact_boundaries() {
    let key = es256();
    let verify_at = |policy: DpopPolicy, iat: i64| {
        let claims = with(good_claims(), json!({"iat": iat}));
        let proof = craft(&key, good_header(&key), claims);
        DpopVerifier::new(policy, Arc::new(ManualClock::new(NOW)))
            .verify(&[&proof], "POST", URL, Some(BUNDLE), None)
            .map(|_| ())
            .map_err(|e| e.code())
    };
    let default = DpopPolicy::default;
    assert_eq!(verify_at(default(), NOW - 60), Ok(()));
    assert_eq!(verify_at(default(), NOW - 61), Err("dpop_iat_too_old"));
    assert_eq!(verify_at(default(), NOW + 5), Ok(()));
    assert_eq!(verify_at(default(), NOW + 6), Err("dpop_iat_in_future"));
    assert_eq!(verify_at(default(), i64::MIN), Err("dpop_iat_too_old"));
    assert_eq!(verify_at(default(), i64::MAX), Err("dpop_iat_in_future"));

    let narrow = || DpopPolicy {
        iat_past: 10,
        iat_future: 0,
        ..DpopPolicy::default()
    };
    assert_eq!(verify_at(narrow(), NOW - 10), Ok(()));
    assert_eq!(verify_at(narrow(), NOW - 11), Err("dpop_iat_too_old"));
    assert_eq!(verify_at(narrow(), NOW), Ok(()));
    assert_eq!(verify_at(narrow(), NOW + 1), Err("dpop_iat_in_future"));
}

// ------------------------------------------------------------------ replay

#[test]
fn replay_is_refused_per_key() {
    let f = fixture();
    let proof = f.proof();
    f.verify(&proof).unwrap();
    assert_eq!(f.code(&proof), "replay");

    // The same jti under another key is a different proof.
    let (a, b) = (es256(), es256());
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = DpopVerifier::new(DpopPolicy::default(), clock);
    for key in [&a, &b] {
        let proof = craft(key, good_header(key), good_claims());
        verifier
            .verify(&[&proof], "POST", URL, Some(BUNDLE), None)
            .unwrap();
    }
    let again = craft(&a, good_header(&a), good_claims());
    let err = verifier
        .verify(&[&again], "POST", URL, Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "replay", "a new signature over a used jti");
}

#[test]
fn refused_proofs_do_not_spend_their_jti() {
    let f = fixture();
    let proof = f.proof();
    for (method, url, token) in [
        ("GET", URL, Some(BUNDLE)),
        ("POST", "https://tools.example/x", Some(BUNDLE)),
        ("POST", URL, Some("another bundle")),
    ] {
        assert!(
            f.verifier
                .verify(&[&proof], method, url, token, Some(f.key.jkt()))
                .is_err()
        );
    }
    assert!(
        f.verifier
            .verify(&[&proof], "POST", URL, Some(BUNDLE), Some("other-jkt"))
            .is_err()
    );
    f.verify(&proof).unwrap();
}

#[test]
fn replay_cache_is_bounded_through_the_verifier() {
    let clock = Arc::new(ManualClock::new(NOW));
    let cache = Arc::new(InMemoryReplayCache::new(2, clock.clone()));
    let verifier =
        DpopVerifier::new(DpopPolicy::default(), clock.clone()).with_replay_cache(cache.clone());
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = |now| key.proof("POST", URL, None, None, now).unwrap();
    let verify = |p: &str| verifier.verify(&[p], "POST", URL, None, None);

    let first = proof(NOW);
    verify(&first).unwrap();
    verify(&proof(NOW)).unwrap();
    let err = verify(&proof(NOW)).unwrap_err();
    assert_eq!(err.code(), "replay_cache_full");
    assert!(err.is_server_error());
    // Full, yet replays are still caught (nothing was forgotten).
    assert_eq!(verify(&first).unwrap_err().code(), "replay");

    // Entries live through the iat window (60 s), then make room.
    clock.set(NOW + 60);
    assert_eq!(
        verify(&proof(NOW + 60)).unwrap_err().code(),
        "replay_cache_full"
    );
    clock.set(NOW + 61);
    verify(&proof(NOW + 61)).unwrap();
    assert_eq!(cache.len(), 1);
}

// --------------------------------------------------------------------- ath

#[test]
fn ath_required_and_equal_when_a_token_is_presented() {
    let f = fixture();
    let without = f.key.proof("POST", URL, None, None, NOW).unwrap();
    assert_eq!(f.code(&without), "missing_ath");
    let other = f
        .key
        .proof("POST", URL, Some("another-bundle"), None, NOW)
        .unwrap();
    assert_eq!(f.code(&other), "ath_mismatch");
    // With no token presented (a token endpoint), ath is not required.
    f.verifier
        .verify(&[&without], "POST", URL, None, Some(f.key.jkt()))
        .unwrap();
}

// ------------------------------------------------------------------ nonces

#[test]
fn nonces_missing_wrong_expired_then_fresh() {
    let clock = Arc::new(ManualClock::new(NOW));
    let issuer = NonceIssuer::from_secret(&[9u8; 32], clock.clone()).unwrap();
    let verifier = DpopVerifier::new(
        DpopPolicy {
            require_nonce: true,
            ..DpopPolicy::default()
        },
        clock.clone(),
    )
    .with_nonce_issuer(issuer.clone());
    let key = DpopKey::generate(Algorithm::EdDSA).unwrap();
    let verify = |p: &str| verifier.verify(&[p], "POST", URL, Some(BUNDLE), Some(key.jkt()));

    // Missing: refused with a fresh nonce, which then works.
    let err = verify(&key.proof("POST", URL, Some(BUNDLE), None, NOW).unwrap()).unwrap_err();
    assert_eq!(err.code(), "use_dpop_nonce");
    let fresh = err.fresh_nonce().unwrap().to_owned();
    assert!(issuer.check(&fresh));
    verify(
        &key.proof("POST", URL, Some(BUNDLE), Some(&fresh), NOW)
            .unwrap(),
    )
    .unwrap();

    // Wrong: refused with a fresh nonce.
    let other = NonceIssuer::from_secret(&[8u8; 32], clock.clone()).unwrap();
    for wrong in [other.current(), "garbage".into(), String::new()] {
        let err = verify(
            &key.proof("POST", URL, Some(BUNDLE), Some(&wrong), NOW)
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "use_dpop_nonce", "{wrong:?}");
        assert_eq!(err.fresh_nonce(), Some(issuer.current().as_str()));
    }
    // A non-string nonce claim is a wrong nonce too.
    let signing = SigningKey::generate(Algorithm::ES256).unwrap();
    let crafted = craft(
        &signing,
        good_header(&signing),
        with(good_claims(), json!({"nonce": 5})),
    );
    let err = verifier
        .verify(&[&crafted], "POST", URL, Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "use_dpop_nonce");

    // Expired: two buckets (10 minutes) later the old nonce is refused.
    clock.advance(600);
    let now = clock.now();
    let err = verify(
        &key.proof("POST", URL, Some(BUNDLE), Some(&fresh), now)
            .unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "use_dpop_nonce");
    let newer = err.fresh_nonce().unwrap().to_owned();
    assert_ne!(newer, fresh);
    verify(
        &key.proof("POST", URL, Some(BUNDLE), Some(&newer), now)
            .unwrap(),
    )
    .unwrap();
}

#[test]
fn nonce_required_without_issuer_fails_closed() {
    let f = fixture_with(DpopPolicy {
        require_nonce: true,
        ..DpopPolicy::default()
    });
    let err = f.verify(&f.proof()).unwrap_err();
    assert_eq!(err.code(), "dpop_nonce_not_configured");
    assert!(err.is_server_error());
}

#[test]
fn nonce_ignored_when_not_required() {
    let f = fixture();
    let proof = f
        .key
        .proof("POST", URL, Some(BUNDLE), Some("whatever"), NOW)
        .unwrap();
    f.verify(&proof).unwrap();
}

// ----------------------------------------------------------------- binding

#[test]
fn proof_key_must_be_the_bound_key() {
    let f = fixture();
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let err = f
        .verifier
        .verify(&[&f.proof()], "POST", URL, Some(BUNDLE), Some(other.jkt()))
        .unwrap_err();
    assert_eq!(err, DpopError::KeyMismatch);
    assert_eq!(err.code(), "dpop_key_mismatch");
    // An unbound passport accepts any proof key.
    f.verifier
        .verify(&[&f.proof()], "POST", URL, Some(BUNDLE), None)
        .unwrap();
}

#[test]
fn error_codes_are_distinct() {
    let errors = [
        DpopError::MissingProof,
        DpopError::MultipleProofs,
        DpopError::ProofTooLarge { len: 1, max: 0 },
        DpopError::Malformed(String::new()),
        DpopError::InvalidType,
        DpopError::MissingAlgorithm,
        DpopError::AlgorithmNone,
        DpopError::UnsupportedAlgorithm(String::new()),
        DpopError::AlgorithmNotAllowed(String::new()),
        DpopError::ForbiddenHeader("crit"),
        DpopError::MissingJwk,
        DpopError::InvalidJwk(String::new()),
        DpopError::PrivateKeyInProof,
        DpopError::AlgorithmKeyMismatch {
            alg: String::new(),
            key: String::new(),
        },
        DpopError::BadSignature,
        DpopError::MissingClaim("jti"),
        DpopError::InvalidClaim("jti"),
        DpopError::HtmMismatch,
        DpopError::HtuMismatch,
        DpopError::InvalidUrl(String::new()),
        DpopError::IatTooOld,
        DpopError::IatInFuture,
        DpopError::Replay,
        DpopError::ReplayCacheFull,
        DpopError::ReplayQuotaExceeded { retry_after: 1 },
        DpopError::ReplayCacheUnavailable(String::new()),
        DpopError::MissingAth,
        DpopError::AthMismatch,
        DpopError::UseNonce {
            nonce: String::new(),
            reason: "missing",
        },
        DpopError::NonceNotConfigured,
        DpopError::WeakNonceSecret,
        DpopError::KeyMismatch,
        DpopError::UnsupportedKey(String::new()),
        DpopError::RandomUnavailable(String::new()),
        DpopError::Crypto(String::new()),
    ];
    let mut codes: Vec<&str> = errors.iter().map(DpopError::code).collect();
    codes.sort_unstable();
    let n = codes.len();
    codes.dedup();
    assert_eq!(codes.len(), n);
}

#[test]
fn a_cached_proof_key_never_vouches_for_a_different_jwk() {
    // One verifier sees a good proof (its key is now cached), then a proof by
    // the same key whose jwk differs only in a member that makes it invalid.
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = DpopVerifier::new(DpopPolicy::default(), clock);
    let key = es256();
    let good = craft(&key, good_header(&key), good_claims());
    verifier
        .verify(&[&good], "POST", URL, Some(BUNDLE), None)
        .unwrap();
    let mut jwk = public_jwk(&key);
    jwk.insert("use".into(), "enc".into());
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
    let bad = craft(&key, header, with(good_claims(), json!({"jti": "jti-2"})));
    let err = verifier
        .verify(&[&bad], "POST", URL, Some(BUNDLE), None)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_dpop_jwk");
}

#[test]
fn request_paths_with_dot_segments_are_refused() {
    // A proof for /admin must not serve a request the server routes as
    // /a/../admin (or its percent-encoded spellings).
    let f = fixture();
    for request in [
        "https://tools.example/a/../mcp",
        "https://tools.example/a/%2e%2E/mcp",
        "https://tools.example/./mcp",
        "https://tools.example/mcp/.",
        "https://tools.example/a/.%2e/mcp?x=1",
    ] {
        let proof = f
            .key
            .proof("POST", request, Some(BUNDLE), None, NOW)
            .unwrap();
        let err = f
            .verifier
            .verify(&[&proof], "POST", request, Some(BUNDLE), Some(f.key.jkt()))
            .unwrap_err();
        assert_eq!(err.code(), "invalid_url", "{request}");
    }
    // Dots inside a segment are ordinary characters.
    for request in [
        "https://tools.example/v1.2/mcp",
        "https://tools.example/a..b/mcp",
    ] {
        let proof = f
            .key
            .proof("POST", request, Some(BUNDLE), None, NOW)
            .unwrap();
        f.verifier
            .verify(&[&proof], "POST", request, Some(BUNDLE), Some(f.key.jkt()))
            .unwrap();
    }
}

#[test]
fn a_cached_header_settles_only_the_header() {
    // The first good proof puts its header in the verifier's cache; every
    // later proof with the same header bytes still has its signature, its
    // claims, its binding and its jti checked.
    let f = fixture();
    f.verify(&f.proof()).unwrap();
    let proof = f.proof();
    let (head, sig) = proof.rsplit_once('.').unwrap();
    let mut bytes = b64::decode(sig).unwrap();
    bytes[0] ^= 0x80;
    assert_eq!(
        f.code(&format!("{head}.{}", b64::encode(&bytes))),
        "bad_dpop_signature"
    );
    let (h, rest) = proof.split_once('.').unwrap();
    let (_, s) = rest.split_once('.').unwrap();
    let swapped = format!(
        "{h}.{}.{s}",
        b64::encode(with(good_claims(), json!({"jti": "x"})).to_string())
    );
    assert_eq!(f.code(&swapped), "bad_dpop_signature");
    // Another bound key: refused on the cached header as on a fresh one.
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let err = f
        .verifier
        .verify(&[&proof], "POST", URL, Some(BUNDLE), Some(other.jkt()))
        .unwrap_err();
    assert_eq!(err, DpopError::KeyMismatch);
    // The claim rules.
    let get = f
        .verifier
        .verify(&[&proof], "GET", URL, Some(BUNDLE), Some(f.key.jkt()))
        .unwrap_err();
    assert_eq!(get.code(), "htm_mismatch");
    f.verify(&proof).unwrap();
    assert_eq!(f.code(&proof), "replay");
    // Another verifier, with another policy, shares nothing.
    let strict = DpopVerifier::new(
        DpopPolicy {
            allowed_algorithms: vec![Algorithm::EdDSA],
            ..DpopPolicy::default()
        },
        f.clock.clone(),
    );
    let err = strict
        .verify(&[&f.proof()], "POST", URL, Some(BUNDLE), Some(f.key.jkt()))
        .unwrap_err();
    assert_eq!(err.code(), "dpop_alg_not_allowed");
}
