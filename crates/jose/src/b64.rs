//! Strict base64url (RFC 4648 §5, no padding), as RFC 7515 §2 requires.
//!
//! Decoding refuses padding, characters outside the URL-safe alphabet and
//! non-zero trailing bits, so every byte string has exactly one encoding and
//! a token cannot be altered without changing its signing input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded, canonical base64url; `None` on any deviation.
///
/// ```
/// assert_eq!(passport_jose::b64::decode("aGk").as_deref(), Some(&b"hi"[..]));
/// assert!(passport_jose::b64::decode("aGk=").is_none()); // padding
/// assert!(passport_jose::b64::decode("aGl").is_none()); // non-zero trailing bits
/// ```
pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
