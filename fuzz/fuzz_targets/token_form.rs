//! The token endpoint's inputs: the form body (`passport_server::form`)
//! and the token request read from it (`passport_server::token_request`).
//!
//! The input is a form body. Properties: an accepted form holds every
//! non-empty pair of the body under its name, no name twice and at most
//! `MAX_FORM_FIELDS`; an accepted token request is of the form's
//! `grant_type` and carries its parameters unchanged (scope validated,
//! resource absolute); every refusal has a documented code and is a
//! well-formed RFC 6749 §5.2 answer.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use passport_fuzz::{assert_documented, assert_oauth_error};
use passport_server::codes;
use passport_server::form::{Form, MAX_FORM_FIELDS};
use passport_server::token_request::TokenRequest;

const MAX_BYTES: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let form = match Form::parse(data, MAX_BYTES) {
        Ok(form) => form,
        Err(e) => {
            assert_documented(e.code());
            assert_oauth_error(&e.oauth(), &[codes::INVALID_REQUEST]);
            return;
        }
    };
    assert!(data.len() <= MAX_BYTES);
    let mut names = BTreeSet::new();
    for (name, value) in url::form_urlencoded::parse(data) {
        if name.is_empty() && value.is_empty() {
            continue;
        }
        assert!(names.insert(name.clone()), "{name:?} accepted twice");
        if value.is_empty() {
            assert_eq!(form.get(&name), None);
        } else {
            assert_eq!(form.get(&name), Some(value.as_ref()));
        }
    }
    assert!(names.len() <= MAX_FORM_FIELDS);
    match TokenRequest::from_form(&form) {
        Ok(request) => {
            assert_eq!(Some(request.grant_type()), form.get("grant_type"));
            match &request {
                TokenRequest::AuthorizationCode {
                    code,
                    redirect_uri,
                    code_verifier,
                    resource,
                    ..
                } => {
                    assert_eq!(Some(code.as_str()), form.get("code"));
                    assert_eq!(Some(redirect_uri.as_str()), form.get("redirect_uri"));
                    assert_eq!(Some(code_verifier.as_str()), form.get("code_verifier"));
                    assert_eq!(resource.as_deref(), form.get("resource"));
                }
                TokenRequest::RefreshToken {
                    refresh_token,
                    resource,
                    ..
                } => {
                    assert_eq!(Some(refresh_token.as_str()), form.get("refresh_token"));
                    assert_eq!(resource.as_deref(), form.get("resource"));
                }
                TokenRequest::TokenExchange(x) => {
                    assert_eq!(Some(x.subject_token.as_str()), form.get("subject_token"));
                    assert_eq!(x.resource.as_deref(), form.get("resource"));
                    assert_eq!(x.audience.as_deref(), form.get("audience"));
                    assert_eq!(x.actor_token.is_some(), form.contains("actor_token"));
                }
                TokenRequest::ClientCredentials { resource, .. } => {
                    assert_eq!(resource.as_deref(), form.get("resource"));
                }
                _ => {}
            }
            if let Some(resource) = form.get("resource") {
                assert!(
                    url::Url::parse(resource).is_ok(),
                    "resource {resource:?} accepted"
                );
            }
        }
        Err(e) => {
            assert_documented(e.code());
            assert_oauth_error(
                &e.oauth(),
                &[
                    codes::INVALID_REQUEST,
                    codes::UNSUPPORTED_GRANT_TYPE,
                    codes::INVALID_TARGET,
                    codes::INVALID_SCOPE,
                ],
            );
        }
    }
});
