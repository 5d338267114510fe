//! josekit (OpenSSL) as a differential oracle for the aws-lc-rs paths, both
//! ways, for every algorithm both implement: RS256, ES256 and EdDSA (josekit
//! knows `EdDSA` but not RFC 9864's `Ed25519`, which is the same signature).
//! josekit is a dev-dependency only; nothing at run time uses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use passport_jose::{Algorithm, CompactJws, SigningKey, VerifyOptions, VerifyingKey, b64};

const TYP: &str = "passport+jwt";
const PAYLOAD: &[u8] = br#"{"iss":"https://issuer.example","sub":"agent-7","exp":1700000300}"#;
const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

fn josekit_verifier(alg: Algorithm, jwk: &Jwk) -> Box<dyn JwsVerifier> {
    match alg {
        Algorithm::RS256 => Box::new(jws::RS256.verifier_from_jwk(jwk).unwrap()),
        Algorithm::ES256 => Box::new(jws::ES256.verifier_from_jwk(jwk).unwrap()),
        Algorithm::EdDSA => Box::new(jws::EdDSA.verifier_from_jwk(jwk).unwrap()),
        other => panic!("josekit does not implement {other}"),
    }
}

/// A josekit-generated private JWK and its signer.
fn josekit_key(alg: Algorithm) -> (Jwk, Box<dyn JwsSigner>) {
    match alg {
        Algorithm::RS256 => {
            let jwk = Jwk::generate_rsa_key(2048).unwrap();
            let signer = jws::RS256.signer_from_jwk(&jwk).unwrap();
            (jwk, Box::new(signer))
        }
        Algorithm::ES256 => {
            let jwk = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
            let signer = jws::ES256.signer_from_jwk(&jwk).unwrap();
            (jwk, Box::new(signer))
        }
        Algorithm::EdDSA => {
            let jwk = Jwk::generate_ed_key(josekit::jwk::alg::ed::EdCurve::Ed25519).unwrap();
            let signer = jws::EdDSA.signer_from_jwk(&jwk).unwrap();
            (jwk, Box::new(signer))
        }
        other => panic!("josekit does not implement {other}"),
    }
}

#[test]
fn our_tokens_verify_in_josekit() {
    for alg in ALGORITHMS {
        let key = SigningKey::generate(alg).unwrap();
        let token = key.sign_compact(Some(TYP), PAYLOAD).unwrap();
        let jwk = Jwk::from_map(key.public_jwk().clone()).unwrap();
        let verifier = josekit_verifier(alg, &jwk);
        let (payload, header) = jws::deserialize_compact(&token, &*verifier).unwrap();
        assert_eq!(payload, PAYLOAD, "{alg}");
        assert_eq!(header.algorithm(), Some(verifier.algorithm().name()));
        assert_eq!(header.key_id(), Some(key.kid()));

        // A flipped bit in the signature is refused by josekit too.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = b64::decode(sig).unwrap();
        sig[5] ^= 0x01;
        assert!(verifier.verify(input.as_bytes(), &sig).is_err(), "{alg}");
    }
}

#[test]
fn josekit_tokens_verify_here() {
    for alg in ALGORITHMS {
        let (private, signer) = josekit_key(alg);
        let public = private.to_public_key().unwrap();
        let key = VerifyingKey::from_jwk_map(public.as_ref().clone()).unwrap();
        let mut header = JwsHeader::new();
        header.set_token_type(TYP);
        header.set_key_id(key.kid());
        let token = jws::serialize_compact(PAYLOAD, &header, &*signer).unwrap();

        let jws = CompactJws::parse(&token).unwrap();
        assert_eq!(jws.header().alg(), alg);
        let payload = jws.verify(&key, &VerifyOptions::new(&[alg], TYP)).unwrap();
        assert_eq!(payload, PAYLOAD, "{alg}");

        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = b64::decode(sig).unwrap();
        sig[5] ^= 0x01;
        assert_eq!(
            key.verify(alg, input.as_bytes(), &sig).unwrap_err().code(),
            "bad_signature",
            "{alg}"
        );
    }
}

/// josekit's private JWKs (RSA with CRT members) import here and sign what
/// josekit verifies; for RS256 the signatures are identical, since
/// RSASSA-PKCS1-v1_5 is deterministic.
#[test]
fn josekit_private_jwks_import_and_sign_the_same() {
    for alg in ALGORITHMS {
        let (private, signer) = josekit_key(alg);
        let ours = SigningKey::from_jwk_map(private.as_ref().clone()).unwrap();
        assert_eq!(ours.algorithm(), alg);
        let input = b"eyJhbGciOiJ4In0.e30";
        let signature = ours.sign_raw(input).unwrap();
        let public = private.to_public_key().unwrap();
        josekit_verifier(alg, &public)
            .verify(input, &signature)
            .unwrap();
        if alg == Algorithm::RS256 {
            assert_eq!(signature, signer.sign(input).unwrap());
        }
    }
}
