//! HMAC-SHA256 (RFC 2104) for Agent Passport's own MACs (the DPoP nonce),
//! through aws-lc-rs. Not a JWS algorithm: `HS256` tokens stay refused.

use std::fmt;

use aws_lc_rs::hmac;

use crate::JoseError;

/// An HMAC-SHA256 key.
///
/// [`MacKey::verify`] compares in constant time (aws-lc-rs
/// `hmac::verify`), so the time it takes does not say how much of a tag was
/// right. `Debug` never prints the key.
///
/// ```
/// use passport_jose::MacKey;
/// let key = MacKey::new(&[7u8; 32]);
/// let tag = key.sign(b"message");
/// assert!(key.verify(b"message", &tag).is_ok());
/// assert_eq!(key.verify(b"other", &tag).unwrap_err().code(), "bad_mac");
/// assert_eq!(format!("{key:?}"), "MacKey([redacted])");
/// ```
#[derive(Clone)]
pub struct MacKey(hmac::Key);

impl MacKey {
    /// The tag length in bytes.
    pub const TAG_LEN: usize = 32;

    /// A key from secret bytes. Any length works (RFC 2104 §3); callers
    /// choose their minimum (32 bytes, the hash length, is the usual one).
    pub fn new(secret: &[u8]) -> MacKey {
        MacKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The tag of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; MacKey::TAG_LEN] {
        let mut out = [0u8; MacKey::TAG_LEN];
        out.copy_from_slice(hmac::sign(&self.0, message).as_ref());
        out
    }

    /// Checks `tag` against the tag of `message` in constant time;
    /// [`JoseError::BadMac`] when they differ (a tag of the wrong length
    /// included).
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> Result<(), JoseError> {
        hmac::verify(&self.0, message, tag).map_err(|_| JoseError::BadMac)
    }
}

/// True when `a` and `b` are equal, compared in time that depends only on
/// their lengths (aws-lc's `CRYPTO_memcmp`). For values an attacker may probe
/// byte by byte (an `ath`, a key thumbprint, a tag).
///
/// ```
/// assert!(passport_jose::constant_time_eq(b"abc", b"abc"));
/// assert!(!passport_jose::constant_time_eq(b"abc", b"abd"));
/// assert!(!passport_jose::constant_time_eq(b"abc", b"ab"));
/// ```
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // RFC 4231 §4.2, §4.3 and §4.7 (a key longer than the block size).
    #[test]
    fn rfc4231_known_answers() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, message, expected) in cases {
            let key = MacKey::new(key);
            let tag = key.sign(message);
            assert_eq!(hex(&tag), expected);
            key.verify(message, &tag).unwrap();
        }
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"bbc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn verify_refuses_a_wrong_short_long_or_foreign_tag() {
        let key = MacKey::new(&[1u8; 32]);
        let tag = key.sign(b"m");
        for i in 0..tag.len() {
            let mut bad = tag;
            bad[i] ^= 1;
            assert_eq!(key.verify(b"m", &bad).unwrap_err().code(), "bad_mac");
        }
        assert!(matches!(
            key.verify(b"m", &tag[..31]),
            Err(JoseError::BadMac)
        ));
        let mut long = tag.to_vec();
        long.push(0);
        assert!(matches!(key.verify(b"m", &long), Err(JoseError::BadMac)));
        assert!(matches!(key.verify(b"m", &[]), Err(JoseError::BadMac)));
        let other = MacKey::new(&[2u8; 32]);
        assert!(matches!(other.verify(b"m", &tag), Err(JoseError::BadMac)));
        assert!(!format!("{key:?}").contains('1'));
    }
}
