//! What the fuzz targets share: splitting an input into parts, the fixed
//! keys and clock, and the check that an error code is a documented one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use passport_testkit::Kit;

/// docs/error-codes.md, generated from every crate's `code()`: a code a
/// target sees must be listed there (stable, documented codes).
const ERROR_CODES: &str = include_str!("../../docs/error-codes.md");

/// Panics unless `code` is a documented error code.
pub fn assert_documented(code: &str) {
    assert!(
        !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && ERROR_CODES.contains(&format!("| `{code}` |")),
        "undocumented error code {code:?}"
    );
}

/// The input cut at each NUL byte (which no JSON document, form or header
/// holds): a target reads its parts from these, the first byte of the input
/// being a mode when it asks for one.
pub fn parts(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == 0).collect()
}

/// The part at `i`, empty when absent.
pub fn part<'a>(parts: &[&'a [u8]], i: usize) -> &'a [u8] {
    parts.get(i).copied().unwrap_or_default()
}

/// The part at `i` as text (lossy: the targets fuzz text inputs).
pub fn text(parts: &[&[u8]], i: usize) -> String {
    String::from_utf8_lossy(part(parts, i)).into_owned()
}

/// One test kit (an Ed25519 issuer key, its key store, a clock at
/// `passport_testkit::NOW`) for every run of a target.
pub fn kit() -> &'static Kit {
    static KIT: OnceLock<Kit> = OnceLock::new();
    KIT.get_or_init(Kit::new)
}

/// Panics unless `e` is a well-formed RFC 6749 §5.2 answer: a 400, an
/// `error` among `allowed`, an `error_description` of at most 200 bytes of
/// the characters §5.2 allows (it is reflected to the client).
pub fn assert_oauth_error(e: &passport_server::OAuthError, allowed: &[&str]) {
    assert_eq!(e.status, 400, "{e:?}");
    assert!(allowed.contains(&e.error), "unexpected error {:?}", e.error);
    assert!(
        e.description.len() <= 200,
        "description of {} bytes",
        e.description.len()
    );
    assert!(
        e.description
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)),
        "description outside RFC 6749 §5.2: {:?}",
        e.description
    );
}
