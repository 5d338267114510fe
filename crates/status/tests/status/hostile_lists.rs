//! Every hostile Status List Token and `lst` is refused with its typed
//! error: untrusted keys, wrong `typ`, wrong `sub`, time window, header
//! tricks, bad base64, bad ZLIB, oversized lists, bad `bits`; lists signed
//! by another issuer, outside the issuer's status base, older than one
//! already seen, or signed after the key's retirement.

use crate::common::*;
use passport_jose::{Algorithm, SigningKey, b64};
use std::sync::Arc;

use passport_status::{ListExpectations, Status, StatusError, StatusList, StatusListToken};
use passport_testkit::*;
use serde_json::json;

fn verify(f: &Fixture, token: &str) -> Result<passport_status::VerifiedStatusList, StatusError> {
    StatusListToken::verify(token, &*f.keys, &ListExpectations::new(ISS, URI, NOW))
}

fn code(f: &Fixture, token: &str) -> &'static str {
    verify(f, token).unwrap_err().code()
}

fn good_lst() -> String {
    let mut list = StatusList::with_capacity(2, 64).unwrap();
    list.set(3, 1).unwrap();
    list.encode().unwrap().1
}

#[test]
fn a_well_formed_list_verifies() {
    let f = Fixture::new();
    let token = f.sign_claims(
        json!({"typ": "statuslist+jwt"}),
        list_claims(URI, &good_lst(), 2, json!({})),
    );
    let verified = verify(&f, &token).unwrap();
    assert_eq!(
        (
            verified.uri.as_str(),
            verified.iat,
            verified.exp,
            verified.ttl
        ),
        (URI, NOW, NOW + 3600, Some(300))
    );
    assert_eq!(verified.list.get(3).unwrap(), 1);
    assert_eq!(verified.kid, f.key.kid());
    // `application/` prefix and case are tolerated (RFC 7515 §4.1.9).
    let token = f.sign_claims(
        json!({"typ": "application/StatusList+JWT"}),
        list_claims(URI, &good_lst(), 2, json!({})),
    );
    verify(&f, &token).unwrap();
}

#[test]
fn a_list_signed_by_an_untrusted_key_is_refused() {
    let f = Fixture::new();
    let other = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let list = StatusList::with_capacity(2, 64).unwrap();
    let token = StatusListToken::sign(&other, URI, &list, NOW, NOW + 3600, 300).unwrap();
    assert_eq!(code(&f, &token), "unknown_kid");
    // The trusted kid with another key's signature.
    let forged = f.sign_claims(
        json!({"typ": "statuslist+jwt"}),
        list_claims(URI, &good_lst(), 2, json!({})),
    );
    let other_sig = token.rsplit('.').next().unwrap();
    let (head, _) = forged.rsplit_once('.').unwrap();
    assert_eq!(code(&f, &format!("{head}.{other_sig}")), "bad_signature");
}

#[test]
fn a_list_for_another_uri_is_refused() {
    let f = Fixture::new();
    let list = StatusList::with_capacity(2, 64).unwrap();
    let token = f.sign_list("https://issuer.local/status/2", &list, NOW, NOW + 3600, 300);
    let err = verify(&f, &token).unwrap_err();
    assert_eq!(err.code(), "uri_mismatch");
    // No normalisation: a trailing slash is another URI.
    let token = f.sign_list(&format!("{URI}/"), &list, NOW, NOW + 3600, 300);
    assert_eq!(code(&f, &token), "uri_mismatch");
}

#[test]
fn a_passport_or_an_untyped_jwt_is_not_a_list() {
    let f = Fixture::new();
    let passport = f.root(ROOT_SCOPES).token().to_owned();
    assert_eq!(code(&f, &passport), "invalid_typ");
    let claims = list_claims(URI, &good_lst(), 2, json!({}));
    for (typ, expected) in [
        (json!("passport+jwt"), "invalid_typ"),
        (json!("statuslist+cwt"), "invalid_typ"),
        (json!("JWT"), "untyped_token"),
        (json!(null), "untyped_token"),
    ] {
        let token = f.sign_claims(json!({"typ": typ}), claims.clone());
        assert_eq!(code(&f, &token), expected, "{typ}");
    }
}

/// A list valid for decades, signed by a key before its retirement (or by a
/// thief holding a retired key), would un-revoke the issuer's passports for
/// as long as the key stays published: a list's lifetime is bounded, by
/// default to the 7 days `passport status-list` signs at most. (Found by the
/// second adversarial review.)
#[test]
fn a_list_that_lives_longer_than_the_maximum_is_refused() {
    let f = Fixture::new();
    let lst = good_lst();
    let sign = |changes| {
        f.sign_claims(
            json!({"typ": "statuslist+jwt"}),
            list_claims(URI, &lst, 2, changes),
        )
    };
    let max = i64::try_from(passport_status::DEFAULT_MAX_LIST_LIFETIME).unwrap();
    verify(&f, &sign(json!({"iat": NOW, "exp": NOW + max}))).unwrap();
    let err = verify(&f, &sign(json!({"iat": NOW, "exp": NOW + max + 1}))).unwrap_err();
    assert_eq!(err.code(), "status_list_lifetime_too_long");
    assert!(matches!(err, StatusError::LifetimeTooLong { lifetime, .. } if lifetime == max + 1));
    let decades = sign(json!({"iat": NOW, "exp": NOW + 30 * 365 * 86_400}));
    assert_eq!(code(&f, &decades), "status_list_lifetime_too_long");
    let strict = ListExpectations::new(ISS, URI, NOW).max_lifetime(3600);
    let token = sign(json!({"iat": NOW, "exp": NOW + 3601}));
    assert_eq!(
        StatusListToken::verify(&token, &*f.keys, &strict)
            .unwrap_err()
            .code(),
        "status_list_lifetime_too_long"
    );
}

#[test]
fn the_time_window_is_checked_with_the_skew() {
    let f = Fixture::new();
    let lst = good_lst();
    let sign = |changes| {
        f.sign_claims(
            json!({"typ": "statuslist+jwt"}),
            list_claims(URI, &lst, 2, changes),
        )
    };
    assert_eq!(
        code(&f, &sign(json!({"iat": NOW + 31, "exp": NOW + 100}))),
        "status_list_issued_in_future"
    );
    verify(&f, &sign(json!({"iat": NOW + 30, "exp": NOW + 100}))).unwrap();
    assert_eq!(
        code(&f, &sign(json!({"iat": NOW - 100, "exp": NOW - 31}))),
        "status_list_expired"
    );
    verify(&f, &sign(json!({"iat": NOW - 100, "exp": NOW - 30}))).unwrap();
    assert_eq!(
        code(&f, &sign(json!({"iat": NOW, "exp": NOW}))),
        "invalid_status_list_claims"
    );
    let strict = ListExpectations::new(ISS, URI, NOW).clock_skew(0);
    let token = sign(json!({"iat": NOW - 100, "exp": NOW - 1}));
    assert_eq!(
        StatusListToken::verify(&token, &*f.keys, &strict)
            .unwrap_err()
            .code(),
        "status_list_expired"
    );
}

#[test]
fn missing_or_mistyped_claims_are_refused() {
    let f = Fixture::new();
    let lst = good_lst();
    for changes in [
        json!({"sub": null}),
        json!({"sub": 1}),
        json!({"iat": null}),
        json!({"iat": "now"}),
        json!({"exp": null}),
        json!({"exp": 1.5}),
        json!({"ttl": -1}),
        json!({"ttl": "300"}),
        json!({"status_list": null}),
        json!({"status_list": "x"}),
        json!({"status_list": {"lst": lst}}),
        json!({"status_list": {"bits": "2", "lst": lst}}),
        json!({"status_list": {"bits": 2}}),
        json!({"status_list": {"bits": 2, "lst": 5}}),
    ] {
        let token = f.sign_claims(
            json!({"typ": "statuslist+jwt"}),
            list_claims(URI, &lst, 2, changes.clone()),
        );
        assert_eq!(code(&f, &token), "invalid_status_list_claims", "{changes}");
    }
    // Duplicate members anywhere in the payload.
    let payload = format!(
        r#"{{"sub":"{URI}","iat":{NOW},"exp":{},"status_list":{{"bits":2,"bits":1,"lst":"{lst}"}}}}"#,
        NOW + 60
    );
    let header = json!({"alg": "EdDSA", "kid": f.key.kid(), "typ": "statuslist+jwt"});
    let token = f
        .key
        .sign_compact_with_header(header.as_object().unwrap(), payload.as_bytes())
        .unwrap();
    assert_eq!(code(&f, &token), "duplicate_member");
}

#[test]
fn header_rules_are_the_passport_rules() {
    let f = Fixture::new();
    let claims = list_claims(URI, &good_lst(), 2, json!({}));
    for (header, expected) in [
        (json!({"typ": "statuslist+jwt", "kid": null}), "missing_kid"),
        (json!({"typ": "statuslist+jwt", "alg": "none"}), "alg_none"),
        (
            json!({"typ": "statuslist+jwt", "alg": "HS256"}),
            "unsupported_alg",
        ),
        (
            json!({"typ": "statuslist+jwt", "alg": "ES256"}),
            "alg_key_mismatch",
        ),
        (
            json!({"typ": "statuslist+jwt", "crit": ["exp"]}),
            "crit_not_supported",
        ),
        (
            json!({"typ": "statuslist+jwt", "b64": false}),
            "b64_not_supported",
        ),
        (
            json!({"typ": "statuslist+jwt", "jku": "https://evil.example/jwks"}),
            "forbidden_header",
        ),
        (
            json!({"typ": "statuslist+jwt", "jwk": {"kty": "OKP"}}),
            "forbidden_header",
        ),
    ] {
        let token = f.sign_claims(header.clone(), claims.clone());
        assert_eq!(code(&f, &token), expected, "{header}");
    }
    let only_es256 = ListExpectations::new(ISS, URI, NOW).algorithms(&[Algorithm::ES256]);
    let token = f.sign_claims(json!({"typ": "statuslist+jwt"}), claims);
    assert_eq!(
        StatusListToken::verify(&token, &*f.keys, &only_es256)
            .unwrap_err()
            .code(),
        "alg_not_allowed"
    );
}

#[test]
fn structural_garbage_is_refused() {
    let f = Fixture::new();
    let token = f.sign_claims(
        json!({"typ": "statuslist+jwt"}),
        list_claims(URI, &good_lst(), 2, json!({})),
    );
    let parts: Vec<&str> = token.split('.').collect();
    for (bad, expected) in [
        (String::new(), "malformed_token"),
        (format!("{}.{}", parts[0], parts[1]), "malformed_token"),
        (format!("{token}.x"), "malformed_token"),
        (format!("{}..{}", parts[0], parts[2]), "malformed_token"),
        (
            format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
            "invalid_base64",
        ),
        (
            format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            "invalid_base64",
        ),
        (
            format!("{}+.{}.{}", parts[0], parts[1], parts[2]),
            "invalid_base64",
        ),
        (
            format!("{}.{}.{}", b64::encode("[]"), parts[1], parts[2]),
            "invalid_json",
        ),
    ] {
        assert_eq!(code(&f, &bad), expected, "{bad:.40}");
    }
    // A payload that is not JSON, validly signed.
    let header = json!({"alg": "EdDSA", "kid": f.key.kid(), "typ": "statuslist+jwt"});
    let token = f
        .key
        .sign_compact_with_header(header.as_object().unwrap(), b"not json")
        .unwrap();
    assert_eq!(code(&f, &token), "invalid_json");
}

#[test]
fn list_tokens_may_exceed_a_passports_16_kib_but_not_their_own_cap() {
    let f = Fixture::new();
    // 2^20 2-bit entries with 20 000 revoked at pseudo-random positions.
    let mut list = StatusList::with_capacity(2, 1 << 20).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        list.set(x % (1 << 20), 1).unwrap();
    }
    let token = f.sign_list(URI, &list, NOW, NOW + 3600, 300);
    assert!(
        token.len() > passport_jose::MAX_TOKEN_LEN,
        "{}",
        token.len()
    );
    assert_eq!(verify(&f, &token).unwrap().list, list);
    let small = ListExpectations::new(ISS, URI, NOW).max_token_len(16 * 1024);
    assert_eq!(
        StatusListToken::verify(&token, &*f.keys, &small)
            .unwrap_err()
            .code(),
        "token_too_large"
    );
}

#[test]
fn hostile_lst_inside_a_validly_signed_token() {
    let f = Fixture::new();
    let cases = [
        ("not base64 !".to_owned(), 2, "invalid_base64"),
        (format!("{}=", good_lst()), 2, "invalid_base64"),
        (b64::encode(b"definitely not zlib"), 2, "invalid_zlib"),
        (good_lst(), 3, "invalid_bits"),
        (good_lst(), 16, "invalid_bits"),
        (good_lst(), 0, "invalid_bits"),
    ];
    for (lst, bits, expected) in cases {
        let token = f.sign_claims(
            json!({"typ": "statuslist+jwt"}),
            list_claims(URI, &lst, bits, json!({})),
        );
        assert_eq!(code(&f, &token), expected, "{lst} bits {bits}");
    }
    // 1 MiB of zeros under a 64 KiB cap.
    let bomb = zlib_lst(&vec![0u8; 1 << 20]);
    let token = f.sign_claims(
        json!({"typ": "statuslist+jwt"}),
        list_claims(URI, &bomb, 1, json!({})),
    );
    let capped = ListExpectations::new(ISS, URI, NOW).max_decompressed(64 * 1024);
    assert_eq!(
        StatusListToken::verify(&token, &*f.keys, &capped)
            .unwrap_err()
            .code(),
        "list_too_large"
    );
    verify(&f, &token).unwrap();
}

#[test]
fn broken_zlib_streams_are_refused() {
    let raw = [0xb9u8, 0xa3, 0x00, 0xff, 0x13, 0x37];
    let good = b64::decode(&zlib_lst(&raw)).unwrap();
    assert_eq!(
        StatusList::decode(1, &b64::encode(&good), 1024)
            .unwrap()
            .as_bytes(),
        raw
    );

    let mut bad_checksum = good.clone();
    *bad_checksum.last_mut().unwrap() ^= 1;
    let mut bad_header = good.clone();
    bad_header[0] = 0x79; // CM 9: not deflate
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"extra");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", good[..good.len() - 5].to_vec()),
        ("header only", good[..2].to_vec()),
        ("bad adler-32", bad_checksum),
        ("bad header", bad_header),
        ("trailing bytes", trailing),
        (
            "raw deflate without zlib header",
            good[2..good.len() - 4].to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        let err = StatusList::decode(1, &b64::encode(&bytes), 1024).unwrap_err();
        assert_eq!(err.code(), "invalid_zlib", "{what}");
    }
    // Non-canonical base64url (padding, standard alphabet, stray bits).
    for lst in [
        "eNrbuRgAAhcBXQ==",
        "eNrbuRgAAhcBXQ=",
        "eNrb+RgAAhcBXQ",
        "eNrbuRgAAhcBXR",
        " eNrbuRgAAhcBXQ",
    ] {
        assert_eq!(
            StatusList::decode(1, lst, 1024).unwrap_err().code(),
            "invalid_base64",
            "{lst}"
        );
    }
}

#[test]
fn the_cap_is_exact() {
    let lst = zlib_lst(&[0u8; 1000]);
    assert_eq!(StatusList::decode(8, &lst, 1000).unwrap().len(), 1000);
    assert_eq!(
        StatusList::decode(8, &lst, 999).unwrap_err().code(),
        "list_too_large"
    );
    assert_eq!(
        StatusList::decode(8, &lst, 0).unwrap_err().code(),
        "list_too_large"
    );
}

/// Issuer B: trusted for its own passports, its key in the same store.
const B: &str = "https://second.local";

#[test]
fn a_list_for_one_issuers_uri_signed_by_another_issuer_is_refused() {
    let f = Fixture::new();
    let b_key = f.trust_second_issuer(B);
    let root = f.root(ROOT_SCOPES);
    f.allocator
        .set_status(root.claims().jti.as_str(), Status::Invalid)
        .unwrap();
    let revoked_list = f.publish();
    // B signs a newer, all-valid list for A's URI: it would un-revoke A's root.
    let all_valid = StatusList::with_capacity(2, 1 << 16).unwrap();
    let b_list = StatusListToken::sign(&b_key, URI, &all_valid, NOW + 1, NOW + 3600, 60).unwrap();
    // Verified as A's list: B's key is not A's.
    assert_eq!(code(&f, &b_list), "unknown_kid");
    let source = f.source();
    assert_eq!(source.add_token(&b_list).unwrap_err().code(), "unknown_kid");
    // Even when B is trusted under the very same status base, B's list
    // answers only for B's passports: A's root still reads A's list.
    let shared = f.source().trust_issuer(B, STATUS_BASE).unwrap();
    shared.add_token(&b_list).unwrap();
    assert!(shared.cached(ISS, URI).is_none());
    let shared = Arc::new(shared);
    let verifier = f.verifier_using(shared.clone());
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_list_unavailable"
    );
    shared.add_token(&revoked_list).unwrap();
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "revoked"
    );
}

#[test]
fn a_status_uri_outside_the_issuers_base_is_refused() {
    // A's passports name a list under B's base.
    let f = Fixture::with_uri("https://second.local/status/1");
    f.trust_second_issuer(B);
    let root = f.root(ROOT_SCOPES);
    let source = f
        .source()
        .trust_issuer(B, "https://second.local/status")
        .unwrap();
    let token = f.publish();
    // A's key signed it, but the URI is not under A's base: nobody's list.
    assert_eq!(source.add_token(&token).unwrap_err().code(), "unknown_kid");
    let verifier = f.verifier_using(Arc::new(source));
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_uri_not_allowed"
    );
}

#[tokio::test]
async fn a_list_older_than_one_already_seen_is_refused() {
    let f = Fixture::new();
    let root = f.root(ROOT_SCOPES);
    let before = f.publish();
    f.clock.advance(10);
    f.allocator
        .set_status(root.claims().jti.as_str(), Status::Invalid)
        .unwrap();
    let after = f.publish();
    let source = Arc::new(f.source());
    source.add_token(&after).unwrap();
    let err = source.add_token(&before).unwrap_err();
    assert!(matches!(
        err,
        StatusError::RolledBack { iat, seen, .. } if iat == NOW && seen == NOW + 10
    ));
    assert_eq!(err.code(), "status_list_rolled_back");
    // The newer list stays in use; the same list again is no rollback.
    source.add_token(&after).unwrap();
    let verifier = f.verifier_using(source.clone());
    assert_eq!(
        verifier.verify_str(root.bundle()).unwrap_err().code(),
        "revoked"
    );
    // A list file replaced by the older copy is refused when re-read.
    let path = f.path("list.jwt");
    std::fs::write(&path, &after).unwrap();
    let files = f.source();
    files.add_file(&path).unwrap();
    std::fs::write(&path, &before).unwrap();
    assert_eq!(
        files.refresh().await.unwrap_err().code(),
        "status_list_rolled_back"
    );
}

#[test]
fn a_list_signed_after_its_keys_retirement_is_refused() {
    let f = Fixture::new();
    let token = f.publish(); // iat NOW
    let mut jwk = f.key.public_jwk().clone();
    jwk.insert(passport_jose::JWK_RETIRED_AT.into(), (NOW - 1).into());
    f.keys
        .insert(ISS, passport_jose::VerifyingKey::from_jwk_map(jwk).unwrap())
        .unwrap();
    let err = verify(&f, &token).unwrap_err();
    assert!(matches!(err, StatusError::KeyRetired { retired_at, .. } if retired_at == NOW - 1));
    assert_eq!(err.code(), "key_retired");
}
