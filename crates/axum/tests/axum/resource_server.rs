//! The layer against a real axum server on loopback and a real reqwest
//! client: every acceptance and refusal of the resource-server side.

use std::sync::Arc;

use crate::common::*;
use passport_agent::{Credentials, PassportClient};
use passport_axum::{PassportAuth, ResourceMetadata};
use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_testkit::{Down, ISS, StatusTable, bounded};
use passport_verifier::LinkStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_passport_is_accepted() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let root = f.root(&["files:read"], None);
        let ok = f.call("GET", "/files", "Bearer", root.bundle(), None).await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        assert_eq!(ok.body["principal"], "alice");
        assert_eq!(ok.body["agent"], "agent-a");
        assert_eq!(ok.body["scheme"], "Bearer");
        // Scheme names are case-insensitive; several spaces are fine.
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            let ok = f.call("GET", "/whoami", scheme, root.bundle(), None).await;
            assert_eq!(ok.status, 200, "{scheme}: {ok:#?}");
        }
        let ok = f
            .call("GET", "/whoami", "Bearer  ", root.bundle(), None)
            .await;
        assert_eq!(ok.status, 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_bound_three_link_chain_is_accepted() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let ok = f.dpop_call(&key, "GET", "/files", leaf.bundle()).await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        assert_eq!(ok.body["agent"], "agent-c");
        assert_eq!(ok.body["depth"], 3);
        assert_eq!(ok.body["scheme"], "DPoP");
        assert_eq!(ok.body["proof_jkt"], key.jkt());
        // Lower-case scheme, and the query is not part of htu.
        let proof = f.proof(&key, "GET", "/files?x=1", leaf.bundle());
        let ok = f
            .call("GET", "/files?page=2", "dpop", leaf.bundle(), Some(&proof))
            .await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        // An EdDSA proof key works the same.
        let ed = DpopKey::generate(Algorithm::EdDSA).unwrap();
        let leaf = f.chain3(&ed);
        let ok = f.dpop_call(&ed, "GET", "/whoami", leaf.bundle()).await;
        assert_eq!(ok.status, 200, "{ok:#?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_helper_sends_bearer_and_dpop() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let bearer = agent_client(
            f.root(&["files:*"], None).bundle(),
            None,
            f.kit.clock.clone(),
        );
        let ok = bearer.get(&f.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200);
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let client = agent_client(leaf.bundle(), Some(key), f.kit.clock.clone());
        for _ in 0..3 {
            // A fresh proof every time: no replay.
            let ok = client.get(&f.url("/files?q=1")).await.unwrap();
            assert_eq!(ok.status(), 200);
        }
        let ok = client
            .post_json(&f.url("/mcp/tools/search"), &serde_json::json!({"q": 1}))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "POST with a body, under a nested service");
        let refused = client
            .send(client.http().post(f.url("/files/write")).body("x"))
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "the leaf has files:read only");
        let answer = Answer::read(refused).await;
        assert_eq!(answer.code(), "scope_violation");
        assert_eq!(
            param(answer.challenge("DPoP").unwrap(), "scope").unwrap(),
            "files:write"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_audience_is_invalid_token_with_the_code_and_metadata_url() {
    bounded(async {
        let mut f = Fixture::new().await;
        let auth = f.auth().build().unwrap();
        let metadata_url = auth.metadata_url().to_owned();
        f.serve(auth).await;
        let other = f.root_for("https://other.example", &["files:read"], None);
        let answer = f
            .call("GET", "/files", "Bearer", other.bundle(), None)
            .await;
        answer.assert_refused(401, "invalid_token", "audience_mismatch");
        let bearer = answer.challenge("Bearer").unwrap();
        assert_eq!(param(bearer, "realm").unwrap(), f.base);
        assert_eq!(param(bearer, "resource_metadata").unwrap(), metadata_url);
        assert_eq!(
            metadata_url,
            format!("{}/.well-known/oauth-protected-resource", f.base)
        );
        // The DPoP challenge is offered too, without the error.
        let dpop = answer.challenge("DPoP").unwrap();
        assert_eq!(param(dpop, "algs").unwrap(), "ES256 EdDSA Ed25519");
        assert!(param(dpop, "error").is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scope_is_403_insufficient_scope_naming_the_scope() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let root = f.root(&["files:read"], None);
        let answer = f
            .call("POST", "/files/write", "Bearer", root.bundle(), None)
            .await;
        answer.assert_refused(403, "insufficient_scope", "scope_violation");
        let bearer = answer.challenge("Bearer").unwrap();
        assert_eq!(param(bearer, "scope").unwrap(), "files:write");
        assert_eq!(answer.body["scope"], "files:write");
        // The same from a check inside a handler.
        let answer = f
            .call("GET", "/handler-scope", "Bearer", root.bundle(), None)
            .await;
        answer.assert_refused(403, "insufficient_scope", "scope_violation");
        assert_eq!(
            param(answer.challenge("Bearer").unwrap(), "scope").unwrap(),
            "mail:send"
        );
        // With DPoP, the error is in the DPoP challenge.
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let answer = f
            .dpop_call(&key, "POST", "/files/write", leaf.bundle())
            .await;
        answer.assert_refused(403, "insufficient_scope", "scope_violation");
        assert_eq!(
            param(answer.challenge("DPoP").unwrap(), "scope").unwrap(),
            "files:write"
        );
        assert!(param(answer.challenge("Bearer").unwrap(), "error").is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_proof_is_refused() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let proof = f.proof(&key, "GET", "/files", leaf.bundle());
        let first = f
            .call("GET", "/files", "DPoP", leaf.bundle(), Some(&proof))
            .await;
        assert_eq!(first.status, 200);
        let again = f
            .call("GET", "/files", "DPoP", leaf.bundle(), Some(&proof))
            .await;
        again.assert_refused(401, "invalid_dpop_proof", "replay");
        assert!(
            again
                .challenge("DPoP")
                .unwrap()
                .contains("error=\"invalid_dpop_proof\"")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_for_another_url_or_method_is_refused() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let bundle = leaf.bundle();
        let cases = [
            // (proof method, proof URL, code)
            ("GET", f.url("/whoami"), "htu_mismatch"),
            (
                "GET",
                "https://other.example/files".to_owned(),
                "htu_mismatch",
            ),
            // Another port of the same host.
            ("GET", "http://127.0.0.1:1/files".to_owned(), "htu_mismatch"),
            ("POST", f.url("/files"), "htm_mismatch"),
            ("get", f.url("/files"), "htm_mismatch"),
        ];
        for (method, url, code) in cases {
            let proof = key
                .proof(method, &url, Some(bundle), None, f.now())
                .unwrap();
            let answer = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
            answer.assert_refused(401, "invalid_dpop_proof", code);
        }
        // A proof for another bundle (ath).
        let other = f.chain3(&key);
        let proof = f.proof(&key, "GET", "/files", other.bundle());
        let answer = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        answer.assert_refused(401, "invalid_dpop_proof", "ath_mismatch");
        // A Host header naming another server does not change htu.
        let proof = key
            .proof(
                "GET",
                "http://evil.example/files",
                Some(bundle),
                None,
                f.now(),
            )
            .unwrap();
        let response = f
            .http
            .get(f.url("/files"))
            .header("host", "evil.example")
            .header("authorization", format!("DPoP {bundle}"))
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        Answer::read(response)
            .await
            .assert_refused(401, "invalid_dpop_proof", "htu_mismatch");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_future_iat_are_refused() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let bundle = leaf.bundle();
        for (iat, code) in [
            (f.now() - 3_600, "dpop_iat_too_old"),
            (f.now() - 61, "dpop_iat_too_old"),
            (f.now() + 60, "dpop_iat_in_future"),
        ] {
            let proof = key
                .proof("GET", &f.url("/files"), Some(bundle), None, iat)
                .unwrap();
            let answer = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
            answer.assert_refused(401, "invalid_dpop_proof", code);
        }
        let proof = key
            .proof("GET", &f.url("/files"), Some(bundle), None, f.now() - 30)
            .unwrap();
        let ok = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        assert_eq!(ok.status, 200, "within the window");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_nonce_missing_then_retried_raw_and_by_the_client() {
    bounded(async {
        let mut f = Fixture::new().await;
        let auth = f.auth().dpop(f.dpop_with_nonces()).build().unwrap();
        f.serve(auth).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let bundle = leaf.bundle();

        // Raw: no nonce → 401 use_dpop_nonce with a DPoP-Nonce header.
        let proof = f.proof(&key, "GET", "/files", bundle);
        let answer = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        answer.assert_refused(401, "use_dpop_nonce", "use_dpop_nonce");
        assert!(
            answer
                .challenge("DPoP")
                .unwrap()
                .contains("error=\"use_dpop_nonce\"")
        );
        let nonce = answer.nonce.clone().expect("DPoP-Nonce header");
        // A wrong nonce is refused the same way.
        let bad = key
            .proof(
                "GET",
                &f.url("/files"),
                Some(bundle),
                Some("bm9wZQ"),
                f.now(),
            )
            .unwrap();
        let answer = f.call("GET", "/files", "DPoP", bundle, Some(&bad)).await;
        answer.assert_refused(401, "use_dpop_nonce", "use_dpop_nonce");
        // Retried with the nonce: accepted.
        let proof = key
            .proof("GET", &f.url("/files"), Some(bundle), Some(&nonce), f.now())
            .unwrap();
        let ok = f.call("GET", "/files", "DPoP", bundle, Some(&proof)).await;
        assert_eq!(ok.status, 200, "{ok:#?}");

        // The client helper: one 401, one retry, then the nonce is remembered.
        let client = agent_client(bundle, Some(key), f.kit.clock.clone());
        let before = f.hits();
        let ok = client.get(&f.url("/files")).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(f.hits() - before, 2, "the first request and one retry");
        assert_eq!(client.nonce_for(&f.base), Some(nonce));
        let before = f.hits();
        let ok = client.get(&f.url("/whoami")).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(f.hits() - before, 1, "the remembered nonce is used at once");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_retries_only_once() {
    bounded(async {
        // A client whose clock is far behind: the server asks for a nonce
        // (checked before `iat`), the client retries once with it, and the
        // retry is refused for its stale `iat`. That answer is returned.
        let mut f = Fixture::new().await;
        let auth = f.auth().dpop(f.dpop_with_nonces()).build().unwrap();
        f.serve(auth).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let client = agent_client(
            leaf.bundle(),
            Some(key),
            Arc::new(passport_claims::ManualClock::new(f.now() - 10_000)),
        );
        let before = f.hits();
        let answer = Answer::read(client.get(&f.url("/files")).await.unwrap()).await;
        answer.assert_refused(401, "invalid_dpop_proof", "dpop_iat_too_old");
        assert_eq!(f.hits() - before, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_by_another_key_than_the_bound_one_is_refused() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let thief = Fixture::key();
        let leaf = f.chain3(&key);
        let answer = f.dpop_call(&thief, "GET", "/files", leaf.bundle()).await;
        answer.assert_refused(401, "invalid_token", "dpop_key_mismatch");
        // The parent's key cannot act for the child either.
        let a = Fixture::key();
        let b = Fixture::key();
        let root = f.root(&["files:*"], Some(&a));
        let child = f.delegate(root.bundle(), "agent-b", &["files:read"], Some(&b));
        let answer = f.dpop_call(&a, "GET", "/files", child.bundle()).await;
        answer.assert_refused(401, "invalid_token", "dpop_key_mismatch");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_passport_as_bearer_is_refused() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let answer = f.call("GET", "/files", "Bearer", leaf.bundle(), None).await;
        answer.assert_refused(401, "invalid_token", "dpop_bound_token_as_bearer");
        // Even with a valid proof alongside.
        let proof = f.proof(&key, "GET", "/files", leaf.bundle());
        let answer = f
            .call("GET", "/files", "Bearer", leaf.bundle(), Some(&proof))
            .await;
        answer.assert_refused(401, "invalid_token", "dpop_bound_token_as_bearer");
        // And the DPoP scheme with an unbound passport is refused too.
        let root = f.root(&["files:read"], None);
        let answer = f.dpop_call(&key, "GET", "/files", root.bundle()).await;
        answer.assert_refused(401, "invalid_token", "token_not_bound");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_passports_are_refused_when_dpop_is_not_enabled() {
    bounded(async {
        let mut f = Fixture::new().await;
        let auth = PassportAuth::builder(Arc::new(f.verifier(f.policy())))
            .build()
            .unwrap();
        f.serve(auth).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let answer = f.dpop_call(&key, "GET", "/files", leaf.bundle()).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.code(), "unsupported_scheme");
        assert!(answer.challenge("DPoP").is_none(), "no DPoP offered");
        assert!(param(answer.challenge("Bearer").unwrap(), "error").is_none());
        let answer = f.call("GET", "/files", "Bearer", leaf.bundle(), None).await;
        answer.assert_refused(401, "invalid_token", "dpop_bound_token_as_bearer");
        let root = f.root(&["files:read"], None);
        let ok = f.call("GET", "/files", "Bearer", root.bundle(), None).await;
        assert_eq!(ok.status, 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_of_possession_routes_and_servers_refuse_bearer_passports() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let root = f.root(&["files:read"], None);
        let answer = f.call("GET", "/pop", "Bearer", root.bundle(), None).await;
        answer.assert_refused(401, "invalid_token", "pop_required");
        // Only the DPoP challenge is offered there.
        assert!(answer.challenge("Bearer").is_none(), "{answer:#?}");
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let ok = f.dpop_call(&key, "GET", "/pop", leaf.bundle()).await;
        assert_eq!(ok.status, 200);

        // Server-wide: the metadata says so and every route refuses bearer.
        let mut g = Fixture::new().await;
        let auth = g.auth().require_proof_of_possession(true).build().unwrap();
        assert!(auth.metadata().dpop_bound_access_tokens_required);
        g.serve(auth).await;
        let root = g.root(&["files:read"], None);
        let answer = g
            .call("GET", "/whoami", "Bearer", root.bundle(), None)
            .await;
        answer.assert_refused(401, "invalid_token", "pop_required");
        // Missing credentials: only the DPoP challenge.
        let answer = g.raw("GET", "/whoami", &[], &[]).await;
        assert_eq!(answer.challenges.len(), 1);
        assert!(answer.challenge("DPoP").is_some());

        // A policy requiring possession without DPoP is a configuration error.
        let err = PassportAuth::builder(Arc::new(
            g.verifier(g.policy().require_proof_of_possession(true)),
        ))
        .build()
        .unwrap_err();
        assert_eq!(err.code(), "invalid_configuration");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_ancestor_refuses_the_leaf() {
    bounded(async {
        let mut f = Fixture::new().await;
        let table = Arc::new(StatusTable::default());
        let verifier = f.verifier(f.policy()).with_status_source(table.clone());
        let auth = PassportAuth::builder(Arc::new(verifier))
            .dpop(f.dpop())
            .build()
            .unwrap();
        f.serve(auth).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let client = agent_client(leaf.bundle(), Some(key), f.kit.clock.clone());
        assert_eq!(client.get(&f.url("/files")).await.unwrap().status(), 200);
        // Revoke the root.
        let root_jti = f.kit.parent(leaf.bundle()).root().jti.clone();
        table.set(&root_jti, LinkStatus::Revoked);
        let answer = Answer::read(client.get(&f.url("/files")).await.unwrap()).await;
        answer.assert_refused(401, "invalid_token", "revoked");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_unavailable_is_503_without_a_challenge() {
    bounded(async {
        let mut f = Fixture::new().await;
        let verifier = f.verifier(f.policy()).with_status_source(Arc::new(Down));
        let auth = PassportAuth::builder(Arc::new(verifier)).build().unwrap();
        f.serve(auth).await;
        let root = f.root(&["files:read"], None);
        let answer = f.call("GET", "/files", "Bearer", root.bundle(), None).await;
        assert_eq!(answer.status, 503);
        assert_eq!(answer.code(), "status_unavailable");
        assert_eq!(answer.body["error"], "temporarily_unavailable");
        assert!(answer.challenges.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assurance_floor_asks_for_step_up() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let root = f.root(&["files:read"], None);
        let answer = f.call("GET", "/aal3", "Bearer", root.bundle(), None).await;
        answer.assert_refused(401, "insufficient_user_authentication", "insufficient_aal");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_get_bare_challenges() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let answer = f.raw("GET", "/files", &[], &[]).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.code(), "missing_credentials");
        assert_eq!(answer.challenges.len(), 2);
        for c in &answer.challenges {
            assert!(param(c, "error").is_none(), "{c}");
            assert!(param(c, "resource_metadata").is_some(), "{c}");
        }
        // Unsupported scheme: the same (RFC 6750 §3.1).
        let basic = axum::http::HeaderValue::from_static("Basic YWxhZGRpbjpvcGVuc2VzYW1l");
        let answer = f.raw("GET", "/files", &[basic], &[]).await;
        assert_eq!((answer.status, answer.code()), (401, "unsupported_scheme"));
        assert!(answer.error().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_document_is_served_publicly() {
    bounded(async {
        let mut f = Fixture::new().await;
        let auth = f.auth().resource_name("Test files").build().unwrap();
        f.serve(auth).await;
        let response = f
            .http
            .get(f.url("/.well-known/oauth-protected-resource"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let raw: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            raw,
            serde_json::json!({
                "resource": f.base,
                "authorization_servers": [ISS],
                "scopes_supported": ["files:read", "files:write"],
                "bearer_methods_supported": ["header"],
                "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "Ed25519"],
                "resource_name": "Test files",
            })
        );
        let typed: ResourceMetadata = serde_json::from_value(raw).unwrap();
        assert!(!typed.dpop_bound_access_tokens_required);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_path_follows_the_resource_path() {
    let f = Fixture::new().await;
    let auth = f
        .auth()
        .resource(format!("{}/mcp", f.base))
        .authorization_servers(["https://as.example"])
        .build()
        .unwrap();
    assert_eq!(
        auth.metadata_path(),
        "/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        auth.metadata_url(),
        format!("{}/.well-known/oauth-protected-resource/mcp", f.base)
    );
    assert_eq!(
        auth.metadata().authorization_servers,
        ["https://as.example"]
    );
    for bad in [
        "not a url",
        "ftp://h.test/",
        "https://u:p@h.test/",
        "https://h.test/?q=1",
    ] {
        let err = f.auth().resource(bad).build().unwrap_err();
        assert_eq!(err.code(), "invalid_configuration", "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_service_uses_the_full_path_for_htu_and_verifies_once() {
    bounded(async {
        let mut f = Fixture::new().await;
        f.serve(f.auth().build().unwrap()).await;
        let key = Fixture::key();
        let leaf = f.mcp_leaf(&key);
        // Under nest_service the inner router sees `/tools/search`; the
        // proof is for the full URL.
        let ok = f
            .dpop_call(&key, "POST", "/mcp/tools/search", leaf.bundle())
            .await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        let proof = f.proof(&key, "POST", "/tools/search", leaf.bundle());
        let answer = f
            .call(
                "POST",
                "/mcp/tools/search",
                "DPoP",
                leaf.bundle(),
                Some(&proof),
            )
            .await;
        answer.assert_refused(401, "invalid_dpop_proof", "htu_mismatch");
        // /files has two layers (global + files:read) of the same auth: the
        // proof is checked once, so it is not refused as a replay.
        let ok = f.dpop_call(&key, "GET", "/files", leaf.bundle()).await;
        assert_eq!(ok.status, 200, "{ok:#?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_base_url_with_a_prefix() {
    bounded(async {
        // Behind a proxy that maps https://api.example/v1/* to this server.
        let mut f = Fixture::new().await;
        let auth = f
            .auth()
            .public_base_url("https://API.example:443/v1/")
            .build()
            .unwrap();
        f.serve(auth).await;
        let key = Fixture::key();
        let leaf = f.chain3(&key);
        let proof = key
            .proof(
                "GET",
                "https://api.example/v1/files",
                Some(leaf.bundle()),
                None,
                f.now(),
            )
            .unwrap();
        let ok = f
            .call("GET", "/files", "DPoP", leaf.bundle(), Some(&proof))
            .await;
        assert_eq!(ok.status, 200, "{ok:#?}");
        let answer = f.dpop_call(&key, "GET", "/files", leaf.bundle()).await;
        answer.assert_refused(401, "invalid_dpop_proof", "htu_mismatch");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_without_the_layer_is_a_server_error() {
    bounded(async {
        use axum::Router;
        use axum::routing::get;
        use passport_axum::Passport;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/x", get(|_p: Passport| async { "never" }))
            .route(
                "/opt",
                get(|p: Option<Passport>| async move { format!("{}", p.is_some()) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 500);
        let answer = Answer::read(response).await;
        assert_eq!(answer.code(), "passport_layer_missing");
        let response = reqwest::get(url.replace("/x", "/opt")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "false");
    })
    .await;
}

#[test]
fn shared_types_are_send_sync_and_clone() {
    fn send_sync<T: Send + Sync>() {}
    fn clone<T: Clone>() {}
    send_sync::<PassportAuth>();
    clone::<PassportAuth>();
    send_sync::<passport_axum::Passport>();
    clone::<passport_axum::Passport>();
    send_sync::<passport_axum::PassportLayer>();
    send_sync::<PassportClient>();
    send_sync::<passport_axum::Rejection>();
}

/// The agent's client (passport-agent) on the fixture's clock.
fn agent_client(
    bundle: &str,
    key: Option<passport_dpop::DpopKey>,
    clock: Arc<dyn passport_claims::Clock>,
) -> PassportClient {
    PassportClient::builder(Credentials::new(bundle, key))
        .clock(clock)
        .build()
}
