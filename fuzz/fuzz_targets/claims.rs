//! Claims decoding, alone and behind a valid signature.
//!
//! Mode 0 (first byte even): the rest is a payload for
//! `PassportClaims::from_json`. Properties: decoded claims re-encode
//! (`to_json`) to bytes that decode to the same claims, and re-encoding
//! those gives the same bytes (one canonical form).
//!
//! Mode 1 (first byte odd): the rest is a payload signed as a passport by
//! the kit's trusted key and verified under the kit's policy (issuer,
//! audience, clock at `passport_testkit::NOW`). Properties (accepted implies
//! re-verifiable): an accepted passport's claims are exactly
//! `from_json(payload)`; a second, fresh verifier accepts it with the same
//! claims, and so does the same verifier again (its leaf cache changes no
//! answer); its claims re-encoded and re-signed verify to the same claims.
//! A refusal has a documented code, and the same code from a fresh verifier.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport_claims::PassportClaims;
use passport_fuzz::{assert_documented, kit};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let decoded = PassportClaims::from_json(payload);
    match &decoded {
        Ok(claims) => {
            let json = claims.to_json();
            let again = PassportClaims::from_json(&json).expect("re-encoded claims decode");
            assert_eq!(&again, claims);
            assert_eq!(again.to_json(), json);
        }
        Err(e) => assert_documented(e.code()),
    }
    if mode % 2 == 0 {
        return;
    }
    let kit = kit();
    let token = kit.sign_raw(&kit.header(json!({})), payload);
    let verifier = kit.verifier(kit.policy());
    let first = verifier.verify_str(&token);
    let fresh = kit.verify(&token);
    let warm = verifier.verify_str(&token);
    match first {
        Ok(verified) => {
            let claims = verified.claims();
            assert_eq!(decoded.as_ref().ok(), Some(claims));
            assert_eq!(
                fresh.expect("a fresh verifier accepts it too").claims(),
                claims
            );
            assert_eq!(
                warm.expect("the same verifier accepts it again").claims(),
                claims
            );
            let resigned = kit.sign_passport(claims);
            let again = kit.verify(&resigned).expect("re-signed claims verify");
            assert_eq!(again.claims(), claims);
        }
        Err(e) => {
            assert_documented(e.code());
            assert_eq!(fresh.map(|_| ()).map_err(|e| e.code()), Err(e.code()));
            assert_eq!(warm.map(|_| ()).map_err(|e| e.code()), Err(e.code()));
        }
    }
});
