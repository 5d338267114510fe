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
use passport_status::StatusListSource;
use passport_verifier::{InMemoryKeyStore, KeyStore, VerificationPolicy, Verifier};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::code_grant::{client, code_for, ok, redeem, refresh};
use crate::endpoints::{RESOURCE, Running, cc_form, dpop_refused, expect_refusal};
use crate::kill_switch::{ROLES, api_at, id_token, killed};
use crate::shared_state::{pair, pair_with, wall_clock};

/// The status list's `ttl` in these tests (seconds).
const LIST_TTL: u64 = 30;

/// A key store holding the keys `instance` publishes, for the shared issuer.
pub(crate) async fn keys_of(instance: &Running) -> Arc<InMemoryKeyStore> {
    let jwks = instance.get("/jwks.json").await.text().await.unwrap();
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
    instance: &Running,
    keys: Arc<InMemoryKeyStore>,
    clock: &Arc<ManualClock>,
) -> Arc<StatusListSource> {
    let issuer = instance.server.issuer();
    Arc::new(
        StatusListSource::new(keys)
            .trust_issuer(issuer, format!("{issuer}/status"))
            .unwrap()
            .with_clock(clock.clone()),
    )
}

/// Fetches the served status list from `instance` (whatever instance the
/// issuer's name points at) into `source`.
pub(crate) async fn feed_list(instance: &Running, source: &StatusListSource) {
    source.add_token(&instance.served_list().await).unwrap();
}

/// A verifier of the shared issuer's passports for [`RESOURCE`] with the
/// keys `instance` publishes, on `clock`, answering revocation from
/// `status` (or ignoring it).
pub(crate) async fn verifier_of(
    instance: &Running,
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

/// Two instances ([`pair_with`]) signing status lists of `ttl` seconds,
/// on `clock` moved to the start of a period of `ttl` seconds (a list's
/// `iat`).
pub(crate) async fn listing_pair(
    dir: &tempfile::TempDir,
    clock: &Arc<ManualClock>,
    ttl: u64,
) -> (Running, Running) {
    clock.advance(ttl as i64 - clock.now().rem_euclid(ttl as i64));
    pair_with(dir, clock, |builder| builder.status_ttl(ttl)).await
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

async fn family(a: &Running, b: &Running) -> Family {
    let owner = a.workload_of("alice", "files:*").await;
    let caller = b.workload_of("tool", "introspect").await;
    let parent = a.mint(&owner, "files:*").await;
    let child = b.delegate(&owner, &parent, (RESOURCE, "files:read")).await;
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
    instance: &Running,
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
    a.revoke(&owner, &parent).await;
    assert!(!b.active(&caller, &parent).await);
    assert!(!b.active(&caller, &child).await);

    // the list B serves says so; its ttl bounds how long a verifier keeps
    // the list it held before
    let listed = b.get("/status/1").await;
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
    let client = a.workload_of("alice", "files:read").await;
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
    let first = a.client_credentials(&client, None, Some(&proof)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let replay = b.client_credentials(&client, None, Some(&proof)).await;
    dpop_refused(replay, "replay:").await;
    // and back at A, too
    let again = a.client_credentials(&client, None, Some(&proof)).await;
    dpop_refused(again, "replay:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_code_redeemed_at_one_instance_is_refused_at_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let app = client(&a, "app", "files:read").await;
    // stored as /authorize stores it (hashed, with the principal's JSON)
    code_for(&a, &app, "the-code", "files:read", clock.now() + 60).await;
    let body = ok(redeem(&a, &app, "the-code", &[]).await).await;
    let passport = body["access_token"].as_str().unwrap().to_owned();
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    let second = redeem(&b, &app, "the-code", &[]).await;
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
    let r = refresh(&a, &app, &token, &[]).await;
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh_token_revoked",
    )
    .await;
    let caller = a.workload_of("tool", "introspect").await;
    assert!(!a.active(&caller, &passport).await);
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
    let bystander = a.workload_of("bob", "files:*").await;
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
    let refused = b.token(&agent, &cc_form(&[])).await;
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
    let (a, b) = listing_pair(&dir, &clock, LIST_TTL).await;
    let owner = a.workload_of("alice", "files:*").await;
    let passport = a.mint(&owner, "files:read").await;

    let first = a.served_list().await;
    assert_eq!(iat_of(&first), clock.now());
    let signed = a.server.status_list_signatures();
    // nothing changed: the same list, not signed again
    clock.advance(LIST_TTL as i64 - 1);
    for _ in 0..3 {
        assert_eq!(a.served_list().await, first);
    }
    assert_eq!(a.server.status_list_signatures(), signed);

    // revoked on B: the list A serves says so at once, signed once more,
    // its `iat` the revocation's time (later than the list before it)
    let revoked_at = clock.now();
    b.revoke(&owner, &passport).await;
    let second = a.served_list().await;
    assert_ne!(second, first);
    assert_eq!(iat_of(&second), revoked_at);
    assert!(iat_of(&second) > iat_of(&first));
    assert_eq!(a.server.status_list_signatures(), signed + 1);
    assert_eq!(a.served_list().await, second);
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
    assert_eq!(b.served_list().await, second);

    // at the next period, a list is signed again: never served older than
    // a `ttl`
    clock.advance(1);
    let third = a.served_list().await;
    assert_eq!(iat_of(&third), iat_of(&first) + LIST_TTL as i64);
    assert!(iat_of(&third) > iat_of(&second));
    assert_eq!(a.server.status_list_signatures(), signed + 2);
    source.add_token(&third).unwrap();
    let e = verifier.verify_str(&passport).unwrap_err();
    assert_eq!(e.root_cause().code(), "revoked", "{e}");
}
