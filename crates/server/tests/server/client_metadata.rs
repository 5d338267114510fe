use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passport_claims::ManualClock;
use passport_server::client_metadata::{
    ClientIdUrl, ClientMetadataDocument, ClientMetadataError, ClientMetadataFetcher, DocumentAuth,
    FetchPolicy, Resolver, is_public,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The address of the requests that name the clients.
const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));

/// A resolver answering from a script, counting calls; it never touches DNS.
struct Fake {
    answers: Mutex<Vec<Vec<IpAddr>>>,
    calls: AtomicUsize,
    hang: bool,
}

impl Fake {
    fn new(answers: &[&[&str]]) -> Arc<Fake> {
        let answers = answers
            .iter()
            .rev()
            .map(|a| a.iter().map(|s| s.parse().unwrap()).collect())
            .collect();
        Arc::new(Fake {
            answers: Mutex::new(answers),
            calls: AtomicUsize::new(0),
            hang: false,
        })
    }
}

impl Resolver for Fake {
    fn resolve<'a>(
        &'a self,
        _host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let hang = self.hang;
        let answer = self.answers.lock().unwrap().pop();
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            answer.ok_or_else(|| std::io::Error::other("NXDOMAIN"))
        })
    }
}

/// A loopback HTTP server answering every request with `response(port)`;
/// counts requests.
async fn serve_with(response: impl FnOnce(u16) -> String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let response = response(port);
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (port, hits)
}

fn http_response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

fn doc(client_id: &str) -> serde_json::Value {
    json!({
        "client_id": client_id,
        "client_name": "Test client",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
    })
}

fn fetcher(resolver: Arc<Fake>, clock: Arc<ManualClock>) -> ClientMetadataFetcher {
    ClientMetadataFetcher::new(resolver, clock)
}

#[test]
fn url_rules() {
    let code = |u: &str| ClientIdUrl::parse(u, false).unwrap_err().code();
    for bad in [
        "http://app.example/client.json",
        "http://127.0.0.1/client.json",
        "ftp://app.example/client.json",
        "https://app.example",
        "https://app.example/",
        "https://user:pw@app.example/c.json",
        "https://user@app.example/c.json",
        "https://app.example/c.json#x",
        "https://app.example/a/../c.json",
        "https://app.example/./c.json",
        "https://app.example/%2e%2e/c.json",
        "https://APP.example/c.json",
        "https://app.example:443/c.json",
        "https://app.example/c json",
        "not a url",
    ] {
        assert_eq!(code(bad), "client_id_url_invalid", "{bad}");
    }
    assert!(ClientIdUrl::parse("https://app.example/c.json", false).is_ok());
    assert!(ClientIdUrl::parse("https://app.example:8443/c.json?v=1", false).is_ok());
    // test mode: loopback http only
    assert!(ClientIdUrl::parse("http://127.0.0.1:9/c.json", true).is_ok());
    assert!(ClientIdUrl::parse("http://localhost:9/c.json", true).is_ok());
}

#[test]
fn address_ranges() {
    for private in [
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.1",
        "127.8.8.8",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "febf::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "2001::1",
        "2001:0:4136::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "2002:c0a8:0101::1",
        "::127.0.0.1",
        "100::1",
        "fec0::1",
    ] {
        assert!(
            !is_public(private.parse().unwrap()),
            "{private} must be refused"
        );
    }
    for public in [
        "1.1.1.1",
        "8.8.8.8",
        "93.184.215.14",
        "100.63.255.255",
        "100.128.0.1",
        "172.15.0.1",
        "172.32.0.1",
        "192.169.0.1",
        "2606:4700::1111",
        "2a00:1450:4001::1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:0808:0808::1",
    ] {
        assert!(
            is_public(public.parse().unwrap()),
            "{public} must be allowed"
        );
    }
}

#[tokio::test]
async fn private_addresses_refused_before_any_connection() {
    let clock = Arc::new(ManualClock::new(1_000));
    for answer in [
        &["10.0.0.5"][..],
        &["127.0.0.1"],
        &["169.254.169.254"],
        &["100.64.1.1"],
        &["fd00::1"],
        &["::ffff:192.168.0.1"],
        // one bad address among good ones is enough
        &["93.184.215.14", "192.168.0.10"],
    ] {
        let resolver = Fake::new(&[answer]);
        let err = fetcher(resolver.clone(), clock.clone())
            .fetch("https://client.example/meta.json", PEER)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientMetadataError::ForbiddenAddress(_)),
            "{answer:?}: {err:?}"
        );
        assert_eq!(err.code(), "client_id_address_forbidden");
        assert_eq!(err.oauth().error, "invalid_client");
        assert_eq!(resolver.calls.load(Ordering::SeqCst), 1);
    }
    // IP literals are checked without the resolver
    for url in [
        "https://10.0.0.1/meta.json",
        "https://[::1]/meta.json",
        "https://169.254.169.254/latest",
    ] {
        let resolver = Fake::new(&[]);
        let err = fetcher(resolver.clone(), clock.clone())
            .fetch(url, PEER)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "client_id_address_forbidden", "{url}");
        assert_eq!(resolver.calls.load(Ordering::SeqCst), 0);
    }
    // test mode lets loopback through, never private ranges
    let err = fetcher(Fake::new(&[&["192.168.1.1"]]), clock.clone())
        .dangerous_test_mode()
        .fetch("https://client.example/meta.json", PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_id_address_forbidden");
    // test mode: http goes to loopback addresses only, not even public ones
    let err = fetcher(Fake::new(&[&["93.184.215.14"]]), clock.clone())
        .dangerous_test_mode()
        .fetch("http://client.example/meta.json", PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_id_address_forbidden");
    // no answer, or a failing resolver
    let err = fetcher(Fake::new(&[&[]]), clock.clone())
        .fetch("https://c.example/m", PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_id_resolve_failed");
    let err = fetcher(Fake::new(&[]), clock)
        .fetch("https://c.example/m", PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_id_resolve_failed");
}

#[tokio::test]
async fn fetches_from_the_checked_address_only_and_caches() {
    let clock = Arc::new(ManualClock::new(1_000));
    // `client.test` exists nowhere but in the fake resolver, so a successful
    // fetch proves the connection went to the checked address (no second
    // resolution). The resolver's second answer is forbidden: it is asked
    // only once the cached document has expired.
    let (port, hits) = serve_with(|port| {
        let body = doc(&format!("http://client.test:{port}/meta.json")).to_string();
        http_response("200 OK", "cache-control: max-age=120\r\n", &body)
    })
    .await;
    let url = format!("http://client.test:{port}/meta.json");
    let resolver = Fake::new(&[&["127.0.0.1"], &["10.0.0.1"]]);
    let fetcher = fetcher(resolver.clone(), clock.clone()).dangerous_test_mode();

    let fetched = fetcher.fetch(&url, PEER).await.unwrap();
    assert_eq!(fetched.client_id, url);
    assert_eq!(fetched.client_name.as_deref(), Some("Test client"));
    assert_eq!(fetched.redirect_uris, ["http://127.0.0.1/callback"]);
    assert!(matches!(fetched.auth, DocumentAuth::None));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 1);

    clock.advance(100);
    fetcher.fetch(&url, PEER).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1, "served from the cache");
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 1);

    // max-age passed: resolved again, and the rebound name is refused
    // before any connection
    clock.advance(30);
    let err = fetcher.fetch(&url, PEER).await.unwrap_err();
    assert_eq!(err.code(), "client_id_address_forbidden");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_test_mode_http_is_never_fetched() {
    let (port, hits) = serve_with(|_| http_response("200 OK", "", "{}")).await;
    let err = fetcher(Fake::new(&[&["127.0.0.1"]]), Arc::new(ManualClock::new(0)))
        .fetch(&format!("http://127.0.0.1:{port}/meta.json"), PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_id_url_invalid");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

async fn fetch_served(
    response: String,
) -> Result<Arc<ClientMetadataDocument>, ClientMetadataError> {
    let (port, _) = serve_with(|_| response).await;
    let url = format!("http://127.0.0.1:{port}/meta.json");
    fetcher(Fake::new(&[]), Arc::new(ManualClock::new(1_000)))
        .dangerous_test_mode()
        .fetch(&url, PEER)
        .await
}

#[tokio::test]
async fn bounded_no_redirects_no_errors_accepted() {
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(6 * 1024));
    let err = fetch_served(http_response("200 OK", "", &big))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "response_too_large");
    // no content-length: the cap holds while reading
    let chunked = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{big}"
    );
    assert_eq!(
        fetch_served(chunked).await.unwrap_err().code(),
        "response_too_large"
    );
    let redirect = http_response(
        "302 Found",
        "location: http://127.0.0.1:1/meta.json\r\n",
        "",
    );
    assert_eq!(
        fetch_served(redirect).await.unwrap_err().code(),
        "http_redirect"
    );
    let failure = http_response("500 Internal Server Error", "", "{}");
    assert_eq!(
        fetch_served(failure).await.unwrap_err().code(),
        "http_status"
    );
    // a document for another URL
    let other = doc("http://127.0.0.1:1/meta.json").to_string();
    let err = fetch_served(http_response("200 OK", "", &other))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_metadata_client_id_mismatch");
}

#[tokio::test]
async fn slow_resolution_times_out() {
    let resolver = Arc::new(Fake {
        answers: Mutex::new(vec![]),
        calls: AtomicUsize::new(0),
        hang: true,
    });
    let mut policy = FetchPolicy::default();
    policy.timeout = Duration::from_millis(50);
    let err = fetcher(resolver, Arc::new(ManualClock::new(0)))
        .with_policy(policy)
        .fetch("https://slow.example/meta.json", PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_metadata_timeout");
}

#[test]
fn document_rules() {
    let url = ClientIdUrl::parse("https://app.example/client.json", false).unwrap();
    let check =
        |v: serde_json::Value| ClientMetadataDocument::from_json(v.to_string().as_bytes(), &url);
    let base = || doc("https://app.example/client.json");
    check(base()).unwrap();

    let with = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v = base();
        edit(v.as_object_mut().unwrap());
        check(v).unwrap_err().code()
    };
    assert_eq!(
        with(&|d| {
            d.insert(
                "client_id".into(),
                json!("https://app.example/client.json/"),
            );
        }),
        "client_metadata_client_id_mismatch"
    );
    assert_eq!(
        with(&|d| {
            d.remove("client_id");
        }),
        "client_metadata_client_id_mismatch"
    );
    assert_eq!(
        with(&|d| {
            d.remove("redirect_uris");
        }),
        "client_metadata_redirect_uris_invalid"
    );
    assert_eq!(
        with(&|d| {
            d.insert("redirect_uris".into(), json!([]));
        }),
        "client_metadata_redirect_uris_invalid"
    );
    assert_eq!(
        with(&|d| {
            d.insert("redirect_uris".into(), json!(["http://evil.example/cb"]));
        }),
        "client_metadata_redirect_uris_invalid"
    );
    assert_eq!(
        with(&|d| {
            d.insert("redirect_uris".into(), json!(["https://app.example/cb#f"]));
        }),
        "client_metadata_redirect_uris_invalid"
    );
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "tls_client_auth",
    ] {
        assert_eq!(
            with(&|d| {
                d.insert("token_endpoint_auth_method".into(), json!(method));
            }),
            "client_metadata_auth_method_invalid"
        );
    }
    assert_eq!(
        with(&|d| {
            d.insert("client_secret".into(), json!("s3cret"));
        }),
        "client_metadata_secret_present"
    );
    assert_eq!(
        with(&|d| {
            d.insert("client_secret_expires_at".into(), json!(0));
        }),
        "client_metadata_secret_present"
    );
    assert_eq!(
        with(&|d| {
            d.insert(
                "token_endpoint_auth_method".into(),
                json!("private_key_jwt"),
            );
        }),
        "client_metadata_auth_method_invalid"
    );
    assert_eq!(
        with(&|d| {
            d.insert(
                "token_endpoint_auth_method".into(),
                json!("private_key_jwt"),
            );
            d.insert("jwks_uri".into(), json!("http://app.example/jwks"));
        }),
        "client_metadata_auth_method_invalid"
    );
    assert_eq!(
        with(&|d| {
            d.insert("client_name".into(), json!(7));
        }),
        "client_metadata_invalid"
    );
    let dup = br#"{"client_id":"https://app.example/client.json","client_id":"https://evil/","redirect_uris":["https://a.example/cb"]}"#;
    assert_eq!(
        ClientMetadataDocument::from_json(dup, &url)
            .unwrap_err()
            .code(),
        "client_metadata_invalid"
    );

    // private_key_jwt with inline keys or an https jwks_uri
    let key = passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA).unwrap();
    let mut v = base();
    v["token_endpoint_auth_method"] = json!("private_key_jwt");
    v["jwks"] = json!({"keys": [key.public_jwk()]});
    let d = check(v).unwrap();
    assert!(matches!(d.auth, DocumentAuth::Jwks(ref k) if k.get(key.kid()).is_some()));
    let mut v = base();
    v["token_endpoint_auth_method"] = json!("private_key_jwt");
    v["jwks_uri"] = json!("https://app.example/jwks.json");
    assert!(matches!(check(v).unwrap().auth, DocumentAuth::JwksUri(_)));
}

#[tokio::test]
async fn jwks_uri_fetched_under_the_same_rules() {
    let key = passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA).unwrap();
    let jwks = json!({"keys": [key.public_jwk()]}).to_string();
    let (port, hits) = serve_with(|_| http_response("200 OK", "", &jwks)).await;
    let clock = Arc::new(ManualClock::new(0));
    let keys = fetcher(Fake::new(&[&["127.0.0.1"]]), clock.clone())
        .dangerous_test_mode()
        .fetch_jwks(&format!("http://keys.test:{port}/jwks.json"), PEER)
        .await
        .unwrap();
    assert!(keys.get(key.kid()).is_some());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let err = fetcher(Fake::new(&[&["10.1.1.1"]]), clock.clone())
        .fetch_jwks("https://keys.example/jwks.json", PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_id_address_forbidden");
    let (port, _) = serve_with(|_| http_response("200 OK", "", r#"{"keys":[]}"#)).await;
    let err = fetcher(Fake::new(&[]), clock)
        .dangerous_test_mode()
        .fetch_jwks(&format!("http://127.0.0.1:{port}/jwks.json"), PEER)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "client_metadata_auth_method_invalid");
}
