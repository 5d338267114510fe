//! The connections [`Server::serve`](crate::Server::serve) accepts:
//! HTTP/1.1, each request's head bounded in time, every connection ended
//! at the drain's bound.
//!
//! `axum::serve` gives hyper no timer, and without one hyper reads a
//! request's head with no time limit: the request deadline
//! (`endpoints::deadline`) only starts once the head is in, so a client
//! that sent half a head, or nothing, held a connection and a task for
//! ever, and any number of clients could (session 16). Here each
//! connection's head must arrive within the request deadline (hyper's
//! `header_read_timeout`, which also ends a keep-alive connection idle that
//! long), and the connections still open at the end of the shutdown's drain
//! are aborted rather than left running in the embedder's runtime (review
//! S15d-3).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long the accept loop pauses after an error that is not one
/// connection's (out of file handles: the pause lets connections end).
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// How the connections are served.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Each request's head must be in within this, from when the server
    /// starts reading it (the connection's start, or its previous answer).
    pub(crate) head: Duration,
    /// How long the open connections are waited for after the signal;
    /// those still open then are aborted.
    pub(crate) drain: Duration,
}

/// Serves `router` on the connections `listener` accepts until `signal`
/// completes, each request carrying its peer's
/// [`ConnectInfo<SocketAddr>`](ConnectInfo); then stops accepting, lets
/// each connection finish the request it is reading or answering
/// (hyper's graceful shutdown: an idle one closes at once), waits for them
/// at most [`Limits::drain`], and aborts (and waits for) those still open.
/// Dropping the future aborts every connection too.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    signal: impl Future<Output = ()>,
) {
    let mut signal = pin!(signal);
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(
                        stream,
                        peer,
                        router.clone(),
                        limits.head,
                        closed.clone(),
                    ));
                }
                Err(e) if one_connections(&e) => {}
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed: pausing");
                    tokio::select! {
                        () = &mut signal => break,
                        () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                    }
                }
            },
            // the ended connections' tasks, reaped as they end
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(limits.drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open {:?} after the shutdown signal: closed",
            limits.drain
        );
        connections.shutdown().await;
    }
}

/// An accept error that concerns one connection only (it was reset or
/// aborted before it was accepted): the next accept goes on at once.
fn one_connections(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    )
}

/// One connection, served until it ends, or gracefully once `closed` says
/// the server is closing.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    head: Duration,
    mut closed: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            tower_service::Service::call(&mut router, request.map(axum::body::Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(head);
    let mut served = pin!(builder.serve_connection(TokioIo::new(stream), service));
    tokio::select! {
        ended = served.as_mut() => {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        // the server closing (or gone: the same)
        _ = closed.wait_for(|closing| *closing) => {}
    }
    served.as_mut().graceful_shutdown();
    if let Err(e) = served.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A router whose one route answers a body that never ends (a client
    /// that stops reading holds its connection beyond any request
    /// deadline).
    fn endless() -> axum::Router {
        axum::Router::new().route(
            "/endless",
            axum::routing::get(|| async {
                let chunks = futures_util::stream::repeat_with(|| {
                    Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(vec![
                        b'x';
                        64 * 1024
                    ]))
                });
                axum::body::Body::from_stream(chunks)
            }),
        )
    }

    /// `router` served with a drain of `drain` until the sender is used:
    /// its address, the sender, and `serve`'s task.
    async fn start(
        router: axum::Router,
        drain: Duration,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = Limits {
            head: Duration::from_secs(5),
            drain,
        };
        let serving = tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop, serving)
    }

    /// Review S15d-3: past the drain's bound a connection was no longer
    /// waited for but kept running in the embedder's runtime. Now it is
    /// aborted: `serve` returns within the bound, and the client's
    /// connection ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_still_open_at_the_drain_bound_are_aborted() {
        let (addr, stop, serving) = start(endless(), Duration::from_millis(500)).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        client.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        // the client stops reading; the answer never ends
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve returned within its drain bound")
            .unwrap();
        // the connection was aborted: what is buffered, then its end
        let mut sink = vec![0u8; 1 << 20];
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match client.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "the connection was still served after serve returned"
        );
    }

    /// Each request carries its peer's address, as
    /// `into_make_service_with_connect_info` gave it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_carry_their_peer() {
        let router = axum::Router::new().route(
            "/peer",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                peer.to_string()
            }),
        );
        let (addr, stop, serving) = start(router, Duration::from_secs(5)).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        let local = client.local_addr().unwrap();
        client
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");
        stop.send(()).unwrap();
        serving.await.unwrap();
    }
}
