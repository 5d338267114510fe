//! `htu` normalisation (RFC 9449 §4.3 item 9, RFC 3986 §6.2.2–6.2.3).

use url::Url;

use crate::DpopError;

/// The longest URL echoed back in an error message.
const ECHO_MAX: usize = 64;

/// Normalises an HTTP(S) URI for comparison with a proof's `htu`: the scheme
/// and host are lowercased, a default port (80 for `http`, 443 for `https`)
/// is removed, dot segments are resolved, an empty path becomes `/`, and the
/// query and fragment are dropped (RFC 9449 §4.3 item 9 ignores them).
///
/// ```
/// use passport_dpop::normalize_htu;
/// assert_eq!(
///     normalize_htu("HTTPS://Server.Example.COM:443/token?x=1#f")?,
///     "https://server.example.com/token"
/// );
/// assert_eq!(normalize_htu("http://h.test:8080")?, "http://h.test:8080/");
/// assert!(normalize_htu("/relative/path").is_err());
/// # Ok::<(), passport_dpop::DpopError>(())
/// ```
pub fn normalize_htu(uri: &str) -> Result<String, DpopError> {
    normalize_parsed(parse(uri)?, uri)
}

/// The first step of [`normalize_htu`]: `uri` parsed.
pub(crate) fn parse(uri: &str) -> Result<Url, DpopError> {
    Url::parse(uri).map_err(|_| DpopError::InvalidUrl(echo(uri)))
}

/// The rest of [`normalize_htu`], for `url` parsed from `uri`.
pub(crate) fn normalize_parsed(mut url: Url, uri: &str) -> Result<String, DpopError> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(DpopError::InvalidUrl(echo(uri)));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.into())
}

fn echo(uri: &str) -> String {
    if uri.len() <= ECHO_MAX {
        return uri.to_owned();
    }
    let mut end = ECHO_MAX;
    while !uri.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &uri[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_port_query_fragment_and_dots() {
        for (input, expected) in [
            (
                "HTTPS://Server.Example.COM:443/token?x=1#f",
                "https://server.example.com/token",
            ),
            ("http://h.test:80", "http://h.test/"),
            ("https://h.test:8443/a/./b/../c", "https://h.test:8443/a/c"),
            ("https://h.test/X", "https://h.test/X"),
            ("https://h.test/%7euser", "https://h.test/%7euser"),
        ] {
            assert_eq!(normalize_htu(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn refuses_non_http_and_relative() {
        for input in [
            "",
            "/token",
            "ftp://h.test/x",
            "mailto:a@b.test",
            "file:///etc/passwd",
            "https://",
            "data:text/plain,hi",
        ] {
            assert_eq!(
                normalize_htu(input).unwrap_err().code(),
                "invalid_url",
                "{input}"
            );
        }
    }

    #[test]
    fn scheme_and_path_case_still_matter() {
        assert_ne!(
            normalize_htu("http://h.test/x").unwrap(),
            normalize_htu("https://h.test/x").unwrap()
        );
        assert_ne!(
            normalize_htu("https://h.test/x").unwrap(),
            normalize_htu("https://h.test/X").unwrap()
        );
    }

    #[test]
    fn long_urls_are_truncated_in_errors() {
        let long = format!("ftp://{}", "a".repeat(10_000));
        let DpopError::InvalidUrl(echoed) = normalize_htu(&long).unwrap_err() else {
            panic!("wrong error");
        };
        assert!(echoed.len() < 100);
    }
}
