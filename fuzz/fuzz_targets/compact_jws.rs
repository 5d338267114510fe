//! The strict compact JWS parser (SPEC §5 items 1–3) and the signature
//! check behind it.
//!
//! Mode 0 (first byte even): the rest is a token. Properties: a parsed
//! token's signing input is its first two segments; its payload re-encodes
//! to its payload segment exactly (the decoder accepts canonical base64url
//! only); `alg` is never `none`; verification with the kit's key refuses it
//! unless the signature is that key's (it never is for a token the fuzzer
//! made); every refusal has a documented code.
//!
//! Mode 1 (first byte odd): the rest is `header JSON NUL payload`, signed
//! with the kit's key. Properties: when the parser accepts the signed
//! token, the signature verifies and gives back the payload, byte for byte,
//! whenever the header names the key's algorithm (accepted implies
//! re-verifiable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport_fuzz::{assert_documented, kit, part, parts};
use passport_jose::{Algorithm, CompactJws, VerifyOptions, b64};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = &kit().key;
    let verifying = key.verifying_key();
    let options = VerifyOptions {
        algorithms: vec![Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256],
        typ: None,
        accept_untyped: true,
    };
    if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        let jws = match CompactJws::parse(token) {
            Ok(jws) => jws,
            Err(e) => return assert_documented(e.code()),
        };
        let mut segments = token.split('.');
        let (h, p) = (segments.next().unwrap(), segments.next().unwrap());
        assert_eq!(jws.signing_input(), format!("{h}.{p}").as_bytes());
        assert_eq!(b64::encode(jws.unverified_payload()), p);
        assert!(!jws.header().alg().as_str().eq_ignore_ascii_case("none"));
        assert!(jws.header().members().contains_key("alg"));
        if let Err(e) = jws.verify(&verifying, &options) {
            assert_documented(e.code());
        }
        return;
    }
    let parts = parts(rest);
    let Ok(serde_json::Value::Object(header)) = serde_json::from_slice(part(&parts, 0)) else {
        return;
    };
    let payload = part(&parts, 1);
    let Ok(token) = key.sign_compact_with_header(&header, payload) else {
        return;
    };
    let jws = match CompactJws::parse(&token) {
        Ok(jws) => jws,
        Err(e) => return assert_documented(e.code()),
    };
    assert_eq!(jws.unverified_payload(), payload);
    match jws.verify(&verifying, &options) {
        Ok(verified) => assert_eq!(verified, payload),
        Err(e) => {
            assert_documented(e.code());
            // no `typ` rule here: the key's own signature under a header
            // naming the key's algorithm always verifies
            assert_ne!(
                jws.header().alg(),
                key.algorithm(),
                "the key's own signature refused: {e}"
            );
        }
    }
});
