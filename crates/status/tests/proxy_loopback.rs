//! V2-2 (R3-3's premise): "plain http only on a loopback host" assumes the
//! request stays on this machine. reqwest reads HTTP_PROXY / ALL_PROXY from
//! the environment and sends http:// requests to loopback through that
//! proxy too (hyper-util's matcher has no loopback exception), so a
//! loopback issuer's status list (and, by the same client settings,
//! passport-remote's keys) travels in clear text to whatever host the proxy
//! variable names. The fetch runs in a child process (this binary again)
//! whose environment names the proxy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use passport_status::StatusListSource;
use passport_testkit::Kit;

const ISS: &str = "http://127.0.0.1:8080";

#[test]
fn v2_2_a_loopback_status_list_is_never_sent_through_an_http_proxy() {
    // The "proxy": counts connections, answers 502.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in proxy.incoming() {
            let Ok(mut s) = stream else { return };
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            eprintln!(
                "proxy got: {}",
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or("")
            );
            let _ = s.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_fetches_a_loopback_list",
            "--ignored",
            "--nocapture",
        ])
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
        .env("http_proxy", format!("http://127.0.0.1:{port}"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the plain-http 'loopback' status list request went to the HTTP_PROXY host"
    );
}

#[tokio::test]
#[ignore = "run by v2_2_a_loopback_status_list_is_never_sent_through_an_http_proxy"]
async fn child_fetches_a_loopback_list() {
    let kit = Kit::for_issuer(ISS);
    let source = StatusListSource::new(kit.key_store())
        .trust_issuer(ISS, "http://127.0.0.1:9/status")
        .expect("a loopback issuer's loopback base passes check_status_url");
    let result = source
        .ensure_fresh(ISS, "http://127.0.0.1:9/status/1")
        .await;
    eprintln!("child: {:?}", result.err().map(|e| e.to_string()));
}
