//! Several instances, one database (issue 15): two instances under one
//! issuer name, on one SQLite file — or, in `scripts/test.sh`'s second pass
//! (`PASSPORT_SERVER_TEST_BACKEND=postgres`), one PostgreSQL database —
//! act as one for what a client or a verifier can observe:
//! - a revocation on A is refused by B's introspection at once, and by a
//!   status-list verifier fed from B as soon as it holds a list fetched
//!   after the revocation — at the latest one list `ttl` later, since the
//!   list it held before is refused as stale past its `ttl`;
//! - a DPoP proof spent at A's `/token` is a replay at B's;
//! - an authorization code redeemed at A is refused at B;
//! - a rotation started on A is served by B (`shared_state.rs`, whose
//!   rotation test verifies B's passports with B's JWKS through
//!   [`verifier_of`]).
//!
//! - a kill-switch engaged on A is refused by B's introspection and
//!   issuance at once and by a status-list verifier fed from B; lifted on
//!   B, issuance works again on A;
//! - each instance keeps its signed status list until it changes: a
//!   revocation on B is in the list A serves at once, an unchanged list
//!   is not signed again, and both name the same `iat`.
//!
//! The other multi-instance tests: `shared_state.rs` (revocation cascade
//! across instances, distinct status indices under concurrent mints, key
//! rotation) and `postgres.rs` (PostgreSQL only).

use std::sync::Arc;

use base64::Engine as _;
use passport_claims::{Clock as _, ManualClock};
use passport_dpop::DpopKey;
use passport_jose::{Algorithm, JwkSet};
use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::WorkloadClient;
use passport_server::client_auth::ClientSecret;
use passport_server::pkce::CodeChallenge;
use passport_status::StatusListSource;
use passport_store::server::{ClientKind, NewClient, NewCode, TokenHash};
use passport_verifier::{InMemoryKeyStore, KeyStore, VerificationPolicy, Verifier};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::endpoints::{RESOURCE, expect_refusal};
use crate::kill_switch::{ROLES, api_at, id_token, killed};
use crate::shared_state::{Instance, pair, pair_with, wall_clock};

/// The status list's `ttl` in these tests (seconds).
const LIST_TTL: u64 = 30;

/// A key store holding the keys `instance` publishes, for the shared issuer.
pub(crate) async fn keys_of(instance: &Instance) -> Arc<InMemoryKeyStore> {
    let jwks = reqwest::get(format!("{}/jwks.json", instance.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Arc::new(
        InMemoryKeyStore::from_jwks(
            instance.server.issuer(),
            &JwkSet::from_json(jwks.as_bytes()).unwrap(),
        )
        .unwrap(),
    )
}

/// A status-list source trusting the shared issuer, on `clock`.
pub(crate) fn list_source(
    instance: &Instance,
    keys: Arc<InMemoryKeyStore>,
    clock: &Arc<ManualClock>,
) -> Arc<StatusListSource> {
    let issuer = instance.server.issuer();
    Arc::new(
        StatusListSource::new(keys)
            .trust_issuer(issuer, format!("{issuer}/status"))
            .with_clock(clock.clone()),
    )
}

/// Fetches the served status list from `instance` (whatever instance the
/// issuer's name points at) into `source`.
pub(crate) async fn feed_list(instance: &Instance, source: &StatusListSource) {
    let token = reqwest::get(format!("{}/status/1", instance.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    source.add_token(&token).unwrap();
}

/// A verifier of the shared issuer's passports for [`RESOURCE`] with the
/// keys `instance` publishes, on `clock`, answering revocation from
/// `status` (or ignoring it).
pub(crate) async fn verifier_of(
    instance: &Instance,
    clock: &Arc<ManualClock>,
    status: Option<Arc<StatusListSource>>,
) -> Verifier {
    let keys: Arc<dyn KeyStore> = keys_of(instance).await;
    let policy = VerificationPolicy::new(instance.server.issuer(), RESOURCE);
    let verifier = Verifier::with_key_store(policy, keys)
        .unwrap()
        .with_clock(clock.clone());
    match status {
        Some(source) => verifier.with_status_source(source),
        None => verifier.dangerous_ignore_status(),
    }
}

/// A workload client `alice` (`files:*`) registered on A, an
/// introspecting client registered on B, a passport A minted for alice and
/// its child B delegated.
struct Family {
    owner: WorkloadClient,
    caller: WorkloadClient,
    parent: String,
    child: String,
}

async fn family(a: &Instance, b: &Instance) -> Family {
    let owner = a
        .server
        .register_workload_client("alice", "files:*")
        .await
        .unwrap();
    let caller = b
        .server
        .register_workload_client("tool", "introspect")
        .await
        .unwrap();
    let parent = a.mint(&owner, "files:*").await;
    let child = b.exchange(&owner, &parent, "files:read").await;
    Family {
        owner,
        caller,
        parent,
        child,
    }
}

/// A status-list source and a verifier using it, fed the list `instance`
/// serves now.
async fn fed_from(
    instance: &Instance,
    clock: &Arc<ManualClock>,
) -> (Arc<StatusListSource>, Verifier) {
    let keys = keys_of(instance).await;
    let source = list_source(instance, keys, clock);
    let verifier = verifier_of(instance, clock, Some(source.clone())).await;
    feed_list(instance, &source).await;
    (source, verifier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_reaches_a_status_list_verifier_fed_from_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair_with(&dir, &clock, |builder| builder.status_ttl(LIST_TTL)).await;
    let Family {
        owner,
        caller,
        parent,
        child,
    } = family(&a, &b).await;
    let (source, verifier) = fed_from(&b, &clock).await;
    verifier.verify_str(&child).unwrap();
    assert!(b.active(&caller, &child).await);

    // revoked on A: B's introspection refuses parent and child at once
    a.post("/revoke", &owner, &[("token", &parent)]).await;
    assert!(!b.active(&caller, &parent).await);
    assert!(!b.active(&caller, &child).await);

    // the list B serves says so; its ttl bounds how long a verifier keeps
    // the list it held before
    let listed = reqwest::get(format!("{}/status/1", b.url)).await.unwrap();
    assert_eq!(
        listed.headers()["cache-control"],
        format!("public, max-age={LIST_TTL}").as_str()
    );
    // within the ttl the old list is still the verifier's answer (the
    // documented window) …
    clock.advance(LIST_TTL as i64 - 1);
    verifier.verify_str(&child).unwrap();
    // … past it, that list is refused (fail closed), never trusted longer
    clock.advance(2);
    let stale = verifier.verify_str(&child).unwrap_err();
    assert_eq!(stale.code(), "status_unavailable", "{stale}");
    // and the list it fetches from B refuses the child and the parent
    feed_list(&b, &source).await;
    for revoked in [&child, &parent] {
        let e = verifier.verify_str(revoked).unwrap_err();
        assert_eq!(e.root_cause().code(), "revoked", "{e}");
    }
    // a passport minted since, on either instance, is still accepted
    let fresh = a.mint(&owner, "files:read").await;
    verifier.verify_str(&fresh).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_spent_at_one_instances_token_endpoint_is_a_replay_at_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let client = a
        .server
        .register_workload_client("alice", "files:read")
        .await
        .unwrap();
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    // the proof names the issuer's token endpoint, which both serve
    let proof = key
        .proof(
            "POST",
            &format!("{}/token", a.server.issuer()),
            None,
            None,
            clock.now(),
        )
        .unwrap();
    let token = |instance: &Instance| {
        reqwest::Client::new()
            .post(format!("{}/token", instance.url))
            .basic_auth(&client.client_id, Some(client.secret.expose()))
            .header("DPoP", proof.clone())
            .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
            .send()
    };
    let first = token(&a).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let replay = token(&b).await.unwrap();
    expect_refusal(
        replay,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        "replay:",
    )
    .await;
    // and back at A, too
    let again = token(&a).await.unwrap();
    expect_refusal(
        again,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
        "replay:",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_code_redeemed_at_one_instance_is_refused_at_the_other() {
    const REDIRECT: &str = "http://127.0.0.1:9999/callback";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let (secret, hash) = ClientSecret::generate().unwrap();
    let db = a.server.database();
    db.insert_client(NewClient {
        client_id: "app".into(),
        kind: ClientKind::Confidential,
        secret_hash: Some(hash.to_b64()),
        auth_method: "client_secret_basic".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: "files:read".into(),
        owner: None,
        jwks: None,
        metadata: "{}".into(),
        created_at: clock.now(),
    })
    .await
    .unwrap();
    // stored as /authorize stores it (hashed, with the principal's JSON)
    db.insert_code(NewCode {
        code: TokenHash::of("the-code"),
        client_id: "app".into(),
        redirect_uri: REDIRECT.into(),
        code_challenge: CodeChallenge::s256(VERIFIER).unwrap().as_str().to_owned(),
        resource: RESOURCE.into(),
        scope: "files:read".into(),
        claims: r#"{"issuer":"https://idp.example","subject":"alice","acr":null,"ial":null,"aal":null,"fal":null}"#.into(),
        expires_at: clock.now() + 60,
    })
    .await
    .unwrap();
    let redeem = |instance: &Instance| {
        reqwest::Client::new()
            .post(format!("{}/token", instance.url))
            .basic_auth("app", Some(secret.expose()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "the-code"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])
            .send()
    };
    let first = redeem(&a).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let body: Value = first.json().await.unwrap();
    let passport = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let second = redeem(&b).await.unwrap();
    expect_refusal(
        second,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code_reused",
    )
    .await;
    // the reuse revoked what the code gave (RFC 9700 §4.5.3.1 — the
    // service's rule on one instance, kept across two): the refresh token
    // is refused at A, where it was issued
    let r = reqwest::Client::new()
        .post(format!("{}/token", a.url))
        .basic_auth("app", Some(secret.expose()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap();
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh_token_revoked",
    )
    .await;
    let caller = a
        .server
        .register_workload_client("tool", "introspect")
        .await
        .unwrap();
    assert!(!a.active(&caller, &passport).await);
}

/// The status list `instance` serves, as text.
async fn served_list(instance: &Instance) -> String {
    reqwest::get(format!("{}/status/1", instance.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The `iat` of a served status list token (read, not verified).
fn iat_of(token: &str) -> i64 {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["iat"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_switch_engaged_on_one_instance_holds_on_the_other_and_in_its_status_list() {
    let mock = MockOidc::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair_with(&dir, &clock, |builder| {
        let provider =
            Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id())).unwrap();
        builder
            .status_ttl(LIST_TTL)
            .upstream(provider)
            .admin_roles(&ROLES)
    })
    .await;
    let admin = id_token(&mock, "olivia", &["owners"]);
    let Family {
        owner: agent,
        caller,
        parent,
        child,
    } = family(&a, &b).await;
    let bystander = a
        .server
        .register_workload_client("bob", "files:*")
        .await
        .unwrap();
    let other = a.mint(&bystander, "files:read").await;
    let (source, verifier) = fed_from(&b, &clock).await;
    verifier.verify_str(&child).unwrap();
    assert!(b.active(&caller, &parent).await);

    // engaged on A
    let engaged = api_at(
        &a.url,
        Some(&admin),
        Method::POST,
        "/admin/api/kill-switches",
        Some(json!({"kind": "agent", "subject": agent.client_id, "reason": "compromised"})),
    )
    .await;
    assert_eq!(engaged.status(), StatusCode::OK);
    // B's introspection: inactive at once, for all it held; not the bystander's
    assert!(!b.active(&caller, &parent).await);
    assert!(!b.active(&caller, &child).await);
    assert!(b.active(&caller, &other).await);
    // B refuses new issuance for the agent
    let refused = reqwest::Client::new()
        .post(format!("{}/token", b.url))
        .basic_auth(&agent.client_id, Some(agent.secret.expose()))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap();
    killed(refused, &format!("kill-switch: agent {}", agent.client_id)).await;
    // the list B serves now (no later than one `ttl` after the verifier's
    // last fetch) refuses both; the bystander's passport still passes
    feed_list(&b, &source).await;
    for revoked in [&parent, &child] {
        let e = verifier.verify_str(revoked).unwrap_err();
        assert_eq!(e.root_cause().code(), "revoked", "{e}");
    }
    verifier.verify_str(&other).unwrap();

    // lifted on B: A issues again, and the new passport is valid everywhere
    let lifted = api_at(
        &b.url,
        Some(&admin),
        Method::POST,
        "/admin/api/kill-switches/lift",
        Some(json!({"kind": "agent", "subject": agent.client_id})),
    )
    .await;
    assert_eq!(lifted.status(), StatusCode::OK);
    let fresh = a.mint(&agent, "files:read").await;
    assert!(b.active(&caller, &fresh).await);
    feed_list(&b, &source).await;
    verifier.verify_str(&fresh).unwrap();
    // what the switch revoked stays revoked
    assert!(!b.active(&caller, &parent).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_keeps_its_signed_status_list_until_a_revocation_anywhere_or_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    // at the start of a period of `ttl` seconds: a list's `iat`
    clock.advance(LIST_TTL as i64 - clock.now().rem_euclid(LIST_TTL as i64));
    let (a, b) = pair_with(&dir, &clock, |builder| builder.status_ttl(LIST_TTL)).await;
    let owner = a
        .server
        .register_workload_client("alice", "files:*")
        .await
        .unwrap();
    let passport = a.mint(&owner, "files:read").await;

    let first = served_list(&a).await;
    assert_eq!(iat_of(&first), clock.now());
    let signed = a.server.status_list_signatures();
    // nothing changed: the same list, not signed again
    clock.advance(LIST_TTL as i64 - 1);
    for _ in 0..3 {
        assert_eq!(served_list(&a).await, first);
    }
    assert_eq!(a.server.status_list_signatures(), signed);

    // revoked on B: the list A serves says so at once, signed once more,
    // its `iat` the revocation's time (later than the list before it)
    let revoked_at = clock.now();
    b.post("/revoke", &owner, &[("token", &passport)]).await;
    let second = served_list(&a).await;
    assert_ne!(second, first);
    assert_eq!(iat_of(&second), revoked_at);
    assert!(iat_of(&second) > iat_of(&first));
    assert_eq!(a.server.status_list_signatures(), signed + 1);
    assert_eq!(served_list(&a).await, second);
    assert_eq!(a.server.status_list_signatures(), signed + 1);
    let source = list_source(&a, keys_of(&a).await, &clock);
    source.add_token(&first).unwrap();
    let verifier = verifier_of(&a, &clock, Some(source.clone())).await;
    verifier.verify_str(&passport).unwrap();
    // newer than the list before: a verifier takes it
    source.add_token(&second).unwrap();
    let e = verifier.verify_str(&passport).unwrap_err();
    assert_eq!(e.root_cause().code(), "revoked", "{e}");
    // B serves the same list (same state, key and `iat`)
    assert_eq!(served_list(&b).await, second);

    // at the next period, a list is signed again: never served older than
    // a `ttl`
    clock.advance(1);
    let third = served_list(&a).await;
    assert_eq!(iat_of(&third), iat_of(&first) + LIST_TTL as i64);
    assert!(iat_of(&third) > iat_of(&second));
    assert_eq!(a.server.status_list_signatures(), signed + 2);
    source.add_token(&third).unwrap();
    let e = verifier.verify_str(&passport).unwrap_err();
    assert_eq!(e.root_cause().code(), "revoked", "{e}");
}
