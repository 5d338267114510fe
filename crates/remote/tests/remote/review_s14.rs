//! Review S14: a co-trusted issuer publishing a copy of another issuer's
//! key. The store cannot tell the key's owner from the copier, so no rule
//! may give the key to whichever was fetched first: the first reviewer
//! (R3-1) had the copier take the victim's long-held key by choosing when
//! its own previous fetch was, the second had it take the key by being
//! listed first at start-up. A key two trusted issuers publish is used by
//! neither — the copier never verifies with it — visibly, until the copy
//! is withdrawn; then the victim gets it back.

use passport_remote::RemoteKeys;

use crate::common::{Reply, Server, builder, clock, jwks, key, lookup};

/// R3-1: the victim held and used `a2` for 30 minutes; the hostile issuer,
/// cached for an hour by its own `max-age`, then publishes a copy. The copy
/// never verifies for the hostile issuer, the conflict is in the victim's
/// health at its next fetch, and once the copy is gone the victim's next
/// fetch (an unknown-`kid` refetch is enough) gets the key back.
#[tokio::test]
async fn a_co_trusted_issuer_copying_the_victims_key_never_verifies_with_it() {
    let server = Server::start().await;
    let (victim, hostile) = (server.url("/victim"), server.url("/hostile"));
    let (a1, a2, h) = (key(), key(), key());
    let clock = clock();
    server.set_jwks("/victim/jwks", &[&a1]);
    server.set(
        "/hostile/jwks",
        Reply::json(&jwks(&[&h])).with_header("cache-control", "max-age=3600"),
    );
    let keys: RemoteKeys = builder(&clock)
        .trust_jwks(&victim, server.url("/victim/jwks"))
        .trust_jwks(&hostile, server.url("/hostile/jwks"))
        .build()
        .await
        .unwrap();
    clock.advance(300);
    server.set_jwks("/victim/jwks", &[&a1, &a2]);
    keys.refresh_now(&victim).await.unwrap();
    for _ in 0..6 {
        clock.advance(300);
        keys.refresh_now(&victim).await.unwrap();
    }
    server.set(
        "/hostile/jwks",
        Reply::json(&jwks(&[&h, &a2])).with_header("cache-control", "max-age=3600"),
    );
    let err = keys.refresh_now(&hostile).await.unwrap_err();
    assert_eq!(err.code(), "key_issuer_conflict");
    assert!(
        lookup(&keys, &hostile, a2.kid()).is_none(),
        "the copier verifies with the victim's key"
    );
    assert!(lookup(&keys, &victim, a2.kid()).is_none());
    assert!(lookup(&keys, &victim, a1.kid()).is_some());
    assert_eq!(
        keys.refresh_now(&victim).await.unwrap_err().code(),
        "key_issuer_conflict"
    );
    // The copy is withdrawn: the victim's next fetch gets its key back.
    server.set_jwks("/hostile/jwks", &[&h]);
    keys.refresh_now(&hostile).await.unwrap();
    keys.refresh_now(&victim).await.unwrap();
    assert!(lookup(&keys, &victim, a2.kid()).is_some());
    assert!(lookup(&keys, &hostile, a2.kid()).is_none());
}

/// The second reviewer's case: the hostile issuer, listed first, publishes
/// a copy of the victim's long-standing key at start-up. It does not get
/// the key (neither does the victim while the copy stays), and the store is
/// built with the rest of both sets.
#[tokio::test]
async fn at_startup_the_issuer_listed_first_does_not_get_a_copied_key() {
    let server = Server::start().await;
    let (victim, hostile) = (server.url("/victim"), server.url("/hostile"));
    let (a1, a0, h) = (key(), key(), key());
    server.set_jwks("/victim/jwks", &[&a0, &a1]);
    server.set_jwks("/hostile/jwks", &[&h, &a1]);
    let keys: RemoteKeys = builder(&clock())
        .trust_jwks(&hostile, server.url("/hostile/jwks"))
        .trust_jwks(&victim, server.url("/victim/jwks"))
        .build()
        .await
        .unwrap();
    assert!(
        lookup(&keys, &hostile, a1.kid()).is_none(),
        "the issuer listed first got the victim's key"
    );
    assert!(lookup(&keys, &victim, a1.kid()).is_none());
    assert!(lookup(&keys, &victim, a0.kid()).is_some());
    assert!(lookup(&keys, &hostile, h.kid()).is_some());
}

/// Review S14, third pass: a copier that goes dark (its JWKS unreachable)
/// fails closed after `max_stale`; its last set then claims nothing, and
/// the victim's next fetch gets its key back.
#[tokio::test]
async fn a_copier_that_failed_closed_claims_nothing() {
    let server = Server::start().await;
    let (victim, hostile) = (server.url("/victim"), server.url("/hostile"));
    let (a1, h) = (key(), key());
    let clock = clock();
    server.set_jwks("/victim/jwks", &[&a1]);
    server.set_jwks("/hostile/jwks", &[&h, &a1]);
    let keys: RemoteKeys = builder(&clock)
        .trust_jwks(&victim, server.url("/victim/jwks"))
        .trust_jwks(&hostile, server.url("/hostile/jwks"))
        .build()
        .await
        .unwrap();
    assert!(lookup(&keys, &victim, a1.kid()).is_none());
    // the copier's JWKS goes away; past its cache lifetime and max_stale
    // (300 s + 600 s here) it has failed closed
    server.set("/hostile/jwks", Reply::status(503));
    clock.advance(901);
    let _ = keys.refresh_now(&hostile).await;
    assert!(
        keys.health()
            .iter()
            .any(|h| h.issuer == hostile && h.failed_closed),
        "{:?}",
        keys.health()
    );
    keys.refresh_now(&victim).await.unwrap();
    assert!(lookup(&keys, &victim, a1.kid()).is_some());
}
