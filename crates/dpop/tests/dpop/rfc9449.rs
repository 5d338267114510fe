//! Known-answer tests from RFC 9449.
//!
//! The proofs are the RFC's figures with the RFC 8792 line folding undone;
//! the `jkt`, `ath` and access token are the values the RFC prints.

use std::sync::Arc;

use passport_claims::ManualClock;
use passport_dpop::{DpopPolicy, DpopVerifier, ath, cnf_jkt};

/// RFC 9449 §4.1, the DPoP proof of the token request
/// (POST https://server.example.com/token, `iat` 1562262616).
const TOKEN_REQUEST_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

/// RFC 9449 §7.1, the DPoP proof of the protected resource request
/// (GET https://resource.example.org/protectedresource, `iat` 1562262618,
/// with `ath` of [`ACCESS_TOKEN`]).
const RESOURCE_REQUEST_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";

/// RFC 9449 §7.1, the DPoP-bound access token of the resource request.
const ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

/// RFC 9449 §6.1, the `cnf.jkt` of the §4.1 example key.
const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

/// RFC 9449 §7.1, the `ath` of [`ACCESS_TOKEN`].
const ATH: &str = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";

fn verifier_at(now: i64) -> DpopVerifier {
    DpopVerifier::new(DpopPolicy::default(), Arc::new(ManualClock::new(now)))
}

#[test]
fn jkt_of_section_6_1() {
    // The public key of the §4.1 proof's header.
    let jwk = serde_json::json!({
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256"
    });
    assert_eq!(cnf_jkt(jwk.as_object().unwrap()).unwrap(), JKT);
}

#[test]
fn ath_of_section_7_1() {
    assert_eq!(ath(ACCESS_TOKEN), ATH);
}

#[test]
fn token_request_proof_of_section_4_1_verifies() {
    let verified = verifier_at(1_562_262_616)
        .verify(
            &[TOKEN_REQUEST_PROOF],
            "POST",
            "https://server.example.com/token",
            None,
            Some(JKT),
        )
        .unwrap();
    assert_eq!(verified.jkt, JKT);
    assert_eq!(verified.jti, "-BwC3ESc6acc2lTc");
    assert_eq!(verified.htm, "POST");
    assert_eq!(verified.htu, "https://server.example.com/token");
    assert_eq!(verified.iat, 1_562_262_616);
}

#[test]
fn resource_request_proof_of_section_7_1_verifies() {
    let verified = verifier_at(1_562_262_618)
        .verify(
            &[RESOURCE_REQUEST_PROOF],
            "GET",
            "https://resource.example.org/protectedresource",
            Some(ACCESS_TOKEN),
            Some(JKT),
        )
        .unwrap();
    assert_eq!(verified.jkt, JKT);
    assert_eq!(verified.jti, "e1j3V_bKic8-LAEB");
    assert_eq!(verified.iat, 1_562_262_618);
}

#[test]
fn rfc_proofs_are_refused_outside_their_request() {
    let url = "https://resource.example.org/protectedresource";
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        i64,
        &'a str,
    );
    let cases: [Case<'_>; 6] = [
        (
            "POST",
            url,
            Some(ACCESS_TOKEN),
            Some(JKT),
            1_562_262_618,
            "htm_mismatch",
        ),
        (
            "GET",
            "https://resource.example.org/other",
            Some(ACCESS_TOKEN),
            Some(JKT),
            1_562_262_618,
            "htu_mismatch",
        ),
        (
            "GET",
            url,
            Some("another-token"),
            Some(JKT),
            1_562_262_618,
            "ath_mismatch",
        ),
        (
            "GET",
            url,
            Some(ACCESS_TOKEN),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"),
            1_562_262_618,
            "dpop_key_mismatch",
        ),
        (
            "GET",
            url,
            Some(ACCESS_TOKEN),
            Some(JKT),
            1_562_262_618 + 61,
            "dpop_iat_too_old",
        ),
        (
            "GET",
            url,
            Some(ACCESS_TOKEN),
            Some(JKT),
            1_562_262_618 - 6,
            "dpop_iat_in_future",
        ),
    ];
    for (method, target, token, jkt, now, code) in cases {
        let err = verifier_at(now)
            .verify(&[RESOURCE_REQUEST_PROOF], method, target, token, jkt)
            .unwrap_err();
        assert_eq!(err.code(), code);
    }
    // The §4.1 proof has no `ath`: refused as soon as a token is presented.
    let err = verifier_at(1_562_262_616)
        .verify(
            &[TOKEN_REQUEST_PROOF],
            "POST",
            "https://server.example.com/token",
            Some(ACCESS_TOKEN),
            None,
        )
        .unwrap_err();
    assert_eq!(err.code(), "missing_ath");
}

#[test]
fn rfc_proof_with_a_flipped_signature_bit_is_refused() {
    let (head, sig) = RESOURCE_REQUEST_PROOF.rsplit_once('.').unwrap();
    let mut sig = passport_jose::b64::decode(sig).unwrap();
    sig[10] ^= 1;
    let tampered = format!("{head}.{}", passport_jose::b64::encode(sig));
    let err = verifier_at(1_562_262_618)
        .verify(
            &[&tampered],
            "GET",
            "https://resource.example.org/protectedresource",
            Some(ACCESS_TOKEN),
            Some(JKT),
        )
        .unwrap_err();
    assert_eq!(err.code(), "bad_dpop_signature");
}
