//! The claim layout of SPEC §3, compared with what csp-agent-passport 0.2.1's
//! `PassportClaims.to_jwt_claims` writes (member order and omission of absent
//! optional claims; see its claims.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use passport_claims::{
    Actor, AgentClaims, Assurance, Level, PassportClaims, ScopeSet, UnverifiedBundle,
};

fn sample() -> PassportClaims {
    let mut p = PassportClaims::new(
        "https://issuer.local",
        "alice",
        "https://tool.example",
        "0b7c7a2e-0000-4000-8000-000000000001",
        1_700_000_000,
        1_700_000_900,
        AgentClaims {
            agent_id: "agent-b".into(),
            agent_model: "model-b".into(),
            tool_scope: ScopeSet::parse(["files:read"]).unwrap(),
            task_purpose: Some("summarise".into()),
            parent_jti: Some("parent-jti".into()),
        },
    );
    p.act = Actor::wrapping("agent-b", &Actor::new("agent-a"));
    p.acr = Some("http://idmanagement.gov/ns/assurance/ial/2".into());
    p.assurance = Assurance::uniform(Level::TWO);
    p
}

#[test]
fn members_are_written_in_the_reference_order() {
    let text = String::from_utf8(sample().to_json()).unwrap();
    let expected = concat!(
        r#"{"iss":"https://issuer.local","sub":"alice","aud":"https://tool.example","#,
        r#""iat":1700000000,"exp":1700000900,"nbf":1700000000,"#,
        r#""jti":"0b7c7a2e-0000-4000-8000-000000000001","#,
        r#""act":{"sub":"agent-b","act":{"sub":"agent-a"}},"#,
        r#""acr":"http://idmanagement.gov/ns/assurance/ial/2","ial":2,"aal":2,"fal":2,"#,
        r#""https://agent-passport.org/claims/agent_id":"agent-b","#,
        r#""https://agent-passport.org/claims/agent_model":"model-b","#,
        r#""https://agent-passport.org/claims/tool_scope":["files:read"],"#,
        r#""https://agent-passport.org/claims/task_purpose":"summarise","#,
        r#""https://agent-passport.org/claims/parent_jti":"parent-jti"}"#,
    );
    assert_eq!(text, expected);
}

#[test]
fn absent_optional_claims_are_omitted_never_null() {
    let mut p = sample();
    p.acr = None;
    p.assurance = Assurance::none();
    p.agent.task_purpose = None;
    p.agent.parent_jti = None;
    p.act = Actor::new("agent-b");
    let text = String::from_utf8(p.to_json()).unwrap();
    for absent in [
        "acr",
        "ial",
        "aal",
        "fal",
        "task_purpose",
        "parent_jti",
        "parent_hash",
        "null",
    ] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    assert!(text.contains(r#""https://agent-passport.org/claims/tool_scope":["files:read"]"#));
}

#[test]
fn decoding_round_trips_and_keeps_unknown_claims() {
    let mut p = sample();
    p.parent_hash = Some("abc".into());
    p.cnf_jkt = Some("thumb".into());
    p.extra
        .insert("x-custom".into(), serde_json::json!({"nested": [1, 2]}));
    let back = PassportClaims::from_json(&p.to_json()).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.extra["x-custom"]["nested"][1], 2);
    assert_eq!(back.cnf_jkt.as_deref(), Some("thumb"));
}

#[test]
fn a_reference_payload_decodes() {
    // A payload exactly as the reference writes it for a root (no task purpose,
    // no levels): tool_scope present, optional claims absent.
    let payload = br#"{"iss":"https://py.local","sub":"bob","aud":"https://tool.example","iat":1700000000,"exp":1700000900,"nbf":1700000000,"jti":"j1","act":{"sub":"a"},"https://agent-passport.org/claims/agent_id":"a","https://agent-passport.org/claims/agent_model":"m","https://agent-passport.org/claims/tool_scope":[]}"#;
    let p = PassportClaims::from_json(payload).unwrap();
    assert!(p.is_root());
    assert!(p.agent.tool_scope.is_empty());
    assert_eq!(p.assurance, Assurance::none());
}

#[test]
fn inspecting_a_bundle_decodes_without_verifying() {
    let header = passport_jose::b64::encode(r#"{"alg":"EdDSA","kid":"k","typ":"passport+jwt"}"#);
    let payload = passport_jose::b64::encode(sample().to_json());
    let token = format!("{header}.{payload}.c2ln");
    let bundle = UnverifiedBundle::parse(&format!("{token}~{token}")).unwrap();
    let inspected = bundle.inspect_unverified();
    assert_eq!(inspected.len(), 2);
    let first = inspected[0].as_ref().unwrap();
    assert_eq!(first.claims.agent.agent_id, "agent-b");
    assert_eq!(first.kid.as_deref(), Some("k"));
    let broken = UnverifiedBundle::parse("eyJhbGciOiJub25lIn0.e30.c2ln").unwrap();
    assert_eq!(
        broken.inspect_unverified()[0].as_ref().unwrap_err().code(),
        "alg_none"
    );
}

#[test]
fn a_duplicate_spelled_with_escapes_is_still_a_duplicate() {
    let text = String::from_utf8(sample().to_json()).unwrap();
    // "\u0061ud" is "aud": two parsers must not disagree on which one wins.
    let doubled = text.replacen('{', r#"{"\u0061ud":"https://attacker.example","#, 1);
    let err = PassportClaims::from_json(doubled.as_bytes()).unwrap_err();
    assert_eq!(err.code(), "duplicate_member");
    // Same for an unknown member repeated, and for one inside `act`.
    let unknown = text.replacen('{', r#"{"x":1,"\u0078":2,"#, 1);
    assert_eq!(
        PassportClaims::from_json(unknown.as_bytes())
            .unwrap_err()
            .code(),
        "duplicate_member"
    );
    for not_object in [&b"[]"[..], b"1", b"\"x\"", b"null", b"true"] {
        assert_eq!(
            PassportClaims::from_json(not_object).unwrap_err().code(),
            "invalid_json"
        );
    }
    assert_eq!(
        PassportClaims::from_json(&[text.as_bytes(), b" {}"].concat())
            .unwrap_err()
            .code(),
        "invalid_json"
    );
}

#[test]
fn an_extra_claim_can_never_shadow_a_known_one() {
    let mut p = sample();
    p.extra.insert("sub".into(), "mallory".into());
    p.extra
        .insert("cnf".into(), serde_json::json!({"jkt": "x"}));
    p.extra.insert(
        "https://agent-passport.org/claims/tool_scope".into(),
        serde_json::json!(["*"]),
    );
    let json = p.to_json();
    let back = PassportClaims::from_json(&json).unwrap();
    assert_eq!(back.sub, "alice");
    assert_eq!(back.cnf_jkt, None);
    assert_eq!(
        back.agent.tool_scope,
        ScopeSet::parse(["files:read"]).unwrap()
    );
}

#[test]
fn status_is_a_typed_claim_that_round_trips_and_is_never_shadowed() {
    let mut p = sample();
    p.status =
        Some(passport_claims::StatusReference::new(42, "https://issuer.local/status/1").unwrap());
    // An extra member named `status` can neither replace nor duplicate it.
    p.extra.insert(
        "status".into(),
        serde_json::json!({"status_list": {"idx": 1, "uri": "https://evil"}}),
    );
    let json = p.to_json();
    let text = String::from_utf8(json.clone()).unwrap();
    assert_eq!(text.matches("\"status\"").count(), 1, "{text}");
    assert!(
        text.contains(
            r#""status":{"status_list":{"idx":42,"uri":"https://issuer.local/status/1"}}"#
        )
    );
    let back = PassportClaims::from_json(&json).unwrap();
    assert_eq!(back.status, p.status);
    assert!(!back.extra.contains_key("status"));
}

#[test]
fn a_status_claim_this_project_cannot_check_is_refused_when_decoded() {
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value["status"] = serde_json::json!({"status_list": {"idx": 1, "uri": "https://i/s"}, "other_mechanism": {"x": 1}});
    let err = PassportClaims::from_json(&serde_json::to_vec(&value).unwrap()).unwrap_err();
    assert_eq!(err.code(), "invalid_claim");
}

/// Found by the `claims` fuzz target (docs/fuzzing.md, finding 1): members
/// beside the known ones, in `act` and at the top level, kept their values
/// but not their order through a decode, because removing a known member
/// swapped the last member into its place; decode → encode was then not
/// stable (each round moved them again). They keep the order written now.
#[test]
fn unknown_members_keep_their_order_through_decode_and_encode() {
    let json = br#"{"iss":"https://issuer.local","x-first":1,"sub":"alice","aud":"https://tool.example","iat":1700000000,"exp":1700000300,"nbf":1700000000,"jti":"25c5e521-77c7-459f-a833-3f7608b753eb","act":{"sub":"agent-d","b-extra":"1","act":{"sub":"agent-a"},"a-extra":"2"},"https://agent-passport.org/claims/agent_id":"agent-d","https://agent-passport.org/claims/agent_model":"model-b","https://agent-passport.org/claims/tool_scope":[],"x-last":2}"#;
    let decoded = PassportClaims::from_json(json).unwrap();
    let once = decoded.to_json();
    let twice = PassportClaims::from_json(&once).unwrap().to_json();
    assert_eq!(
        String::from_utf8(twice).unwrap(),
        String::from_utf8(once.clone()).unwrap()
    );
    let act: Vec<&String> = decoded.act.extra.keys().collect();
    assert_eq!(act, ["b-extra", "a-extra"]);
    let extra: Vec<&String> = decoded.extra.keys().collect();
    assert_eq!(extra, ["x-first", "x-last"]);
    let text = String::from_utf8(once).unwrap();
    assert!(text.find("b-extra").unwrap() < text.find("a-extra").unwrap());
}

/// Found by the `claims` fuzz target (session 13): an unknown claim holding
/// a number beyond `u64` (or any float) decoded to one `f64`, re-encoded,
/// and decoded to the next one (serde_json's fast float parser is not
/// always correctly rounded), so decode → encode → decode changed the
/// claims. With serde_json's `float_roundtrip` parsing, a number decodes
/// to the nearest `f64` and re-encodes to text that decodes to it again.
#[test]
fn unknown_numeric_claims_keep_their_value_through_encode_and_decode() {
    let mut numbers: Vec<String> = vec![
        "2".to_owned() + &"5".repeat(82),
        "18446744073709551616".into(),
        "1e308".into(),
        "-0.1".into(),
        "0.30000000000000004".into(),
        "2.5555555555555554e82".into(),
        "5e-324".into(),
    ];
    // and a spread of long decimal mantissas
    numbers.extend((1..40).map(|i| format!("{}.{}e{}", i, "7".repeat(i), i * 7)));
    for number in numbers {
        let json = format!(
            r#"{{"iss":"https://issuer.local","sub":"alice","aud":"https://tool.example","iat":1700000000,"exp":1700000300,"nbf":1700000000,"jti":"25c5e521-77c7-459f-a833-3f7608b753eb","act":{{"sub":"agent-a"}},"https://agent-passport.org/claims/agent_id":"agent-a","https://agent-passport.org/claims/agent_model":"model-a","https://agent-passport.org/claims/tool_scope":[],"x-number":{number}}}"#
        );
        let decoded = PassportClaims::from_json(json.as_bytes()).unwrap();
        let encoded = decoded.to_json();
        let again = PassportClaims::from_json(&encoded).unwrap();
        assert_eq!(again, decoded, "{number}");
        assert_eq!(again.to_json(), encoded, "{number}");
    }
}
