//! The middleware on the wire: what each attempt carries.

use std::collections::HashSet;
use std::sync::Arc;

use passport_agent::{
    ClientError, CredentialSource, Credentials, CredentialsFuture, PassportClient,
};
use passport_claims::ManualClock;
use passport_testkit::bounded;
use reqwest_middleware::{Middleware, Next};

use crate::common::{Server, key};

/// Retries a 503 up to twice more (as retry middleware does).
struct RetryOn503;

#[async_trait::async_trait]
impl Middleware for RetryOn503 {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = request.try_clone().expect("a cloneable request");
            let response = next.clone().run(attempt, extensions).await?;
            if response.status() != 503 || attempts == 3 {
                return Ok(response);
            }
        }
    }
}

/// Every `WWW-Authenticate` challenge of a response, joined.
fn challenges(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn jtis(server: &Server) -> Vec<String> {
    server
        .recorder
        .seen()
        .iter()
        .map(|s| s.proof_claims()["jti"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_and_dpop_requests_succeed() {
    bounded(async {
        let server = Server::start(false).await;
        let bearer = server.passport(&["files:read"], None);
        let client = PassportClient::new(bearer.bundle(), None);
        let ok = client.get(&server.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200);
        let seen = server.recorder.seen();
        assert_eq!(
            seen[0].authorization.as_deref(),
            Some(format!("Bearer {}", bearer.bundle()).as_str())
        );
        assert!(seen[0].dpop.is_none(), "no proof without a key");

        let key = key();
        let bound = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::new(bound.bundle(), Some(key));
        for _ in 0..3 {
            let ok = client.get(&server.url("/files?page=2")).await.unwrap();
            assert_eq!(ok.status(), 200);
            let body: serde_json::Value = ok.json().await.unwrap();
            assert_eq!(body["scheme"], "Dpop", "{body}");
        }
        let seen = &server.recorder.seen()[1..];
        assert_eq!(seen.len(), 3);
        for s in seen {
            assert_eq!(
                s.authorization.as_deref(),
                Some(format!("DPoP {}", bound.bundle()).as_str())
            );
            let claims = s.proof_claims();
            assert_eq!(claims["htm"], "GET");
            assert_eq!(claims["htu"], server.url("/files"));
            assert!(claims["ath"].is_string());
        }
        let distinct: HashSet<String> = seen
            .iter()
            .map(|s| s.proof_claims()["jti"].to_string())
            .collect();
        assert_eq!(distinct.len(), 3, "a new proof per request");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_challenge_is_answered_once_with_the_nonce_and_remembered() {
    bounded(async {
        let server = Server::start(true).await;
        let key = key();
        let passport = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::new(passport.bundle(), Some(key));
        let ok = client.get(&server.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200);
        let seen = server.recorder.seen();
        assert_eq!(seen.len(), 2, "the request and one retry");
        assert!(seen[0].proof_claims().get("nonce").is_none());
        let nonce = client
            .nonce_for(&server.base)
            .expect("the nonce is remembered");
        assert_eq!(seen[1].proof_claims()["nonce"], nonce.as_str());
        assert_ne!(seen[0].proof_claims()["jti"], seen[1].proof_claims()["jti"]);
        // The remembered nonce is used at once: no challenge.
        let ok = client.get(&server.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(server.recorder.hits(), 3);
        assert_eq!(
            server.recorder.seen()[2].proof_claims()["nonce"],
            nonce.as_str()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_challenge_is_never_retried_twice() {
    bounded(async {
        // A clock far behind: the server asks for a nonce (checked before
        // `iat`), the retry carries it and is refused for its stale `iat`.
        // That refusal is the answer: no third attempt.
        let server = Server::start(true).await;
        let key = key();
        let passport = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::builder(Credentials::new(passport.bundle(), Some(key)))
            .clock(Arc::new(ManualClock::new(server.kit.now() - 10_000)))
            .build();
        let refused = client.get(&server.url("/files")).await.unwrap();
        assert_eq!(refused.status(), 401);
        let challenge = challenges(&refused);
        assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
        assert_eq!(server.recorder.hits(), 2);
        // The next request starts with the remembered nonce: refused once, not retried.
        let refused = client.get(&server.url("/files")).await.unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(server.recorder.hits(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_middleware_outside_gets_a_fresh_proof_per_attempt() {
    bounded(async {
        let server = Server::start(false).await;
        let key = key();
        let passport = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::builder(Credentials::new(passport.bundle(), Some(key)))
            .outer(RetryOn503)
            .build();
        server
            .recorder
            .fail_next
            .store(2, std::sync::atomic::Ordering::SeqCst);
        let ok = client.get(&server.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200, "the third attempt passes");
        let jtis = jtis(&server);
        assert_eq!(jtis.len(), 3);
        let distinct: HashSet<&String> = jtis.iter().collect();
        assert_eq!(distinct.len(), 3, "a proof is never resent: {jtis:?}");

        // The same retry middleware placed inside resends the signed request:
        // the proofs repeat. This is why it belongs outside.
        let server = Server::start(false).await;
        let key = crate::common::key();
        let passport = server.passport(&["files:read"], Some(&key));
        let inside = PassportClient::builder(Credentials::new(passport.bundle(), Some(key)))
            .inner(RetryOn503)
            .build();
        server
            .recorder
            .fail_next
            .store(1, std::sync::atomic::Ordering::SeqCst);
        let ok = inside.get(&server.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200);
        let jtis = self::jtis(&server);
        assert_eq!(jtis.len(), 2);
        assert_eq!(jtis[0], jtis[1]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_cannot_be_cloned_is_not_retried() {
    bounded(async {
        let server = Server::start(true).await;
        let key = key();
        let passport = server.passport(&["files:write"], Some(&key));
        let client = PassportClient::new(passport.bundle(), Some(key));
        let stream = || {
            let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("hello "), Ok("world")];
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
        };
        let refused = client
            .send(client.http().post(server.url("/upload")).body(stream()))
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let challenge = challenges(&refused);
        assert!(challenge.contains("use_dpop_nonce"), "{challenge}");
        assert_eq!(server.recorder.hits(), 1, "a stream is sent once");
        // The nonce was remembered all the same: the next stream passes.
        let ok = client
            .send(client.http().post(server.url("/upload")).body(stream()))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(server.recorder.hits(), 2);
        // A body in memory is retried.
        let other = Server::start(true).await;
        let key = crate::common::key();
        let passport = other.passport(&["files:write"], Some(&key));
        let client = PassportClient::new(passport.bundle(), Some(key));
        let ok = client
            .send(client.http().post(other.url("/upload")).body("hello world"))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(other.recorder.hits(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_is_never_sent_to_another_origin() {
    bounded(async {
        let with_nonces = Server::start(true).await;
        let other = Server::start(false).await;
        let key = key();
        let passport = with_nonces.passport(&["files:read"], Some(&key));
        // The other server is allowed explicitly: without that it would get
        // no proof at all (the passport's audience is the first server).
        let client = PassportClient::builder(Credentials::new(passport.bundle(), Some(key)))
            .allow_origin(&other.base)
            .build();
        let ok = client.get(&with_nonces.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert!(client.nonce_for(&with_nonces.base).is_some());
        // Same host, another port: another origin. (The passport is for the
        // first server, so the second refuses it: what matters is the proof
        // it received.)
        let _ = client.get(&other.url("/files")).await.unwrap();
        let seen = other.recorder.seen();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].proof_claims().get("nonce").is_none(),
            "{:?}",
            seen[0]
        );
        assert_eq!(client.nonce_for(&other.base), None);
    })
    .await;
}

struct Unavailable;

impl CredentialSource for Unavailable {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(async { Err(ClientError::Credentials("renewal failed".into())) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_credentials_fail_with_their_code_before_sending() {
    bounded(async {
        let server = Server::start(false).await;
        // A bundle that does not parse names no audience: allowed by origin.
        let client = PassportClient::builder(Credentials::new("not\na header", None))
            .allow_origin(&server.base)
            .build();
        let err = client.get(&server.url("/files")).await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidBundle), "{err:?}");
        assert_eq!(err.code(), "invalid_bundle");

        let client = PassportClient::builder(Unavailable).build();
        let err = client.get(&server.url("/files")).await.unwrap_err();
        assert_eq!(err.code(), "credentials_unavailable", "{err:?}");

        assert_eq!(server.recorder.hits(), 0, "nothing was sent");

        // A transport failure is `http_failed`.
        let client = PassportClient::new("bundle", None);
        let err = client.get("http://127.0.0.1:1/").await.unwrap_err();
        assert_eq!(err.code(), "http_failed");
    })
    .await;
}

/// Review finding 1: a redirect must not carry the proof (nor take a nonce)
/// to another origin. reqwest strips `Authorization` on a cross-origin
/// redirect but not `DPoP`; and the middleware, seeing only the final
/// response, would file the other origin's `DPoP-Nonce` under the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_never_carries_the_proof_or_a_nonce_across_origins() {
    bounded(async {
        let elsewhere = Server::start(true).await;
        let target = elsewhere.url("/files");
        let server = Server::start_with(false, move |_, router| {
            router.route(
                "/moved",
                axum::routing::get(move || {
                    let target = target.clone();
                    async move { axum::response::Redirect::temporary(&target) }
                }),
            )
        })
        .await;
        let key = key();
        let passport = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::new(passport.bundle(), Some(key));
        let response = client.get(&server.url("/moved")).await.unwrap();
        let seen = elsewhere.recorder.seen();
        assert!(
            seen.iter()
                .all(|s| s.dpop.is_none() && s.authorization.is_none()),
            "the other origin received {seen:?}"
        );
        assert_eq!(
            client.nonce_for(&server.base),
            None,
            "another origin's nonce was filed under this one"
        );
        assert_eq!(
            response.status(),
            307,
            "the redirect is the caller's to follow"
        );
    })
    .await;
}

/// Review finding 7: the middleware attached the passport to every request
/// the client sent, whatever the origin. An agent that fetches a URL a
/// tool result or a web page named handed its bundle to that host; a bearer
/// passport is then replayable at its real audience until it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passport_is_only_sent_to_its_audience() {
    bounded(async {
        let audience = Server::start(false).await;
        let elsewhere = Server::start(false).await;
        let passport = audience.passport(&["files:read"], None);
        let client = PassportClient::new(passport.bundle(), None);
        let response = client.get(&elsewhere.url("/files")).await.unwrap();
        assert_eq!(response.status(), 401);
        let seen = elsewhere.recorder.seen();
        assert_eq!(seen.len(), 1);
        assert!(
            seen.iter().all(|s| s.authorization.is_none()),
            "{} received the bundle",
            elsewhere.base
        );
        // The audience itself still gets it.
        let response = client.get(&audience.url("/files")).await.unwrap();
        assert_eq!(response.status(), 200);

        // Bound to a key: neither the bundle nor a proof goes elsewhere.
        let key = key();
        let bound = audience.passport(&["files:read"], Some(&key));
        let client = PassportClient::new(bound.bundle(), Some(key));
        let _ = client.get(&elsewhere.url("/files")).await.unwrap();
        let seen = elsewhere.recorder.seen();
        assert!(
            seen.iter()
                .all(|s| s.authorization.is_none() && s.dpop.is_none()),
            "{seen:?}"
        );
        assert_eq!(
            client.get(&audience.url("/files")).await.unwrap().status(),
            200
        );
    })
    .await;
}

/// The opt-in: an origin added with `allow_origin` gets the passport (for
/// an `aud` that is not a URL it is the only way); anything that is not an
/// http(s) URL allows nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_get_the_passport_too() {
    bounded(async {
        let audience = Server::start(false).await;
        let other = Server::start(false).await;
        let passport = audience.passport(&["files:read"], None);
        let credentials = Credentials::new(passport.bundle(), None);
        assert_eq!(credentials.audience_origin(), Some(audience.base.as_str()));
        let client = PassportClient::builder(credentials)
            .allow_origin(format!("{}/any/path?q=1", other.base))
            .allow_origin("urn:files-api")
            .build();
        let _ = client.get(&other.url("/files")).await.unwrap();
        assert!(other.recorder.seen()[0].authorization.is_some());

        // An `aud` that is not a URL: sent nowhere but to allowed origins.
        let urn = passport_agent::Credentials::new("not a bundle", None);
        assert_eq!(urn.audience_origin(), None);
        let client = PassportClient::new("not-a-bundle", None);
        let _ = client.get(&audience.url("/files")).await.unwrap();
        assert!(audience.recorder.seen()[0].authorization.is_none());
    })
    .await;
}
