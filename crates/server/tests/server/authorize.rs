use passport_claims::ScopeSet;
use passport_server::authorize::{AuthorizeError, AuthorizeFailure, ClientPolicy, validate};
use passport_server::form::Form;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const ISSUER: &str = "https://as.example";

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Req(Vec<(String, String)>);

impl Req {
    fn good() -> Req {
        Req(vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), "app".into()),
            ("redirect_uri".into(), "https://app.example/cb".into()),
            ("state".into(), "st&te=1".into()),
            ("code_challenge".into(), CHALLENGE.into()),
            ("code_challenge_method".into(), "S256".into()),
            ("resource".into(), "https://mcp.example/mcp".into()),
            ("scope".into(), "tools:read files:*".into()),
        ])
    }
    fn set(mut self, k: &str, v: &str) -> Req {
        self.0.retain(|(n, _)| n != k);
        self.0.push((k.into(), v.into()));
        self
    }
    fn without(mut self, k: &str) -> Req {
        self.0.retain(|(n, _)| n != k);
        self
    }
    fn query(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
    fn run(&self) -> Result<passport_server::authorize::AuthorizationRequest, AuthorizeFailure> {
        let redirect_uris = vec![
            "https://app.example/cb".to_owned(),
            "http://127.0.0.1/native".to_owned(),
        ];
        let allowed = ScopeSet::parse(["tools:*", "files:*"]).unwrap();
        let client = ClientPolicy {
            client_id: "app",
            redirect_uris: &redirect_uris,
            allowed_scopes: &allowed,
        };
        validate(
            &Form::parse(self.query().as_bytes(), 8192).unwrap(),
            &client,
        )
    }
}

fn page(req: Req) -> AuthorizeError {
    match req.run().unwrap_err() {
        AuthorizeFailure::Page(e) => e,
        other => panic!("expected an error page, got {other:?}"),
    }
}

fn redirected(req: Req) -> (AuthorizeError, String) {
    let failure = req.run().unwrap_err();
    let location = failure.location(ISSUER).expect("a redirect");
    (failure.error().clone(), location)
}

#[test]
fn good_request_carries_state_resource_and_scope() {
    let r = Req::good().run().unwrap();
    assert_eq!(r.state.as_deref(), Some("st&te=1"));
    assert_eq!(r.resource, "https://mcp.example/mcp");
    assert_eq!(r.scope, ScopeSet::parse(["tools:read", "files:*"]).unwrap());
    assert_eq!(r.code_challenge.as_str(), CHALLENGE);
    let loc = r.redirect_with_code("abc", ISSUER);
    assert_eq!(
        loc,
        "https://app.example/cb?code=abc&state=st%26te%3D1&iss=https%3A%2F%2Fas.example"
    );
    // an existing query on the registered URI is kept
    let native = Req::good()
        .set("redirect_uri", "http://127.0.0.1:55123/native")
        .run()
        .unwrap();
    assert!(
        native
            .redirect_with_code("c", ISSUER)
            .starts_with("http://127.0.0.1:55123/native?code=c&")
    );
}

#[test]
fn untrusted_client_or_redirect_is_a_page_never_a_redirect() {
    assert_eq!(
        page(Req::good().set("client_id", "other")),
        AuthorizeError::UnknownClient
    );
    assert_eq!(
        page(Req::good().without("client_id")),
        AuthorizeError::UnknownClient
    );
    assert_eq!(
        page(Req::good().without("redirect_uri")),
        AuthorizeError::MissingRedirectUri
    );
    for bad in [
        "https://app.example/cc",
        "https://app.example/cb/",
        "https://app.example/cbx",
        "https://app.example/cb?x=1",
        "https://app.example/cb#f",
        "https://APP.example/cb",
        "https://app.example:443/cb",
        "https://app.example/CB",
        "https://evil.example/cb",
        "https://app.example.evil/cb",
        "https://app.example/cb/../cb",
        "http://app.example/cb",
        "http://127.0.0.1:80/native/x",
        "http://localhost:80/native",
    ] {
        let err = page(Req::good().set("redirect_uri", bad));
        assert_eq!(err, AuthorizeError::RedirectUriMismatch, "{bad}");
        assert_eq!(err.code(), "redirect_uri_mismatch");
    }
    let failure = Req::good()
        .set("redirect_uri", "https://evil.example/cb")
        .run()
        .unwrap_err();
    assert!(failure.location(ISSUER).is_none());
}

#[test]
fn duplicate_parameters_are_refused_before_anything() {
    let query = format!(
        "{}&redirect_uri={}",
        Req::good().query(),
        enc("https://evil.example/")
    );
    let err = Form::parse(query.as_bytes(), 8192).unwrap_err();
    assert_eq!(err.code(), "form_duplicate_parameter");
    // the caller shows it as a page: there is no trusted redirect URI yet
    let err: AuthorizeError = err.into();
    assert_eq!(err.oauth().error, "invalid_request");
}

#[test]
fn other_errors_redirect_with_state_and_iss() {
    let (err, loc) = redirected(Req::good().set("response_type", "token"));
    assert_eq!(err.code(), "response_type_unsupported");
    assert!(
        loc.starts_with(
            "https://app.example/cb?error=unsupported_response_type&error_description="
        )
    );
    assert!(loc.ends_with("&state=st%26te%3D1&iss=https%3A%2F%2Fas.example"));

    let cases: Vec<(Req, &str, &str)> = vec![
        (
            Req::good().without("response_type"),
            "response_type_missing",
            "invalid_request",
        ),
        (
            Req::good().set("code_challenge_method", "plain"),
            "pkce_plain_refused",
            "invalid_request",
        ),
        (
            Req::good().without("code_challenge_method"),
            "pkce_method_missing",
            "invalid_request",
        ),
        (
            Req::good().without("code_challenge"),
            "pkce_challenge_missing",
            "invalid_request",
        ),
        (
            Req::good().set("code_challenge", "short"),
            "pkce_challenge_invalid",
            "invalid_request",
        ),
        (
            Req::good().without("resource"),
            "resource_missing",
            "invalid_target",
        ),
        (
            Req::good().set("resource", "mcp.example/mcp"),
            "resource_invalid",
            "invalid_target",
        ),
        (
            Req::good().set("resource", "https://mcp.example/mcp#x"),
            "resource_invalid",
            "invalid_target",
        ),
        (
            Req::good().set("resource", "urn:x:y"),
            "resource_invalid",
            "invalid_target",
        ),
        (
            Req::good().set("scope", "admin:*"),
            "scope_not_allowed",
            "invalid_scope",
        ),
        (
            Req::good().set("scope", "tools:read *"),
            "scope_not_allowed",
            "invalid_scope",
        ),
        (
            Req::good().set("scope", "tools:read  files:x"),
            "scope_invalid",
            "invalid_scope",
        ),
        (
            Req::good().set("scope", "files:[rw]"),
            "scope_invalid",
            "invalid_scope",
        ),
        (
            Req::good().set("scope", "tools:\"x\""),
            "scope_invalid",
            "invalid_scope",
        ),
        (
            Req::good().set("response_mode", "fragment"),
            "response_mode_unsupported",
            "invalid_request",
        ),
        (
            Req::good().set("request_uri", "urn:x"),
            "request_object_unsupported",
            "invalid_request",
        ),
    ];
    for (req, code, error) in cases {
        let (err, loc) = redirected(req);
        assert_eq!(err.code(), code);
        assert!(loc.contains(&format!("error={error}&")), "{loc}");
        assert!(loc.contains("&iss=https%3A%2F%2Fas.example"), "{loc}");
    }
    // a state too long is refused and not echoed
    let (err, loc) = redirected(Req::good().set("state", &"s".repeat(1025)));
    assert_eq!(err.code(), "state_too_long");
    assert!(!loc.contains("state="));
    // absent scope: nothing granted (least privilege), not everything
    assert!(Req::good().without("scope").run().unwrap().scope.is_empty());
}

/// Review 3, finding 2: `Url::parse` silently drops tabs and newlines
/// anywhere and spaces/controls at either end, so a redirect URI holding
/// them passed the registration check, then matched as a string and went
/// verbatim into the `Location` of the redirect: a header injection
/// (`\r\nSet-Cookie: …`), or an answer the HTTP layer refuses to build.
#[test]
fn redirect_uris_with_controls_or_spaces_are_not_registrable() {
    use passport_server::authorize::{check_redirect_uri, check_resource};
    for bad in [
        "https://app.example/cb\r\nSet-Cookie: sid=attacker",
        "https://app.example/c\tb",
        " https://app.example/cb",
        "https://app.example/cb ",
        "https://app.example/c b",
        "http://127.0.0.1/cb\n",
        "com.example.app:/cb\r\nx: y",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad:?}");
    }
    assert!(check_resource("https://mcp.example/mcp\r\n").is_err());
    assert!(check_resource(" https://mcp.example/mcp").is_err());
    // such a URI in a client metadata document is refused with the document
    let url = passport_server::client_metadata::ClientIdUrl::parse(
        "https://app.example/client.json",
        false,
    )
    .unwrap();
    let doc = serde_json::json!({
        "client_id": "https://app.example/client.json",
        "redirect_uris": ["https://app.example/cb\r\nSet-Cookie: sid=attacker"],
    });
    let err = passport_server::client_metadata::ClientMetadataDocument::from_json(
        &serde_json::to_vec(&doc).unwrap(),
        &url,
    )
    .unwrap_err();
    assert_eq!(err.code(), "client_metadata_redirect_uris_invalid");
}
