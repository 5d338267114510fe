//! `/token` with `authorization_code` and `refresh_token`, and `/revoke` of
//! a refresh token, over HTTP. Codes are put in the store the way
//! `/authorize` does (hashed, with the principal's JSON), since the
//! authorization endpoint is tested on its own.

use std::sync::Arc;

use passport_claims::{PassportClaims, UnverifiedBundle};
use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_server::client_auth::ClientSecret;
use passport_server::pkce::CodeChallenge;
use passport_store::server::{ClientKind, NewClient, NewCode, TokenHash};
use reqwest::StatusCode;
use serde_json::Value;

use crate::endpoints::{
    Credentials, RESOURCE, Running, dpop_refused, expect_error, expect_refusal, start,
};

const REDIRECT: &str = "http://127.0.0.1:9999/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PRINCIPAL: &str = r#"{"issuer":"https://idp.example","subject":"alice","acr":null,"ial":null,"aal":null,"fal":null}"#;

/// A confidential client registered by an operator (secret, Basic).
pub(crate) struct Client {
    pub(crate) id: String,
    secret: String,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) async fn client(s: &Running, id: &str, scopes: &str) -> Client {
    let (secret, hash) = ClientSecret::generate().unwrap();
    s.server
        .database()
        .insert_client(NewClient {
            client_id: id.to_owned(),
            kind: ClientKind::Confidential,
            secret_hash: Some(hash.to_b64()),
            auth_method: "client_secret_basic".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: scopes.into(),
            owner: None,
            jwks: None,
            metadata: "{}".into(),
            created_at: now(),
        })
        .await
        .unwrap();
    Client {
        id: id.to_owned(),
        secret: secret.expose().to_owned(),
    }
}

/// A server with the client `app` (`files:*`) and its `code` for
/// `files:read`, valid for a minute.
async fn app_with_code(code: &str) -> (Running, Client) {
    let s = start().await;
    let c = client(&s, "app", "files:*").await;
    code_for(&s, &c, code, "files:read", now() + 60).await;
    (s, c)
}

/// Stores a code for `client`, as `/authorize` does, expiring at `expires_at`.
pub(crate) async fn code_for(
    s: &Running,
    client: &Client,
    code: &str,
    scope: &str,
    expires_at: i64,
) {
    s.server
        .database()
        .insert_code(NewCode {
            code: TokenHash::of(code),
            client_id: client.id.clone(),
            redirect_uri: REDIRECT.into(),
            code_challenge: CodeChallenge::s256(VERIFIER).unwrap().as_str().to_owned(),
            resource: RESOURCE.into(),
            scope: scope.into(),
            claims: PRINCIPAL.into(),
            expires_at,
        })
        .await
        .unwrap();
}

impl Credentials for Client {
    fn basic(&self) -> (&str, &str) {
        (self.id.as_str(), self.secret.as_str())
    }
}

pub(crate) async fn redeem(
    s: &Running,
    client: &Client,
    code: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    redeem_with(s, client, code, extra, None).await
}

/// As [`redeem`], with a `DPoP` proof if given (the grant is then bound to
/// its key).
pub(crate) async fn redeem_with(
    s: &Running,
    client: &Client,
    code: &str,
    extra: &[(&str, &str)],
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut form = code_form(code, REDIRECT, Some(VERIFIER));
    form.extend_from_slice(extra);
    s.post_as("/token", client, &form, dpop).await
}

/// An `authorization_code` request's form.
fn code_form<'a>(
    code: &'a str,
    redirect_uri: &'a str,
    verifier: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    form
}

pub(crate) async fn refresh(
    s: &Running,
    client: &Client,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    refresh_with(s, client, token, extra, None).await
}

/// As [`refresh`], with a `DPoP` proof if given.
pub(crate) async fn refresh_with(
    s: &Running,
    client: &Client,
    token: &str,
    extra: &[(&str, &str)],
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    s.post_as("/token", client, &form, dpop).await
}

pub(crate) async fn ok(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

/// The answer must be 400 `invalid_grant` for the reason `why`.
async fn refused(r: reqwest::Response, why: &str) {
    expect_refusal(r, StatusCode::BAD_REQUEST, "invalid_grant", why).await;
}

fn claims_of(bundle: &str) -> PassportClaims {
    let parsed = UnverifiedBundle::parse(bundle).unwrap();
    parsed.inspect_unverified().remove(0).unwrap().claims
}

async fn active(s: &Running, client: &Client, token: &str) -> bool {
    let body = ok(s
        .post_as("/introspect", client, &[("token", token)], None)
        .await)
    .await;
    body["active"].as_bool().unwrap()
}

pub(crate) fn token(body: &Value, member: &str) -> String {
    body[member].as_str().unwrap().to_owned()
}

/// A token response's passport and refresh token.
fn tokens(body: &Value) -> (String, String) {
    (token(body, "access_token"), token(body, "refresh_token"))
}

/// Runs eight `request`s of `c` at `s` at once; the passports of those
/// answered 200 (every other must be 400 `invalid_grant`).
async fn race<F, R>(s: &Arc<Running>, c: &Arc<Client>, request: F) -> Vec<String>
where
    F: Fn(Arc<Running>, Arc<Client>) -> R,
    R: Future<Output = reqwest::Response> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let r = request(s.clone(), c.clone());
        tasks.spawn(async move {
            let r = r.await;
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        });
    }
    let mut winners = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (status, body) = done.unwrap();
        if status == StatusCode::OK {
            winners.push(token(&body, "access_token"));
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
    }
    winners
}

#[tokio::test]
async fn a_code_works_once_and_its_reuse_revokes_what_it_issued() {
    let (s, c) = app_with_code("code-1").await;

    let body = ok(redeem(&s, &c, "code-1", &[("resource", RESOURCE)]).await).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "files:read");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    let passport = token(&body, "access_token");
    let refresh_token = token(&body, "refresh_token");
    assert!(refresh_token.len() >= 43 && !refresh_token.contains('.'));
    let claims = claims_of(&passport);
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.aud, RESOURCE);
    assert_eq!(claims.agent.agent_id, "app");
    assert!(claims.agent.parent_jti.is_none(), "a root passport");
    let record = s.record(&claims.jti).await;
    assert_eq!(record.entry.client_id, "app");
    assert!(active(&s, &c, &passport).await);

    // the second use: refused, and the first use's passport revoked
    refused(redeem(&s, &c, "code-1", &[]).await, "code_reused").await;
    assert!(!active(&s, &c, &passport).await);
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_does_not_spend_the_code() {
    let (s, c) = app_with_code("code-v").await;
    let wrong = "x".repeat(43);
    let r = s
        .post_as(
            "/token",
            &c,
            &code_form("code-v", REDIRECT, Some(&wrong)),
            None,
        )
        .await;
    refused(r, "pkce_mismatch").await;
    // a malformed verifier is a malformed request
    let r = s
        .post_as(
            "/token",
            &c,
            &code_form("code-v", REDIRECT, Some("short")),
            None,
        )
        .await;
    expect_refusal(
        r,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "pkce_verifier_invalid",
    )
    .await;
    ok(redeem(&s, &c, "code-v", &[]).await).await;
}

#[tokio::test]
async fn a_missing_verifier_is_an_invalid_request() {
    let (s, c) = app_with_code("code-m").await;
    let r = s
        .post_as("/token", &c, &code_form("code-m", REDIRECT, None), None)
        .await;
    let body = expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier")
    );
}

#[tokio::test]
async fn a_redirect_uri_one_character_off_is_refused() {
    let (s, c) = app_with_code("code-r").await;
    for off in [
        "http://127.0.0.1:9999/callbacK",
        "http://127.0.0.1:9999/callback/",
        "http://127.0.0.1:9999/callbac",
    ] {
        let r = s
            .post_as(
                "/token",
                &c,
                &code_form("code-r", off, Some(VERIFIER)),
                None,
            )
            .await;
        refused(r, "redirect_uri_mismatch").await;
    }
}

#[tokio::test]
async fn another_clients_code_is_refused() {
    let s = start().await;
    let owner = client(&s, "app", "files:*").await;
    let thief = client(&s, "thief", "files:*").await;
    code_for(&s, &owner, "code-t", "files:read", now() + 60).await;
    refused(
        redeem(&s, &thief, "code-t", &[]).await,
        "code_client_mismatch",
    )
    .await;
    // the rightful client still gets its passport
    ok(redeem(&s, &owner, "code-t", &[]).await).await;
}

#[tokio::test]
async fn expired_and_unknown_codes_are_refused() {
    let s = start().await;
    let c = client(&s, "app", "files:*").await;
    code_for(&s, &c, "code-old", "files:read", now() - 1).await;
    refused(redeem(&s, &c, "code-old", &[]).await, "code_expired").await;
    refused(redeem(&s, &c, "never-issued", &[]).await, "unknown_code").await;
}

#[tokio::test]
async fn a_resource_other_than_the_codes_is_refused() {
    let (s, c) = app_with_code("code-res").await;
    let r = redeem(
        &s,
        &c,
        "code-res",
        &[("resource", "https://other.example/mcp")],
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    ok(redeem(&s, &c, "code-res", &[("resource", RESOURCE)]).await).await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reuse_revokes_the_family_and_its_passports() {
    let s = start().await;
    let c = client(&s, "app", "files:*").await;
    code_for(&s, &c, "code-f", "files:read files:write", now() + 60).await;
    let first = ok(redeem(&s, &c, "code-f", &[]).await).await;
    let (p1, rt1) = tokens(&first);

    let second = ok(refresh(&s, &c, &rt1, &[]).await).await;
    let (p2, rt2) = tokens(&second);
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(second["scope"], "files:read files:write");
    let claims = claims_of(&p2);
    assert_eq!(
        (claims.sub.as_str(), claims.aud.as_str()),
        ("alice", RESOURCE)
    );
    assert!(active(&s, &c, &p2).await);

    // rt1 again: refused, and the whole family goes with its passports
    refused(refresh(&s, &c, &rt1, &[]).await, "refresh_token_reused").await;
    assert!(!active(&s, &c, &p1).await);
    assert!(!active(&s, &c, &p2).await);
    refused(refresh(&s, &c, &rt2, &[]).await, "refresh_token_revoked").await;
}

#[tokio::test]
async fn refresh_may_narrow_but_never_widen_and_belongs_to_its_client() {
    let s = start().await;
    let c = client(&s, "app", "files:*").await;
    let other = client(&s, "other", "files:*").await;
    code_for(&s, &c, "code-s", "files:read", now() + 60).await;
    let rt = token(
        &ok(redeem(&s, &c, "code-s", &[]).await).await,
        "refresh_token",
    );

    // beyond the original grant, though within what the client may have
    let r = refresh(&s, &c, &rt, &[("scope", "files:read files:write")]).await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let r = refresh(&s, &c, &rt, &[("resource", "https://other.example/mcp")]).await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    // another client presenting it: refused, and the token is not spent
    refused(
        refresh(&s, &other, &rt, &[]).await,
        "refresh_client_mismatch",
    )
    .await;

    let body = ok(refresh(
        &s,
        &c,
        &rt,
        &[("scope", "files:read"), ("resource", RESOURCE)],
    )
    .await)
    .await;
    assert_eq!(body["scope"], "files:read");
}

#[tokio::test]
async fn a_dpop_bound_code_grant_binds_the_passport_and_its_refreshes() {
    let (s, c) = app_with_code("code-d").await;
    let holder = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = s.token_proof(&holder);
    let form = code_form("code-d", REDIRECT, Some(VERIFIER));
    let body = ok(s.post_as("/token", &c, &form, Some(&proof)).await).await;
    assert_eq!(body["token_type"], "DPoP");
    let claims = claims_of(&token(&body, "access_token"));
    assert_eq!(claims.cnf_jkt.as_deref(), Some(holder.jkt()));
    let introspected = ok(s
        .post_as(
            "/introspect",
            &c,
            &[("token", &token(&body, "access_token"))],
            None,
        )
        .await)
    .await;
    assert_eq!(introspected["cnf"]["jkt"], holder.jkt());
    let rt = token(&body, "refresh_token");

    // the refresh token is bound too: no proof, or another key's, refused
    let r = refresh(&s, &c, &rt, &[]).await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let thief = DpopKey::generate(Algorithm::ES256).unwrap();
    let proof = s.token_proof(&thief);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let r = s.post_as("/token", &c, &form, Some(&proof)).await;
    dpop_refused(r, "dpop_key_mismatch").await;

    let proof = s.token_proof(&holder);
    let body = ok(s.post_as("/token", &c, &form, Some(&proof)).await).await;
    assert_eq!(body["token_type"], "DPoP");
    let claims = claims_of(&token(&body, "access_token"));
    assert_eq!(claims.cnf_jkt.as_deref(), Some(holder.jkt()));
}

#[tokio::test]
async fn of_concurrent_uses_of_one_code_exactly_one_succeeds() {
    let (s, c) = app_with_code("code-race").await;
    let (s, c) = (Arc::new(s), Arc::new(c));
    let winners = race(&s, &c, |s, c| async move {
        redeem(&s, &c, "code-race", &[]).await
    })
    .await;
    assert_eq!(winners.len(), 1);
    // the losers were reuses: the winner's passport is revoked
    assert!(!active(&s, &c, &winners[0]).await);
}

/// A reuse revokes what is recorded and answers at once: it never waits for
/// a first use that consumed the code but has not recorded (or never
/// records) its passport — that first use re-checks the code itself.
#[tokio::test]
async fn a_reuse_answers_at_once_whatever_the_first_use_is_doing() {
    let (s, c) = app_with_code("code-lost").await;
    // a first use that consumed the code and never recorded its passport
    let first = ["never-recorded".to_owned()];
    s.server
        .database()
        .consume_code(&TokenHash::of("code-lost"), now(), &first)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    refused(redeem(&s, &c, "code-lost", &[]).await, "code_reused").await;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(1),
        "the reuse waited {took:?}"
    );
    assert!(
        s.server
            .database()
            .code_reused(&TokenHash::of("code-lost"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn of_concurrent_uses_of_one_refresh_token_one_succeeds_and_is_revoked() {
    let (s, c) = app_with_code("code-rr").await;
    let (s, c) = (Arc::new(s), Arc::new(c));
    let first = ok(redeem(&s, &c, "code-rr", &[]).await).await;
    let rt = Arc::new(token(&first, "refresh_token"));
    let winners = race(&s, &c, |s, c| {
        let rt = rt.clone();
        async move { refresh(&s, &c, &rt, &[]).await }
    })
    .await;
    assert_eq!(winners.len(), 1);
    // the others were reuses: the family and the winner's passport are revoked
    assert!(!active(&s, &c, &winners[0]).await);
    assert!(!active(&s, &c, &token(&first, "access_token")).await);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family_and_passports() {
    let s = start().await;
    let c = client(&s, "app", "files:*").await;
    let other = client(&s, "other", "files:*").await;
    code_for(&s, &c, "code-rv", "files:read", now() + 60).await;
    let first = ok(redeem(&s, &c, "code-rv", &[]).await).await;
    let second = ok(refresh(&s, &c, &token(&first, "refresh_token"), &[]).await).await;
    let rt = token(&second, "refresh_token");

    // another client may not revoke it
    let r = s.post_as("/revoke", &other, &[("token", &rt)], None).await;
    expect_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    assert!(active(&s, &c, &token(&second, "access_token")).await);

    let form = [("token", rt.as_str()), ("token_type_hint", "refresh_token")];
    let r = s.post_as("/revoke", &c, &form, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!active(&s, &c, &token(&first, "access_token")).await);
    assert!(!active(&s, &c, &token(&second, "access_token")).await);
    refused(refresh(&s, &c, &rt, &[]).await, "refresh_token_revoked").await;
    // unknown refresh tokens are 200 (RFC 7009 §2.2)
    let r = s
        .post_as("/revoke", &c, &[("token", "no-such-refresh-token")], None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoking_the_grants_passport_ends_the_grant() {
    let (s, c) = app_with_code("code-k").await;
    let body = ok(redeem(&s, &c, "code-k", &[]).await).await;
    let r = s
        .post_as(
            "/revoke",
            &c,
            &[("token", &token(&body, "access_token"))],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rt = token(&body, "refresh_token");
    refused(refresh(&s, &c, &rt, &[]).await, "refresh_token_revoked").await;
    // and it stays refused: the family itself is revoked
    refused(refresh(&s, &c, &rt, &[]).await, "refresh_token_revoked").await;
}

#[tokio::test]
async fn a_client_without_the_grant_type_is_unauthorized() {
    let s = start().await;
    let workload = s.workload("files:*").await;
    let r = s
        .post_authenticated(
            "/token",
            &workload,
            &code_form("c", REDIRECT, Some(VERIFIER)),
        )
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

/// Review 7: OAuth 2.1 §4.1.3 / RFC 6749 §4.1.2 — a reused code SHOULD
/// revoke every token issued based on it. A thief who redeemed the code
/// first and rotated its refresh token once before the victim's (legitimate)
/// redemption is refused must not keep the grant alive through the rotated
/// token or the rotated passport.
#[tokio::test]
async fn a_code_reuse_after_a_rotation_revokes_the_whole_grant() {
    let (s, c) = app_with_code("code-rot").await;
    let first = ok(redeem(&s, &c, "code-rot", &[]).await).await;
    let (p1, rt1) = tokens(&first);
    let second = ok(refresh(&s, &c, &rt1, &[]).await).await;
    let (p2, rt2) = tokens(&second);
    assert!(active(&s, &c, &p2).await);

    refused(redeem(&s, &c, "code-rot", &[]).await, "code_reused").await;
    assert!(!active(&s, &c, &p1).await);
    assert!(
        !active(&s, &c, &p2).await,
        "the rotated passport of a reused code's grant is still active"
    );
    refused(refresh(&s, &c, &rt2, &[]).await, "refresh_token_revoked").await;
}
