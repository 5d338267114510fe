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
//! long), an answer its client does not read for that long ends its
//! connection (review R16-1: hyper has no write timeout, and its head timer
//! does not run while an answer waits to be sent), at most
//! [`Limits::connections`] are served at once (review R16-2: the rest wait
//! in the listener's backlog) and at most [`Limits::per_address`] from one
//! client address (review R16b-1: one address could take every place), and the connections still open at the end of
//! the shutdown's drain are aborted rather than left running in the
//! embedder's runtime (review S15d-3).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long the accept loop pauses after an error that is not one
/// connection's (out of file handles: the pause lets connections end).
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// How the connections are served.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Each request's head must be in within this, from when the server
    /// starts reading it (the connection's start, or once its previous
    /// answer is handed to hyper); and an answer waiting to be sent may
    /// wait this long for its client to read.
    pub(crate) head: Duration,
    /// The most connections served at once.
    pub(crate) connections: usize,
    /// The most one client address (an IPv4 address, an IPv6 /64: see
    /// `rate_limit::address_key`) holds at once; more are closed as they
    /// are accepted (review R16b-1).
    pub(crate) per_address: usize,
    /// How a connection's address is read (the named NAT64 prefixes, as
    /// for every per-address limit: review R16c-1), and the trusted
    /// reverse proxies, which are held to no share: every client behind
    /// one shares its address.
    pub(crate) rules: crate::client_address::AddressRules,
    /// Whether loopback addresses are held to no share either: on the
    /// default loopback-only deployment every client is one (`false` only
    /// in tests, which have no other address to connect from).
    pub(crate) exempt_loopback: bool,
    /// How long the open connections are waited for after the signal;
    /// those still open then are aborted.
    pub(crate) drain: Duration,
}

/// Serves `router` on the connections `listener` accepts, at most
/// [`Limits::connections`] at once, until `signal`
/// completes, each request carrying its peer's
/// [`ConnectInfo<SocketAddr>`](ConnectInfo); then stops accepting, lets
/// each connection finish the request it is reading or answering
/// (hyper's graceful shutdown: an idle one closes at once), waits for them
/// at most [`Limits::drain`], and aborts (and waits for) those still open.
/// Dropping the future aborts every connection too.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    mut limits: Limits,
    signal: impl Future<Output = ()>,
) {
    if let Some(files) = open_file_limit() {
        let room = usize::try_from(files)
            .unwrap_or(usize::MAX)
            .saturating_sub(FILES_KEPT)
            .max(1);
        if limits.connections > room {
            tracing::warn!(
                "serving at most {room} connections at once, not {}: the process may open \
                 {files} files, {FILES_KEPT} of them kept for the database and outbound \
                 calls (raise the limit, e.g. LimitNOFILE in a systemd unit)",
                limits.connections
            );
            limits.connections = room;
        }
    }
    let mut signal = pin!(signal);
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    let shares = Shares::default();
    loop {
        tokio::select! {
            () = &mut signal => break,
            // at the bound, none is accepted until one ends (they wait in
            // the listener's backlog)
            accepted = listener.accept(), if connections.len() < limits.connections => match accepted {
                Ok((stream, peer)) => match share_of(&shares, &limits, peer.ip()) {
                    Ok(share) => {
                        connections.spawn(connection(
                            stream,
                            peer,
                            router.clone(),
                            limits.head,
                            closed.clone(),
                            share,
                        ));
                    }
                    Err(()) => {
                        // closed at once, with a reset: nothing is kept for it
                        let _ = stream.set_zero_linger();
                        tracing::debug!(%peer, "connection refused: its address holds its share");
                    }
                },
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
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                note_panic(ended);
            }
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(limits.drain, async {
        while let Some(ended) = connections.join_next().await {
            note_panic(ended);
        }
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

/// The files [`serve`] leaves to the rest of the process when the
/// open-file limit bounds the connections: the database's (a few per
/// connection), outbound calls, key and policy files.
const FILES_KEPT: usize = 256;

/// The process's open-file limit (the soft one), where the system says
/// (`/proc/self/limits` on Linux): at the bound of
/// [`Limits::connections`] the process must still be able to open files,
/// or every accept fails and the database with it (review R16b-2: the
/// default bound, 4,096, is above the usual limit of 1,024).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    soft_open_files(&limits)
}

/// The soft limit of `Max open files` in the text of `/proc/self/limits`
/// (`None` when it is unlimited or the line is missing).
fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Connections open per client address ([`Limits::per_address`]).
#[derive(Debug, Clone, Default)]
struct Shares(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection counted in its address's share until it is dropped
/// (the connection's task ends or is aborted).
#[derive(Debug)]
struct Share {
    of: Shares,
    key: IpAddr,
}

impl Shares {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut counts = self.of.counts();
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The share a connection from `peer` takes: `Ok(None)` from a trusted
/// proxy or, with [`Limits::exempt_loopback`], a loopback address (held to
/// no share), `Err` when its address holds
/// [`Limits::per_address`] already.
fn share_of(shares: &Shares, limits: &Limits, peer: IpAddr) -> Result<Option<Share>, ()> {
    // the client the address stands for (review R16c-1: an IPv4 client
    // behind a named NAT64 prefix was keyed by the translator's /64, so
    // every IPv4 client shared one share)
    let client = limits.rules.canonical(peer);
    if (limits.exempt_loopback && client.is_loopback()) || limits.rules.is_trusted_proxy(client) {
        return Ok(None);
    }
    let key = crate::rate_limit::address_key(client);
    let mut counts = shares.counts();
    let n = counts.entry(key).or_insert(0);
    if *n >= limits.per_address {
        return Err(());
    }
    *n += 1;
    Ok(Some(Share {
        of: shares.clone(),
        key,
    }))
}

/// Logs a connection task's panic (review R16-8: it ended the connection
/// without a line in the log).
fn note_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        tracing::error!(error = %e, "a connection's task panicked");
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
    share: Option<Share>,
) {
    // counted in its address's share until this task ends or is aborted
    let _share = share;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            tower_service::Service::call(&mut router, request.map(axum::body::Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(head);
    let stream = WriteStall {
        inner: stream,
        stall: head,
        timer: None,
    };
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

/// A connection's stream whose writes must make progress within `stall`
/// (review R16-1): hyper has no write timeout, and while an answer waits to
/// be sent it neither reads the next head (so its head timer is not
/// running) nor polls the request's future (so the request deadline is
/// not either). A client that stops reading — after pipelining requests,
/// or in the middle of a long answer — held its connection for ever. Only
/// the time a write waits counts: a connection with nothing to send (an
/// event stream between events) is not timed here.
struct WriteStall {
    inner: TcpStream,
    stall: Duration,
    /// Running while writes wait; dropped at the first one that goes
    /// through.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteStall {
    /// `written`, the outcome of a write: `Pending` starts (or goes on
    /// with) the stall's timer, which fails the write once it expires;
    /// anything else stops it.
    fn timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if written.is_ready() {
            self.timer = None;
            return written;
        }
        let stall = self.stall;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                // closed with a reset, not a FIN: the unsent answer is
                // dropped at once instead of staying in the kernel for as
                // long as the client keeps its window shut (review R16b-5)
                let _ = self.inner.set_zero_linger();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read its answer in time",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for WriteStall {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteStall {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.timed(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.timed(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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

    /// `router` served with `limits` until the sender is used: its
    /// address, the sender, and `serve`'s task.
    async fn start(
        router: axum::Router,
        limits: Limits,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop, serving)
    }

    fn limits(head: Duration, drain: Duration, connections: usize) -> Limits {
        Limits {
            head,
            drain,
            connections,
            per_address: connections,
            rules: crate::client_address::AddressRules::default(),
            exempt_loopback: false,
        }
    }

    /// A connection from `addr`'s client, its first request answered.
    async fn served(addr: SocketAddr) -> TcpStream {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        c
    }

    fn ok() -> axum::Router {
        axum::Router::new().route("/", axum::routing::get(|| async { "ok" }))
    }

    /// Review R16b-1: one address could take every place. It holds at most
    /// its share; one more connection is closed at once, and once one of
    /// its connections ends it may open another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_address_holds_at_most_its_share() {
        let mut l = limits(Duration::from_secs(5), Duration::from_secs(1), 64);
        l.per_address = 2;
        let (addr, stop, serving) = start(ok(), l).await;
        let mut held = vec![served(addr).await, served(addr).await];
        // closed with a reset as it is accepted: the connect itself, the
        // write or the read sees it
        let refused = match TcpStream::connect(addr).await {
            Err(_) => true,
            Ok(mut third) => {
                let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
                let mut buf = [0u8; 64];
                let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
                    .await
                    .expect("the connection beyond the share was closed");
                matches!(read, Ok(0) | Err(_))
            }
        };
        assert!(refused, "a third connection was served beyond a share of 2");
        drop(held.pop());
        // the share is given back when the connection's task ends
        let mut again = None;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            // refused (reset) until the ended connection's task is gone
            let Ok(mut c) = TcpStream::connect(addr).await else {
                continue;
            };
            let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let mut buf = [0u8; 12];
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut buf)).await
            {
                assert_eq!(&buf, b"HTTP/1.1 200");
                again = Some(c);
                break;
            }
        }
        assert!(again.is_some(), "the freed place was not given back");
        stop.send(()).unwrap();
        serving.await.unwrap();
    }

    /// Review R16c-1: the share is keyed by the client an address stands
    /// for, as every per-address limit is: behind a named NAT64 prefix,
    /// each IPv4 client has its own (they shared one, the translator's
    /// /64), and a trusted proxy reached through the prefix is exempt.
    #[test]
    fn the_share_is_keyed_by_the_client_an_address_stands_for() {
        let mut l = limits(Duration::from_secs(5), Duration::from_secs(1), 64);
        l.per_address = 1;
        l.rules.nat64 = vec!["2001:db8:64::/96".parse().unwrap()];
        let shares = Shares::default();
        let a: IpAddr = "2001:db8:64::c000:201".parse().unwrap(); // 192.0.2.1
        let b: IpAddr = "2001:db8:64::c000:202".parse().unwrap(); // 192.0.2.2
        let first = share_of(&shares, &l, a).unwrap();
        assert!(first.is_some());
        let other = share_of(&shares, &l, b);
        assert!(
            matches!(other, Ok(Some(_))),
            "a second IPv4 client behind the translator shared the first one's share"
        );
        assert!(
            share_of(&shares, &l, a).is_err(),
            "192.0.2.1 holds its share"
        );
        // the same client over plain IPv4 is the same key
        assert!(share_of(&shares, &l, "192.0.2.1".parse().unwrap()).is_err());
        l.rules.proxies = vec!["192.0.2.9".parse().unwrap()];
        let proxy: IpAddr = "2001:db8:64::c000:209".parse().unwrap();
        assert!(matches!(share_of(&shares, &l, proxy), Ok(None)));
        drop(first);
        assert!(
            share_of(&shares, &l, a).unwrap().is_some(),
            "the place was given back"
        );
    }

    /// Loopback clients are held to no share when so configured, as
    /// `Server::serve` does (the default deployment listens on loopback:
    /// every client is one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loopback_clients_can_be_held_to_no_share() {
        let mut l = limits(Duration::from_secs(5), Duration::from_secs(1), 64);
        l.per_address = 1;
        l.exempt_loopback = true;
        let (addr, stop, serving) = start(ok(), l).await;
        let _held = [served(addr).await, served(addr).await, served(addr).await];
        stop.send(()).unwrap();
        serving.await.unwrap();
    }

    /// A trusted proxy carries many clients on its one address: it is
    /// held to no share.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_trusted_proxy_is_held_to_no_share() {
        let mut l = limits(Duration::from_secs(5), Duration::from_secs(1), 64);
        l.per_address = 1;
        l.rules.proxies = vec!["127.0.0.1".parse().unwrap()];
        let (addr, stop, serving) = start(ok(), l).await;
        let _held = [served(addr).await, served(addr).await, served(addr).await];
        stop.send(()).unwrap();
        serving.await.unwrap();
    }

    /// Reads `client` until the server ends the connection, within
    /// `bound`: whether it did.
    async fn ends_within(client: &mut TcpStream, bound: Duration) -> bool {
        let mut sink = vec![0u8; 1 << 20];
        tokio::time::timeout(bound, async {
            loop {
                match client.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    /// A request for the endless answer, its status line read.
    async fn endless_request(addr: SocketAddr) -> TcpStream {
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        client.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        client
    }

    /// Review R16-1: an answer its client stopped reading held the
    /// connection for ever (no timer runs while hyper waits to write).
    /// Now the connection ends once a write has waited the head bound,
    /// while `serve` goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_stops_reading_its_answer_is_closed() {
        let bound = Duration::from_millis(500);
        let (addr, _stop, serving) =
            start(endless(), limits(bound, Duration::from_secs(5), 64)).await;
        let mut client = endless_request(addr).await;
        // the client reads nothing for six bounds
        tokio::time::sleep(6 * bound).await;
        assert!(!serving.is_finished(), "serve ended");
        assert!(
            ends_within(&mut client, Duration::from_secs(10)).await,
            "an answer unread for 3 s (bound 500 ms) still had its connection"
        );
    }

    /// Review R16-2: connections are served at most `connections` at once;
    /// one more waits (in the listener's backlog) until one ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_beyond_the_bound_wait_for_one_to_end() {
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (addr, stop, serving) = start(
            router,
            limits(Duration::from_secs(5), Duration::from_secs(1), 2),
        )
        .await;
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(request).await.unwrap();
            let mut buf = [0u8; 12];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"HTTP/1.1 200");
            held.push(c);
        }
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(request).await.unwrap();
        let mut buf = [0u8; 12];
        let early =
            tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut buf)).await;
        assert!(
            early.is_err(),
            "a third connection was served beyond a bound of 2"
        );
        drop(held.pop());
        tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut buf))
            .await
            .expect("the third connection was served once another ended")
            .unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        stop.send(()).unwrap();
        serving.await.unwrap();
    }

    /// Review S15d-3: past the drain's bound a connection was no longer
    /// waited for but kept running in the embedder's runtime. Now it is
    /// aborted: `serve` returns within the bound, and the client's
    /// connection ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_still_open_at_the_drain_bound_are_aborted() {
        // a stall bound longer than the test: only the drain's bound ends it
        let (addr, stop, serving) = start(
            endless(),
            limits(Duration::from_secs(60), Duration::from_millis(500), 64),
        )
        .await;
        let mut client = endless_request(addr).await;
        // the client stops reading; the answer never ends
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve returned within its drain bound")
            .unwrap();
        // the connection was aborted: what is buffered, then its end
        assert!(
            ends_within(&mut client, Duration::from_secs(10)).await,
            "the connection was still served after serve returned"
        );
    }

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc_self_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(text), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_open_files(unlimited), None);
        assert_eq!(soft_open_files("Max processes 10 10 processes\n"), None);
        assert_eq!(soft_open_files(""), None);
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
        let (addr, stop, serving) = start(
            router,
            limits(Duration::from_secs(5), Duration::from_secs(5), 64),
        )
        .await;
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
