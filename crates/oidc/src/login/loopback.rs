//! The loopback redirect server of a native app's login (RFC 8252 §7.3): a
//! one-shot HTTP listener on 127.0.0.1 or [::1] that receives the browser's
//! redirect and answers it with a small page. It knows one thing of OAuth:
//! the `state` the flow sent ([`LoopbackListener::expect_state`]); a request
//! on the redirect path carrying another `state`, or none, is answered 400
//! and the listener keeps waiting, so no other page open in the browser can
//! end the login (RFC 6749 §4.1.2 and §4.1.2.1: success and error responses
//! both carry the request's `state`). It hands the query parameters of the
//! first request that passes to the flow and shows the page the flow
//! chooses.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

use crate::OidcError;

/// How long one loopback connection may take to send its request line.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head the loopback listener reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Connections served at once by the loopback listener; more are dropped.
const MAX_CONNECTIONS: usize = 16;

/// A redirect URI on a loopback address (RFC 8252 §7.3), before its
/// listener is bound. Used by the CLI login and by passport-agent's
/// loopback user agent.
///
/// ```no_run
/// # async fn run() -> Result<(), passport_oidc::OidcError> {
/// use passport_oidc::LoopbackRedirect;
/// let listener = LoopbackRedirect::parse("http://127.0.0.1/callback", Some(0))?
///     .bind()
///     .await?
///     .expect_state("the-state-sent");
/// println!("send the browser to a URL redirecting to {}", listener.redirect_uri());
/// let callback = listener.wait_for_callback().await?;
/// let code = callback.params.iter().find(|(k, _)| k == "code").map(|(_, v)| v.clone());
/// callback.answer("Done; you can close this window.").await;
/// # let _ = code; Ok(()) }
/// ```
#[derive(Debug)]
pub struct LoopbackRedirect {
    url: Url,
    pub(super) ip: IpAddr,
    pub(super) port: u16,
    path: String,
}

impl LoopbackRedirect {
    /// Parses `redirect_uri`; `port` overrides its port (`Some(0)`: a free
    /// one; a URI without a port also means a free one).
    pub fn parse(redirect_uri: &str, port: Option<u16>) -> Result<LoopbackRedirect, OidcError> {
        let bad = |why: &str| OidcError::Config(format!("redirect URI {redirect_uri:?}: {why}"));
        let url = Url::parse(redirect_uri).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" {
            return Err(bad(
                "a loopback redirect URI is http://127.0.0.1, http://[::1] or http://localhost",
            ));
        }
        let ip = match url.host() {
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => IpAddr::V6(ip),
            _ => return Err(bad("the host is not a loopback address")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a query or fragment is not supported"));
        }
        let port = port.or(url.port()).unwrap_or(0);
        let path = url.path().to_owned();
        Ok(LoopbackRedirect {
            url,
            ip,
            port,
            path,
        })
    }

    /// The redirect URI with `port`, the one actually listened on.
    pub(super) fn uri_with_port(&self, port: u16) -> Result<String, OidcError> {
        let mut url = self.url.clone();
        url.set_port(Some(port))
            .map_err(|()| OidcError::Config("cannot set the redirect URI's port".into()))?;
        Ok(url.into())
    }

    /// Binds the listener; the redirect URI to send carries its actual port.
    pub async fn bind(self) -> Result<LoopbackListener, OidcError> {
        let listener = TcpListener::bind((self.ip, self.port)).await.map_err(|e| {
            OidcError::HttpFailed(format!("cannot listen on {}:{}: {e}", self.ip, self.port))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| OidcError::HttpFailed(format!("loopback listener: {e}")))?
            .port();
        Ok(LoopbackListener {
            redirect_uri: self.uri_with_port(port)?,
            listener,
            path: self.path,
            state: None,
        })
    }
}

/// A bound loopback listener, waiting for its one callback.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    path: String,
    redirect_uri: String,
    state: Option<Arc<str>>,
}

impl LoopbackListener {
    /// The redirect URI, with the port listened on.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Takes only a callback whose one `state` parameter is `state` (the one
    /// the authorization request sent): any other request on the redirect
    /// path — another `state`, none (an `error` response included), the
    /// parameter twice — is answered 400 and does not count. Without it the
    /// first request on the path is the callback, whatever it carries.
    pub fn expect_state(mut self, state: &str) -> LoopbackListener {
        self.state = Some(Arc::from(state));
        self
    }

    /// Accepts connections until one brings a request for the redirect path
    /// (with the expected `state`, see [`expect_state`](Self::expect_state));
    /// each connection is served by its own task, so an idle (pre-connected)
    /// socket cannot hold up the real callback. Other paths (`/favicon.ico`,
    /// …) get a 404 and do not count. Consuming the listener closes it: no
    /// further callback is accepted.
    pub async fn wait_for_callback(self) -> Result<Callback, OidcError> {
        let (tx, mut rx) = mpsc::channel::<Callback>(1);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, _) = accepted
                        .map_err(|e| OidcError::HttpFailed(format!("loopback listener: {e}")))?;
                    if connections.len() < MAX_CONNECTIONS {
                        connections.spawn(serve_connection(
                            stream,
                            self.path.clone(),
                            self.state.clone(),
                            tx.clone(),
                        ));
                    }
                }
                Some(callback) = rx.recv() => return Ok(callback),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Returning drops the listener and the JoinSet (every other
        // connection is aborted).
    }
}

/// The callback request, with its connection kept open for the answer page.
/// `Debug` names the parameters, never their values (a code is one).
#[non_exhaustive]
pub struct Callback {
    stream: TcpStream,
    /// The query parameters, in order, repeated names kept.
    pub params: Vec<(String, String)>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Callback")
            .field("params", &names)
            .finish_non_exhaustive()
    }
}

impl Callback {
    /// Answers the browser with `text` and closes the connection.
    pub async fn answer(mut self, text: &str) {
        write_page(&mut self.stream, "200 OK", text).await;
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    path: String,
    state: Option<Arc<str>>,
    tx: mpsc::Sender<Callback>,
) {
    let head = match tokio::time::timeout(REQUEST_READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Some(head)) => head,
        _ => return,
    };
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        write_page(&mut stream, "400 Bad Request", "Bad request.").await;
        return;
    };
    let (request_path, query) = target.split_once('?').unwrap_or((target, ""));
    if request_path != path {
        write_page(&mut stream, "404 Not Found", "Not found.").await;
        return;
    }
    if method != "GET" {
        write_page(&mut stream, "405 Method Not Allowed", "Method not allowed.").await;
        return;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if let Some(expected) = state {
        let mut states = params.iter().filter(|(k, _)| k == "state");
        let matches = match (states.next(), states.next()) {
            (Some((_, sent)), None) => sent.as_str() == &*expected,
            _ => false,
        };
        if !matches {
            write_page(
                &mut stream,
                "400 Bad Request",
                "This is not the answer to the login in progress.",
            )
            .await;
            return;
        }
    }
    // When the login already has its callback the receiver is gone and the
    // connection is simply closed.
    let _ = tx.send(Callback { stream, params }).await;
}

/// Reads up to the end of the request head; `None` when the peer closes
/// first, sends more than [`MAX_REQUEST_HEAD`] bytes, or not UTF-8.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_REQUEST_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).ok()
}

async fn write_page(stream: &mut TcpStream, status: &str, text: &str) {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Agent Passport</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{html}",
        html.len()
    );
    let write = async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_loopback() {
        for ok in [
            "http://127.0.0.1:8765/callback",
            "http://localhost/cb",
            "http://[::1]:9/x",
        ] {
            assert!(LoopbackRedirect::parse(ok, None).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1/cb",
            "http://example.com/cb",
            "http://10.0.0.1/cb",
            "http://127.0.0.1/cb?x=1",
        ] {
            assert_eq!(
                LoopbackRedirect::parse(bad, None).err().map(|e| e.code()),
                Some("config"),
                "{bad}"
            );
        }
        let r = LoopbackRedirect::parse("http://127.0.0.1:8765/callback", Some(0)).unwrap();
        assert_eq!(r.port, 0);
        assert_eq!(
            r.uri_with_port(4242).unwrap(),
            "http://127.0.0.1:4242/callback"
        );
    }
}
