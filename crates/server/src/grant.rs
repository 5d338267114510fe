//! What an authorization grants, as the store keeps it between
//! `/authorize` and `/token` (the `claims` column of a code or a refresh
//! family): the principal the upstream provider vouched for.

use passport_claims::{Assurance, IdentityAssertion, Level};
use serde::{Deserialize, Serialize};

/// The principal of a grant: the parts of its [`IdentityAssertion`] a
/// passport carries (never the ID token's other claims).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantedPrincipal {
    /// The upstream provider (`iss` of its ID token).
    pub(crate) issuer: String,
    /// The principal (`sub` of its ID token); the passport's `sub`.
    pub(crate) subject: String,
    /// The provider's `acr`, passed through.
    pub(crate) acr: Option<String>,
    /// Identity assurance mapped from `acr`/`amr`.
    pub(crate) ial: Option<Level>,
    /// Authenticator assurance.
    pub(crate) aal: Option<Level>,
    /// Federation assurance.
    pub(crate) fal: Option<Level>,
}

#[allow(dead_code)] // the authorization endpoint writes it, the code grant reads it
impl GrantedPrincipal {
    /// What a login at the upstream provider established.
    pub(crate) fn from_assertion(identity: &IdentityAssertion) -> GrantedPrincipal {
        GrantedPrincipal {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            acr: identity.acr.clone(),
            ial: identity.assurance.ial,
            aal: identity.assurance.aal,
            fal: identity.assurance.fal,
        }
    }

    /// The JSON the store keeps.
    pub(crate) fn to_json(&self) -> String {
        // A struct of strings and small integers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read back from the store; `None` for anything this version did not
    /// write (refused, never guessed).
    pub(crate) fn from_json(text: &str) -> Option<GrantedPrincipal> {
        serde_json::from_str(text).ok()
    }

    fn assurance(&self) -> Assurance {
        let mut assurance = Assurance::none();
        assurance.ial = self.ial;
        assurance.aal = self.aal;
        assurance.fal = self.fal;
        assurance
    }

    /// The identity a root passport is minted from.
    pub(crate) fn assertion(&self) -> IdentityAssertion {
        let mut identity = IdentityAssertion::new(self.issuer.as_str(), self.subject.as_str());
        identity.acr = self.acr.clone();
        identity.assurance = self.assurance();
        identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_survives_the_store() {
        let identity = IdentityAssertion::new("https://idp.example", "alice")
            .with_acr("urn:acr:2", Assurance::uniform(Level::TWO));
        let granted = GrantedPrincipal::from_assertion(&identity);
        let back = GrantedPrincipal::from_json(&granted.to_json()).unwrap();
        assert_eq!(back, granted);
        assert_eq!(back.assertion().subject, "alice");
        assert_eq!(back.assertion().assurance.ial, Some(Level::TWO));
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(GrantedPrincipal::from_json("{}").is_none());
        assert!(GrantedPrincipal::from_json(r#"{"issuer":"i","subject":"s","acr":null,"ial":null,"aal":null,"fal":null,"admin":true}"#).is_none());
    }
}
