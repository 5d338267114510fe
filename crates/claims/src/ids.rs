//! Validated names for the strings a request is made of, so that an agent
//! id cannot be passed where an audience is expected (or the reverse): the
//! arguments of `IssuanceRequest::new` are distinct types, and swapping two
//! of them does not compile.
//!
//! Each is a non-empty string that is not whitespace only; nothing else is
//! normalised (the value is kept exactly as given).

use std::fmt;

use crate::ClaimsError;
use crate::passport::{AGENT_ID, AGENT_MODEL};

/// Defines a validated string newtype for the claim `$claim`.
macro_rules! claim_string {
    ($(#[$doc:meta])* $name:ident, $claim:expr, $example:literal) => {
        $(#[$doc])*
        ///
        /// ```
        #[doc = concat!("use passport_claims::", stringify!($name), ";")]
        ///
        #[doc = concat!("let value = ", stringify!($name), "::new(\"", $example, "\")?;")]
        #[doc = concat!("assert_eq!(value.as_str(), \"", $example, "\");")]
        #[doc = concat!("assert!(", stringify!($name), "::new(\" \").is_err());")]
        /// # Ok::<(), passport_claims::ClaimsError>(())
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `value`: refused with [`ClaimsError::InvalidClaim`]
            /// when it is empty or whitespace only.
            pub fn new(value: impl Into<String>) -> Result<$name, ClaimsError> {
                let value = value.into();
                if value.trim().is_empty() {
                    return Err(ClaimsError::InvalidClaim {
                        name: $claim,
                        reason: "must not be empty or whitespace only",
                    });
                }
                Ok($name(value))
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ClaimsError;
            fn try_from(value: &str) -> Result<$name, ClaimsError> {
                $name::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ClaimsError;
            fn try_from(value: String) -> Result<$name, ClaimsError> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

claim_string!(
    /// The agent a passport is for (the `agent_id` claim and the `sub` of
    /// its actor).
    AgentId,
    AGENT_ID,
    "planner"
);

claim_string!(
    /// The agent's model name (the `agent_model` claim).
    AgentModel,
    AGENT_MODEL,
    "model-a"
);

claim_string!(
    /// The verifier a passport is for (the `aud` claim, matched exactly).
    Audience,
    "aud",
    "https://files.example"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_claim(result: Result<impl fmt::Debug, ClaimsError>) -> &'static str {
        match result {
            Err(ClaimsError::InvalidClaim { name, .. }) => name,
            other => panic!("expected InvalidClaim, got {other:?}"),
        }
    }

    #[test]
    fn empty_agent_id_is_refused() {
        let err = AgentId::new("").unwrap_err();
        assert_eq!(err.code(), "invalid_claim");
        assert_eq!(refused_claim(AgentId::new("")), AGENT_ID);
    }

    #[test]
    fn whitespace_only_values_are_refused_naming_their_claim() {
        assert_eq!(refused_claim(AgentId::new(" \t\n")), AGENT_ID);
        assert_eq!(refused_claim(AgentModel::new("  ")), AGENT_MODEL);
        assert_eq!(refused_claim(Audience::new("\u{3000}")), "aud");
        assert_eq!(refused_claim(Audience::try_from("")), "aud");
        assert_eq!(
            refused_claim(AgentModel::try_from(String::new())),
            AGENT_MODEL
        );
    }

    #[test]
    fn values_are_kept_exactly() -> Result<(), ClaimsError> {
        let id = AgentId::new(" planner ")?;
        assert_eq!(id.as_str(), " planner ");
        assert_eq!(id.to_string(), " planner ");
        assert_eq!(AsRef::<str>::as_ref(&id), " planner ");
        assert_eq!(String::from(id), " planner ");
        let aud = Audience::try_from("https://files.example")?;
        assert_eq!(aud, Audience::new(String::from("https://files.example"))?);
        Ok(())
    }
}
