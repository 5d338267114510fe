//! The attacks the peers fell to (issue 13, "Tests"), each against a real
//! server on 127.0.0.1:0, where the other modules do not already feed it:
//! `alg: none` at every endpoint that reads a JWT (introspection, revocation,
//! client assertions at `/token` and `/introspect`, a DPoP proof at token
//! exchange, the upstream ID token of the `/authorize` callback), a
//! replayed DPoP proof at token exchange, an exchange with no client
//! authentication, revocations under concurrent load (authgent-server lost
//! half), `act` in introspection and a synchronous cascade (Keycloak omits
//! `act`, ZeroID cascades asynchronously), and no administration over HTTP
//! (authgent-server's admin endpoints were unauthenticated).
//! docs/threat-model.md lists every attack with the test that proves it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use passport_claims::PASSPORT_TYP;
use passport_dpop::DpopKey;
use passport_jose::{Algorithm, JwkSet, SigningKey};
use passport_oidc::{OidcConfig, Provider};
use passport_server::WorkloadClient;
use passport_server::client_auth::JWT_BEARER_ASSERTION;
use passport_store::server::PassportState;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Map, Value, json};

use crate::clients::{KeyClient, revoke_with};
use crate::endpoints::{
    RESOURCE, Running, authorize_url, dpop_refused, expect_error, expect_refusal, fetch_list,
    no_redirects, start, start_with,
};
use crate::exchange::{CHILD_RESOURCE, EXCHANGE, JWT, bound_passport, exchange, links, now};

fn b64(v: &Value) -> String {
    passport_jose::b64::encode(serde_json::to_vec(v).unwrap())
}

/// `jws` (one compact JWS) with its header replaced by `alg: none` (with
/// the server's `kid` if given) and its signature by `signature`.
fn alg_none(jws: &str, kid: Option<&str>, signature: &str) -> String {
    let payload = jws.split('.').nth(1).unwrap();
    let mut header = json!({"alg": "none", "typ": PASSPORT_TYP});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    format!("{}.{payload}.{signature}", b64(&header))
}

/// Every `alg: none` forgery of `bundle`: each link in turn, with and
/// without the server's `kid`, with an empty and a made-up signature.
fn forgeries(bundle: &str, kid: &str) -> Vec<String> {
    let links: Vec<&str> = bundle.split('~').collect();
    let mut out = Vec::new();
    for at in 0..links.len() {
        for kid in [None, Some(kid)] {
            for signature in ["", "AAAA"] {
                let mut forged: Vec<String> = links.iter().map(|l| (*l).to_owned()).collect();
                forged[at] = alg_none(links[at], kid, signature);
                out.push(forged.join("~"));
            }
        }
    }
    out
}

async fn introspect(s: &Running, caller: &WorkloadClient, token: &str) -> Value {
    let r = s
        .post_authenticated("/introspect", caller, &[("token", token)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn state_of(s: &Running, bundle: &str) -> PassportState {
    let jti = links(bundle)[0].jti.clone();
    let record = s.record(&jti).await;
    record.state
}

/// Each of `bundles` is inactive at introspection (asked first), revoked
/// in the registry, and set in the signed status list.
async fn assert_revoked_everywhere(s: &Running, caller: &WorkloadClient, bundles: &[&String]) {
    for bundle in bundles {
        let answer = introspect(s, caller, bundle).await;
        assert_eq!(answer, json!({"active": false}), "{bundle:.40}");
        assert_eq!(state_of(s, bundle).await, PassportState::Revoked);
    }
    let list = fetch_list(s).await;
    for bundle in bundles {
        let idx = links(bundle)[0].status.as_ref().unwrap().idx();
        assert_eq!(list.list.get(idx).unwrap(), 1, "index {idx}");
    }
}

/// A root for `orchestrator`, delegated through an actor token to
/// `sub_agent` (bound to `sub_key`), delegated again by the sub-agent:
/// (root, child, grandchild).
async fn three_generations(
    s: &Running,
    orchestrator: &WorkloadClient,
    sub_agent: &WorkloadClient,
    sub_key: &DpopKey,
) -> (String, String, String) {
    let root = s.mint(orchestrator, "files:*").await;
    let actor = bound_passport(s, sub_agent, sub_key, None, now()).await;
    let r = crate::actor_token::delegate_to(s, orchestrator, &root, &actor, JWT).await;
    assert_eq!(r.status(), StatusCode::OK);
    let child: Value = r.json().await.unwrap();
    let child = child["access_token"].as_str().unwrap().to_owned();
    let proof = s.token_proof(sub_key);
    let r = exchange(
        s,
        sub_agent,
        &child,
        &[("resource", CHILD_RESOURCE)],
        Some(&proof),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let grandchild: Value = r.json().await.unwrap();
    let grandchild = grandchild["access_token"].as_str().unwrap().to_owned();
    (root, child, grandchild)
}

// ---- alg: none, endpoint by endpoint ----

#[tokio::test]
async fn alg_none_at_introspect_is_inactive() {
    let s = start().await;
    let orchestrator = s.workload("files:*").await;
    let sub_agent = s.workload("files:read").await;
    let caller = s.workload("introspect").await;
    let sub_key = DpopKey::generate(Algorithm::ES256).unwrap();
    let (root, child, _) = three_generations(&s, &orchestrator, &sub_agent, &sub_key).await;
    for genuine in [&root, &child] {
        // the genuine passport is active: the forgeries differ only in alg
        assert_eq!(introspect(&s, &caller, genuine).await["active"], true);
        for forged in forgeries(genuine, &s.server.kid()) {
            let answer = introspect(&s, &caller, &forged).await;
            assert_eq!(answer, json!({"active": false}), "{forged:.60}");
        }
    }
}

#[tokio::test]
async fn alg_none_at_revoke_is_200_and_revokes_nothing() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let caller = s.workload("introspect").await;
    let bundle = s.mint(&client, "files:read").await;
    let idx = links(&bundle)[0].status.as_ref().unwrap().idx();
    for forged in forgeries(&bundle, &s.server.kid()) {
        let r = s
            .post_authenticated("/revoke", &client, &[("token", &forged)])
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "RFC 7009: 200 for an invalid token"
        );
    }
    assert_eq!(state_of(&s, &bundle).await, PassportState::Active);
    assert_eq!(introspect(&s, &caller, &bundle).await["active"], true);
    assert_eq!(fetch_list(&s).await.list.get(idx).unwrap(), 0);
    // the control: the genuine token is revoked by the same call
    let r = s
        .post_authenticated("/revoke", &client, &[("token", &bundle)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(state_of(&s, &bundle).await, PassportState::Revoked);
    assert_eq!(fetch_list(&s).await.list.get(idx).unwrap(), 1);
}

#[tokio::test]
async fn alg_none_client_assertions_are_refused_at_token_and_introspect() {
    let s = start().await;
    let c = KeyClient::register(&s).await;
    let kid = c.key.kid().to_owned();
    for (path, extra) in [
        (
            "/token",
            [("grant_type", "client_credentials"), ("resource", RESOURCE)],
        ),
        ("/introspect", [("token", "x"), ("token_type_hint", "jwt")]),
    ] {
        for (i, alg) in ["none", "None"].into_iter().enumerate() {
            let header = json!({"alg": alg, "kid": kid});
            let assertion = c.forged(&header, &c.claims(&s.url, &format!("{path}-{i}")));
            let mut form = vec![
                ("client_assertion_type", JWT_BEARER_ASSERTION),
                ("client_assertion", assertion.as_str()),
            ];
            form.extend_from_slice(&extra);
            let r = s.post(path, None, &form).await;
            expect_refusal(r, StatusCode::UNAUTHORIZED, "invalid_client", "alg_none").await;
        }
    }
    // the control: the same client authenticates with a signed assertion
    // (at /revoke: introspection is for operator-registered clients only)
    let signed = c.sign(&c.claims(&s.url, "signed"));
    assert_eq!(revoke_with(&s, &signed).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn alg_none_subject_tokens_and_dpop_proofs_are_refused_at_token_exchange() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let root = s.mint(&client, "files:*").await;
    for forged in forgeries(&root, &s.server.kid()) {
        let r = exchange(&s, &client, &forged, &[("resource", RESOURCE)], None).await;
        let why = "the subject token is not an active passport";
        expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_grant", why).await;
    }
    // a bound subject: a proof by its key, but unsigned (`alg: none`)
    let holder = DpopKey::generate(Algorithm::ES256).unwrap();
    let bound = bound_passport(&s, &client, &holder, None, now()).await;
    let header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": holder.public_jwk()});
    let claims = json!({"jti": "x-none", "htm": "POST", "htu": s.at("/token"), "iat": now()});
    let proof = format!("{}.{}.AAAA", b64(&header), b64(&claims));
    let r = exchange(&s, &client, &bound, &[("resource", RESOURCE)], Some(&proof)).await;
    dpop_refused(r, "dpop_alg_none:").await;
    // the control: a signed proof by the same key exchanges the same subject
    let proof = s.token_proof(&holder);
    let r = exchange(&s, &client, &bound, &[("resource", RESOURCE)], Some(&proof)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

// ---- alg: none in the upstream ID token of the /authorize callback ----

/// An OpenID provider on loopback that signs its ID tokens with `key`, or
/// — `unsigned` — sends them with `alg: none` and `signature`.
#[derive(Clone)]
struct Upstream {
    base: String,
    key: Arc<SigningKey>,
    unsigned: Option<&'static str>,
    nonce: Arc<Mutex<String>>,
}

const UPSTREAM_CLIENT: &str = "passport-server";

async fn upstream(unsigned: Option<&'static str>) -> (Upstream, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = Upstream {
        base: format!("http://{}", listener.local_addr().unwrap()),
        key: Arc::new(SigningKey::generate(Algorithm::ES256).unwrap()),
        unsigned,
        nonce: Arc::default(),
    };
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(up): State<Upstream>| async move {
                axum::Json(json!({
                    "issuer": up.base,
                    "authorization_endpoint": format!("{}/authorize", up.base),
                    "token_endpoint": format!("{}/token", up.base),
                    "jwks_uri": format!("{}/jwks", up.base),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["ES256"],
                    "code_challenge_methods_supported": ["S256"],
                    "authorization_response_iss_parameter_supported": true,
                }))
            }),
        )
        .route(
            "/jwks",
            get(|State(up): State<Upstream>| async move {
                axum::Json(
                    JwkSet::from_keys([up.key.verifying_key()])
                        .unwrap()
                        .to_json(),
                )
            }),
        )
        .route(
            "/authorize",
            get(
                |State(up): State<Upstream>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    *up.nonce.lock().unwrap() = q["nonce"].clone();
                    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
                    to.query_pairs_mut()
                        .append_pair("code", "upstream-code")
                        .append_pair("state", &q["state"])
                        .append_pair("iss", &up.base);
                    Redirect::to(to.as_str()).into_response()
                },
            ),
        )
        .route(
            "/token",
            post(|State(up): State<Upstream>| async move {
                let claims = json!({
                    "iss": up.base, "sub": "alice", "aud": UPSTREAM_CLIENT,
                    "iat": now(), "exp": now() + 300,
                    "nonce": up.nonce.lock().unwrap().clone(),
                });
                let mut header = Map::new();
                header.insert("kid".into(), json!(up.key.kid()));
                header.insert("typ".into(), json!("JWT"));
                let id_token = match up.unsigned {
                    None => {
                        header.insert("alg".into(), json!("ES256"));
                        up.key
                            .sign_compact_with_header(&header, claims.to_string().as_bytes())
                            .unwrap()
                    }
                    Some(signature) => {
                        header.insert("alg".into(), json!("none"));
                        format!(
                            "{}.{}.{signature}",
                            b64(&Value::Object(header)),
                            b64(&claims)
                        )
                    }
                };
                axum::Json(json!({
                    "access_token": "upstream-access", "token_type": "Bearer",
                    "expires_in": 300, "id_token": id_token,
                }))
            }),
        )
        .with_state(up.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (up, task)
}

/// A server whose upstream is `up`, with the client `app`; a client that
/// follows no redirect; the URL of an authorization request with `extra`.
async fn authorize_at(up: &Upstream, extra: &[(&str, &str)]) -> (Running, reqwest::Client, String) {
    let provider = Provider::new(OidcConfig::new(
        format!("{}/.well-known/openid-configuration", up.base),
        UPSTREAM_CLIENT,
    ))
    .unwrap();
    let s = start_with(tempfile::tempdir().unwrap(), |b| b.upstream(provider)).await;
    crate::authorize_flow::register_client(&s, "app", json!({}), "authorization_code").await;
    let mut params = vec![("state", "st"), ("scope", "tools:read")];
    params.extend_from_slice(extra);
    let url = authorize_url(&s, ("app", crate::authorize_flow::REDIRECT), &params);
    (s, no_redirects(), url.to_string())
}

/// The query parameters of `response`'s `Location`, which must be the
/// client's redirect URI.
fn redirected_to_client(response: &reqwest::Response) -> Vec<(String, String)> {
    let to = response.headers()[LOCATION].to_str().unwrap();
    assert!(to.starts_with(crate::authorize_flow::REDIRECT), "{to}");
    url::Url::parse(to)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// `/authorize` through the login at `up` to the callback's answer.
async fn login_through(up: &Upstream) -> (Running, reqwest::Response) {
    let (s, http, mut next) = authorize_at(up, &[]).await;
    // /authorize → the upstream's /authorize → our callback
    for _ in 0..2 {
        let r = http.get(&next).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        next = r.headers()[LOCATION].to_str().unwrap().to_owned();
    }
    assert!(next.starts_with(&s.at("/authorize/callback")), "{next}");
    let answer = http.get(&next).send().await.unwrap();
    (s, answer)
}

#[tokio::test]
async fn an_alg_none_request_object_at_authorize_is_refused_unread() {
    let (up, task) = upstream(None).await;
    let claims = json!({"client_id": "app", "redirect_uri": "https://evil.example/cb"});
    let object = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    for name in ["request", "request_uri"] {
        let (s, http, url) = authorize_at(&up, &[(name, &object)]).await;
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let params = redirected_to_client(&r);
        assert_eq!(param(&params, "error").as_deref(), Some("invalid_request"));
        assert_eq!(param(&params, "iss").as_deref(), Some(s.server.issuer()));
        let description = param(&params, "error_description").unwrap();
        assert_eq!(description, "request objects are not supported");
    }
    task.abort();
}

#[tokio::test]
async fn an_upstream_id_token_with_alg_none_ends_the_login_as_access_denied() {
    // the control: the same provider signing its ID token gets the consent page
    let (up, task) = upstream(None).await;
    let (_s, answer) = login_through(&up).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().await.unwrap().contains("name=\"csrf\""));
    task.abort();
    for signature in ["", "AAAA"] {
        let (up, task) = upstream(Some(signature)).await;
        let (s, answer) = login_through(&up).await;
        assert_eq!(answer.status(), StatusCode::FOUND);
        let params = redirected_to_client(&answer);
        assert_eq!(param(&params, "error").as_deref(), Some("access_denied"));
        assert_eq!(param(&params, "iss").as_deref(), Some(s.server.issuer()));
        assert_eq!(param(&params, "code"), None);
        let description = param(&params, "error_description").unwrap();
        let why = if signature.is_empty() {
            "malformed_token"
        } else {
            "alg_none"
        };
        assert!(description.contains(why), "{description}");
        task.abort();
    }
}

// ---- issuance without client authentication, replayed DPoP ----

#[tokio::test]
async fn a_token_exchange_without_client_authentication_is_invalid_client() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let root = s.mint(&client, "files:*").await;
    let base = [
        ("grant_type", EXCHANGE),
        ("subject_token", root.as_str()),
        ("subject_token_type", JWT),
        ("resource", RESOURCE),
    ];
    // nothing at all, a client_id alone, a wrong secret in the body
    let id_only = [("client_id", client.client_id.as_str())];
    let wrong = [
        ("client_id", client.client_id.as_str()),
        ("client_secret", "not-the-secret"),
    ];
    for extra in [&[][..], &id_only[..], &wrong[..]] {
        let mut form = base.to_vec();
        form.extend_from_slice(extra);
        let r = s.post("/token", None, &form).await;
        expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    // the control
    let r = exchange(&s, &client, &root, &[("resource", RESOURCE)], None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_dpop_proof_is_refused_at_token_exchange() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let holder = DpopKey::generate(Algorithm::ES256).unwrap();
    let bound = bound_passport(&s, &client, &holder, None, now()).await;
    let proof = s.token_proof(&holder);
    let r = exchange(&s, &client, &bound, &[("resource", RESOURCE)], Some(&proof)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = exchange(&s, &client, &bound, &[("resource", RESOURCE)], Some(&proof)).await;
    dpop_refused(r, "replay:").await;
}

// ---- revocation: under concurrent load, synchronous cascade, act ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_revocations_lose_nothing() {
    const N: usize = 40;
    let s = start().await;
    let caller = s.workload("introspect").await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(Arc::new(s.workload("files:read").await));
    }
    let mut minted = Vec::new();
    for i in 0..N {
        let client = clients[i % clients.len()].clone();
        let bundle = s.mint(&client, "files:read").await;
        assert_eq!(state_of(&s, &bundle).await, PassportState::Active);
        minted.push((client, bundle));
    }
    // all N at once, each from its own task
    let mut tasks = tokio::task::JoinSet::new();
    for (client, bundle) in minted.clone() {
        let (http, url) = (s.http.clone(), s.at("/revoke"));
        tasks.spawn(async move {
            http.post(url)
                .basic_auth(&client.client_id, Some(client.secret.expose()))
                .form(&[("token", bundle.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let statuses = tokio::time::timeout(Duration::from_secs(60), tasks.join_all())
        .await
        .expect("40 revocations within a minute");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let bundles: Vec<&String> = minted.iter().map(|(_, b)| b).collect();
    assert_revoked_everywhere(&s, &caller, &bundles).await;
}

#[tokio::test]
async fn introspection_carries_act_and_a_cascade_is_synchronous() {
    let s = start().await;
    let orchestrator = s.workload("files:*").await;
    let sub_agent = s.workload("files:read").await;
    let caller = s.workload("introspect").await;
    let sub_key = DpopKey::generate(Algorithm::ES256).unwrap();
    let (root, child, grandchild) =
        three_generations(&s, &orchestrator, &sub_agent, &sub_key).await;

    // act: the acting agent, wrapping the delegating one (RFC 8693 §4.1)
    let answer = introspect(&s, &caller, &child).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["act"]["sub"], sub_agent.client_id.as_str());
    assert_eq!(answer["act"]["act"]["sub"], orchestrator.client_id.as_str());
    for bundle in [&child, &grandchild] {
        let answer = introspect(&s, &caller, bundle).await;
        assert_eq!(answer["active"], true);
        let act = serde_json::to_value(&links(bundle)[0].act).unwrap();
        assert_eq!(answer["act"], act, "the verified leaf's act, whole");
        assert_eq!(answer["cnf"]["jkt"], sub_key.jkt());
    }

    // the root revoked: the very next introspection of each descendant says
    // inactive, with no time passing and nothing else in between
    let r = s
        .post_authenticated("/revoke", &orchestrator, &[("token", &root)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_revoked_everywhere(&s, &caller, &[&grandchild, &child, &root]).await;
}

// ---- administration ----

/// There is no administration over HTTP: operators register workloads and
/// rotate keys with `passport serve --register-workload` / `--rotate-key`
/// on the database. No path that looks administrative answers.
#[tokio::test]
async fn no_administrative_path_answers() {
    let s = start().await;
    let client = s.workload("files:read").await;
    let id = client.client_id.clone();
    // `/admin` is the dashboard now: a client's credentials only get the
    // way to the administrators' login (admin_session.rs tests the rest)
    let r = no_redirects()
        .get(s.at("/admin"))
        .basic_auth(&id, Some(client.secret.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], s.at("/admin/login"));
    let paths = [
        "/admin/clients".to_owned(),
        "/admin/keys".to_owned(),
        "/clients".to_owned(),
        format!("/clients/{id}"),
        format!("/register/{id}"),
        "/keys".to_owned(),
        "/keys/rotate".to_owned(),
        "/passports".to_owned(),
        "/revocations".to_owned(),
        "/api/clients".to_owned(),
        "/status".to_owned(),
    ];
    for path in &paths {
        for method in [
            reqwest::Method::GET,
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let r = s
                .http
                .request(method.clone(), s.at(path))
                .basic_auth(&id, Some(client.secret.expose()))
                .json(&json!({"client_id": id, "scope": "files:*"}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status}"
            );
        }
    }
    // the registration endpoint only registers: it reads, changes and
    // deletes nothing (no RFC 7592 management)
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let r = s
            .http
            .request(method.clone(), s.at("/register"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let registered = s.registered(&crate::clients::public_client()).await;
    assert!(registered.get("registration_access_token").is_none());
    assert!(registered.get("registration_client_uri").is_none());
    // the workload's record is unchanged by all of the above
    let record = s.server.database().client(&id).await.unwrap().unwrap();
    assert_eq!(record.scopes, "files:read");
}
