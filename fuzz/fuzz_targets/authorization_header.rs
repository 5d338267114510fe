//! The `Authorization` header parser of passport-tower (and so of
//! passport-axum, which runs the same layer): RFC 9110 §11.4 credentials,
//! RFC 6750 `Bearer`, RFC 9449 `DPoP`.
//!
//! The first byte is a mode (bit 0: DPoP enabled); the rest is one or more
//! header values, NUL-separated. Properties: more than one header is
//! refused; an accepted header's token is non-empty token68, found in the
//! header after the scheme, and `"<scheme> <token>"` parses to the same
//! scheme and token; `DPoP` is accepted only when enabled; the length cap
//! holds; every refusal has a documented code.
#![no_main]

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use passport_fuzz::{assert_documented, parts};
use passport_tower::Scheme;
use passport_tower::fuzzing::credentials;

const MAX_LEN: usize = 4096;

fn token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dpop = mode & 1 == 1;
    let mut headers = HeaderMap::new();
    for value in parts(rest) {
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return;
        };
        headers.append(AUTHORIZATION, value);
    }
    let count = headers.get_all(AUTHORIZATION).iter().count();
    match credentials(&headers, MAX_LEN, dpop) {
        Ok((scheme, token)) => {
            assert_eq!(count, 1);
            let value = headers.get(AUTHORIZATION).unwrap().as_bytes();
            assert!(value.len() <= MAX_LEN);
            assert!(token68(token), "not token68: {token:?}");
            let text = std::str::from_utf8(value.trim_ascii()).unwrap();
            let (head, tail) = text.split_at(scheme.as_str().len());
            assert!(head.eq_ignore_ascii_case(scheme.as_str()));
            assert_eq!(tail.trim_start_matches(' '), token);
            assert!(dpop || scheme == Scheme::Bearer);
            let canonical = HeaderValue::from_str(&format!("{} {token}", scheme.as_str())).unwrap();
            let mut again = HeaderMap::new();
            again.insert(AUTHORIZATION, canonical);
            let (scheme2, token2) = credentials(&again, MAX_LEN, dpop).expect("canonical form");
            assert_eq!((scheme2, token2), (scheme, token));
        }
        Err(e) => {
            assert_documented(e.code());
            if count > 1 {
                assert_eq!(e.code(), "multiple_authorization_headers");
            }
            if count == 0 {
                assert_eq!(e.code(), "missing_credentials");
            }
        }
    }
});
