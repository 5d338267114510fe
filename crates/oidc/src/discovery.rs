//! OpenID Connect Discovery 1.0 provider metadata.

use serde::Deserialize;
use serde_json::Value;
use serde_with::{DefaultOnNull, serde_as};

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

/// The discovery document as it arrives. Unknown members are ignored
/// (Discovery §3 lets providers add their own); `null` counts as absent for
/// the optional ones.
#[serde_as]
#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    response_types_supported: Vec<String>,
    subject_types_supported: Vec<String>,
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde_as(as = "DefaultOnNull")]
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde_as(as = "DefaultOnNull")]
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde_as(as = "DefaultOnNull")]
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Parses and checks a discovery document: a JSON object (no duplicate
    /// members) with the required fields of Discovery §3, whose `issuer` is
    /// `expected_issuer`. The issuer must be https or plain http on a
    /// loopback host ([`OidcError::InsecureUrl`]), and the endpoints follow
    /// its scheme: an https issuer's are https.
    pub fn from_json(bytes: &[u8], expected_issuer: &str) -> Result<ProviderMetadata, OidcError> {
        // A plain-http issuer elsewhere would let its endpoints be plain http
        // on any host (see `http_url`).
        crate::config::check_issuer(expected_issuer)?;
        let doc = passport_jose::json::parse_object(bytes, "discovery document")
            .map_err(|e| OidcError::DiscoveryFailed(e.to_string()))?;
        let doc: Document = serde_json::from_value(Value::Object(doc))
            .map_err(|e| OidcError::DiscoveryFailed(truncate(&e.to_string())))?;
        if doc.issuer.is_empty() {
            return Err(OidcError::DiscoveryFailed("`issuer` is empty".into()));
        }
        if doc.issuer != expected_issuer {
            return Err(OidcError::IssuerMismatch {
                context: "discovery document",
                expected: expected_issuer.to_owned(),
                found: truncate(&doc.issuer),
            });
        }
        // An https issuer's endpoints are https too: a plain-http token
        // endpoint would send the code, the PKCE verifier and the client
        // secret in clear, and a plain-http JWKS lets anyone on the path
        // choose the keys ID tokens are checked with.
        let issuer = doc.issuer.as_str();
        Ok(ProviderMetadata {
            authorization_endpoint: http_url(
                doc.authorization_endpoint,
                "authorization_endpoint",
                issuer,
            )?,
            token_endpoint: http_url(doc.token_endpoint, "token_endpoint", issuer)?,
            jwks_uri: http_url(doc.jwks_uri, "jwks_uri", issuer)?,
            userinfo_endpoint: doc
                .userinfo_endpoint
                .map(|u| http_url(u, "userinfo_endpoint", issuer))
                .transpose()?,
            issuer: doc.issuer,
            response_types_supported: doc.response_types_supported,
            subject_types_supported: doc.subject_types_supported,
            id_token_signing_alg_values_supported: doc.id_token_signing_alg_values_supported,
            code_challenge_methods_supported: doc.code_challenge_methods_supported,
            token_endpoint_auth_methods_supported: doc.token_endpoint_auth_methods_supported,
            authorization_response_iss_parameter_supported: doc
                .authorization_response_iss_parameter_supported,
        })
    }
}

/// `value` when it may serve `issuer` ([`passport_remote::check_endpoint`]:
/// an absolute http(s) URL, https when the issuer is https).
fn http_url(value: String, name: &str, issuer: &str) -> Result<String, OidcError> {
    passport_remote::check_endpoint(issuer, &value)
        .map(|()| value)
        .map_err(|e| match e {
            passport_remote::RemoteError::InsecureUrl { reason, .. } => {
                OidcError::DiscoveryFailed(format!("`{name}` is {reason}"))
            }
            e => OidcError::DiscoveryFailed(format!("`{name}`: {e}")),
        })
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
    fn optional_fields_may_be_null_and_wrong_types_are_refused() {
        let mut d = doc();
        d["code_challenge_methods_supported"] = Value::Null;
        d["authorization_response_iss_parameter_supported"] = Value::Null;
        d["userinfo_endpoint"] = Value::Null;
        d["x-vendor"] = json!({"anything": [1, 2]});
        let m =
            ProviderMetadata::from_json(d.to_string().as_bytes(), "https://idp.example").unwrap();
        assert!(m.code_challenge_methods_supported.is_empty());
        assert!(!m.authorization_response_iss_parameter_supported);
        assert_eq!(m.userinfo_endpoint, None);
        for (field, value) in [
            ("issuer", json!("")),
            ("issuer", json!(7)),
            ("jwks_uri", json!("ftp://idp.example/jwks")),
            ("jwks_uri", json!("/jwks")),
            ("userinfo_endpoint", json!("not a url")),
            ("response_types_supported", json!("code")),
            ("subject_types_supported", json!(["public", 1])),
            ("code_challenge_methods_supported", json!("S256")),
            (
                "authorization_response_iss_parameter_supported",
                json!("true"),
            ),
        ] {
            let mut d = doc();
            d[field] = value;
            let err = ProviderMetadata::from_json(d.to_string().as_bytes(), "https://idp.example")
                .unwrap_err();
            assert_eq!(err.code(), "discovery_failed", "{field}");
        }
    }

    #[test]
    fn an_https_issuer_cannot_send_its_secrets_or_keys_over_plain_http() {
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
        ] {
            let mut d = doc();
            d[field] = json!("http://idp.example/x");
            let err = ProviderMetadata::from_json(d.to_string().as_bytes(), "https://idp.example")
                .unwrap_err();
            assert_eq!(err.code(), "discovery_failed", "{field}");
        }
        // A plain-http issuer (a development provider on loopback) may use http.
        let mut d = doc();
        for field in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
        ] {
            let v = d[field]
                .as_str()
                .unwrap()
                .replace("https://idp.example", "http://127.0.0.1:8080");
            d[field] = json!(v);
        }
        ProviderMetadata::from_json(d.to_string().as_bytes(), "http://127.0.0.1:8080").unwrap();
    }

    #[test]
    fn a_plain_http_issuer_off_loopback_is_refused_whatever_its_document_says() {
        // Its endpoints could be plain http on any host (the token endpoint
        // an on-path attacker's), so the issuer itself is refused.
        let mut d = doc();
        for field in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
        ] {
            let v = d[field].as_str().unwrap().replace("https://", "http://");
            d[field] = json!(v);
        }
        d["token_endpoint"] = json!("http://attacker.example/token");
        let err = ProviderMetadata::from_json(d.to_string().as_bytes(), "http://idp.example")
            .unwrap_err();
        assert_eq!(err.code(), "insecure_url", "{err}");
        assert!(
            matches!(err, OidcError::InsecureUrl { what: "issuer", .. }),
            "{err:?}"
        );
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
