//! Two instances on one SQLite file act as one while each keeps its hot
//! state in memory: a revocation on one is refused by the other's next
//! introspection, a rotated signing key is published before it signs and
//! reaches both, and the retired key stays published until its last
//! passport expires. Time is a shared `ManualClock`.

use std::sync::Arc;

use passport_claims::{Clock as _, ManualClock, PassportClaims, UnverifiedBundle};
use passport_server::{
    KEY_RELOAD_INTERVAL, KEY_ROTATION_DELAY, Server, ServerBuilder, WorkloadClient,
};
use passport_store::server::Database;
use reqwest::StatusCode;
use serde_json::Value;

use crate::endpoints::{RESOURCE, Running};

pub(crate) fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Two instances named `issuer` (the first one's address, as behind a load
/// balancer) on the database file in `dir`, on `clock`.
pub(crate) async fn pair(dir: &tempfile::TempDir, clock: &Arc<ManualClock>) -> (Running, Running) {
    pair_with(dir, clock, |b| b).await
}

/// As [`pair`], each instance's builder passed through `configure`.
pub(crate) async fn pair_with(
    dir: &tempfile::TempDir,
    clock: &Arc<ManualClock>,
    configure: impl Fn(ServerBuilder) -> ServerBuilder,
) -> (Running, Running) {
    let path = dir.path().join("server.db");
    let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", first.local_addr().unwrap());
    let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut out = Vec::new();
    for listener in [first, second] {
        let db = Database::open(
            &crate::test_database(path.to_str().unwrap()).await,
            clock.now(),
        )
        .await
        .unwrap();
        let server = configure(Server::builder(&issuer, db).clock(clock.clone()))
            .build()
            .await
            .unwrap();
        out.push(Running::serving(server, listener));
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

/// What the multi-instance tests ask of an instance.
impl Running {
    /// `client` revokes `token` here (which must answer 200).
    pub(crate) async fn revoke(&self, client: &WorkloadClient, token: &str) {
        let r = self
            .post_authenticated("/revoke", client, &[("token", token)])
            .await;
        assert_eq!(r.status(), StatusCode::OK, "/revoke");
    }

    /// The `kid`s of the JWKS published here, sorted.
    pub(crate) async fn jwks_kids(&self) -> Vec<String> {
        let jwks: Value = self.get("/jwks.json").await.json().await.unwrap();
        let mut kids: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        kids
    }

    /// The status list served here, as text.
    pub(crate) async fn served_list(&self) -> String {
        self.get("/status/1").await.text().await.unwrap()
    }
}

pub(crate) fn leaf(bundle: &str) -> PassportClaims {
    UnverifiedBundle::parse(bundle)
        .unwrap()
        .inspect_unverified()
        .remove(0)
        .unwrap()
        .claims
}

pub(crate) fn kid_of(bundle: &str) -> String {
    let header = bundle.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&passport_jose::b64::decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_refused_at_once_by_the_others_introspection() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let owner = a.workload_of("alice", "files:*").await;
    let caller = a.workload_of("tool", "introspect").await;
    let parent = a.mint(&owner, "files:*").await;
    // the child is minted on B, from a parent minted on A (by its holder:
    // a bearer passport is exchanged by no other client)
    let child = b.delegate(&owner, &parent, (RESOURCE, "files:read")).await;
    // both instances have found both active (and remember it)
    for _ in 0..2 {
        for instance in [&a, &b] {
            assert!(instance.active(&caller, &parent).await);
            assert!(instance.active(&caller, &child).await);
        }
    }
    // revoked on A; B refuses the child (cascade) and the parent at once,
    // without any time passing
    a.revoke(&owner, &parent).await;
    assert!(!b.active(&caller, &child).await);
    assert!(!b.active(&caller, &parent).await);
    assert!(!a.active(&caller, &child).await);
    // and a revocation on B reaches A the same way
    let other = a.mint(&owner, "files:read").await;
    assert!(a.active(&caller, &other).await);
    b.revoke(&owner, &other).await;
    assert!(!a.active(&caller, &other).await);
    // a fresh passport is still active on both (the caches only forgot)
    let fresh = b.mint(&owner, "files:read").await;
    assert!(a.active(&caller, &fresh).await);
    assert!(b.active(&caller, &fresh).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mints_get_distinct_status_indices_from_both_instances() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let owner = a.workload_of("alice", "files:*").await;
    let a = Arc::new(a);
    let b = Arc::new(b);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let instance = if i % 2 == 0 { a.clone() } else { b.clone() };
        let owner = owner.clone();
        tasks.spawn(async move { instance.mint(&owner, "files:read").await });
    }
    let mut indices = std::collections::BTreeSet::new();
    while let Some(token) = tasks.join_next().await {
        let claims = leaf(&token.unwrap());
        let status = claims.status.unwrap();
        assert!(indices.insert(status.idx()), "index {} twice", status.idx());
        let record = a.record(&claims.jti).await;
        assert_eq!(record.entry.status_idx, Some(status.idx()));
    }
    assert_eq!(indices.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_published_before_it_signs_and_the_retired_one_until_its_last_passport_expires()
 {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let old = a.server.kid();
    assert_eq!(b.server.kid(), old, "one key on one database");
    let owner = a.workload_of("alice", "files:*").await;
    let caller = a.workload_of("tool", "introspect").await;
    let before = b.mint(&owner, "files:read").await;
    assert_eq!(kid_of(&before), old);

    // rotation scheduled on A: published there at once, not signing
    let next = a.server.rotate_signing_key().await.unwrap();
    assert_eq!(next.signs_from, clock.now() + KEY_ROTATION_DELAY);
    let both = {
        let mut k = vec![old.clone(), next.kid.clone()];
        k.sort();
        k
    };
    assert_eq!(a.jwks_kids().await, both);
    assert_eq!(kid_of(&a.mint(&owner, "files:read").await), old);
    // a second rotation while one is pending is refused
    assert!(a.server.rotate_signing_key().await.is_err());
    // B publishes it within one reload interval, still signing with the old
    clock.advance(KEY_RELOAD_INTERVAL);
    assert_eq!(b.jwks_kids().await, both);
    assert_eq!(kid_of(&b.mint(&owner, "files:read").await), old);

    // its time comes: whichever instance reloads first promotes it, and
    // both sign with it from their next reload on
    clock.set(next.signs_from);
    let on_b = b.mint(&owner, "files:read").await;
    assert_eq!(kid_of(&on_b), next.kid);
    let on_a = a.mint(&owner, "files:read").await;
    assert_eq!(kid_of(&on_a), next.kid);
    assert_eq!(a.server.kid(), next.kid);
    assert_eq!(b.server.kid(), next.kid);
    // the old key stays published while a passport it signed is valid,
    // and that passport still introspects active on both
    assert_eq!(a.jwks_kids().await, both);
    assert!(a.active(&caller, &before).await);
    assert!(b.active(&caller, &before).await);
    assert!(b.active(&caller, &on_a).await);
    // a verifier holding the keys B publishes accepts B's passports of
    // either key, and A's
    let verifier = crate::multi_instance::verifier_of(&b, &clock, None).await;
    for bundle in [&before, &on_b, &on_a] {
        verifier.verify_str(bundle).unwrap();
    }

    // once the last passport the old key signed has expired (and one
    // reload interval passed), neither instance publishes it
    let last_old_exp = leaf(&before).exp.max(clock.now() + 15 * 60);
    clock.set(last_old_exp + 1 + KEY_RELOAD_INTERVAL);
    assert_eq!(a.jwks_kids().await, vec![next.kid.clone()]);
    assert_eq!(b.jwks_kids().await, vec![next.kid.clone()]);
}

/// `bundle`'s claims signed again by a key no instance has, under a `kid`
/// none knows: verifying it makes an instance read its keys again.
fn under_an_unknown_key(bundle: &str) -> String {
    let mut parts = bundle.split('.');
    let header: Value =
        serde_json::from_slice(&passport_jose::b64::decode(parts.next().unwrap()).unwrap())
            .unwrap();
    let payload = passport_jose::b64::decode(parts.next().unwrap()).unwrap();
    let header = serde_json::json!({"alg": "EdDSA", "kid": "made-up", "typ": header["typ"]});
    let Value::Object(header) = header else {
        unreachable!()
    };
    passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA)
        .unwrap()
        .sign_compact_with_header(&header, &payload)
        .unwrap()
}

/// Review S12: an instance that read its keys a moment before another
/// instance promoted a new one, then is asked to revoke a passport signed
/// by that key, reads its keys again before it answers — and revokes.
/// Before, an unknown `kid` reloaded at most once a second and a caller
/// within that second (or while a reload ran) took the keys in memory as
/// current: the `kid` stayed unknown, the passport "not ours", and
/// `/revoke` answered 200 having revoked nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_right_after_a_key_reload_sees_the_key_another_instance_promoted_since() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let owner = a.workload_of("alice", "files:*").await;
    let caller = a.workload_of("tool", "introspect").await;
    // A meets an unknown `kid` and reads its keys: not a passport of ours
    let made_up = under_an_unknown_key(&a.mint(&owner, "files:read").await);
    a.revoke(&owner, &made_up).await;
    // in the same second a new key is added and promoted, and B (its
    // keys read since) signs with it; A has not read the keys since
    let next = b.server.rotate_signing_key().await.unwrap();
    b.server
        .database()
        .promote_next_key(next.signs_from)
        .await
        .unwrap();
    b.revoke(&owner, &made_up).await;
    let passport = b.mint(&owner, "files:read").await;
    assert_eq!(kid_of(&passport), next.kid);
    assert_ne!(a.server.kid(), next.kid);
    // A is asked to revoke it: it must read the keys again, and revoke
    a.revoke(&owner, &passport).await;
    assert!(
        !b.active(&caller, &passport).await,
        "A's /revoke answered 200 and revoked nothing"
    );
    assert!(!a.active(&caller, &passport).await);
    assert_eq!(a.server.kid(), next.kid);
}
