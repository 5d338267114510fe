//! The OAuth side of the login (RFC 6749 §4.1, RFC 7636 S256, RFC 9207,
//! RFC 9700 §2.1): the authorization request, the checks on the
//! authorization response, and the code exchange.
//!
//! The `oauth2` crate builds the authorization URL, authenticates the client
//! and parses the token response; its typestate client never leaves this
//! module. What it does not do is ours: `state` (compared here), `nonce` and
//! the ID token (validated by [`Provider::validate_id_token`]), and the
//! RFC 9207 `iss` parameter.

use std::fmt;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::http::{CappedHttp, TransportError};
use super::{AccessToken, IdToken};
use crate::discovery::ProviderMetadata;
use crate::error::truncate;
use crate::pkce::{PkceVerifier, random_string};
use crate::{OidcConfig, OidcError, Provider};

/// The member OpenID Connect adds to the token response (Core §3.1.3.3).
#[derive(Debug, Deserialize, Serialize)]
struct IdTokenMember {
    #[serde(default)]
    id_token: Option<Redacted>,
}

impl ExtraTokenFields for IdTokenMember {}

/// A token as it arrives; `Debug` (which `oauth2`'s response derives)
/// prints `[redacted]`.
#[derive(Deserialize, Serialize)]
#[serde(transparent)]
struct Redacted(String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

type OidcTokenResponse = StandardTokenResponse<IdTokenMember, BasicTokenType>;

/// `oauth2`'s client with an authorization and a token endpoint.
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The tokens of a successful exchange; the ID token is not validated yet.
pub(super) struct Tokens {
    pub(super) id_token: IdToken,
    pub(super) access_token: AccessToken,
}

/// One authorization request: its URL and the secrets the response and the
/// ID token are checked against.
pub(super) struct AuthorizationRequest {
    client: OAuthClient,
    url: Url,
    state: String,
    nonce: String,
    verifier: PkceVerifier,
}

impl AuthorizationRequest {
    /// A fresh request: `state`, `nonce` (256 bits each from the operating
    /// system) and a PKCE verifier, for the redirect URI actually listened on.
    pub(super) fn new(
        config: &OidcConfig,
        metadata: &ProviderMetadata,
        redirect_uri: &str,
    ) -> Result<AuthorizationRequest, OidcError> {
        let client = oauth_client(config, metadata, redirect_uri)?;
        let state = random_string(32)?;
        let nonce = random_string(32)?;
        let verifier = PkceVerifier::generate()?;
        // A PkceVerifier is 43 to 128 characters, the range
        // from_code_verifier_sha256 requires.
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier.secret().to_owned(),
        ));
        let csrf = state.clone();
        let (url, _) = client
            .authorize_url(move || CsrfToken::new(csrf))
            .add_scopes(config.request_scopes().into_iter().map(Scope::new))
            .add_extra_param("nonce", nonce.clone())
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizationRequest {
            client,
            url,
            state,
            nonce,
            verifier,
        })
    }

    /// The URL to open in the browser.
    pub(super) fn url(&self) -> &Url {
        &self.url
    }

    /// The `state` sent.
    pub(super) fn state(&self) -> &str {
        &self.state
    }

    /// The `nonce` the ID token must carry.
    pub(super) fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Checks the authorization response and returns the code.
    pub(super) fn check_callback(
        &self,
        params: &[(String, String)],
        metadata: &ProviderMetadata,
    ) -> Result<String, OidcError> {
        check_callback(params, &self.state, metadata)
    }

    /// Exchanges `code`, with the PKCE verifier and the client's
    /// authentication, on the provider's HTTP client.
    pub(super) async fn exchange(
        self,
        provider: &Provider,
        code: String,
    ) -> Result<Tokens, OidcError> {
        let http = CappedHttp::new(provider.http().clone());
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(self.verifier.secret().to_owned()))
            .request_async(&http)
            .await
            .map_err(exchange_error)?;
        let id_token = match response.extra_fields().id_token.as_ref() {
            Some(Redacted(t)) if !t.is_empty() => IdToken::new(t.clone()),
            _ => {
                return Err(OidcError::TokenExchangeFailed(
                    "the token response has no id_token".into(),
                ));
            }
        };
        Ok(Tokens {
            id_token,
            access_token: AccessToken(response.access_token().secret().clone()),
        })
    }
}

/// The `oauth2` client for this provider: its endpoints, this client's id
/// and secret, and how the secret is sent (`client_secret_basic` unless the
/// provider only offers `client_secret_post`).
fn oauth_client(
    config: &OidcConfig,
    metadata: &ProviderMetadata,
    redirect_uri: &str,
) -> Result<OAuthClient, OidcError> {
    let auth_url = AuthUrl::new(metadata.authorization_endpoint.clone())
        .map_err(|e| OidcError::DiscoveryFailed(format!("authorization_endpoint: {e}")))?;
    let token_url = TokenUrl::new(metadata.token_endpoint.clone())
        .map_err(|e| OidcError::DiscoveryFailed(format!("token_endpoint: {e}")))?;
    let redirect_url = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| OidcError::Config(format!("redirect URI: {e}")))?;
    let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
        .set_auth_uri(auth_url)
        .set_token_uri(token_url)
        .set_redirect_uri(redirect_url);
    if let Some(secret) = &config.client_secret {
        let methods = &metadata.token_endpoint_auth_methods_supported;
        // Discovery §3: when the list is omitted, the default is client_secret_basic.
        let auth_type = if methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic")
        {
            AuthType::BasicAuth
        } else if methods.iter().any(|m| m == "client_secret_post") {
            AuthType::RequestBody
        } else {
            return Err(OidcError::Config(
                "the provider supports neither client_secret_basic nor client_secret_post".into(),
            ));
        };
        client = client
            .set_client_secret(oauth2::ClientSecret::new(secret.expose().to_owned()))
            .set_auth_type(auth_type);
    }
    Ok(client)
}

/// Every way the exchange fails is `token_exchange_failed`, with what the
/// provider said (clipped: it chooses the text).
fn exchange_error(e: RequestTokenError<TransportError, BasicErrorResponse>) -> OidcError {
    let detail = match e {
        RequestTokenError::ServerResponse(response) => {
            let error = truncate(response.error().as_ref());
            match response.error_description() {
                Some(d) if !d.is_empty() => format!("{error}: {}", truncate(d)),
                _ => error,
            }
        }
        RequestTokenError::Request(e) => e.to_string(),
        RequestTokenError::Parse(e, _) => {
            format!(
                "the token response is not usable: {}",
                truncate(&e.to_string())
            )
        }
        RequestTokenError::Other(message) => truncate(&message),
    };
    OidcError::TokenExchangeFailed(detail)
}

/// Checks the authorization response and returns the code (see
/// [`crate::check_authorization_response`]).
pub(super) fn check_callback(
    params: &[(String, String)],
    state: &str,
    metadata: &ProviderMetadata,
) -> Result<String, OidcError> {
    crate::check_authorization_response(
        params,
        state,
        &metadata.issuer,
        metadata.authorization_response_iss_parameter_supported,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(iss_supported: bool) -> ProviderMetadata {
        let doc = serde_json::json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/authorize?tenant=a",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": iss_supported,
        });
        ProviderMetadata::from_json(doc.to_string().as_bytes(), "https://idp.example").unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn callback_rules() {
        let m = metadata(true);
        let ok = params(&[
            ("code", "c"),
            ("state", "s"),
            ("iss", "https://idp.example"),
        ]);
        assert_eq!(check_callback(&ok, "s", &m).unwrap(), "c");
        let no_iss = params(&[("code", "c"), ("state", "s")]);
        assert_eq!(
            check_callback(&no_iss, "s", &m).unwrap_err().code(),
            "issuer_mismatch"
        );
        assert_eq!(check_callback(&no_iss, "s", &metadata(false)).unwrap(), "c");
        let wrong_iss = params(&[
            ("code", "c"),
            ("state", "s"),
            ("iss", "https://evil.example"),
        ]);
        assert_eq!(
            check_callback(&wrong_iss, "s", &metadata(false))
                .unwrap_err()
                .code(),
            "issuer_mismatch"
        );
        assert_eq!(
            check_callback(&ok, "other", &m).unwrap_err().code(),
            "state_mismatch"
        );
        let twice = params(&[("code", "c"), ("state", "s"), ("state", "s")]);
        assert_eq!(
            check_callback(&twice, "s", &m).unwrap_err().code(),
            "invalid_callback"
        );
        let no_code = params(&[("state", "s"), ("iss", "https://idp.example")]);
        assert_eq!(
            check_callback(&no_code, "s", &m).unwrap_err().code(),
            "invalid_callback"
        );
        let error = params(&[("error", "access_denied"), ("iss", "https://idp.example")]);
        assert_eq!(
            check_callback(&error, "s", &m).unwrap_err().code(),
            "provider_error"
        );
    }

    fn query(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn the_authorization_url_carries_the_request_once_each() {
        let mut config = OidcConfig::new(
            "https://idp.example/.well-known/openid-configuration",
            "cli",
        );
        config.scopes = vec!["email".into()];
        let request =
            AuthorizationRequest::new(&config, &metadata(true), "http://127.0.0.1:4242/cb")
                .unwrap();
        let url = request.url().clone();
        assert_eq!(url.path(), "/authorize");
        let pairs = query(&url);
        // The endpoint's own query survives.
        assert_eq!(get(&pairs, "tenant"), ["a"]);
        assert_eq!(get(&pairs, "response_type"), ["code"]);
        assert_eq!(get(&pairs, "client_id"), ["cli"]);
        assert_eq!(get(&pairs, "redirect_uri"), ["http://127.0.0.1:4242/cb"]);
        assert_eq!(get(&pairs, "scope"), ["openid email"]);
        assert_eq!(get(&pairs, "state"), [request.state.as_str()]);
        assert_eq!(get(&pairs, "nonce"), [request.nonce()]);
        assert_eq!(get(&pairs, "code_challenge_method"), ["S256"]);
        // The challenge oauth2 computes is the RFC 7636 S256 of our verifier.
        assert_eq!(
            get(&pairs, "code_challenge"),
            [request.verifier.challenge_s256().as_str()]
        );
        assert_ne!(request.state, request.nonce);
        let again = AuthorizationRequest::new(&config, &metadata(true), "http://127.0.0.1:4242/cb")
            .unwrap();
        assert_ne!(again.state, request.state);
        assert_ne!(again.nonce, request.nonce);
        assert_ne!(again.verifier, request.verifier);
    }

    #[test]
    fn oauth2_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let ours = PkceVerifier::from_string(verifier).unwrap();
        let theirs =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.into()));
        assert_eq!(
            theirs.as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(theirs.as_str(), ours.challenge_s256());
    }

    #[test]
    fn a_secret_needs_a_method_we_can_send() {
        let mut config = OidcConfig::new(
            "https://idp.example/.well-known/openid-configuration",
            "cli",
        );
        config.client_secret = Some(crate::ClientSecret::new("s"));
        let mut m = metadata(false);
        m.token_endpoint_auth_methods_supported = vec!["private_key_jwt".into()];
        let err = oauth_client(&config, &m, "http://127.0.0.1/cb")
            .err()
            .map(|e| e.code());
        assert_eq!(err, Some("config"));
        m.token_endpoint_auth_methods_supported = vec!["client_secret_post".into()];
        assert!(oauth_client(&config, &m, "http://127.0.0.1/cb").is_ok());
    }

    #[test]
    fn tokens_in_the_response_do_not_debug_print() {
        let response: OidcTokenResponse = serde_json::from_value(serde_json::json!({
            "access_token": "at-secret",
            "token_type": "Bearer",
            "id_token": "id-secret",
        }))
        .unwrap();
        let debug = format!("{response:?}");
        assert!(
            !debug.contains("at-secret") && !debug.contains("id-secret"),
            "{debug}"
        );
    }
}
