//! Session 14, reviewer r3: findings on passport-status, each a test that
//! fails on the code reviewed (685a2688) and passes once fixed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use passport_status::{StatusList, StatusListSource, check_status_url};
use passport_testkit::{ISS, NOW};

use crate::common::{Fixture, LOOPBACK_ISS, URI};
use crate::http::{Reply, Server};

/// Finding R3-2. The rollback check (`seen`) and the cache insert of
/// `StatusListSource::store` take two different locks, one after the other.
/// Two loads of the same list at once — a request's prefetch and the
/// refresher, or two requests (there is no single flight), one of them
/// served an older copy (a lagging CDN edge, a machine in the path) — can
/// both pass the rollback check in order (old, then new) and reach the
/// cache in the other order (new, then old): the source then answers from
/// the OLDER list, the one from before a revocation, although it has seen
/// the newer one, until the old list's `ttl`/`exp`. Afterwards the cached
/// list must always be the newest one accepted. Two threads race for at
/// most 3 s; `source::tests::an_older_list_stored_after_a_newer_one_never_replaces_it`
/// drives the bad interleaving deterministically.
#[test]
fn r3_2_two_loads_at_once_never_leave_the_older_list_in_the_cache() {
    let f = Fixture::new();
    // The older list says index 5 is valid; the newer one revokes it.
    let list = StatusList::with_capacity(1, 64).unwrap();
    let mut revoked = list.clone();
    revoked.set(5, 1).unwrap();
    const TRIALS: i64 = 3_000;
    // Trial k: an older list (iat base + 2k) and a newer one (+ 1), both
    // valid now.
    let base = NOW - 2 * TRIALS - 10;
    let tokens: Vec<(String, String)> = (0..TRIALS)
        .map(|k| {
            let old = base + 2 * k;
            (
                f.sign_list(URI, &list, old, NOW + 3600, 300),
                f.sign_list(URI, &revoked, old + 1, NOW + 3600, 300),
            )
        })
        .collect();
    let tokens = Arc::new(tokens);
    let source = Arc::new(f.source());
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(AtomicU64::new(0));
    // Readers of the cache (requests asking for a status), as on a server.
    let reader = {
        let (source, stop) = (Arc::clone(&source), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = source.cached(ISS, URI);
            }
        })
    };
    let start = Arc::new(Barrier::new(2));
    let done = Arc::new(Barrier::new(2));
    let checked = Arc::new(Barrier::new(2));
    let deadline = Instant::now() + Duration::from_secs(3);
    let worker = |newer: bool| {
        let (source, tokens, stop, bad) = (
            Arc::clone(&source),
            Arc::clone(&tokens),
            Arc::clone(&stop),
            Arc::clone(&bad),
        );
        let (start, done, checked) = (Arc::clone(&start), Arc::clone(&done), Arc::clone(&checked));
        std::thread::spawn(move || {
            for (k, (old, new)) in tokens.iter().enumerate() {
                start.wait();
                let _ = source.add_token(if newer { new } else { old });
                done.wait();
                if newer {
                    let held = source.cached(ISS, URI).unwrap();
                    let newest = base + 2 * k as i64 + 1;
                    if held.iat != newest {
                        // What a verifier now reads for the revoked index.
                        assert_eq!(held.list.get(5).unwrap(), 0, "the older list");
                        bad.store(k as u64 + 1, Ordering::SeqCst);
                    }
                    if bad.load(Ordering::SeqCst) != 0 || Instant::now() > deadline {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                checked.wait();
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
        })
    };
    let (a, b) = (worker(false), worker(true));
    a.join().unwrap();
    b.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    let k = bad.load(Ordering::SeqCst);
    assert_eq!(
        k,
        0,
        "trial {}: the source holds the older list (iat {}, index 5 valid) after accepting the newer one (iat {}, index 5 revoked): a rollback",
        k.saturating_sub(1),
        base + 2 * (k as i64 - 1),
        base + 2 * (k as i64 - 1) + 1
    );
}

/// Finding R3-3. The plain-http rule of passport-remote ("wherever
/// something is fetched for an issuer: an https issuer's URLs are https",
/// docs/threat-model.md, "Plain-http URLs") is applied by `passport verify
/// --status-list` but not by the library: `StatusListSource::trust_issuer`
/// (and so `PassportAuth::trusting(..).status_base(..)`) takes a plain-http
/// status base for an https issuer, and its lists are then fetched over
/// plain http. Anyone on the path answers with an older list signed before
/// a revocation (unexpired, up to its 7-day lifetime) — to every new
/// process, which has seen no newer one — and keeps answering with it: the
/// revoked passport is accepted. An https issuer's lists must not be
/// fetched over plain http (not even from a loopback host, as for its keys):
/// `trust_issuer` now applies passport-remote's `check_endpoint` and
/// refuses such a base (`insecure_url`), and `fetch` checks each URL and
/// its issuer (`check_status_url`) before its request.
#[tokio::test]
async fn r3_3_an_https_issuers_status_list_is_never_fetched_over_plain_http() {
    let server = Server::start().await;
    // An https issuer, its list served over plain http on loopback.
    let f = Fixture::with_uri(&server.uri());
    assert!(ISS.starts_with("https://"));
    server.set(Reply::Body(f.publish()));
    let trusting = |issuer: &str, base: &str| {
        StatusListSource::new(f.key_store())
            .with_clock(f.clock.clone())
            .trust_issuer(issuer, base)
            .map(|_| ())
            .map_err(|e| e.code())
    };
    // The base is refused when it is trusted: nothing is ever fetched.
    assert_eq!(trusting(ISS, &server.prefix()), Err("insecure_url"));
    // A plain-http issuer off loopback may be trusted (a source handed
    // lists offline fetches nothing: review S14 V2-1), even with a
    // loopback base, but nothing is ever fetched for it: each fetch checks
    // the issuer too, before its request.
    let off_loopback = "http://issuer.example";
    assert_eq!(
        trusting(off_loopback, "https://issuer.example/status"),
        Ok(())
    );
    let source = StatusListSource::new(f.key_store())
        .with_clock(f.clock.clone())
        .trust_issuer(off_loopback, server.prefix())
        .unwrap();
    let fetched = source.ensure_fresh(off_loopback, &server.uri()).await;
    assert_eq!(fetched.map_err(|e| e.code()), Err("insecure_url"));
    assert_eq!(trusting(ISS, "https://issuer.local/status"), Ok(()));
    assert_eq!(trusting(LOOPBACK_ISS, &server.prefix()), Ok(()));
    // The same rule, as `passport verify` and the key store apply it.
    assert_eq!(
        check_status_url(ISS, &server.uri()).map_err(|e| e.code()),
        Err("insecure_url")
    );
    assert_eq!(server.hits(), 0, "the list was fetched over plain http");
}
