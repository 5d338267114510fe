//! RFC 8693 `actor_token` (§2.1, §4.1): the sub-agent's own passport names
//! who will act. The child's agent is that passport's agent, its `act`
//! names it and wraps the parent's `act` once, and it is bound to the
//! actor's key. The actor token is verified in full; an ID token or an
//! unknown type as `actor_token_type` is refused. What is minted for an
//! actor passport is recorded with it, and goes when it is revoked.

use passport_claims::{Actor, Clock as _, PASSPORT_TYP};
use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_server::WorkloadClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::endpoints::{RESOURCE, Running, expect_refusal, fetch_list, start_clocked, start_with};
use crate::exchange::{
    CHILD_RESOURCE, ID_TOKEN, JWT, bound_passport, exchange, exchange_of, issued, links, now,
};
use crate::id_token_exchange::with_upstream;

pub(crate) async fn delegate_to(
    s: &Running,
    orchestrator: &WorkloadClient,
    parent: &str,
    actor: &str,
    actor_type: &str,
) -> reqwest::Response {
    exchange(
        s,
        orchestrator,
        parent,
        &[
            ("resource", CHILD_RESOURCE),
            ("scope", "files:read"),
            ("actor_token", actor),
            ("actor_token_type", actor_type),
        ],
        None,
    )
    .await
}

/// The parties of an exchange with an actor: an orchestrator (`files:*`)
/// and its passport (the parent), and a sub-agent (`files:read`) with a
/// passport bound to its own key, issued at `now` (the actor passport).
pub(crate) struct Orchestration {
    pub(crate) orchestrator: WorkloadClient,
    pub(crate) sub_agent: WorkloadClient,
    pub(crate) sub_key: DpopKey,
    pub(crate) actor: String,
    pub(crate) parent: String,
}

pub(crate) async fn orchestration(s: &Running, now: i64) -> Orchestration {
    let orchestrator = s.workload("files:*").await;
    let sub_agent = s.workload("files:read").await;
    let sub_key = DpopKey::generate(Algorithm::ES256).unwrap();
    let actor = bound_passport(s, &sub_agent, &sub_key, None, now).await;
    let parent = s.mint(&orchestrator, "files:*").await;
    Orchestration {
        orchestrator,
        sub_agent,
        sub_key,
        actor,
        parent,
    }
}

async fn actor_refused(r: reqwest::Response, why: &str) {
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_request", why).await;
}

#[tokio::test]
async fn the_actor_passport_names_the_childs_agent_act_and_key() {
    let (clock, s) = start_clocked(|b| b).await;
    let Orchestration {
        orchestrator,
        sub_agent,
        sub_key,
        actor,
        parent,
        ..
    } = orchestration(&s, clock.now()).await;

    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "bound to the actor's key");
    let chain = links(body["access_token"].as_str().unwrap());
    let (child, root) = (&chain[0], &chain[1]);
    assert_eq!(child.agent.agent_id, sub_agent.client_id);
    assert_eq!(child.cnf_jkt.as_deref(), Some(sub_key.jkt()));
    assert_eq!(
        child.act,
        Actor::wrapping(sub_agent.client_id.clone(), &root.act),
        "RFC 8693 §4.1: the actor, wrapping the parent's act once"
    );
    assert_eq!(
        child.act.act.as_deref().unwrap().sub,
        orchestrator.client_id
    );
    assert!(child.exp <= root.exp);
    // recorded as issued to the orchestrator, held by the sub-agent
    let record = s.server.database().passport(&child.jti).await.unwrap();
    let record = record.unwrap().entry;
    assert_eq!(record.client_id, orchestrator.client_id);
    assert_eq!(record.agent_id, sub_agent.client_id);
    // an access_token type names a passport too
    let r = delegate_to(
        &s,
        &orchestrator,
        &parent,
        &actor,
        "urn:ietf:params:oauth:token-type:access_token",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_actor_token_that_is_not_an_active_passport_is_refused() {
    let (clock, s) = start_clocked(|b| b).await;
    let orchestrator = s.workload("files:*").await;
    let sub_agent = s.workload("files:read").await;
    let expiring = s.mint(&sub_agent, "files:read").await;
    // expired: the passports live 15 minutes; the verifier allows 30 s skew
    clock.advance(900 + 31);
    let parent = s.mint(&orchestrator, "files:*").await;
    let r = delegate_to(&s, &orchestrator, &parent, &expiring, JWT).await;
    actor_refused(r, "actor_token_invalid:").await;

    // revoked (a bound actor: an unbound one is refused outright)
    let sub_key = DpopKey::generate(Algorithm::ES256).unwrap();
    let actor = bound_passport(&s, &sub_agent, &sub_key, None, clock.now()).await;
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    assert_eq!(r.status(), StatusCode::OK, "active before");
    let r = s
        .post_authenticated("/revoke", &sub_agent, &[("token", &actor)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    actor_refused(r, "actor_token_invalid:").await;

    // a bad signature, alg none, garbage
    let fresh = s.mint(&sub_agent, "files:read").await;
    // a character well inside the signature (the last one carries padding bits)
    let at = fresh.len() - 10;
    let flipped = if &fresh[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &fresh[..at], &fresh[at + 1..]);
    let segments: Vec<&str> = fresh.split('.').collect();
    let b64 = |v: &Value| passport_jose::b64::encode(serde_json::to_vec(v).unwrap());
    let none = format!(
        "{}.{}.AAAA",
        b64(&json!({"alg": "none", "typ": PASSPORT_TYP})),
        segments[1]
    );
    for token in [tampered.as_str(), none.as_str(), "garbage"] {
        let r = delegate_to(&s, &orchestrator, &parent, token, JWT).await;
        actor_refused(r, "actor_token_invalid:").await;
    }
}

#[tokio::test]
async fn an_unsupported_actor_token_type_is_invalid_request() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| b).await;
    let orchestrator = s.workload("files:*").await;
    let parent = s.mint(&orchestrator, "files:*").await;
    let actor = s.mint(&orchestrator, "files:read").await;
    for ty in [
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:saml2",
    ] {
        let r = delegate_to(&s, &orchestrator, &parent, &actor, ty).await;
        actor_refused(r, "actor_token_type not supported:").await;
    }
}

#[tokio::test]
async fn the_child_never_outlives_the_actor_passport() {
    let (clock, s) = start_clocked(|b| b).await;
    let orchestrator = s.workload("files:*").await;
    let sub_agent = s.workload("files:read").await;
    let sub_key = DpopKey::generate(Algorithm::ES256).unwrap();
    // the actor passport first, the parent five minutes later: the parent
    // lives longer than the actor
    let actor = bound_passport(&s, &sub_agent, &sub_key, None, clock.now()).await;
    clock.advance(300);
    let parent = s.mint(&orchestrator, "files:*").await;
    let (actor_exp, parent_exp) = (links(&actor)[0].exp, links(&parent)[0].exp);
    assert!(actor_exp < parent_exp);
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let child = &links(body["access_token"].as_str().unwrap())[0];
    assert_eq!(child.exp, actor_exp, "clamped to the actor passport");
    assert_eq!(body["expires_in"], actor_exp - clock.now());
}

/// The status list index of the leaf of `bundle`.
fn status_idx(bundle: &str) -> u64 {
    links(bundle)[0].status.as_ref().unwrap().idx()
}

/// Review rev11-c, finding 1: a child minted for an `actor_token` is bound
/// to the actor passport's key and clamped to its `exp`, but the registry
/// recorded it only under its parent, so revoking the actor passport (the
/// sub-agent's key leaked) left the child active at `/introspect` and on
/// the status list until its `exp`. It is recorded with its actor passport
/// now, and the cascade takes it.
#[tokio::test]
async fn review_rev11c_finding_1_revoking_the_actor_passport_revokes_the_child_minted_for_it() {
    let (clock, s) = start_clocked(|b| b).await;
    let Orchestration {
        orchestrator,
        sub_agent,
        actor,
        parent,
        ..
    } = orchestration(&s, clock.now()).await;
    let body = issued(delegate_to(&s, &orchestrator, &parent, &actor, JWT).await).await;
    let child = body["access_token"].as_str().unwrap().to_owned();
    assert!(s.active(&orchestrator, &child).await);
    let record = s.server.database().passport(&links(&child)[0].jti).await;
    assert_eq!(
        record.unwrap().unwrap().entry.actor_jti,
        Some(links(&actor)[0].jti.clone()),
        "recorded with the actor passport"
    );
    // the sub-agent's key leaked: its passport is revoked
    let r = s
        .post_authenticated("/revoke", &sub_agent, &[("token", &actor)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!s.active(&orchestrator, &actor).await);
    assert!(
        !s.active(&orchestrator, &child).await,
        "the child bound to the revoked actor's key is still active"
    );
    let list = fetch_list(&s).await;
    assert_eq!(list.list.get(status_idx(&child)).unwrap(), 1, "on the list");
    // the orchestrator's own passport stays; the revoked actor names no one
    assert!(s.active(&orchestrator, &parent).await);
    assert_eq!(list.list.get(status_idx(&parent)).unwrap(), 0);
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    actor_refused(r, "actor_token_invalid:").await;
}

/// Review rev11-c, finding 1, for a root: an upstream ID token exchanged
/// with an `actor_token` yields a root bound to the actor passport's key
/// and clamped to it (no parent); revoking the actor passport revokes it.
#[tokio::test]
async fn review_rev11c_finding_1_revoking_the_actor_passport_revokes_an_id_token_root_minted_for_it()
 {
    let (mock, s) = with_upstream().await;
    let client = s.workload("files:read").await;
    let sub_agent = s.workload("files:read").await;
    let sub_key = DpopKey::generate(Algorithm::ES256).unwrap();
    let actor = bound_passport(&s, &sub_agent, &sub_key, None, now()).await;
    let id_token = mock.mint_id_token(mock.default_claims());
    let extra = [
        ("resource", RESOURCE),
        ("actor_token", actor.as_str()),
        ("actor_token_type", JWT),
    ];
    let r = exchange_of(&s, &client, (&id_token, ID_TOKEN), &extra, None).await;
    let body = issued(r).await;
    let root = body["access_token"].as_str().unwrap().to_owned();
    let claims = &links(&root)[0];
    assert_eq!(claims.agent.parent_jti, None, "a root");
    assert_eq!(claims.cnf_jkt.as_deref(), Some(sub_key.jkt()));
    assert!(s.active(&client, &root).await);
    let r = s
        .post_authenticated("/revoke", &sub_agent, &[("token", &actor)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !s.active(&client, &root).await,
        "the root bound to the revoked actor's key is still active"
    );
    let list = fetch_list(&s).await;
    assert_eq!(list.list.get(status_idx(&root)).unwrap(), 1);
}
