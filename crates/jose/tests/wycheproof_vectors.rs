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

// ---------------------------------------------------------------------------
// Wycheproof JOSE vectors (fixtures/vectors/wycheproof/, C2SP/wycheproof
// `testvectors_v1/`): `json_web_key_test.json` (key sets) and
// `json_web_signature_test.json` (compact JWS per key), run through this
// crate's own path: the key set through `JwkSet::from_json`, the token through
// `CompactJws::parse`, the key found by `kid`, then `CompactJws::verify`.

mod jose {
    use std::collections::BTreeMap;

    use passport_jose::{Algorithm, CompactJws, JwkSet, VerifyOptions, b64};
    use serde_json::{Value, json};

    /// Algorithms refused by design, each with the reason. A case whose header
    /// (or key) names one of them must be refused.
    const REFUSED_BY_DESIGN: &[(&str, &str)] = &[
        (
            "HS256",
            "HMAC: whoever can verify can mint; passports are verified offline by parties \
             that must not be able to issue them, so only public keys are used",
        ),
        ("HS384", "HMAC (see HS256)"),
        ("HS512", "HMAC (see HS256)"),
        (
            "RS384",
            "RSA PKCS#1 v1.5 with SHA-256 only (RS256): one RSA algorithm, nothing to confuse",
        ),
        ("RS512", "RSA PKCS#1 v1.5 with SHA-256 only (see RS384)"),
        (
            "PS256",
            "RSASSA-PSS is not in the profile (EdDSA, ES256, RS256; SPEC §2)",
        ),
        ("PS384", "RSASSA-PSS is not in the profile"),
        ("PS512", "RSASSA-PSS is not in the profile"),
        (
            "ES512",
            "ECDSA on P-521 is not in the profile (ES256 is the only ECDSA)",
        ),
    ];

    /// The one profile rule under which a case Wycheproof expects accepted is
    /// refused, whatever its algorithm: an empty payload segment. Every
    /// payload here is a JSON object (SPEC §5 item 3), so `CompactJws`
    /// refuses an empty payload as `malformed_token` before any key is used.
    fn empty_payload(jws: &Value) -> bool {
        jws.as_str()
            .is_some_and(|t| t.split('.').count() == 3 && t.split('.').nth(1) == Some(""))
    }

    fn load(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/vectors/wycheproof")
            .join(name);
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// The header's `alg`, read without any of this crate's checks (to
    /// classify the case only).
    fn header_alg(jws: &str) -> Option<String> {
        let header = b64::decode(jws.split('.').next()?)?;
        let header: Value = serde_json::from_slice(&header).ok()?;
        header.get("alg")?.as_str().map(str::to_owned)
    }

    /// Verifies `jws` with the keys of `keys` (a JWK or a JWKS); `Err` holds
    /// the code of the refusal.
    fn run(keys: &Value, jws: &Value) -> Result<(), String> {
        let Value::String(jws) = jws else {
            // JSON serialization: only the compact form is implemented.
            return Err("not_compact".into());
        };
        let set = if keys.get("keys").is_some() {
            keys.clone()
        } else {
            json!({ "keys": [keys] })
        };
        let set = JwkSet::from_json(set.to_string().as_bytes()).map_err(|e| e.code().to_owned())?;
        let token = CompactJws::parse(jws).map_err(|e| e.code().to_owned())?;
        let kid = token
            .header()
            .require_kid()
            .map_err(|e| e.code().to_owned())?;
        let key = set.get(kid).ok_or("unknown_kid")?;
        let options = VerifyOptions {
            algorithms: Algorithm::ALL.to_vec(),
            typ: None,
            accept_untyped: true,
        };
        token
            .verify(key, &options)
            .map_err(|e| e.code().to_owned())?;
        Ok(())
    }

    fn refusal(outcome: &Result<(), String>) -> Option<&str> {
        outcome.as_ref().err().map(String::as_str)
    }

    #[derive(Default)]
    struct Tally {
        agreed: usize,
        acceptable: usize,
        by_design: BTreeMap<String, usize>,
        profile: usize,
        refusals: BTreeMap<String, usize>,
    }

    fn run_file(name: &str, keys_of: impl Fn(&Value) -> &Value) -> Tally {
        let doc = load(name);
        let mut tally = Tally::default();
        let mut total = 0;
        for group in doc["testGroups"].as_array().unwrap() {
            let keys = keys_of(group);
            for test in group["tests"].as_array().unwrap() {
                total += 1;
                let id = test["tcId"].as_u64().unwrap();
                let expected = test["result"].as_str().unwrap();
                let outcome = run(keys, &test["jws"]);
                if let Err(code) = &outcome {
                    *tally.refusals.entry(code.clone()).or_default() += 1;
                }
                if expected == "valid" && empty_payload(&test["jws"]) {
                    assert_eq!(
                        refusal(&outcome),
                        Some("malformed_token"),
                        "{name} tcId {id}"
                    );
                    tally.profile += 1;
                    continue;
                }
                // The algorithm the case is about: the header's, or (when the
                // header does not decode) the key's.
                let alg = test["jws"]
                    .as_str()
                    .and_then(header_alg)
                    .or_else(|| keys["alg"].as_str().map(str::to_owned));
                let by_design = alg
                    .as_deref()
                    .and_then(|a| REFUSED_BY_DESIGN.iter().find(|(name, _)| *name == a));
                if let Some((alg, _)) = by_design {
                    // Refused: as unsupported_alg, or earlier when the token
                    // is malformed (tcId 372 and 373 insert a `?` in the
                    // header and the payload, which a lenient base64 decoder
                    // skips; ours refuses it as invalid_base64).
                    let refused = refusal(&outcome);
                    assert!(refused.is_some(), "{name} tcId {id} ({alg}) accepted");
                    *tally.by_design.entry((*alg).to_owned()).or_default() += 1;
                    continue;
                }
                match (expected, &outcome) {
                    ("valid", Ok(())) | ("invalid", Err(_)) => tally.agreed += 1,
                    ("acceptable", _) => tally.acceptable += 1,
                    _ => panic!(
                        "{name} tcId {id} ({}): Wycheproof expects {expected}, got {outcome:?}",
                        test["comment"]
                    ),
                }
            }
        }
        assert_eq!(total, doc["numberOfTests"].as_u64().unwrap() as usize);
        tally
    }

    fn report(name: &str, tally: &Tally) {
        eprintln!(
            "{name}: {} as expected, {} acceptable, {} valid with an empty payload refused (profile)",
            tally.agreed, tally.acceptable, tally.profile
        );
        for (alg, count) in &tally.by_design {
            let reason = REFUSED_BY_DESIGN.iter().find(|(a, _)| a == alg).unwrap().1;
            eprintln!("  {alg}: {count} cases refused by design: {reason}");
        }
        eprintln!("  refusals by code: {:?}", tally.refusals);
    }

    /// 26 key-set cases: the weak RSA keys (1024 bits, `e = 1`, the ROCA
    /// key), the off-curve point, the wrong curve, `kty`, `use` and `alg`,
    /// a mixed public/private set and duplicate `kid`s are refused; the
    /// valid RS256 set is accepted. HMAC and AES keys are by design.
    #[test]
    fn wycheproof_jose_json_web_keys() {
        let tally = run_file("json_web_key_test.json", |group| {
            group.get("public").unwrap_or(&group["private"])
        });
        report("json_web_key_test.json", &tally);
        // tcId 5 (RS256, valid) and every RSA/EC refusal are ours to decide.
        assert_eq!(tally.agreed, 11);
        assert_eq!(tally.by_design.values().sum::<usize>(), 15);
        assert_eq!(tally.profile, 0);
        for code in ["weak_key", "invalid_key", "unknown_kid"] {
            assert!(tally.refusals.contains_key(code), "no {code} refusal");
        }
        // The ROCA key, the 1024-bit key and e = 1 are refused as weak.
        assert_eq!(tally.refusals["weak_key"], 3);
    }

    /// 401 JWS cases: ES256 (including r, s = 0, 1, n-1, n, overlong and
    /// trailing bytes), RS256 (213 malformed PKCS#1 paddings, RFC 7520
    /// figure 13 with and without `key_ops`), keys for encryption, embedded
    /// `jwk`, `alg: none`; HMAC, RS384/512, PS* and ES512 are by design.
    #[test]
    fn wycheproof_jose_json_web_signatures() {
        let tally = run_file("json_web_signature_test.json", |group| {
            group.get("public").unwrap_or(&group["private"])
        });
        report("json_web_signature_test.json", &tally);
        assert_eq!(tally.acceptable, 0);
        // tcId 259 (RS256), 264 (RS384), 268 (RS512), 272 (PS256), 320
        // (PS384), 325 (PS512): "emptyPayload".
        assert_eq!(tally.profile, 6);
        assert_eq!(tally.agreed, 280);
        assert_eq!(tally.by_design.values().sum::<usize>(), 115);
        // Every refused-by-design algorithm named above occurs in the file.
        for (alg, _) in REFUSED_BY_DESIGN {
            if !alg.starts_with("HS") || *alg == "HS256" {
                assert!(tally.by_design.contains_key(*alg), "no {alg} case");
            }
        }
    }
}
