//! Client ID metadata documents (passport_server::client_metadata): the
//! `client_id` URL and the document fetched from it.
//!
//! The first byte is a mode. Mode even: the rest is a document, checked as
//! fetched from `https://client.example/oauth/metadata.json`. Mode odd: the
//! rest is a `client_id` for `ClientIdUrl::parse` (bit 1: test mode, `http`
//! allowed).
//!
//! Properties: an accepted URL is https (or http in test mode), absolute,
//! without credentials or fragment, with a path, and its text is exactly the
//! input (canonical), which parses again; an accepted document names that
//! URL, has 1 to 16 redirect URIs each passing `check_redirect_uri`, no
//! secret, keys exactly for `private_key_jwt` (a `jwks_uri` in https), a
//! displayable `client_name` of at most 100 characters. Every refusal has a
//! documented code and is a 400 `invalid_client` with a well-formed
//! description.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passport_fuzz::{assert_documented, assert_oauth_error};
use passport_server::authorize::check_redirect_uri;
use passport_server::client_metadata::{ClientIdUrl, ClientMetadataDocument, DocumentAuth};
use passport_server::codes;

const CLIENT_ID: &str = "https://client.example/oauth/metadata.json";

fn client_id() -> &'static ClientIdUrl {
    static URL: OnceLock<ClientIdUrl> = OnceLock::new();
    URL.get_or_init(|| ClientIdUrl::parse(CLIENT_ID, false).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let test_mode = mode & 2 == 2;
        match ClientIdUrl::parse(text, test_mode) {
            Ok(url) => {
                assert_eq!(url.as_str(), text);
                let parsed = url::Url::parse(text).unwrap();
                assert!(parsed.scheme() == "https" || (test_mode && parsed.scheme() == "http"));
                assert!(parsed.username().is_empty() && parsed.password().is_none());
                assert!(parsed.fragment().is_none() && parsed.host().is_some());
                assert!(!parsed.path().is_empty() && parsed.path() != "/");
                let again = ClientIdUrl::parse(url.as_str(), test_mode).expect("re-parses");
                assert_eq!(again.as_str(), url.as_str());
            }
            Err(e) => {
                assert_documented(e.code());
                assert_oauth_error(&e.oauth(), &[codes::INVALID_CLIENT]);
            }
        }
        return;
    }
    let doc = match ClientMetadataDocument::from_json(rest, client_id()) {
        Ok(doc) => doc,
        Err(e) => {
            assert_documented(e.code());
            return assert_oauth_error(&e.oauth(), &[codes::INVALID_CLIENT]);
        }
    };
    assert_eq!(doc.client_id, CLIENT_ID);
    assert!((1..=16).contains(&doc.redirect_uris.len()));
    for uri in &doc.redirect_uris {
        assert!(
            check_redirect_uri(uri).is_ok(),
            "redirect_uri {uri:?} accepted"
        );
    }
    if let Some(name) = &doc.client_name {
        assert!(name.chars().count() <= 100);
        assert!(!name.chars().any(char::is_control));
    }
    match &doc.auth {
        DocumentAuth::None => {}
        DocumentAuth::Jwks(keys) => assert!(!keys.is_empty()),
        DocumentAuth::JwksUri(uri) => {
            assert_eq!(url::Url::parse(uri).unwrap().scheme(), "https");
        }
        _ => {}
    }
    let doc_json: serde_json::Value = serde_json::from_slice(rest).unwrap();
    assert!(doc_json.get("client_secret").is_none());
});
