//! The registry's lifecycle (issue 14): ACTIVE, ROTATED (a successor named
//! it: `replaces` on client credentials, or the refresh grant), EXPIRED,
//! REVOKED, with the lineage through rotation and delegation, listed for
//! administrators; `replaces` refused for anything but this client's
//! live root passport to the same audience; the admin revocation.

use std::sync::Arc;

use passport_claims::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::code_grant::{client, code_for, ok, redeem, refresh};
use crate::endpoints::{RESOURCE, Running, expect_refusal};
use crate::exchange::{CHILD_RESOURCE, links, now};
use crate::kill_switch::{admin_server, api, id_token};

/// The leaf's `jti` (a bundle lists the leaf first).
fn jti(bundle: &str) -> String {
    links(bundle)[0].jti.clone()
}

async fn replace(
    s: &Running,
    client: &passport_server::WorkloadClient,
    resource: &str,
    replaces: &str,
) -> reqwest::Response {
    s.token(
        client,
        &[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("replaces", replaces),
        ],
    )
    .await
}

/// The registry as `bearer` lists it with `query`, by `jti`.
async fn registry(s: &Running, bearer: &str, query: &str) -> Vec<Value> {
    let r = api(
        s,
        Some(bearer),
        Method::GET,
        &format!("/admin/api/registry{query}"),
        None,
    )
    .await;
    ok(r).await["passports"].as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], jti: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["jti"] == jti)
        .unwrap_or_else(|| panic!("{jti} is not listed"))
}

#[tokio::test]
async fn states_and_lineage_through_rotation_delegation_expiry_and_revocation() {
    let clock = Arc::new(ManualClock::new(now()));
    let (mock, s) = admin_server({
        let clock = clock.clone();
        move |b| b.clock(clock).passport_ttl(300)
    })
    .await;
    let auditor = id_token(&mock, "audrey", &["auditors"]);
    let a = s.workload("files:read").await;
    let first = s.mint(&a, "files:read").await;
    clock.advance(1);
    let r = replace(&s, &a, RESOURCE, &jti(&first)).await;
    let second = ok(r).await["access_token"].as_str().unwrap().to_owned();
    clock.advance(1);
    let child = s
        .delegate(&a, &second, (CHILD_RESOURCE, "files:read"))
        .await;

    let rows = registry(&s, &auditor, "").await;
    assert_eq!(rows.len(), 3);
    // newest first
    assert_eq!(rows[0]["jti"], jti(&child));
    let (p1, p2, c) = (jti(&first), jti(&second), jti(&child));
    let one = row(&rows, &p1);
    assert_eq!(one["state"], "rotated");
    assert_eq!(one["successor_jti"], p2.as_str());
    assert!(one["predecessor_jti"].is_null());
    let two = row(&rows, &p2);
    assert_eq!(two["state"], "active");
    assert_eq!(two["predecessor_jti"], p1.as_str());
    assert!(two["successor_jti"].is_null());
    let three = row(&rows, &c);
    assert_eq!(three["state"], "active");
    assert_eq!(three["parent_jti"], p2.as_str());
    assert_eq!(three["agent_id"], a.client_id.as_str());
    assert_eq!(three["principal"], "alice");
    assert!(three["expires_in"].as_i64().unwrap() > 0);
    // a rotated passport stays valid until it expires
    assert!(s.active(&a, &first).await);

    // filters
    let rotated = registry(&s, &auditor, "?state=rotated").await;
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0]["jti"], p1.as_str());
    assert_eq!(registry(&s, &auditor, "?limit=1").await.len(), 1);
    let agent = format!("?agent={}&principal=alice", a.client_id);
    assert_eq!(registry(&s, &auditor, &agent).await.len(), 3);
    assert!(registry(&s, &auditor, "?principal=bob").await.is_empty());

    // revoked: the parent and, by cascade, its child
    let owner = id_token(&mock, "olivia", &["owners"]);
    let revoke_p2 = format!("/admin/api/registry/{p2}/revoke");
    let r = api(&s, Some(&owner), Method::POST, &revoke_p2, None).await;
    let revoked: Value = ok(r).await;
    assert_eq!(revoked["revoked"], serde_json::json!([p2, c]));
    let rows = registry(&s, &auditor, "").await;
    assert_eq!(row(&rows, &p2)["state"], "revoked");
    assert_eq!(row(&rows, &p2)["revoked_reason"], "direct");
    assert_eq!(row(&rows, &c)["revoked_reason"], "cascaded");
    assert!(!s.active(&a, &child).await);
    // again: nothing more; unknown: 404
    let r = api(&s, Some(&owner), Method::POST, &revoke_p2, None).await;
    assert_eq!(ok(r).await["revoked"], serde_json::json!([]));
    let r = api(
        &s,
        Some(&owner),
        Method::POST,
        "/admin/api/registry/no-such-jti/revoke",
        None,
    )
    .await;
    expect_refusal(r, StatusCode::NOT_FOUND, "invalid_request", "no passport").await;

    // expired: the first one, once its exp passed (rotated stays rotated)
    let third = s.mint(&a, "files:read").await;
    clock.advance(400);
    let rows = registry(&s, &auditor, "").await;
    assert_eq!(row(&rows, &jti(&third))["state"], "expired");
    assert_eq!(row(&rows, &jti(&third))["expires_in"], 0);
    assert_eq!(row(&rows, &p1)["state"], "rotated");
    let expired = registry(&s, &auditor, "?state=expired").await;
    assert_eq!(expired.len(), 1);

    // bad queries
    for (query, why) in [
        ("?state=alive", "state must be"),
        ("?limit=0", "limit must be"),
        ("?limit=1001", "limit must be"),
        ("?limit=x", "limit must be"),
    ] {
        let r = api(
            &s,
            Some(&auditor),
            Method::GET,
            &format!("/admin/api/registry{query}"),
            None,
        )
        .await;
        expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_request", why).await;
    }
}

#[tokio::test]
async fn replaces_is_refused_for_anything_but_this_clients_live_root_to_the_same_audience() {
    let (_mock, s) = admin_server(|b| b).await;
    let a = s.workload("files:read").await;
    let b = s.workload("files:read").await;
    let mine = s.mint(&a, "files:read").await;
    let theirs = s.mint(&b, "files:read").await;
    let refused = |r, why: &'static str| async move {
        let body = expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_request", why).await;
        assert_eq!(body["error_description"], why, "{body}");
    };

    let not_mine = "replaces: not a passport issued to this client";
    refused(replace(&s, &a, RESOURCE, &jti(&theirs)).await, not_mine).await;
    refused(replace(&s, &a, RESOURCE, "unknown-jti").await, not_mine).await;
    refused(replace(&s, &a, RESOURCE, &"x".repeat(5000)).await, not_mine).await;
    refused(
        replace(&s, &a, CHILD_RESOURCE, &jti(&mine)).await,
        "replaces: the passport is for another audience",
    )
    .await;
    // a delegated passport
    let child = s.delegate(&a, &mine, (RESOURCE, "files:read")).await;
    refused(
        replace(&s, &a, RESOURCE, &jti(&child)).await,
        "replaces: the passport is delegated: exchange its parent again instead",
    )
    .await;
    // once: a second replacement of the same one is refused
    ok(replace(&s, &a, RESOURCE, &jti(&mine)).await).await;
    refused(
        replace(&s, &a, RESOURCE, &jti(&mine)).await,
        "replaces: the passport was already replaced",
    )
    .await;
    // a revoked one
    let gone = s.mint(&a, "files:read").await;
    let r = s
        .post_authenticated("/revoke", &a, &[("token", &gone)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    refused(
        replace(&s, &a, RESOURCE, &jti(&gone)).await,
        "replaces: the passport is revoked",
    )
    .await;
    // nothing was rotated by the refusals
    assert!(
        s.server
            .database()
            .registry_lineage(&jti(&theirs))
            .await
            .unwrap()
            .unwrap()
            .successor_jti
            .is_none()
    );
}

#[tokio::test]
async fn a_refresh_rotates_the_familys_previous_passport() {
    let (mock, s) = admin_server(|b| b).await;
    let auditor = id_token(&mock, "audrey", &["auditors"]);
    let app = client(&s, "app", "files:*").await;
    code_for(&s, &app, "code-1", "files:read", now() + 60).await;
    let body = ok(redeem(&s, &app, "code-1", &[]).await).await;
    let first = jti(body["access_token"].as_str().unwrap());
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    let body = ok(refresh(&s, &app, &token, &[]).await).await;
    let second = jti(body["access_token"].as_str().unwrap());
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    let body = ok(refresh(&s, &app, &token, &[]).await).await;
    let third = jti(body["access_token"].as_str().unwrap());

    let rows = registry(&s, &auditor, "?agent=app").await;
    assert_eq!(row(&rows, &first)["state"], "rotated");
    assert_eq!(row(&rows, &first)["successor_jti"], second.as_str());
    assert_eq!(row(&rows, &second)["state"], "rotated");
    assert_eq!(row(&rows, &second)["predecessor_jti"], first.as_str());
    assert_eq!(row(&rows, &second)["successor_jti"], third.as_str());
    assert_eq!(row(&rows, &third)["state"], "active");
    assert_eq!(row(&rows, &third)["predecessor_jti"], second.as_str());
}
