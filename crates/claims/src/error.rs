use passport_jose::JoseError;

use crate::scope::ScopeError;

/// Why a payload is not a passport, or a text is not a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    /// The payload is not strict JSON (syntax, not an object, duplicate member).
    #[error(transparent)]
    Json(JoseError),
    /// A required claim is absent.
    #[error("required claim {0:?} is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an invalid value.
    #[error("claim {name:?} is invalid: {reason}")]
    InvalidClaim {
        /// The claim.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `ial`, `aal` or `fal` is not an integer from 1 to 3.
    #[error("claim {0:?} is not an assurance level from 1 to 3")]
    InvalidLevel(&'static str),
    /// `iat`, `nbf` or `exp` is not an integer NumericDate within range.
    #[error("claim {0:?} is not an integer NumericDate between 0 and 253402300799")]
    InvalidNumericDate(&'static str),
    /// A `tool_scope` pattern is not accepted.
    #[error("tool_scope: {0}")]
    Scope(#[from] ScopeError),
    /// The bundle text is empty.
    #[error("the bundle is empty")]
    EmptyBundle,
    /// The bundle is longer than [`crate::MAX_BUNDLE_LEN`] bytes.
    #[error("the bundle is {len} bytes, more than the limit of {max}")]
    BundleTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bundle has more passports than [`crate::MAX_BUNDLE_LINKS`].
    #[error("the bundle has {count} passports, more than the limit of {max}")]
    BundleTooDeep {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A passport of the bundle is not shaped like a compact JWS.
    #[error("passport {index} of the bundle (0 = leaf) is malformed: {reason}")]
    MalformedBundle {
        /// Its position, leaf first.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

passport_jose::error_codes! {
    ClaimsError {
        ClaimsError::MissingClaim(_) => "missing_claim":
            "A required passport claim is absent.",
        ClaimsError::InvalidClaim { .. } => "invalid_claim":
            "A passport claim has the wrong type or an invalid value.",
        ClaimsError::InvalidLevel(_) => "invalid_level":
            "`ial`, `aal` or `fal` is not an integer from 1 to 3.",
        ClaimsError::InvalidNumericDate(_) => "invalid_numeric_date":
            "`iat`, `nbf` or `exp` is not an integer NumericDate within range.",
        ClaimsError::EmptyBundle => "empty_bundle":
            "The bundle text is empty.",
        ClaimsError::BundleTooLarge { .. } => "bundle_too_large":
            "The bundle is longer than `MAX_BUNDLE_LEN` bytes.",
        ClaimsError::BundleTooDeep { .. } => "bundle_too_deep":
            "The bundle has more passports than `MAX_BUNDLE_LINKS`, the hard limit of the format.",
        ClaimsError::MalformedBundle { .. } => "malformed_bundle":
            "A passport of the bundle is not shaped like a compact JWS, or cannot be decoded.",
    }
    wraps {
        ClaimsError::Json(e) => e.code(),
        ClaimsError::Scope(e) => e.code(),
    }
}
