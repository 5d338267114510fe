//! Review B2 (issue 13): the key set, rotation and the caches, attacked.
//! Each test is a finding: ignored while it fails, un-ignored with its fix.

use std::sync::Arc;

use passport_claims::{Clock as _, ManualClock};
use passport_server::KEY_RELOAD_INTERVAL;
use passport_store::StoreError;

use crate::shared_state::{kid_of, pair, wall_clock};

/// Finding 1: `/status/1` signs with whatever key set the instance last
/// loaded and never reloads it. An instance that only serves status lists
/// (resource servers poll them) keeps signing them with a key another
/// instance retired — and, its passports long expired, no longer
/// publishes — so every verifier refuses the list (and fails closed on
/// every passport).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_list_is_signed_only_with_a_published_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let old = b.server.kid();
    let next = a.server.rotate_signing_key().await.unwrap();
    clock.set(next.signs_from);
    // A reloads at its next request and promotes the new key; the old one
    // signed no passport, so it is no longer published a reload later
    a.jwks_kids().await;
    clock.advance(KEY_RELOAD_INTERVAL + 2);
    let published = a.jwks_kids().await;
    assert_eq!(published, vec![next.kid.clone()]);
    let list = b.served_list().await;
    let signer = kid_of(&list);
    assert!(
        published.contains(&signer),
        "B signed its status list with {signer} (the retired {old}), which the JWKS no longer has"
    );
}

/// Finding 2: `promote_next_key` promotes the `next` key whatever its
/// `not_before`. `keys::load` reads the keys, sees a due `next`, then
/// promotes "the" next key: if another instance promoted that one meanwhile
/// and a new rotation was scheduled (`passport serve --rotate-key` right
/// after a promotion), the new key signs at once — before any verifier's
/// cached JWKS (max-age 60 s) has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_key_is_never_promoted_before_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, _b) = pair(&dir, &clock).await;
    let current = a.server.kid();
    let next = a.server.rotate_signing_key().await.unwrap();
    assert!(next.signs_from > clock.now());
    // the promotion a stale `load` would make now
    let promoted = a.server.database().promote_next_key(clock.now()).await;
    assert!(
        matches!(promoted, Err(StoreError::NoNextKey)),
        "a key published 0 s ago was promoted: {promoted:?}"
    );
    assert_eq!(a.server.kid(), current);
}

/// Finding 1, its second half: an instance that reloaded its keys just
/// before another promoted the next key keeps signing with the old one for
/// up to one reload interval (status lists, and passports). The promoting
/// instance dropped the old key from its JWKS at once (it had signed
/// nothing still valid), so what the other signs meanwhile is refused by
/// every verifier that fetches that JWKS (and caches it for 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_key_stays_published_while_another_instance_may_still_sign_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, b) = pair(&dir, &clock).await;
    let old = b.server.kid();
    let next = a.server.rotate_signing_key().await.unwrap();
    // B reloads one second before the new key's time (nothing to promote)
    clock.set(next.signs_from - 1);
    assert!(b.jwks_kids().await.contains(&next.kid));
    clock.set(next.signs_from);
    // A promotes; B still signs with the old key until its next reload
    let published = a.jwks_kids().await;
    let list = b.served_list().await;
    let signer = kid_of(&list);
    assert_eq!(signer, old, "B has not reloaded yet");
    assert!(
        published.contains(&signer),
        "A's JWKS {published:?} lacks {signer}, which B still signs with"
    );
}

/// Finding 5: two instances starting together on a new database can
/// rotate the key at once. The second reads no key, generates its own and
/// adds it as `next` after the first promoted its key to `current` (the
/// insert only conflicts with another `next`), then promotes it: the first
/// key is retired at once (unpublished: nothing signed with it yet) while
/// the first instance signs with it for up to a reload interval, and the
/// second signs with a key the first instance's JWKS has not published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn instances_starting_together_on_a_new_database_agree_on_one_key() {
    for round in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db").to_str().unwrap().to_owned();
        let now = wall_clock();
        // opened one after the other (opening a new SQLite file from two
        // processes at once can fail with `Busy`: another matter)
        let mut dbs = Vec::new();
        for _ in 0..2 {
            dbs.push(
                passport_store::server::Database::open(&crate::test_database(&path).await, now)
                    .await
                    .unwrap(),
            );
        }
        let start = |db: passport_store::server::Database| {
            tokio::spawn(async move {
                passport_server::Server::builder("http://127.0.0.1:9", db)
                    .clock(Arc::new(ManualClock::new(now)))
                    .build()
                    .await
                    .unwrap()
            })
        };
        let (b, a) = (start(dbs.pop().unwrap()), start(dbs.pop().unwrap()));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let keys = a.database().signing_keys().await.unwrap();
        let states: Vec<_> = keys.iter().map(|k| k.state).collect();
        assert_eq!(keys.len(), 1, "round {round}: keys {states:?}");
        assert_eq!(a.kid(), b.kid(), "round {round}");
    }
}

/// Finding 6: `/introspect` answers `active: true` for a passport up to
/// 30 s after its `exp`. Its verifier keeps the offline verifiers' default
/// clock skew, but the token service judges by its own clock (RFC 7662
/// §2.2: `active` means not expired) — and a resource server trusting the
/// answer may add its own tolerance on top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_passport_is_never_introspected_active() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(wall_clock()));
    let (a, _b) = pair(&dir, &clock).await;
    let owner = a.workload_of("alice", "files:*").await;
    let caller = a.workload_of("tool", "introspect").await;
    let passport = a.mint(&owner, "files:read").await;
    assert!(a.active(&caller, &passport).await);
    let exp = crate::shared_state::leaf(&passport).exp;
    clock.set(exp + 10);
    assert!(
        !a.active(&caller, &passport).await,
        "introspected active 10 s after its exp"
    );
}
