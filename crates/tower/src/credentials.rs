//! The credentials of a request: the one `Authorization` header (RFC 9110
//! §11.4, RFC 6750 §2.1, RFC 9449 §7.1), parsed strictly.

use http::{HeaderMap, header};

use crate::AuthError;

/// The `Authorization` scheme a passport was presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Bearer` (RFC 6750): an unbound passport.
    Bearer,
    /// `DPoP` (RFC 9449): a passport bound to a key, with a proof by it.
    Dpop,
}

impl Scheme {
    /// `"Bearer"` or `"DPoP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => "DPoP",
        }
    }
}

/// The `DPoP` request header.
pub(crate) static DPOP: header::HeaderName = header::HeaderName::from_static("dpop");

/// The scheme and token of the one `Authorization` header.
pub(crate) fn credentials(
    headers: &HeaderMap,
    max_len: usize,
    dpop_enabled: bool,
) -> Result<(Scheme, &str), AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingCredentials);
    };
    if values.next().is_some() {
        return Err(AuthError::MultipleAuthorizationHeaders);
    }
    if value.len() > max_len {
        return Err(AuthError::TokenTooLarge {
            len: value.len(),
            max: max_len,
        });
    }
    // One pass over the bytes (a bundle is kilobytes): the token68 check
    // also proves the token is ASCII.
    let text = value.as_bytes().trim_ascii();
    if text.is_empty() {
        return Err(AuthError::MalformedAuthorization("empty"));
    }
    // credentials = auth-scheme [ 1*SP token68 ]  (RFC 9110 §11.4)
    let (scheme, rest) = match text.iter().position(|&b| b == b' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, &[][..]),
    };
    if scheme.is_empty() || !scheme.iter().all(|&b| TCHAR[usize::from(b)]) {
        return Err(AuthError::MalformedAuthorization("scheme is not a token"));
    }
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") && dpop_enabled {
        Scheme::Dpop
    } else {
        return Err(AuthError::UnsupportedScheme);
    };
    let token = trim_start_spaces(rest);
    if token.is_empty() {
        return Err(AuthError::MalformedAuthorization("no token"));
    }
    if !is_token68(token) {
        return Err(AuthError::MalformedAuthorization("token is not token68"));
    }
    let token = std::str::from_utf8(token)
        .map_err(|_| AuthError::MalformedAuthorization("not visible ASCII"))?;
    Ok((scheme, token))
}

fn trim_start_spaces(mut bytes: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// A byte-class table: `table[b]` is true for the bytes of `class`, and
/// for ASCII letters and digits.
const fn table(class: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < class.len() {
        t[class[i] as usize] = true;
        i += 1;
    }
    t
}

/// RFC 9110 §5.6.2 `tchar`.
static TCHAR: [bool; 256] = table(b"!#$%&'*+-.^_`|~");

/// The non-`=` characters of RFC 9110 §11.2 `token68`, as comparisons
/// rather than a table lookup, so the check of a whole chunk vectorises.
#[inline]
fn token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// RFC 9110 §11.2 `token68`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(token: &[u8]) -> bool {
    let mut end = token.len();
    while end > 0 && token[end - 1] == b'=' {
        end -= 1;
    }
    // A bundle is kilobytes: each chunk is checked without a branch per
    // byte, and the first bad chunk ends the check.
    end > 0
        && token[..end]
            .chunks(64)
            .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & token68_char(b)))
}
#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn token68() {
        assert!(is_token68(b"abc.def~ghi-_+/"));
        assert!(is_token68(b"abc=="));
        assert!(!is_token68(b"="));
        assert!(!is_token68(b"a=b"));
        assert!(!is_token68(b"a b"));
        assert!(!is_token68(b"a,b"));
        assert!(!is_token68(b"a\xffb"));
        assert!(!is_token68(b""));
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(token68_char(b), expected, "{b:#04x}");
            assert_eq!(is_token68(&[b; 100]), expected, "{b:#04x}");
        }
        let mut long = vec![b'a'; 4000];
        assert!(is_token68(&long));
        long[3999] = b' ';
        assert!(!is_token68(&long));
        assert!(TCHAR[usize::from(b'!')] && !TCHAR[usize::from(b'"')] && !TCHAR[0x80]);
    }

    #[test]
    fn credentials_parse() {
        let parse = |value: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap_or(HeaderValue::from_static("x")),
            );
            credentials(&headers, 1024, true)
                .map(|(scheme, token)| (scheme, token.to_owned()))
                .map_err(|e| e.code())
        };
        assert_eq!(
            parse(b"bearer  a.b~c"),
            Ok((Scheme::Bearer, "a.b~c".to_owned()))
        );
        assert_eq!(parse(b" DPOP x= "), Ok((Scheme::Dpop, "x=".to_owned())));
        assert_eq!(parse(b"Basic x"), Err("unsupported_scheme"));
        assert_eq!(parse(b"Bearer"), Err("malformed_authorization"));
        assert_eq!(parse(b"\tBearer\t"), Err("malformed_authorization"));
        assert_eq!(parse(b"Bearer \xc3\xa9"), Err("malformed_authorization"));
        assert_eq!(parse(b"\xc3\xa9 x"), Err("malformed_authorization"));
        assert_eq!(parse(&[b'A'; 2000]), Err("token_too_large"));
        assert_eq!(
            credentials(&HeaderMap::new(), 10, true)
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("missing_credentials")
        );
    }
}
