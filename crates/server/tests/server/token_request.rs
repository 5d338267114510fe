use passport_server::OAuthError;
use passport_server::form::Form;
use passport_server::token_request::{TOKEN_EXCHANGE, TokenRequest, TokenRequestError, TokenType};

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn parse(pairs: &[(&str, &str)]) -> Result<TokenRequest, TokenRequestError> {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let form = Form::parse(body.join("&").as_bytes(), 64 * 1024)?;
    TokenRequest::from_form(&form)
}

const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

#[test]
fn four_grant_types() {
    let r = parse(&[
        ("grant_type", "authorization_code"),
        ("code", "c"),
        ("redirect_uri", "https://app.example/cb"),
        ("code_verifier", "v"),
        ("resource", "https://mcp.example/"),
    ])
    .unwrap();
    assert!(
        matches!(r, TokenRequest::AuthorizationCode { ref code, resource: Some(_), .. } if code == "c")
    );
    let r = parse(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "rt"),
        ("scope", "a b"),
    ])
    .unwrap();
    assert!(matches!(r, TokenRequest::RefreshToken { scope: Some(ref s), .. } if s.len() == 2));
    let r = parse(&[("grant_type", "client_credentials")]).unwrap();
    assert_eq!(r.grant_type(), "client_credentials");
    let r = parse(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", "s.s.s"),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("actor_token", "a.a.a"),
        ("actor_token_type", JWT),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("audience", "https://agent-2.example/mcp"),
    ])
    .unwrap();
    let TokenRequest::TokenExchange(x) = r else {
        panic!()
    };
    assert_eq!(x.subject_token_type, TokenType::IdToken);
    assert_eq!(
        x.actor_token.as_ref().map(|(_, t)| *t),
        Some(TokenType::Jwt)
    );
    assert_eq!(x.requested_token_type, Some(TokenType::AccessToken));
    assert_eq!(x.audience.as_deref(), Some("https://agent-2.example/mcp"));
    // Debug never prints a token
    assert!(!format!("{x:?}").contains("s.s.s") && !format!("{x:?}").contains("a.a.a"));
}

fn oauth(pairs: &[(&str, &str)]) -> (String, OAuthError) {
    let err = parse(pairs).unwrap_err();
    (err.code().to_owned(), err.oauth())
}

#[test]
fn missing_parameters_are_named() {
    let (code, o) = oauth(&[]);
    assert_eq!(code, "token_request_missing_parameters");
    assert_eq!(o.description, "missing parameters: grant_type");
    let (_, o) = oauth(&[("grant_type", "authorization_code"), ("code", "c")]);
    assert_eq!(
        (o.error, o.description.as_str()),
        (
            "invalid_request",
            "missing parameters: redirect_uri, code_verifier"
        )
    );
    let (_, o) = oauth(&[("grant_type", "refresh_token"), ("refresh_token", "")]);
    assert_eq!(o.description, "missing parameters: refresh_token");
    let (_, o) = oauth(&[("grant_type", TOKEN_EXCHANGE), ("subject_token", "x")]);
    assert_eq!(o.description, "missing parameters: subject_token_type");
    let (_, o) = oauth(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", "x"),
        ("subject_token_type", JWT),
        ("actor_token", "y"),
    ]);
    assert_eq!(o.description, "missing parameters: actor_token_type");
    let (_, o) = oauth(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", "x"),
        ("subject_token_type", JWT),
        ("actor_token_type", JWT),
    ]);
    assert_eq!(o.description, "missing parameters: actor_token");
}

#[test]
fn unsupported_and_malformed_values() {
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "AUTHORIZATION_CODE",
    ] {
        let (code, o) = oauth(&[("grant_type", grant)]);
        assert_eq!(
            (code.as_str(), o.error, o.status),
            ("grant_type_unsupported", "unsupported_grant_type", 400)
        );
    }
    let (code, o) = oauth(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", "x"),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:saml2",
        ),
    ]);
    assert_eq!(
        (code.as_str(), o.error),
        ("token_type_unsupported", "invalid_request")
    );
    let (code, _) = oauth(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", "x"),
        ("subject_token_type", JWT),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
    ]);
    assert_eq!(code, "token_type_unsupported");
    let (code, o) = oauth(&[
        ("grant_type", "client_credentials"),
        ("resource", "https://x.example/#f"),
    ]);
    assert_eq!(
        (code.as_str(), o.error),
        ("resource_invalid", "invalid_target")
    );
    let (code, o) = oauth(&[("grant_type", "client_credentials"), ("scope", "a  b")]);
    assert_eq!((code.as_str(), o.error), ("scope_invalid", "invalid_scope"));
}

#[test]
fn body_rules_of_rfc6749_section_3_2() {
    let form = Form::parse(
        b"grant_type=client_credentials&grant_type=authorization_code",
        1024,
    );
    assert_eq!(form.unwrap_err().code(), "form_duplicate_parameter");
    let err = Form::parse(&vec![b'a'; 70_000], 64 * 1024).unwrap_err();
    let err: TokenRequestError = err.into();
    assert_eq!(err.code(), "form_too_large");
    let o = err.oauth();
    assert_eq!(o.error, "invalid_request");
    let headers = o.headers();
    assert!(headers.contains(&("cache-control", "no-store".to_owned())));
    assert!(headers.contains(&("content-type", "application/json".to_owned())));
    assert_eq!(
        o.body(),
        serde_json::json!({"error": "invalid_request", "error_description": "the request body is larger than 65536 bytes"})
    );
}

#[test]
fn error_description_cannot_inject() {
    // a hostile grant_type echoed back: quotes, backslashes, control and
    // non-ASCII characters are replaced (RFC 6749 §5.2 character set)
    let (_, o) = oauth(&[("grant_type", "x\"\\\n\u{e9}<script>")]);
    assert!(
        o.description
            .chars()
            .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\'),
        "{}",
        o.description
    );
    assert!(o.description.len() <= 200);
    let (_, o) = oauth(&[("grant_type", &"g".repeat(5000))]);
    assert!(o.description.len() <= 200);
}
