//! Stateless, time-bucketed server nonces (RFC 9449 §8 and §9).

use std::fmt;
use std::sync::Arc;

use passport_claims::Clock;
use passport_jose::{MacKey, b64};

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
    key: MacKey,
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
            key: MacKey::new(secret),
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
        b64::encode(self.key.sign(&self.message(self.bucket())))
    }

    /// True when `nonce` is the nonce of the current or the previous bucket.
    /// The comparison takes the same time wherever the first difference is.
    pub fn check(&self, nonce: &str) -> bool {
        let Some(presented) = b64::decode(nonce) else {
            return false;
        };
        let bucket = self.bucket();
        // Both checks are constant-time (MacKey::verify) and both always run,
        // so timing says neither how close a guess was nor which bucket matched.
        let current = self.key.verify(&self.message(bucket), &presented).is_ok();
        let previous = self
            .key
            .verify(&self.message(bucket.saturating_sub(1)), &presented)
            .is_ok();
        current | previous
    }

    fn bucket(&self) -> i64 {
        self.clock.now().div_euclid(self.bucket_seconds)
    }

    /// The MAC input of a bucket.
    fn message(&self, bucket: i64) -> Vec<u8> {
        let mut message = Vec::with_capacity(LABEL.len() + 16);
        message.extend_from_slice(LABEL);
        message.extend_from_slice(&bucket.to_be_bytes());
        message.extend_from_slice(&self.bucket_seconds.to_be_bytes());
        message
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

#[cfg(test)]
mod tests {
    use super::*;
    use passport_claims::ManualClock;

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
