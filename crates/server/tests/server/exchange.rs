//! RFC 8693 token exchange at `/token`: a passport bundle as the subject
//! token yields a delegated child, attenuated, clamped to its parent's
//! expiry, depth-limited, bound to the caller's DPoP key, recorded with its
//! parent (so a revocation of the parent reaches it).

use passport_claims::{Clock as _, PassportClaims, UnverifiedBundle};
use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_server::WorkloadClient;
use reqwest::StatusCode;
use serde_json::Value;

use crate::actor_token::delegate_to;
use crate::code_grant::ok;
use crate::endpoints::{
    RESOURCE, Running, access_token, dpop_refused, expect_refusal, start, start_clocked, start_with,
};

pub(crate) const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub(crate) const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub(crate) const CHILD_RESOURCE: &str = "https://files.example/api";

pub(crate) fn links(bundle: &str) -> Vec<PassportClaims> {
    UnverifiedBundle::parse(bundle)
        .unwrap()
        .inspect_unverified()
        .into_iter()
        .map(|l| l.unwrap().claims)
        .collect()
}

/// `client`'s RFC 8693 exchange at `s` of the subject token `(token,
/// type)`, with the further form members `extra` and the DPoP `proof`, if
/// given.
pub(crate) async fn exchange_of(
    s: &Running,
    client: &WorkloadClient,
    (subject, subject_type): (&str, &str),
    extra: &[(&str, &str)],
    proof: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", subject_type),
    ];
    form.extend_from_slice(extra);
    s.post_as("/token", client, &form, proof).await
}

/// [`exchange_of`] a passport bundle.
pub(crate) async fn exchange(
    s: &Running,
    client: &WorkloadClient,
    subject: &str,
    extra: &[(&str, &str)],
    proof: Option<&str>,
) -> reqwest::Response {
    exchange_of(s, client, (subject, JWT), extra, proof).await
}

impl Running {
    /// A child of `subject` for `resource` and `scope`, exchanged here by
    /// `client` (the answer must be 200, `no-store`).
    pub(crate) async fn delegate(
        &self,
        client: &WorkloadClient,
        subject: &str,
        (resource, scope): (&str, &str),
    ) -> String {
        let extra = [("resource", resource), ("scope", scope)];
        let body = ok(exchange(self, client, subject, &extra, None).await).await;
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// A passport for `client` (with `scope`, or all of its scopes), bound to
/// `key`.
pub(crate) async fn bound_passport(
    s: &Running,
    client: &WorkloadClient,
    key: &DpopKey,
    scope: Option<&str>,
    at: i64,
) -> String {
    let proof = key.proof("POST", &s.at("/token"), None, None, at).unwrap();
    access_token(s.client_credentials(client, scope, Some(&proof)).await).await
}

/// The answer to an exchange must be 200 with an access token; its body.
pub(crate) async fn issued(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    body
}

pub(crate) async fn error(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_bundle_is_exchanged_for_a_narrower_child_recorded_with_its_parent() {
    let (clock, s) = start_clocked(|b| b).await;
    let orchestrator = s.workload("files:*").await;
    let reader = s.workload("files:read").await;
    let parent = s.mint(&orchestrator, "files:*").await;
    // later: the child cannot outlive its parent
    clock.advance(600);
    // the orchestrator (the parent's own client) exchanges it for the
    // reader, named by its bound passport
    let reader_key = DpopKey::generate(Algorithm::ES256).unwrap();
    let actor = bound_passport(&s, &reader, &reader_key, None, clock.now()).await;
    let r = delegate_to(&s, &orchestrator, &parent, &actor, JWT).await;
    let body = issued(r).await;
    assert_eq!(body["token_type"], "DPoP", "held by the reader's key");
    assert_eq!(body["scope"], "files:read");
    let child = body["access_token"].as_str().unwrap();
    let chain = links(child);
    assert_eq!(chain.len(), 2);
    let (leaf, root) = (&chain[0], &chain[1]);
    assert_eq!(leaf.aud, CHILD_RESOURCE);
    assert_eq!(leaf.sub, "alice");
    assert_eq!(leaf.agent.agent_id, reader.client_id);
    assert_eq!(leaf.agent.parent_jti.as_deref(), Some(root.jti.as_str()));
    assert_eq!(leaf.exp, root.exp, "clamped to the parent's expiry");
    assert!(leaf.exp < clock.now() + 900);
    assert_eq!(body["expires_in"], leaf.exp - clock.now());
    let recorded = s.server.database().chain(&leaf.jti).await.unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].entry.jti, root.jti, "root first");
    assert_eq!(
        recorded[1].entry.parent_jti.as_deref(),
        Some(root.jti.as_str())
    );

    // revoking the parent revokes the child at once
    let r = s
        .post_authenticated("/revoke", &orchestrator, &[("token", &parent)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer = s.introspect(&reader, child).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    // and a revoked subject cannot be exchanged
    let r = exchange(
        &s,
        &orchestrator,
        &parent,
        &[("resource", CHILD_RESOURCE)],
        None,
    )
    .await;
    assert_eq!(error(r).await["error"], "invalid_grant");
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn an_exchange_that_widens_the_scope_is_invalid_scope() {
    let s = start().await;
    let orchestrator = s.workload("files:read mail:send").await;
    // bound to a key the narrow client below holds too: a bound subject is
    // exchanged by whoever proves its key
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let parent = bound_passport(&s, &orchestrator, &key, Some("files:read"), now()).await;
    let proof = || Some(s.token_proof(&key));
    // within the client's scopes, beyond the parent's
    let r = exchange(
        &s,
        &orchestrator,
        &parent,
        &[
            ("resource", CHILD_RESOURCE),
            ("scope", "files:read mail:send"),
        ],
        proof().as_deref(),
    )
    .await;
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_scope", "scope_widened").await;
    // within the parent's, beyond the calling client's
    let narrow = s.workload("mail:send").await;
    let r = exchange(
        &s,
        &narrow,
        &parent,
        &[("resource", CHILD_RESOURCE)],
        proof().as_deref(),
    )
    .await;
    assert_eq!(error(r).await["error"], "invalid_scope");
}

#[tokio::test]
async fn an_exchange_beyond_the_depth_limit_is_invalid_grant() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| b.max_depth(2)).await;
    let client = s.workload("files:*").await;
    let root = s.mint(&client, "files:*").await;
    let r = exchange(&s, &client, &root, &[("resource", RESOURCE)], None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let child: Value = r.json().await.unwrap();
    let r = exchange(
        &s,
        &client,
        child["access_token"].as_str().unwrap(),
        &[("resource", RESOURCE)],
        None,
    )
    .await;
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "chain_too_deep",
    )
    .await;
}

#[tokio::test]
async fn invalid_subjects_and_missing_resources_are_refused() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let root = s.mint(&client, "files:*").await;
    let mut tampered = root.clone();
    tampered.pop();
    tampered.push('x');
    for subject in ["garbage", tampered.as_str()] {
        let r = exchange(&s, &client, subject, &[("resource", RESOURCE)], None).await;
        assert_eq!(error(r).await["error"], "invalid_grant");
    }
    let r = exchange(&s, &client, &root, &[], None).await;
    assert_eq!(error(r).await["error"], "invalid_target");
    // an unauthenticated exchange
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", root.as_str()),
        ("subject_token_type", JWT),
        ("resource", RESOURCE),
    ];
    let r = s.post("/token", None, &form).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Review rev11-c, finding 4: RFC 8693 `audience` became the child's `aud`
/// as `resource` does, but only had to be non-blank: a fragment, a space,
/// a non-URI were minted as the audience. Now it meets `resource`'s rules,
/// and the two, both sent, must agree.
#[tokio::test]
async fn the_audience_parameter_meets_the_resource_rules() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let root = s.mint(&client, "files:*").await;
    for bad in [
        "https://files.example/api#frag ment",
        "https://files.example/api#f",
        "files",
        "ftp://files.example/",
    ] {
        for name in ["resource", "audience"] {
            let r = exchange(&s, &client, &root, &[(name, bad)], None).await;
            let body = error(r).await;
            assert_eq!(body["error"], "invalid_target", "{name}={bad}");
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .starts_with("resource invalid: "),
                "{body}"
            );
        }
    }
    let other = "https://other.example/api";
    let both = [("resource", RESOURCE), ("audience", other)];
    let body = error(exchange(&s, &client, &root, &both, None).await).await;
    assert_eq!(body["error"], "invalid_target");
    // a valid audience alone, or equal to the resource, is the child's aud
    for extra in [
        vec![("audience", RESOURCE)],
        vec![("resource", RESOURCE), ("audience", RESOURCE)],
    ] {
        let body = ok(exchange(&s, &client, &root, &extra, None).await).await;
        let child = body["access_token"].as_str().unwrap();
        assert_eq!(links(child)[0].aud, RESOURCE);
    }
}

#[tokio::test]
async fn a_bound_subject_needs_a_proof_by_its_key_and_binds_the_child() {
    let s = start().await;
    let client = s.workload("files:*").await;
    let holder = DpopKey::generate(Algorithm::ES256).unwrap();
    let bound = bound_passport(&s, &client, &holder, None, now()).await;
    let bound = bound.as_str();

    // a thief without the key: no proof, or a proof by another key
    let r = exchange(&s, &client, bound, &[("resource", RESOURCE)], None).await;
    assert_eq!(error(r).await["error"], "invalid_grant");
    let thief = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = s.token_proof(&thief);
    let r = exchange(&s, &client, bound, &[("resource", RESOURCE)], Some(&proof)).await;
    dpop_refused(r, "dpop_key_mismatch").await;

    // the holder
    let proof = s.token_proof(&holder);
    let r = exchange(&s, &client, bound, &[("resource", RESOURCE)], Some(&proof)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let child = links(body["access_token"].as_str().unwrap());
    assert_eq!(child[0].cnf_jkt.as_deref(), Some(holder.jkt()));
}
