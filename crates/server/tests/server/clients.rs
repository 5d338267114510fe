//! Clients over HTTP: dynamic registration (RFC 7591), client ID metadata
//! documents, and the four authentication methods at `/token`,
//! `/introspect` and `/revoke` — every rule fed its hostile input and
//! expecting the specific OAuth error, status and code.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use passport_jose::{Algorithm, JwkSet, SigningKey};
use passport_server::Server;
use passport_server::client_auth::JWT_BEARER_ASSERTION;
use passport_server::client_metadata::Resolver;
use passport_server::rate_limit::RateLimit;
use passport_store::server::Database;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::{RESOURCE, Running, error_of, expect_refusal, start, start_with, throttled};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Running {
    pub(crate) async fn register(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.at("/register"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers `body`, expecting 201; the answer.
    pub(crate) async fn registered(&self, body: &Value) -> Value {
        let r = self.register(body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["cache-control"], "no-store");
        r.json().await.unwrap()
    }
}

impl Running {
    /// `/revoke` of a made-up token by `client_id` alone (`none`).
    async fn revoke_as(&self, client_id: &str) -> reqwest::Response {
        self.post("/revoke", None, &[("token", "x"), ("client_id", client_id)])
            .await
    }

    async fn metadata(&self) -> Value {
        let r = self
            .http
            .get(self.at("/.well-known/oauth-authorization-server"));
        r.send().await.unwrap().json().await.unwrap()
    }
}

/// A server whose `/register` allows `burst` requests per address, then
/// `per_second`.
async fn with_registration_limit(burst: u32, per_second: f64) -> Running {
    let limit = RateLimit { burst, per_second };
    start_with(tempfile::tempdir().unwrap(), |b| {
        b.registration_rate_limit(limit)
    })
    .await
}

/// The 400 `unauthorized_client` of a public client asking for a grant
/// only confidential clients get.
async fn refused_as_public(r: reqwest::Response) {
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "a public client",
    )
    .await;
}

/// A 401 `invalid_client` whose description starts with the code `why`.
async fn unauthenticated(r: reqwest::Response, why: &str) {
    expect_refusal(r, StatusCode::UNAUTHORIZED, "invalid_client", why).await;
}

pub(crate) fn public_client() -> Value {
    json!({
        "redirect_uris": ["http://127.0.0.1:9999/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "client_name": "An MCP client",
    })
}

// ---- registration ----

#[tokio::test]
async fn registration_answers_rfc7591_fields_and_the_secret_once() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.registration_scopes("files:* calendar:read")
    })
    .await;
    let public = s.registered(&public_client()).await;
    assert!(public["client_id"].as_str().unwrap().starts_with("dyn-"));
    assert!(public["client_id_issued_at"].is_i64());
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert_eq!(
        public["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(public["response_types"], json!(["code"]));
    assert_eq!(
        public["redirect_uris"],
        json!(["http://127.0.0.1:9999/callback"])
    );
    assert_eq!(public["client_name"], "An MCP client");
    // asking for nothing: what open clients may have
    assert_eq!(public["scope"], "files:* calendar:read");

    // the RFC 7591 default method is client_secret_basic; the secret is
    // shown in this answer and works, the database keeps only its hash
    let mut body = public_client();
    body.as_object_mut()
        .unwrap()
        .remove("token_endpoint_auth_method");
    body["scope"] = json!("files:read admin:everything");
    let confidential = s.registered(&body).await;
    assert_eq!(
        confidential["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(confidential["client_secret_expires_at"], 0);
    // registered with the configured set, whatever it asked (it steps up
    // within it later; beyond it, nothing), and said so
    assert_eq!(confidential["scope"], "files:* calendar:read");
    let id = confidential["client_id"].as_str().unwrap();
    let secret = confidential["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43); // 256 bits, base64url
    let stored = s.server.database().client(id).await.unwrap().unwrap();
    assert_ne!(stored.secret_hash.as_deref(), Some(secret));
    assert_eq!(stored.scopes, "files:* calendar:read");
    let r = s
        .post("/revoke", Some((id, secret)), &[("token", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // authenticated, but introspection is for clients an operator registered
    let r = s
        .post("/introspect", Some((id, secret)), &[("token", "x")])
        .await;
    unauthenticated(r, "introspection_not_allowed").await;
}

#[tokio::test]
async fn registration_scopes_default_to_none() {
    let s = start().await;
    let mut body = public_client();
    body["scope"] = json!("files:read");
    let answer = s.registered(&body).await;
    assert_eq!(answer["scope"], "");
}

#[tokio::test]
async fn registration_refuses_bad_redirect_uris() {
    let s = start().await;
    for uri in [
        "http://evil.example/cb",
        "https://app.example/cb#fragment",
        "javascript:alert(1)",
        "not a uri",
    ] {
        let mut body = public_client();
        body["redirect_uris"] = json!([uri]);
        let r = s.register(&body).await;
        let answer = error_of(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(answer["error"], "invalid_redirect_uri", "{uri}: {answer}");
    }
    let mut body = public_client();
    body.as_object_mut().unwrap().remove("redirect_uris");
    let answer = error_of(s.register(&body).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(answer["error"], "invalid_redirect_uri");
}

#[tokio::test]
async fn registration_refuses_operator_only_grants_and_bad_metadata() {
    let s = with_registration_limit(100, 1.0).await;
    let cases = [
        json!({"grant_types": ["authorization_code", "client_credentials"]}),
        json!({"grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"]}),
        json!({"grant_types": ["refresh_token"]}),
        json!({"grant_types": "authorization_code"}),
        json!({"response_types": ["token"]}),
        json!({"token_endpoint_auth_method": "client_secret_jwt"}),
        json!({"token_endpoint_auth_method": "private_key_jwt"}),
        json!({"token_endpoint_auth_method": "none", "jwks": {"keys": []}}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}),
        json!({"token_endpoint_auth_method": "private_key_jwt",
               "jwks_uri": "http://keys.example/jwks.json"}),
        json!({"client_name": "x".repeat(101)}),
        json!({"scope": "files:read\u{7f}"}),
        json!({"scope": "files[0]"}),
        json!({"scope": "a  b"}),
    ];
    for case in cases {
        let mut body = public_client();
        for (k, v) in case.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = s.register(&body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{case}");
        let answer = error_of(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            answer["error"], "invalid_client_metadata",
            "{case}: {answer}"
        );
    }
    let r = s
        .http
        .post(s.at("/register"))
        .body("not json")
        .send()
        .await
        .unwrap();
    let answer = error_of(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(answer["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn registration_body_is_bounded() {
    let s = start().await;
    let mut body = public_client();
    body["padding"] = json!("x".repeat(17 * 1024));
    let answer = error_of(s.register(&body).await, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(answer["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let s = with_registration_limit(2, 0.001).await;
    s.registered(&public_client()).await;
    s.registered(&public_client()).await;
    throttled(s.register(&public_client()).await);
}

#[tokio::test]
async fn registration_can_be_turned_off() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| b.registration(false)).await;
    assert_eq!(
        s.register(&public_client()).await.status(),
        StatusCode::NOT_FOUND
    );
    let metadata = s.metadata().await;
    assert!(metadata.get("registration_endpoint").is_none());
}

#[tokio::test]
async fn metadata_lists_exactly_the_methods_implemented() {
    let s = start().await;
    let m = s.metadata().await;
    assert_eq!(m["registration_endpoint"], s.at("/register"));
    assert_eq!(m["client_id_metadata_document_supported"], true);
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        m["introspection_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        m["revocation_endpoint_auth_methods_supported"],
        json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        m["token_endpoint_auth_signing_alg_values_supported"],
        json!(["EdDSA", "ES256", "RS256"])
    );
}

// ---- authentication methods ----

#[tokio::test]
async fn secret_clients_must_authenticate_as_registered() {
    let s = start().await;
    let mut body = public_client();
    body["token_endpoint_auth_method"] = json!("client_secret_post");
    let c = s.registered(&body).await;
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );

    // the registered method works
    let r = s
        .post(
            "/revoke",
            None,
            &[("token", "x"), ("client_id", id), ("client_secret", secret)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // no authentication at all
    let r = s.post("/revoke", None, &[("token", "x")]).await;
    unauthenticated(r, "client_auth_missing").await;
    // only its client_id (none)
    let r = s
        .post(
            "/token",
            None,
            &[("grant_type", "authorization_code"), ("client_id", id)],
        )
        .await;
    unauthenticated(r, "client_auth_method_mismatch").await;
    // a wrong secret
    let r = s
        .post(
            "/revoke",
            None,
            &[
                ("token", "x"),
                ("client_id", id),
                ("client_secret", "wrong"),
            ],
        )
        .await;
    unauthenticated(r, "client_secret_invalid").await;
    // the right secret by another method (Basic for a post client)
    let r = s
        .post("/revoke", Some((id, secret)), &[("token", "x")])
        .await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    unauthenticated(r, "client_auth_method_mismatch").await;
    // an unknown client
    let r = s
        .post("/revoke", Some(("dyn-nobody", secret)), &[("token", "x")])
        .await;
    unauthenticated(r, "unknown_client").await;
}

#[tokio::test]
async fn public_clients_get_only_the_grants_pkce_protects() {
    let s = start().await;
    let c = s.registered(&public_client()).await;
    let id = c["client_id"].as_str().unwrap();
    let r = s
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("resource", RESOURCE),
            ],
        )
        .await;
    refused_as_public(r).await;
    let r = s
        .post(
            "/token",
            None,
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("client_id", id),
                ("subject_token", "x"),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("resource", RESOURCE),
            ],
        )
        .await;
    refused_as_public(r).await;
    // never introspection: refused for what it is, before any credential
    let r = s
        .post("/introspect", None, &[("token", "x"), ("client_id", id)])
        .await;
    unauthenticated(r, "introspection_not_allowed").await;
    // RFC 7009 §2.1: a public client may revoke (its own tokens; an
    // unknown token is 200)
    let r = s.revoke_as(id).await;
    assert_eq!(r.status(), StatusCode::OK);
    // a secret presented by a public client is refused
    let r = s
        .post(
            "/revoke",
            None,
            &[("token", "x"), ("client_id", id), ("client_secret", "s")],
        )
        .await;
    unauthenticated(r, "client_auth_method_mismatch").await;
}

#[tokio::test]
async fn a_public_client_revokes_its_own_passports_only() {
    let s = start().await;
    let workload = s.workload("files:read").await;
    let passport = s.mint(&workload, "files:read").await;
    let c = s.registered(&public_client()).await;
    let id = c["client_id"].as_str().unwrap();
    let r = s
        .post("/revoke", None, &[("token", &passport), ("client_id", id)])
        .await;
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "this token",
    )
    .await;
}

pub(crate) struct KeyClient {
    pub(crate) key: SigningKey,
    pub(crate) client_id: String,
}

impl KeyClient {
    pub(crate) async fn register(s: &Running) -> KeyClient {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let jwks = JwkSet::from_keys([key.verifying_key()]).unwrap().to_json();
        let mut body = public_client();
        body["token_endpoint_auth_method"] = json!("private_key_jwt");
        body["jwks"] = jwks;
        let c = s.registered(&body).await;
        assert_eq!(c["token_endpoint_auth_method"], "private_key_jwt");
        assert!(c.get("client_secret").is_none());
        KeyClient {
            key,
            client_id: c["client_id"].as_str().unwrap().to_owned(),
        }
    }

    pub(crate) fn claims(&self, aud: &str, jti: &str) -> Value {
        json!({
            "iss": self.client_id, "sub": self.client_id, "aud": aud,
            "iat": now(), "exp": now() + 60, "jti": jti,
        })
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.key
            .sign_compact(None, &serde_json::to_vec(claims).unwrap())
            .unwrap()
    }

    /// A JWS under `header` with a made-up signature.
    pub(crate) fn forged(&self, header: &Value, claims: &Value) -> String {
        let b64 = |v: &Value| passport_jose::b64::encode(serde_json::to_vec(v).unwrap());
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims),
            passport_jose::b64::encode([7u8; 32])
        )
    }
}

/// `/revoke` of a made-up token, authenticated by `assertion`.
pub(crate) async fn revoke_with(s: &Running, assertion: &str) -> reqwest::Response {
    s.post(
        "/revoke",
        None,
        &[
            ("token", "x"),
            ("client_assertion_type", JWT_BEARER_ASSERTION),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn private_key_jwt_rules_at_the_endpoints() {
    let s = start().await;
    let c = KeyClient::register(&s).await;
    let kid = c.key.kid().to_owned();
    let refused = |code: &'static str| {
        move |r: reqwest::Response| async move {
            unauthenticated(r, code).await;
        }
    };

    // alg none and HMAC: refused by name
    let header = json!({"alg": "none", "kid": kid});
    let none = c.forged(&header, &c.claims(&s.url, "j-none"));
    refused("alg_none")(revoke_with(&s, &none).await).await;
    let header = json!({"alg": "HS256", "kid": kid});
    let hs = c.forged(&header, &c.claims(&s.url, "j-hs"));
    refused("unsupported_alg")(revoke_with(&s, &hs).await).await;
    // the audience is this issuer alone (not another server, not an array)
    let wrong = c.sign(&c.claims("https://other.example", "j-aud"));
    refused("client_assertion_audience_mismatch")(revoke_with(&s, &wrong).await).await;
    let mut claims = c.claims(&s.url, "j-arr");
    claims["aud"] = json!([s.url]);
    let array = c.sign(&claims);
    refused("client_assertion_audience_mismatch")(revoke_with(&s, &array).await).await;
    // expired, and too long-lived
    let mut claims = c.claims(&s.url, "j-exp");
    claims["exp"] = json!(now() - 120);
    refused("client_assertion_expired")(revoke_with(&s, &c.sign(&claims)).await).await;
    claims["exp"] = json!(now() + 3600);
    refused("client_assertion_lifetime_too_long")(revoke_with(&s, &c.sign(&claims)).await).await;
    // iss of another client (the client is found by sub)
    let mut claims = c.claims(&s.url, "j-sub");
    claims["iss"] = json!("dyn-someone-else");
    refused("client_assertion_subject_mismatch")(revoke_with(&s, &c.sign(&claims)).await).await;

    // a good one works once, then is a replay on this instance...
    let good = c.sign(&c.claims(&s.url, "j-good"));
    let r = revoke_with(&s, &good).await;
    assert_eq!(r.status(), StatusCode::OK);
    refused("client_assertion_replayed")(revoke_with(&s, &good).await).await;
    // ... at another endpoint ...
    let r = s
        .post(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_assertion_type", JWT_BEARER_ASSERTION),
                ("client_assertion", &good),
            ],
        )
        .await;
    refused("client_assertion_replayed")(r).await;

    // ... and on a second server on the same database file
    let path = s.dir.as_ref().unwrap().path().join("server.db");
    let db = Database::open(&crate::test_database(path.to_str().unwrap()).await, now())
        .await
        .unwrap();
    let second = Server::builder(&s.url, db).build().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second_url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(second.serve(listener, std::future::pending()));
    let fresh = c.sign(&c.claims(&s.url, "j-shared"));
    let at_second = |assertion: String| {
        let http = s.http.clone();
        let url = format!("{second_url}/revoke");
        async move {
            http.post(url)
                .form(&[
                    ("token", "x"),
                    ("client_assertion_type", JWT_BEARER_ASSERTION),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(at_second(fresh.clone()).await.status(), StatusCode::OK);
    refused("client_assertion_replayed")(revoke_with(&s, &fresh).await).await;
    refused("client_assertion_replayed")(at_second(good).await).await;
    task.abort();

    // a key client is confidential: it may not skip authentication
    let r = s
        .post(
            "/revoke",
            None,
            &[("token", "x"), ("client_id", &c.client_id)],
        )
        .await;
    refused("client_auth_method_mismatch")(r).await;
}

// ---- client ID metadata documents ----

/// Resolves every name to the addresses given for it.
pub(crate) struct FixedResolver(pub(crate) HashMap<String, Vec<IpAddr>>);

impl Resolver for FixedResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let answer = self
            .0
            .get(host)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"));
        Box::pin(async move { answer })
    }
}

#[tokio::test]
async fn metadata_urls_resolving_to_private_addresses_are_refused() {
    let resolver = FixedResolver(HashMap::from([
        (
            "private.example".to_owned(),
            vec!["10.0.0.1".parse().unwrap()],
        ),
        (
            "metadata.example".to_owned(),
            vec!["169.254.169.254".parse().unwrap()],
        ),
        ("loopback.example".to_owned(), vec!["::1".parse().unwrap()]),
        (
            "mixed.example".to_owned(),
            vec![
                "93.184.215.14".parse().unwrap(),
                "192.168.1.1".parse().unwrap(),
            ],
        ),
    ]));
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.client_metadata_resolver(Arc::new(resolver))
    })
    .await;
    for host in ["private", "metadata", "loopback", "mixed"] {
        let client_id = format!("https://{host}.example/client.json");
        for path in ["/token", "/revoke"] {
            let r = s
                .post(
                    path,
                    None,
                    &[
                        ("grant_type", "client_credentials"),
                        ("token", "x"),
                        ("client_id", &client_id),
                    ],
                )
                .await;
            unauthenticated(r, "client_id_address_forbidden").await;
        }
    }
    // a jwks_uri is fetched behind the same defences
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let mut body = public_client();
    body["token_endpoint_auth_method"] = json!("private_key_jwt");
    body["jwks_uri"] = json!("https://private.example/jwks.json");
    let c = s.registered(&body).await;
    assert_eq!(c["jwks_uri"], "https://private.example/jwks.json");
    let c = KeyClient {
        key,
        client_id: c["client_id"].as_str().unwrap().to_owned(),
    };
    let assertion = c.sign(&c.claims(&s.url, "j-1"));
    let r = revoke_with(&s, &assertion).await;
    unauthenticated(r, "client_id_address_forbidden").await;
    // an http client_id outside test mode
    let r = s
        .post(
            "/revoke",
            None,
            &[("token", "x"), ("client_id", "http://127.0.0.1:1/c.json")],
        )
        .await;
    unauthenticated(r, "client_id_url_invalid").await;
}

/// Serves the documents `documents(base)` lists (path → JSON) on
/// loopback, where `base` is the server's own URL; `base`.
pub(crate) async fn document_server(
    documents: impl FnOnce(&str) -> Vec<(&'static str, Value)>,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut router = axum::Router::new();
    for (path, doc) in documents(&base) {
        let doc = doc.to_string();
        router = router.route(
            path,
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { ([("content-type", "application/json")], doc) }
            }),
        );
    }
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (base, task)
}

#[tokio::test]
async fn metadata_documents_name_themselves_and_make_open_clients() {
    let doc_key = SigningKey::generate(Algorithm::ES256).unwrap();
    let (base, task) = document_server(|base| {
        vec![
            (
                "/good.json",
                json!({
                    "client_id": format!("{base}/good.json"),
                    "client_name": "Doc client",
                    "redirect_uris": ["http://127.0.0.1:9999/callback"],
                    "token_endpoint_auth_method": "none",
                }),
            ),
            (
                "/liar.json",
                json!({
                    "client_id": "https://trusted.example/client.json",
                    "redirect_uris": ["http://127.0.0.1:9999/callback"],
                }),
            ),
            (
                "/keys.json",
                json!({
                    "client_id": format!("{base}/keys.json"),
                    "redirect_uris": ["http://127.0.0.1:9999/callback"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": JwkSet::from_keys([doc_key.verifying_key()]).unwrap().to_json(),
                }),
            ),
            (
                "/secret.json",
                json!({
                    "client_id": format!("{base}/secret.json"),
                    "redirect_uris": ["http://127.0.0.1:9999/callback"],
                    "token_endpoint_auth_method": "client_secret_basic",
                }),
            ),
        ]
    })
    .await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    let good = format!("{base}/good.json");
    // a public client: authenticated with none, refused client_credentials
    let r = s
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &good),
                ("resource", RESOURCE),
            ],
        )
        .await;
    refused_as_public(r).await;
    // it may revoke (its own tokens), never introspect: refused for what
    // it is, before its document is read
    let r = s.revoke_as(&good).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .post("/introspect", None, &[("token", "x"), ("client_id", &good)])
        .await;
    unauthenticated(r, "introspection_not_allowed").await;
    // never stored as a registered client
    assert!(s.server.database().client(&good).await.unwrap().is_none());

    // a private_key_jwt client whose keys are in its document
    let keyed = KeyClient {
        key: doc_key,
        client_id: format!("{base}/keys.json"),
    };
    let assertion = keyed.sign(&keyed.claims(&s.url, "j-doc"));
    let r = revoke_with(&s, &assertion).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = revoke_with(&s, &assertion).await;
    unauthenticated(r, "client_assertion_replayed").await;

    // a document naming another URL than its own
    let liar = format!("{base}/liar.json");
    let r = s.revoke_as(&liar).await;
    unauthenticated(r, "client_metadata_client_id_mismatch").await;
    // a document claiming a secret-based method
    let secret = format!("{base}/secret.json");
    let r = s.revoke_as(&secret).await;
    unauthenticated(r, "client_metadata_auth_method_invalid").await;
    // a document that does not exist
    let missing = format!("{base}/missing.json");
    let r = s.revoke_as(&missing).await;
    expect_error_status(r, StatusCode::UNAUTHORIZED).await;
    task.abort();
}

#[tokio::test]
async fn metadata_urls_at_revoke_spend_the_address_allowance() {
    let resolver = FixedResolver(HashMap::new());
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.client_metadata_resolver(Arc::new(resolver))
            .token_rate_limit(RateLimit {
                burst: 2,
                per_second: 0.001,
            })
    })
    .await;
    for i in 0..2 {
        let r = s
            .revoke_as(&format!("https://nowhere{i}.example/c.json"))
            .await;
        unauthenticated(r, "client_id_resolve_failed").await;
    }
    // a third URL is not even resolved
    let r = s.revoke_as("https://nowhere3.example/c.json").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // registered clients are not charged at /revoke
    let c = s.registered(&public_client()).await;
    let r = s.revoke_as(c["client_id"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn expect_error_status(r: reqwest::Response, status: StatusCode) {
    let body = error_of(r, status).await;
    assert_eq!(body["error"], "invalid_client", "{body}");
}
