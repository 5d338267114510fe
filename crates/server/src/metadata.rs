//! RFC 8414 authorization server metadata, and the issuer identifier it is
//! built from.
//!
//! ```
//! use passport_server::metadata::{Issuer, MetadataOptions, ServerMetadata};
//!
//! let issuer = Issuer::new("https://auth.example.com/tenant1")?;
//! let metadata = ServerMetadata::new(&issuer, &MetadataOptions::default());
//! assert_eq!(metadata.token_endpoint, "https://auth.example.com/tenant1/token");
//! assert_eq!(metadata.code_challenge_methods_supported, ["S256"]);
//! // RFC 8414 §3.1: the well-known segment goes between host and path
//! assert_eq!(
//!     issuer.oauth_metadata_url(),
//!     "https://auth.example.com/.well-known/oauth-authorization-server/tenant1"
//! );
//! let json = serde_json::to_value(&metadata).unwrap();
//! assert_eq!(json["authorization_response_iss_parameter_supported"], true);
//! # Ok::<(), passport_server::metadata::MetadataError>(())
//! ```

use passport_jose::Algorithm;
use serde::Serialize;
use url::Url;

/// The RFC 8414 well-known suffix.
pub const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// The OpenID Connect Discovery 1.0 well-known suffix.
pub const OPENID_WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The endpoint paths under the issuer.
pub mod paths {
    /// RFC 6749 authorization endpoint.
    pub const AUTHORIZE: &str = "/authorize";
    /// RFC 6749 token endpoint.
    pub const TOKEN: &str = "/token";
    /// RFC 7517 JWKS.
    pub const JWKS: &str = "/jwks.json";
    /// RFC 7591 dynamic registration.
    pub const REGISTER: &str = "/register";
    /// RFC 7662 introspection.
    pub const INTROSPECT: &str = "/introspect";
    /// RFC 7009 revocation.
    pub const REVOKE: &str = "/revoke";
}

/// Why an issuer identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not an absolute URL.
    #[error("issuer is not an absolute URL: {0}")]
    NotAUrl(String),
    /// Not https, and not http on a loopback address.
    #[error("issuer must use https (http only on a loopback address): {0}")]
    InsecureScheme(String),
    /// Has a query or a fragment (RFC 8414 §2).
    #[error("issuer must not have a query or fragment: {0}")]
    QueryOrFragment(String),
    /// Has a user name or password.
    #[error("issuer must not carry credentials")]
    Userinfo,
    /// Not in the canonical form a client will compare with (a trailing
    /// slash after a path, upper-case host, dot segments, default port).
    #[error("issuer is not in canonical form (expected {expected})")]
    NotCanonical {
        /// The form to use.
        expected: String,
    },
}

passport_jose::error_codes! {
    MetadataError {
        MetadataError::NotAUrl(_) => "issuer_not_url":
            "The configured issuer identifier is not an absolute URL.",
        MetadataError::InsecureScheme(_) => "issuer_insecure":
            "The configured issuer is not https (http is allowed on loopback only).",
        MetadataError::QueryOrFragment(_) => "issuer_query_or_fragment":
            "The configured issuer has a query or fragment (RFC 8414 §2).",
        MetadataError::Userinfo => "issuer_userinfo":
            "The configured issuer carries a user name or password.",
        MetadataError::NotCanonical { .. } => "issuer_not_canonical":
            "The configured issuer is not in the canonical form clients compare with.",
    }
}

/// A validated issuer identifier (RFC 8414 §2): `https` (or `http` on a
/// loopback address), no query, no fragment, no credentials, canonical (so
/// that the string clients compare under RFC 9207 is the one configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// The identifier, without a trailing slash.
    id: String,
    url: Url,
}

impl Issuer {
    /// Validates `issuer`.
    pub fn new(issuer: &str) -> Result<Issuer, MetadataError> {
        let clipped = || passport_jose::clip(issuer, 120);
        let url = Url::parse(issuer).map_err(|_| MetadataError::NotAUrl(clipped()))?;
        // The rule every fetch of an issuer's documents applies
        // (passport-remote): https, or plain http on a loopback host.
        if passport_remote::check_issuer(issuer).is_err() {
            return Err(MetadataError::InsecureScheme(clipped()));
        }
        if url.host().is_none() {
            return Err(MetadataError::NotAUrl(clipped()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(MetadataError::QueryOrFragment(clipped()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(MetadataError::Userinfo);
        }
        // The canonical spelling: the URL's serialization, without the
        // slash it gives a bare origin.
        let serialized = url.as_str();
        let expected = serialized.strip_suffix('/').unwrap_or(serialized);
        if issuer != expected {
            return Err(MetadataError::NotCanonical {
                expected: passport_jose::clip(expected, 120),
            });
        }
        Ok(Issuer {
            id: expected.to_owned(),
            url,
        })
    }

    /// The identifier, as compared by clients (RFC 9207 `iss`).
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// `path` (starting with `/`) under the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.id)
    }

    /// The issuer's path, empty for a bare origin.
    fn path(&self) -> &str {
        match self.url.path() {
            "/" => "",
            p => p,
        }
    }

    fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The RFC 8414 §3.1 metadata URL: the well-known segment inserted
    /// between the host and the issuer's path.
    pub fn oauth_metadata_url(&self) -> String {
        format!("{}{OAUTH_WELL_KNOWN}{}", self.origin(), self.path())
    }

    /// The OpenID Connect Discovery 1.0 §4 URL: the well-known segment
    /// appended to the issuer.
    pub fn openid_configuration_url(&self) -> String {
        format!("{}{OPENID_WELL_KNOWN}", self.id)
    }

    /// The paths (on this server's origin) that serve the metadata: the RFC
    /// 8414 path, the OpenID Discovery path and, for an issuer with a path,
    /// the OpenID path with the segment inserted (which the MCP
    /// authorization spec also tries).
    pub fn well_known_paths(&self) -> Vec<String> {
        let path = self.path();
        let mut out = vec![
            format!("{OAUTH_WELL_KNOWN}{path}"),
            format!("{path}{OPENID_WELL_KNOWN}"),
        ];
        if !path.is_empty() {
            out.push(format!("{OPENID_WELL_KNOWN}{path}"));
        }
        out
    }
}

/// What the server offers, beyond what it always offers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataOptions {
    /// Advertise `registration_endpoint` (RFC 7591). Default on.
    pub dynamic_registration: bool,
    /// Advertise `client_id_metadata_document_supported`. Default on.
    pub client_id_metadata_documents: bool,
    /// The scopes to list in `scopes_supported` (none: the member is left
    /// out, which RFC 8414 allows).
    pub scopes: Vec<String>,
    /// Algorithms accepted for `private_key_jwt` assertions and DPoP proofs.
    pub algorithms: Vec<Algorithm>,
}

impl Default for MetadataOptions {
    fn default() -> MetadataOptions {
        MetadataOptions {
            dynamic_registration: true,
            client_id_metadata_documents: true,
            scopes: Vec::new(),
            algorithms: vec![Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256],
        }
    }
}

/// The RFC 8414 metadata document. Serialize it as the body of the
/// well-known URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerMetadata {
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `registration_endpoint` (RFC 7591), when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// `introspection_endpoint` (RFC 7662).
    pub introspection_endpoint: String,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation_endpoint: String,
    /// `scopes_supported`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// `response_types_supported`: `code` only.
    pub response_types_supported: Vec<&'static str>,
    /// `response_modes_supported`: `query` only.
    pub response_modes_supported: Vec<&'static str>,
    /// `grant_types_supported`.
    pub grant_types_supported: Vec<&'static str>,
    /// `code_challenge_methods_supported`: `S256` only.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `token_endpoint_auth_signing_alg_values_supported` (`private_key_jwt`).
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// `introspection_endpoint_auth_methods_supported` (no `none`: RFC 7662
    /// callers authenticate).
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `revocation_endpoint_auth_methods_supported`.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207): true.
    pub authorization_response_iss_parameter_supported: bool,
    /// `client_id_metadata_document_supported`.
    pub client_id_metadata_document_supported: bool,
    /// `dpop_signing_alg_values_supported` (RFC 9449).
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
}

/// The grant types of the token endpoint.
pub const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "client_credentials",
];

/// The client authentication methods of the token endpoint.
pub const AUTH_METHODS: [&str; 4] = [
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

impl ServerMetadata {
    /// The document for `issuer` with `options`.
    pub fn new(issuer: &Issuer, options: &MetadataOptions) -> ServerMetadata {
        let algs: Vec<&'static str> = options.algorithms.iter().map(|a| a.as_str()).collect();
        let authenticated: Vec<&'static str> = AUTH_METHODS[1..].to_vec();
        ServerMetadata {
            issuer: issuer.as_str().to_owned(),
            authorization_endpoint: issuer.endpoint(paths::AUTHORIZE),
            token_endpoint: issuer.endpoint(paths::TOKEN),
            jwks_uri: issuer.endpoint(paths::JWKS),
            registration_endpoint: options
                .dynamic_registration
                .then(|| issuer.endpoint(paths::REGISTER)),
            introspection_endpoint: issuer.endpoint(paths::INTROSPECT),
            revocation_endpoint: issuer.endpoint(paths::REVOKE),
            scopes_supported: options.scopes.clone(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: GRANT_TYPES.to_vec(),
            code_challenge_methods_supported: vec![crate::pkce::S256],
            token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            token_endpoint_auth_signing_alg_values_supported: algs.clone(),
            introspection_endpoint_auth_methods_supported: authenticated.clone(),
            revocation_endpoint_auth_methods_supported: authenticated,
            authorization_response_iss_parameter_supported: true,
            client_id_metadata_document_supported: options.client_id_metadata_documents,
            dpop_signing_alg_values_supported: algs,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc8414_section_3_1_path_insertion() {
        // RFC 8414 §3.1's example: issuer https://example.com/issuer1
        let issuer = Issuer::new("https://example.com/issuer1").unwrap();
        assert_eq!(
            issuer.oauth_metadata_url(),
            "https://example.com/.well-known/oauth-authorization-server/issuer1"
        );
        assert_eq!(
            issuer.openid_configuration_url(),
            "https://example.com/issuer1/.well-known/openid-configuration"
        );
        assert_eq!(
            issuer.well_known_paths(),
            [
                "/.well-known/oauth-authorization-server/issuer1",
                "/issuer1/.well-known/openid-configuration",
                "/.well-known/openid-configuration/issuer1",
            ]
        );
        // a bare origin: no trailing slash anywhere
        let issuer = Issuer::new("https://example.com").unwrap();
        assert_eq!(
            issuer.oauth_metadata_url(),
            "https://example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(issuer.endpoint(paths::TOKEN), "https://example.com/token");
        assert_eq!(issuer.well_known_paths().len(), 2);
    }

    #[test]
    fn issuer_rules_of_rfc8414_section_2() {
        let code = |s: &str| Issuer::new(s).unwrap_err().code();
        assert_eq!(code("https://example.com/?a=b"), "issuer_query_or_fragment");
        assert_eq!(
            code("https://example.com/#frag"),
            "issuer_query_or_fragment"
        );
        assert_eq!(code("http://example.com"), "issuer_insecure");
        assert_eq!(code("ftp://example.com"), "issuer_insecure");
        assert_eq!(code("http://10.0.0.1"), "issuer_insecure");
        assert_eq!(code("example.com"), "issuer_not_url");
        assert_eq!(code("https://user:pw@example.com"), "issuer_userinfo");
        assert_eq!(code("https://EXAMPLE.com"), "issuer_not_canonical");
        assert_eq!(code("https://example.com/a/"), "issuer_not_canonical");
        assert_eq!(code("https://example.com/a/../b"), "issuer_not_canonical");
        assert_eq!(code("https://example.com:443"), "issuer_not_canonical");
        for ok in [
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost:1",
            "https://example.com:8443/t",
        ] {
            assert_eq!(Issuer::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn every_member_mcp_clients_check() {
        let issuer = Issuer::new("https://as.example").unwrap();
        let options = MetadataOptions {
            scopes: vec!["tools:read".into()],
            ..MetadataOptions::default()
        };
        let json = serde_json::to_value(ServerMetadata::new(&issuer, &options)).unwrap();
        assert_eq!(json["issuer"], "https://as.example");
        assert_eq!(
            json["authorization_endpoint"],
            "https://as.example/authorize"
        );
        assert_eq!(json["token_endpoint"], "https://as.example/token");
        assert_eq!(json["jwks_uri"], "https://as.example/jwks.json");
        assert_eq!(json["registration_endpoint"], "https://as.example/register");
        assert_eq!(
            json["introspection_endpoint"],
            "https://as.example/introspect"
        );
        assert_eq!(json["revocation_endpoint"], "https://as.example/revoke");
        assert_eq!(
            json["response_types_supported"],
            serde_json::json!(["code"])
        );
        assert_eq!(
            json["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            json["grant_types_supported"],
            serde_json::json!(GRANT_TYPES)
        );
        assert_eq!(
            json["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(
            json["token_endpoint_auth_signing_alg_values_supported"],
            serde_json::json!(["EdDSA", "ES256", "RS256"])
        );
        assert_eq!(
            json["dpop_signing_alg_values_supported"],
            serde_json::json!(["EdDSA", "ES256", "RS256"])
        );
        assert_eq!(json["authorization_response_iss_parameter_supported"], true);
        assert_eq!(json["client_id_metadata_document_supported"], true);
        assert_eq!(json["scopes_supported"], serde_json::json!(["tools:read"]));
        assert!(
            !json["introspection_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("none"))
        );
        // features off: the registration endpoint disappears
        let off = MetadataOptions {
            dynamic_registration: false,
            client_id_metadata_documents: false,
            ..MetadataOptions::default()
        };
        let json = serde_json::to_value(ServerMetadata::new(&issuer, &off)).unwrap();
        assert!(json.get("registration_endpoint").is_none());
        assert!(json.get("scopes_supported").is_none());
        assert_eq!(json["client_id_metadata_document_supported"], false);
    }
}
