//! The identity assertion an issuer mints a root passport from.

use serde_json::{Map, Value};

use crate::Assurance;

/// A principal's identity, already validated by whoever produced it (the OIDC
/// crate, from an ID token). The issuer trusts it as given: this type is the
/// seam that keeps the issuer free of HTTP and OIDC.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct IdentityAssertion {
    /// The identity provider (`iss` of the ID token).
    pub issuer: String,
    /// The principal (`sub` of the ID token); becomes the passport's `sub`.
    pub subject: String,
    /// The audiences the ID token was for.
    pub audience: Vec<String>,
    /// The provider's `acr`, passed through to the passport.
    pub acr: Option<String>,
    /// The NIST levels mapped from `acr` (and `amr`).
    pub assurance: Assurance,
    /// Every claim of the ID token, for auditing; never copied into a passport.
    pub raw_claims: Map<String, Value>,
}

impl IdentityAssertion {
    /// An assertion for `subject` from `issuer`, with no `acr` and no levels.
    ///
    /// ```
    /// use passport_claims::{Assurance, IdentityAssertion, Level};
    /// let a = IdentityAssertion::new("https://idp.example", "alice")
    ///     .with_acr("http://idmanagement.gov/ns/assurance/ial/2", Assurance::uniform(Level::TWO));
    /// assert_eq!(a.assurance.ial, Some(Level::TWO));
    /// ```
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> IdentityAssertion {
        IdentityAssertion {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: Vec::new(),
            acr: None,
            assurance: Assurance::none(),
            raw_claims: Map::new(),
        }
    }

    /// Sets the `acr` and the levels mapped from it.
    pub fn with_acr(mut self, acr: impl Into<String>, assurance: Assurance) -> IdentityAssertion {
        self.acr = Some(acr.into());
        self.assurance = assurance;
        self
    }

    /// Sets the audiences.
    pub fn with_audience(mut self, audience: Vec<String>) -> IdentityAssertion {
        self.audience = audience;
        self
    }

    /// Sets the raw claims.
    pub fn with_raw_claims(mut self, claims: Map<String, Value>) -> IdentityAssertion {
        self.raw_claims = claims;
        self
    }
}

impl std::fmt::Debug for IdentityAssertion {
    // The raw claims may carry personal data (email, name); keep them out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityAssertion")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("audience", &self.audience)
            .field("acr", &self.acr)
            .field("assurance", &self.assurance)
            .field(
                "raw_claims",
                &format_args!("[{} claims]", self.raw_claims.len()),
            )
            .finish()
    }
}
