//! Strict base64url (RFC 4648 §5, no padding), as RFC 7515 §2 requires.
//!
//! Decoding refuses padding, characters outside the URL-safe alphabet and
//! non-zero trailing bits, so every byte string has exactly one encoding and
//! a token cannot be altered without changing its signing input.
//!
//! The base64 crate's SIMD engine does the work where the CPU has it (AVX2
//! on x86_64, NEON on aarch64, detected once at run time), and its scalar
//! engine everywhere else, or everywhere when built with `--cfg
//! passport_scalar_base64` in `RUSTFLAGS`. The rules are the crate's
//! configuration, the same for both engines: the SIMD loop only converts
//! whole blocks of valid characters, and the padding, the length and the
//! last characters' bits are judged by the shared scalar code (the tests
//! compare the two engines on hostile input, exhaustively for short text).

use base64::Engine as _;

#[cfg(all(
    not(passport_scalar_base64),
    any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_feature = "neon")
    )
))]
fn engine() -> &'static impl base64::Engine {
    use base64::engine::Simd;
    use base64::engine::general_purpose::NO_PAD;
    static ENGINE: std::sync::LazyLock<Simd> = std::sync::LazyLock::new(|| Simd::url_safe(NO_PAD));
    &*ENGINE
}

#[cfg(not(all(
    not(passport_scalar_base64),
    any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_feature = "neon")
    )
)))]
fn engine() -> &'static impl base64::Engine {
    &base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    engine().encode(bytes)
}

/// Decodes unpadded, canonical base64url; `None` on any deviation.
///
/// ```
/// assert_eq!(passport_jose::b64::decode("aGk").as_deref(), Some(&b"hi"[..]));
/// assert!(passport_jose::b64::decode("aGk=").is_none()); // padding
/// assert!(passport_jose::b64::decode("aGl").is_none()); // non-zero trailing bits
/// ```
pub fn decode(text: &str) -> Option<Vec<u8>> {
    engine().decode(text).ok()
}

/// Decodes unpadded, canonical base64url (the same rules as [`decode`]) into
/// `out`, without allocating; the decoded length, or `None` on any deviation
/// or when the bytes do not fit in `out`.
///
/// ```
/// let mut out = [0u8; 4];
/// assert_eq!(passport_jose::b64::decode_into("aGk", &mut out), Some(2));
/// assert_eq!(&out[..2], b"hi");
/// assert!(passport_jose::b64::decode_into("aGl", &mut out).is_none()); // trailing bits
/// assert!(passport_jose::b64::decode_into("aGVsbG8", &mut out).is_none()); // too long
/// ```
pub fn decode_into(text: &str, out: &mut [u8]) -> Option<usize> {
    engine().decode_slice(text, out).ok()
}
