//! The authorization response of the code flow (RFC 6749 §4.1.2), checked
//! before its code is used: by this crate's login and by passport-agent's
//! code flow against passport-server.

use crate::OidcError;
use crate::error::truncate;

/// Checks an authorization response (the redirect's query parameters) and
/// returns its code: no parameter twice, `state` the one sent (RFC 9700
/// §2.1: CSRF), `iss` equal to `issuer` when present and required when the
/// server advertises `authorization_response_iss_parameter_supported`
/// (RFC 9207: mix-up defence), then `error` or a non-empty `code`.
///
/// ```
/// use passport_oidc::check_authorization_response;
/// let params = |p: &[(&str, &str)]| -> Vec<(String, String)> {
///     p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
/// };
/// let ok = params(&[("code", "c1"), ("state", "s1"), ("iss", "https://as.example")]);
/// assert_eq!(check_authorization_response(&ok, "s1", "https://as.example", true)?, "c1");
/// let mixed_up = params(&[("code", "c1"), ("state", "s1"), ("iss", "https://evil.example")]);
/// let err = check_authorization_response(&mixed_up, "s1", "https://as.example", true).unwrap_err();
/// assert_eq!(err.code(), "issuer_mismatch");
/// # Ok::<(), passport_oidc::OidcError>(())
/// ```
pub fn check_authorization_response(
    params: &[(String, String)],
    state: &str,
    issuer: &str,
    iss_parameter_supported: bool,
) -> Result<String, OidcError> {
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == name) {
            return Err(OidcError::InvalidCallback(format!(
                "parameter {:?} appears twice",
                truncate(name)
            )));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match get("state") {
        Some(s) if s == state => {}
        // An error response without state is still reported as the error.
        None if get("error").is_some() => {}
        _ => return Err(OidcError::StateMismatch),
    }
    match get("iss") {
        Some(iss) if iss != issuer => {
            return Err(OidcError::IssuerMismatch {
                context: "authorization response",
                expected: issuer.to_owned(),
                found: truncate(iss),
            });
        }
        None if iss_parameter_supported => {
            return Err(OidcError::IssuerMismatch {
                context: "authorization response",
                expected: issuer.to_owned(),
                found: String::new(),
            });
        }
        _ => {}
    }
    if let Some(error) = get("error") {
        return Err(OidcError::ProviderError {
            error: truncate(error),
            description: get("error_description").map(truncate),
        });
    }
    match get("code") {
        Some(code) if !code.is_empty() => Ok(code.to_owned()),
        _ => Err(OidcError::InvalidCallback(
            "no `code` in the authorization response".into(),
        )),
    }
}
