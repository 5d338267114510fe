//! Stateless, time-bucketed server nonces (RFC 9449 §8 and §9).

use std::fmt;
use std::sync::Arc;

use passport_claims::Clock;
use passport_jose::{b64, sha256};

use crate::DpopError;

/// The shortest secret accepted, in bytes.
pub const MIN_NONCE_SECRET_LEN: usize = 32;

/// Default bucket length: five minutes.
const DEFAULT_BUCKET_SECONDS: i64 = 300;

/// Domain separation for the MAC input.
const LABEL: &[u8] = b"passport-dpop-nonce/v1";

/// Issues and checks server nonces without storing them.
///
/// A nonce is `base64url(HMAC-SHA256(secret, label || bucket || bucket_len))`
/// where `bucket = floor(now / bucket_len)`. A nonce of the current or the
/// previous bucket is accepted, so a nonce lives between one and two bucket
/// lengths (five to ten minutes by default). Every server sharing the secret
/// issues and accepts the same nonces; nothing is stored.
///
/// `Debug` never prints the secret.
///
/// ```
/// use std::sync::Arc;
/// use passport_claims::ManualClock;
/// use passport_dpop::NonceIssuer;
///
/// let clock = Arc::new(ManualClock::new(1_700_000_000));
/// let issuer = NonceIssuer::from_secret(&[7u8; 32], clock.clone())?;
/// let nonce = issuer.current();
/// assert!(issuer.check(&nonce));
/// clock.advance(600); // two buckets on: stale
/// assert!(!issuer.check(&nonce));
/// # Ok::<(), passport_dpop::DpopError>(())
/// ```
#[derive(Clone)]
pub struct NonceIssuer {
    secret: Vec<u8>,
    bucket_seconds: i64,
    clock: Arc<dyn Clock>,
}

impl NonceIssuer {
    /// An issuer with a fresh random 32-byte secret (nonces then only verify
    /// on this process; share a secret with [`NonceIssuer::from_secret`] for a
    /// cluster).
    pub fn generate(clock: Arc<dyn Clock>) -> Result<NonceIssuer, DpopError> {
        let mut secret = vec![0u8; MIN_NONCE_SECRET_LEN];
        getrandom::fill(&mut secret).map_err(|e| DpopError::RandomUnavailable(e.to_string()))?;
        NonceIssuer::from_secret(&secret, clock)
    }

    /// An issuer keyed with `secret` (at least [`MIN_NONCE_SECRET_LEN`] bytes).
    pub fn from_secret(secret: &[u8], clock: Arc<dyn Clock>) -> Result<NonceIssuer, DpopError> {
        if secret.len() < MIN_NONCE_SECRET_LEN {
            return Err(DpopError::WeakNonceSecret);
        }
        Ok(NonceIssuer {
            secret: secret.to_vec(),
            bucket_seconds: DEFAULT_BUCKET_SECONDS,
            clock,
        })
    }

    /// Sets the bucket length in seconds (at least 1; default 300).
    #[must_use]
    pub fn with_bucket_seconds(mut self, seconds: i64) -> NonceIssuer {
        self.bucket_seconds = seconds.max(1);
        self
    }

    /// The nonce of the current bucket.
    pub fn current(&self) -> String {
        b64::encode(self.mac(self.bucket()))
    }

    /// True when `nonce` is the nonce of the current or the previous bucket.
    /// The comparison takes the same time wherever the first difference is.
    pub fn check(&self, nonce: &str) -> bool {
        let Some(presented) = b64::decode(nonce) else {
            return false;
        };
        let bucket = self.bucket();
        // Evaluate both without short-circuit so timing does not say which matched.
        let current = constant_time_eq(&presented, &self.mac(bucket));
        let previous = constant_time_eq(&presented, &self.mac(bucket.saturating_sub(1)));
        current | previous
    }

    fn bucket(&self) -> i64 {
        self.clock.now().div_euclid(self.bucket_seconds)
    }

    fn mac(&self, bucket: i64) -> [u8; 32] {
        let mut message = Vec::with_capacity(LABEL.len() + 16);
        message.extend_from_slice(LABEL);
        message.extend_from_slice(&bucket.to_be_bytes());
        message.extend_from_slice(&self.bucket_seconds.to_be_bytes());
        hmac_sha256(&self.secret, &message)
    }
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("secret", &"[redacted]")
            .field("bucket_seconds", &self.bucket_seconds)
            .finish()
    }
}

/// HMAC-SHA256 (RFC 2104) built from the workspace's SHA-256, so this crate
/// needs no second cryptographic library. A plain `SHA-256(secret || data)`
/// would be safe here too (the input has a fixed length, so length extension
/// cannot forge a nonce), but HMAC is the standard keyed construction.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Vec::with_capacity(BLOCK + message.len());
    inner.extend(block.iter().map(|b| b ^ 0x36));
    inner.extend_from_slice(message);
    let inner_hash = sha256(&inner);
    let mut outer = Vec::with_capacity(BLOCK + 32);
    outer.extend(block.iter().map(|b| b ^ 0x5c));
    outer.extend_from_slice(&inner_hash);
    sha256(&outer)
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use passport_claims::ManualClock;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // RFC 4231 §4.2, §4.3 and §4.7 (a key longer than the block size).
    #[test]
    fn hmac_sha256_rfc4231_known_answers() {
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn buckets_current_previous_and_stale() {
        let clock = Arc::new(ManualClock::new(3_000));
        let issuer = NonceIssuer::from_secret(&[1u8; 32], clock.clone())
            .unwrap()
            .with_bucket_seconds(100);
        let n = issuer.current();
        assert!(issuer.check(&n));
        clock.set(3_099);
        assert!(issuer.check(&n));
        assert_eq!(issuer.current(), n, "same bucket, same nonce");
        clock.set(3_100);
        assert_ne!(issuer.current(), n);
        assert!(issuer.check(&n), "previous bucket still accepted");
        clock.set(3_199);
        assert!(issuer.check(&n));
        clock.set(3_200);
        assert!(!issuer.check(&n), "two buckets on: expired");
    }

    #[test]
    fn other_secret_garbage_and_short_secret() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(1_000_000));
        let a = NonceIssuer::from_secret(&[1u8; 32], clock.clone()).unwrap();
        let twin = NonceIssuer::from_secret(&[1u8; 32], clock.clone()).unwrap();
        let b = NonceIssuer::from_secret(&[2u8; 32], clock.clone()).unwrap();
        assert_eq!(
            a.current(),
            twin.current(),
            "stateless: same secret, same nonce"
        );
        assert!(!b.check(&a.current()));
        for garbage in ["", "x", "not base64!", "AAAA", &"A".repeat(10_000)] {
            assert!(!a.check(garbage));
        }
        assert_eq!(
            NonceIssuer::from_secret(&[1u8; 31], clock.clone())
                .unwrap_err()
                .code(),
            "weak_nonce_secret"
        );
        let random = NonceIssuer::generate(clock).unwrap();
        assert!(random.check(&random.current()));
        assert!(!random.check(&a.current()));
        assert!(!format!("{a:?}").contains("[1, 1"));
    }
}
