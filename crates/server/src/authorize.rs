//! Validation of an authorization request (RFC 6749 §4.1.1, OAuth 2.1,
//! RFC 7636, RFC 8707, RFC 9207): pure, no I/O.
//!
//! Two kinds of failure, never confused:
//!
//! - the client or the redirect URI cannot be trusted (unknown `client_id`,
//!   a `redirect_uri` not registered, a repeated parameter): the answer is a
//!   direct error page ([`AuthorizeFailure::Page`]) — sending the user agent
//!   to an unvalidated URI is an open redirector (RFC 6749 §4.1.2.1);
//! - anything else: an error redirect to the validated URI with `error`,
//!   `state` and `iss` ([`AuthorizeFailure::Redirect`]).
//!
//! Redirect URIs match **exactly**, as strings: no prefix, no wildcard, no
//! normalisation. The one exception is RFC 8252 §7.3: for a registered
//! `http://127.0.0.1…` or `http://[::1]…` URI (a native client's loopback
//! listener) any port is accepted, everything else still exact. `localhost`
//! gets no such flexibility (RFC 8252 §8.3 advises against it).
//!
//! `scope` absent means no tool scope (least privilege; the client can ask
//! again, with consent, when a resource demands more).
//!
//! ```
//! use passport_claims::ScopeSet;
//! use passport_server::authorize::{validate, ClientPolicy};
//! use passport_server::form::Form;
//!
//! let redirect_uris = vec!["https://app.example/cb".to_owned()];
//! let allowed = ScopeSet::parse(["tools:*"])?;
//! let client = ClientPolicy { client_id: "app", redirect_uris: &redirect_uris, allowed_scopes: &allowed };
//! let query = "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
//!     &state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
//!     &code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example%2Fmcp&scope=tools%3Aread";
//! let request = validate(&Form::parse(query.as_bytes(), 8192)?, &client).unwrap();
//! assert_eq!(request.resource, "https://mcp.example/mcp");
//! assert_eq!(
//!     request.redirect_with_code("c0de", "https://as.example"),
//!     "https://app.example/cb?code=c0de&state=xyz&iss=https%3A%2F%2Fas.example"
//! );
//!
//! // one character off: an error page, no redirect
//! let bad = query.replace("%2Fcb", "%2Fcc");
//! let failure = validate(&Form::parse(bad.as_bytes(), 8192)?, &client).unwrap_err();
//! assert_eq!(failure.error().code(), "redirect_uri_mismatch");
//! assert!(failure.location("https://as.example").is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;

use passport_claims::{ScopePattern, ScopeSet};
use url::{Host, Url};

use crate::form::{Form, FormError};
use crate::oauth::{OAuthError, codes};
use crate::pkce::{CodeChallenge, PkceError};

/// The longest `state` carried, in bytes.
pub const MAX_STATE_LEN: usize = 1024;
/// The longest `redirect_uri` or `resource`, in bytes.
pub const MAX_URI_LEN: usize = 2048;

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// No `client_id`, or not the client looked up.
    #[error("client_id missing or unknown")]
    UnknownClient,
    /// No `redirect_uri`.
    #[error("redirect_uri is required")]
    MissingRedirectUri,
    /// `redirect_uri` is not one the client registered.
    #[error("redirect_uri is not registered for this client")]
    RedirectUriMismatch,
    /// A repeated or oversized parameter, before the redirect URI is known good.
    #[error(transparent)]
    Form(#[from] FormError),
    /// No `response_type`.
    #[error("response_type is required")]
    MissingResponseType,
    /// `response_type` other than `code`.
    #[error("response_type not supported: {0}")]
    UnsupportedResponseType(String),
    /// `response_mode` other than `query`.
    #[error("response_mode not supported")]
    UnsupportedResponseMode,
    /// `request` / `request_uri` (JAR, PAR) are not supported.
    #[error("request objects are not supported")]
    RequestObject,
    /// `state` longer than [`MAX_STATE_LEN`].
    #[error("state too long")]
    StateTooLong,
    /// PKCE refused (S256 only).
    #[error(transparent)]
    Pkce(#[from] PkceError),
    /// No `resource` (RFC 8707): the passport needs an audience.
    #[error("resource is required (RFC 8707)")]
    MissingResource,
    /// `resource` is not an absolute http(s) URI without a fragment.
    #[error("resource invalid: {0}")]
    InvalidResource(&'static str),
    /// `scope` is not a list of valid scope patterns.
    #[error("scope invalid: {0}")]
    InvalidScope(String),
    /// A requested scope is beyond what the client may have.
    #[error("scope not allowed for this client: {0}")]
    ScopeNotAllowed(String),
}

passport_jose::error_codes! {
    AuthorizeError {
        AuthorizeError::UnknownClient => "authorize_unknown_client":
            "An authorization request names no client, or one that is not registered.",
        AuthorizeError::MissingRedirectUri => "redirect_uri_missing":
            "An authorization request has no redirect_uri.",
        AuthorizeError::RedirectUriMismatch => "redirect_uri_mismatch":
            "redirect_uri is not exactly one the client registered.",
        AuthorizeError::MissingResponseType => "response_type_missing":
            "An authorization request has no response_type.",
        AuthorizeError::UnsupportedResponseType(_) => "response_type_unsupported":
            "response_type is not code.",
        AuthorizeError::UnsupportedResponseMode => "response_mode_unsupported":
            "response_mode is not query.",
        AuthorizeError::RequestObject => "request_object_unsupported":
            "An authorization request carries request or request_uri.",
        AuthorizeError::StateTooLong => "state_too_long":
            "state is longer than the server carries.",
        AuthorizeError::MissingResource => "resource_missing":
            "An authorization request has no resource (RFC 8707).",
        AuthorizeError::InvalidResource(_) => "resource_invalid":
            "resource is not an absolute http(s) URI without a fragment.",
        AuthorizeError::InvalidScope(_) => "scope_invalid":
            "scope is not a space-separated list of valid scope patterns.",
        AuthorizeError::ScopeNotAllowed(_) => "scope_not_allowed":
            "A requested scope is beyond what the client may be granted.",
    }
    wraps {
        AuthorizeError::Form(e) => e.code(),
        AuthorizeError::Pkce(e) => e.code(),
    }
}

impl AuthorizeError {
    /// The RFC 6749 §4.1.2.1 `error` (with 400 for a direct page).
    pub fn oauth(&self) -> OAuthError {
        let error = match self {
            AuthorizeError::UnknownClient => codes::INVALID_CLIENT,
            AuthorizeError::UnsupportedResponseType(_) => codes::UNSUPPORTED_RESPONSE_TYPE,
            AuthorizeError::MissingResource | AuthorizeError::InvalidResource(_) => {
                codes::INVALID_TARGET
            }
            AuthorizeError::InvalidScope(_) | AuthorizeError::ScopeNotAllowed(_) => {
                codes::INVALID_SCOPE
            }
            _ => codes::INVALID_REQUEST,
        };
        OAuthError::new(400, error, self.to_string())
    }
}

/// A refused authorization request: shown directly, or redirected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizeFailure {
    /// The client or redirect URI is not trusted: answer with an error page.
    Page(AuthorizeError),
    /// Redirect to `redirect_uri` with the error.
    Redirect {
        /// The validated redirect URI.
        redirect_uri: String,
        /// `state` as sent.
        state: Option<String>,
        /// The error.
        error: AuthorizeError,
    },
}

impl AuthorizeFailure {
    /// The error.
    pub fn error(&self) -> &AuthorizeError {
        match self {
            AuthorizeFailure::Page(e) | AuthorizeFailure::Redirect { error: e, .. } => e,
        }
    }

    /// The `Location` of the error redirect (RFC 6749 §4.1.2.1, with `iss`
    /// of RFC 9207), or `None` when the answer must be a page.
    pub fn location(&self, issuer: &str) -> Option<String> {
        let AuthorizeFailure::Redirect {
            redirect_uri,
            state,
            error,
        } = self
        else {
            return None;
        };
        Some(error_location(
            redirect_uri,
            state.as_deref(),
            &error.oauth(),
            issuer,
        ))
    }
}

/// An error redirect: `error`, `error_description`, `state`, `iss`.
fn error_location(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
) -> String {
    let mut params = vec![
        ("error", error.error),
        ("error_description", error.description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    append_query(redirect_uri, &params)
}

/// What the server knows of the client making the request.
#[derive(Debug, Clone, Copy)]
pub struct ClientPolicy<'a> {
    /// The client's identifier.
    pub client_id: &'a str,
    /// Its registered redirect URIs.
    pub redirect_uris: &'a [String],
    /// The scopes it may be granted.
    pub allowed_scopes: &'a ScopeSet,
}

/// A valid authorization request, ready for login and consent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI, as sent (and matched).
    pub redirect_uri: String,
    /// `state`, carried back unchanged.
    pub state: Option<String>,
    /// The PKCE challenge to store with the code.
    pub code_challenge: CodeChallenge,
    /// The RFC 8707 resource: the passport's `aud`.
    pub resource: String,
    /// The scopes requested (each allowed for the client).
    pub scope: ScopeSet,
}

impl AuthorizationRequest {
    /// The `Location` of the success redirect: `code`, `state`, `iss`.
    pub fn redirect_with_code(&self, code: &str, issuer: &str) -> String {
        let mut params = vec![("code", code)];
        if let Some(s) = &self.state {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        append_query(&self.redirect_uri, &params)
    }

    /// The `Location` of an error redirect after validation (RFC 6749
    /// §4.1.2.1: `access_denied` when the principal refuses,
    /// `server_error`, `temporarily_unavailable`): `error`,
    /// `error_description`, `state`, `iss`.
    pub fn redirect_with_error(&self, error: &OAuthError, issuer: &str) -> String {
        error_location(&self.redirect_uri, self.state.as_deref(), error, issuer)
    }
}

fn append_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut out = base.to_owned();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        out.extend(url::form_urlencoded::byte_serialize(k.as_bytes()));
        out.push('=');
        out.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        sep = '&';
    }
    out
}

/// Validates the parameters of an authorization request for `client`.
pub fn validate(
    form: &Form,
    client: &ClientPolicy<'_>,
) -> Result<AuthorizationRequest, AuthorizeFailure> {
    use AuthorizeFailure::Page;
    if form.get("client_id") != Some(client.client_id) {
        return Err(Page(AuthorizeError::UnknownClient));
    }
    let redirect_uri = form
        .get("redirect_uri")
        .ok_or(Page(AuthorizeError::MissingRedirectUri))?;
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect_matches(r, redirect_uri))
    {
        return Err(Page(AuthorizeError::RedirectUriMismatch));
    }
    let state = form.get("state").map(str::to_owned);
    let redirect = |error: AuthorizeError| AuthorizeFailure::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone().filter(|s| s.len() <= MAX_STATE_LEN),
        error,
    };
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(redirect(AuthorizeError::StateTooLong));
    }
    if form.contains("request") || form.contains("request_uri") {
        return Err(redirect(AuthorizeError::RequestObject));
    }
    match form.get("response_type") {
        None => return Err(redirect(AuthorizeError::MissingResponseType)),
        Some("code") => {}
        Some(other) => {
            return Err(redirect(AuthorizeError::UnsupportedResponseType(
                passport_jose::clip(other, 40),
            )));
        }
    }
    if form.get("response_mode").is_some_and(|m| m != "query") {
        return Err(redirect(AuthorizeError::UnsupportedResponseMode));
    }
    let code_challenge = CodeChallenge::from_request(
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    )
    .map_err(|e| redirect(e.into()))?;
    let resource = form
        .get("resource")
        .ok_or_else(|| redirect(AuthorizeError::MissingResource))?;
    check_resource(resource).map_err(|e| redirect(AuthorizeError::InvalidResource(e)))?;
    let scope = parse_scope(form.get("scope")).map_err(redirect)?;
    let beyond: Vec<&str> = scope
        .not_implied_by(client.allowed_scopes)
        .into_iter()
        .map(ScopePattern::as_str)
        .collect();
    if !beyond.is_empty() {
        return Err(redirect(AuthorizeError::ScopeNotAllowed(
            passport_jose::clip(&beyond.join(" "), 120),
        )));
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        code_challenge,
        resource: resource.to_owned(),
        scope,
    })
}

/// Parses an OAuth `scope` (space-separated, RFC 6749 §3.3) into a
/// [`ScopeSet`]; absent means empty.
pub fn parse_scope(scope: Option<&str>) -> Result<ScopeSet, AuthorizeError> {
    let Some(scope) = scope else {
        return Ok(ScopeSet::empty());
    };
    if scope.split(' ').any(str::is_empty) {
        return Err(AuthorizeError::InvalidScope(
            "empty scope token (stray space)".into(),
        ));
    }
    if scope
        .chars()
        .any(|c| !('\x21'..='\x7e').contains(&c) && c != ' ' || c == '"' || c == '\\')
    {
        return Err(AuthorizeError::InvalidScope(
            "character outside RFC 6749 §3.3".into(),
        ));
    }
    ScopeSet::parse(scope.split(' ')).map_err(|e| AuthorizeError::InvalidScope(e.to_string()))
}

/// RFC 8707 §2: an absolute URI without a fragment (here: http or https,
/// with a host).
pub fn check_resource(resource: &str) -> Result<(), &'static str> {
    if resource.len() > MAX_URI_LEN {
        return Err("too long");
    }
    if !visible_ascii(resource) {
        return Err("a space, control or non-ASCII character");
    }
    let url = Url::parse(resource).map_err(|_| "not an absolute URI")?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err("not an http(s) URI with a host");
    }
    if url.fragment().is_some() || resource.contains('#') {
        return Err("has a fragment");
    }
    Ok(())
}

/// Whether `uri` may be registered as a redirect URI: absolute, no
/// fragment, no credentials, and `https`, `http` to a loopback IP literal
/// (RFC 8252 §7.3), or a private-use scheme with a dot (RFC 8252 §7.1).
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_URI_LEN {
        return Err("too long");
    }
    // `Url::parse` silently drops tabs and newlines, and spaces and
    // controls at either end; the URI is matched and redirected to as
    // sent, so what it drops would reach the `Location` header
    if !visible_ascii(uri) {
        return Err("a space, control or non-ASCII character");
    }
    let url = Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("has a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("has credentials");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback_ip(&url) => Ok(()),
        "http" | "https" => Err("http only on a loopback IP literal"),
        "javascript" | "data" | "file" | "vbscript" | "blob" => Err("scheme not allowed"),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err("a private-use scheme must be a reverse domain name"),
    }
}

/// Only `%x21-7E`: what a URI may hold as sent (RFC 3986 §2).
fn visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Whether `uri` is an `http` or `https` URI to a loopback IP literal: a code sent
/// there cannot leave the machine.
pub(crate) fn is_loopback_redirect(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && loopback_ip(&url))
}

fn loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        _ => false,
    }
}

/// Exact string match, except the port of a registered loopback `http`
/// URI (RFC 8252 §7.3).
fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    if reg.scheme() != "http" || !loopback_ip(&reg) {
        return false;
    }
    // Compare everything but the port, as strings, both sides as sent.
    let strip = |s: &str, url: &Url| -> Option<String> {
        let host = match url.host()? {
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => format!("[{ip}]"),
            Host::Domain(_) => return None,
        };
        let prefix = format!("http://{host}");
        let rest = s.strip_prefix(&prefix)?;
        let rest = match rest.strip_prefix(':') {
            Some(r) => {
                let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return None;
                }
                &r[digits..]
            }
            None => rest,
        };
        Some(format!("{prefix}{rest}"))
    };
    match (strip(registered, &reg), strip(requested, &req)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_loopback_redirect_is_an_ip_literal_on_the_loopback_only() {
        for uri in [
            "http://127.0.0.1:9/cb",
            "http://127.0.0.2/cb",
            "http://[::1]:4000/cb",
            "https://127.0.0.1/cb",
        ] {
            assert!(is_loopback_redirect(uri), "{uri}");
        }
        for uri in [
            "http://localhost/cb",
            "http://127.0.0.1.attacker.example/cb",
            "https://attacker.example/cb",
            "http://10.0.0.1/cb",
            "com.example.app:/cb",
            "not a uri",
        ] {
            assert!(!is_loopback_redirect(uri), "{uri}");
        }
    }

    #[test]
    fn loopback_port_flexibility_only_for_loopback_ip_literals() {
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51234/cb"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(redirect_matches("http://[::1]/cb", "http://[::1]:4000/cb"));
        // path, query, host still exact
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/cb2"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/CB"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.2:5/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5/cb?x=1"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5@evil.example/cb"
        ));
        // not for localhost nor https
        assert!(!redirect_matches(
            "http://localhost/cb",
            "http://localhost:5/cb"
        ));
        assert!(!redirect_matches(
            "https://127.0.0.1/cb",
            "https://127.0.0.1:5/cb"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
    }

    #[test]
    fn registrable_redirect_uris() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8/cb",
            "com.example.app:/cb",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "https://app.example/cb#frag",
            "http://app.example/cb",
            "http://localhost/cb",
            "javascript:alert(1)",
            "myapp:/cb",
            "/relative",
            "https://u:p@app.example/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
