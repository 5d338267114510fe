//! Review S13 of the OAuth protocol surface: a stranger's client keys (the
//! cost of loading them), and a public client's refresh token bound by its
//! first DPoP-bound refresh (RFC 9449 §5).

use reqwest::StatusCode;
use serde_json::{Value, json};

use passport_jose::{Algorithm, MAX_CLIENT_JWKS_KEYS, SigningKey};
use passport_server::client_auth::JWT_BEARER_ASSERTION;

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
    use passport_store::server::{ClientKind, NewClient, NewCode, TokenHash};

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
