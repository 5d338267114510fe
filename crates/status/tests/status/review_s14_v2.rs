//! Session 14, second review of the fixes (3bbf58af): each test fails on
//! the code reviewed.

use passport_status::{StatusList, StatusListSource};

use crate::common::{Fixture, URI};

/// V2-1 (regression of R3-3). `trust_issuer` now applies passport-remote's
/// `check_issuer` to the issuer itself, so a source that never fetches
/// anything — lists handed over as files or tokens (`add_file`,
/// `add_token`), the offline verification this crate exists for — can no
/// longer trust an issuer whose identifier is not an https URL (or plain
/// http on loopback), although its status base is https and no request is
/// ever made. The CHANGELOG says only a plain-http *base* of an https issuer
/// is refused. `passport verify --status-list FILE` inherits it (exit 2,
/// `insecure_url`, for a file).
#[test]
fn v2_1_an_offline_source_may_trust_an_issuer_that_is_not_an_https_url() {
    let f = Fixture::new();
    for issuer in ["urn:example:issuer", "http://issuer.corp", "issuer-a"] {
        let trusted = StatusListSource::new(f.key_store())
            .with_clock(f.clock.clone())
            .trust_issuer(issuer, "https://issuer.local/status")
            .map(|_| ())
            .map_err(|e| e.code());
        assert_eq!(
            trusted,
            Ok(()),
            "{issuer}: an https base, nothing fetched, yet the issuer is refused"
        );
    }
    // And the list token itself is fine for the https kit issuer.
    let list = StatusList::with_capacity(1, 64).unwrap();
    let _ = f.sign_list(
        URI,
        &list,
        passport_testkit::NOW,
        passport_testkit::NOW + 60,
        60,
    );
}

/// V2-3 (R3-4 brings it to `authenticate` too; the layer had it). A
/// request-triggered refetch counts against the list's cooldown (and the
/// 8-per-cooldown window) when the future is *made*; a request whose future
/// is dropped mid-fetch (the client resets its HTTP/2 stream, or closes the
/// connection) cancels the fetch, and nothing is recorded: no failure, the
/// list is not watched (`watch_failed` runs after the fetch), and no other
/// request may trigger a fetch of it for the whole cooldown. One agent
/// holding any passport naming the list, cancelling one request per
/// cooldown, keeps every passport naming that list refused 503
/// (`status_unavailable`) while the list is not held (a server just
/// started, or the list evicted).
#[tokio::test]
async fn v2_3_a_cancelled_refetch_does_not_lock_out_the_list_for_the_cooldown() {
    use std::sync::Arc;

    use passport_status::{RefresherOptions, StatusRefresher};
    use passport_verifier::Refetch as _;

    // An issuer that accepts and never answers (a slow list).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let prefix = format!("http://127.0.0.1:{port}/status/");
    let f = Fixture::served(&format!("{prefix}1"));
    let source = Arc::new(crate::http::source(&f, &prefix));
    let refresher = StatusRefresher::start(source, RefresherOptions::default())
        .await
        .unwrap();
    let verifier = f.verifier_using(Arc::new(refresher.clone()));
    let root = f.root(passport_testkit::ROOT_SCOPES);
    let text = crate::http::bundle(root.bundle());
    let err = verifier.verify_str(root.bundle()).unwrap_err();
    assert_eq!(err.code(), "status_unavailable");

    // The attacker's request: its refetch starts, then the request is dropped.
    let mut attack = refresher.refetch(&text, &err).unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(attack.as_mut().poll(&mut cx).is_pending());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(attack);

    // A genuine request for the same list right after.
    let genuine = refresher.refetch(&text, &err);
    let watched = refresher.health().lists.len();
    assert!(
        genuine.is_some() || watched > 0,
        "a cancelled refetch consumed the list's cooldown: no request may fetch it for {:?}, \
         and it is not watched ({watched} lists), so nothing will",
        passport_status::DEFAULT_REFETCH_COOLDOWN
    );
}
