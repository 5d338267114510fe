//! passport-tower without any web framework: the layer over a plain tower
//! service of `http::Request<String>` answering `http::Response<Full<Bytes>>`,
//! driven directly (no server, no axum). Acceptance, the refusal answers,
//! DPoP with `htu` from the request URI, and refetch-and-retry with its one
//! audit record per request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::future::{Ready, poll_fn, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use passport_audit::{AuditRecord, Outcome};
use passport_claims::UnverifiedBundle;
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier};
use passport_issuer::Issuer;
use passport_jose::{Algorithm, SigningKey, VerifyingKey};
use passport_testkit::{ISS, Kit, MemorySink, alice_ial2, issuance};
use passport_tower::{Passport, PassportAuth, PassportAuthBuilder, Requirements};
use passport_verifier::{InMemoryKeyStore, Refetch, RefetchFuture, VerifyError};
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

/// The application: answers `agent <id>` with the passport the layer put
/// in the request, and counts its calls. With `accepts`, it first records
/// the acceptance itself ([`Passport::accept`]) and acts (counts) only once
/// that is recorded.
#[derive(Clone, Default)]
struct App {
    hits: Arc<AtomicUsize>,
    accepts: bool,
}

impl Service<Request<String>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        if self.accepts
            && let Some(passport) = request.extensions().get::<Passport>()
            && let Err(rejection) = passport.accept()
        {
            return ready(Ok(rejection.into_http_response()));
        }
        self.hits.fetch_add(1, Ordering::SeqCst);
        let body = match request.extensions().get::<Passport>() {
            Some(passport) => format!("agent {}", passport.agent_id()),
            None => "no passport".to_owned(),
        };
        ready(Ok(Response::new(Full::new(Bytes::from(body)))))
    }
}

struct Fixture {
    kit: Kit,
    sink: Arc<MemorySink>,
    app: App,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            kit: Kit::new(),
            sink: Arc::new(MemorySink::default()),
            app: App::default(),
        }
    }

    /// A builder on the kit's verifier, with the audit sink.
    fn auth(&self) -> PassportAuthBuilder {
        let verifier = self
            .kit
            .verifier(self.kit.policy())
            .dangerous_ignore_status()
            .with_audit(self.sink.clone());
        PassportAuth::builder(Arc::new(verifier))
    }

    fn dpop(&self) -> DpopVerifier {
        DpopVerifier::new(DpopPolicy::default(), self.kit.clock.clone())
    }

    fn records(&self) -> Vec<AuditRecord> {
        self.sink.take()
    }
}

/// The answer of `service` to `request`: status, headers, body.
async fn send<S>(service: &mut S, request: Request<String>) -> (StatusCode, http::HeaderMap, String)
where
    S: Service<Request<String>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
    let response = service.call(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn get(path: &str, authorization: Option<&str>) -> Request<String> {
    let mut request = Request::get(path).body(String::new()).unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    request
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

fn one_record(f: &Fixture) -> AuditRecord {
    let mut records = f.records();
    assert_eq!(records.len(), 1, "exactly one record: {records:?}");
    records.remove(0)
}

#[tokio::test]
async fn a_bearer_passport_reaches_a_plain_tower_service() {
    let f = Fixture::new();
    let auth = f.auth().build().unwrap();
    let mut service = auth
        .require(Requirements::scope("files:read"))
        .layer(f.app.clone());
    let [_, _, leaf] = f.kit.chain3();

    let (status, _, body) = send(
        &mut service,
        get("/files", Some(&format!("Bearer {}", leaf.bundle()))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "agent agent-c");
    assert_eq!(f.app.hits.load(Ordering::SeqCst), 1);
    assert_eq!(one_record(&f).outcome, Outcome::Accepted);
}

#[tokio::test]
async fn refusals_answer_with_challenges_and_a_json_body() {
    let f = Fixture::new();
    let auth = f.auth().build().unwrap();
    let mut service = auth
        .require(Requirements::scope("mail:send"))
        .layer(f.app.clone());

    // No credentials: 401, a bare challenge, nothing recorded.
    let (status, headers, body) = send(&mut service, get("/files", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with("Bearer realm=\"https://tool.example\""));
    assert!(!challenge.contains("error="), "{challenge}");
    assert_eq!(json(&body)["error_description"], "missing_credentials");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(f.records().is_empty());

    // A scope the passport does not cover: 403 naming it.
    let [_, _, leaf] = f.kit.chain3();
    let (status, headers, body) = send(
        &mut service,
        get("/mail", Some(&format!("Bearer {}", leaf.bundle()))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mail:send\""), "{challenge}");
    let body = json(&body);
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["error_description"], "scope_violation");
    assert_eq!(body["scope"], "mail:send");
    let record = one_record(&f);
    assert_eq!(record.outcome, Outcome::Refused);
    assert_eq!(record.error.as_deref(), Some("scope_violation"));

    // A garbled token: 401 invalid_token, recorded.
    let (status, _, body) = send(&mut service, get("/mail", Some("Bearer abc.def.ghi"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["error"], "invalid_token");
    assert_eq!(one_record(&f).outcome, Outcome::Refused);
    assert_eq!(f.app.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_challenge_scope_is_named_to_a_client_without_a_passport_only() {
    let f = Fixture::new();
    let auth = f.auth().challenge_scope("files:read").build().unwrap();
    let mut service = auth
        .require(Requirements::scope("mail:send"))
        .layer(f.app.clone());

    // No passport: the challenge names the scope to ask for first.
    let (status, headers, _) = send(&mut service, get("/files", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("scope=\"files:read\""), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");

    // A passport lacking a tool's scope: 403 names that scope, not the
    // challenge scope.
    let [_, _, leaf] = f.kit.chain3();
    let (status, headers, _) = send(
        &mut service,
        get("/mail", Some(&format!("Bearer {}", leaf.bundle()))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("scope=\"mail:send\""), "{challenge}");
    assert!(!challenge.contains("files:read"), "{challenge}");

    // Something that is not a list of scope tokens would be written into a
    // header unescaped: refused when the layer is built.
    for bad in ["files:read\"", "", "a  b", "a\\b", "caf\u{e9}"] {
        let err = f.auth().challenge_scope(bad).build().unwrap_err();
        assert_eq!(err.code(), "invalid_configuration", "{bad:?}");
    }
}

#[tokio::test]
async fn a_dpop_proof_names_the_request_uri_path() {
    let f = Fixture::new();
    let auth = f.auth().dpop(f.dpop()).build().unwrap();
    let mut service = auth.layer().layer(f.app.clone());
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let root = f.kit.root(&["files:*"]);
    let leaf = f
        .kit
        .delegate_bound(root.bundle(), "agent-b", &["files:read"], Some(key.jkt()));
    let request = |path: &str, proof_path: &str| {
        let proof = key
            .proof(
                "GET",
                &format!("https://tool.example{proof_path}"),
                Some(leaf.bundle()),
                None,
                f.kit.now(),
            )
            .unwrap();
        let mut request = get(path, Some(&format!("DPoP {}", leaf.bundle())));
        request
            .headers_mut()
            .insert("dpop", HeaderValue::from_str(&proof).unwrap());
        request
    };

    let (status, _, body) = send(&mut service, request("/files/a?x=1", "/files/a")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(one_record(&f).outcome, Outcome::Accepted);

    // A proof made for another path does not carry over.
    let (status, headers, body) = send(&mut service, request("/files/b", "/files/a")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["error_description"], "htu_mismatch");
    let dpop_challenge = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("DPoP "))
        .unwrap();
    assert!(dpop_challenge.contains("error=\"invalid_dpop_proof\""));
    assert_eq!(one_record(&f).error.as_deref(), Some("htu_mismatch"));
    assert_eq!(f.app.hits.load(Ordering::SeqCst), 1);
}

/// A [`Refetch`] standing in for a remote key store: on `unknown_kid` it
/// "fetches" the issuer's new key into the store (after `delay`), or
/// declines (`answer: false`).
struct FakeKeyFetch {
    keys: Arc<InMemoryKeyStore>,
    key: VerifyingKey,
    answer: bool,
    delay: Duration,
    calls: Arc<AtomicUsize>,
}

impl Refetch for FakeKeyFetch {
    fn refetch<'a>(
        &'a self,
        _bundle: &'a UnverifiedBundle,
        error: &'a VerifyError,
    ) -> Option<RefetchFuture<'a>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.answer || error.code() != "unknown_kid" {
            return None;
        }
        Some(Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.keys.insert(ISS, self.key.clone()).unwrap();
        }))
    }
}

/// A passport signed by a new key of the trusted issuer, whose kid the key
/// store does not know yet; the key; and a fetcher configured by `answer`
/// and `delay`.
fn rotated(f: &Fixture, answer: bool, delay: Duration) -> (String, FakeKeyFetch) {
    let new_key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let verifying = new_key.verifying_key();
    let issuer = Issuer::new(ISS, new_key).with_clock(f.kit.clock.clone());
    let passport = issuer
        .issue(issuance(
            alice_ial2(),
            &f.kit.aud,
            "agent-a",
            "model-a",
            &["files:*"],
        ))
        .unwrap();
    let fetch = FakeKeyFetch {
        keys: f.kit.keys.clone(),
        key: verifying,
        answer,
        delay,
        calls: Arc::new(AtomicUsize::new(0)),
    };
    (passport.bundle().to_owned(), fetch)
}

#[tokio::test]
async fn an_unknown_kid_is_refetched_and_the_request_verified_once_more() {
    let f = Fixture::new();
    let (bundle, fetch) = rotated(&f, true, Duration::from_millis(5));
    let calls = fetch.calls.clone();
    let auth = f.auth().refetch(fetch).build().unwrap();
    let mut service = auth.layer().layer(f.app.clone());

    let (status, _, body) = send(&mut service, get("/", Some(&format!("Bearer {bundle}")))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "agent agent-a");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // One record: the final decision, not the first refusal.
    let record = one_record(&f);
    assert_eq!(record.outcome, Outcome::Accepted);
    assert_eq!(record.error, None);

    // The key is known now: no refetch on the next request.
    let (status, _, _) = send(&mut service, get("/", Some(&format!("Bearer {bundle}")))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(one_record(&f).outcome, Outcome::Accepted);
}

/// `authenticate`, for other frameworks, refetches and retries as the
/// layer does, and leaves one record per request: the second attempt's
/// when it runs, the first refusal's when the refetch does not help
/// (review S14, R3-4).
#[tokio::test]
async fn authenticate_refetches_and_retries_with_one_record_per_request() {
    let f = Fixture::new();
    for helps in [true, false] {
        let (bundle, fetch) = rotated(&f, helps, Duration::from_millis(5));
        let calls = fetch.calls.clone();
        let auth = f.auth().refetch(fetch).build().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {bundle}")).unwrap(),
        );
        let outcome = auth
            .authenticate(&http::Method::GET, "/", &headers, &Requirements::none())
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let record = one_record(&f);
        if helps {
            assert_eq!(outcome.unwrap().agent_id(), "agent-a");
            assert_eq!((record.outcome, record.error), (Outcome::Accepted, None));
        } else {
            assert_eq!(outcome.unwrap_err().code(), "unknown_kid");
            assert_eq!(record.outcome, Outcome::Refused);
            assert_eq!(record.error.as_deref(), Some("unknown_kid"));
        }
    }
}

#[tokio::test]
async fn a_refetch_with_nothing_to_do_leaves_the_original_error() {
    let f = Fixture::new();
    let (bundle, fetch) = rotated(&f, false, Duration::ZERO);
    let calls = fetch.calls.clone();
    let auth = f.auth().refetch(fetch).build().unwrap();
    let mut service = auth.layer().layer(f.app.clone());

    let (status, _, body) = send(&mut service, get("/", Some(&format!("Bearer {bundle}")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["error_description"], "unknown_kid");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let record = one_record(&f);
    assert_eq!(record.outcome, Outcome::Refused);
    assert_eq!(record.error.as_deref(), Some("unknown_kid"));
    assert_eq!(f.app.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_refetch_times_out_to_the_original_error() {
    let f = Fixture::new();
    // The fetch would take a minute; the layer waits two seconds.
    let (bundle, fetch) = rotated(&f, true, Duration::from_secs(60));
    let keys = fetch.keys.clone();
    let kid = fetch.key.kid().to_owned();
    let auth = f
        .auth()
        .refetch(fetch)
        .refetch_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut service = auth.layer().layer(f.app.clone());

    let start = tokio::time::Instant::now();
    let (status, _, body) = send(&mut service, get("/", Some(&format!("Bearer {bundle}")))).await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["error_description"], "unknown_kid");
    let record = one_record(&f);
    assert_eq!(record.error.as_deref(), Some("unknown_kid"));
    // The abandoned fetch never completed.
    assert!(keys.remove(ISS, &kid).is_none());
}

/// Fetches "something" that never helps: the second verification fails
/// too, and there is no third.
struct Useless(Arc<AtomicUsize>);

impl Refetch for Useless {
    fn refetch<'a>(
        &'a self,
        _bundle: &'a UnverifiedBundle,
        _error: &'a VerifyError,
    ) -> Option<RefetchFuture<'a>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Some(Box::pin(async {}))
    }
}

#[tokio::test]
async fn at_most_one_retry_per_request_and_every_refetch_is_asked() {
    let f = Fixture::new();
    let (bundle, declines) = rotated(&f, false, Duration::ZERO);
    let declined = declines.calls.clone();
    let useless = Arc::new(AtomicUsize::new(0));
    let auth = f
        .auth()
        .refetch(declines)
        .refetch(Useless(useless.clone()))
        .build()
        .unwrap();
    let mut service = auth.layer().layer(f.app.clone());

    let (status, _, body) = send(&mut service, get("/", Some(&format!("Bearer {bundle}")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["error_description"], "unknown_kid");
    assert_eq!(declined.load(Ordering::SeqCst), 1);
    assert_eq!(useless.load(Ordering::SeqCst), 1);
    assert_eq!(one_record(&f).error.as_deref(), Some("unknown_kid"));

    // A refusal that is not the verifier's is never refetched.
    let (status, _, _) = send(&mut service, get("/", Some("Basic abc"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(useless.load(Ordering::SeqCst), 1);
}

/// Header values hyper would not put on the wire (or a client would not
/// send), straight into `authenticate`: never a panic, always 400 or 401.
#[tokio::test(flavor = "current_thread")]
async fn authenticate_survives_arbitrary_bytes() {
    let f = Fixture::new();
    let auth = f.auth().dpop(f.dpop()).build().unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet: &[u8] = b"Bearer DPoP \t~.-_=+/abcXYZ019\x80\xff\"\\,";
    for _ in 0..2_000 {
        let len = (next() % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let Ok(value) = HeaderValue::from_bytes(&bytes) else {
            continue;
        };
        let mut headers = http::HeaderMap::new();
        headers.append("authorization", value.clone());
        if next() % 2 == 0 {
            headers.append("dpop", value);
        }
        let rejection = auth
            .authenticate(
                &http::Method::GET,
                "/files",
                &headers,
                &Requirements::none(),
            )
            .await
            .unwrap_err();
        let status = rejection.error().status().as_u16();
        assert!(status == 400 || status == 401, "{bytes:?}: {status}");
    }
}

/// Outside a tokio runtime the refetch cannot be timed: the first refusal
/// stands (no panic, one record), and no `Refetch` is asked — asking spends
/// its cooldown, for a fetch that would never run (review S14, second
/// pass: it was asked, then its work dropped).
#[test]
fn without_a_tokio_runtime_the_first_refusal_stands_and_no_refetch_is_asked() {
    let f = Fixture::new();
    let (bundle, _) = rotated(&f, false, Duration::ZERO);
    let useless = Arc::new(AtomicUsize::new(0));
    let auth = f.auth().refetch(Useless(useless.clone())).build().unwrap();
    let mut service = auth.layer().layer(f.app.clone());
    let mut future = service.call(get("/", Some(&format!("Bearer {bundle}"))));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    // Nothing is left to wait for: the first poll answers.
    let Poll::Ready(response) = future.as_mut().poll(&mut cx) else {
        panic!("the layer waited without a runtime");
    };
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(useless.load(Ordering::SeqCst), 0, "a Refetch was asked");
    assert_eq!(one_record(&f).error.as_deref(), Some("unknown_kid"));
}

/// Finding 1: a request refused by the verifier whose refetch is still
/// running when the client goes away (its future dropped) must still leave
/// its one audit record, the first refusal. An attacker who triggers a
/// refetch (an unknown `kid`) and disconnects must not erase the trace.
#[tokio::test(start_paused = true)]
async fn a_request_cancelled_during_its_refetch_still_leaves_its_record() {
    let f = Fixture::new();
    let (bundle, fetch) = rotated(&f, true, Duration::from_secs(60));
    let auth = f.auth().refetch(fetch).build().unwrap();
    let mut service = auth.layer().layer(f.app.clone());
    poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
    let mut future = service.call(get("/", Some(&format!("Bearer {bundle}"))));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(
        future.as_mut().poll(&mut cx).is_pending(),
        "the layer waits for the refetch"
    );
    // The client disconnects: the server drops the request's future.
    drop(future);
    let record = one_record(&f);
    assert_eq!(record.outcome, Outcome::Refused);
    assert_eq!(record.error.as_deref(), Some("unknown_kid"));
    assert_eq!(f.app.hits.load(Ordering::SeqCst), 0);
}

/// Review S13 (passport-tower, LOW): with a failing audit sink, a plain
/// tower service (no axum extractor) ran before its acceptance was
/// recorded — the crate's docs said the record was written before the
/// handler runs — and had no way to record it first. It now calls
/// `Passport::accept` before it acts: the acceptance that cannot be
/// recorded is answered 503 `audit_failed` and the service does nothing.
/// A service that does not call it runs first (documented), and its answer
/// is still withheld.
#[tokio::test]
async fn a_plain_service_that_accepts_first_never_acts_on_an_unrecorded_acceptance() {
    let f = Fixture::new();
    let verifier = f
        .kit
        .verifier(f.kit.policy())
        .dangerous_ignore_status()
        .with_audit(Arc::new(passport_testkit::BrokenSink));
    let auth = PassportAuth::builder(Arc::new(verifier)).build().unwrap();
    let [_, _, leaf] = f.kit.chain3();
    let bearer = format!("Bearer {}", leaf.bundle());
    for accepts in [true, false] {
        let app = App {
            accepts,
            ..App::default()
        };
        let mut service = auth
            .require(Requirements::scope("files:read"))
            .layer(app.clone());
        let (status, _, body) = send(&mut service, get("/files", Some(&bearer))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(json(&body)["error_description"], "audit_failed");
        let acted = app.hits.load(Ordering::SeqCst);
        assert_eq!(acted, usize::from(!accepts), "accepts first: {accepts}");
    }
}

/// `Passport::accept` with a working sink: one `accepted` record, written
/// once — not again when the response passes back through the layer.
#[tokio::test]
async fn a_plain_service_that_accepts_first_leaves_one_record() {
    let f = Fixture::new();
    let auth = f.auth().build().unwrap();
    let app = App {
        accepts: true,
        ..App::default()
    };
    let mut service = auth
        .require(Requirements::scope("files:read"))
        .layer(app.clone());
    let [_, _, leaf] = f.kit.chain3();
    let (status, _, _) = send(
        &mut service,
        get("/files", Some(&format!("Bearer {}", leaf.bundle()))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.hits.load(Ordering::SeqCst), 1);
    let records = f.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, Outcome::Accepted);
}
