//! `/register` (RFC 7591): the checks on a registration request's JSON
//! body, through `passport_server::fuzzing::registration` (the function the
//! endpoint calls), the operator's open scopes being `files:read mail:*`.
//!
//! Properties of an accepted registration's answer: one to 16 redirect
//! URIs, each passing `check_redirect_uri`; grant types among the open ones
//! (never `client_credentials` or token exchange) and including
//! `authorization_code`; a supported auth method, with keys exactly when it
//! is `private_key_jwt`; the scope is the operator's, whatever was asked; a
//! `client_name` of at most 100 characters. A refusal is a 400
//! `invalid_client_metadata` or `invalid_redirect_uri` with a well-formed
//! description.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passport_claims::ScopeSet;
use passport_fuzz::assert_oauth_error;
use passport_server::authorize::check_redirect_uri;
use passport_server::fuzzing::registration;
use serde_json::Value;

fn open_scopes() -> &'static ScopeSet {
    static OPEN: OnceLock<ScopeSet> = OnceLock::new();
    OPEN.get_or_init(|| ScopeSet::parse(["files:read", "mail:*"]).unwrap())
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("strings"))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let answer = match registration(data, open_scopes()) {
        Ok(answer) => answer,
        Err(e) => {
            return assert_oauth_error(&e, &["invalid_client_metadata", "invalid_redirect_uri"]);
        }
    };
    let uris = strings(answer.get("redirect_uris"));
    assert!((1..=16).contains(&uris.len()));
    for uri in uris {
        assert!(
            check_redirect_uri(uri).is_ok(),
            "redirect_uri {uri:?} accepted"
        );
    }
    let grants = strings(answer.get("grant_types"));
    assert!(grants.contains(&"authorization_code"));
    assert!(
        grants
            .iter()
            .all(|g| ["authorization_code", "refresh_token"].contains(g))
    );
    assert_eq!(strings(answer.get("response_types")), ["code"]);
    let method = answer["token_endpoint_auth_method"].as_str().unwrap();
    assert!(
        [
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ]
        .contains(&method)
    );
    let keys = answer.contains_key("jwks") || answer.contains_key("jwks_uri");
    assert_eq!(keys, method == "private_key_jwt");
    assert!(!(answer.contains_key("jwks") && answer.contains_key("jwks_uri")));
    assert_eq!(answer["scope"], "files:read mail:*");
    if let Some(name) = answer.get("client_name") {
        assert!(name.as_str().unwrap().chars().count() <= 100);
    }
    assert!(!answer.contains_key("client_secret"));
});
