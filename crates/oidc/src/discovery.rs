//! OpenID Connect Discovery 1.0 provider metadata.

use serde_json::{Map, Value};

use crate::OidcError;
use crate::error::truncate;

/// The suffix of a discovery URL (OpenID Connect Discovery 1.0 §4).
pub const WELL_KNOWN_SUFFIX: &str = "/.well-known/openid-configuration";

/// The provider metadata this crate uses, checked on arrival.
///
/// Every endpoint comes from here; none is hard-coded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// `issuer`: equal to the expected issuer, byte for byte.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `userinfo_endpoint`, if advertised.
    pub userinfo_endpoint: Option<String>,
    /// `response_types_supported`.
    pub response_types_supported: Vec<String>,
    /// `subject_types_supported`.
    pub subject_types_supported: Vec<String>,
    /// `id_token_signing_alg_values_supported`.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `code_challenge_methods_supported` (RFC 8414), empty when not advertised.
    pub code_challenge_methods_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported`, empty when not advertised
    /// (which means `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 9207 `authorization_response_iss_parameter_supported`.
    pub authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Parses and checks a discovery document: a JSON object (no duplicate
    /// members) with the required fields of Discovery §3, whose `issuer` is
    /// `expected_issuer`.
    pub fn from_json(bytes: &[u8], expected_issuer: &str) -> Result<ProviderMetadata, OidcError> {
        let doc = passport_jose::json::parse_object(bytes, "discovery document")
            .map_err(|e| OidcError::DiscoveryFailed(e.to_string()))?;
        let issuer = required_string(&doc, "issuer")?;
        if issuer != expected_issuer {
            return Err(OidcError::IssuerMismatch {
                context: "discovery document",
                expected: expected_issuer.to_owned(),
                found: truncate(&issuer),
            });
        }
        let metadata = ProviderMetadata {
            issuer,
            authorization_endpoint: required_url(&doc, "authorization_endpoint")?,
            token_endpoint: required_url(&doc, "token_endpoint")?,
            jwks_uri: required_url(&doc, "jwks_uri")?,
            userinfo_endpoint: match doc.get("userinfo_endpoint") {
                None | Some(Value::Null) => None,
                Some(_) => Some(required_url(&doc, "userinfo_endpoint")?),
            },
            response_types_supported: string_list(&doc, "response_types_supported", true)?,
            subject_types_supported: string_list(&doc, "subject_types_supported", true)?,
            id_token_signing_alg_values_supported: string_list(
                &doc,
                "id_token_signing_alg_values_supported",
                true,
            )?,
            code_challenge_methods_supported: string_list(
                &doc,
                "code_challenge_methods_supported",
                false,
            )?,
            token_endpoint_auth_methods_supported: string_list(
                &doc,
                "token_endpoint_auth_methods_supported",
                false,
            )?,
            authorization_response_iss_parameter_supported: match doc
                .get("authorization_response_iss_parameter_supported")
            {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(OidcError::DiscoveryFailed(
                        "authorization_response_iss_parameter_supported is not a boolean".into(),
                    ));
                }
            },
        };
        Ok(metadata)
    }
}

fn required_string(doc: &Map<String, Value>, name: &str) -> Result<String, OidcError> {
    match doc.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(OidcError::DiscoveryFailed(format!(
            "`{name}` is not a non-empty string"
        ))),
        None => Err(OidcError::DiscoveryFailed(format!(
            "required field `{name}` is missing"
        ))),
    }
}

fn required_url(doc: &Map<String, Value>, name: &str) -> Result<String, OidcError> {
    let value = required_string(doc, name)?;
    let url = url::Url::parse(&value)
        .map_err(|e| OidcError::DiscoveryFailed(format!("`{name}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(OidcError::DiscoveryFailed(format!(
            "`{name}` is not an http(s) URL"
        )));
    }
    Ok(value)
}

fn string_list(
    doc: &Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Vec<String>, OidcError> {
    match doc.get(name) {
        None | Some(Value::Null) if !required => Ok(Vec::new()),
        None => Err(OidcError::DiscoveryFailed(format!(
            "required field `{name}` is missing"
        ))),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    OidcError::DiscoveryFailed(format!("`{name}` holds a non-string"))
                })
            })
            .collect(),
        Some(_) => Err(OidcError::DiscoveryFailed(format!(
            "`{name}` is not an array"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    #[test]
    fn minimal_document_parses() {
        let m = ProviderMetadata::from_json(doc().to_string().as_bytes(), "https://idp.example")
            .unwrap();
        assert_eq!(m.jwks_uri, "https://idp.example/jwks");
        assert!(!m.authorization_response_iss_parameter_supported);
    }

    #[test]
    fn each_required_field_is_required() {
        for field in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ] {
            let mut d = doc();
            d.as_object_mut().unwrap().remove(field);
            let err = ProviderMetadata::from_json(d.to_string().as_bytes(), "https://idp.example")
                .unwrap_err();
            assert_eq!(err.code(), "discovery_failed", "{field}");
        }
    }

    #[test]
    fn issuer_must_match_exactly() {
        let err = ProviderMetadata::from_json(doc().to_string().as_bytes(), "https://idp.example/")
            .unwrap_err();
        assert_eq!(err.code(), "issuer_mismatch");
    }

    #[test]
    fn duplicate_members_are_refused() {
        let text = r#"{"issuer":"https://idp.example","issuer":"https://evil.example"}"#;
        let err = ProviderMetadata::from_json(text.as_bytes(), "https://idp.example").unwrap_err();
        assert_eq!(err.code(), "discovery_failed");
    }
}
