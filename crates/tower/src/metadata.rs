//! RFC 9728 OAuth 2.0 Protected Resource Metadata.

use serde::{Deserialize, Serialize};

/// The protected resource metadata document (RFC 9728 §2), served by
/// [`crate::PassportAuth::metadata_json`] (passport-axum: `metadata_router`). Empty lists and a `false`
/// `dpop_bound_access_tokens_required` are left out, as the RFC's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceMetadata {
    /// The resource identifier (the passports' audience).
    pub resource: String,
    /// Where agents get passports (the issuers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// The scopes this resource knows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How a passport may be sent: only `["header"]` here.
    #[serde(default)]
    pub bearer_methods_supported: Vec<String>,
    /// The DPoP proof algorithms accepted (when DPoP is enabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Only DPoP-bound passports are accepted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dpop_bound_access_tokens_required: bool,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
