//! PKCE (RFC 7636) with S256 only.
//!
//! `plain` offers nothing against a code stolen together with its request
//! (OAuth 2.1 §7.5.2; the MCP authorization spec requires S256), so it is
//! refused like any unknown method, and so is a request that names no method
//! (RFC 7636 §4.3 would default it to `plain`).
//!
//! ```
//! use passport_server::pkce::CodeChallenge;
//! // RFC 7636 Appendix B
//! let challenge = CodeChallenge::from_request(
//!     Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
//!     Some("S256"),
//! )?;
//! challenge.verify(Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))?;
//! let err = CodeChallenge::from_request(Some("abc"), Some("plain")).unwrap_err();
//! assert_eq!(err.code(), "pkce_plain_refused");
//! # Ok::<(), passport_server::pkce::PkceError>(())
//! ```

use crate::oauth::{OAuthError, codes};

/// The only `code_challenge_method` accepted.
pub const S256: &str = "S256";

/// Why a PKCE parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkceError {
    /// The authorization request has no `code_challenge`.
    #[error("code_challenge is required (PKCE S256)")]
    MissingChallenge,
    /// The authorization request names no `code_challenge_method`.
    #[error("code_challenge_method is required and must be S256")]
    MissingMethod,
    /// `code_challenge_method=plain`.
    #[error("code_challenge_method plain is not supported; use S256")]
    PlainRefused,
    /// Any other method.
    #[error("code_challenge_method not supported: {0}")]
    UnsupportedMethod(String),
    /// The challenge is not 43 base64url characters (an S256 digest).
    #[error("code_challenge is not a base64url SHA-256 digest")]
    InvalidChallenge,
    /// The token request has no `code_verifier`.
    #[error("code_verifier is required")]
    MissingVerifier,
    /// The verifier is not 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    #[error("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    InvalidVerifier,
    /// BASE64URL(SHA-256(verifier)) is not the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

passport_jose::error_codes! {
    PkceError {
        PkceError::MissingChallenge => "pkce_challenge_missing":
            "An authorization request has no PKCE code_challenge.",
        PkceError::MissingMethod => "pkce_method_missing":
            "An authorization request names no code_challenge_method (the default would be plain).",
        PkceError::PlainRefused => "pkce_plain_refused":
            "code_challenge_method is plain; only S256 is accepted.",
        PkceError::UnsupportedMethod(_) => "pkce_method_unsupported":
            "code_challenge_method is neither S256 nor plain.",
        PkceError::InvalidChallenge => "pkce_challenge_invalid":
            "code_challenge is not 43 base64url characters.",
        PkceError::MissingVerifier => "pkce_verifier_missing":
            "A token request for a PKCE-bound code has no code_verifier.",
        PkceError::InvalidVerifier => "pkce_verifier_invalid":
            "code_verifier is not 43 to 128 unreserved characters (RFC 7636 §4.1).",
        PkceError::Mismatch => "pkce_mismatch":
            "code_verifier does not hash to the code_challenge.",
    }
}

impl PkceError {
    /// The RFC 6749 answer: `invalid_grant` for a verifier that does not
    /// match (RFC 7636 §4.6), `invalid_request` otherwise.
    pub fn oauth(&self) -> OAuthError {
        let error = match self {
            PkceError::Mismatch => codes::INVALID_GRANT,
            _ => codes::INVALID_REQUEST,
        };
        OAuthError::new(400, error, self.to_string())
    }
}

/// A validated S256 `code_challenge`, as stored with an authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates the `code_challenge` and `code_challenge_method` of an
    /// authorization request.
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<CodeChallenge, PkceError> {
        match method {
            None => return Err(PkceError::MissingMethod),
            Some(S256) => {}
            Some("plain") => return Err(PkceError::PlainRefused),
            Some(other) => {
                return Err(PkceError::UnsupportedMethod(passport_jose::clip(other, 32)));
            }
        }
        let challenge = challenge.ok_or(PkceError::MissingChallenge)?;
        CodeChallenge::from_stored(challenge)
    }

    /// A challenge read back from storage (checked again: 43 base64url
    /// characters decoding to 32 bytes).
    pub fn from_stored(challenge: &str) -> Result<CodeChallenge, PkceError> {
        match passport_jose::b64::decode(challenge) {
            Some(bytes) if bytes.len() == 32 => Ok(CodeChallenge(challenge.to_owned())),
            _ => Err(PkceError::InvalidChallenge),
        }
    }

    /// The challenge of `verifier`: BASE64URL(SHA-256(ASCII(verifier))).
    pub fn s256(verifier: &str) -> Result<CodeChallenge, PkceError> {
        check_verifier(verifier)?;
        Ok(CodeChallenge(passport_jose::sha256_b64url(
            verifier.as_bytes(),
        )))
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the token request's `code_verifier` against this challenge, in
    /// constant time.
    pub fn verify(&self, verifier: Option<&str>) -> Result<(), PkceError> {
        let verifier = verifier.ok_or(PkceError::MissingVerifier)?;
        let computed = CodeChallenge::s256(verifier)?;
        if passport_jose::constant_time_eq(computed.0.as_bytes(), self.0.as_bytes()) {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }
}

fn check_verifier(verifier: &str) -> Result<(), PkceError> {
    let ok_len = (43..=128).contains(&verifier.len());
    let ok_chars = verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(PkceError::InvalidVerifier)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(CodeChallenge::s256(VERIFIER).unwrap().as_str(), CHALLENGE);
        let c = CodeChallenge::from_request(Some(CHALLENGE), Some("S256")).unwrap();
        c.verify(Some(VERIFIER)).unwrap();
    }

    #[test]
    fn downgrade_and_unknown_methods_refused() {
        let e = |m| CodeChallenge::from_request(Some(CHALLENGE), m).unwrap_err();
        assert_eq!(e(Some("plain")), PkceError::PlainRefused);
        assert_eq!(e(None), PkceError::MissingMethod);
        assert_eq!(e(Some("s256")), PkceError::UnsupportedMethod("s256".into()));
        assert_eq!(e(Some("S512")).code(), "pkce_method_unsupported");
        assert_eq!(
            CodeChallenge::from_request(None, Some("S256")).unwrap_err(),
            PkceError::MissingChallenge
        );
    }

    #[test]
    fn malformed_challenge_refused() {
        for bad in [
            "",
            "abc",
            &format!("{CHALLENGE}="),
            &CHALLENGE.replace('-', "+"),
            VERIFIER.get(..42).unwrap(),
        ] {
            assert_eq!(
                CodeChallenge::from_request(Some(bad), Some("S256")).unwrap_err(),
                PkceError::InvalidChallenge,
                "{bad}"
            );
        }
    }

    #[test]
    fn verifier_syntax() {
        let c = CodeChallenge::from_stored(CHALLENGE).unwrap();
        assert_eq!(c.verify(None).unwrap_err(), PkceError::MissingVerifier);
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", &VERIFIER[..43]),
            format!("{} ", &VERIFIER[..43]),
            format!("{}é", &VERIFIER[..42]),
        ] {
            assert_eq!(
                c.verify(Some(&bad)).unwrap_err(),
                PkceError::InvalidVerifier,
                "{bad}"
            );
        }
        // boundaries accepted syntactically (then mismatch)
        assert_eq!(
            c.verify(Some(&"a".repeat(43))).unwrap_err(),
            PkceError::Mismatch
        );
        assert_eq!(
            c.verify(Some(&"~".repeat(128))).unwrap_err(),
            PkceError::Mismatch
        );
    }

    #[test]
    fn one_character_off_is_a_mismatch_and_invalid_grant() {
        let c = CodeChallenge::from_stored(CHALLENGE).unwrap();
        let off = format!("{}Y", &VERIFIER[..42]);
        let err = c.verify(Some(&off)).unwrap_err();
        assert_eq!(err, PkceError::Mismatch);
        assert_eq!(err.oauth().error, "invalid_grant");
        assert_eq!(PkceError::PlainRefused.oauth().error, "invalid_request");
    }
}
