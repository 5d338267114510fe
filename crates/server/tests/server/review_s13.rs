//! Review S13 of the OAuth protocol surface: a stranger's client keys (the
//! cost of loading them), and a public client's refresh token bound by its
//! first DPoP-bound refresh (RFC 9449 §5).

use reqwest::StatusCode;
use serde_json::{Value, json};

use passport_jose::{Algorithm, MAX_CLIENT_JWKS_KEYS, SigningKey};
use passport_server::client_auth::JWT_BEARER_ASSERTION;
use passport_store::server::{ClientKind, NewClient};

use crate::clients::{document_server, public_client};
use crate::endpoints::{Running, start, start_with};

/// The odd primes below 752 (the trial division of an RSA modulus on load).
fn small_primes() -> Vec<u32> {
    (2..752u32)
        .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
        .collect()
}

/// A public RSA JWK of `bits` bits that passes every check a key gets on
/// load (no factor below 752, not a prime, not a square, no ROCA
/// fingerprint) — a random odd number, which nobody can sign for, and
/// which costs the server one Montgomery exponentiation of its size
/// (`2^n mod n`) every time it is loaded. Anyone can make one.
fn big_rsa_jwk(seed: u8, bits: usize) -> Value {
    let len = bits / 8;
    let mut n = Vec::with_capacity(len);
    let mut block = passport_jose::sha256(&[seed]);
    while n.len() < len {
        n.extend_from_slice(&block);
        block = passport_jose::sha256(&block);
    }
    n.truncate(len);
    n[0] |= 0x80;
    n[len - 1] |= 1;
    let primes = small_primes();
    loop {
        let divisible = primes
            .iter()
            .any(|&p| n.iter().fold(0u32, |r, &b| ((r << 8) | u32::from(b)) % p) == 0);
        if !divisible {
            break;
        }
        // n += 2
        let mut carry = 2u16;
        for b in n.iter_mut().rev() {
            let v = u16::from(*b) + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
            if carry == 0 {
                break;
            }
        }
    }
    json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": format!("big-{seed}"),
        "n": passport_jose::b64::encode(&n), "e": "AQAB",
    })
}

/// `/token` with a made-up client assertion for `client_id`: refused
/// whatever happens, but only after the client's keys were loaded.
async fn token_with_bogus_assertion(s: &Running, client_id: &str) -> (StatusCode, Value) {
    let r = s
        .post(
            "/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", "http://127.0.0.1:9999/callback"),
                ("code_verifier", &"v".repeat(43)),
                ("client_id", client_id),
                ("client_assertion_type", JWT_BEARER_ASSERTION),
                ("client_assertion", "e30.e30.AAAA"),
            ],
        )
        .await;
    (r.status(), r.json().await.unwrap())
}

fn ed25519_jwk() -> Value {
    Value::Object(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .verifying_key()
            .jwk()
            .clone(),
    )
}

/// Review S13, finding 1 (dynamic registration): anyone may register a
/// `private_key_jwt` client (RFC 7591, open), and its keys were loaded as a
/// trusted key set's: ten 8192-bit RSA keys (random odd numbers nobody can
/// sign for, each costing a primality test of ~0.2–0.4 s) were accepted,
/// then loaded again at every request naming the client. A client's set is
/// now bounded as a holder's key is: RSA moduli of at most 4096 bits, at
/// most `MAX_CLIENT_JWKS_KEYS` keys, refused before any primality test;
/// and the keys are checked after every cheap member, so a registration
/// that fails one never costs a test. (That a registered set is parsed
/// once, not at each request, is `clients::tests`.)
#[tokio::test]
async fn a_registration_with_keys_a_stranger_should_not_make_us_load_is_refused() {
    let s = start().await;
    let register = |keys: Vec<Value>, name: &str| {
        let mut body = public_client();
        body["token_endpoint_auth_method"] = json!("private_key_jwt");
        body["jwks"] = json!({ "keys": keys });
        body["client_name"] = json!(name);
        body
    };
    let refused = |r: reqwest::Response| async move {
        let status = r.status();
        let answer: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"], "invalid_client_metadata", "{answer}");
        answer["error_description"].as_str().unwrap().to_owned()
    };
    // an RSA key over 4096 bits
    let why = refused(
        s.register(&register(vec![big_rsa_jwk(1, 8192)], "big"))
            .await,
    )
    .await;
    assert!(why.contains("at most 4096"), "{why}");
    // more keys than a client needs
    let many = (0..=MAX_CLIENT_JWKS_KEYS).map(|_| ed25519_jwk()).collect();
    let why = refused(s.register(&register(many, "many")).await).await;
    assert!(why.contains("keys, more than the"), "{why}");
    // a cheap refusal comes first: the keys are not looked at
    let why = refused(
        s.register(&register(vec![big_rsa_jwk(1, 8192)], "\u{202e}"))
            .await,
    )
    .await;
    assert!(why.contains("client_name"), "{why}");
    // within the bounds, it registers
    let r = s.register(&register(vec![ed25519_jwk()], "fine")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Review S13, finding 1 (client ID metadata documents): a document's keys
/// are bounded as a registration's, and checked after its cheap members.
/// The refusal names the first check that failed: with keys over the bound
/// and `grant_types` not an array, it is `grant_types` — the keys were not
/// loaded.
#[tokio::test]
async fn a_metadata_documents_keys_are_bounded_and_checked_last() {
    let document = |base: &str, path: &str, keys: Vec<Value>, grant_types: Value| {
        json!({
            "client_id": format!("{base}{path}"),
            "redirect_uris": ["http://127.0.0.1:9999/callback"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": keys },
            "grant_types": grant_types,
        })
    };
    let (base, _task) = document_server(move |base| {
        let code = json!(["authorization_code"]);
        vec![
            (
                "/big.json",
                document(base, "/big.json", vec![big_rsa_jwk(20, 8192)], code.clone()),
            ),
            (
                "/many.json",
                document(
                    base,
                    "/many.json",
                    (0..=MAX_CLIENT_JWKS_KEYS).map(|_| ed25519_jwk()).collect(),
                    code,
                ),
            ),
            (
                "/both.json",
                document(
                    base,
                    "/both.json",
                    vec![big_rsa_jwk(21, 8192)],
                    json!("authorization_code"),
                ),
            ),
        ]
    })
    .await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    for (path, expected) in [
        ("/big.json", "at most 4096"),
        ("/many.json", "keys, more than the"),
        ("/both.json", "grant_types is not an array"),
    ] {
        let (status, answer) = token_with_bogus_assertion(&s, &format!("{base}{path}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {answer}");
        assert_eq!(answer["error"], "invalid_client", "{path}: {answer}");
        let why = answer["error_description"].as_str().unwrap();
        assert!(why.contains(expected), "{path}: {why}");
    }
}

/// Review S13, finding 2 (RFC 9449 §5: "Refresh tokens issued to public
/// clients in response to a DPoP-bound token request MUST be bound to the
/// respective public key"). A public client (PKCE, `none`) whose code grant
/// was made without a proof, and that then refreshes with one (it starts
/// using DPoP, as the passport-agent does once it has a key), got a
/// DPoP-bound passport and a refresh token that was not bound: the family
/// kept the code grant's `jkt` only. A thief of that token refreshed with
/// no proof and received a bearer passport. Now the first DPoP-bound
/// refresh binds the grant: from the next token on, a refresh needs a proof
/// by that key, and a refusal does not spend the token.
#[tokio::test]
async fn a_public_clients_first_dpop_bound_refresh_binds_its_grant_to_the_key() {
    use passport_dpop::DpopKey;
    use passport_server::pkce::CodeChallenge;
    use passport_store::server::{NewCode, TokenHash};

    const REDIRECT: &str = "http://127.0.0.1:9999/callback";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let s = start().await;
    // an operator-registered public client (a native app: PKCE, no secret)
    s.server
        .database()
        .insert_client(NewClient {
            client_id: "native".into(),
            kind: ClientKind::Public,
            secret_hash: None,
            auth_method: "none".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: "files:*".into(),
            owner: None,
            jwks: None,
            metadata: "{}".into(),
            created_at: now,
        })
        .await
        .unwrap();
    s.server
        .database()
        .insert_code(NewCode {
            code: TokenHash::of("code-n"),
            client_id: "native".into(),
            redirect_uri: REDIRECT.into(),
            code_challenge: CodeChallenge::s256(VERIFIER).unwrap().as_str().to_owned(),
            resource: crate::endpoints::RESOURCE.into(),
            scope: "files:read".into(),
            claims: r#"{"issuer":"https://idp.example","subject":"alice","acr":null,"ial":null,"aal":null,"fal":null}"#.into(),
            expires_at: now + 60,
        })
        .await
        .unwrap();
    let ok = |r: reqwest::Response| async move {
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    // the code grant, without DPoP
    let body = ok(s
        .post(
            "/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", "code-n"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", "native"),
            ],
        )
        .await)
    .await;
    let rt1 = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String, key: Option<&DpopKey>| {
        let proof = key.map(|key| s.token_proof(key));
        let s = &s;
        async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
                ("client_id", "native"),
            ];
            s.send("/token", None, &form, proof.as_deref()).await
        }
    };
    // a refresh with a DPoP proof: the answer is DPoP-bound
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    let body = ok(refresh(rt1, Some(&key)).await).await;
    assert_eq!(body["token_type"], "DPoP");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    // a thief of rt2, without the key
    let r = refresh(rt2.clone(), None).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the refresh token issued to a DPoP-bound request refreshed without a proof and \
         gave a {} passport",
        body["token_type"]
    );
    // nor with a proof by a key of the thief's own
    let other = DpopKey::generate(Algorithm::ES256).unwrap();
    let r = refresh(rt2.clone(), Some(&other)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // the refusals did not spend it: the client, with its key, refreshes
    // once more, and the grant stays bound
    let body = ok(refresh(rt2, Some(&key)).await).await;
    assert_eq!(body["token_type"], "DPoP");
    let rt3 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(rt3, None).await.status(), StatusCode::BAD_REQUEST);
}

// ---- review of the S13 fixes (rev3) ----

/// A server answering `path` with `body` and counting the requests.
async fn counting_server(
    path: &'static str,
    body: impl FnOnce(&str) -> Value,
) -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let text = body(&base).to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let router = axum::Router::new().route(
        path,
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let text = text.clone();
            async move { ([("content-type", "application/json")], text) }
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (base, hits, task)
}

/// A key set that costs the server two 4096-bit primality tests and then
/// fails to load: the second key's `kid` is refused only after its
/// modulus was tested.
fn set_that_fails_after_the_tests() -> Value {
    let mut second = big_rsa_jwk(41, 4096);
    second["kid"] = json!("");
    json!({ "keys": [big_rsa_jwk(40, 4096), second] })
}

/// Inserts a stranger's client (`Dynamic`, as `/register` makes one)
/// authenticating by `private_key_jwt` with the keys at `jwks_uri`.
/// (`/register` accepts only https `jwks_uri`s; the test server is http,
/// so the record is written directly: the same record an https URL makes.)
async fn stranger_with_jwks_uri(s: &Running, client_id: &str, jwks_uri: &str) {
    key_client(s, client_id, ClientKind::Dynamic, None, Some(jwks_uri)).await;
}

async fn bogus_assertion_at(s: &Running, path: &str, client_id: &str) -> (StatusCode, Value) {
    let r = s
        .post(
            path,
            None,
            &[
                ("token", "x"),
                ("client_id", client_id),
                ("client_assertion_type", JWT_BEARER_ASSERTION),
                ("client_assertion", "e30.e30.AAAA"),
            ],
        )
        .await;
    (r.status(), r.json().await.unwrap())
}

/// Review S13's second pass, finding 1: a stranger's `jwks_uri` set that
/// passes the client bounds (≤ 8 keys, ≤ 4096 bits), costs a primality
/// test per key, and then fails to load (an empty `kid`) was remembered by
/// nobody: every request naming the client with a made-up assertion
/// fetched and tested it again, at the full per-address rate of `/token`,
/// `/revoke` and `/introspect`. A set that was fetched and does not load is
/// now remembered as refused for a minute.
#[tokio::test]
async fn a_jwks_uri_set_that_fails_to_load_is_not_loaded_again_at_each_request() {
    let (s, hits, _task) = stranger_behind_a_failing_set().await;
    for _ in 0..4 {
        let (status, answer) = token_with_bogus_assertion(&s, "dyn-stranger").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        let why = answer["error_description"].as_str().unwrap();
        assert!(why.contains("jwks_uri"), "{why}");
    }
    let fetched = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        fetched, 1,
        "the failing key set was fetched and loaded (two 4096-bit primality tests) \
         {fetched} times for 4 requests"
    );
}

/// A server, and on it a stranger's client `dyn-stranger` whose `jwks_uri`
/// serves [`set_that_fails_after_the_tests`]; how often that set was
/// fetched.
async fn stranger_behind_a_failing_set() -> (
    Running,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let (base, hits, task) = counting_server("/jwks", |_| set_that_fails_after_the_tests()).await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    stranger_with_jwks_uri(&s, "dyn-stranger", &format!("{base}/jwks")).await;
    (s, hits, task)
}

/// Review S13's second pass, finding 1, at `/introspect` (1,000 requests
/// a second per address): a stranger's client was refused
/// (`introspection_not_allowed`) only after its keys were fetched and
/// loaded, though its kind alone decides. It is now refused first.
#[tokio::test]
async fn introspection_refuses_a_strangers_client_before_loading_its_keys() {
    let (s, hits, _task) = stranger_behind_a_failing_set().await;
    for _ in 0..4 {
        let (status, answer) = bogus_assertion_at(&s, "/introspect", "dyn-stranger").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    }
    let fetched = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        fetched, 0,
        "/introspect fetched and loaded a non-operator client's keys {fetched} times \
         before refusing it for its kind"
    );
}

/// The same for a metadata document at `/introspect`: a URL `client_id`
/// is never an operator's client, so it is refused before its document is
/// fetched (it was fetched and its keys loaded first).
#[tokio::test]
async fn introspection_refuses_a_metadata_document_client_without_fetching_it() {
    let (base, hits, _task) = counting_server("/doc.json", |base| {
        json!({
            "client_id": format!("{base}/doc.json"),
            "redirect_uris": ["http://127.0.0.1:9999/callback"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [big_rsa_jwk(50, 4096)] },
        })
    })
    .await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    let (status, answer) = bogus_assertion_at(&s, "/introspect", &format!("{base}/doc.json")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let fetched = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(fetched, 0, "the document was fetched and its keys loaded");
}

/// Review S13's second pass, finding 2: an operator's client keeps the
/// trusted bounds (up to 64 keys, RSA up to 8192 bits), inline or at its
/// `jwks_uri`, while a stranger's client of the same keys is refused: a
/// key set of nine keys, one more than a client set may hold.
#[tokio::test]
async fn an_operators_client_keeps_the_trusted_bounds_and_a_strangers_does_not() {
    let keys: Vec<SigningKey> = (0..=MAX_CLIENT_JWKS_KEYS)
        .map(|_| SigningKey::generate(Algorithm::ES256).unwrap())
        .collect();
    let set = json!({
        "keys": keys
            .iter()
            .map(|k| Value::Object(k.verifying_key().jwk().clone()))
            .collect::<Vec<_>>(),
    });
    let published = set.clone();
    let (base, _hits, _task) = counting_server("/jwks", move |_| published.clone()).await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (n, kind, inline, expected) in [
        (1, ClientKind::Confidential, true, StatusCode::OK),
        (2, ClientKind::Confidential, false, StatusCode::OK),
        (
            3,
            ClientKind::Dynamic,
            true,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (4, ClientKind::Dynamic, false, StatusCode::UNAUTHORIZED),
    ] {
        let client_id = format!("client-{n}");
        let uri = format!("{base}/jwks");
        match inline {
            true => key_client(&s, &client_id, kind, Some(set.clone()), None).await,
            false => key_client(&s, &client_id, kind, None, Some(&uri)).await,
        }
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": s.url,
            "iat": now, "exp": now + 60, "jti": format!("j-{n}"),
        });
        let assertion = keys[0]
            .sign_compact(None, &serde_json::to_vec(&claims).unwrap())
            .unwrap();
        let r = s
            .post(
                "/revoke",
                None,
                &[
                    ("token", "x"),
                    ("client_id", &client_id),
                    ("client_assertion_type", JWT_BEARER_ASSERTION),
                    ("client_assertion", &assertion),
                ],
            )
            .await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, expected, "{kind:?}, inline {inline}: {body}");
        match status {
            // the stored set no longer loads: the server's condition
            StatusCode::INTERNAL_SERVER_ERROR => assert!(body.contains("unusable"), "{body}"),
            StatusCode::UNAUTHORIZED => assert!(body.contains("more than the 8"), "{body}"),
            _ => {}
        }
    }
}

/// Inserts a client of `kind` authenticating by `private_key_jwt` with
/// `jwks` inline or the set at `jwks_uri`, as `/register` or an operator
/// would record it (written directly: `/register` takes only https
/// `jwks_uri`s, and the test servers are http).
async fn key_client(
    s: &Running,
    client_id: &str,
    kind: ClientKind,
    jwks: Option<Value>,
    jwks_uri: Option<&str>,
) {
    let metadata = match jwks_uri {
        Some(uri) => json!({ "jwks_uri": uri }),
        None => json!({}),
    };
    s.server
        .database()
        .insert_client(NewClient {
            client_id: client_id.into(),
            kind,
            secret_hash: None,
            auth_method: "private_key_jwt".into(),
            redirect_uris: vec!["http://127.0.0.1:9999/callback".into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: "files:*".into(),
            owner: None,
            jwks: jwks.map(|j| j.to_string()),
            metadata: metadata.to_string(),
            created_at: 0,
        })
        .await
        .unwrap();
}

/// Review S13, fourth pass, finding 1: anyone may name an operator's
/// client at `/token` with a made-up assertion, so strangers reach the
/// operators' turn when that client's `jwks_uri` set is not cached (first
/// use, or every `JWKS_URI_TTL`); and each waiting request loaded the set
/// again (nothing asked the `jwks_uri` cache once it had the turn), so a
/// burst queued seconds of loads and another operator's client was refused
/// 503 `client_keys_busy`. Now the set loads once, the waiting requests
/// take it, and the other client is answered.
#[tokio::test]
async fn strangers_naming_an_operators_jwks_uri_client_do_not_fill_the_operators_turn() {
    // an operator's set of two 8192-bit keys (trusted bounds): ~0.5 s a load
    let set = json!({ "keys": [big_rsa_jwk(60, 8192), big_rsa_jwk(61, 8192)] });
    let (base, hits, _task) = counting_server("/jwks", move |_| set.clone()).await;
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.dangerous_client_metadata_test_mode()
    })
    .await;
    let uri = format!("{base}/jwks");
    key_client(&s, "op-uri", ClientKind::Confidential, None, Some(&uri)).await;
    let rsa = SigningKey::generate(Algorithm::RS256).unwrap();
    let inline = json!({ "keys": [Value::Object(rsa.verifying_key().jwk().clone())] });
    key_client(
        &s,
        "op-inline",
        ClientKind::Confidential,
        Some(inline),
        None,
    )
    .await;

    let started = std::time::Instant::now();
    let flood =
        futures_util::future::join_all((0..16).map(|_| token_with_bogus_assertion(&s, "op-uri")));
    let other = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        token_with_bogus_assertion(&s, "op-inline").await
    };
    let (flood, (other_status, other_answer)) = tokio::join!(flood, other);
    let busy = flood
        .iter()
        .filter(|(status, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let fetched = hits.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "16 strangers' requests naming op-uri: {fetched} fetches, {busy} refused busy, {:?}",
        started.elapsed()
    );
    assert_ne!(
        other_status,
        StatusCode::SERVICE_UNAVAILABLE,
        "another operator's client was refused busy behind strangers' loads: {other_answer}"
    );
    assert_eq!(
        busy, 0,
        "{busy} of 16 requests for one set were refused busy"
    );
}
