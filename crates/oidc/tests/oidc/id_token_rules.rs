//! OpenID Connect Core §3.1.3.7, one test per rule, against the mock provider.

use passport_jose::{Algorithm, b64};
use passport_mock_oidc::{Endpoint, Fault, MockOidc};
use serde_json::{Value, json};

use crate::common::{T0, bounded, env, env_with};

fn header_payload_signature(token: &str) -> (&str, &str, &str) {
    let mut parts = token.split('.');
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

#[tokio::test]
async fn valid_token_yields_the_identity() {
    let env = env().await;
    let token = env.mock.mint_id_token(env.mock.default_claims());
    let identity = env.validate(&token).await.unwrap();
    assert_eq!(identity.issuer, env.mock.issuer());
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.audience, vec![env.mock.client_id().to_owned()]);
    assert_eq!(identity.acr, None);
    assert_eq!(identity.assurance, passport_claims::Assurance::none());
    assert_eq!(identity.raw_claims["iat"], json!(T0));
}

#[tokio::test]
async fn every_supported_algorithm_validates() {
    for alg in [
        Algorithm::EdDSA,
        Algorithm::Ed25519,
        Algorithm::ES256,
        Algorithm::RS256,
    ] {
        let env = env_with(MockOidc::builder().algorithm(alg), |_| {}).await;
        let token = env.mock.mint_id_token(env.mock.default_claims());
        assert_eq!(env.validate_code(&token).await, "ok", "{alg}");
    }
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let env = env().await;
    let a = env.mock.mint_id_token(env.mock.default_claims());
    let mut other = env.mock.default_claims();
    other["sub"] = "mallory".into();
    let b = env.mock.mint_id_token(other);
    let (_, _, sig_a) = header_payload_signature(&a);
    let (h, p, _) = header_payload_signature(&b);
    let forged = format!("{h}.{p}.{sig_a}");
    assert_eq!(env.validate_code(&forged).await, "bad_signature");
}

#[tokio::test]
async fn alg_none_is_refused_in_any_case() {
    let env = env().await;
    let payload = b64::encode(env.mock.default_claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64::encode(json!({"alg": alg, "kid": env.mock.current_kid()}).to_string());
        // A non-empty signature segment, so the refusal is about `alg`.
        assert_eq!(
            env.validate_code(&format!("{header}.{payload}.AAAA")).await,
            "alg_none",
            "{alg}"
        );
        // The classic unsecured form, with an empty signature.
        assert_eq!(
            env.validate_code(&format!("{header}.{payload}.")).await,
            "malformed_token",
            "{alg}"
        );
    }
}

#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let env = env().await;
    let kid = env.mock.current_kid();
    let public = serde_json::to_vec(&env.mock.current_public_jwk()).unwrap();
    for alg in ["HS256", "HS384", "HS512"] {
        let header = b64::encode(json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string());
        let payload = b64::encode(env.mock.default_claims().to_string());
        let signing_input = format!("{header}.{payload}");
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public);
        let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64::encode(tag.as_ref()));
        assert_eq!(env.validate_code(&token).await, "unsupported_alg", "{alg}");
    }
}

#[tokio::test]
async fn algorithm_outside_the_allow_list_is_refused() {
    let env = env_with(MockOidc::builder().algorithm(Algorithm::ES256), |c| {
        c.allowed_algorithms = vec![Algorithm::EdDSA, Algorithm::RS256];
    })
    .await;
    let token = env.mock.mint_id_token(env.mock.default_claims());
    assert_eq!(env.validate_code(&token).await, "alg_not_allowed");
    // Refused before any network traffic.
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 0);
}

#[tokio::test]
async fn header_alg_must_be_the_keys_algorithm() {
    let env = env_with(MockOidc::builder().algorithm(Algorithm::ES256), |_| {}).await;
    let header = json!({"alg": "EdDSA", "kid": env.mock.current_kid()});
    let token = env
        .mock
        .mint_id_token_with_header(header, env.mock.default_claims());
    assert_eq!(env.validate_code(&token).await, "alg_key_mismatch");
    let header = json!({"alg": "RS256", "kid": env.mock.current_kid()});
    let token = env
        .mock
        .mint_id_token_with_header(header, env.mock.default_claims());
    assert_eq!(env.validate_code(&token).await, "alg_key_mismatch");
}

#[tokio::test]
async fn embedded_keys_and_crit_are_refused() {
    let env = env().await;
    let kid = env.mock.current_kid();
    let jwk = Value::Object(env.mock.current_public_jwk());
    let cases = [
        (
            json!({"alg": "ES256", "kid": kid, "jwk": jwk}),
            "forbidden_header",
        ),
        (
            json!({"alg": "ES256", "kid": kid, "jku": "https://evil.example/jwks"}),
            "forbidden_header",
        ),
        (
            json!({"alg": "ES256", "kid": kid, "crit": ["exp"]}),
            "crit_not_supported",
        ),
    ];
    for (header, code) in cases {
        let token = env
            .mock
            .mint_id_token_with_header(header, env.mock.default_claims());
        assert_eq!(env.validate_code(&token).await, code);
    }
}

#[tokio::test]
async fn other_kinds_of_jwt_are_not_id_tokens() {
    let env = env().await;
    let kid = env.mock.current_kid();
    for typ in ["at+jwt", "application/at+jwt", "logout+jwt", "passport+jwt"] {
        let header = json!({"alg": "ES256", "kid": kid, "typ": typ});
        let token = env
            .mock
            .mint_id_token_with_header(header, env.mock.default_claims());
        assert_eq!(env.validate_code(&token).await, "invalid_typ", "{typ}");
    }
    for typ in [json!("JWT"), json!("jwt")] {
        let header = json!({"alg": "ES256", "kid": kid, "typ": typ});
        let token = env
            .mock
            .mint_id_token_with_header(header, env.mock.default_claims());
        assert_eq!(env.validate_code(&token).await, "ok", "{typ}");
    }
}

#[tokio::test]
async fn oversized_token_is_refused() {
    let env = env().await;
    let mut claims = env.mock.default_claims();
    claims["padding"] = "x".repeat(20_000).into();
    let token = env.mock.mint_id_token(claims);
    assert_eq!(env.validate_code(&token).await, "token_too_large");
}

#[tokio::test]
async fn wrong_iss_is_refused() {
    let env = env().await;
    for iss in [
        json!("https://evil.example"),
        json!(format!("{}/", env.mock.issuer())),
    ] {
        let mut claims = env.mock.default_claims();
        claims["iss"] = iss;
        assert_eq!(
            env.validate_code(&env.mock.mint_id_token(claims)).await,
            "issuer_mismatch"
        );
    }
    let mut claims = env.mock.default_claims();
    claims.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(claims)).await,
        "id_token_missing_claim"
    );
}

#[tokio::test]
async fn discovery_issuer_mismatch_is_refused() {
    let env = env().await;
    env.mock.set_fault(Endpoint::Discovery, Fault::WrongIssuer);
    let token = env.mock.mint_id_token(env.mock.default_claims());
    let err = env.validate(&token).await.unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch");
    assert!(err.to_string().contains("discovery document"), "{err}");
}

#[tokio::test]
async fn missing_or_wrong_aud_is_refused() {
    let env = env().await;
    let mut claims = env.mock.default_claims();
    claims.as_object_mut().unwrap().remove("aud");
    let err = env
        .validate(&env.mock.mint_id_token(claims))
        .await
        .unwrap_err();
    assert!(
        matches!(err, passport_oidc::OidcError::MissingClaim("aud")),
        "{err:?}"
    );

    let mut claims = env.mock.default_claims();
    claims["aud"] = "another-client".into();
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(claims)).await,
        "id_token_audience_mismatch"
    );

    let mut claims = env.mock.default_claims();
    claims["aud"] = json!(["another-client", "third"]);
    claims["azp"] = "another-client".into();
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(claims)).await,
        "id_token_audience_mismatch"
    );
}

#[tokio::test]
async fn multiple_audiences_need_azp_naming_us() {
    let env = env().await;
    let client = env.mock.client_id().to_owned();
    let mut claims = env.mock.default_claims();
    claims["aud"] = json!([client, "resource-server"]);
    let err = env
        .validate(&env.mock.mint_id_token(claims.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, passport_oidc::OidcError::MissingClaim("azp")),
        "{err:?}"
    );

    claims["azp"] = "resource-server".into();
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(claims.clone()))
            .await,
        "azp_mismatch"
    );

    claims["azp"] = client.clone().into();
    let identity = env.validate(&env.mock.mint_id_token(claims)).await.unwrap();
    assert_eq!(
        identity.audience,
        vec![client, "resource-server".to_owned()]
    );
}

#[tokio::test]
async fn missing_iat_sub_or_exp_is_refused() {
    let env = env().await;
    for claim in ["iat", "sub", "exp"] {
        let mut claims = env.mock.default_claims();
        claims.as_object_mut().unwrap().remove(claim);
        let err = env
            .validate(&env.mock.mint_id_token(claims))
            .await
            .unwrap_err();
        assert!(
            matches!(err, passport_oidc::OidcError::MissingClaim(c) if c == claim),
            "{claim}: {err:?}"
        );
    }
}

#[tokio::test]
async fn absurd_numeric_dates_are_refused_not_stored_with_expiry_zero() {
    // `exp: 1e300` used to saturate and be stored as a session expiring at 0.
    let env = env().await;
    for claim in ["exp", "iat", "nbf"] {
        for value in [
            json!(1e300),
            json!(-1e300),
            json!(T0 as f64 + 0.5),
            json!(-1),
            json!(253_402_300_800_i64),
            json!(u64::MAX),
        ] {
            let mut claims = env.mock.default_claims();
            claims[claim] = value.clone();
            let err = env
                .validate(&env.mock.mint_id_token(claims))
                .await
                .unwrap_err();
            assert!(
                matches!(err, passport_oidc::OidcError::InvalidNumericDate(c) if c == claim),
                "{claim} = {value}: {err:?}"
            );
            assert_eq!(err.code(), "invalid_numeric_date");
        }
    }
}

#[tokio::test]
async fn expired_token_is_refused_after_the_skew() {
    let env = env().await;
    let token = env.mock.mint_id_token(env.mock.default_claims()); // exp = T0 + 300
    env.clock.set(T0 + 300 + 30);
    assert_eq!(env.validate_code(&token).await, "ok");
    env.clock.set(T0 + 300 + 31);
    let err = env.validate(&token).await.unwrap_err();
    assert!(
        matches!(err, passport_oidc::OidcError::Expired { exp, now } if exp == T0 + 300 && now == T0 + 331)
    );
}

#[tokio::test]
async fn token_from_the_future_is_refused() {
    let env = env().await;
    let mut claims = env.mock.default_claims();
    claims["nbf"] = (T0 + 60).into();
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(claims)).await,
        "id_token_not_yet_valid"
    );
    let mut claims = env.mock.default_claims();
    claims["iat"] = (T0 + 60).into();
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(claims)).await,
        "id_token_not_yet_valid"
    );
}

#[tokio::test]
async fn configured_skew_is_honoured_and_capped() {
    let env = env_with(MockOidc::builder(), |c| {
        c.clock_skew = std::time::Duration::from_secs(120)
    })
    .await;
    let token = env.mock.mint_id_token(env.mock.default_claims());
    env.clock.set(T0 + 300 + 120);
    assert_eq!(env.validate_code(&token).await, "ok");

    let mut config = passport_oidc::OidcConfig::new(env.mock.discovery_url(), "c");
    config.clock_skew = std::time::Duration::from_secs(121);
    assert_eq!(
        passport_oidc::Provider::new(config).unwrap_err().code(),
        "config"
    );
}

#[tokio::test]
async fn nonce_must_match_when_one_was_sent() {
    let env = env().await;
    let mut claims = env.mock.default_claims();
    claims["nonce"] = "n-0S6_WzA2Mj".into();
    let with_nonce = env.mock.mint_id_token(claims);
    let without_nonce = env.mock.mint_id_token(env.mock.default_claims());
    let check = |token: String, expected: &'static str| {
        let provider = &env.provider;
        async move {
            match bounded(provider.validate_id_token(&token, Some(expected))).await {
                Ok(_) => "ok",
                Err(e) => e.code(),
            }
        }
    };
    assert_eq!(check(with_nonce.clone(), "n-0S6_WzA2Mj").await, "ok");
    assert_eq!(
        check(with_nonce.clone(), "another-nonce").await,
        "nonce_mismatch"
    );
    assert_eq!(check(without_nonce, "n-0S6_WzA2Mj").await, "nonce_mismatch");
    // No nonce expected (a stored token): the token's nonce is not checked.
    assert_eq!(env.validate_code(&with_nonce).await, "ok");
}

#[tokio::test]
async fn payload_with_duplicate_claims_is_refused() {
    let env = env().await;
    let header = json!({"alg": "ES256", "kid": env.mock.current_kid()});
    // serde_json cannot write duplicates: splice a second `sub` in by hand.
    let text = env.mock.default_claims().to_string();
    let duplicated = format!("{},\"sub\":\"mallory\"}}", &text[..text.len() - 1]);
    let token = env.mock.sign_raw(header.clone(), duplicated.as_bytes());
    assert_eq!(env.validate_code(&token).await, "duplicate_member");
    let token = env.mock.sign_raw(header, b"[\"not an object\"]");
    assert_eq!(env.validate_code(&token).await, "invalid_json");
}
