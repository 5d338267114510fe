//! A provider reached over plain http. The discovery document names the
//! token endpoint, which receives the client secret, the code and the PKCE
//! verifier, and the JWKS ID tokens are checked with; an https issuer's
//! endpoints must be https, a plain-http issuer's may be plain http. So the
//! issuer and the discovery URL must both be https, or plain http on a
//! loopback host (passport-remote's rule for trusted issuers), and the
//! discovery URL must be https when the issuer is. Each refusal is
//! `insecure_url`, from `Provider::new`, before any request.

use passport_oidc::{OidcConfig, OidcError, Provider, ProviderMetadata};

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

fn provider(discovery: &str, issuer: Option<&str>) -> Result<Provider, OidcError> {
    let mut config = OidcConfig::new(discovery, "cli");
    config.issuer = issuer.map(str::to_owned);
    Provider::new(config)
}

fn assert_insecure(result: Result<Provider, OidcError>, what: &str) {
    let Err(err) = result else {
        panic!("an insecure provider was accepted");
    };
    assert_eq!(err.code(), "insecure_url", "{err}");
    match &err {
        OidcError::InsecureUrl { what: found, .. } => assert_eq!(*found, what, "{err}"),
        other => panic!("not InsecureUrl: {other:?}"),
    }
}

#[test]
fn a_plain_http_provider_off_loopback_is_refused() {
    // `CSP_DISCOVERY_URL=http://idp.example/…` (a typo): whoever answers on
    // the path would name the token endpoint.
    assert_insecure(
        provider(&format!("http://idp.example{WELL_KNOWN}"), None),
        "issuer",
    );
    assert_insecure(
        provider(
            &format!("http://127.0.0.1:9{WELL_KNOWN}"),
            Some("http://idp.example"),
        ),
        "issuer",
    );
    // Neither http nor https.
    assert_insecure(
        provider(&format!("ftp://idp.example{WELL_KNOWN}"), None),
        "issuer",
    );
}

#[test]
fn a_plain_http_discovery_url_is_refused_for_an_https_issuer() {
    // The issuer is https, but an on-path attacker could rewrite the
    // document itself (its `token_endpoint`, its `jwks_uri`).
    let issuer = Some("https://idp.example");
    assert_insecure(
        provider(&format!("http://idp.example{WELL_KNOWN}"), issuer),
        "discovery URL",
    );
    // Even on loopback: a plain-http document may not speak for an https
    // issuer.
    assert_insecure(
        provider(&format!("http://127.0.0.1:9{WELL_KNOWN}"), issuer),
        "discovery URL",
    );
    let err = provider(&format!("http://127.0.0.1:9{WELL_KNOWN}"), issuer).unwrap_err();
    assert!(err.to_string().contains("issuer is https"), "{err}");
}

#[test]
fn https_and_loopback_providers_are_accepted() {
    for discovery in [
        format!("https://idp.example{WELL_KNOWN}"),
        format!("http://127.0.0.1:9{WELL_KNOWN}"),
        format!("http://[::1]:9{WELL_KNOWN}"),
        format!("http://localhost:9{WELL_KNOWN}"),
    ] {
        provider(&discovery, None).unwrap();
    }
    // An https document for a loopback development issuer.
    provider(
        &format!("https://idp.example{WELL_KNOWN}"),
        Some("http://127.0.0.1:9"),
    )
    .unwrap();
}

#[test]
fn a_document_for_a_plain_http_issuer_off_loopback_is_refused() {
    // Its endpoints could be plain http anywhere, the token endpoint an
    // attacker's.
    let doc = br#"{"issuer":"http://idp.example","authorization_endpoint":"http://idp.example/a",
        "token_endpoint":"http://attacker.example/token","jwks_uri":"http://idp.example/j",
        "response_types_supported":["code"],"subject_types_supported":["public"],
        "id_token_signing_alg_values_supported":["EdDSA"]}"#;
    let err = ProviderMetadata::from_json(doc, "http://idp.example").unwrap_err();
    assert_eq!(err.code(), "insecure_url", "{err}");
}
