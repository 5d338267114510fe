//! Security review A of /authorize and the token exchange (issue 13): each
//! test feeds the attack a finding describes and expects the refusal.

use passport_server::WorkloadClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::actor_token::delegate_to;
use crate::authorize_flow::{REDIRECT, login_server, register_client};
use crate::endpoints::{RESOURCE, Running, authorize_url, expect_refusal, no_redirects, start};
use crate::exchange::{CHILD_RESOURCE, ID_TOKEN, JWT, exchange, exchange_of, links, now};
use crate::id_token_exchange::with_upstream;

/// Finding 1: a bearer passport is an audience-restricted credential (RFC
/// 8707, RFC 9700 §4.10). A resource server that received one (here:
/// `stranger`, any registered client allowed the token exchange) must not
/// turn it into a child for another audience; only the client it was
/// issued to, or the agent it names, may exchange it.
#[tokio::test]
async fn finding_1_a_bearer_passport_is_exchanged_only_by_its_own_client() {
    let s = start().await;
    let owner = s.workload("files:*").await;
    let stranger = s.workload("files:*").await;
    let parent = s.mint(&owner, "files:*").await;
    let r = exchange(
        &s,
        &stranger,
        &parent,
        &[("resource", CHILD_RESOURCE), ("scope", "files:read")],
        None,
    )
    .await;
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "subject_token_not_held",
    )
    .await;
    // its own client still exchanges it
    let r = exchange(
        &s,
        &owner,
        &parent,
        &[("resource", CHILD_RESOURCE), ("scope", "files:read")],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Finding 2: an unbound (bearer) passport as `actor_token` proves nothing
/// about who presents it: whoever saw it (its audience, a log, a proxy)
/// mints children naming that agent as the one acting, and holds them
/// itself, since the child is bound to the actor's key only when the
/// actor passport has one.
#[tokio::test]
async fn finding_2_an_unbound_actor_token_cannot_name_its_agent_for_someone_else() {
    let s = start().await;
    let orchestrator = s.workload("files:*").await;
    let victim_agent = s.workload("files:read").await;
    // the victim agent's bearer passport, as its audience saw it
    let seen = s.mint(&victim_agent, "files:read").await;
    let parent = s.mint(&orchestrator, "files:*").await;
    let r = delegate_to(&s, &orchestrator, &parent, &seen, JWT).await;
    if r.status() == StatusCode::OK {
        let body: Value = r.json().await.unwrap();
        let child = &links(body["access_token"].as_str().unwrap())[0];
        panic!(
            "the orchestrator holds a {} passport naming {} as the acting agent (cnf: {:?})",
            body["token_type"], child.agent.agent_id, child.cnf_jkt
        );
    }
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "actor_token_invalid",
    )
    .await;
}

async fn exchange_id_token(s: &Running, client: &WorkloadClient, id_token: &str) -> Value {
    let extra = [("resource", RESOURCE)];
    let r = exchange_of(s, client, (id_token, ID_TOKEN), &extra, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Finding 3: the root minted from an upstream ID token lives the server's
/// full passport lifetime from the exchange, whatever is left of the ID
/// token: an ID token a minute from expiry (and exchangeable any number of
/// times until then) yields authority for 15 more minutes. The root must
/// not outlive the authentication it stands for.
#[tokio::test]
async fn finding_3_a_root_never_outlives_the_id_token_it_came_from() {
    let (mock, s) = with_upstream().await;
    let client = s.workload("files:read").await;
    let id_exp = now() + 60;
    let mut claims = mock.default_claims();
    claims["exp"] = json!(id_exp);
    let id_token = mock.mint_id_token(claims);
    let body = exchange_id_token(&s, &client, &id_token).await;
    let root = &links(body["access_token"].as_str().unwrap())[0];
    assert!(
        root.exp <= id_exp,
        "the root expires at {}, {} s after its ID token",
        root.exp,
        root.exp - id_exp
    );
    assert!(body["expires_in"].as_i64().unwrap() <= 60, "{body}");
}

/// Finding 4: with `--auto-consent` the loopback server hands out codes to
/// whoever drives the browser, and it answers any `Host`. A web page the
/// principal visits can rebind its own name to 127.0.0.1 (DNS rebinding;
/// `passport serve` listens on 127.0.0.1:8080 by default) and then drive
/// `/authorize`, and read `/token`, as a same-origin page: the loopback
/// rule keeps out the network, not the browser. Under auto-consent,
/// `/authorize` must answer only requests addressed to the issuer.
#[tokio::test]
async fn finding_4_auto_consent_refuses_a_rebound_host() {
    let (_mock, s) = login_server(|b| b.auto_consent(true)).await;
    register_client(&s, "app", json!({}), "authorization_code").await;
    let url = authorize_url(&s, ("app", REDIRECT), &[]);
    let http = no_redirects();
    let port = url.port().unwrap();
    let rebound = http
        .get(url.clone())
        .header("Host", format!("rebind.attacker.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebound.status(),
        StatusCode::BAD_REQUEST,
        "a request for another host was served: {:?}",
        rebound.headers().get("location")
    );
    let page = rebound.text().await.unwrap();
    assert!(page.contains("invalid_request"), "{page}");
    // addressed to the issuer, it is served
    let own = http.get(url).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::FOUND);
}
