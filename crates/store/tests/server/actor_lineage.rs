//! Migration 0012 on both databases (review rev11-c, finding 1): the
//! registry records the actor passport a passport was minted for
//! (`actor_jti`), and every walk that follows a parent link follows it
//! too — the cascade, a kill-switch's revocation, the kill-switch check,
//! and the refusal of a passport whose actor passport is revoked.

use std::sync::Arc;

use passport_store::server::{
    Database, KillKind, NewKillSwitch, PassportEntry, PassportState, RevocationReason,
};

use crate::common::{NOW, entry, on_both};

on_both!(
    revoking_an_actor_passport_revokes_what_was_minted_for_it,
    a_revoked_or_unknown_actor_passport_mints_nothing,
    shared_and_cyclic_links_end_every_walk,
    a_switch_up_the_actor_passport_s_links_blocks_and_revokes,
);

const URI: &str = "https://issuer.example/status/1";

/// `jti`, delegated from `parent` (if any) and minted for the actor
/// passport `actor`, with a status index of its own; the index.
async fn record(db: &Database, jti: &str, parent: Option<&str>, actor: &str) -> u64 {
    let idx = db.allocate_status_index(URI).await.unwrap();
    db.record_issued(PassportEntry {
        actor_jti: Some(actor.into()),
        status_idx: Some(idx),
        ..entry(jti, parent)
    })
    .await
    .unwrap();
    idx
}

/// A root with a status index of its own; the index.
async fn root(db: &Database, jti: &str) -> u64 {
    let idx = db.allocate_status_index(URI).await.unwrap();
    db.record_issued(PassportEntry {
        status_idx: Some(idx),
        ..entry(jti, None)
    })
    .await
    .unwrap();
    idx
}

async fn state(db: &Database, jti: &str) -> PassportState {
    db.passport(jti).await.unwrap().unwrap().state
}

/// The orchestrator's `parent`; the sub-agent's `actor` (delegated from
/// `actor-root`); `child` of `parent` minted for `actor`, and what follows
/// from `child` by either link. Revoking `actor` revokes `child` and what
/// follows, and shows them on the status list; the parent and the actor's
/// own root stay active. Revoking `actor-root` reaches a second child
/// through the actor passport it delegated.
async fn revoking_an_actor_passport_revokes_what_was_minted_for_it(db: Arc<Database>) {
    let parent_idx = root(&db, "parent").await;
    root(&db, "actor-root").await;
    let actor_idx = db.allocate_status_index(URI).await.unwrap();
    db.record_issued(PassportEntry {
        status_idx: Some(actor_idx),
        ..entry("actor", Some("actor-root"))
    })
    .await
    .unwrap();
    let child_idx = record(&db, "child", Some("parent"), "actor").await;
    // delegated from the child; minted for the child as an actor
    let grandchild_idx = db.allocate_status_index(URI).await.unwrap();
    db.record_issued(PassportEntry {
        status_idx: Some(grandchild_idx),
        ..entry("grandchild", Some("child"))
    })
    .await
    .unwrap();
    let acted_idx = record(&db, "acted-for-child", Some("parent"), "child").await;
    // an ID-token root minted for the actor (no parent)
    let id_root_idx = db.allocate_status_index(URI).await.unwrap();
    db.record_issued(PassportEntry {
        actor_jti: Some("actor".into()),
        status_idx: Some(id_root_idx),
        ..entry("id-root", None)
    })
    .await
    .unwrap();
    let recorded = db.passport("child").await.unwrap().unwrap().entry;
    assert_eq!(recorded.actor_jti.as_deref(), Some("actor"));
    assert_eq!(recorded.parent_jti.as_deref(), Some("parent"));

    let revoked = db.revoke_cascade("actor", NOW + 1).await.unwrap();
    let got: Vec<(&str, RevocationReason)> =
        revoked.iter().map(|r| (r.jti.as_str(), r.reason)).collect();
    assert_eq!(
        got,
        [
            ("actor", RevocationReason::Direct),
            ("acted-for-child", RevocationReason::Cascaded),
            ("child", RevocationReason::Cascaded),
            ("grandchild", RevocationReason::Cascaded),
            ("id-root", RevocationReason::Cascaded),
        ]
    );
    let child = db.passport("child").await.unwrap().unwrap();
    assert_eq!(child.state, PassportState::Revoked);
    assert_eq!(child.revoked_reason, Some(RevocationReason::Cascaded));
    assert_eq!(state(&db, "parent").await, PassportState::Active);
    assert_eq!(state(&db, "actor-root").await, PassportState::Active);
    // the status list is read from the registry: every one of them is on it
    let on_list = db.revoked_status_indices(URI).await.unwrap();
    let mut expected = vec![actor_idx, child_idx, grandchild_idx, acted_idx, id_root_idx];
    expected.sort_unstable();
    assert_eq!(on_list, expected);
    assert!(!on_list.contains(&parent_idx));

    // the actor passport's own ancestors reach through it
    db.record_issued(entry("actor-2", Some("actor-root")))
        .await
        .unwrap();
    let second_idx = record(&db, "second", Some("parent"), "actor-2").await;
    let revoked = db.revoke_cascade("actor-root", NOW + 2).await.unwrap();
    let got: Vec<&str> = revoked.iter().map(|r| r.jti.as_str()).collect();
    assert_eq!(got, ["actor-root", "actor-2", "second"]);
    assert!(
        db.revoked_status_indices(URI)
            .await
            .unwrap()
            .contains(&second_idx)
    );
    assert_eq!(state(&db, "parent").await, PassportState::Active);
}

/// A passport minted for a revoked actor passport is refused
/// (`actor_revoked`), delegated or a root, and nothing of it is stored; an
/// unknown actor passport is `unknown_passport`. The parent is checked
/// first.
async fn a_revoked_or_unknown_actor_passport_mints_nothing(db: Arc<Database>) {
    for jti in ["parent", "actor"] {
        db.record_issued(entry(jti, None)).await.unwrap();
    }
    let for_actor = |jti: &str, parent: Option<&str>, actor: &str| PassportEntry {
        actor_jti: Some(actor.into()),
        ..entry(jti, parent)
    };
    db.revoke_cascade("actor", NOW + 1).await.unwrap();
    for (jti, parent) in [("late-child", Some("parent")), ("late-root", None)] {
        let err = db
            .record_issued(for_actor(jti, parent, "actor"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "actor_revoked", "{jti}: {err}");
        assert!(db.passport(jti).await.unwrap().is_none(), "{jti} stored");
    }
    let err = db
        .record_issued(for_actor("orphan", Some("parent"), "nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_passport");
    // both revoked: the parent's refusal, as before
    db.revoke_cascade("parent", NOW + 1).await.unwrap();
    let err = db
        .record_issued(for_actor("both", Some("parent"), "actor"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "parent_revoked");
}

/// A parent that is also the actor passport (an orchestrator naming its
/// own bound passport as the actor), and rows linked in a cycle (never
/// written by the server; tampered with here): each walk ends, and each
/// passport is revoked once.
async fn shared_and_cyclic_links_end_every_walk(db: Arc<Database>) {
    db.record_issued(entry("p", None)).await.unwrap();
    // a chain of 40 passports, each delegated from and minted for the last
    let mut last = "p".to_owned();
    for n in 0..40 {
        let jti = format!("p{n}");
        db.record_issued(PassportEntry {
            actor_jti: Some(last.clone()),
            ..entry(&jti, Some(&last))
        })
        .await
        .unwrap();
        last = jti;
    }
    // the kill-switch walk up from the last: 2^40 paths, each passport
    // once per depth (the root's agent is "agent-p")
    db.engage_kill_switch(NewKillSwitch::new(
        "s1".into(),
        KillKind::Agent,
        "agent-p".into(),
        "admin".into(),
        "why".into(),
        NOW,
    ))
    .await
    .unwrap();
    let found = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        db.engaged_kill_switch(Some(&last), Some(&last), "sub", "bob", "client-9"),
    )
    .await
    .expect("the walk up ends")
    .unwrap();
    assert_eq!(found, Some((KillKind::Agent, "agent-p".into())));
    let revoked = db.revoke_cascade("p", NOW + 1).await.unwrap();
    assert_eq!(revoked.len(), 41, "each passport once");

    // a cycle: a -> b -> a by parent, b -> a by actor
    for jti in ["a", "b"] {
        db.record_issued(entry(jti, None)).await.unwrap();
    }
    db.execute_script_for_tests(
        "UPDATE registry SET parent_jti = 'b' WHERE jti = 'a';          UPDATE registry SET parent_jti = 'a', actor_jti = 'a' WHERE jti = 'b'",
    )
    .await
    .unwrap();
    assert_eq!(
        db.engaged_kill_switch(Some("a"), Some("b"), "sub", "bob", "client-9")
            .await
            .unwrap(),
        None
    );
    let revoked = db.revoke_cascade("a", NOW + 2).await.unwrap();
    let got: Vec<&str> = revoked.iter().map(|r| r.jti.as_str()).collect();
    assert_eq!(got, ["a", "b"]);
    let mut held = entry("c", None);
    held.agent_id = "held".into();
    db.record_issued(held).await.unwrap();
    db.execute_script_for_tests("UPDATE registry SET actor_jti = 'c' WHERE jti = 'c'")
        .await
        .unwrap();
    let revoked = db
        .revoke_subject(KillKind::Agent, "held", NOW + 3)
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
}

/// The sub-agent's actor passport (principal bob, client sub-client) and a
/// child of the orchestrator's passport minted for it (principal alice,
/// client client-1): a switch on bob or on sub-client — engaged, its
/// revocation not run yet — blocks a passport for that actor passport,
/// or for one minted for it; the revocation takes the child with the
/// actor passport, and the status list shows both.
async fn a_switch_up_the_actor_passport_s_links_blocks_and_revokes(db: Arc<Database>) {
    root(&db, "orchestrator").await;
    let actor_idx = db.allocate_status_index(URI).await.unwrap();
    let mut actor = entry("actor", None);
    actor.principal = "bob".into();
    actor.client_id = "sub-client".into();
    actor.agent_id = "sub".into();
    actor.status_idx = Some(actor_idx);
    db.record_issued(actor).await.unwrap();
    let child_idx = record(&db, "child", Some("orchestrator"), "actor").await;
    let blocked = |actor: &'static str| {
        let db = Arc::clone(&db);
        async move {
            db.engaged_kill_switch(
                Some("orchestrator"),
                Some(actor),
                "sub",
                "alice",
                "client-1",
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(blocked("actor").await, None);
    for (n, (kind, subject)) in [
        (KillKind::Principal, "bob"),
        (KillKind::Client, "sub-client"),
    ]
    .into_iter()
    .enumerate()
    {
        db.engage_kill_switch(NewKillSwitch::new(
            format!("s{n}"),
            kind,
            subject.into(),
            "admin".into(),
            "why".into(),
            NOW,
        ))
        .await
        .unwrap();
        assert_eq!(blocked("actor").await, Some((kind, subject.into())));
        // one further up: minted for the child, itself minted for the actor
        assert_eq!(blocked("child").await, Some((kind, subject.into())));
        // without the actor passport, the orchestrator's own chain is free
        assert_eq!(
            db.engaged_kill_switch(Some("orchestrator"), None, "sub", "alice", "client-1")
                .await
                .unwrap(),
            None
        );
        db.lift_kill_switch(kind, subject, "admin", NOW)
            .await
            .unwrap();
    }

    let revoked = db
        .revoke_subject(KillKind::Principal, "bob", NOW + 1)
        .await
        .unwrap();
    let got: Vec<(&str, RevocationReason)> =
        revoked.iter().map(|r| (r.jti.as_str(), r.reason)).collect();
    assert_eq!(
        got,
        [
            ("actor", RevocationReason::Direct),
            ("child", RevocationReason::Cascaded)
        ]
    );
    assert_eq!(state(&db, "orchestrator").await, PassportState::Active);
    let mut expected = vec![actor_idx, child_idx];
    expected.sort_unstable();
    assert_eq!(db.revoked_status_indices(URI).await.unwrap(), expected);
}

/// A database migrated to 0011 with passports in it, then upgraded: the
/// rows recorded before read with no actor passport, and revoke as before.
#[tokio::test]
async fn rows_recorded_before_0012_have_no_actor_passport() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let path = path.to_str().unwrap();
    {
        let db = Database::open(path, NOW).await.unwrap();
        db.record_issued(entry("old-root", None)).await.unwrap();
        db.record_issued(entry("old-child", Some("old-root")))
            .await
            .unwrap();
    }
    {
        // back to schema 11
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "DROP INDEX registry_actor; ALTER TABLE registry DROP COLUMN actor_jti;              DELETE FROM schema_migrations WHERE version = 12;",
        )
        .unwrap();
    }
    let db = Database::open(path, NOW).await.unwrap();
    assert_eq!(
        db.schema_versions().await.unwrap(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    let old = db.passport("old-child").await.unwrap().unwrap();
    assert_eq!(old.entry.actor_jti, None);
    assert_eq!(old.entry.parent_jti.as_deref(), Some("old-root"));
    let revoked = db.revoke_cascade("old-root", NOW + 1).await.unwrap();
    assert_eq!(revoked.len(), 2);
}
