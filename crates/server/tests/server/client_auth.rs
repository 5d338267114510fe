use std::collections::HashSet;
use std::sync::Mutex;

use base64::Engine as _;
use passport_claims::ManualClock;
use passport_jose::{Algorithm, JwkSet, SigningKey};
use passport_server::client_auth::{
    AssertionCheck, AssertionReplay, ClientAuthError, ClientCredentials, ClientSecret, FirstUse,
    JWT_BEARER_ASSERTION, RegisteredAuth, SecretHash, authenticate,
};
use passport_server::form::Form;

use crate::block_on;
use serde_json::{Map, Value, json};

const NOW: i64 = 1_800_000_000;
const TOKEN_ENDPOINT: &str = "https://as.example/token";
const ISSUER: &str = "https://as.example";

fn basic(raw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn form(body: &str) -> Form {
    Form::parse(body.as_bytes(), 64 * 1024).unwrap()
}

fn extract(auth: Option<&str>, body: &str) -> Result<ClientCredentials, ClientAuthError> {
    ClientCredentials::extract(auth, &form(body))
}

#[test]
fn basic_header_is_form_decoded_inside_base64() {
    // RFC 6749 §2.3.1: id and secret are form-encoded before base64
    let creds = extract(Some(&basic("my+client:s%3Acret%25")), "grant_type=x").unwrap();
    assert_eq!(
        creds,
        ClientCredentials::SecretBasic {
            client_id: "my client".into(),
            secret: "s:cret%".into()
        }
    );
    assert!(creds.used_basic());
    // the scheme name is case-insensitive
    assert!(extract(Some(&basic("a:b").replace("Basic", "bAsIc")), "").is_ok());
}

#[test]
fn malformed_basic_headers_refused() {
    let cases = [
        "Basic".to_owned(),
        "Basic !!!notbase64".to_owned(),
        basic("no-colon"),
        basic(":secret"),
        basic("id:"),
        basic("id:bad%zzescape"),
        basic("id%:secret"),
        "Bearer abc".to_owned(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe])
        ),
    ];
    for header in cases {
        let err = extract(Some(&header), "").unwrap_err();
        assert!(
            matches!(err, ClientAuthError::MalformedBasic(_)),
            "{header}: {err:?}"
        );
        assert_eq!(err.code(), "client_auth_malformed_basic");
        let o = err.oauth(true);
        assert_eq!((o.status, o.error), (401, "invalid_client"));
        assert!(o.www_authenticate.unwrap().starts_with("Basic"));
    }
    let long = basic(&format!("id:{}", "s".repeat(300)));
    assert_eq!(
        extract(Some(&long), "").unwrap_err().code(),
        "client_credentials_too_long"
    );
}

#[test]
fn two_methods_in_one_request_refused() {
    let header = basic("c1:secret");
    for body in [
        "client_secret=secret",
        "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
        "client_assertion=a.b.c",
    ] {
        let err = extract(Some(&header), body).unwrap_err();
        assert!(matches!(err, ClientAuthError::MultipleMethods), "{body}");
    }
    let err = extract(
        None,
        "client_id=c1&client_secret=s&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
    )
    .unwrap_err();
    assert_eq!(err.code(), "client_auth_multiple_methods");
    // a client_id naming someone else beside Basic
    let err = extract(Some(&header), "client_id=c2").unwrap_err();
    assert_eq!(err.code(), "client_id_mismatch");
    assert!(extract(Some(&header), "client_id=c1").is_ok());
}

#[test]
fn no_client_at_all_refused() {
    let err = extract(None, "grant_type=authorization_code").unwrap_err();
    assert_eq!(err.code(), "client_auth_missing");
    assert_eq!(err.oauth(false).error, "invalid_client");
    assert!(err.oauth(false).www_authenticate.is_none());
}

#[test]
fn secrets_are_random_hashed_and_redacted() {
    let (s1, h1) = ClientSecret::generate().unwrap();
    let (s2, _) = ClientSecret::generate().unwrap();
    assert_eq!(s1.expose().len(), 43); // 256 bits, base64url
    assert_ne!(s1.expose(), s2.expose());
    assert!(h1.verify(s1.expose()));
    assert!(!h1.verify(s2.expose()));
    assert_eq!(SecretHash::from_b64(&h1.to_b64()).unwrap(), h1);
    assert!(!h1.to_b64().contains(s1.expose()));
    assert_eq!(format!("{s1:?}"), "ClientSecret([redacted])");
    assert_eq!(format!("{h1:?}"), "SecretHash([redacted])");
    let creds = extract(None, &format!("client_id=c&client_secret={}", s1.expose())).unwrap();
    assert!(!format!("{creds:?}").contains(s1.expose()));
}

#[test]
fn secret_checks_and_method_downgrades() {
    let (secret, hash) = ClientSecret::generate().unwrap();
    let post = RegisteredAuth::SecretPost(hash.clone());
    let basic_reg = RegisteredAuth::SecretBasic(hash);

    let good = extract(
        None,
        &format!("client_id=c&client_secret={}", secret.expose()),
    )
    .unwrap();
    block_on(authenticate(&good, &post, None)).unwrap();
    let wrong = extract(None, "client_id=c&client_secret=guess").unwrap();
    assert_eq!(
        block_on(authenticate(&wrong, &post, None))
            .unwrap_err()
            .code(),
        "client_secret_invalid"
    );

    let via_basic = extract(Some(&basic(&format!("c:{}", secret.expose()))), "").unwrap();
    block_on(authenticate(&via_basic, &basic_reg, None)).unwrap();
    let err = block_on(authenticate(&via_basic, &post, None)).unwrap_err();
    assert!(matches!(
        err,
        ClientAuthError::MethodMismatch {
            used: "client_secret_basic",
            registered: "client_secret_post"
        }
    ));

    // authgent's flaw: a confidential client sending no secret
    let bare = extract(None, "client_id=c").unwrap();
    for registered in [
        &post,
        &basic_reg,
        &RegisteredAuth::PrivateKeyJwt(JwkSet::new()),
    ] {
        let err = block_on(authenticate(&bare, registered, None)).unwrap_err();
        assert_eq!(err.code(), "client_auth_method_mismatch");
    }
    // a public client is only ever `none`
    block_on(authenticate(&bare, &RegisteredAuth::None, None)).unwrap();
    assert_eq!(
        block_on(authenticate(&good, &RegisteredAuth::None, None))
            .unwrap_err()
            .code(),
        "client_auth_method_mismatch"
    );
}

#[derive(Default)]
struct Seen(Mutex<HashSet<(String, String)>>, bool);

impl AssertionReplay for Seen {
    fn first_use<'a>(&'a self, client_id: &'a str, jti: &'a str, _expires_at: i64) -> FirstUse<'a> {
        let answer = if self.1 {
            Err("database down".into())
        } else {
            Ok(self
                .0
                .lock()
                .unwrap()
                .insert((client_id.into(), jti.into())))
        };
        Box::pin(async move { answer })
    }
}

struct Fixture {
    key: SigningKey,
    keys: JwkSet,
    clock: ManualClock,
    replay: Seen,
}

impl Fixture {
    fn new() -> Fixture {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let keys = JwkSet::from_keys([key.verifying_key()]).unwrap();
        Fixture {
            key,
            keys,
            clock: ManualClock::new(NOW),
            replay: Seen::default(),
        }
    }

    fn claims(&self) -> Map<String, Value> {
        json!({
            "iss": "c1", "sub": "c1", "aud": ISSUER,
            "exp": NOW + 60, "iat": NOW, "jti": "j-1",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn sign(&self, claims: &Map<String, Value>) -> String {
        self.key
            .sign_compact(None, &serde_json::to_vec(claims).unwrap())
            .unwrap()
    }

    fn check(&self, assertion: &str) -> Result<(), ClientAuthError> {
        let body = format!(
            "client_assertion_type={}&client_assertion={assertion}",
            url_encode(JWT_BEARER_ASSERTION)
        );
        let creds = extract(None, &body)?;
        assert_eq!(creds.method(), "private_key_jwt");
        let check = AssertionCheck {
            issuer: ISSUER,
            algorithms: &[Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256],
            clock: &self.clock,
            replay: &self.replay,
            max_lifetime: 300,
            skew: 30,
        };
        let client = block_on(authenticate(
            &creds,
            &RegisteredAuth::PrivateKeyJwt(self.keys.clone()),
            Some(&check),
        ))?;
        assert_eq!((client.client_id(), client.proven()), ("c1", true));
        Ok(())
    }

    fn with(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> Result<(), ClientAuthError> {
        let mut claims = self.claims();
        edit(&mut claims);
        self.check(&self.sign(&claims))
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn b64(v: &Value) -> String {
    passport_jose::b64::encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn private_key_jwt_accepted_once() {
    let f = Fixture::new();
    let assertion = f.sign(&f.claims());
    f.check(&assertion).unwrap();
    let err = f.check(&assertion).unwrap_err();
    assert_eq!(err.code(), "client_assertion_replayed");
    assert_eq!(err.oauth(false).status, 401);
}

#[test]
fn private_key_jwt_claim_rules() {
    let f = Fixture::new();
    let code = |edit: &dyn Fn(&mut Map<String, Value>)| f.with(edit).unwrap_err().code();
    assert_eq!(
        code(&|c| {
            c.insert("iss".into(), json!("c2"));
        }),
        "client_assertion_subject_mismatch"
    );
    assert_eq!(
        code(&|c| {
            c.insert("sub".into(), json!("c2"));
        }),
        "client_assertion_subject_mismatch"
    );
    assert_eq!(
        code(&|c| {
            c.insert("aud".into(), json!("https://as.example/other"));
        }),
        "client_assertion_audience_mismatch"
    );
    assert_eq!(
        code(&|c| {
            c.insert("aud".into(), json!([]));
        }),
        "client_assertion_audience_mismatch"
    );
    assert_eq!(
        code(&|c| {
            c.remove("aud");
        }),
        "client_assertion_missing_claim"
    );
    assert_eq!(
        code(&|c| {
            c.remove("exp");
        }),
        "client_assertion_missing_claim"
    );
    assert_eq!(
        code(&|c| {
            c.insert("exp".into(), json!("soon"));
        }),
        "client_assertion_missing_claim"
    );
    assert_eq!(
        code(&|c| {
            c.remove("jti");
        }),
        "client_assertion_missing_claim"
    );
    assert_eq!(
        code(&|c| {
            c.insert("jti".into(), json!("x".repeat(300)));
        }),
        "client_assertion_missing_claim"
    );
    assert_eq!(
        code(&|c| {
            c.insert("exp".into(), json!(NOW - 31));
        }),
        "client_assertion_expired"
    );
    assert_eq!(
        code(&|c| {
            c.insert("exp".into(), json!(NOW + 3600));
        }),
        "client_assertion_lifetime_too_long"
    );
    assert_eq!(
        code(&|c| {
            c.insert("iat".into(), json!(NOW + 120));
        }),
        "client_assertion_not_yet_valid"
    );
    assert_eq!(
        code(&|c| {
            c.insert("nbf".into(), json!(NOW + 120));
        }),
        "client_assertion_not_yet_valid"
    );
}

#[test]
fn private_key_jwt_header_rules() {
    let f = Fixture::new();
    let payload = b64(&Value::Object(f.claims()));
    let unsigned = |header: Value| format!("{}.{payload}.c2ln", b64(&header));
    let kid = f.key.kid().to_owned();
    // alg none, in any spelling
    for alg in ["none", "NONE", "nOnE"] {
        let err = f
            .check(&unsigned(json!({"alg": alg, "kid": kid})))
            .unwrap_err();
        assert_eq!(err.code(), "alg_none", "{alg}");
    }
    // HMAC with the public key as the secret
    let err = f
        .check(&unsigned(json!({"alg": "HS256", "kid": kid})))
        .unwrap_err();
    assert_eq!(err.code(), "unsupported_alg");
    // embedded keys never supply the key
    let jwk = Value::Object(f.key.public_jwk().clone());
    for (member, value) in [
        ("jwk", jwk),
        ("jku", json!("https://evil/jwks")),
        ("x5c", json!(["AAAA"])),
    ] {
        let err = f
            .check(&unsigned(
                json!({"alg": "ES256", "kid": kid, member: value}),
            ))
            .unwrap_err();
        assert_eq!(err.code(), "forbidden_header", "{member}");
    }
    // alg that is not the key's
    let err = f
        .check(&unsigned(json!({"alg": "EdDSA", "kid": kid})))
        .unwrap_err();
    assert_eq!(err.code(), "alg_key_mismatch");
    // no kid, and a key the client did not register
    let err = f.check(&unsigned(json!({"alg": "ES256"}))).unwrap_err();
    assert_eq!(err.code(), "missing_kid");
    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let forged = stranger
        .sign_compact(None, &serde_json::to_vec(&f.claims()).unwrap())
        .unwrap();
    assert_eq!(
        f.check(&forged).unwrap_err().code(),
        "client_assertion_unknown_key"
    );
    // a real signature over other bytes
    let good = f.sign(&f.claims());
    let (head, _) = good.rsplit_once('.').unwrap();
    let other = f.sign(&{
        let mut c = f.claims();
        c.insert("jti".into(), json!("other"));
        c
    });
    let spliced = format!("{head}.{}", other.rsplit_once('.').unwrap().1);
    assert_eq!(f.check(&spliced).unwrap_err().code(), "bad_signature");
}

#[test]
fn private_key_jwt_request_shape_and_store_failure() {
    let f = Fixture::new();
    let err = extract(
        None,
        "client_assertion_type=urn%3Aother&client_assertion=a.b.c",
    )
    .unwrap_err();
    assert_eq!(err.code(), "client_assertion_type_unsupported");
    let err = extract(
        None,
        &format!("client_assertion_type={}", url_encode(JWT_BEARER_ASSERTION)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "client_assertion_type_unsupported");
    // the replay store is down: refused, 503, never accepted
    let down = Fixture {
        replay: Seen(Mutex::default(), true),
        ..f
    };
    let err = down.check(&down.sign(&down.claims())).unwrap_err();
    assert_eq!(err.code(), "client_assertion_replay_unavailable");
    assert_eq!(err.oauth(false).status, 503);
    // no check configured
    let creds = extract(
        None,
        &format!(
            "client_id=c1&client_assertion_type={}&client_assertion=a.b.c",
            url_encode(JWT_BEARER_ASSERTION)
        ),
    )
    .unwrap();
    let err = block_on(authenticate(
        &creds,
        &RegisteredAuth::PrivateKeyJwt(JwkSet::new()),
        None,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "client_assertion_not_configured");
}

/// Review 3, finding 3: `%` in the form-encoded id or secret of a Basic
/// header must be followed by two hex digits; `u8::from_str_radix` also
/// takes a sign, so `%+A` decoded as a newline, a second spelling of the
/// same credentials that no other form decoder accepts.
#[test]
fn basic_percent_escape_takes_two_hex_digits_only() {
    for raw in ["c%+A:secret", "c:se%+1cret", "c:se%-1cret"] {
        let err = extract(Some(&basic(raw)), "").unwrap_err();
        assert_eq!(err.code(), "client_auth_malformed_basic", "{raw}");
    }
    // the ordinary escapes still decode
    let creds = extract(Some(&basic("c%0A:se%2Bcret")), "").unwrap();
    assert_eq!(creds.client_id(), "c\n");
}

/// Review 3, finding 4: audience injection (the 2025 private_key_jwt
/// advisory; draft-ietf-oauth-rfc7523bis): a client that also talks to a
/// malicious authorization server builds assertions with `aud` set to
/// whatever that server's metadata names as its token endpoint, i.e. this
/// server's token endpoint. That server can then replay the assertion
/// here. rfc7523bis requires `aud` to be this server's issuer identifier,
/// as a single string; neither the token endpoint nor an array.
#[test]
fn private_key_jwt_audience_is_the_issuer_only() {
    let f = Fixture::new();
    // aud = the token endpoint (what a client misled by another server's
    // metadata would put)
    assert_eq!(
        f.with(|c| {
            c.insert("aud".into(), json!(TOKEN_ENDPOINT));
            c.insert("jti".into(), json!("inj-1"));
        })
        .unwrap_err()
        .code(),
        "client_assertion_audience_mismatch"
    );
    // an array naming the issuer among others
    assert_eq!(
        f.with(|c| {
            c.insert("aud".into(), json!(["https://evil.example", ISSUER]));
            c.insert("jti".into(), json!("inj-2"));
        })
        .unwrap_err()
        .code(),
        "client_assertion_audience_mismatch"
    );
    // an array of the issuer alone: still not a single string
    assert_eq!(
        f.with(|c| {
            c.insert("aud".into(), json!([ISSUER]));
            c.insert("jti".into(), json!("inj-4"));
        })
        .unwrap_err()
        .code(),
        "client_assertion_audience_mismatch"
    );
    // the issuer with a trailing slash is another string
    assert_eq!(
        f.with(|c| {
            c.insert("aud".into(), json!(format!("{ISSUER}/")));
            c.insert("jti".into(), json!("inj-5"));
        })
        .unwrap_err()
        .code(),
        "client_assertion_audience_mismatch"
    );
    f.with(|c| {
        c.insert("aud".into(), json!(ISSUER));
        c.insert("jti".into(), json!("inj-3"));
    })
    .unwrap();
}
