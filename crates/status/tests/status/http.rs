//! Status lists served over HTTP on loopback: fetched on first need,
//! refreshed after `ttl`, and the failure policy when the list cannot be had.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use passport_claims::UnverifiedBundle;
use passport_status::{FailurePolicy, Status, StatusList, StatusListSource};
use passport_testkit::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

#[derive(Clone)]
pub(crate) enum Reply {
    Body(String),
    /// A body with this `Cache-Control` header.
    Cached(String, &'static str),
    Status(u16, &'static str),
}

/// A tiny HTTP/1.1 responder: every request gets the current reply.
pub(crate) struct Server {
    pub(crate) port: u16,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub(crate) async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new(Reply::Status(404, "")));
        let hits = Arc::new(AtomicUsize::new(0));
        let (r, h) = (reply.clone(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                let reply = r.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = match reply {
                        Reply::Body(body) => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/statuslist+jwt\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        Reply::Cached(body, cache_control) => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/statuslist+jwt\r\n\
                             cache-control: {cache_control}\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        Reply::Status(code, location) => format!(
                            "HTTP/1.1 {code} X\r\nlocation: {location}\r\ncontent-length: 0\r\n\
                             connection: close\r\n\r\n"
                        ),
                    };
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Server {
            port,
            reply,
            hits,
            task,
        }
    }

    pub(crate) fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub(crate) fn prefix(&self) -> String {
        format!("http://127.0.0.1:{}/status/", self.port)
    }

    pub(crate) fn uri(&self) -> String {
        format!("{}1", self.prefix())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn source(f: &Fixture, prefix: &str) -> StatusListSource {
    StatusListSource::new(f.key_store())
        .with_clock(f.clock.clone())
        .trust_issuer(&f.iss, prefix)
        .unwrap()
        .http_timeout(Duration::from_secs(5))
}

pub(crate) fn bundle(text: &str) -> UnverifiedBundle {
    UnverifiedBundle::parse(text).unwrap()
}

#[tokio::test]
async fn fetched_on_first_need_and_refreshed_after_its_ttl() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let [root, _, grandchild] = f.chain3();
    server.set(Reply::Body(f.publish())); // ttl 60 s
    let source = Arc::new(source(&f, &server.prefix()));
    let verifier = f.verifier_using(source.clone());

    // Nothing fetched yet: the synchronous check fails closed.
    assert_eq!(
        unavailable_code(&verifier, grandchild.bundle()),
        "status_list_unavailable"
    );
    source.prefetch(&bundle(grandchild.bundle())).await.unwrap();
    assert_eq!(server.hits(), 1, "three links, one list, one fetch");
    verifier.verify_str(grandchild.bundle()).unwrap();

    // Revoked at the issuer; the cached list is still fresh: no refetch.
    f.allocator
        .set_status(root.claims().jti.as_str(), Status::Invalid)
        .unwrap();
    server.set(Reply::Body(f.publish()));
    f.clock.advance(59);
    source.prefetch(&bundle(grandchild.bundle())).await.unwrap();
    assert_eq!(server.hits(), 1);
    verifier.verify_str(grandchild.bundle()).unwrap();

    // Past the ttl the list is stale; the next prefetch fetches it again.
    f.clock.advance(2);
    assert_eq!(
        unavailable_code(&verifier, grandchild.bundle()),
        "status_list_stale"
    );
    source.prefetch(&bundle(grandchild.bundle())).await.unwrap();
    assert_eq!(server.hits(), 2);
    let err = verifier.verify_str(grandchild.bundle()).unwrap_err();
    assert_eq!((err.code(), err.link()), ("revoked", 2));
}

#[tokio::test]
async fn an_unreachable_list_fails_closed_by_default() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let prefix = format!("http://127.0.0.1:{port}/status/");
    let f = Fixture::served(&format!("{prefix}1"));
    let root = f.root(ROOT_SCOPES);
    let source = Arc::new(source(&f, &prefix));
    let err = source.prefetch(&bundle(root.bundle())).await.unwrap_err();
    assert_eq!(err.code(), "status_list_unreachable");
    let verifier = f.verifier_using(source);
    assert_eq!(
        unavailable_code(&verifier, root.bundle()),
        "status_list_unreachable"
    );
}

#[tokio::test]
async fn grace_keeps_the_last_good_list_for_a_bounded_time_only() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    server.set(Reply::Body(f.publish())); // ttl 60 s, exp 1 h
    let closed = Arc::new(source(&f, &server.prefix()));
    let grace = Arc::new(
        source(&f, &server.prefix()).with_policy(FailurePolicy::Grace(Duration::from_secs(120))),
    );
    for s in [&closed, &grace] {
        s.prefetch(&bundle(root.bundle())).await.unwrap();
    }
    let (v_closed, v_grace) = (
        f.verifier_using(closed.clone()),
        f.verifier_using(grace.clone()),
    );

    server.set(Reply::Status(503, ""));
    f.clock.advance(61);
    for s in [&closed, &grace] {
        let err = s.prefetch(&bundle(root.bundle())).await.unwrap_err();
        assert_eq!(err.code(), "status_list_unreachable");
    }
    // Closed by default…
    assert_eq!(
        unavailable_code(&v_closed, root.bundle()),
        "status_list_unreachable"
    );
    // …open within the grace period (refresh time 60 s + 120 s)…
    v_grace.verify_str(root.bundle()).unwrap();
    f.clock.set(NOW + 60 + 120);
    v_grace.verify_str(root.bundle()).unwrap();
    // …and closed after it.
    f.clock.set(NOW + 60 + 121);
    assert_eq!(
        unavailable_code(&v_grace, root.bundle()),
        "status_list_unreachable"
    );

    // The server comes back: the next prefetch (past the retry period) heals both.
    server.set(Reply::Body(f.publish()));
    for s in [&closed, &grace] {
        s.prefetch(&bundle(root.bundle())).await.unwrap();
    }
    v_closed.verify_str(root.bundle()).unwrap();
    v_grace.verify_str(root.bundle()).unwrap();
}

#[tokio::test]
async fn a_failed_fetch_is_not_retried_before_the_retry_period() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let root = f.root(ROOT_SCOPES);
    server.set(Reply::Status(500, ""));
    let source = source(&f, &server.prefix()).retry_after(Duration::from_secs(10));
    for _ in 0..5 {
        assert!(source.prefetch(&bundle(root.bundle())).await.is_err());
    }
    assert_eq!(server.hits(), 1);
    f.clock.advance(10);
    server.set(Reply::Body(f.publish()));
    source.prefetch(&bundle(root.bundle())).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn hostile_or_wrong_responses_are_refused_and_never_cached() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let uri = server.uri();
    let other = StatusList::with_capacity(2, 1 << 16).unwrap();
    let stranger = passport_jose::SigningKey::generate(passport_jose::Algorithm::EdDSA).unwrap();
    let cases = [
        (Reply::Status(404, ""), "status_list_unreachable"),
        // Redirects are not followed, even to an allowed URI.
        (Reply::Status(302, "/status/1"), "status_list_unreachable"),
        (Reply::Body("x".repeat(5000)), "status_list_unreachable"),
        (
            Reply::Body(f.root(ROOT_SCOPES).token().to_owned()),
            "invalid_typ",
        ),
        (
            Reply::Body(f.sign_list(&format!("{}2", server.prefix()), &other, NOW, NOW + 60, 60)),
            "uri_mismatch",
        ),
        (
            Reply::Body(
                passport_status::StatusListToken::sign(&stranger, &uri, &other, NOW, NOW + 60, 60)
                    .unwrap(),
            ),
            "unknown_kid",
        ),
        (
            Reply::Body(f.sign_list(&uri, &other, NOW - 7200, NOW - 3600, 60)),
            "status_list_expired",
        ),
    ];
    for (reply, expected) in cases {
        server.set(reply);
        let source = source(&f, &server.prefix()).max_token_len(4096);
        let err = source.ensure_fresh(LOOPBACK_ISS, &uri).await.unwrap_err();
        assert_eq!(err.code(), expected);
        assert_eq!(source.cached_lists(), 0);
    }
}

#[tokio::test]
async fn only_uris_under_an_allowed_prefix_in_normal_form_are_fetched() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    server.set(Reply::Body(f.publish()));
    let base = format!("http://127.0.0.1:{}", server.port);
    let source = source(&f, &format!("{base}/status"));
    for uri in [
        format!("{base}/statusX/1"),
        format!("{base}/status/../admin"),
        format!("{base}/status/%2e%2e/admin"),
        format!("{base}/status/1#frag"),
        format!("http://user@127.0.0.1:{}/status/1", server.port),
        format!("HTTP://127.0.0.1:{}/status/1", server.port),
        format!("http://127.0.0.1:{}.evil.example/status/1", server.port),
        "file:///etc/passwd".to_owned(),
        "/status/1".to_owned(),
    ] {
        let err = source.ensure_fresh(LOOPBACK_ISS, &uri).await.unwrap_err();
        assert_eq!(err.code(), "status_uri_not_allowed", "{uri}");
    }
    assert_eq!(server.hits(), 0);
    source
        .ensure_fresh(LOOPBACK_ISS, &server.uri())
        .await
        .unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let list = StatusList::with_capacity(2, 64).unwrap();
    let source = source(&f, &server.prefix()).max_lists(2);
    for i in 0..5 {
        let uri = format!("{}{i}", server.prefix());
        server.set(Reply::Body(f.sign_list(&uri, &list, NOW, NOW + 600, 60)));
        source.ensure_fresh(LOOPBACK_ISS, &uri).await.unwrap();
        f.clock.advance(1);
        assert!(source.cached_lists() <= 2);
    }
    assert!(
        source
            .cached(LOOPBACK_ISS, &format!("{}4", server.prefix()))
            .is_some()
    );
    assert!(
        source
            .cached(LOOPBACK_ISS, &format!("{}0", server.prefix()))
            .is_none()
    );
}

/// A forged bundle (prefetch reads claims before anything is verified) of
/// many links, each naming another list under the trusted base, makes at
/// most `MAX_PREFETCH_URIS` outbound fetches, and the unfetched lists are
/// refused when the bundle is verified. (Sign-off review.)
#[tokio::test]
async fn a_forged_bundle_cannot_make_prefetch_fetch_many_lists() {
    let server = Server::start().await;
    let f = Fixture::served(&server.uri());
    let source = source(&f, &server.prefix());
    let root = f.root(&["files:read"]);
    let links: Vec<String> = (0..12)
        .map(|i| {
            let mut claims = root.claims().clone();
            claims.status = Some(
                passport_claims::StatusReference::new(1, format!("{}{i}", server.prefix()))
                    .unwrap(),
            );
            f.sign_passport(&claims)
        })
        .collect();
    let forged = bundle(&links.join("~"));
    assert!(
        source.prefetch(&forged).await.is_err(),
        "the server answers 404"
    );
    assert_eq!(server.hits(), passport_status::MAX_PREFETCH_URIS);
}
