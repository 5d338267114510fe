//! Kill-switches and the registry's lifecycle on both databases: one
//! engaged switch per subject, the check through the parent chain, the
//! subject's revocation with descendants and refresh families, rotation
//! lineage and the listing's state filter agreeing with `Lifecycle::of`.

use std::sync::Arc;

use passport_store::server::{
    Database, KillKind, Lifecycle, NewKillSwitch, NewRefreshToken, RegistryFilter,
    RevocationReason, TokenHash,
};

use crate::common::{NOW, entry, on_both};

on_both!(
    switches_engage_once_and_block_through_the_chain,
    revoking_a_subject_takes_descendants_and_families,
    rotation_lineage_and_states,
    a_switch_names_a_subject_as_long_as_any_client_id,
    a_lifted_switch_revokes_nothing,
);

fn switch(id: &str, kind: KillKind, subject: &str) -> NewKillSwitch {
    NewKillSwitch::new(
        id.into(),
        kind,
        subject.into(),
        "admin".into(),
        "why".into(),
        NOW,
    )
}

/// A switch's subject may be as long as any client id the server accepts
/// (passport-server `MAX_CLIENT_ID_LEN`, 2,048 bytes: a client ID metadata
/// document URL): kept, indexed (PostgreSQL's B-tree entries are bounded)
/// and lifted.
async fn a_switch_names_a_subject_as_long_as_any_client_id(db: Arc<Database>) {
    let long = format!("https://clients.example/{}", "a".repeat(2048 - 24));
    assert_eq!(long.len(), 2048);
    for kind in [KillKind::Client, KillKind::Agent] {
        db.engage_kill_switch(switch(kind.as_str(), kind, &long))
            .await
            .unwrap();
    }
    assert_eq!(
        db.engaged_kill_switch(None, None, "agent", "bob", &long)
            .await
            .unwrap(),
        Some((KillKind::Client, long.clone()))
    );
    assert_eq!(
        db.engaged_kill_switch(None, None, &long, "bob", "client")
            .await
            .unwrap(),
        Some((KillKind::Agent, long.clone()))
    );
    for kind in [KillKind::Client, KillKind::Agent] {
        assert!(
            db.lift_kill_switch(kind, &long, "admin2", NOW + 1)
                .await
                .unwrap()
                .is_some()
        );
    }
}

async fn switches_engage_once_and_block_through_the_chain(db: Arc<Database>) {
    let mut root = entry("root", None);
    root.agent_id = "orchestrator".into();
    db.record_issued(root).await.unwrap();
    db.record_issued(entry("child", Some("root")))
        .await
        .unwrap();
    let blocked = |parent: Option<&'static str>, agent: &'static str| {
        let db = Arc::clone(&db);
        async move {
            db.engaged_kill_switch(parent, None, agent, "bob", "client-9")
                .await
                .unwrap()
        }
    };
    assert_eq!(blocked(Some("child"), "sub").await, None);

    let first = db
        .engage_kill_switch(switch("s1", KillKind::Agent, "orchestrator"))
        .await
        .unwrap();
    let again = db
        .engage_kill_switch(switch("s2", KillKind::Agent, "orchestrator"))
        .await
        .unwrap();
    assert_eq!(again.id, first.id, "one engaged switch per subject");
    // the grandparent's agent blocks a grandchild; a root of another agent is free
    assert_eq!(
        blocked(Some("child"), "sub").await,
        Some((KillKind::Agent, "orchestrator".into()))
    );
    assert_eq!(blocked(None, "sub").await, None);
    assert_eq!(
        blocked(None, "orchestrator").await,
        Some((KillKind::Agent, "orchestrator".into()))
    );
    // the candidate's own switch comes first
    db.engage_kill_switch(switch("s3", KillKind::Client, "client-9"))
        .await
        .unwrap();
    assert_eq!(
        blocked(Some("child"), "sub").await,
        Some((KillKind::Client, "client-9".into()))
    );
    assert_eq!(db.kill_switches(false, 10).await.unwrap().len(), 2);

    let lifted = db
        .lift_kill_switch(KillKind::Agent, "orchestrator", "admin2", NOW + 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (lifted.lifted_at, lifted.lifted_by.as_deref()),
        (Some(NOW + 5), Some("admin2"))
    );
    assert!(
        db.lift_kill_switch(KillKind::Agent, "orchestrator", "admin2", NOW + 6)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(db.kill_switches(false, 10).await.unwrap().len(), 1);
    assert_eq!(db.kill_switches(true, 10).await.unwrap().len(), 2);
    // engaged again after a lift: a new switch
    let third = db
        .engage_kill_switch(switch("s4", KillKind::Agent, "orchestrator"))
        .await
        .unwrap();
    assert_eq!(third.id, "s4");
}

async fn revoking_a_subject_takes_descendants_and_families(db: Arc<Database>) {
    let mut held = entry("held", None);
    held.agent_id = "victim".into();
    db.record_issued(held).await.unwrap();
    db.record_issued(entry("below", Some("held")))
        .await
        .unwrap();
    db.record_issued(entry("other", None)).await.unwrap();
    let family = |token: &str, jti: &str| NewRefreshToken {
        token: TokenHash::of(token),
        family_id: format!("family-{jti}"),
        client_id: "client-1".into(),
        passport_jti: jti.into(),
        scope: "read".into(),
        claims: "{}".into(),
        expires_at: NOW + 600,
        created_at: NOW,
    };
    db.insert_refresh_token(family("rt-held", "held"))
        .await
        .unwrap();
    db.insert_refresh_token(family("rt-other", "other"))
        .await
        .unwrap();
    let epoch = db.revocation_epoch().await.unwrap();

    let revoked = db
        .revoke_subject(KillKind::Agent, "victim", NOW + 1)
        .await
        .unwrap();
    let names: Vec<(&str, RevocationReason)> =
        revoked.iter().map(|r| (r.jti.as_str(), r.reason)).collect();
    assert_eq!(
        names,
        [
            ("held", RevocationReason::Direct),
            ("below", RevocationReason::Cascaded)
        ]
    );
    assert!(db.revocation_epoch().await.unwrap() > epoch);
    assert!(db.refresh_revoked(&TokenHash::of("rt-held")).await.unwrap());
    assert!(
        !db.refresh_revoked(&TokenHash::of("rt-other"))
            .await
            .unwrap()
    );
    assert_eq!(
        db.passport("other").await.unwrap().unwrap().state,
        passport_store::server::PassportState::Active
    );
    // idempotent
    assert!(
        db.revoke_subject(KillKind::Agent, "victim", NOW + 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn rotation_lineage_and_states(db: Arc<Database>) {
    for (jti, at) in [("p1", 1), ("p2", 2), ("gone", 3)] {
        let mut e = entry(jti, None);
        e.created_at = NOW + at;
        db.record_issued(e).await.unwrap();
    }
    let mut short = entry("short", None);
    short.exp = NOW + 10;
    short.created_at = NOW + 9;
    db.record_issued(short).await.unwrap();
    assert!(db.set_successor("p1", "p2").await.unwrap());
    assert!(
        !db.set_successor("p1", "gone").await.unwrap(),
        "the first stays"
    );
    assert!(!db.set_successor("unknown", "p2").await.unwrap());
    db.revoke_cascade("gone", NOW + 1).await.unwrap();

    let p1 = db.registry_lineage("p1").await.unwrap().unwrap();
    assert_eq!(p1.successor_jti.as_deref(), Some("p2"));
    let p2 = db.registry_lineage("p2").await.unwrap().unwrap();
    assert_eq!(p2.predecessor_jti.as_deref(), Some("p1"));
    assert!(db.registry_lineage("nope").await.unwrap().is_none());

    let now = NOW + 20; // "short" has expired
    let all = db
        .registry_listing(RegistryFilter::newest(10), now)
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].record.entry.jti, "short", "newest first");
    for state in [
        Lifecycle::Active,
        Lifecycle::Rotated,
        Lifecycle::Expired,
        Lifecycle::Revoked,
    ] {
        let mut filter = RegistryFilter::newest(10);
        filter.state = Some(state);
        let rows = db.registry_listing(filter, now).await.unwrap();
        assert_eq!(rows.len(), 1, "{state:?}");
        // the SQL filter and the Rust rule agree
        assert_eq!(Lifecycle::of(&rows[0], now), state);
        let expected = match state {
            Lifecycle::Active => "p2",
            Lifecycle::Rotated => "p1",
            Lifecycle::Expired => "short",
            Lifecycle::Revoked => "gone",
        };
        assert_eq!(rows[0].record.entry.jti, expected);
    }
    let mut filter = RegistryFilter::newest(1);
    filter.principal = Some("alice".into());
    assert_eq!(db.registry_listing(filter, now).await.unwrap().len(), 1);
    let mut filter = RegistryFilter::newest(10);
    filter.agent_id = Some("agent-p1".into());
    assert_eq!(db.registry_listing(filter, now).await.unwrap().len(), 1);
}

/// Review S15d-1: a kill-switch's revocation that runs after its switch
/// was lifted (queued behind a lift, or racing a lift on another instance)
/// revoked every passport minted since, for a switch no longer engaged.
/// `revoke_while_engaged` checks the switch in the same transaction: a
/// lifted one revokes nothing; a switch engaged again is a new one, whose
/// revocation runs.
async fn a_lifted_switch_revokes_nothing(db: Arc<Database>) {
    let engaged = db
        .engage_kill_switch(switch("s1", KillKind::Agent, "victim"))
        .await
        .unwrap();
    db.lift_kill_switch(KillKind::Agent, "victim", "admin2", NOW + 1)
        .await
        .unwrap()
        .unwrap();
    // minted after the lift
    let mut after = entry("after", None);
    after.agent_id = "victim".into();
    db.record_issued(after).await.unwrap();
    let late = db.revoke_while_engaged(&engaged.id, NOW + 2).await.unwrap();
    assert!(late.is_none(), "{late:?}");
    let state = db.passport("after").await.unwrap().unwrap().state;
    assert_eq!(state, passport_store::server::PassportState::Active);
    // engaged again: a new switch, whose revocation runs
    let again = db
        .engage_kill_switch(switch("s2", KillKind::Agent, "victim"))
        .await
        .unwrap();
    assert_ne!(again.id, engaged.id);
    let revoked = db
        .revoke_while_engaged(&again.id, NOW + 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.len(), 1);
    // no such switch: nothing
    assert!(
        db.revoke_while_engaged("no-such-switch", NOW + 4)
            .await
            .unwrap()
            .is_none()
    );
}
