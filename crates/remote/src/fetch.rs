//! One-shot fetching: a bounded GET, a JWKS, issuer metadata, URL rules and
//! cache headers. [`crate::RemoteKeys`] and `passport verify --jwks URL` use
//! the same code.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use passport_jose::JwkSet;
use reqwest::header::{AGE, CACHE_CONTROL, HeaderMap};
use serde_json::Value;

use crate::RemoteError;
use crate::error::truncate;

/// The default cap on a JWKS or metadata response, in bytes (1 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The RFC 8414 well-known suffix.
pub const OAUTH_METADATA_SUFFIX: &str = "/.well-known/oauth-authorization-server";

/// The OpenID Connect Discovery 1.0 well-known suffix.
pub const OPENID_METADATA_SUFFIX: &str = "/.well-known/openid-configuration";

/// An HTTP client for fetching what an issuer publishes (keys, metadata,
/// status lists; passport-status and passport-oidc use it too): the given
/// timeout for connecting and for the whole request, and no redirects
/// followed (every request stays on the configured origin).
///
/// Proxies: an https request goes through the proxy the environment names
/// for it, chosen as reqwest would choose it (hyper-util 0.1's matcher):
/// the first of `HTTPS_PROXY` / `https_proxy` that is set, if it is a proxy
/// URL the matcher accepts (an http, https or socks scheme, or none, and a
/// host), else the first of `ALL_PROXY` / `all_proxy` that is set, on the
/// same condition, else none; `NO_PROXY` honoured; none in a CGI process,
/// where `REQUEST_METHOD` is set. A plain-http request never goes through a
/// proxy: plain http is allowed only to a loopback host
/// ([`check_endpoint`]), on the premise that the request never leaves this
/// machine, and reqwest would send it to `HTTP_PROXY` / `ALL_PROXY`, which
/// may name another host, in clear text.
///
/// # Errors
///
/// [`RemoteError::Config`] when the client cannot be built, when the proxy
/// chosen is a socks proxy (this build has no socks support: reqwest would
/// send an HTTP `CONNECT` to it), or when reqwest refuses the proxy chosen.
/// The message names the variable, never its value, which may hold a
/// password (review S14: reqwest's own error quotes the URL).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, RemoteError> {
    let config = |what: String| RemoteError::Config(format!("HTTP client: {what}"));
    // Replaces reqwest's own proxies from the environment, which apply to
    // plain http too.
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some((name, url)) = https_proxy_from_env() {
        // by the scheme the matcher read (`socks-gw.example:3128` is an
        // http proxy without a scheme)
        let socks = url.parse::<http::Uri>().ok().is_some_and(|uri| {
            matches!(
                uri.scheme_str(),
                Some("socks4" | "socks4a" | "socks5" | "socks5h")
            )
        });
        if socks {
            return Err(config(format!(
                "{name} names a socks proxy, which this build does not support"
            )));
        }
        let proxy = reqwest::Proxy::https(url.as_str())
            .map_err(|_| {
                config(format!(
                    "{name} is not a proxy URL reqwest can use (its value is not shown: \
                     it may hold a password)"
                ))
            })?
            .no_proxy(reqwest::NoProxy::from_env());
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| config(e.without_url().to_string()))
}

/// The proxy the environment names for https requests, with the variable
/// that named it: what reqwest (hyper-util 0.1's `Matcher::from_env`)
/// chooses for them.
fn https_proxy_from_env() -> Option<(&'static str, String)> {
    // A CGI request's headers become variables (`Proxy:` as HTTP_PROXY,
    // "httpoxy"): the matcher trusts none of them there.
    if std::env::var_os("REQUEST_METHOD").is_some() {
        return None;
    }
    // The matcher takes the first variable of a pair that is set (empty
    // included), and skips a value it cannot use.
    let first_set = |names: [&'static str; 2]| {
        names
            .into_iter()
            .find_map(|name| std::env::var(name).ok().map(|value| (name, value)))
            .filter(|(_, value)| is_usable_proxy(value))
    };
    first_set(["HTTPS_PROXY", "https_proxy"]).or_else(|| first_set(["ALL_PROXY", "all_proxy"]))
}

/// Whether hyper-util's matcher uses `value` as a proxy (its
/// `parse_env_uri`): a URI with an http, https or socks scheme, or none,
/// and an authority that rebuilds without its user information.
fn is_usable_proxy(value: &str) -> bool {
    use http::uri::Scheme;
    let Ok(uri) = value.parse::<http::Uri>() else {
        return false;
    };
    let scheme = match uri.scheme() {
        Some(s) if s == &Scheme::HTTP || s == &Scheme::HTTPS => s.clone(),
        Some(s) if matches!(s.as_str(), "socks4" | "socks4a" | "socks5" | "socks5h") => s.clone(),
        Some(_) => return false,
        None => Scheme::HTTP,
    };
    let Some(authority) = uri.authority() else {
        return false;
    };
    let host_port = authority
        .as_str()
        .split_once('@')
        .map_or(authority.as_str(), |(_, host_port)| host_port);
    http::Uri::builder()
        .scheme(scheme)
        .authority(host_port)
        .path_and_query("/")
        .build()
        .is_ok()
}

/// A JWKS as fetched: the parsed keys, the body as it arrived, and how long
/// the server said it may be cached.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchedJwks {
    /// The keys (unusable keys skipped, see [`JwkSet::skipped`]).
    pub keys: JwkSet,
    /// The response body.
    pub body: Vec<u8>,
    /// The cache lifetime the response allows.
    pub cache: CacheLifetime,
}

/// The cache lifetime a response allows, from `Cache-Control` and `Age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheLifetime {
    /// No usable header: the store's default TTL applies.
    Unspecified,
    /// `no-store` or `no-cache`: the store's minimum TTL applies.
    DoNotCache,
    /// `max-age` minus `Age`.
    MaxAge(Duration),
}

impl CacheLifetime {
    /// Reads `Cache-Control` (`no-store`, `no-cache`, `max-age`) and `Age`.
    pub fn from_headers(headers: &HeaderMap) -> CacheLifetime {
        let mut max_age = None;
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',') {
                let directive = directive.trim();
                let (name, arg) = match directive.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive, None),
                };
                if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                    return CacheLifetime::DoNotCache;
                }
                if name.eq_ignore_ascii_case("max-age")
                    && let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok())
                {
                    // RFC 9111 §4.2.1: with several, the first one counts.
                    max_age.get_or_insert(secs);
                }
            }
        }
        let Some(max_age) = max_age else {
            return CacheLifetime::Unspecified;
        };
        let age = headers
            .get(AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        CacheLifetime::MaxAge(Duration::from_secs(max_age.saturating_sub(age)))
    }

    /// The TTL to use: the server's lifetime clamped to `[min, max]`,
    /// `default` (clamped too) when the server said nothing, `min` for
    /// `no-store`/`no-cache`.
    pub fn ttl(self, min: Duration, max: Duration, default: Duration) -> Duration {
        let wanted = match self {
            CacheLifetime::Unspecified => default,
            CacheLifetime::DoNotCache => min,
            CacheLifetime::MaxAge(age) => age,
        };
        wanted.clamp(min, max.max(min))
    }
}

/// GETs `url` and returns its body and headers, refusing redirects, non-2xx
/// answers and bodies over `max_bytes` (checked against `Content-Length`
/// first, then while reading).
pub async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> Result<(Vec<u8>, HeaderMap), RemoteError> {
    let transport = |e: reqwest::Error| RemoteError::Transport {
        url: truncate(url),
        reason: e.without_url().to_string(),
    };
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    // A client that follows redirects (one passed in by the application)
    // still cannot take us elsewhere: the final URL must be the one asked.
    if status.is_redirection() || response.url().as_str() != url_normalised(url) {
        return Err(RemoteError::Redirected {
            url: truncate(url),
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(RemoteError::HttpStatus {
            url: truncate(url),
            status: status.as_u16(),
        });
    }
    let headers = response.headers().clone();
    let body = read_bounded(response, max_bytes).await?;
    Ok((body, headers))
}

/// Reads a response body of at most `max_bytes` (checked against
/// `Content-Length` first, then while reading). Errors name the response's
/// URL.
pub async fn read_bounded(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, RemoteError> {
    let url = truncate(response.url().as_str());
    let too_large = || RemoteError::TooLarge {
        url: url.clone(),
        limit: max_bytes,
    };
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| RemoteError::Transport {
        url: url.clone(),
        reason: e.without_url().to_string(),
    })? {
        if body.len().saturating_add(chunk.len()) > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `url` as reqwest prints it after parsing (a bare host gains its `/`).
fn url_normalised(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_owned(), String::from)
}

/// Fetches and parses a JWKS: one bounded GET (see [`get_bounded`]), then
/// [`JwkSet::from_json`] (strict JSON, at most
/// [`passport_jose::MAX_JWKS_KEYS`] keys, weak keys refused, the whole set
/// refused when one key is bad). An empty set is returned as such: the
/// caller decides whether that is an error.
///
/// ```no_run
/// # async fn run() -> Result<(), passport_remote::RemoteError> {
/// use std::time::Duration;
/// let client = passport_remote::http_client(Duration::from_secs(10))?;
/// let fetched = passport_remote::fetch_jwks(
///     &client,
///     "https://issuer.example/jwks.json",
///     passport_remote::DEFAULT_MAX_RESPONSE_BYTES,
/// )
/// .await?;
/// println!("{} keys", fetched.keys.len());
/// # Ok(()) }
/// ```
pub async fn fetch_jwks(
    client: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> Result<FetchedJwks, RemoteError> {
    let started = Instant::now();
    let (body, headers) = get_bounded(client, url, max_bytes).await?;
    let keys = JwkSet::from_json(&body).map_err(|source| RemoteError::InvalidJwks {
        url: truncate(url),
        source,
    })?;
    tracing::debug!(
        url,
        keys = keys.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "fetched a JWKS"
    );
    Ok(FetchedJwks {
        keys,
        body,
        cache: CacheLifetime::from_headers(&headers),
    })
}

/// The two metadata URLs of `issuer`, in the order they are tried: RFC 8414
/// §3.1 (the well-known segment inserted between the host and the issuer's
/// path), then OpenID Connect Discovery 1.0 §4 (appended to the issuer).
///
/// ```
/// let [oauth, openid] = passport_remote::metadata_urls("https://as.example/tenant")?;
/// assert_eq!(oauth, "https://as.example/.well-known/oauth-authorization-server/tenant");
/// assert_eq!(openid, "https://as.example/tenant/.well-known/openid-configuration");
/// # Ok::<(), passport_remote::RemoteError>(())
/// ```
pub fn metadata_urls(issuer: &str) -> Result<[String; 2], RemoteError> {
    let url = url::Url::parse(issuer).map_err(|e| {
        RemoteError::Config(format!("issuer {:?} is not a URL: {e}", truncate(issuer)))
    })?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !matches!(url.scheme(), "http" | "https")
    {
        return Err(RemoteError::Config(format!(
            "issuer {:?} must be an http(s) URL without query or fragment (RFC 8414 §2)",
            truncate(issuer)
        )));
    }
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    Ok([
        format!("{origin}{OAUTH_METADATA_SUFFIX}{path}"),
        format!("{}{OPENID_METADATA_SUFFIX}", issuer.trim_end_matches('/')),
    ])
}

/// Checks that `endpoint` may serve keys or metadata for `issuer`: an
/// absolute http(s) URL, and https unless the issuer is plain http and the
/// endpoint too is on a loopback host (a plain-http JWKS lets anyone on the
/// path choose the keys tokens are checked with; a development issuer on
/// this machine serves its keys from this machine too). passport-oidc
/// applies the same rule to every endpoint of its provider.
pub fn check_endpoint(issuer: &str, endpoint: &str) -> Result<(), RemoteError> {
    let insecure = |reason| RemoteError::InsecureUrl {
        url: truncate(endpoint),
        reason,
    };
    let url = url::Url::parse(endpoint).map_err(|_| insecure("not a URL"))?;
    // The scheme as a URL parser reads it (case-insensitive, surrounding
    // blanks trimmed): `HTTPS://as.example` is an https issuer too. An
    // issuer that does not parse gets the strict rule.
    let https_issuer = url::Url::parse(issuer).map_or(true, |i| i.scheme() != "http");
    match url.scheme() {
        "https" => Ok(()),
        "http" if !https_issuer && is_loopback(&url) => Ok(()),
        "http" if !https_issuer => Err(insecure("plain http off a loopback host")),
        "http" => Err(insecure("plain http while the issuer is https")),
        _ => Err(insecure("not an http(s) URL")),
    }
}

/// Checks that a trusted issuer is https, or plain http on a loopback host
/// (a development issuer on this machine).
///
/// ```
/// assert!(passport_remote::check_issuer("http://127.0.0.1:8080").is_ok());
/// assert_eq!(
///     passport_remote::check_issuer("http://as.example").unwrap_err().code(),
///     "insecure_url"
/// );
/// ```
pub fn check_issuer(issuer: &str) -> Result<(), RemoteError> {
    let url = url::Url::parse(issuer).map_err(|e| {
        RemoteError::Config(format!("issuer {:?} is not a URL: {e}", truncate(issuer)))
    })?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(RemoteError::InsecureUrl {
            url: truncate(issuer),
            reason: "a plain-http issuer must be on a loopback host",
        }),
        _ => Err(RemoteError::InsecureUrl {
            url: truncate(issuer),
            reason: "not an http(s) URL",
        }),
    }
}

/// Whether `url`'s host is `localhost` or a loopback IP literal.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Discovers `issuer`'s `jwks_uri`: RFC 8414 metadata first, OpenID
/// discovery when that answers with an HTTP error. The document's `issuer`
/// must equal `issuer` exactly, and its `jwks_uri` pass [`check_endpoint`].
pub async fn discover_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    max_bytes: usize,
) -> Result<String, RemoteError> {
    let (url, doc) = discover_metadata(client, issuer, max_bytes).await?;
    jwks_uri_of(doc, &url, issuer)
}

/// Fetches `issuer`'s metadata document: RFC 8414 first, OpenID discovery
/// when that answers with an HTTP error (see [`metadata_urls`]). Returns the
/// URL it came from and the document, a JSON object (no duplicate members)
/// whose `issuer` equals `issuer` exactly (RFC 8414 §3.3: a document naming
/// another issuer is refused with [`RemoteError::IssuerMismatch`]). Each
/// endpoint read from it must still pass [`check_endpoint`].
///
/// ```no_run
/// # async fn run() -> Result<(), passport_remote::RemoteError> {
/// use std::time::Duration;
/// let client = passport_remote::http_client(Duration::from_secs(10))?;
/// let (_url, metadata) = passport_remote::discover_metadata(
///     &client,
///     "https://as.example",
///     passport_remote::DEFAULT_MAX_RESPONSE_BYTES,
/// )
/// .await?;
/// println!("token endpoint: {:?}", metadata.get("token_endpoint"));
/// # Ok(()) }
/// ```
pub async fn discover_metadata(
    client: &reqwest::Client,
    issuer: &str,
    max_bytes: usize,
) -> Result<(String, serde_json::Map<String, Value>), RemoteError> {
    let urls = metadata_urls(issuer)?;
    let mut last = None;
    for url in urls {
        match get_bounded(client, &url, max_bytes).await {
            Ok((body, _)) => {
                let doc = metadata_of(&body, &url, issuer)?;
                return Ok((url, doc));
            }
            // Not served here: try the other well-known location.
            Err(e @ RemoteError::HttpStatus { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(RemoteError::Discovery {
        issuer: truncate(issuer),
        reason: match last {
            Some(e) => format!("neither RFC 8414 nor OpenID metadata is served ({e})"),
            None => "no metadata URL".into(),
        },
    })
}

/// Parses a metadata document and checks that it names `issuer`.
fn metadata_of(
    body: &[u8],
    url: &str,
    issuer: &str,
) -> Result<serde_json::Map<String, Value>, RemoteError> {
    let discovery = |reason: String| RemoteError::Discovery {
        issuer: truncate(issuer),
        reason,
    };
    let doc = passport_jose::json::parse_object(body, "metadata")
        .map_err(|e| discovery(format!("{url}: {e}")))?;
    let Some(Value::String(found)) = doc.get("issuer") else {
        return Err(discovery(format!("{url}: no `issuer` string")));
    };
    if found != issuer {
        return Err(RemoteError::IssuerMismatch {
            url: truncate(url),
            expected: issuer.to_owned(),
            found: truncate(found),
        });
    }
    Ok(doc)
}

fn jwks_uri_of(
    mut doc: serde_json::Map<String, Value>,
    url: &str,
    issuer: &str,
) -> Result<String, RemoteError> {
    let Some(Value::String(jwks_uri)) = doc.remove("jwks_uri") else {
        return Err(RemoteError::Discovery {
            issuer: truncate(issuer),
            reason: format!("{url}: no `jwks_uri` string"),
        });
    };
    check_endpoint(issuer, &jwks_uri)?;
    Ok(jwks_uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cache_control_is_read_and_clamped() {
        let (min, max, default) = (
            Duration::from_secs(60),
            Duration::from_secs(3600),
            Duration::from_secs(300),
        );
        let ttl = |h: &[(&'static str, &'static str)]| {
            CacheLifetime::from_headers(&headers(h)).ttl(min, max, default)
        };
        assert_eq!(ttl(&[]), default);
        assert_eq!(
            ttl(&[("cache-control", "public, max-age=600")]),
            Duration::from_secs(600)
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=600"), ("age", "100")]),
            Duration::from_secs(500)
        );
        assert_eq!(ttl(&[("cache-control", "max-age=5")]), min);
        assert_eq!(ttl(&[("cache-control", "max-age=999999")]), max);
        assert_eq!(ttl(&[("cache-control", "max-age=600, no-cache")]), min);
        assert_eq!(ttl(&[("cache-control", "no-store")]), min);
        assert_eq!(ttl(&[("cache-control", "max-age=junk")]), default);
    }

    #[test]
    fn metadata_urls_insert_the_well_known_segment_before_the_path() {
        let [a, b] = metadata_urls("https://as.example").unwrap();
        assert_eq!(
            a,
            "https://as.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(b, "https://as.example/.well-known/openid-configuration");
        let [a, _] = metadata_urls("https://as.example:8443/t/1/").unwrap();
        assert_eq!(
            a,
            "https://as.example:8443/.well-known/oauth-authorization-server/t/1"
        );
        assert_eq!(
            metadata_urls("https://as.example/?x=1").unwrap_err().code(),
            "remote_config"
        );
    }

    #[test]
    fn endpoints_of_an_https_issuer_are_https() {
        let i = "https://as.example";
        assert!(check_endpoint(i, "https://keys.example/jwks").is_ok());
        assert_eq!(
            check_endpoint(i, "http://keys.example/jwks")
                .unwrap_err()
                .code(),
            "insecure_url"
        );
        assert_eq!(
            check_endpoint(i, "ftp://keys.example/jwks")
                .unwrap_err()
                .code(),
            "insecure_url"
        );
        assert!(check_endpoint("http://127.0.0.1:1", "http://127.0.0.1:1/jwks").is_ok());
        assert!(check_endpoint("http://localhost:1", "http://[::1]:2/jwks").is_ok());
        // a development issuer's keys come from this machine too: plain
        // http elsewhere lets anyone on the path choose them (final review,
        // finding 7)
        for remote in ["http://keys.example/jwks", "http://10.0.0.1/jwks"] {
            assert_eq!(
                check_endpoint("http://127.0.0.1:1", remote)
                    .unwrap_err()
                    .code(),
                "insecure_url",
                "{remote}"
            );
        }
    }

    #[test]
    fn discovered_jwks_uris_follow_the_issuers_scheme_and_name() {
        let doc = |issuer: &str, jwks: &str| {
            serde_json::json!({"issuer": issuer, "jwks_uri": jwks}).to_string()
        };
        let jwks_uri_of = |body: &[u8], url: &str, issuer: &str| {
            jwks_uri_of(metadata_of(body, url, issuer)?, url, issuer)
        };
        let i = "https://as.example";
        let ok = jwks_uri_of(doc(i, "https://as.example/jwks").as_bytes(), "m", i).unwrap();
        assert_eq!(ok, "https://as.example/jwks");
        let err = jwks_uri_of(doc(i, "http://as.example/jwks").as_bytes(), "m", i).unwrap_err();
        assert_eq!(err.code(), "insecure_url");
        let err = jwks_uri_of(
            doc("https://evil.example", "https://as.example/jwks").as_bytes(),
            "m",
            i,
        )
        .unwrap_err();
        assert_eq!(err.code(), "issuer_mismatch");
        let err = jwks_uri_of(br#"{"issuer": "https://as.example"}"#, "m", i).unwrap_err();
        assert_eq!(err.code(), "discovery_failed");
        let dup = br#"{"issuer": "https://as.example", "issuer": "https://as.example", "jwks_uri": "https://as.example/j"}"#;
        assert_eq!(
            jwks_uri_of(dup, "m", i).unwrap_err().code(),
            "discovery_failed"
        );
    }

    #[test]
    fn a_plain_http_issuer_must_be_loopback() {
        assert!(check_issuer("http://127.0.0.1:8080").is_ok());
        assert!(check_issuer("http://[::1]:8080").is_ok());
        assert!(check_issuer("http://localhost").is_ok());
        assert!(check_issuer("https://as.example").is_ok());
        assert_eq!(
            check_issuer("http://as.example").unwrap_err().code(),
            "insecure_url"
        );
    }
}
