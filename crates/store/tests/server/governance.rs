//! Agent identities and approvals (issue 14), on both backends.

use std::sync::Arc;

use passport_store::StoreError;
use passport_store::server::{
    AgentIdentity, ApprovalRecord, ApprovalRequest, ApprovalState, Database, Decision,
    IdentityState, MAX_PENDING_PER_REQUESTER,
};

use crate::common::{NOW, entry, on_both};

on_both!(
    identities_are_registered_once_and_updated,
    an_identity_change_made_on_a_stale_reading_changes_nothing,
    one_pending_approval_per_request_and_decisions_expire,
    each_principal_s_request_is_an_approval_of_its_own,
    an_agent_s_pending_requests_are_capped_and_listed_oldest_first,
    a_request_nobody_decided_in_time_expires,
    a_decision_without_an_expiry_never_stands,
    a_pending_request_without_an_expiry_can_no_longer_be_decided,
    the_registry_keeps_environment_and_approval,
);

/// `request_approval` for a request that must be left pending.
trait RequestPending {
    async fn request_pending(&self, r: ApprovalRecord) -> Result<ApprovalRecord, StoreError>;
}

impl RequestPending for Database {
    async fn request_pending(&self, r: ApprovalRecord) -> Result<ApprovalRecord, StoreError> {
        match self.request_approval(r).await? {
            ApprovalRequest::Pending(a) => Ok(a),
            other => panic!("expected a pending request, got {other:?}"),
        }
    }
}

fn identity(agent: &str) -> AgentIdentity {
    AgentIdentity {
        agent_id: agent.into(),
        owner: "alice".into(),
        team: "payments".into(),
        roles: vec!["deployer".into()],
        state: IdentityState::Active,
        created_at: NOW,
        updated_at: NOW,
        updated_by: "admin".into(),
    }
}

fn pending(id: &str, scopes: &str) -> ApprovalRecord {
    ApprovalRecord {
        id: id.into(),
        agent_id: "agent-1".into(),
        environment: "prod".into(),
        audience: "https://prod.example".into(),
        scopes: scopes.into(),
        requested_by: "alice".into(),
        requested_at: NOW,
        state: ApprovalState::Pending,
        decided_by: None,
        decided_at: None,
        expires_at: Some(NOW + 3_600),
    }
}

async fn identities_are_registered_once_and_updated(db: Arc<Database>) {
    assert!(db.insert_agent_identity(identity("a1")).await.unwrap());
    // a second registration changes nothing
    let mut other = identity("a1");
    other.owner = "mallory".into();
    assert!(!db.insert_agent_identity(other).await.unwrap());
    assert_eq!(
        db.agent_identity("a1").await.unwrap().unwrap().owner,
        "alice"
    );
    // an update keeps created_at
    let mut changed = identity("a1");
    changed.state = IdentityState::Disabled;
    changed.roles = vec![];
    changed.created_at = NOW + 99;
    changed.updated_at = NOW + 5;
    let read = db.agent_identity("a1").await.unwrap().unwrap();
    assert!(
        db.update_agent_identity(&read, changed.clone())
            .await
            .unwrap()
    );
    let read = db.agent_identity("a1").await.unwrap().unwrap();
    assert_eq!(
        (
            read.state,
            read.roles.len(),
            read.created_at,
            read.updated_at
        ),
        (IdentityState::Disabled, 0, NOW, NOW + 5)
    );
    assert!(
        !db.update_agent_identity(&identity("nobody"), identity("nobody"))
            .await
            .unwrap()
    );
    assert!(db.agent_identity("nobody").await.unwrap().is_none());
    db.insert_agent_identity(identity("a0")).await.unwrap();
    let all: Vec<String> = db
        .agent_identities()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.agent_id)
        .collect();
    assert_eq!(all, ["a0", "a1"]);
}

/// A change lands only on the row as it was read: of two changes made on
/// the same reading, the later one changes nothing (it would write the
/// stale fields over the first), whichever column the first one changed.
async fn an_identity_change_made_on_a_stale_reading_changes_nothing(db: Arc<Database>) {
    assert!(db.insert_agent_identity(identity("a1")).await.unwrap());
    let read = db.agent_identity("a1").await.unwrap().unwrap();
    let mut disabled = read.clone();
    disabled.state = IdentityState::Disabled;
    disabled.roles = vec![];
    disabled.updated_by = "carol".into();
    assert!(
        db.update_agent_identity(&read, disabled.clone())
            .await
            .unwrap()
    );
    let mut team = read.clone();
    team.team = "platform".into();
    team.updated_by = "dave".into();
    assert!(!db.update_agent_identity(&read, team).await.unwrap());
    assert_eq!(db.agent_identity("a1").await.unwrap().unwrap(), disabled);
    // each column counts, in the same second and by the same administrator
    let changes: [fn(&mut AgentIdentity); 5] = [
        |i| i.owner = "bob".into(),
        |i| i.team = "other".into(),
        |i| i.roles = vec!["deployer".into()],
        |i| i.state = IdentityState::Active,
        |i| i.updated_at += 1,
    ];
    for change in changes {
        let read = db.agent_identity("a1").await.unwrap().unwrap();
        let mut first = read.clone();
        change(&mut first);
        assert!(
            db.update_agent_identity(&read, first.clone())
                .await
                .unwrap()
        );
        let mut stale = read.clone();
        stale.updated_by = "dave".into();
        assert!(!db.update_agent_identity(&read, stale).await.unwrap());
        assert_eq!(db.agent_identity("a1").await.unwrap().unwrap(), first);
    }
}

async fn one_pending_approval_per_request_and_decisions_expire(db: Arc<Database>) {
    let first = db.request_pending(pending("ap1", "deploy")).await.unwrap();
    assert_eq!(
        (first.id.as_str(), first.state),
        ("ap1", ApprovalState::Pending)
    );
    // the same request again finds it; other scopes make another
    let again = db.request_pending(pending("ap2", "deploy")).await.unwrap();
    assert_eq!(again.id, "ap1");
    let other = db.request_pending(pending("ap3", "read")).await.unwrap();
    assert_eq!(other.id, "ap3");
    let standing = db
        .standing_approvals("agent-1", "prod", "https://prod.example", NOW)
        .await
        .unwrap();
    assert_eq!(standing.len(), 2);
    // one decision wins
    let decision = Decision {
        approve: true,
        decided_by: "bob".into(),
        now: NOW + 1,
        expires_at: NOW + 100,
    };
    let decided = db
        .decide_approval("ap1", decision.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            decided.state,
            decided.decided_by.as_deref(),
            decided.expires_at
        ),
        (ApprovalState::Approved, Some("bob"), Some(NOW + 100))
    );
    assert!(
        db.decide_approval("ap1", decision.clone())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.decide_approval("unknown", decision)
            .await
            .unwrap()
            .is_none()
    );
    // while approved, a new request for the same thing is a new pending one
    // (the caller looks for a standing approval first)
    let standing = db
        .standing_approvals("agent-1", "prod", "https://prod.example", NOW + 99)
        .await
        .unwrap();
    assert!(
        standing
            .iter()
            .any(|a| a.id == "ap1" && a.state == ApprovalState::Approved)
    );
    // past expires_at it no longer stands, and a listing marks it expired
    let standing = db
        .standing_approvals("agent-1", "prod", "https://prod.example", NOW + 100)
        .await
        .unwrap();
    assert!(standing.iter().all(|a| a.id != "ap1"));
    let approved = db
        .approvals(Some(ApprovalState::Approved), NOW + 100)
        .await
        .unwrap();
    assert!(approved.is_empty());
    let expired = db.approval("ap1").await.unwrap().unwrap();
    assert_eq!(expired.state, ApprovalState::Expired);
    assert_eq!(db.approvals(None, NOW + 100).await.unwrap().len(), 2);
    let next = db
        .request_pending(ApprovalRecord {
            requested_at: NOW + 101,
            ..pending("ap4", "deploy")
        })
        .await
        .unwrap();
    assert_eq!(
        (next.id.as_str(), next.state),
        ("ap4", ApprovalState::Pending)
    );
}

async fn the_registry_keeps_environment_and_approval(db: Arc<Database>) {
    let mut e = entry("gov-root", None);
    e.environment = Some("prod".into());
    e.approval_id = Some("ap1".into());
    db.record_issued(e).await.unwrap();
    // a delegated child too (PostgreSQL's pipelined statement)
    let mut child = entry("gov-child", Some("gov-root"));
    child.environment = Some("prod".into());
    db.record_issued(child).await.unwrap();
    let root = db.passport("gov-root").await.unwrap().unwrap();
    assert_eq!(root.entry.environment.as_deref(), Some("prod"));
    assert_eq!(root.entry.approval_id.as_deref(), Some("ap1"));
    let child = db.passport("gov-child").await.unwrap().unwrap();
    assert_eq!(child.entry.environment.as_deref(), Some("prod"));
    assert_eq!(child.entry.approval_id, None);
    let plain = entry("plain", None);
    db.record_issued(plain).await.unwrap();
    let plain = db.passport("plain").await.unwrap().unwrap();
    assert_eq!(
        (plain.entry.environment, plain.entry.approval_id),
        (None, None)
    );
}

/// Review S14, finding 3: a pending approval is keyed by its requester
/// too. Another principal's request for the same (agent, environment,
/// audience, scopes) is recorded as its own, not answered with the first
/// one's (which approvers would decide for the first principal alone).
async fn each_principal_s_request_is_an_approval_of_its_own(db: Arc<Database>) {
    let alice = db.request_pending(pending("ap1", "deploy")).await.unwrap();
    assert_eq!(alice.id, "ap1");
    let victor = db
        .request_pending(ApprovalRecord {
            requested_by: "victor".into(),
            ..pending("ap2", "deploy")
        })
        .await
        .unwrap();
    assert_eq!(
        (victor.id.as_str(), victor.requested_by.as_str()),
        ("ap2", "victor")
    );
    // each asks again: each finds their own
    let again = db.request_pending(pending("ap3", "deploy")).await.unwrap();
    assert_eq!(again.id, "ap1");
    let again = db
        .request_pending(ApprovalRecord {
            requested_by: "victor".into(),
            ..pending("ap4", "deploy")
        })
        .await
        .unwrap();
    assert_eq!(again.id, "ap2");
    let listed = db
        .approvals(Some(ApprovalState::Pending), NOW)
        .await
        .unwrap();
    let mut requesters: Vec<&str> = listed.iter().map(|a| a.requested_by.as_str()).collect();
    requesters.sort_unstable();
    assert_eq!(requesters, ["alice", "victor"]);
}

/// Review S14, finding 6: one agent asking many distinct scope sets had
/// every request recorded, and the listing showed the newest 1,000: it
/// buried every other agent's pending request. Fourth pass, V4-1: the cap
/// was per agent, so one principal filled it and locked every other
/// principal of that agent out. A principal has at most
/// `MAX_PENDING_PER_REQUESTER` pending through one agent (past it a
/// request is not recorded, and the oldest is named), a principal's same
/// request still finds its own, another principal (or agent) is not
/// limited by it, a pending request without `expires_at` holds no slot (and
/// since session 15 is expired: never listed as waiting), a
/// slot frees when one expires, and pending requests are listed first,
/// oldest first.
async fn an_agent_s_pending_requests_are_capped_and_listed_oldest_first(db: Arc<Database>) {
    let victim = db
        .request_pending(ApprovalRecord {
            agent_id: "victim".into(),
            expires_at: Some(NOW + 1_000),
            ..pending("victim-1", "deploy")
        })
        .await
        .unwrap();
    // written before requests expired: it holds none of alice's slots
    db.request_pending(ApprovalRecord {
        requested_at: NOW + 2,
        expires_at: None,
        ..pending("legacy", "deploy:legacy")
    })
    .await
    .unwrap();
    let flood = |n: usize, at: i64| ApprovalRecord {
        requested_at: at,
        expires_at: Some(at + 60),
        ..pending(&format!("f{n}"), &format!("deploy:x{n}"))
    };
    for n in 0..MAX_PENDING_PER_REQUESTER {
        let at = NOW + 1 + i64::try_from(n).unwrap();
        db.request_pending(flood(n, at)).await.unwrap();
    }
    for n in MAX_PENDING_PER_REQUESTER..MAX_PENDING_PER_REQUESTER + 5 {
        match db.request_approval(flood(n, NOW + 30)).await.unwrap() {
            ApprovalRequest::Full(oldest) => assert_eq!(oldest.id, "f0"),
            other => panic!("expected alice's requests full, got {other:?}"),
        }
    }
    // the same request of the same principal still finds its own
    let again = db.request_pending(flood(3, NOW + 30)).await.unwrap();
    assert_eq!(again.id, "f3");
    // another principal through the same agent is not limited by alice's
    let bob = db
        .request_approval(ApprovalRecord {
            requested_by: "bob".into(),
            ..flood(50, NOW + 30)
        })
        .await
        .unwrap();
    assert!(
        matches!(&bob, ApprovalRequest::Pending(a) if a.id == "f50"),
        "{bob:?}"
    );
    // another agent is not limited by this one's
    db.request_pending(ApprovalRecord {
        agent_id: "victim".into(),
        requested_at: NOW + 40,
        ..pending("victim-2", "read")
    })
    .await
    .unwrap();
    // once the oldest has expired, a slot is free
    let freed = db.request_approval(flood(99, NOW + 61)).await.unwrap();
    assert!(
        matches!(&freed, ApprovalRequest::Pending(a) if a.id == "f99"),
        "{freed:?}"
    );
    let listed = db
        .approvals(Some(ApprovalState::Pending), NOW + 61)
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&victim.id.as_str()), "{ids:?}");
    assert_eq!(ids.len(), MAX_PENDING_PER_REQUESTER + 3, "{ids:?}");
    assert!(!ids.contains(&"f0") && ids.contains(&"victim-2"), "{ids:?}");
    // the one without `expires_at` is not among the waiting ones
    assert!(!ids.contains(&"legacy"), "{ids:?}");
    let late = NOW + 100;
    // all states: the pending ones first, the expired after
    let all = db.approvals(None, late).await.unwrap();
    assert_eq!(all.first().map(|a| a.id.as_str()), Some("victim-1"));
    assert_eq!(all.last().map(|a| a.state), Some(ApprovalState::Expired));
}

/// A pending request with `expires_at` waits until then: after it, it no
/// longer stands, cannot be decided, is listed expired, and the same
/// request opens a new one.
async fn a_request_nobody_decided_in_time_expires(db: Arc<Database>) {
    let waiting = ApprovalRecord {
        expires_at: Some(NOW + 60),
        ..pending("ap1", "deploy")
    };
    db.request_pending(waiting).await.unwrap();
    let standing = |at| {
        let db = db.clone();
        async move {
            db.standing_approvals("agent-1", "prod", "https://prod.example", at)
                .await
                .unwrap()
        }
    };
    assert_eq!(standing(NOW + 59).await.len(), 1);
    assert!(standing(NOW + 60).await.is_empty());
    let late = Decision {
        approve: true,
        decided_by: "bob".into(),
        now: NOW + 60,
        expires_at: NOW + 960,
    };
    assert_eq!(db.decide_approval("ap1", late).await.unwrap(), None);
    let listed = db.approvals(None, NOW + 60).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, ApprovalState::Expired);
    let next = db
        .request_pending(ApprovalRecord {
            requested_at: NOW + 61,
            expires_at: Some(NOW + 121),
            ..pending("ap2", "deploy")
        })
        .await
        .unwrap();
    assert_eq!(
        (next.id.as_str(), next.state),
        ("ap2", ApprovalState::Pending)
    );
    // in time, it is decided
    let in_time = Decision {
        approve: true,
        decided_by: "bob".into(),
        now: NOW + 120,
        expires_at: NOW + 1_020,
    };
    let decided = db.decide_approval("ap2", in_time).await.unwrap().unwrap();
    assert_eq!(
        (decided.state, decided.expires_at),
        (ApprovalState::Approved, Some(NOW + 1_020))
    );
}

/// Session 15: a pending request without `expires_at` (written before
/// requests expired) held no slot and was not listed with the waiting
/// ones, but it still stood and could still be approved, however old: an
/// approver could approve a request nobody had made for months, and the
/// agent then got the access. It now counts as expired everywhere: it
/// cannot be decided, does not stand, is listed expired, and the same
/// request opens a new one an approver sees fresh.
async fn a_pending_request_without_an_expiry_can_no_longer_be_decided(db: Arc<Database>) {
    db.execute_script_for_tests(
        "INSERT INTO approvals (id, agent_id, environment, audience, scopes, requested_by, \
         requested_at, state) VALUES ('old', 'agent-1', 'prod', 'https://prod.example', \
         'deploy', 'alice', 0, 'pending')",
    )
    .await
    .unwrap();
    let standing = db
        .standing_approvals("agent-1", "prod", "https://prod.example", NOW)
        .await
        .unwrap();
    assert!(standing.is_empty(), "{standing:?}");
    let decision = Decision {
        approve: true,
        decided_by: "bob".into(),
        now: NOW,
        expires_at: NOW + 900,
    };
    assert_eq!(db.decide_approval("old", decision).await.unwrap(), None);
    let old = db.approval("old").await.unwrap().unwrap();
    assert_ne!(old.state, ApprovalState::Approved);
    // the same request again: a new one, pending, with an expiry
    let next = db.request_pending(pending("new", "deploy")).await.unwrap();
    assert_eq!(
        (next.id, next.state),
        ("new".into(), ApprovalState::Pending)
    );
    let listed = db.approvals(None, NOW).await.unwrap();
    let old = listed.iter().find(|a| a.id == "old").unwrap();
    assert_eq!(old.state, ApprovalState::Expired);
}

/// A decided row without `expires_at` (imported, edited by hand) admits
/// nothing: only a pending request may lack one (final review of session
/// 5: the standing query had widened to it).
async fn a_decision_without_an_expiry_never_stands(db: Arc<Database>) {
    db.request_pending(ApprovalRecord {
        expires_at: None,
        ..pending("ap1", "deploy")
    })
    .await
    .unwrap();
    db.execute_script_for_tests(
        "UPDATE approvals SET state = 'approved', decided_by = 'bob' WHERE id = 'ap1'",
    )
    .await
    .unwrap();
    let standing = db
        .standing_approvals("agent-1", "prod", "https://prod.example", NOW)
        .await
        .unwrap();
    assert!(standing.is_empty(), "{standing:?}");
}
