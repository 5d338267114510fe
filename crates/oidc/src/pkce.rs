//! RFC 7636 PKCE (S256 only) and the random strings of the login flow.

use std::fmt;

use crate::OidcError;

/// A PKCE code verifier (RFC 7636 §4.1). `Debug` prints `[redacted]`.
///
/// ```
/// use passport_oidc::PkceVerifier;
/// // RFC 7636 Appendix B.
/// let v = PkceVerifier::from_string("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")?;
/// assert_eq!(v.challenge_s256(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// # Ok::<(), passport_oidc::OidcError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PkceVerifier(String);

impl PkceVerifier {
    /// A fresh verifier: 32 random bytes (256 bits) as 43 base64url characters,
    /// the encoding RFC 7636 §4.1 recommends.
    pub fn generate() -> Result<PkceVerifier, OidcError> {
        Ok(PkceVerifier(random_string(32)?))
    }

    /// A verifier from its text: 43 to 128 characters of
    /// `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    pub fn from_string(verifier: impl Into<String>) -> Result<PkceVerifier, OidcError> {
        let verifier = verifier.into();
        let ok = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !ok {
            return Err(OidcError::Config(
                "a PKCE verifier is 43–128 unreserved characters".into(),
            ));
        }
        Ok(PkceVerifier(verifier))
    }

    /// The verifier, for the token request.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// `BASE64URL(SHA256(ASCII(verifier)))`, the S256 `code_challenge`.
    pub fn challenge_s256(&self) -> String {
        passport_jose::sha256_b64url(self.0.as_bytes())
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

/// `bytes` bytes from the operating system's random source, as base64url.
pub(crate) fn random_string(bytes: usize) -> Result<String, OidcError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| OidcError::RandomUnavailable(e.to_string()))?;
    Ok(passport_jose::b64::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_known_answer() {
        let v = PkceVerifier::from_string("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            v.challenge_s256(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_verifiers_are_valid_and_distinct() {
        let a = PkceVerifier::generate().unwrap();
        let b = PkceVerifier::generate().unwrap();
        assert_eq!(a.secret().len(), 43);
        assert!(PkceVerifier::from_string(a.secret()).is_ok());
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "PkceVerifier([redacted])");
    }

    #[test]
    fn malformed_verifiers_are_refused() {
        assert!(PkceVerifier::from_string("short").is_err());
        assert!(PkceVerifier::from_string("a".repeat(129)).is_err());
        assert!(PkceVerifier::from_string(format!("{}+", "a".repeat(42))).is_err());
    }
}
