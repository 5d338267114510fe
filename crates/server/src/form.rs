//! Strict `application/x-www-form-urlencoded` parsing for OAuth requests.

use std::collections::BTreeMap;

use crate::oauth::{OAuthError, codes};

/// The default cap on a form body, in bytes (a token exchange carries a
/// bundle of up to 64 KiB, plus an actor token).
pub const DEFAULT_MAX_FORM_BYTES: usize = 160 * 1024;

/// The most parameters one request may carry.
pub const MAX_FORM_FIELDS: usize = 32;

/// Why a form body or query string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// The body is larger than the cap.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// More parameters than [`MAX_FORM_FIELDS`].
    #[error("more than {MAX_FORM_FIELDS} parameters")]
    TooManyFields,
    /// A parameter appears twice (RFC 6749 §3.1, §3.2: "MUST NOT be included
    /// more than once").
    #[error("parameter repeated: {0}")]
    Duplicate(String),
    /// A parameter that is required is absent (or empty, which RFC 6749 §3.1
    /// says counts as absent).
    #[error("missing parameter: {0}")]
    Missing(&'static str),
    /// A parameter's value is not acceptable.
    #[error("invalid parameter {name}: {reason}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

passport_jose::error_codes! {
    FormError {
        FormError::TooLarge { .. } => "form_too_large":
            "An OAuth request body is larger than the server accepts.",
        FormError::TooManyFields => "form_too_many_fields":
            "An OAuth request carries more parameters than the server accepts.",
        FormError::Duplicate(_) => "form_duplicate_parameter":
            "An OAuth request parameter appears more than once (RFC 6749 §3.1).",
        FormError::Missing(_) => "form_missing_parameter":
            "A required OAuth request parameter is absent or empty.",
        FormError::Invalid { .. } => "form_invalid_parameter":
            "An OAuth request parameter has a value the server does not accept.",
    }
}

impl FormError {
    /// The RFC 6749 answer: `invalid_request`, 400.
    pub fn oauth(&self) -> OAuthError {
        OAuthError::new(400, codes::INVALID_REQUEST, self.to_string())
    }
}

/// The parameters of a form body or query string: each name at most once,
/// empty values dropped (RFC 6749 §3.1: "sent without a value MUST be
/// treated as if they were omitted").
///
/// ```
/// use passport_server::form::Form;
/// let form = Form::parse(b"grant_type=refresh_token&scope=&refresh_token=abc", 1024)?;
/// assert_eq!(form.get("grant_type"), Some("refresh_token"));
/// assert_eq!(form.get("scope"), None);
/// let err = Form::parse(b"a=1&a=2", 1024).unwrap_err();
/// assert_eq!(err.code(), "form_duplicate_parameter");
/// # Ok::<(), passport_server::form::FormError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: BTreeMap<String, String>,
}

/// The names only: the values are client secrets, assertions, codes,
/// verifiers and tokens.
impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field("names", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Form {
    /// Parses `body` of at most `max_bytes`. A repeated name is refused even
    /// when one of its values is empty: two parsers reading different values
    /// is how parameters get smuggled.
    pub fn parse(body: &[u8], max_bytes: usize) -> Result<Form, FormError> {
        if body.len() > max_bytes {
            return Err(FormError::TooLarge { limit: max_bytes });
        }
        let mut fields = BTreeMap::new();
        let mut seen = 0usize;
        for (name, value) in url::form_urlencoded::parse(body) {
            if name.is_empty() && value.is_empty() {
                continue;
            }
            seen += 1;
            if seen > MAX_FORM_FIELDS {
                return Err(FormError::TooManyFields);
            }
            if fields.contains_key(name.as_ref()) {
                return Err(FormError::Duplicate(passport_jose::clip(&name, 64)));
            }
            fields.insert(name.into_owned(), value.into_owned());
        }
        fields.retain(|_, v: &mut String| !v.is_empty());
        Ok(Form { fields })
    }

    /// The value of `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The value of `name`, or [`FormError::Missing`].
    pub fn require(&self, name: &'static str) -> Result<&str, FormError> {
        self.get(name).ok_or(FormError::Missing(name))
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn duplicate_refused_even_when_one_is_empty() {
        let err = Form::parse(b"code=&code=abc", 1024).unwrap_err();
        assert_eq!(err, FormError::Duplicate("code".into()));
        // percent-encoded names are the same name
        let err = Form::parse(b"code=a&%63ode=b", 1024).unwrap_err();
        assert_eq!(err.code(), "form_duplicate_parameter");
    }

    #[test]
    fn too_large_and_too_many() {
        let err = Form::parse(&[b'a'; 11], 10).unwrap_err();
        assert_eq!(err, FormError::TooLarge { limit: 10 });
        let body: Vec<String> = (0..=MAX_FORM_FIELDS).map(|i| format!("p{i}=1")).collect();
        let err = Form::parse(body.join("&").as_bytes(), 4096).unwrap_err();
        assert_eq!(err, FormError::TooManyFields);
    }

    #[test]
    fn missing_names_the_parameter_and_maps_to_invalid_request() {
        let form = Form::parse(b"a=1", 100).unwrap();
        let err = form.require("code_verifier").unwrap_err();
        assert_eq!(err.to_string(), "missing parameter: code_verifier");
        let o = err.oauth();
        assert_eq!((o.status, o.error), (400, "invalid_request"));
        assert!(o.description.contains("code_verifier"));
    }

    #[test]
    fn plus_and_percent_decoding() {
        let form = Form::parse(b"scope=a+b%3Ac", 100).unwrap();
        assert_eq!(form.get("scope"), Some("a b:c"));
    }
}
