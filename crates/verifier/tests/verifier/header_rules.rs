//! SPEC §5 items 1–3 and 10: every header and structure attack, each with
//! the specific error it must produce.

use passport_jose::{Algorithm, JoseError, SigningKey, b64};
use passport_testkit::*;
use passport_verifier::VerifyError;
use serde_json::json;

fn jose(result: Result<passport_verifier::VerifiedPassport, VerifyError>) -> JoseError {
    match result {
        Err(VerifyError::Jose(e)) => e,
        other => panic!("expected a JOSE error, got {other:?}"),
    }
}

#[test]
fn accepts_a_well_formed_root() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let v = f.verify(root.bundle()).unwrap();
    assert_eq!(v.principal(), "alice");
}

#[test]
fn rejects_alg_none_in_every_case_variant() {
    let f = Kit::new();
    let payload = f.payload(json!({}));
    for none in ["none", "None", "NONE", "nOnE", "NoNe"] {
        let header = f.header(json!({"alg": none}));
        // An unsecured JWS has an empty signature; give it a non-empty one too.
        for sig in [&b""[..], b"x"] {
            let token = format!(
                "{}.{}.{}",
                b64::encode(header.to_string()),
                b64::encode(&payload),
                b64::encode(sig)
            );
            let token = if sig.is_empty() {
                format!("{token}AA")
            } else {
                token
            };
            match jose(f.verify(&token)) {
                JoseError::AlgorithmNone(found) => assert_eq!(found, none),
                other => panic!("{none}: {other:?}"),
            }
        }
    }
}

#[test]
fn rejects_missing_or_non_string_alg() {
    let f = Kit::new();
    let payload = f.payload(json!({}));
    for header in [
        f.header(json!({"alg": null})),
        f.header(json!({"alg": 256})),
        f.header(json!({"alg": ["EdDSA"]})),
    ] {
        let token = f.sign_raw(&header, &payload);
        assert!(
            matches!(jose(f.verify(&token)), JoseError::MissingAlgorithm),
            "{header}"
        );
    }
}

#[test]
fn rejects_hs256_keyed_with_the_public_key_bytes() {
    // The classic confusion attack: HMAC the token with the issuer's public
    // key as the secret, hoping the verifier feeds its public key to HMAC.
    let f = Kit::new();
    let header = f.header(json!({"alg": "HS256"}));
    let payload = f.payload(json!({}));
    let input = format!(
        "{}.{}",
        b64::encode(header.to_string()),
        b64::encode(&payload)
    );
    for secret in [
        b64::decode(f.key.public_jwk()["x"].as_str().unwrap()).unwrap(),
        serde_json::to_vec(f.key.public_jwk()).unwrap(),
    ] {
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
        let token = format!("{input}.{}", b64::encode(tag.as_ref()));
        assert!(
            matches!(jose(f.verify(&token)), JoseError::UnsupportedAlgorithm(a) if a == "HS256")
        );
    }
}

#[test]
fn rejects_algorithms_outside_the_allow_list() {
    let f = Kit::with_alg(Algorithm::ES256);
    let token = f.root(&["files:read"]);
    let policy = f.policy().allowed_algorithms(&[Algorithm::EdDSA]);
    assert!(matches!(
        jose(f.verify_with(policy, token.bundle())),
        JoseError::AlgorithmNotAllowed {
            alg: Algorithm::ES256,
            ..
        }
    ));
}

#[test]
fn rejects_an_alg_that_is_not_the_keys_algorithm() {
    // Signed by the Ed25519 key, but the header claims ES256 or RS256: the key
    // decides the algorithm, not the token.
    let f = Kit::new();
    let payload = f.payload(json!({}));
    for alg in ["ES256", "RS256"] {
        let token = f.sign_raw(&f.header(json!({"alg": alg})), &payload);
        assert!(
            matches!(
                jose(f.verify(&token)),
                JoseError::AlgorithmKeyMismatch { .. }
            ),
            "{alg}"
        );
    }
    // An EC key store entry asked to verify an EdDSA header.
    let ec = Kit::with_alg(Algorithm::ES256);
    let token = ec.sign_raw(&ec.header(json!({"alg": "EdDSA"})), &ec.payload(json!({})));
    assert!(matches!(
        jose(ec.verify(&token)),
        JoseError::AlgorithmKeyMismatch { .. }
    ));
}

#[test]
fn accepts_the_rfc9864_ed25519_name_for_the_same_key() {
    let f = Kit::new();
    let token = f.sign_raw(&f.header(json!({"alg": "Ed25519"})), &f.payload(json!({})));
    f.verify(&token).unwrap();
}

#[test]
fn rejects_missing_kid_and_unknown_kid() {
    let f = Kit::new();
    let payload = f.payload(json!({}));
    for header in [
        f.header(json!({"kid": null})),
        f.header(json!({"kid": ""})),
        f.header(json!({"kid": 7})),
    ] {
        let token = f.sign_raw(&header, &payload);
        assert!(
            matches!(jose(f.verify(&token)), JoseError::MissingKid),
            "{header}"
        );
    }
    let token = f.sign_raw(&f.header(json!({"kid": "not-a-trusted-key"})), &payload);
    assert!(
        matches!(f.verify(&token), Err(VerifyError::UnknownKey { kid, .. }) if kid == "not-a-trusted-key")
    );
}

#[test]
fn a_token_signed_by_an_untrusted_key_under_a_trusted_kid_fails_the_signature() {
    let f = Kit::new();
    let attacker = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let header = f.header(json!({}));
    let token = attacker
        .sign_compact_with_header(&map(header), &f.payload(json!({})))
        .unwrap();
    assert!(matches!(jose(f.verify(&token)), JoseError::BadSignature));
}

#[test]
fn rejects_embedded_key_headers_even_when_the_signature_is_valid() {
    let f = Kit::new();
    let payload = f.payload(json!({}));
    let jwk = serde_json::Value::Object(f.key.public_jwk().clone());
    for (name, value) in [
        ("jwk", jwk),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("x5t", json!("abc")),
        ("x5t#S256", json!("abc")),
    ] {
        let token = f.sign_raw(&f.header(json!({ name: value })), &payload);
        assert!(
            matches!(jose(f.verify(&token)), JoseError::ForbiddenHeader(n) if n == name),
            "{name}"
        );
    }
}

#[test]
fn rejects_crit_and_b64() {
    let f = Kit::new();
    let payload = f.payload(json!({}));
    for crit in [json!(["exp"]), json!([]), json!("b64")] {
        let token = f.sign_raw(&f.header(json!({"crit": crit})), &payload);
        assert!(matches!(jose(f.verify(&token)), JoseError::CriticalHeader));
    }
    let token = f.sign_raw(&f.header(json!({"b64": false})), &payload);
    assert!(matches!(
        jose(f.verify(&token)),
        JoseError::UnencodedPayload
    ));
    let token = f.sign_raw(&f.header(json!({"b64": false, "crit": ["b64"]})), &payload);
    assert!(matches!(
        jose(f.verify(&token)),
        JoseError::CriticalHeader | JoseError::UnencodedPayload
    ));
}

#[test]
fn rejects_wrong_segment_counts() {
    let f = Kit::new();
    let token = f.root(&["files:read"]).token().to_owned();
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    for bad in [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"),
        h.to_owned(),
        format!("{h}.{p}."),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
    ] {
        match f.verify(&bad) {
            Err(VerifyError::Malformed(e)) => assert_eq!(e.code(), "malformed_bundle", "{bad}"),
            Err(VerifyError::Jose(e)) => assert_eq!(e.code(), "malformed_token", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
        // The JWS layer alone says the same, whatever the bundle parser caught.
        assert!(
            matches!(
                passport_jose::CompactJws::parse(&bad),
                Err(JoseError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn rejects_padding_and_non_alphabet_characters() {
    let f = Kit::new();
    let token = f.root(&["files:read"]).token().to_owned();
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let bad = [
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}==.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}+.{s}"),
        format!("{h}.{p}.{s}/"),
        format!("{h}.{p}!.{s}"),
        format!("{h}.{p}.{s}\u{e9}"),
    ];
    for bad in &bad {
        // The bundle parser refuses the alphabet first; the JWS layer on its own
        // refuses the same input as invalid base64.
        assert!(f.verify(bad).is_err(), "{bad}");
        assert!(
            matches!(
                passport_jose::CompactJws::parse(bad),
                Err(JoseError::InvalidBase64 { .. })
            ),
            "{bad}"
        );
    }
    // Non-canonical trailing bits: "eyJ" vs a last character with low bits set.
    let mut sig = s.to_owned();
    let last = sig.pop().unwrap();
    let flipped = if last == 'A' { 'B' } else { 'A' };
    let noncanonical = format!("{h}.{p}.{sig}{flipped}");
    // Either non-canonical base64 or a signature change; never accepted.
    assert!(f.verify(&noncanonical).is_err());
}

#[test]
fn rejects_duplicate_members_in_header_and_payload() {
    let f = Kit::new();
    let payload = f.payload(json!({}));
    let header = format!(
        r#"{{"alg":"EdDSA","kid":"{}","typ":"passport+jwt","alg":"EdDSA"}}"#,
        f.key.kid()
    );
    let input = format!("{}.{}", b64::encode(&header), b64::encode(&payload));
    let sig = f.key.sign_raw(input.as_bytes()).unwrap();
    let token = format!("{input}.{}", b64::encode(sig));
    assert!(
        matches!(jose(f.verify(&token)), JoseError::DuplicateMember { part: "header", name } if name == "alg")
    );

    // A payload repeating "aud": the signature is valid, the document is not.
    let text = String::from_utf8(payload).unwrap();
    let dup = text.replacen("{", r#"{"aud":"https://attacker.example","#, 1);
    let token = f
        .key
        .sign_compact(Some("passport+jwt"), dup.as_bytes())
        .unwrap();
    match f.verify(&token) {
        Err(VerifyError::Malformed(e)) => assert_eq!(e.code(), "duplicate_member"),
        other => panic!("{other:?}"),
    }
    // And nested, inside `act`.
    let nested = text.replacen(
        r#""act":{"sub":"agent-a""#,
        r#""act":{"sub":"agent-a","sub":"agent-z""#,
        1,
    );
    assert_ne!(nested, text);
    let token = f
        .key
        .sign_compact(Some("passport+jwt"), nested.as_bytes())
        .unwrap();
    assert_eq!(f.verify(&token).unwrap_err().code(), "duplicate_member");
}

#[test]
fn rejects_header_and_payload_that_are_not_objects() {
    let f = Kit::new();
    for header in ["[]", "\"EdDSA\"", "null", "{"] {
        let token = compact(header, "{}", b"sig");
        assert!(
            matches!(
                jose(f.verify(&token)),
                JoseError::InvalidJson { part: "header", .. }
            ),
            "{header}"
        );
    }
    for payload in ["[]", "1", "\"x\"", "not json"] {
        let token = f
            .key
            .sign_compact(Some("passport+jwt"), payload.as_bytes())
            .unwrap();
        assert_eq!(
            f.verify(&token).unwrap_err().code(),
            "invalid_json",
            "{payload}"
        );
    }
}

#[test]
fn rejects_oversized_tokens_before_decoding() {
    let f = Kit::new();
    let big = f.payload(json!({"padding": "x".repeat(17 * 1024)}));
    let token = f.key.sign_compact(Some("passport+jwt"), &big).unwrap();
    assert!(token.len() > passport_jose::MAX_TOKEN_LEN);
    match f.verify(&token) {
        Err(VerifyError::Malformed(e)) => assert_eq!(e.code(), "malformed_bundle"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        passport_jose::CompactJws::parse(&token),
        Err(JoseError::TokenTooLarge { .. })
    ));
}

#[test]
fn rejects_bundles_deeper_than_the_policy_before_any_signature() {
    let f = Kit::new();
    let [_, _, grandchild] = f.chain3();
    let policy = f.policy().max_depth(2);
    assert!(matches!(
        f.verify_with(policy, grandchild.bundle()),
        Err(VerifyError::ChainTooDeep { depth: 3, max: 2 })
    ));
    // Garbage links are never looked at once the depth is over the limit.
    let junk = ["a.b.c"; 6].join("~");
    assert!(matches!(
        f.verify(&junk),
        Err(VerifyError::ChainTooDeep { depth: 6, max: 5 })
    ));
    let too_many = vec!["a.b.c"; passport_claims::MAX_BUNDLE_LINKS + 1].join("~");
    assert_eq!(f.verify(&too_many).unwrap_err().code(), "bundle_too_deep");
}

#[test]
fn rejects_es256_signatures_with_r_or_s_zero() {
    let f = Kit::with_alg(Algorithm::ES256);
    let token = f.root(&["files:read"]).token().to_owned();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = b64::decode(sig).unwrap();
    assert_eq!(sig.len(), 64);
    let zero = [0u8; 32];
    for forged in [
        [&zero[..], &sig[32..]].concat(),
        [&sig[..32], &zero[..]].concat(),
        [&zero[..], &zero[..]].concat(),
    ] {
        let bad = format!("{input}.{}", b64::encode(&forged));
        assert!(matches!(jose(f.verify(&bad)), JoseError::BadSignature));
    }
    // Wrong lengths (DER, truncated) are bad signatures too, never panics.
    for len in [0usize, 63, 65, 72] {
        let bad = format!("{input}.{}", b64::encode(vec![1u8; len.max(1)]));
        assert!(f.verify(&bad).is_err(), "{len}");
    }
}

#[test]
fn rejects_non_canonical_ed25519_s() {
    // S + L encodes the same scalar mod L; RFC 8032 verifiers must refuse S ≥ L.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let f = Kit::new();
    // Find a token whose S + L still fits in 256 bits (S < 2^256 - L: almost always).
    let token = f.root(&["files:read"]).token().to_owned();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = b64::decode(sig).unwrap();
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[i]) + u16::from(L[i]) + carry;
        s[i] = (v & 0xff) as u8;
        carry = v >> 8;
    }
    assert_eq!(
        carry, 0,
        "S + L overflowed; S is always < L so this cannot happen"
    );
    let forged = [&sig[..32], &s[..]].concat();
    let bad = format!("{input}.{}", b64::encode(forged));
    assert!(matches!(jose(f.verify(&bad)), JoseError::BadSignature));
}

#[test]
fn untyped_tokens_need_the_policy_opt_in_and_other_types_never_pass() {
    let f = Kit::new();
    let payload = f.payload(json!({}));
    for typ in [json!(null), json!("JWT"), json!("jwt")] {
        let token = f.sign_raw(&f.header(json!({"typ": typ})), &payload);
        assert!(
            matches!(jose(f.verify(&token)), JoseError::UntypedNotAccepted { .. }),
            "{typ}"
        );
        f.verify_with(f.policy().accept_untyped(true), &token)
            .unwrap();
    }
    for typ in ["dpop+jwt", "at+jwt", "statuslist+jwt", "application/jwt"] {
        let token = f.sign_raw(&f.header(json!({"typ": typ})), &payload);
        assert!(
            matches!(jose(f.verify(&token)), JoseError::InvalidType { .. }),
            "{typ}"
        );
        let opt_in = f.verify_with(f.policy().accept_untyped(true), &token);
        assert!(
            matches!(jose(opt_in), JoseError::InvalidType { .. }),
            "{typ}"
        );
    }
    for typ in ["passport+jwt", "PASSPORT+JWT", "application/passport+jwt"] {
        let token = f.sign_raw(&f.header(json!({"typ": typ})), &payload);
        f.verify(&token).unwrap();
    }
}

#[test]
fn a_tampered_payload_fails_the_signature() {
    let f = Kit::new();
    let token = f.root(&["files:read"]).token().to_owned();
    let (h, rest) = token.split_once('.').unwrap();
    let (_, s) = rest.split_once('.').unwrap();
    let forged_payload = f.payload(json!({"https://agent-passport.org/claims/tool_scope": ["*"]}));
    let forged = format!("{h}.{}.{s}", b64::encode(forged_payload));
    assert!(matches!(jose(f.verify(&forged)), JoseError::BadSignature));
}

#[test]
fn rs256_passports_verify_and_confusion_with_rsa_is_refused() {
    let f = Kit::with_alg(Algorithm::RS256);
    let root = f.root(&["files:read"]);
    f.verify(root.bundle()).unwrap();
    let token = f.sign_raw(&f.header(json!({"alg": "ES256"})), &f.payload(json!({})));
    assert!(matches!(
        jose(f.verify(&token)),
        JoseError::AlgorithmKeyMismatch { .. }
    ));
}

#[test]
fn non_alphabet_bytes_in_any_link_are_invalid_base64_at_that_link() {
    let f = Kit::new();
    let [_, child, _] = f.chain3();
    let (leaf, root) = child.bundle().split_once('~').unwrap();
    let (h, rest) = root.split_once('.').unwrap();
    for bad in ['+', '/', '=', '\u{e9}', '*'] {
        let broken = format!("{leaf}~{h}{bad}.{rest}");
        let err = f.verify(&broken).unwrap_err();
        assert_eq!((err.code(), err.link()), ("invalid_base64", 1), "{bad}");
        let broken = format!("{h}{bad}.{rest}");
        assert_eq!(
            f.verify(&broken).unwrap_err().code(),
            "invalid_base64",
            "{bad}"
        );
    }
}
