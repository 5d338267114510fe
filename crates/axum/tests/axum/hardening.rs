//! Issue 10, item 5, over HTTP against a real server on 127.0.0.1: each
//! request leaves one audit record of its final decision; one agent
//! flooding the replay cache is refused alone; backslashes cannot carry dot
//! segments past the `htu` check.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use passport_audit::{AuditRecord, AuditSink, Outcome};
use passport_axum::PassportAuth;
use passport_dpop::{DpopPolicy, DpopVerifier, InMemoryReplayCache};
use passport_testkit::{BrokenSink, MemorySink, bounded};
use serde_json::Value;

use crate::common::*;

/// Asserts exactly one record since the last look, with `outcome` and
/// `error`, and returns it.
fn assert_one(sink: &MemorySink, outcome: Outcome, error: Option<&str>) -> AuditRecord {
    let records = sink.take();
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = records.into_iter().next().unwrap();
    assert_eq!((r.outcome, r.error.as_deref()), (outcome, error), "{r:#?}");
    r
}

/// The fixture's standard auth, its verifier auditing to `sink`.
fn audited(f: &Fixture, sink: Arc<dyn AuditSink>) -> PassportAuth {
    PassportAuth::builder(Arc::new(f.verifier(f.policy()).with_audit(sink)))
        .dpop(f.dpop())
        .scopes_supported(["files:read", "files:write"])
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_leaves_one_record_of_its_final_decision() {
    bounded(async {
        let mut f = Fixture::new().await;
        let sink = Arc::new(MemorySink::default());
        f.serve(audited(&f, sink.clone())).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let bundle = leaf.bundle();

        // Accepted, through two layers (global + files:read): one record.
        let proof = f.proof(&key, "GET", "/files", bundle);
        let ok = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        let r = assert_one(&sink, Outcome::Accepted, None);
        assert!(r.verified);
        assert_eq!(r.links.len(), 3);

        // The same proof again: a replay, recorded as refused.
        let again = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        again.assert_refused(401, "invalid_dpop_proof", "replay");
        assert_one(&sink, Outcome::Refused, Some("replay"));

        // A stranger's key: whoever holds the bundle without its key.
        let stranger = Fixture::key();
        let proof = f.proof(&stranger, "GET", "/files", bundle);
        let answer = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        answer.assert_refused(401, "invalid_token", "dpop_key_mismatch");
        assert_one(&sink, Outcome::Refused, Some("dpop_key_mismatch"));

        // A proof for another URL.
        let proof = f.proof(&key, "GET", "/whoami", bundle);
        let answer = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        answer.assert_refused(401, "invalid_dpop_proof", "htu_mismatch");
        assert_one(&sink, Outcome::Refused, Some("htu_mismatch"));

        // No proof at all.
        let answer = f.call("GET", "/files", "DPoP", bundle, None).await;
        answer.assert_refused(400, "invalid_request", "missing_dpop_proof");
        assert_one(&sink, Outcome::Refused, Some("missing_dpop_proof"));

        // The bound passport as a bearer token.
        let answer = f.call("GET", "/files", "Bearer", bundle, None).await;
        answer.assert_refused(401, "invalid_token", "dpop_bound_token_as_bearer");
        assert_one(&sink, Outcome::Refused, Some("dpop_bound_token_as_bearer"));

        // A 403 from a route layer, after the global layer let it through,
        // with DPoP and with a bearer passport.
        let answer = f.dpop_call(&key, "POST", "/files/write", bundle).await;
        answer.assert_refused(403, "insufficient_scope", "scope_violation");
        let r = assert_one(&sink, Outcome::Refused, Some("scope_violation"));
        assert_eq!(r.required_scope.as_deref(), Some("files:write"));
        let root = f.root(&["files:read"], None);
        let answer = f
            .call("POST", "/files/write", "Bearer", root.bundle(), None)
            .await;
        answer.assert_refused(403, "insufficient_scope", "scope_violation");
        assert_one(&sink, Outcome::Refused, Some("scope_violation"));

        // A step-up refusal from a route layer.
        let answer = f.call("GET", "/aal3", "Bearer", root.bundle(), None).await;
        assert_eq!(answer.status, 401, "{answer:#?}");
        assert_one(&sink, Outcome::Refused, Some(answer.code()));

        // A bundle the verifier refuses: one record, its claims unverified.
        let other = f.root_for("https://elsewhere.example", &["files:read"], None);
        let answer = f
            .call("GET", "/whoami", "Bearer", other.bundle(), None)
            .await;
        answer.assert_refused(401, "invalid_token", "audience_mismatch");
        let r = assert_one(&sink, Outcome::Refused, Some("audience_mismatch"));
        assert!(!r.verified);

        // A bearer passport accepted, and a nested service.
        let ok = f
            .call("GET", "/whoami", "Bearer", root.bundle(), None)
            .await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        assert_one(&sink, Outcome::Accepted, None);
        let a = Fixture::key();
        let mcp_root = f.root(&["files:*", "mcp:*"], Some(&a));
        let ok = f
            .dpop_call(&a, "POST", "/mcp/tools/search", mcp_root.bundle())
            .await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        assert_one(&sink, Outcome::Accepted, None);

        // No passport presented: nothing to attribute, nothing recorded.
        let answer = f.raw("GET", "/whoami", &[], &[]).await;
        assert_eq!(answer.status, 401);
        assert!(sink.take().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acceptance_that_cannot_be_recorded_never_reaches_the_handler() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(audited(&f, Arc::new(BrokenSink))).await;
        let root = f.root(&["files:read"], None);
        let before = f.hits();
        let answer = f
            .call("GET", "/whoami", "Bearer", root.bundle(), None)
            .await;
        assert_eq!(answer.status, 503, "{answer:#?}");
        assert_eq!(answer.code(), "audit_failed");
        assert_eq!(f.hits(), before + 1);
        // A refusal stands whether or not it is recorded.
        let answer = f
            .call("POST", "/files/write", "Bearer", root.bundle(), None)
            .await;
        answer.assert_refused(403, "insufficient_scope", "scope_violation");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_never_takes_the_passport_is_recorded_once_too() {
    bounded(async {
        let mut f = Fixture::new().await;
        let sink = Arc::new(MemorySink::default());
        let auth = audited(&f, sink.clone());
        let app = Router::new()
            .route("/plain", get(|| async { "plain" }))
            .layer(auth.layer());
        f.serve_app(app).await;
        let root = f.root(&["files:read"], None);
        let ok = f.call("GET", "/plain", "Bearer", root.bundle(), None).await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        assert_one(&sink, Outcome::Accepted, None);
        let key = Fixture::key();
        let bound = f.root(&["files:read"], Some(&key));
        let answer = f
            .call("GET", "/plain", "Bearer", bound.bundle(), None)
            .await;
        answer.assert_refused(401, "invalid_token", "dpop_bound_token_as_bearer");
        assert_one(&sink, Outcome::Refused, Some("dpop_bound_token_as_bearer"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_never_takes_the_passport_withholds_an_unrecorded_answer() {
    bounded(async {
        let mut f = Fixture::new().await;
        let auth = audited(&f, Arc::new(BrokenSink));
        let app = Router::new()
            .route("/plain", get(|| async { "secret" }))
            .layer(auth.layer());
        f.serve_app(app).await;
        let root = f.root(&["files:read"], None);
        let answer = f.call("GET", "/plain", "Bearer", root.bundle(), None).await;
        assert_eq!(answer.status, 503, "{answer:#?}");
        assert_eq!(answer.code(), "audit_failed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_flooding_the_replay_cache_is_refused_alone() {
    bounded(async {
        let mut f = Fixture::new().await;
        let clock = f.kit.clock.clone();
        let cache = Arc::new(InMemoryReplayCache::new(20, clock.clone()).with_key_share(5));
        let dpop = DpopVerifier::new(DpopPolicy::default(), clock).with_replay_cache(cache.clone());
        let auth = PassportAuth::builder(Arc::new(f.verifier(f.policy())))
            .dpop(dpop)
            .build()
            .unwrap();
        f.serve(auth).await;
        let flooder = Fixture::key();
        let flood = f.chain3(&flooder);
        for _ in 0..5 {
            let ok = f
                .dpop_call(&flooder, "GET", "/whoami", flood.bundle())
                .await;
            assert_eq!(ok.status, 200, "{ok:#?}");
        }
        for _ in 0..10 {
            let refused = f
                .dpop_call(&flooder, "GET", "/whoami", flood.bundle())
                .await;
            assert_eq!(refused.status, 429, "{refused:#?}");
            assert_eq!(refused.code(), "replay_quota_exceeded");
            assert_eq!(refused.body["error"], "replay_quota_exceeded");
            // Its entries live through iat + 60.
            assert_eq!(refused.retry_after.as_deref(), Some("61"));
        }
        // Everyone else is served.
        for _ in 0..3 {
            let agent = Fixture::key();
            let leaf = f.chain3(&agent);
            for _ in 0..5 {
                let ok = f.dpop_call(&agent, "GET", "/whoami", leaf.bundle()).await;
                assert_eq!(ok.status, 200, "{ok:#?}");
            }
        }
        assert_eq!((cache.len(), cache.keys()), (20, 4));
    })
    .await;
}

/// Sends `request` (a whole HTTP/1.1 request) on a fresh connection and
/// reads the answer's status and JSON body: reqwest would normalise the
/// path before sending it.
async fn send_raw(base: &str, request: String) -> (u16, Value) {
    let addr = base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslashes_do_not_carry_a_proof_to_another_path() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let leaf = f.mcp_leaf(&key);
        let bundle = leaf.bundle();
        let host = f.base.trim_start_matches("http://").to_owned();
        let request = |path: &str, proof: &str| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: DPoP {bundle}\r\n\
                 DPoP: {proof}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        };
        // The raw client works: a proof for the path itself is accepted.
        let proof = f.proof(&key, "POST", "/mcp/tools/search", bundle);
        let (status, body) = send_raw(&f.base, request("/mcp/tools/search", &proof)).await;
        assert_eq!(status, 200, "{body}");
        // The router sees /mcp/tools/{name} with name `x\..\..\..\whoami`;
        // the URL parser, /whoami. A proof for POST /whoami must not serve it.
        let hits = f.hits();
        for path in [
            r"/mcp/tools/x\..\..\..\whoami",
            "/mcp/tools/x%5C..%5C..%5C..%5Cwhoami",
            "/mcp/tools/x%5c..%5c..%5c..%5cwhoami",
        ] {
            let proof = f.proof(&key, "POST", "/whoami", bundle);
            let (status, body) = send_raw(&f.base, request(path, &proof)).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"], "invalid_request", "{path}");
            assert_eq!(body["error_description"], "invalid_url", "{path}");
        }
        // Each reached the server (refused by the layer, not by hyper).
        assert_eq!(f.hits(), hits + 3);
    })
    .await;
}
