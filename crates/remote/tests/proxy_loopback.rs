//! Review S14 (second pass, V2-2): plain http is allowed only to a loopback
//! host, on the premise that the request never leaves this machine; reqwest
//! sent it to the host `HTTP_PROXY` / `ALL_PROXY` names, in clear text.
//! [`passport_remote::http_client`] (the remote key store's, passport-status's
//! and passport-oidc's client) sends plain http to no proxy, and https
//! still to the environment's proxy (a corporate proxy keeps working). The
//! fetches run in a child process (this binary again) whose environment
//! names the proxy, so that no other test sees the variables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn plain_http_to_loopback_skips_the_proxy_and_https_still_uses_it() {
    // The "proxy": records each request line, answers 502.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in proxy.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            record.lock().unwrap().push(line);
            let _ = s.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let proxy_url = format!("http://127.0.0.1:{port}");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_fetches_through_the_environment",
            "--ignored",
        ])
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("HTTPS_PROXY", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("REQUEST_METHOD")
        .status()
        .unwrap();
    assert!(status.success());
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|line| line.contains("127.0.0.1:9")),
        "a plain-http loopback request went to the proxy: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|line| line.starts_with("CONNECT keys.example:443")),
        "the https request did not go through the environment's proxy: {seen:?}"
    );
}

#[tokio::test]
#[ignore = "run by plain_http_to_loopback_skips_the_proxy_and_https_still_uses_it"]
async fn child_fetches_through_the_environment() {
    let client = passport_remote::http_client(Duration::from_secs(5)).unwrap();
    for url in ["http://127.0.0.1:9/jwks", "https://keys.example/jwks"] {
        let fetched = passport_remote::fetch_jwks(&client, url, 1024).await;
        assert!(fetched.is_err(), "{url}");
    }
}

/// Review S14 v3: `http_client`'s doc says the https proxy is chosen "as
/// reqwest would choose it (hyper-util's matcher)". hyper-util ignores an
/// `HTTPS_PROXY` it cannot parse and falls back to `ALL_PROXY`; the
/// hand-written reading takes the first non-empty variable and makes
/// `http_client` fail, so every RemoteKeys / StatusListSource / OIDC
/// client build fails where reqwest's own reading kept working through
/// `ALL_PROXY`.
#[test]
fn review_s14_v3_an_unparsable_https_proxy_falls_back_to_all_proxy_as_reqwest_does() {
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in proxy.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            record.lock().unwrap().push(line);
            let _ = s.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let proxy_url = format!("http://127.0.0.1:{port}");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "review_s14_v3_child_builds_and_fetches",
            "--ignored",
        ])
        .env("HTTPS_PROXY", "not a proxy url")
        .env("ALL_PROXY", &proxy_url)
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("REQUEST_METHOD")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "http_client refused an environment reqwest's own matcher accepts"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|line| line.starts_with("CONNECT keys.example:443")),
        "the https request did not go through ALL_PROXY: {seen:?}"
    );
}

#[tokio::test]
#[ignore = "run by review_s14_v3_an_unparsable_https_proxy_falls_back_to_all_proxy_as_reqwest_does"]
async fn review_s14_v3_child_builds_and_fetches() {
    let client = passport_remote::http_client(Duration::from_secs(5)).expect("http_client");
    let fetched = passport_remote::fetch_jwks(&client, "https://keys.example/jwks", 1024).await;
    assert!(fetched.is_err());
}
