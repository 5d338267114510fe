//! Hostile refreshes: each is refused as a whole, with its own error, and
//! the previous set stays in use.

use passport_jose::MAX_JWKS_KEYS;
use passport_remote::{RemoteError, RemoteKeys};
use serde_json::{Value, json};

use crate::common::{Reply, Server, builder, clock, jwks, key, lookup};

/// A store trusting `server.base` with key A, then the hostile `reply`:
/// the refresh fails with `code`, A is still served, health names the code.
async fn refused(server: &Server, reply: Reply, code: &str) -> RemoteError {
    let a = key();
    server.set_jwks("/jwks", &[&a]);
    let keys = builder(&clock())
        .max_response_bytes(64 * 1024)
        .trust_jwks(&server.base, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    server.set("/jwks", reply);
    let err = keys.refresh_now(&server.base).await.unwrap_err();
    assert_eq!(err.code(), code, "{err:?}");
    assert!(
        lookup(&keys, &server.base, a.kid()).is_some(),
        "the previous set is kept"
    );
    let health = &keys.health()[0];
    assert_eq!(health.keys, 1);
    assert_eq!(health.last_error.as_ref().map(|e| e.code), Some(code));
    err
}

#[tokio::test]
async fn a_set_with_a_weak_key_is_refused_whole() {
    let server = Server::start().await;
    let weak =
        json!({"kty": "RSA", "kid": "weak", "alg": "RS256", "use": "sig", "n": "xQ", "e": "AQAB"});
    let good = key().verifying_key().jwk().clone();
    let err = refused(
        &server,
        Reply::json(&json!({"keys": [Value::Object(good), weak]})),
        "invalid_jwks",
    )
    .await;
    let RemoteError::InvalidJwks { source, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(source.code(), "weak_key");
}

#[tokio::test]
async fn a_set_of_more_than_the_maximum_keys_is_refused() {
    let server = Server::start().await;
    let one = Value::Object(key().verifying_key().jwk().clone());
    let doc = json!({"keys": vec![one; MAX_JWKS_KEYS + 1]});
    let err = refused(&server, Reply::json(&doc), "invalid_jwks").await;
    assert!(err.to_string().contains("more than the 64"), "{err}");
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let server = Server::start().await;
    let mut reply = Reply::json(&jwks(&[&key()]));
    reply.body.resize(64 * 1024 + 1, b' ');
    refused(&server, reply, "response_too_large").await;
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = Server::start().await;
    server.set_jwks("/elsewhere", &[&key()]);
    let reply = Reply::status(302).with_header("location", &server.url("/elsewhere"));
    refused(&server, reply, "http_redirect").await;
    assert_eq!(server.hits("/elsewhere"), 0);
}

#[tokio::test]
async fn a_set_without_usable_keys_is_refused() {
    let server = Server::start().await;
    refused(&server, Reply::json(&json!({"keys": []})), "jwks_empty").await;
}

#[tokio::test]
async fn malformed_json_is_refused() {
    let server = Server::start().await;
    let mut reply = Reply::json(&json!({}));
    reply.body = b"{\"keys\": [".to_vec();
    refused(&server, reply, "invalid_jwks").await;
}

/// A key two trusted issuers publish is used by neither (SPEC §5 item 5:
/// one key, one issuer; the store cannot tell the owner from a copier), the
/// rest of each set is used, the conflict is in health; once one stops
/// publishing it, the other gets it at its next fetch.
#[tokio::test]
async fn a_key_of_another_trusted_issuer_is_refused() {
    let server = Server::start().await;
    let (one, two) = (server.url("/one"), server.url("/two"));
    let (a, b, c) = (key(), key(), key());
    server.set_jwks("/one/jwks", &[&a]);
    server.set_jwks("/two/jwks", &[&b]);
    let keys = builder(&clock())
        .trust_jwks(&one, server.url("/one/jwks"))
        .trust_jwks(&two, server.url("/two/jwks"))
        .build()
        .await
        .unwrap();
    // Issuer two now publishes issuer one's key (under its own kid or not)
    // beside a new key of its own: one's key holder could sign as two.
    server.set_jwks("/two/jwks", &[&b, &a, &c]);
    let err = keys.refresh_now(&two).await.unwrap_err();
    assert_eq!(err.code(), "key_issuer_conflict");
    assert!(
        matches!(&err, RemoteError::KeyIssuerConflict { issuer, other, .. } if *issuer == two && *other == one),
        "{err:?}"
    );
    assert!(
        lookup(&keys, &two, a.kid()).is_none(),
        "two verifies with a"
    );
    assert!(
        lookup(&keys, &one, a.kid()).is_none(),
        "a key two issuers publish is used by neither"
    );
    assert!(
        lookup(&keys, &two, b.kid()).is_some() && lookup(&keys, &two, c.kid()).is_some(),
        "the rest of two's set is used"
    );
    let health = &keys.health()[1];
    assert_eq!(health.keys, 2);
    assert_eq!(
        health.last_error.as_ref().map(|e| e.code),
        Some("key_issuer_conflict")
    );
    // One's next refresh does not get it back while two publishes it, and
    // says so in one's health.
    let err = keys.refresh_now(&one).await.unwrap_err();
    assert_eq!(err.code(), "key_issuer_conflict");
    assert!(lookup(&keys, &one, a.kid()).is_none());
    // Two withdraws it: one's next fetch gets it.
    server.set_jwks("/two/jwks", &[&b, &c]);
    keys.refresh_now(&two).await.unwrap();
    keys.refresh_now(&one).await.unwrap();
    assert!(lookup(&keys, &one, a.kid()).is_some());
    assert!(lookup(&keys, &two, a.kid()).is_none());

    // The same at startup, whichever issuer is fetched first: neither uses
    // it, the store is built, the rest is used, the conflict is in health.
    server.set_jwks("/two/jwks", &[&b, &a]);
    for order in [[&one, &two], [&two, &one]] {
        let (first, second) = (order[0], order[1]);
        let keys = builder(&clock())
            .trust_jwks(first, format!("{first}/jwks"))
            .trust_jwks(second, format!("{second}/jwks"))
            .build()
            .await
            .unwrap();
        assert!(lookup(&keys, &one, a.kid()).is_none(), "{first} first");
        assert!(lookup(&keys, &two, a.kid()).is_none(), "{first} first");
        assert!(lookup(&keys, &two, b.kid()).is_some());
        assert_eq!(
            keys.health()[1].last_error.as_ref().map(|e| e.code),
            Some("key_issuer_conflict")
        );
    }
}

#[tokio::test]
async fn refresh_now_refuses_an_untrusted_issuer() {
    let server = Server::start().await;
    server.set_jwks("/jwks", &[&key()]);
    let keys: RemoteKeys = builder(&clock())
        .trust_jwks(&server.base, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    let err = keys.refresh_now("https://other.example").await.unwrap_err();
    assert_eq!(err.code(), "unknown_issuer");
}

/// Review finding 4: a key found in two issuers' sets used to refuse the
/// *later* set as a whole. So one trusted issuer that copied another's newly
/// published key (a JWKS is public) into its own set, and got refreshed
/// first (an unknown-`kid` token naming it is enough), froze the other's
/// rotation: every refresh of the victim was refused, and after `max_stale`
/// it failed closed altogether. Now only the contested key is refused — used
/// by neither while both publish it — and the rest of the victim's set, its
/// later keys included, is used.
#[tokio::test]
async fn another_issuer_copying_a_new_key_cannot_freeze_a_rotation() {
    let server = Server::start().await;
    let (victim, hostile) = (server.url("/victim"), server.url("/hostile"));
    let (a1, a2, a3, h) = (key(), key(), key(), key());
    server.set_jwks("/victim/jwks", &[&a1]);
    server.set_jwks("/hostile/jwks", &[&h]);
    let keys = builder(&clock())
        .trust_jwks(&victim, server.url("/victim/jwks"))
        .trust_jwks(&hostile, server.url("/hostile/jwks"))
        .build()
        .await
        .unwrap();
    // The victim publishes its next key; the hostile issuer copies it first.
    server.set_jwks("/victim/jwks", &[&a1, &a2]);
    server.set_jwks("/hostile/jwks", &[&h, &a2]);
    keys.refresh_now(&hostile).await.unwrap();
    let err = keys.refresh_now(&victim).await.unwrap_err();
    assert!(
        matches!(&err, RemoteError::KeyIssuerConflict { issuer, other, .. } if *issuer == victim && *other == hostile),
        "{err:?}"
    );
    // Used by neither (the copier never verifies with it); everything else
    // stays.
    assert!(lookup(&keys, &victim, a2.kid()).is_none());
    assert!(lookup(&keys, &hostile, a2.kid()).is_none());
    assert!(lookup(&keys, &victim, a1.kid()).is_some());
    assert!(lookup(&keys, &hostile, h.kid()).is_some());
    let health = &keys.health()[0];
    assert_eq!(health.keys, 1);
    assert!(!health.failed_closed);
    assert_eq!(
        health.last_error.as_ref().map(|e| e.code),
        Some("key_issuer_conflict")
    );
    // The victim's next refresh does not win the key over either.
    keys.refresh_now(&victim).await.unwrap_err();
    assert!(lookup(&keys, &victim, a2.kid()).is_none());

    // The rotation goes on: a key the hostile issuer did not copy is used.
    server.set_jwks("/victim/jwks", &[&a1, &a2, &a3]);
    keys.refresh_now(&victim).await.unwrap_err();
    assert!(lookup(&keys, &victim, a3.kid()).is_some());
    assert!(lookup(&keys, &victim, a1.kid()).is_some());

    // Once the hostile issuer stops publishing it, the key is the victim's.
    server.set_jwks("/hostile/jwks", &[&h]);
    keys.refresh_now(&hostile).await.unwrap();
    keys.refresh_now(&victim).await.unwrap();
    assert!(lookup(&keys, &victim, a2.kid()).is_some());
    assert_eq!(keys.health()[0].last_error, None);
}
