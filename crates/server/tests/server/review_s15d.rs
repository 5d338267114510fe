//! Review S15d (session 15, the last, read-only pass over the fixes of
//! S15c): tests written with the fixes.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;

/// `/admin/events` at `url` for the session `cookie`, open: its first
/// event has arrived.
pub(crate) async fn dashboard_stream(url: &str, cookie: &str) -> reqwest::Response {
    let mut events = reqwest::Client::new()
        .get(format!("{url}/admin/events"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let first = tokio::time::timeout(Duration::from_secs(20), events.chunk())
        .await
        .expect("a first event")
        .unwrap();
    assert!(first.is_some());
    events
}

/// S15d-2: an embedder serving `Server::router` with its own graceful
/// shutdown could not end the dashboards' event streams: only
/// `Server::serve`'s signal or `Server::shutdown` (to be called once the
/// connections have ended) did, so one open dashboard held the embedder's
/// drain without bound. `Server::begin_shutdown`, called from its signal,
/// ends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedders_drain_ends_with_a_dashboard_open_once_it_begins_the_shutdown() {
    let a = crate::admin_session::admin().await;
    let cookie = a.session("ada").await;
    let server = a.running.server.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = server
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let signal_server = server.clone();
    let serving = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
                signal_server.begin_shutdown();
            })
            .await
    });
    let events = dashboard_stream(&url, &cookie).await;
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), serving).await;
    drop(events);
    assert!(
        ended.is_ok(),
        "the embedder's graceful drain had not ended 10 s after its signal"
    );
    assert_eq!(server.shutdown().await, 0);
}

/// S15d-4: a request deadline of `Duration::MAX` (a caller's "none")
/// overflowed the drain's bound (deadline + 1 s) and `serve` panicked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_a_request_deadline_of_duration_max() {
    let s = crate::endpoints::start_with(tempfile::tempdir().unwrap(), |b| {
        b.request_timeout(Duration::MAX)
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = tokio::spawn(s.server.clone().serve(listener, async {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }));
    let served = tokio::time::timeout(Duration::from_secs(20), served)
        .await
        .expect("serve returned after its signal");
    assert!(matches!(served, Ok(Ok(()))), "{served:?}");
}

/// S15d-5: a shutdown signal that panics began axum's drain with nothing
/// closed and no bound: the places stayed open and the dashboards' streams
/// ran on. The shutdown now begins however the signal ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_signal_that_panics_still_begins_the_shutdown() {
    let a = crate::admin_session::admin().await;
    let cookie = a.session("ada").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(a.running.server.clone().serve(listener, async move {
        let _ = stopped.await;
        panic!("the embedder's signal failed");
    }));
    let events = dashboard_stream(&url, &cookie).await;
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(40), serving).await;
    drop(events);
    assert!(
        ended.is_ok(),
        "serve had not returned 40 s after its signal panicked"
    );
}
