//! RFC 6749 error responses: the `error` codes and the JSON body of §5.2.

use serde_json::{Map, Value, json};

/// The RFC 6749 / RFC 7009 / RFC 8707 `error` values this crate answers with.
pub mod codes {
    /// RFC 6749 §5.2: a parameter is missing, repeated, malformed or unsupported.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// RFC 6749 §5.2: client authentication failed.
    pub const INVALID_CLIENT: &str = "invalid_client";
    /// RFC 6749 §5.2: the grant (code, refresh token, verifier) is invalid.
    pub const INVALID_GRANT: &str = "invalid_grant";
    /// RFC 6749 §5.2: the client may not use this grant type.
    pub const UNAUTHORIZED_CLIENT: &str = "unauthorized_client";
    /// RFC 6749 §5.2: the grant type is not supported.
    pub const UNSUPPORTED_GRANT_TYPE: &str = "unsupported_grant_type";
    /// RFC 6749 §4.1.2.1: the response type is not supported.
    pub const UNSUPPORTED_RESPONSE_TYPE: &str = "unsupported_response_type";
    /// RFC 6749 §5.2: the scope is invalid or beyond what the client may have.
    pub const INVALID_SCOPE: &str = "invalid_scope";
    /// RFC 8707 §2: the `resource` is invalid.
    pub const INVALID_TARGET: &str = "invalid_target";
    /// RFC 6749 §4.1.2.1: the resource owner (or the server) refused.
    pub const ACCESS_DENIED: &str = "access_denied";
    /// RFC 6749 §4.1.2.1: the server cannot answer now.
    pub const TEMPORARILY_UNAVAILABLE: &str = "temporarily_unavailable";
    /// RFC 6749 §4.1.2.1: an unexpected condition.
    pub const SERVER_ERROR: &str = "server_error";
    /// RFC 8628 §3.5: the request waits for a decision (here an approver's,
    /// issue 14); ask again later.
    pub const AUTHORIZATION_PENDING: &str = "authorization_pending";
}

/// An OAuth error answer: the HTTP status, the RFC 6749 `error`, a short
/// description (never a secret, never a whole token) and, for HTTP Basic
/// client authentication failures, the `WWW-Authenticate` challenge.
///
/// ```
/// use passport_server::OAuthError;
/// let e = OAuthError::new(400, "invalid_request", "missing parameter: code");
/// assert_eq!(e.body()["error"], "invalid_request");
/// assert!(e.headers().contains(&("cache-control", "no-store".to_owned())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// The HTTP status (400, 401, 429, 500, 503).
    pub status: u16,
    /// The RFC 6749 `error` code (one of [`codes`]).
    pub error: &'static str,
    /// `error_description`: ASCII, bounded.
    pub description: String,
    /// `WWW-Authenticate` value when the status is 401 after HTTP Basic.
    pub www_authenticate: Option<String>,
    /// `Retry-After` seconds (429).
    pub retry_after: Option<u64>,
    /// Further members of the body (governance's `rule`, `approval_id`);
    /// never `error` nor `error_description`.
    /// (Boxed: errors stay small on the hot path.)
    pub extra: Option<Box<Map<String, Value>>>,
}

impl OAuthError {
    /// An error answer. The description is cut to 200 bytes and stripped of
    /// characters RFC 6749 §5.2 does not allow in `error_description`
    /// (outside `%x20-21 / %x23-5B / %x5D-7E`).
    pub fn new(status: u16, error: &'static str, description: impl AsRef<str>) -> OAuthError {
        let clean: String = description
            .as_ref()
            .chars()
            .map(|c| match c {
                '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => c,
                _ => '?',
            })
            .collect();
        OAuthError {
            status,
            error,
            description: passport_jose::clip(&clean, 200).replace('…', "..."),
            www_authenticate: None,
            retry_after: None,
            extra: None,
        }
    }

    /// Adds the member `name` to the body (ignored for `error` and
    /// `error_description`).
    ///
    /// ```
    /// use passport_server::OAuthError;
    /// let e = OAuthError::new(400, "invalid_scope", "policy: environments.prod.grants: deploy")
    ///     .with("rule", "environments.prod.grants");
    /// assert_eq!(e.body()["rule"], "environments.prod.grants");
    /// ```
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> OAuthError {
        if name != "error" && name != "error_description" {
            self.extra
                .get_or_insert_with(Box::default)
                .insert(name.to_owned(), value.into());
        }
        self
    }

    /// The RFC 6749 §5.2 JSON body.
    pub fn body(&self) -> Value {
        let mut map = Map::new();
        map.insert("error".into(), json!(self.error));
        if !self.description.is_empty() {
            map.insert("error_description".into(), json!(self.description));
        }
        for (name, value) in self.extra.iter().flat_map(|m| m.iter()) {
            map.entry(name.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(map)
    }

    /// The headers of the answer: JSON, `Cache-Control: no-store` (RFC 6749
    /// §5.1/§5.2), and `WWW-Authenticate` / `Retry-After` when set.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ];
        if let Some(w) = &self.www_authenticate {
            h.push(("www-authenticate", w.clone()));
        }
        if let Some(r) = self.retry_after {
            h.push(("retry-after", r.to_string()));
        }
        h
    }
}
