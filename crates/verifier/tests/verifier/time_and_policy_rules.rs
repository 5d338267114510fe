//! SPEC §5 items 5–8: issuer, audience, time window at the skew boundaries,
//! assurance floors, scope and wildcard, allowed actors, malformed claims.

use passport_claims::{ClaimsError, Level};
use passport_testkit::*;
use passport_verifier::{AssuranceKind, PolicyError, VerificationPolicy, VerifyError};
use serde_json::json;

#[test]
fn expiry_is_enforced_exactly_at_the_skew_boundary() {
    let f = Kit::new();
    let root = f.root(&["files:read"]);
    let exp = root.claims().exp;
    f.clock.set(exp + 30);
    f.verify(root.bundle()).unwrap();
    f.clock.set(exp + 31);
    assert!(
        matches!(f.verify(root.bundle()), Err(VerifyError::Expired { exp: e, now }) if e == exp && now == exp + 31)
    );
    // A zero-skew policy refuses one second after exp.
    f.clock.set(exp);
    f.verify_with(f.policy().clock_skew(0), root.bundle())
        .unwrap();
    f.clock.set(exp + 1);
    assert!(matches!(
        f.verify_with(f.policy().clock_skew(0), root.bundle()),
        Err(VerifyError::Expired { .. })
    ));
    // The largest skew allowed, 120 s.
    f.clock.set(exp + 120);
    f.verify_with(f.policy().clock_skew(120), root.bundle())
        .unwrap();
    f.clock.set(exp + 121);
    assert!(matches!(
        f.verify_with(f.policy().clock_skew(120), root.bundle()),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn not_yet_valid_is_enforced_exactly_at_the_skew_boundary() {
    let f = Kit::new();
    let payload = f.payload(json!({"nbf": NOW + 100, "iat": NOW}));
    let token = f.sign_raw(&f.header(json!({})), &payload);
    f.clock.set(NOW + 70);
    f.verify(&token).unwrap();
    f.clock.set(NOW + 69);
    assert!(
        matches!(f.verify(&token), Err(VerifyError::NotYetValid { nbf, .. }) if nbf == NOW + 100)
    );
    // An `iat` in the future is refused with its own error, at the same boundary.
    let payload = f.payload(json!({"iat": NOW + 100, "nbf": NOW}));
    let token = f.sign_raw(&f.header(json!({})), &payload);
    f.clock.set(NOW + 70);
    f.verify(&token).unwrap();
    f.clock.set(NOW + 69);
    let err = f.verify(&token).unwrap_err();
    assert_eq!(err.code(), "issued_in_future");
    assert!(
        matches!(err, VerifyError::IssuedInFuture { iat, now } if iat == NOW + 100 && now == NOW + 69)
    );
}

#[test]
fn a_skew_above_120_seconds_is_an_invalid_policy() {
    let f = Kit::new();
    let err =
        passport_verifier::Verifier::with_key_store(f.policy().clock_skew(121), f.keys.clone())
            .unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Policy(PolicyError::ClockSkewTooLarge(121))
    ));
    for (policy, expected) in [
        (f.policy().max_depth(0), PolicyError::InvalidMaxDepth(0)),
        (f.policy().max_depth(33), PolicyError::InvalidMaxDepth(33)),
        (
            f.policy().allowed_algorithms(&[]),
            PolicyError::NoAlgorithms,
        ),
        (VerificationPolicy::new(ISS, ""), PolicyError::NoAudience),
        (VerificationPolicy::new("", AUD), PolicyError::NoIssuers),
    ] {
        assert_eq!(policy.validate().unwrap_err(), expected);
    }
}

#[test]
fn rejects_untrusted_issuers() {
    let f = Kit::new();
    let token = f.sign_raw(
        &f.header(json!({})),
        &f.payload(json!({"iss": "https://evil.example"})),
    );
    assert!(
        matches!(f.verify(&token), Err(VerifyError::UntrustedIssuer { iss }) if iss == "https://evil.example")
    );
    // Exact match: no prefix, case or trailing-slash games.
    for iss in [
        "https://issuer.local/",
        "HTTPS://issuer.local",
        "https://issuer.local.evil",
        "https://issuer.loca",
    ] {
        let token = f.sign_raw(&f.header(json!({})), &f.payload(json!({"iss": iss})));
        assert!(
            matches!(f.verify(&token), Err(VerifyError::UntrustedIssuer { .. })),
            "{iss}"
        );
    }
}

#[test]
fn rejects_any_audience_but_the_exact_one() {
    let f = Kit::new();
    for aud in [
        "https://tool.example/",
        "https://TOOL.example",
        "https://tool.example.evil",
        "https://other.example",
    ] {
        let token = f.sign_raw(&f.header(json!({})), &f.payload(json!({"aud": aud})));
        assert!(
            matches!(f.verify(&token), Err(VerifyError::AudienceMismatch { found, .. }) if found == aud),
            "{aud}"
        );
    }
    let token = f.sign_raw(&f.header(json!({})), &f.payload(json!({"aud": [AUD]})));
    assert!(matches!(
        f.verify(&token),
        Err(VerifyError::Malformed(ClaimsError::InvalidClaim {
            name: "aud",
            ..
        }))
    ));
}

#[test]
fn assurance_floors_refuse_lower_and_missing_levels() {
    let f = Kit::new();
    let root = f.root(&["files:read"]); // IAL2 AAL2 FAL2
    f.verify_with(
        f.policy()
            .require_ial(Level::TWO)
            .require_aal(Level::TWO)
            .require_fal(Level::TWO),
        root.bundle(),
    )
    .unwrap();
    for (policy, kind) in [
        (f.policy().require_ial(Level::THREE), AssuranceKind::Ial),
        (f.policy().require_aal(Level::THREE), AssuranceKind::Aal),
        (f.policy().require_fal(Level::THREE), AssuranceKind::Fal),
    ] {
        match f.verify_with(policy, root.bundle()) {
            Err(VerifyError::InsufficientAssurance {
                kind: k,
                required: Level::THREE,
                found: Some(Level::TWO),
            }) => {
                assert_eq!(k, kind);
            }
            other => panic!("{other:?}"),
        }
    }
    let token = f.sign_raw(
        &f.header(json!({})),
        &f.payload(json!({"ial": null, "aal": null, "fal": null})),
    );
    f.verify(&token).unwrap();
    let err = f
        .verify_with(f.policy().require_ial(Level::ONE), &token)
        .unwrap_err();
    assert!(matches!(
        err,
        VerifyError::InsufficientAssurance {
            kind: AssuranceKind::Ial,
            found: None,
            ..
        }
    ));
    assert_eq!(err.code(), "insufficient_ial");
}

#[test]
fn required_scope_must_be_covered() {
    let f = Kit::new();
    let root = f.root(&["files:read", "mail:*"]);
    for ok in ["files:read", "mail:send", "mail:"] {
        f.verify_with(f.policy().required_scope(ok), root.bundle())
            .unwrap();
    }
    for missing in ["files:write", "files:read:all", "FILES:read", "mail", "*"] {
        match f.verify_with(f.policy().required_scope(missing), root.bundle()) {
            Err(VerifyError::ScopeNotCovered { required, granted }) => {
                assert_eq!(required, missing);
                assert_eq!(granted, ["files:read", "mail:*"]);
            }
            other => panic!("{missing}: {other:?}"),
        }
    }
    let empty = f.root(&[]);
    assert_eq!(
        f.verify_with(f.policy().required_scope("files:read"), empty.bundle())
            .unwrap_err()
            .code(),
        "scope_violation"
    );
}

#[test]
fn bare_wildcards_need_the_policy_opt_in() {
    let f = Kit::new();
    for pattern in ["*", "**", "?*", "*?*"] {
        let root = f.root(&["files:read", pattern]);
        assert!(
            matches!(f.verify(root.bundle()), Err(VerifyError::WildcardNotAllowed { pattern: p }) if p == pattern),
            "{pattern}"
        );
        f.verify_with(f.policy().allow_wildcard(true), root.bundle())
            .unwrap();
    }
    // A prefixed wildcard is an ordinary pattern.
    f.verify(f.root(&["files:*"]).bundle()).unwrap();
}

#[test]
fn allowed_actors_apply_to_every_link() {
    let f = Kit::new();
    let [root, child, grandchild] = f.chain3();
    let all = f.policy().allowed_actors(["agent-a", "agent-b", "agent-c"]);
    f.verify_with(all, grandchild.bundle()).unwrap();
    let no_leaf = f.policy().allowed_actors(["agent-a", "agent-b"]);
    assert!(matches!(
        f.verify_with(no_leaf, grandchild.bundle()),
        Err(VerifyError::ActorNotAllowed { agent_id }) if agent_id == "agent-c"
    ));
    let no_middle = f.policy().allowed_actors(["agent-a", "agent-c"]);
    let err = f.verify_with(no_middle, grandchild.bundle()).unwrap_err();
    assert_eq!(err.link(), 1);
    assert!(
        matches!(err.root_cause(), VerifyError::ActorNotAllowed { agent_id } if agent_id == "agent-b")
    );
    let _ = (root, child);
}

#[test]
fn malformed_claims_are_refused_with_their_own_error() {
    let f = Kit::new();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!({"ial": 4}), "invalid_level"),
        (json!({"ial": 0}), "invalid_level"),
        (json!({"aal": -1}), "invalid_level"),
        (json!({"fal": 2.0}), "invalid_level"),
        (json!({"ial": "2"}), "invalid_level"),
        (
            json!({"ial": null, "aal": null, "fal": null, "acr": 3}),
            "invalid_claim",
        ),
        (json!({"exp": 1.7e9}), "invalid_numeric_date"),
        (json!({"exp": "1700000900"}), "invalid_numeric_date"),
        (json!({"iat": -1}), "invalid_numeric_date"),
        (json!({"nbf": 253_402_300_800_i64}), "invalid_numeric_date"),
        (
            json!({"exp": 18_446_744_073_709_551_615_u64}),
            "invalid_numeric_date",
        ),
        (json!({"exp": null}), "missing_claim"),
        (json!({"sub": null}), "missing_claim"),
        (json!({"jti": null}), "missing_claim"),
        (json!({"act": null}), "missing_claim"),
        (json!({"sub": 42}), "invalid_claim"),
        (json!({"sub": ""}), "invalid_claim"),
        (json!({"act": "agent-a"}), "invalid_claim"),
        (json!({"act": {"act": {"sub": "x"}}}), "invalid_claim"),
        (
            json!({"https://agent-passport.org/claims/agent_id": null}),
            "missing_claim",
        ),
        (
            json!({"https://agent-passport.org/claims/tool_scope": "files:read"}),
            "invalid_claim",
        ),
        (
            json!({"https://agent-passport.org/claims/tool_scope": [1]}),
            "invalid_claim",
        ),
        (
            json!({"https://agent-passport.org/claims/tool_scope": ["files:[rw]"]}),
            "unsupported_scope_syntax",
        ),
        (
            json!({"https://agent-passport.org/claims/parent_jti": 5}),
            "invalid_claim",
        ),
    ];
    for (change, code) in cases {
        let token = f.sign_raw(&f.header(json!({})), &f.payload(change.clone()));
        let err = f.verify(&token).unwrap_err();
        assert!(
            matches!(err, VerifyError::Malformed(_)),
            "{change}: {err:?}"
        );
        assert_eq!(err.code(), code, "{change}");
    }
}
