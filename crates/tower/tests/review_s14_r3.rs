//! Session 14, reviewer r3: a finding on passport-tower, a test that fails
//! on the code reviewed (685a2688) and passes once fixed. The issuer is a
//! plain std thread serving HTTP on 127.0.0.1 (metadata, JWKS, one status
//! list); everything is bounded in time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::io::{Read as _, Write as _};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use passport_claims::{AllocationError, PassportClaims, StatusAllocator, StatusReference};
use passport_issuer::Issuer;
use passport_jose::{Algorithm, JwkSet, SigningKey};
use passport_status::{StatusList, StatusListToken};
use passport_testkit::{alice_ial2, issuance};
use passport_tower::{PassportAuth, Requirements};
use serde_json::json;
use tower_layer::Layer;
use tower_service::Service;

const RESOURCE: &str = "https://api.example";

/// Every passport gets index 3 of one list.
#[derive(Debug)]
struct OneList(String);

impl StatusAllocator for OneList {
    fn allocate(&self, _: &PassportClaims) -> Result<StatusReference, AllocationError> {
        Ok(StatusReference::new(3, self.0.clone()).unwrap())
    }
}

/// Serves `routes` (path → (content type, body)) on 127.0.0.1 from a
/// thread; returns the base URL.
fn serve(routes: impl Fn(&str) -> Option<(&'static str, String)> + Send + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
            let response = match routes(&path) {
                Some((content_type, body)) => format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_owned(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    base
}

/// `future`, checked to be `Send`.
fn send<F: std::future::Future + Send>(future: F) -> F {
    future
}

/// A plain tower service answering 200.
#[derive(Clone)]
struct Ok200;

impl Service<Request<String>> for Ok200 {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

/// Finding R3-4 (low, fails closed). `PassportAuth::authenticate` is
/// documented as "the function the layer runs, exposed for other
/// frameworks", and `PassportAuth::trusting` promises that "status lists
/// under the issuer's URL are fetched when first named". But only the
/// layer's service fetches them (through its `Refetch`es, on the first
/// `status_unavailable`); `authenticate` never does, and nothing else loads
/// a list nobody watches. A server on another framework calling
/// `authenticate` with a `trusting` auth refuses every passport that carries
/// a `status` (503 `status_unavailable`) for as long as it runs — and, the
/// same way, every passport signed with a key published after start-up
/// (`unknown_kid`) until the background refresh. `authenticate` is now
/// async and runs the layer's refetch and second attempt; its future is
/// `Send`, as other frameworks' handlers need.
#[tokio::test(flavor = "current_thread")]
async fn r3_4_authenticate_with_a_trusting_auth_fetches_the_status_list_it_needs() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let jwks = JwkSet::from_keys([key.verifying_key()]).unwrap().to_json();
    let listener_base = {
        // The list must name its own URI: serve it once the port is known.
        let slot: std::sync::Arc<std::sync::Mutex<Option<(String, String)>>> =
            std::sync::Arc::default();
        let routes = slot.clone();
        let base = serve(move |path| {
            let (metadata, list) = routes.lock().unwrap().clone()?;
            match path {
                "/.well-known/oauth-authorization-server" => Some(("application/json", metadata)),
                "/jwks" => Some(("application/json", jwks.to_string())),
                "/status/1" => Some(("application/statuslist+jwt", list)),
                _ => None,
            }
        });
        let now = passport_claims::Clock::now(&passport_claims::SystemClock);
        let list = StatusListToken::sign(
            &key,
            &format!("{base}/status/1"),
            &StatusList::with_capacity(1, 64).unwrap(),
            now,
            now + 3600,
            300,
        )
        .unwrap();
        let metadata = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string();
        *slot.lock().unwrap() = Some((metadata, list));
        base
    };
    let issuer = Issuer::new(listener_base.clone(), key).with_status(std::sync::Arc::new(OneList(
        format!("{listener_base}/status/1"),
    )));
    let passport = issuer
        .issue(issuance(
            alice_ial2(),
            RESOURCE,
            "agent-1",
            "model-x",
            &["files:read"],
        ))
        .unwrap();
    assert!(passport.claims().status.is_some());

    let auth = PassportAuth::trusting(listener_base.clone())
        .resource(RESOURCE)
        .bearer_only()
        .build()
        .await
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", passport.bundle())).unwrap(),
    );

    // Another framework's handler, twice.
    let first = send(auth.authenticate(&Method::GET, "/files", &headers, &Requirements::none()))
        .await
        .map(|_| ())
        .map_err(|r| r.code());
    let second = auth
        .authenticate(&Method::GET, "/files", &headers, &Requirements::none())
        .await
        .map(|_| ())
        .map_err(|r| r.code());

    // Control: the same auth's layer lets the same passport through.
    let mut service = auth.layer().layer(Ok200);
    let mut request = Request::get("/files").body(String::new()).unwrap();
    *request.headers_mut() = headers.clone();
    let through_layer = service.call(request).await.unwrap().status();
    assert_eq!(
        through_layer,
        StatusCode::OK,
        "control: the layer accepts it"
    );

    assert!(
        first.is_ok() && second.is_ok(),
        "authenticate() refused a valid passport whose list is served (first {first:?}, \
         then {second:?}) while the layer's path accepts it ({through_layer})"
    );
}

/// Finding R3-3, the one-line path: `PassportAuth::trusting(..)` with a
/// plain-http `status_base` for an https issuer is refused at build
/// (`insecure_url`), before any request — the issuer here is on a closed
/// loopback port, so any attempt to reach it would end in another code.
#[tokio::test(flavor = "current_thread")]
async fn r3_3_trusting_refuses_a_plain_http_status_base_for_an_https_issuer() {
    let refused = PassportAuth::trusting("https://127.0.0.1:1")
        .resource(RESOURCE)
        .status_base("http://127.0.0.1:1/status")
        .build()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "insecure_url", "{refused}");
}
