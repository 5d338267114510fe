//! Refusals as HTTP responses: RFC 6750 §3 and RFC 9449 §7.1 challenges.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, header};

use crate::Scheme;
use crate::auth::Shared;
use crate::error::{AuthError, Kind};

/// The longest value put in a challenge parameter or `DPoP-Nonce`.
const MAX_PARAM_LEN: usize = 256;

/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub(crate) static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// A refused request: the [`AuthError`] and what is needed to answer it
/// (realm, metadata URL, DPoP algorithms, the scheme the client used).
///
/// [`Rejection::into_http_response`] makes the answer, in any response body
/// type that can be made from [`Bytes`] (with the `axum` feature it is also
/// axum's `IntoResponse`, so a handler can return it with `?`, see
/// [`crate::Passport::require_scope`]). The response is:
///
/// - the status of [`AuthError::status`];
/// - for 400/401/403, one `WWW-Authenticate` challenge per scheme offered
///   (`Bearer`, unless proof of possession is required; `DPoP` when DPoP is
///   enabled), the error parameters in the challenge of the scheme the
///   client used: `error`, `error_description` (the stable code), `scope`
///   for `insufficient_scope`, and always `resource_metadata`;
/// - `DPoP-Nonce` for `use_dpop_nonce`; `Retry-After` for 429
///   `replay_quota_exceeded`;
/// - a JSON body `{"error": …, "error_description": <code>}` (and `scope`),
///   where `error` is the challenge's OAuth error, `temporarily_unavailable`
///   (503), `server_error` (500), or the code itself when the challenge
///   carries no error (missing credentials, unsupported scheme).
///
/// Every parameter value is built by the server (codes, configuration,
/// nonces); nothing from the request is echoed. Values are still escaped
/// as RFC 9110 quoted-strings, stripped of anything but visible ASCII and
/// capped in length.
pub struct Rejection {
    error: AuthError,
    shared: Option<Arc<Shared>>,
    scheme: Option<Scheme>,
    pop_required: bool,
}

impl Rejection {
    pub(crate) fn new(
        error: AuthError,
        shared: Option<Arc<Shared>>,
        scheme: Option<Scheme>,
        pop_required: bool,
    ) -> Rejection {
        Rejection {
            error,
            shared,
            scheme,
            pop_required,
        }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The error, consuming the rejection.
    pub fn into_error(self) -> AuthError {
        self.error
    }

    /// The stable code (shorthand for `self.error().code()`).
    pub fn code(&self) -> &'static str {
        self.error.code()
    }

    /// One `WWW-Authenticate` value per scheme offered, written straight
    /// into the response's headers.
    fn append_challenges(&self, shared: &Shared, headers: &mut http::HeaderMap) {
        let kind = self.error.kind();
        let dpop = shared.dpop.is_some();
        let bearer = !(dpop && (self.pop_required || shared.require_pop));
        let offered: &[Scheme] = match (bearer, dpop) {
            (true, true) => &[Scheme::Bearer, Scheme::Dpop],
            (true, false) => &[Scheme::Bearer],
            (false, true) => &[Scheme::Dpop],
            (false, false) => &[],
        };
        // The error goes in the challenge of the scheme the client used, or
        // the first offered; `use_dpop_nonce` always in the DPoP one.
        let target = match (kind, self.scheme) {
            (Kind::Nonce, _) => Some(Scheme::Dpop),
            (_, Some(used)) if offered.contains(&used) => Some(used),
            _ => offered.first().copied(),
        };
        for &scheme in offered {
            let mut out = Challenge::new(scheme.as_str());
            out.param("realm", &shared.realm);
            if scheme == Scheme::Dpop {
                out.param("algs", &shared.dpop_algs);
            }
            if Some(scheme) == target
                && let Some(error) = self.error.oauth_error()
            {
                out.param("error", error);
                out.param("error_description", self.error.code());
                if let Some(scope) = self.error.missing_scope() {
                    out.param("scope", scope);
                }
            }
            if kind == Kind::Unauthenticated
                && let Some(scope) = &shared.challenge_scope
            {
                out.param("scope", scope);
            }
            out.param("resource_metadata", &shared.metadata_url);
            if let Ok(value) = HeaderValue::try_from(out.0) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
    }

    /// The HTTP answer (see the type's documentation), in any body type
    /// made from [`Bytes`]: hyper's and `http-body-util`'s `Full<Bytes>`,
    /// axum's `Body`, `Bytes` itself. A service whose body is a boxed body
    /// maps it first (for example `Full::new(bytes).boxed()` through
    /// tower-http's `MapResponseBody`).
    pub fn into_http_response<B: From<Bytes>>(self) -> Response<B> {
        let status = self.error.status();
        let code = self.error.code();
        let error = match (self.error.oauth_error(), self.error.kind()) {
            (Some(error), _) => error,
            (None, Kind::Unavailable) => "temporarily_unavailable",
            (None, Kind::Internal) => "server_error",
            (None, _) => code,
        };
        // Codes and OAuth errors are fixed identifiers: only the scope needs
        // escaping as a JSON string.
        let mut body = String::with_capacity(96);
        body.push_str("{\"error\":\"");
        body.push_str(error);
        body.push_str("\",\"error_description\":\"");
        body.push_str(code);
        body.push('"');
        if let Some(scope) = self.error.missing_scope()
            && let Ok(scope) = serde_json::to_string(&sanitize(scope))
        {
            body.push_str(",\"scope\":");
            body.push_str(&scope);
        }
        body.push('}');

        let mut response = Response::new(B::from(Bytes::from(body)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let answers_with_challenge = matches!(status.as_u16(), 400 | 401 | 403);
        if let Some(shared) = self.shared.as_deref()
            && answers_with_challenge
        {
            self.append_challenges(shared, headers);
        }
        if let Some(seconds) = self.error.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(nonce) = self.error.dpop_nonce()
            && let Ok(value) = HeaderValue::try_from(sanitize(nonce))
        {
            headers.insert(DPOP_NONCE.clone(), value);
        }
        response
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("error", &self.error)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<Rejection> for AuthError {
    fn from(rejection: Rejection) -> AuthError {
        rejection.error
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Rejection {
    fn into_response(self) -> axum::response::Response {
        self.into_http_response()
    }
}

/// `Scheme p1="v1", p2="v2"`, each value a quoted-string.
struct Challenge(String, bool);

impl Challenge {
    fn new(scheme: &str) -> Challenge {
        let mut out = String::with_capacity(256);
        out.push_str(scheme);
        Challenge(out, false)
    }

    fn param(&mut self, name: &str, value: &str) {
        self.0.push_str(if self.1 { ", " } else { " " });
        self.1 = true;
        self.0.push_str(name);
        self.0.push('=');
        quote_into(&mut self.0, value);
    }
}

/// Appends `value` as an RFC 9110 §5.6.4 quoted-string: `"` and `\`
/// escaped, anything but visible ASCII and space dropped, at most
/// [`MAX_PARAM_LEN`] characters.
pub(crate) fn quote_into(out: &mut String, value: &str) {
    out.push('"');
    for c in visible(value) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Visible ASCII and space only, at most [`MAX_PARAM_LEN`] characters:
/// never a CR, LF or other control character in a header.
fn visible(value: &str) -> impl Iterator<Item = char> + '_ {
    value
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_PARAM_LEN)
}

/// [`visible`] as a string.
fn sanitize(value: &str) -> String {
    visible(value).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn quoting_escapes_and_strips() {
        let mut out = String::new();
        quote_into(&mut out, "a\"b\\c\r\nSet-Cookie: x\u{e9}\t");
        assert_eq!(out, r#""a\"b\\cSet-Cookie: x""#);
        let mut long = String::new();
        quote_into(&mut long, &"x".repeat(10_000));
        assert_eq!(long.len(), MAX_PARAM_LEN + 2);
    }

    #[test]
    fn challenge_format() {
        let mut c = Challenge::new("Bearer");
        c.param("realm", "r=1");
        c.param("error", "invalid_token");
        let c = c.0;
        assert_eq!(c, r#"Bearer realm="r=1", error="invalid_token""#);
        assert!(HeaderValue::from_str(&c).is_ok());
    }
}
