//! Requests are bounded in time: a client that never finishes its request
//! is answered 408 and its connection closed, instead of holding a task
//! for ever (slowloris).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::endpoints::start_with;

#[tokio::test]
async fn a_request_whose_body_never_ends_is_answered_408() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.request_timeout(Duration::from_millis(300))
    })
    .await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // 100 bytes announced, 13 sent, and then nothing
    stream
        .write_all(
            format!(
                "POST /token HTTP/1.1\r\nHost: {addr}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: 100\r\n\r\ngrant_type=cl"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    // the server answers and closes; the test's own bound is generous
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answered within its request timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn a_request_in_time_is_not_cut_short() {
    let s = start_with(tempfile::tempdir().unwrap(), |b| {
        b.request_timeout(Duration::from_secs(5))
    })
    .await;
    let r = reqwest::get(format!("{}/.well-known/oauth-authorization-server", s.url))
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
}
