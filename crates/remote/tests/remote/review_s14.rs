//! Review S14: findings on passport-remote, each a test that
//! fails on the code reviewed (685a2688) and passes once fixed.

use passport_remote::RemoteKeys;

use crate::common::{Reply, Server, builder, clock, jwks, key, lookup};

/// Review S14, finding R3-1. "Both claimed it at once" is measured against the hostile
/// issuer's previous *successful* set, whose age the hostile issuer chooses
/// (its own `Cache-Control: max-age`, up to `max_ttl`, or failing its own
/// fetches). So a co-trusted issuer can take from the victim not only a key
/// it has just published, but the key the victim has been signing with for
/// hours: every passport of the victim is then refused (`unknown_kid`), and
/// the victim's own refetch cannot win it back while the copy stays
/// published.
#[tokio::test]
async fn a_co_trusted_issuer_cannot_take_a_key_the_victim_has_been_using() {
    let server = Server::start().await;
    let (victim, hostile) = (server.url("/victim"), server.url("/hostile"));
    let (a1, a2, h) = (key(), key(), key());
    let clock = clock();
    server.set_jwks("/victim/jwks", &[&a1]);
    // The hostile issuer asks to be cached as long as the store allows:
    // its next scheduled refresh is ~48 min away (80 % of max_ttl 3600 s).
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

    // Five minutes later the victim rotates: a2 is published, fetched, and
    // from now on every new passport of the victim is signed with it.
    clock.advance(300);
    server.set_jwks("/victim/jwks", &[&a1, &a2]);
    keys.refresh_now(&victim).await.unwrap();
    assert!(lookup(&keys, &victim, a2.kid()).is_some());

    // Thirty minutes of the victim signing with a2 (its set refreshed as
    // usual in between). Then the hostile issuer's scheduled refresh comes,
    // and its set now carries a copy of a2.
    for _ in 0..6 {
        clock.advance(300);
        keys.refresh_now(&victim).await.unwrap();
    }
    server.set(
        "/hostile/jwks",
        Reply::json(&jwks(&[&h, &a2])).with_header("cache-control", "max-age=3600"),
    );
    let _ = keys.refresh_now(&hostile).await;

    // a2 was the victim's alone for 30 minutes: it must stay the victim's
    // (the later claimant alone is refused), as it does for a key the
    // victim held before the hostile issuer's previous fetch.
    assert!(
        lookup(&keys, &victim, a2.kid()).is_some(),
        "the victim's signing key, held for 30 min, was taken from it by another issuer's copy"
    );
    assert!(lookup(&keys, &hostile, a2.kid()).is_none());
}
