//! Unknown `kid`: one refetch per cooldown per issuer, shared by concurrent
//! callers; other failures and other issuers fetch nothing.

use std::sync::Arc;

use passport_claims::UnverifiedBundle;
use passport_issuer::Issuer;
use passport_jose::SigningKey;
use passport_remote::RemoteKeys;
use passport_testkit::{AUD, alice_ial2, issuance};
use passport_verifier::{KeyStore, Refetch, VerificationPolicy, Verifier};

use crate::common::{Server, builder, clock, key};

fn passport(iss: &str, key: &SigningKey, clock: &Arc<passport_claims::ManualClock>) -> String {
    let issuer = Issuer::new(iss, key.try_clone().unwrap()).with_clock(clock.clone());
    issuer
        .issue(issuance(
            alice_ial2(),
            AUD,
            "agent-a",
            "model-a",
            &["files:read"],
        ))
        .unwrap()
        .bundle()
        .to_owned()
}

fn verifier(keys: &RemoteKeys, iss: &str, clock: &Arc<passport_claims::ManualClock>) -> Verifier {
    let store: Arc<dyn KeyStore> = Arc::new(keys.clone());
    Verifier::with_key_store(VerificationPolicy::new(iss, AUD), store)
        .unwrap()
        .with_clock(clock.clone())
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_per_cooldown() {
    let server = Server::start().await;
    let clock = clock();
    let iss = server.base.clone();
    let (a, b) = (key(), key());
    server.set_jwks("/jwks", &[&a]);
    let keys = builder(&clock)
        .trust_jwks(&iss, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    let verifier = verifier(&keys, &iss, &clock);

    // The issuer rotates to B; a passport signed by B arrives before the
    // background refresh.
    server.set_jwks("/jwks", &[&a, &b]);
    let text = passport(&iss, &b, &clock);
    let bundle = UnverifiedBundle::parse(&text).unwrap();
    let err = verifier.verify_str(&text).unwrap_err();
    assert_eq!(err.code(), "unknown_kid");
    // Within the cooldown of the startup fetch: nothing.
    assert!(keys.refetch(&bundle, &err).is_none());
    clock.advance(30);
    keys.refetch(&bundle, &err).expect("a refetch").await;
    assert_eq!(server.hits("/jwks"), 2);
    verifier
        .verify_str(&text)
        .expect("verifies after the refetch");

    // A stream of forged kids: no request until the cooldown has passed.
    let forged = key();
    let text = passport(&iss, &forged, &clock);
    let bundle = UnverifiedBundle::parse(&text).unwrap();
    let err = verifier.verify_str(&text).unwrap_err();
    for _ in 0..100 {
        assert!(keys.refetch(&bundle, &err).is_none());
    }
    assert_eq!(server.hits("/jwks"), 2);
    clock.advance(29);
    assert!(keys.refetch(&bundle, &err).is_none());
    clock.advance(1);
    keys.refetch(&bundle, &err)
        .expect("after the cooldown")
        .await;
    assert_eq!(server.hits("/jwks"), 3);
    assert_eq!(
        verifier.verify_str(&text).unwrap_err().code(),
        "unknown_kid"
    );
}

/// A store trusting one issuer with one key, its clock at the end of the
/// startup fetch's cooldown.
async fn one_issuer_past_the_cooldown() -> (Server, String, RemoteKeys) {
    let server = Server::start().await;
    let clock = clock();
    let iss = server.base.clone();
    server.set_jwks("/jwks", &[&key()]);
    let keys = builder(&clock)
        .trust_jwks(&iss, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    clock.advance(30);
    (server, iss, keys)
}

#[tokio::test]
async fn concurrent_refetches_share_one_fetch() {
    let (server, iss, keys) = one_issuer_past_the_cooldown().await;
    let futures: Vec<_> = (0..10)
        .map(|_| {
            keys.refetch_issuer(&iss)
                .expect("a fetch, or a wait for it")
        })
        .collect();
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(server.hits("/jwks"), 2, "ten callers, one request");
    // Done: the cooldown now applies again.
    assert!(keys.refetch_issuer(&iss).is_none());
}

#[tokio::test]
async fn other_failures_and_untrusted_issuers_fetch_nothing() {
    let server = Server::start().await;
    let clock = clock();
    let iss = server.base.clone();
    let a = key();
    server.set_jwks("/jwks", &[&a]);
    let keys = builder(&clock)
        .trust_jwks(&iss, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    clock.advance(30);
    let verifier = verifier(&keys, &iss, &clock);

    // Expired (the passport was issued a day ago): not a key problem.
    let old = Arc::new(passport_claims::ManualClock::new(
        crate::common::NOW - 86_400,
    ));
    let text = passport(&iss, &a, &old);
    let err = verifier.verify_str(&text).unwrap_err();
    assert_ne!(err.code(), "unknown_kid");
    assert!(
        keys.refetch(&UnverifiedBundle::parse(&text).unwrap(), &err)
            .is_none()
    );

    // An unknown kid of an issuer this store does not trust.
    let text = passport("https://untrusted.example", &key(), &clock);
    let err = verifier.verify_str(&text).unwrap_err();
    assert!(
        keys.refetch(&UnverifiedBundle::parse(&text).unwrap(), &err)
            .is_none()
    );
    assert!(keys.refetch_issuer("https://untrusted.example").is_none());
    assert_eq!(server.hits("/jwks"), 1);
}

#[tokio::test]
async fn an_unknown_kid_at_an_ancestor_refetches_that_links_issuer() {
    let server = Server::start().await;
    let clock = clock();
    let iss = server.base.clone();
    let (a, b) = (key(), key());
    server.set_jwks("/jwks", &[&a, &b]);
    let keys = builder(&clock)
        .trust_jwks(&iss, server.url("/jwks"))
        .build()
        .await
        .unwrap();

    // A root signed with B, delegated with A: leaf~root.
    let root = passport(&iss, &b, &clock);
    let parent = match verifier(&keys, &iss, &clock)
        .dangerous_ignore_status()
        .verify_str_pending_proof(&root)
        .unwrap()
    {
        passport_verifier::Verification::Verified(v) => v,
        passport_verifier::Verification::ProofRequired(p) => p.dangerous_assume_proven().unwrap(),
        other => panic!("{other:?}"),
    };
    let delegating = Issuer::new(&iss, a.try_clone().unwrap()).with_clock(clock.clone());
    let text = delegating
        .delegate(passport_testkit::delegation(
            &parent,
            AUD,
            "agent-b",
            "model-b",
            &["files:read"],
        ))
        .unwrap()
        .bundle()
        .to_owned();

    // B leaves the set; the leaf's key (A) is still known, the root's is not.
    server.set_jwks("/jwks", &[&a]);
    keys.refresh_now(&iss).await.unwrap();
    let verifier = verifier(&keys, &iss, &clock);
    let err = verifier.verify_str(&text).unwrap_err();
    assert_eq!((err.code(), err.link()), ("unknown_kid", 1));

    server.set_jwks("/jwks", &[&a, &b]);
    clock.advance(30);
    let bundle = UnverifiedBundle::parse(&text).unwrap();
    keys.refetch(&bundle, &err)
        .expect("a refetch of link 1's issuer")
        .await;
    verifier
        .verify_str(&text)
        .expect("verifies after the refetch");
}

/// Review: a refetch reserved while another fetch's reservation was still
/// held skipped the cooldown check, and fetched again right after that
/// fetch finished. The cooldown is checked once more under the fetch lock.
#[tokio::test]
async fn a_refetch_reserved_beside_a_finished_fetch_keeps_the_cooldown() {
    let (server, iss, keys) = one_issuer_past_the_cooldown().await;
    // Reserved, not yet run: the issuer counts a fetch in flight.
    let first = keys.refetch_issuer(&iss).expect("past the cooldown");
    keys.refresh_now(&iss).await.unwrap();
    assert_eq!(server.hits("/jwks"), 2);
    // Still in flight (the first reservation), so no cooldown check here …
    let second = keys.refetch_issuer(&iss).expect("a fetch is in flight");
    first.await;
    second.await;
    // … but none of them fetches within the cooldown of the last fetch.
    assert_eq!(server.hits("/jwks"), 2);
}
