//! DPoP proofs (RFC 9449 §4.3) as `passport-dpop` verifies them for
//! `POST https://as.example/token` at `passport_testkit::NOW`.
//!
//! The first byte is a mode: bit 0 set, the rest is `header JSON NUL
//! payload`, the header's members laid over a valid proof header for a
//! fixed Ed25519 key and the result signed by that key; bit 0 clear, the
//! rest is the `DPoP` header values, NUL-separated, as sent. Bit 1: an
//! access token is presented (`ath` required); bit 2: the key is bound
//! (`cnf.jkt` expected).
//!
//! Properties: an accepted proof is for this method, this URL (normalised)
//! and a fresh `iat`, its `jkt` is the RFC 7638 thumbprint of its header's
//! `jwk` and the bound key's when one is expected; the same proof again is
//! a replay; a verifier that has seen other proofs (its header cache warm)
//! gives the same answer as a fresh one, but for replays; every refusal has
//! a documented code.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier, normalize_htu};
use passport_fuzz::{assert_documented, kit, part, parts};
use passport_jose::{Algorithm, CompactJws, SigningKey, thumbprint};
use passport_testkit::NOW;
use serde_json::{Map, Value};

const METHOD: &str = "POST";
const URL: &str = "https://as.example/token";
const ACCESS_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln";

struct Fixed {
    key: SigningKey,
    dpop: DpopKey,
    warm: DpopVerifier,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let dpop = DpopKey::from_signing_key(key.try_clone().unwrap()).unwrap();
        let warm = DpopVerifier::new(DpopPolicy::default(), kit().clock.clone());
        Fixed { key, dpop, warm }
    })
}

/// The `jwk` of a proof's header, read without verifying anything.
fn header_jwk(proof: &str) -> Option<Map<String, Value>> {
    let header = proof.split('.').next()?;
    let bytes = passport_jose::b64::decode(header)?;
    let Ok(Value::Object(mut header)) = serde_json::from_slice::<Value>(&bytes) else {
        return None;
    };
    match header.remove("jwk") {
        Some(Value::Object(jwk)) => Some(jwk),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixed = fixed();
    let parts = parts(rest);
    let headers: Vec<String> = if mode & 1 == 1 {
        let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(part(&parts, 0)) else {
            return;
        };
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        header.insert("alg".into(), "EdDSA".into());
        header.insert("jwk".into(), Value::Object(fixed.dpop.public_jwk().clone()));
        header.extend(changes);
        let Ok(proof) = fixed.key.sign_compact_with_header(&header, part(&parts, 1)) else {
            return;
        };
        vec![proof]
    } else {
        let Ok(values) = parts
            .iter()
            .map(|p| std::str::from_utf8(p).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()
        else {
            return;
        };
        values
    };
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let access_token = (mode & 2 == 2).then_some(ACCESS_TOKEN);
    let bound = (mode & 4 == 4).then(|| fixed.dpop.jkt());
    let fresh = DpopVerifier::new(DpopPolicy::default(), kit().clock.clone());
    let verify = |v: &DpopVerifier| v.verify(&headers, METHOD, URL, access_token, bound);
    let first = verify(&fresh);
    let warm = verify(&fixed.warm);
    match first {
        Ok(proof) => {
            assert_eq!(proof.htm, METHOD);
            assert_eq!(proof.htu, normalize_htu(URL).unwrap());
            assert!(
                (NOW - 60..=NOW + 5).contains(&proof.iat),
                "iat {}",
                proof.iat
            );
            assert_eq!(headers.len(), 1);
            assert!(
                CompactJws::parse(headers[0]).is_err(),
                "a proof carries its key"
            );
            let jwk = header_jwk(headers[0]).expect("an accepted proof has a jwk");
            assert_eq!(thumbprint(&jwk).unwrap(), proof.jkt);
            if let Some(bound) = bound {
                assert_eq!(proof.jkt, bound);
            }
            let again = verify(&fresh).expect_err("the same proof twice");
            assert_eq!(again.code(), "replay");
            if let Err(e) = warm {
                assert_eq!(
                    e.code(),
                    "replay",
                    "a warm verifier refused a fresh proof: {e}"
                );
            }
        }
        Err(e) => {
            assert_documented(e.code());
            assert_eq!(warm.map(|_| ()).map_err(|e| e.code()), Err(e.code()));
        }
    }
});
