//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9449
//! §7.1): the parameters the client acts on.

use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Response, StatusCode};

/// The most scopes a step-up challenge may name; a longer list is ignored.
const MAX_CHALLENGE_SCOPES: usize = 32;
/// The longest scope a step-up challenge may name.
const MAX_SCOPE_LEN: usize = 256;

/// The value of `name="…"` (or `name=token`) in a challenge.
pub(crate) fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let lower = challenge.to_ascii_lowercase();
    let needle = format!("{name}=");
    let mut from = 0;
    while let Some(found) = lower[from..].find(&needle) {
        let at = from + found;
        from = at + needle.len();
        // A whole parameter name, not the tail of another (`error_scope=`).
        let starts = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c == ' ' || c == ',');
        if !starts {
            continue;
        }
        let rest = &challenge[from..];
        return Some(match rest.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                value
            }
            None => rest.split([',', ' ']).next().unwrap_or_default().to_owned(),
        });
    }
    None
}

/// The scopes a 401 or 403 asks for with `error="insufficient_scope"` and
/// `scope="…"` (RFC 6750 §3.1; the MCP authorization specification's
/// step-up). `None` for any other answer, and for a `scope` that is empty,
/// lists more than [`MAX_CHALLENGE_SCOPES`] scopes, or holds one longer
/// than [`MAX_SCOPE_LEN`] or with a character outside RFC 6749 §3.3's
/// `scope-token` (a server cannot make the client ask for garbage).
pub(crate) fn insufficient_scope(response: &Response) -> Option<Vec<String>> {
    if !matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        return None;
    }
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| challenge_param(c, "error").as_deref() == Some("insufficient_scope"))
        .find_map(|c| scope_list(&challenge_param(c, "scope")?))
}

fn scope_list(scope: &str) -> Option<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for token in scope.split_ascii_whitespace() {
        // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = token.len() <= MAX_SCOPE_LEN
            && token
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
        if !valid || scopes.len() == MAX_CHALLENGE_SCOPES {
            return None;
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    (!scopes.is_empty()).then_some(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_params_are_found_whole() {
        let challenge = r#"DPoP algs="ES256", error="insufficient_scope", error_scope="x", scope="files:write mail:send""#;
        assert_eq!(
            challenge_param(challenge, "scope").as_deref(),
            Some("files:write mail:send")
        );
        assert_eq!(
            challenge_param(challenge, "error").as_deref(),
            Some("insufficient_scope")
        );
        assert_eq!(
            challenge_param("Bearer scope=a:b", "scope").as_deref(),
            Some("a:b")
        );
        assert_eq!(challenge_param("Bearer realm=\"x\"", "scope"), None);
    }

    fn answer(status: u16, challenges: &[&str]) -> Response {
        let mut builder = http::Response::builder().status(status);
        for c in challenges {
            builder = builder.header("www-authenticate", *c);
        }
        Response::from(builder.body("").unwrap())
    }

    #[test]
    fn only_an_insufficient_scope_refusal_naming_scopes_asks_for_more() {
        let step_up =
            r#"Bearer error="insufficient_scope", scope="files:write files:write mail:send""#;
        assert_eq!(
            insufficient_scope(&answer(403, &[step_up])),
            Some(vec!["files:write".to_owned(), "mail:send".to_owned()])
        );
        assert_eq!(
            insufficient_scope(&answer(401, &["DPoP algs=\"ES256\"", step_up])),
            Some(vec!["files:write".to_owned(), "mail:send".to_owned()])
        );
        // another status, another error, no scope, an empty one, garbage
        assert_eq!(insufficient_scope(&answer(400, &[step_up])), None);
        assert_eq!(
            insufficient_scope(&answer(
                401,
                &[r#"Bearer error="invalid_token", scope="a""#]
            )),
            None
        );
        assert_eq!(
            insufficient_scope(&answer(403, &[r#"Bearer error="insufficient_scope""#])),
            None
        );
        assert_eq!(
            insufficient_scope(&answer(
                403,
                &[r#"Bearer error="insufficient_scope", scope="  ""#]
            )),
            None
        );
        assert_eq!(
            insufficient_scope(&answer(
                403,
                &["Bearer error=\"insufficient_scope\", scope=\"a\\\"b\""]
            )),
            None,
            "a quote is not a scope-token character"
        );
        let many: Vec<String> = (0..=MAX_CHALLENGE_SCOPES)
            .map(|i| format!("s{i}"))
            .collect();
        let many = format!(
            r#"Bearer error="insufficient_scope", scope="{}""#,
            many.join(" ")
        );
        assert_eq!(insufficient_scope(&answer(403, &[&many])), None);
    }
}
