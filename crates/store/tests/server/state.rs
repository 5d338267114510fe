//! Each operation, on both databases.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use passport_store::server::{
    ClientKind, Database, KeyMaterial, KeyState, NewClient, NewCode, NewRefreshToken,
    NewSigningKey, PassportEntry, PassportState, RefreshSuccessor, RevocationReason, TokenHash,
};

use crate::common::{NOW, entry, on_both};

on_both!(
    registry_records_and_reads_chains,
    revoke_cascade_revokes_descendants_once,
    concurrent_revocations_lose_nothing,
    child_recorded_during_revocation_cannot_escape,
    passport_recorded_for_an_actor_during_its_revocation_cannot_escape,
    authorization_code_is_single_use,
    refresh_reuse_revokes_the_family,
    a_reuse_revokes_a_long_family_s_passports_in_one_transaction,
    dpop_proof_replay_is_refused,
    clients_keep_their_secret_hash,
    assertion_jti_single_use,
    signing_keys_rotate_next_current_retired,
    status_indices_are_never_handed_out_twice,
);

async fn registry_records_and_reads_chains(db: Arc<Database>) {
    db.record_issued(entry("root", None)).await.unwrap();
    db.record_issued(entry("child", Some("root")))
        .await
        .unwrap();
    let mut grandchild = entry("grandchild", Some("child"));
    grandchild.status_idx = Some(7);
    grandchild.exp = NOW + 100;
    db.record_issued(grandchild.clone()).await.unwrap();

    let row = db.passport("grandchild").await.unwrap().unwrap();
    assert_eq!(row.entry, grandchild);
    assert_eq!(row.state, PassportState::Active);
    assert_eq!(row.revoked_at, None);
    assert!(db.passport("nobody").await.unwrap().is_none());

    let chain: Vec<String> = db
        .chain("grandchild")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry.jti)
        .collect();
    assert_eq!(chain, ["root", "child", "grandchild"]);
    assert!(db.chain("nobody").await.unwrap().is_empty());

    let err = db.record_issued(entry("root", None)).await.unwrap_err();
    assert_eq!(err.code(), "duplicate_passport");
    // the same status index twice is a duplicate too
    let mut twin = entry("twin", None);
    twin.status_idx = Some(7);
    assert_eq!(
        db.record_issued(twin).await.unwrap_err().code(),
        "duplicate_passport"
    );
    let err = db
        .record_issued(entry("orphan", Some("nobody")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_passport");
}

async fn revoke_cascade_revokes_descendants_once(db: Arc<Database>) {
    for (jti, parent) in [
        ("root", None),
        ("a", Some("root")),
        ("b", Some("a")),
        ("c", Some("root")),
        ("other", None),
    ] {
        db.record_issued(entry(jti, parent)).await.unwrap();
    }
    let revoked = db.revoke_cascade("a", NOW + 1).await.unwrap();
    let got: Vec<(&str, RevocationReason)> =
        revoked.iter().map(|r| (r.jti.as_str(), r.reason)).collect();
    assert_eq!(
        got,
        [
            ("a", RevocationReason::Direct),
            ("b", RevocationReason::Cascaded)
        ]
    );
    assert_eq!(
        revoked[0].status_uri.as_deref(),
        Some("https://issuer.example/status/1")
    );
    let b = db.passport("b").await.unwrap().unwrap();
    assert_eq!(b.state, PassportState::Revoked);
    assert_eq!(b.revoked_at, Some(NOW + 1));
    assert_eq!(b.revoked_reason, Some(RevocationReason::Cascaded));

    // idempotent: nothing newly revoked
    assert!(db.revoke_cascade("a", NOW + 2).await.unwrap().is_empty());
    assert_eq!(
        db.passport("a").await.unwrap().unwrap().revoked_at,
        Some(NOW + 1)
    );

    let revoked = db.revoke_cascade("root", NOW + 3).await.unwrap();
    let got: Vec<(&str, RevocationReason)> =
        revoked.iter().map(|r| (r.jti.as_str(), r.reason)).collect();
    assert_eq!(
        got,
        [
            ("root", RevocationReason::Direct),
            ("c", RevocationReason::Cascaded)
        ]
    );
    assert_eq!(
        db.passport("other").await.unwrap().unwrap().state,
        PassportState::Active
    );
    // a revoked parent delegates no more
    let err = db
        .record_issued(entry("late", Some("c")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "parent_revoked");
    let err = db.revoke_cascade("nobody", NOW).await.unwrap_err();
    assert_eq!(err.code(), "unknown_passport");
}

/// 20 trees of 10 passports (a chain of 5 under each of two children of
/// the root); 64 tasks revoke random members at once. Every acknowledged
/// revocation is revoked afterwards with its whole subtree, and no passport
/// is reported revoked by two calls.
async fn concurrent_revocations_lose_nothing(db: Arc<Database>) {
    let mut parent_of: HashMap<String, Option<String>> = HashMap::new();
    for t in 0..20 {
        let root = format!("t{t}");
        parent_of.insert(root.clone(), None);
        for branch in 0..2 {
            let mut parent = root.clone();
            for depth in 0..4 {
                let jti = format!("t{t}-b{branch}-d{depth}");
                parent_of.insert(jti.clone(), Some(parent.clone()));
                parent = jti;
            }
        }
    }
    // insert parents before children
    let mut ordered: Vec<&String> = parent_of.keys().collect();
    ordered.sort_by_key(|j| (j.matches('-').count(), j.to_string()));
    for jti in ordered {
        db.record_issued(entry(jti, parent_of[jti].as_deref()))
            .await
            .unwrap();
    }
    let all: Vec<String> = parent_of.keys().cloned().collect();
    let mut targets: Vec<String> = Vec::new();
    for i in 0..64 {
        targets.push(all[(i * 37) % all.len()].clone());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for target in targets.clone() {
        let db = Arc::clone(&db);
        tasks.spawn(async move { (target.clone(), db.revoke_cascade(&target, NOW + 5).await) });
    }
    let mut reported = Vec::new();
    let mut acknowledged = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (target, result) = done.unwrap();
        let revoked = result.unwrap();
        acknowledged.push(target);
        reported.extend(revoked.into_iter().map(|r| r.jti));
    }
    let unique: BTreeSet<&String> = reported.iter().collect();
    assert_eq!(
        unique.len(),
        reported.len(),
        "a passport reported revoked twice"
    );
    let descends_from = |jti: &str, ancestor: &str| {
        let mut cur = Some(jti.to_owned());
        while let Some(j) = cur {
            if j == ancestor {
                return true;
            }
            cur = parent_of[&j].clone();
        }
        false
    };
    for jti in &all {
        let should = acknowledged.iter().any(|a| descends_from(jti, a));
        let state = db.passport(jti).await.unwrap().unwrap().state;
        assert_eq!(state == PassportState::Revoked, should, "{jti}");
        assert_eq!(unique.contains(jti), should, "{jti} reported");
    }
}

/// Children recorded while their root is being revoked: 16 tasks record
/// children (and grandchildren) without pause until the root's revocation
/// stops them; afterwards no recorded descendant is active. (On PostgreSQL
/// the recursive query's snapshot would otherwise miss a child committed
/// during the cascade: without the advisory lock this test fails.)
async fn child_recorded_during_revocation_cannot_escape(db: Arc<Database>) {
    recorded_during_revocation(db, Link::Parent).await;
}

/// As [`child_recorded_during_revocation_cannot_escape`], for passports
/// minted for an actor passport (each delegated from a root that stays
/// active): those recorded while the first actor passport is revoked,
/// each minted for it or for one minted for it, are all revoked after;
/// the others are refused (`actor_revoked`).
async fn passport_recorded_for_an_actor_during_its_revocation_cannot_escape(db: Arc<Database>) {
    recorded_during_revocation(db, Link::Actor).await;
}

/// How the passports of [`recorded_during_revocation`] depend on the one
/// revoked.
#[derive(Clone, Copy)]
enum Link {
    /// Delegated from it (`parent_jti`).
    Parent,
    /// Minted for it as the actor passport (`actor_jti`), delegated from
    /// another root.
    Actor,
}

/// 16 tasks record passports linked (`link`) to a root or to the last
/// passport they recorded, without pause, while the root is revoked;
/// afterwards none they recorded is active.
async fn recorded_during_revocation(db: Arc<Database>, link: Link) {
    for round in 0..3 {
        let root = format!("r{round}");
        db.record_issued(entry(&root, None)).await.unwrap();
        // the parent of passports minted for an actor: never revoked
        let other = format!("o{round}");
        db.record_issued(entry(&other, None)).await.unwrap();
        let (linked, refusal) = match link {
            Link::Parent => (
                Arc::new(|child: &str, to: &str| entry(child, Some(to))) as Arc<Linked>,
                "parent_revoked",
            ),
            Link::Actor => {
                let other = other.clone();
                (
                    Arc::new(move |child: &str, to: &str| PassportEntry {
                        actor_jti: Some(to.into()),
                        ..entry(child, Some(&other))
                    }) as Arc<Linked>,
                    "actor_revoked",
                )
            }
        };
        // The revocation starts once every task has recorded a child and
        // they all go on together: no sleep to guess how long that takes
        // (30 ms once, which a loaded machine can overrun).
        let started = Arc::new(tokio::sync::Barrier::new(17));
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..16 {
            let db = Arc::clone(&db);
            let root = root.clone();
            let started = Arc::clone(&started);
            let linked = Arc::clone(&linked);
            tasks.spawn(async move {
                let mut recorded = Vec::new();
                let mut parent = root.clone();
                for n in 0.. {
                    // bounded: a revocation that never refuses them (the
                    // defect this tests for) fails instead of hanging
                    assert!(n < 10_000, "still recorded after the revocation");
                    let child = format!("{root}-t{t}-{n}");
                    let result = db.record_issued(linked(&child, &parent)).await;
                    if n == 0 {
                        // At the barrier whatever the first record did: a
                        // task that panicked before it would leave the
                        // others (and the revocation) waiting for ever, its
                        // message never shown.
                        started.wait().await;
                        result.unwrap_or_else(|e| {
                            panic!("the first child is recorded before the revocation: {e}")
                        });
                        recorded.push(child.clone());
                    } else {
                        match result {
                            Ok(()) => recorded.push(child.clone()),
                            Err(e) => {
                                assert_eq!(e.code(), refusal, "{e}");
                                break;
                            }
                        }
                    }
                    // every other one a grandchild of the last
                    parent = if n % 2 == 0 { child } else { root.clone() };
                }
                recorded
            });
        }
        // Bounded: a recorder that panics inside its first record never
        // reaches the barrier (its message is shown by the failure).
        if tokio::time::timeout(std::time::Duration::from_secs(60), started.wait())
            .await
            .is_err()
        {
            tasks.abort_all();
            while let Some(done) = tasks.join_next().await {
                if let Err(e) = done
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
            panic!("a recorder never reached the barrier");
        }
        db.revoke_cascade(&root, NOW).await.unwrap();
        let mut recorded = Vec::new();
        while let Some(done) = tasks.join_next().await {
            recorded.extend(done.unwrap());
        }
        assert!(!recorded.is_empty());
        for jti in recorded {
            let row = db.passport(&jti).await.unwrap().unwrap();
            assert_eq!(
                row.state,
                PassportState::Revoked,
                "{jti} escaped the cascade"
            );
        }
        assert_eq!(
            db.passport(&other).await.unwrap().unwrap().state,
            PassportState::Active
        );
    }
}

/// The registry row of a passport `child` linked to the passport `to`.
type Linked = dyn Fn(&str, &str) -> PassportEntry + Send + Sync;

fn code(hash: &TokenHash, expires_at: i64) -> NewCode {
    NewCode {
        code: hash.clone(),
        client_id: "client-1".into(),
        redirect_uri: "http://127.0.0.1:8080/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        resource: "https://tool.example".into(),
        scope: "read".into(),
        claims: r#"{"sub":"alice"}"#.into(),
        expires_at,
    }
}

async fn authorization_code_is_single_use(db: Arc<Database>) {
    let hash = TokenHash::of("the-code");
    db.insert_code(code(&hash, NOW + 60)).await.unwrap();
    // read without being used: the use below still wins
    let peeked = db.code(&hash).await.unwrap().unwrap();
    assert_eq!(peeked.client_id, "client-1");
    assert_eq!(peeked.expires_at, NOW + 60);
    assert!(
        db.code(&TokenHash::of("never-issued"))
            .await
            .unwrap()
            .is_none()
    );
    // peeked, not spent
    assert!(!db.code_spent(&hash).await.unwrap());
    assert!(!db.code_spent(&TokenHash::of("never-issued")).await.unwrap());
    let grant = db
        .consume_code(&hash, NOW, &["p1".to_owned()])
        .await
        .unwrap();
    assert!(db.code_spent(&hash).await.unwrap());
    assert_eq!(grant.client_id, "client-1");
    assert_eq!(grant.redirect_uri, "http://127.0.0.1:8080/cb");
    assert_eq!(grant.resource, "https://tool.example");
    assert_eq!(grant.claims, r#"{"sub":"alice"}"#);
    // used once: not reused yet
    assert!(!db.code_reused(&hash).await.unwrap());
    match db.consume_code(&hash, NOW + 1, &["p2".to_owned()]).await {
        Err(passport_store::StoreError::CodeReused { issued }) => assert_eq!(issued, ["p1"]),
        other => panic!("expected code_reused, got {other:?}"),
    }
    // the refused second use is marked, for the first use to see
    assert!(db.code_reused(&hash).await.unwrap());
    assert!(
        !db.code_reused(&TokenHash::of("never-issued"))
            .await
            .unwrap()
    );
    let stale = TokenHash::of("stale-code");
    db.insert_code(code(&stale, NOW + 60)).await.unwrap();
    let err = db.consume_code(&stale, NOW + 60, &[]).await.unwrap_err();
    assert_eq!(err.code(), "code_expired");
    let err = db
        .consume_code(&TokenHash::of("never-issued"), NOW, &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_code");

    // of 16 concurrent uses exactly one wins
    let raced = TokenHash::of("raced-code");
    db.insert_code(code(&raced, NOW + 60)).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (db, raced) = (Arc::clone(&db), raced.clone());
        tasks.spawn(async move { db.consume_code(&raced, NOW, &[format!("j{i}")]).await });
    }
    let mut wins = 0;
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.code(), "code_reused"),
        }
    }
    assert_eq!(wins, 1);
}

/// Starts the family `family` (of client-1, for `read`, for an hour) with
/// `token`, issued beside the passport `jti`.
async fn first_refresh_token(db: &Database, token: &TokenHash, family: &str, jti: &str) {
    db.insert_refresh_token(NewRefreshToken {
        token: token.clone(),
        family_id: family.into(),
        client_id: "client-1".into(),
        passport_jti: jti.into(),
        scope: "read".into(),
        claims: "{}".into(),
        expires_at: NOW + 3600,
        created_at: NOW,
    })
    .await
    .unwrap();
}

async fn refresh_reuse_revokes_the_family(db: Arc<Database>) {
    let first = TokenHash::of("rt-1");
    first_refresh_token(&db, &first, "fam-1", "p1").await;
    let successor = |token: &str, jti: &str| RefreshSuccessor {
        token: TokenHash::of(token),
        passport_jti: jti.into(),
        expires_at: NOW + 3600,
        claims: None,
    };
    assert!(!db.refresh_spent(&first).await.unwrap());
    let grant = db
        .rotate_refresh(&first, successor("rt-2", "p2"), NOW + 1)
        .await
        .unwrap();
    // rotated: spent; its successor is not
    assert!(db.refresh_spent(&first).await.unwrap());
    assert!(!db.refresh_spent(&TokenHash::of("rt-2")).await.unwrap());
    assert_eq!(grant.family_id, "fam-1");
    assert_eq!(grant.previous_passport_jti, "p1");
    assert_eq!(grant.scope, "read");
    // a rotation that changes the grant's claims (a public client's first
    // DPoP-bound refresh binds it to its key): the successor carries them,
    // the presented token's stay as they were
    let bound = RefreshSuccessor {
        claims: Some(r#"{"jkt":"k"}"#.into()),
        ..successor("rt-3", "p3")
    };
    db.rotate_refresh(&TokenHash::of("rt-2"), bound, NOW + 2)
        .await
        .unwrap();
    assert!(!db.refresh_revoked(&TokenHash::of("rt-3")).await.unwrap());
    let claims = |token: &'static str| {
        let db = Arc::clone(&db);
        async move {
            db.refresh_family(&TokenHash::of(token))
                .await
                .unwrap()
                .unwrap()
                .claims
        }
    };
    assert_eq!(claims("rt-2").await, "{}");
    assert_eq!(claims("rt-3").await, r#"{"jkt":"k"}"#);
    // any member names its family and the first passport issued in it, unused
    for (token, beside) in [("rt-1", "p1"), ("rt-3", "p3")] {
        let family = db
            .refresh_family(&TokenHash::of(token))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(family.family_id, "fam-1");
        assert_eq!(family.client_id, "client-1");
        assert_eq!(family.passport_jti, beside);
        assert_eq!(family.first_passport.as_deref(), Some("p1"));
    }
    assert!(
        db.refresh_family(&TokenHash::of("nope"))
            .await
            .unwrap()
            .is_none()
    );
    // each passport names the family that issued it
    for jti in ["p1", "p2", "p3"] {
        let family = db.refresh_family_of(jti).await.unwrap().unwrap();
        assert_eq!(family.family_id, "fam-1", "{jti}");
        assert_eq!(family.passport_jti, jti);
        assert_eq!(family.first_passport.as_deref(), Some("p1"));
    }
    assert!(
        db.refresh_family_of("not-issued-here")
            .await
            .unwrap()
            .is_none()
    );
    // the first token again: the whole family goes
    match db
        .rotate_refresh(&first, successor("rt-x", "px"), NOW + 3)
        .await
    {
        Err(passport_store::StoreError::RefreshReused { family, revoked }) => {
            assert_eq!(family, "fam-1");
            // none of them is in this registry (`state::*` revokes
            // recorded ones, in one transaction)
            assert!(revoked.is_empty(), "{revoked:?}");
        }
        other => panic!("expected refresh_token_reused, got {other:?}"),
    }
    // the live member of the family is dead too, as the rotation that
    // issued it sees when it re-reads it
    assert!(db.refresh_revoked(&TokenHash::of("rt-3")).await.unwrap());
    // revoked, never used: spent too
    assert!(db.refresh_spent(&TokenHash::of("rt-3")).await.unwrap());
    assert!(!db.refresh_spent(&TokenHash::of("rt-never")).await.unwrap());
    assert!(
        !db.refresh_revoked(&TokenHash::of("rt-never"))
            .await
            .unwrap()
    );
    let err = db
        .rotate_refresh(&TokenHash::of("rt-3"), successor("rt-4", "p4"), NOW + 4)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "refresh_token_revoked");
    let err = db
        .rotate_refresh(&TokenHash::of("nope"), successor("rt-5", "p5"), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_refresh_token");

    let old = TokenHash::of("old");
    db.insert_refresh_token(NewRefreshToken {
        token: old.clone(),
        family_id: "fam-2".into(),
        client_id: "client-1".into(),
        passport_jti: "q1".into(),
        scope: "read".into(),
        claims: "{}".into(),
        expires_at: NOW + 10,
        created_at: NOW,
    })
    .await
    .unwrap();
    let err = db
        .rotate_refresh(&old, successor("rt-6", "q2"), NOW + 10)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "refresh_token_expired");
    assert!(
        db.end_refresh_family("fam-2", NOW)
            .await
            .unwrap()
            .is_empty()
    );
    let err = db
        .rotate_refresh(&old, successor("rt-7", "q3"), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "refresh_token_revoked");
}

/// Review S14, finding 5: a reuse revokes every passport the family
/// issued (the newest included) and their descendants in the transaction
/// that saw it, and names each with its holder, to be recorded: nothing
/// is left for the server to revoke one by one after answering.
async fn a_reuse_revokes_a_long_family_s_passports_in_one_transaction(db: Arc<Database>) {
    const ROTATIONS: usize = 200;
    let token = |n: usize| TokenHash::of(&format!("long-{n}"));
    let jti = |n: usize| format!("long-p{n}");
    db.record_issued(entry(&jti(0), None)).await.unwrap();
    first_refresh_token(&db, &token(0), "long", &jti(0)).await;
    for n in 1..=ROTATIONS {
        let next = RefreshSuccessor {
            token: token(n),
            passport_jti: jti(n),
            expires_at: NOW + 3600,
            claims: None,
        };
        db.rotate_refresh(&token(n - 1), next, NOW).await.unwrap();
        db.record_issued(entry(&jti(n), None)).await.unwrap();
    }
    // the newest passport delegated onwards
    db.record_issued(entry("long-child", Some(&jti(ROTATIONS))))
        .await
        .unwrap();
    let reuse = RefreshSuccessor {
        token: TokenHash::of("long-x"),
        passport_jti: "long-px".into(),
        expires_at: NOW + 3600,
        claims: None,
    };
    let revoked = match db.rotate_refresh(&token(0), reuse, NOW + 1).await {
        Err(passport_store::StoreError::RefreshReused { family, revoked }) => {
            assert_eq!(family, "long");
            revoked
        }
        other => panic!("expected refresh_token_reused, got {other:?}"),
    };
    assert_eq!(revoked.len(), ROTATIONS + 2);
    let direct = revoked
        .iter()
        .filter(|r| r.reason == RevocationReason::Direct)
        .count();
    assert_eq!(direct, ROTATIONS + 1);
    let child = revoked.iter().find(|r| r.jti == "long-child").unwrap();
    assert_eq!(
        (
            child.reason,
            child.agent_id.as_str(),
            child.principal.as_str(),
            child.client_id.as_str(),
            child.audience.as_str(),
            child.parent_jti.clone()
        ),
        (
            RevocationReason::Cascaded,
            "agent-long-child",
            "alice",
            "client-1",
            "https://tool.example",
            Some(jti(ROTATIONS))
        )
    );
    for jti in [jti(0), jti(ROTATIONS), "long-child".into()] {
        let row = db.passport(&jti).await.unwrap().unwrap();
        assert_eq!(row.state, PassportState::Revoked, "{jti}");
    }
    // the newest token is dead too; ending it again revokes nothing more
    let err = db
        .rotate_refresh(
            &token(ROTATIONS),
            RefreshSuccessor {
                token: TokenHash::of("long-y"),
                passport_jti: "long-py".into(),
                expires_at: NOW + 3600,
                claims: None,
            },
            NOW + 2,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "refresh_token_revoked");
    assert!(
        db.end_refresh_family("long", NOW + 3)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn dpop_proof_replay_is_refused(db: Arc<Database>) {
    db.remember_dpop_proof("jkt-a", "proof-1", NOW + 60, NOW)
        .await
        .unwrap();
    let err = db
        .remember_dpop_proof("jkt-a", "proof-1", NOW + 60, NOW + 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "dpop_replayed");
    // the same jti under another key is another proof
    db.remember_dpop_proof("jkt-b", "proof-1", NOW + 60, NOW)
        .await
        .unwrap();
    // concurrent replays: one wins
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let db = Arc::clone(&db);
        tasks.spawn(async move { db.remember_dpop_proof("jkt-c", "p", NOW + 60, NOW).await });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(()) => accepted += 1,
            Err(e) => assert_eq!(e.code(), "dpop_replayed"),
        }
    }
    assert_eq!(accepted, 1);
    // once expired the entry no longer counts, and the purge removes it
    db.remember_dpop_proof("jkt-a", "proof-1", NOW + 200, NOW + 60)
        .await
        .unwrap();
    assert!(db.purge_expired(NOW + 60).await.unwrap() >= 2);
    let err = db
        .remember_dpop_proof("jkt-a", "proof-1", NOW + 200, NOW + 61)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "dpop_replayed");
}

fn client(id: &str, secret_hash: Option<&str>) -> NewClient {
    NewClient {
        client_id: id.into(),
        kind: if secret_hash.is_some() {
            ClientKind::Confidential
        } else {
            ClientKind::Public
        },
        secret_hash: secret_hash.map(Into::into),
        auth_method: "client_secret_basic".into(),
        redirect_uris: vec!["http://127.0.0.1:8080/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: "read write".into(),
        owner: None,
        jwks: None,
        metadata: r#"{"client_name":"test"}"#.into(),
        created_at: NOW,
    }
}

/// Clients are stored with the secret hash the server made (the database
/// never sees a secret), read back whole, and deleted.
async fn clients_keep_their_secret_hash(db: Arc<Database>) {
    let hash = "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0";
    db.insert_client(client("conf", Some(hash))).await.unwrap();
    db.insert_client(client("pub", None)).await.unwrap();
    let err = db.insert_client(client("conf", None)).await.unwrap_err();
    assert_eq!(err.code(), "duplicate_client");

    let found = db.client("conf").await.unwrap().unwrap();
    assert_eq!(found.secret_hash.as_deref(), Some(hash));
    assert_eq!(found, client("conf", Some(hash)).into_record());
    assert_eq!(found.kind, ClientKind::Confidential);
    assert_eq!(found.redirect_uris, ["http://127.0.0.1:8080/cb"]);
    assert_eq!(found.grant_types, ["authorization_code", "refresh_token"]);
    assert_eq!(found.metadata, r#"{"client_name":"test"}"#);
    assert_eq!(db.client("pub").await.unwrap().unwrap().secret_hash, None);
    assert!(db.client("nobody").await.unwrap().is_none());

    assert!(db.delete_client("conf").await.unwrap());
    assert!(!db.delete_client("conf").await.unwrap());
    assert!(db.client("conf").await.unwrap().is_none());
}

/// A client assertion's `jti` is single use per client, in the replay
/// table, apart from DPoP proofs with the same `jti`.
async fn assertion_jti_single_use(db: Arc<Database>) {
    db.remember_assertion_jti("c1", "j1", NOW + 60, NOW)
        .await
        .unwrap();
    let err = db
        .remember_assertion_jti("c1", "j1", NOW + 60, NOW + 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "dpop_replayed");
    // another client, or a DPoP proof, with the same jti: distinct
    db.remember_assertion_jti("c2", "j1", NOW + 60, NOW)
        .await
        .unwrap();
    db.remember_dpop_proof("c1", "j1", NOW + 60, NOW)
        .await
        .unwrap();
    // once expired, the row no longer blocks
    db.remember_assertion_jti("c1", "j1", NOW + 200, NOW + 61)
        .await
        .unwrap();
}

fn key(kid: &str) -> NewSigningKey {
    NewSigningKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_key: KeyMaterial::new(format!("secret-of-{kid}")),
        not_before: NOW,
        created_at: NOW,
    }
}

async fn signing_keys_rotate_next_current_retired(db: Arc<Database>) {
    assert_eq!(
        db.promote_next_key(NOW).await.unwrap_err().code(),
        "no_next_key"
    );
    db.add_next_key(key("k1")).await.unwrap();
    let current = db.promote_next_key(NOW).await.unwrap();
    assert_eq!(
        (current.kid.as_str(), current.state),
        ("k1", KeyState::Current)
    );
    assert_eq!(current.private_key.expose(), "secret-of-k1");
    assert_eq!(
        format!("{:?}", current.private_key),
        "KeyMaterial([redacted])"
    );

    // signing with k1 raises its max_exp
    db.record_issued(entry("p", None)).await.unwrap();
    db.add_next_key(key("k2")).await.unwrap();
    assert_eq!(
        db.add_next_key(key("k3")).await.unwrap_err().code(),
        "duplicate_key"
    );
    assert_eq!(
        db.add_next_key(key("k1")).await.unwrap_err().code(),
        "duplicate_key"
    );
    let keys = db.signing_keys().await.unwrap();
    let states: Vec<(&str, KeyState)> = keys.iter().map(|k| (k.kid.as_str(), k.state)).collect();
    assert_eq!(states, [("k1", KeyState::Current), ("k2", KeyState::Next)]);
    assert!(keys.iter().all(|k| k.is_published(NOW)));

    db.promote_next_key(NOW + 100).await.unwrap();
    let keys = db.signing_keys().await.unwrap();
    let k1 = keys.iter().find(|k| k.kid == "k1").unwrap();
    assert_eq!(k1.state, KeyState::Retired);
    assert_eq!(k1.retired_at, Some(NOW + 100));
    assert_eq!(k1.max_exp, NOW + 300);
    assert!(k1.is_published(NOW + 300));
    assert!(!k1.is_published(NOW + 301));
    assert_eq!(db.delete_retired_keys(NOW + 300).await.unwrap(), 0);
    assert_eq!(db.delete_retired_keys(NOW + 301).await.unwrap(), 1);
    let kids: Vec<String> = db
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2"]);
}

async fn status_indices_are_never_handed_out_twice(db: Arc<Database>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let db = Arc::clone(&db);
        tasks.spawn(async move {
            let mut got = Vec::new();
            for _ in 0..20 {
                got.push(
                    db.allocate_status_index("https://i.example/s/1")
                        .await
                        .unwrap(),
                );
            }
            got
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.unwrap());
    }
    // distinct, and random in the list's space (no longer 0..640)
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 640, "an index handed out twice");
    assert!(all.iter().all(|&i| i < passport_store::INITIAL_INDEX_SPACE));
    assert_ne!(all, (0..640).collect::<Vec<u64>>());
    // each list has its own space: another list may draw an index of this one
    let other = db
        .allocate_status_index("https://i.example/s/2")
        .await
        .unwrap();
    assert!(other < passport_store::INITIAL_INDEX_SPACE);
}
