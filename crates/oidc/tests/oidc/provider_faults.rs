//! A provider that misbehaves: every fault is a typed error, never a panic
//! or a hang. Uses wiremock for arbitrary answers and the mock provider's
//! own fault injection.

use std::time::Duration;

use passport_jose::{Algorithm, JwkSet, SigningKey};
use passport_mock_oidc::{Endpoint, Fault, MockOidc};
use passport_oidc::{OidcConfig, OidcError, Provider};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{bounded, env_with};

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

pub(crate) fn discovery_doc(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
    })
}

struct Fake {
    server: MockServer,
    key: SigningKey,
}

impl Fake {
    async fn start() -> Fake {
        Fake {
            server: MockServer::start().await,
            key: SigningKey::generate(Algorithm::EdDSA).unwrap(),
        }
    }

    async fn serve(&self, route: &str, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(response)
            .mount(&self.server)
            .await;
    }

    async fn serve_good_discovery(&self) {
        self.serve(
            WELL_KNOWN,
            ResponseTemplate::new(200).set_body_json(discovery_doc(&self.server.uri())),
        )
        .await;
    }

    fn provider(&self) -> Provider {
        let mut config = OidcConfig::new(format!("{}{WELL_KNOWN}", self.server.uri()), "client");
        config.http_timeout = Duration::from_millis(300);
        Provider::new(config).unwrap()
    }

    fn token(&self) -> String {
        let now = passport_claims::Clock::now(&passport_claims::SystemClock);
        let claims = json!({"iss": self.server.uri(), "sub": "alice", "aud": "client", "iat": now, "exp": now + 60});
        self.key
            .sign_compact(Some("JWT"), claims.to_string().as_bytes())
            .unwrap()
    }

    async fn validate(&self) -> OidcError {
        bounded(self.provider().validate_id_token(&self.token(), None))
            .await
            .unwrap_err()
    }
}

#[tokio::test]
async fn wiremock_baseline_validates() {
    let fake = Fake::start().await;
    fake.serve_good_discovery().await;
    let jwks = JwkSet::from_keys([fake.key.verifying_key()])
        .unwrap()
        .to_json();
    fake.serve("/jwks", ResponseTemplate::new(200).set_body_json(jwks))
        .await;
    let identity = bounded(fake.provider().validate_id_token(&fake.token(), None))
        .await
        .unwrap();
    assert_eq!(identity.subject, "alice");
}

#[tokio::test]
async fn discovery_404_is_discovery_failed() {
    let fake = Fake::start().await;
    fake.serve(WELL_KNOWN, ResponseTemplate::new(404)).await;
    let err = fake.validate().await;
    assert!(
        matches!(&err, OidcError::DiscoveryFailed(m) if m.contains("404")),
        "{err:?}"
    );
}

#[tokio::test]
async fn discovery_500_is_discovery_failed() {
    let fake = Fake::start().await;
    fake.serve(WELL_KNOWN, ResponseTemplate::new(500)).await;
    let err = fake.validate().await;
    assert!(
        matches!(&err, OidcError::DiscoveryFailed(m) if m.contains("500")),
        "{err:?}"
    );
}

#[tokio::test]
async fn discovery_garbage_is_discovery_failed() {
    let fake = Fake::start().await;
    for body in [
        "<html>hello</html>",
        "",
        "[1,2,3]",
        "{\"issuer\": ",
        "\u{0}\u{1}binary",
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(WELL_KNOWN))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let mut config = OidcConfig::new(format!("{}{WELL_KNOWN}", server.uri()), "client");
        config.http_timeout = Duration::from_millis(300);
        let err = bounded(
            Provider::new(config)
                .unwrap()
                .validate_id_token(&fake.token(), None),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "discovery_failed", "{body:?}: {err}");
    }
}

#[tokio::test]
async fn discovery_missing_fields_is_discovery_failed() {
    let fake = Fake::start().await;
    let mut doc = discovery_doc(&fake.server.uri());
    doc.as_object_mut().unwrap().remove("jwks_uri");
    fake.serve(WELL_KNOWN, ResponseTemplate::new(200).set_body_json(doc))
        .await;
    assert_eq!(fake.validate().await.code(), "discovery_failed");
}

#[tokio::test]
async fn discovery_timeout_is_discovery_failed() {
    let fake = Fake::start().await;
    let doc = discovery_doc(&fake.server.uri());
    fake.serve(
        WELL_KNOWN,
        ResponseTemplate::new(200)
            .set_body_json(doc)
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(fake.validate().await.code(), "discovery_failed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the HTTP timeout was not applied"
    );
}

#[tokio::test]
async fn discovery_unreachable_is_discovery_failed() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = OidcConfig::new(format!("http://127.0.0.1:{port}{WELL_KNOWN}"), "client");
    let err = bounded(Provider::new(config).unwrap().metadata())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
}

#[tokio::test]
async fn discovery_redirect_is_not_followed() {
    let fake = Fake::start().await;
    fake.serve(
        WELL_KNOWN,
        ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/elsewhere"),
    )
    .await;
    assert_eq!(fake.validate().await.code(), "discovery_failed");
}

#[tokio::test]
async fn oversized_discovery_is_discovery_failed() {
    let fake = Fake::start().await;
    let mut doc = discovery_doc(&fake.server.uri());
    doc["padding"] = "x".repeat(passport_oidc::MAX_RESPONSE_BYTES).into();
    fake.serve(WELL_KNOWN, ResponseTemplate::new(200).set_body_json(doc))
        .await;
    let err = fake.validate().await;
    assert!(
        matches!(&err, OidcError::DiscoveryFailed(m) if m.contains("larger")),
        "{err:?}"
    );
}

#[tokio::test]
async fn jwks_malformed_is_jwks_failed() {
    for body in [
        "{\"keys\": [",
        "not json",
        "{\"keys\": 7}",
        "{}",
        "{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\"}]}",
    ] {
        let fake = Fake::start().await;
        fake.serve_good_discovery().await;
        fake.serve("/jwks", ResponseTemplate::new(200).set_body_string(body))
            .await;
        let err = fake.validate().await;
        assert!(matches!(err, OidcError::JwksFailed(_)), "{body:?}: {err:?}");
    }
}

#[tokio::test]
async fn jwks_empty_is_jwks_failed() {
    let fake = Fake::start().await;
    fake.serve_good_discovery().await;
    fake.serve(
        "/jwks",
        ResponseTemplate::new(200).set_body_json(json!({"keys": []})),
    )
    .await;
    assert_eq!(fake.validate().await.code(), "jwks_failed");
}

#[tokio::test]
async fn jwks_of_only_unusable_keys_is_jwks_failed() {
    let fake = Fake::start().await;
    fake.serve_good_discovery().await;
    let enc = json!({"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}, {"kty": "oct", "k": "c2VjcmV0"}]});
    fake.serve("/jwks", ResponseTemplate::new(200).set_body_json(enc))
        .await;
    assert_eq!(fake.validate().await.code(), "jwks_failed");
}

#[tokio::test]
async fn jwks_500_is_jwks_failed_and_not_retried_within_the_cooldown() {
    let fake = Fake::start().await;
    fake.serve_good_discovery().await;
    fake.serve("/jwks", ResponseTemplate::new(500)).await;
    let provider = fake.provider();
    for _ in 0..5 {
        let err = bounded(provider.validate_id_token(&fake.token(), None))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "jwks_failed");
    }
    let jwks_requests = fake
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/jwks")
        .count();
    assert_eq!(jwks_requests, 1);
}

#[tokio::test]
async fn mock_faults_are_typed_errors() {
    let cases = [
        (Endpoint::Discovery, Fault::Status500, "discovery_failed"),
        (
            Endpoint::Discovery,
            Fault::MalformedJson,
            "discovery_failed",
        ),
        (Endpoint::Discovery, Fault::WrongIssuer, "issuer_mismatch"),
        (
            Endpoint::Discovery,
            Fault::Slow(Duration::from_secs(3)),
            "discovery_failed",
        ),
        (Endpoint::Jwks, Fault::Status500, "jwks_failed"),
        (Endpoint::Jwks, Fault::MalformedJson, "jwks_failed"),
        (
            Endpoint::Jwks,
            Fault::Slow(Duration::from_secs(3)),
            "jwks_failed",
        ),
    ];
    for (endpoint, fault, code) in cases {
        let env = env_with(MockOidc::builder(), |c| {
            c.http_timeout = Duration::from_millis(300)
        })
        .await;
        env.mock.set_fault(endpoint, fault);
        let token = env.mock.mint_id_token(env.mock.default_claims());
        assert_eq!(
            env.validate_code(&token).await,
            code,
            "{endpoint:?} {fault:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_but_timely_provider_is_fine() {
    let env = env_with(MockOidc::builder(), |c| {
        c.http_timeout = Duration::from_secs(5)
    })
    .await;
    env.mock
        .set_fault(Endpoint::Jwks, Fault::Slow(Duration::from_millis(100)));
    let token = env.mock.mint_id_token(env.mock.default_claims());
    assert_eq!(env.validate_code(&token).await, "ok");
}
