//! Review B1 of issue 13 (client registration and authentication, the code
//! and refresh grants): each finding fed its hostile input. A finding not
//! fixed on this branch is `#[ignore = "finding N"]`.

use std::collections::HashMap;
use std::sync::Arc;

use passport_claims::Clock as _;
use passport_server::form::Form;
use passport_store::server::ClientKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::clients::{FixedResolver, KeyClient, document_server, public_client, revoke_with};
use crate::endpoints::{Running, expect_refusal, start, start_clocked, start_with};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:9999/callback";

/// Stores `code` for `client_id` as `/authorize` does (PKCE with
/// [`VERIFIER`], [`REDIRECT`], no scope).
async fn store_code(s: &Running, client_id: &str, code: &str) {
    s.server
        .database()
        .insert_code(passport_store::server::NewCode {
            code: passport_store::server::TokenHash::of(code),
            client_id: client_id.to_owned(),
            redirect_uri: REDIRECT.into(),
            code_challenge: passport_server::pkce::CodeChallenge::s256(VERIFIER)
                .unwrap()
                .as_str()
                .to_owned(),
            resource: crate::endpoints::RESOURCE.into(),
            scope: String::new(),
            claims: r#"{"issuer":"https://idp.example","subject":"alice","acr":null,"ial":null,"aal":null,"fal":null}"#.into(),
            expires_at: now() + 60,
        })
        .await
        .unwrap();
}

/// Redeems `code` as the public client `client_id`.
async fn redeem(s: &Running, client_id: &str, code: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
    ];
    s.post("/token", None, &form).await
}

/// Refreshes `token` as the public client `client_id`.
async fn refresh(s: &Running, client_id: &str, token: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client_id),
    ];
    s.post("/token", None, &form).await
}

/// A public client registered at `s` and its code redeemed: the client's
/// id and the token response.
async fn public_grant(s: &Running) -> (String, serde_json::Value) {
    let c = s.registered(&public_client()).await;
    let client_id = c["client_id"].as_str().unwrap().to_owned();
    store_code(s, &client_id, "the-code").await;
    let r = redeem(s, &client_id, "the-code").await;
    (client_id, r.json().await.unwrap())
}

/// The refresh family of `token` (which must exist).
async fn family_of(s: &Running, token: &str) -> passport_store::server::RefreshFamily {
    let hash = passport_store::server::TokenHash::of(token);
    let family = s.server.database().refresh_family(&hash).await.unwrap();
    family.unwrap()
}

/// Names that render as something else on the consent page: a right-to-left
/// override (the rest of the line, client id and resource included, is then
/// shown reversed), an isolate, a zero-width space, a line break.
const SPOOFING_NAMES: [&str; 4] = [
    "Trusted App\u{202E}nosj.tneilc",
    "Trusted\u{2067} App",
    "Tru\u{200B}sted App",
    "Trusted\nApp",
];

/// Finding 1: `client_name` is shown on the consent page next to the client
/// id; registration refused only C0/C1 controls (`char::is_control`), so
/// bidirectional overrides and invisible characters went through, and a
/// metadata document's name was only clipped (line breaks included).
#[tokio::test]
async fn client_names_with_bidi_or_invisible_characters_are_refused() {
    let s = start().await;
    for name in SPOOFING_NAMES {
        let mut body = public_client();
        body["client_name"] = json!(name);
        let r = s.register(&body).await;
        expect_refusal(
            r,
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "client_name",
        )
        .await;
    }
    // a plain non-ASCII name stays fine
    let mut body = public_client();
    body["client_name"] = json!("Zoë's Agent — 日本");
    s.registered(&body).await;
}

#[tokio::test]
async fn metadata_documents_with_spoofing_names_are_refused() {
    let (base, task) = document_server(|base| {
        vec![
            (
                "/rlo.json",
                json!({
                    "client_id": format!("{base}/rlo.json"),
                    "client_name": SPOOFING_NAMES[0],
                    "redirect_uris": ["http://127.0.0.1:9999/callback"],
                }),
            ),
            (
                "/newline.json",
                json!({
                    "client_id": format!("{base}/newline.json"),
                    "client_name": SPOOFING_NAMES[3],
                    "redirect_uris": ["http://127.0.0.1:9999/callback"],
                }),
            ),
        ]
    })
    .await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    for path in ["/rlo.json", "/newline.json"] {
        let client_id = format!("{base}{path}");
        let r = s
            .post(
                "/revoke",
                None,
                &[("token", "x"), ("client_id", &client_id)],
            )
            .await;
        expect_refusal(
            r,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_metadata_invalid",
        )
        .await;
    }
    task.abort();
}

/// Finding 2: the answer to a refused metadata URL (or `jwks_uri`) named
/// the address the server's resolver gave, so anyone could use `/token`
/// (or `/revoke`) as an oracle of the deployment's internal DNS
/// (split-horizon names, cloud metadata aliases). The code stays; the
/// address goes to the log only.
#[tokio::test]
async fn refused_metadata_urls_do_not_reveal_internal_addresses() {
    let resolver = FixedResolver(HashMap::from([
        (
            "db.internal.example".to_owned(),
            vec!["10.20.30.40".parse().unwrap()],
        ),
        (
            "v6.internal.example".to_owned(),
            vec!["fd12:3456:789a::17".parse().unwrap()],
        ),
    ]));
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.client_metadata_resolver(Arc::new(resolver))
    })
    .await;
    for (host, address) in [
        ("db.internal.example", "10.20.30.40"),
        ("v6.internal.example", "fd12:3456:789a::17"),
    ] {
        let client_id = format!("https://{host}/client.json");
        let r = s
            .post(
                "/token",
                None,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "x"),
                    ("code_verifier", "x"),
                    ("redirect_uri", "https://a.example/cb"),
                    ("client_id", &client_id),
                ],
            )
            .await;
        address_refused(r, address).await;
    }
    // a registered client's jwks_uri: the same
    let mut body = public_client();
    body["token_endpoint_auth_method"] = json!("private_key_jwt");
    body["jwks_uri"] = json!("https://db.internal.example/jwks.json");
    let c = s.registered(&body).await;
    let key = KeyClient {
        key: passport_jose::SigningKey::generate(passport_jose::Algorithm::ES256).unwrap(),
        client_id: c["client_id"].as_str().unwrap().to_owned(),
    };
    let r = revoke_with(&s, &key.sign(&key.claims(&s.url, "j-1"))).await;
    address_refused(r, "10.20.30.40").await;
}

/// The answer must be 401 `invalid_client` for `client_id_address_forbidden`,
/// its description not naming `address`.
async fn address_refused(r: reqwest::Response, address: &str) {
    let why = "client_id_address_forbidden";
    let body = expect_refusal(r, StatusCode::UNAUTHORIZED, "invalid_client", why).await;
    let description = body["error_description"].as_str().unwrap();
    assert!(!description.contains(address), "{description}");
}

/// Finding 3: `AssertionCheck::max_lifetime` is documented as bounding
/// `exp - now` *and* `now - iat`, but only `exp` was checked: an assertion
/// made to live a day (RFC 7523 §3 item 6: `iat` unreasonably far in the
/// past) was accepted in its last five minutes, so one stolen from a log or
/// a cache stays useful long after it was made.
#[tokio::test]
async fn an_assertion_issued_long_ago_is_refused() {
    let s = start().await;
    let c = KeyClient::register(&s).await;
    for (i, age) in [3_600, 86_340].into_iter().enumerate() {
        let mut claims = c.claims(&s.url, &format!("old-{i}"));
        claims["iat"] = json!(now() - age);
        claims["exp"] = json!(now() + 60);
        let r = revoke_with(&s, &c.sign(&claims)).await;
        expect_refusal(
            r,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_assertion_lifetime_too_long",
        )
        .await;
    }
    // one made a minute ago is fine
    let mut claims = c.claims(&s.url, "recent");
    claims["iat"] = json!(now() - 60);
    let r = revoke_with(&s, &c.sign(&claims)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Finding 4: `Form`'s derived `Debug` printed every field, client secrets,
/// assertions, codes, verifiers and refresh tokens included: one
/// `tracing::debug!(?form)` away from a log full of credentials (STYLE:
/// secret types redact themselves in Debug).
#[test]
fn a_forms_debug_shows_names_not_values() {
    let form = Form::parse(
        b"grant_type=refresh_token&client_id=app&client_secret=s3cr3t-value\
          &refresh_token=rt-value&code_verifier=verifier-value",
        4096,
    )
    .unwrap();
    let debug = format!("{form:?}");
    for secret in ["s3cr3t-value", "rt-value", "verifier-value"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains("client_secret"), "{debug}");
}

/// Finding 5: a client anyone registered with `none` was recorded as
/// `ClientKind::Public`, the kind of a public client an operator registered,
/// so no later rule (nor an operator listing clients) could tell them apart;
/// with a secret or keys it was `Dynamic`. `/introspect` was safe only
/// because it allows `Workload | Confidential` by name.
#[tokio::test]
async fn a_self_registered_public_client_is_not_an_operator_public_client() {
    let s = start().await;
    let c = s.registered(&public_client()).await;
    let id = c["client_id"].as_str().unwrap();
    let record = s.server.database().client(id).await.unwrap().unwrap();
    assert_eq!(record.auth_method, "none");
    assert_eq!(record.kind, ClientKind::Dynamic);
}

/// Finding 6: a metadata document's `grant_types` was ignored: every
/// document client was given `authorization_code` and `refresh_token`, so a
/// client that declared it does not use refresh tokens (RFC 7591 §2, which
/// documents reuse) was handed one anyway — a long-lived credential it does
/// not expect to keep, rotate or revoke. A document without `grant_types`
/// keeps both (what MCP clients expect).
#[tokio::test]
async fn a_documents_grant_types_bound_what_it_gets() {
    let (base, task) = document_server(|base| {
        vec![
            (
                "/code-only.json",
                json!({
                    "client_id": format!("{base}/code-only.json"),
                    "redirect_uris": [REDIRECT],
                    "grant_types": ["authorization_code"],
                }),
            ),
            (
                "/default.json",
                json!({
                    "client_id": format!("{base}/default.json"),
                    "redirect_uris": [REDIRECT],
                }),
            ),
        ]
    })
    .await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    for (path, refresh) in [("/code-only.json", false), ("/default.json", true)] {
        let client_id = format!("{base}{path}");
        let code = format!("code-{path}");
        store_code(&s, &client_id, &code).await;
        let r = redeem(&s, &client_id, &code).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body.get("refresh_token").is_some(),
            refresh,
            "{path}: {body}"
        );
    }
    task.abort();
}

/// Finding 7: a refresh family has no absolute lifetime. Each rotation sets
/// the successor's expiry to now + `refresh_ttl` (24 h), and nothing bounds
/// the family from its authorization: a grant refreshed once a day mints
/// passports for the principal for ever, though the principal was
/// authenticated upstream once, at the start (RFC 9700 §4.14.2 expects
/// refresh tokens to end; OAuth 2.1 §4.3.1 lets the server bound them). A
/// person who left keeps an agent minting in their name for a year.
#[tokio::test]
async fn a_refresh_family_ends_however_often_it_is_used() {
    let (clock, s) = start_clocked(|b| b).await;
    let started = clock.now();
    let (client_id, body) = public_grant(&s).await;
    let mut token = body["refresh_token"].as_str().unwrap().to_owned();
    // a refresh every 23 hours, for 400 days
    let mut refreshed_for_days = 0;
    let mut refusal = None;
    for _ in 0..400 {
        clock.advance(23 * 3600);
        let r = refresh(&s, &client_id, &token).await;
        if r.status() != StatusCode::OK {
            refusal = Some(r);
            break;
        }
        let body: serde_json::Value = r.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_owned();
        refreshed_for_days = (clock.now() - started) / 86_400;
    }
    assert!(
        refreshed_for_days < 30,
        "the grant was still refreshing after {refreshed_for_days} days"
    );
    // the default cap, 30 days: refreshed up to it, refused past it
    assert!(
        refreshed_for_days >= 29,
        "ended early: {refreshed_for_days}"
    );
    assert!(clock.now() - started >= 30 * 86_400);
    expect_refusal(
        refusal.expect("the grant never ended"),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh_grant_expired",
    )
    .await;
}

/// The cap is configurable, and a rotated token never outlives it: with a
/// 36-hour grant and 24-hour tokens, the token rotated at 23 h expires at
/// 36 h, not at 47 h.
#[tokio::test]
async fn a_rotated_refresh_token_expires_when_its_grant_does() {
    let (clock, s) = start_clocked(|b| b.refresh_grant_max_lifetime(36 * 3600)).await;
    let (client_id, body) = public_grant(&s).await;
    clock.advance(23 * 3600);
    let r = refresh(&s, &client_id, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    let stored = family_of(&s, &token).await;
    assert_eq!(stored.expires_at - (clock.now() - 23 * 3600), 36 * 3600);
    clock.advance(13 * 3600);
    expect_refusal(
        refresh(&s, &client_id, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh_grant_expired",
    )
    .await;
}

/// Finding 8: authenticating a `private_key_jwt` client resolved and fetched
/// its `jwks_uri` before looking at what the request presented, so a bare
/// `client_id` — no assertion at all, nothing to verify — made the server
/// resolve and fetch (here: be refused for the address) for anyone who
/// names the client.
#[tokio::test]
async fn a_key_set_is_fetched_only_to_verify_an_assertion() {
    let resolver = FixedResolver(HashMap::from([(
        "keys.internal.example".to_owned(),
        vec!["10.0.0.1".parse().unwrap()],
    )]));
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.client_metadata_resolver(Arc::new(resolver))
    })
    .await;
    let mut body = public_client();
    body["token_endpoint_auth_method"] = json!("private_key_jwt");
    body["jwks_uri"] = json!("https://keys.internal.example/jwks.json");
    let c = s.registered(&body).await;
    let client_id = c["client_id"].as_str().unwrap();
    for basic in [None, Some((client_id, "a-guessed-secret"))] {
        let r = s
            .post(
                "/revoke",
                basic,
                &[("token", "x"), ("client_id", client_id)],
            )
            .await;
        expect_refusal(
            r,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_auth_method_mismatch",
        )
        .await;
    }
}

/// Revoking (RFC 7009, at `/revoke`) a passport a refresh family issued
/// ends the family at once, whichever of its passports it is: here the
/// code grant's, two rotations old. Before, only revoking the latest one
/// did (at the next refresh); an older one left the grant refreshing.
#[tokio::test]
async fn revoking_any_passport_of_a_refresh_family_ends_the_family() {
    let s = start().await;
    let (client_id, body) = public_grant(&s).await;
    let first_passport = body["access_token"].as_str().unwrap().to_owned();
    let jti = |bundle: &str| crate::exchange::links(bundle).pop().unwrap().jti;
    let mut issued = vec![jti(&first_passport)];
    let mut token = body["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let r = refresh(&s, &client_id, &token).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: serde_json::Value = r.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_owned();
        issued.push(jti(body["access_token"].as_str().unwrap()));
    }
    let r = s
        .post(
            "/revoke",
            None,
            &[("token", &first_passport), ("client_id", &client_id)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // every passport of the family is revoked, the latest included
    assert_eq!(issued.len(), 3);
    for jti in &issued {
        let record = s.record(jti).await;
        assert_ne!(
            record.state,
            passport_store::server::PassportState::Active,
            "{jti}"
        );
    }
    // and the current refresh token is dead
    expect_refusal(
        refresh(&s, &client_id, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh_token_revoked",
    )
    .await;
}
