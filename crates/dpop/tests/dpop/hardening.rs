//! Issue 10, item 5: one key cannot deny DPoP to the others by flooding the
//! replay cache, and backslashes cannot carry dot segments past the `htu`
//! check.

use std::sync::Arc;

use passport_claims::ManualClock;
use passport_dpop::{
    DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_KEY_SHARE, DpopError, DpopKey, DpopPolicy,
    DpopVerifier, InMemoryReplayCache,
};
use passport_jose::Algorithm;
use passport_testkit::NOW;

const URL: &str = "https://tools.example/mcp";
const BUNDLE: &str = "eyJhbGciOiJFZERTQSJ9.e30.sig~eyJhbGciOiJFZERTQSJ9.e30.sig";

fn send(verifier: &DpopVerifier, key: &DpopKey) -> Result<(), DpopError> {
    let proof = key.proof("POST", URL, Some(BUNDLE), None, NOW).unwrap();
    verifier
        .verify(&[&proof], "POST", URL, Some(BUNDLE), Some(key.jkt()))
        .map(|_| ())
}

#[test]
fn a_key_flooding_the_replay_cache_is_refused_while_other_keys_are_served() {
    let clock = Arc::new(ManualClock::new(NOW));
    let cache = Arc::new(InMemoryReplayCache::new(40, clock.clone()).with_key_share(10));
    let verifier =
        DpopVerifier::new(DpopPolicy::default(), clock.clone()).with_replay_cache(cache.clone());
    let flooder = DpopKey::generate(Algorithm::EdDSA).unwrap();
    for _ in 0..10 {
        send(&verifier, &flooder).unwrap();
    }
    // Every further fresh proof of the flooder: its own refusal, with the
    // wait until its entries (live through iat + 60) have expired.
    for _ in 0..50 {
        assert_eq!(
            send(&verifier, &flooder),
            Err(DpopError::ReplayQuotaExceeded { retry_after: 61 })
        );
    }
    // Three other agents still get all their proofs accepted.
    for _ in 0..3 {
        let agent = DpopKey::generate(Algorithm::ES256).unwrap();
        for _ in 0..10 {
            send(&verifier, &agent).unwrap();
        }
    }
    assert_eq!(cache.len(), 40);
    assert_eq!(cache.keys(), 4);
    // Only once the cache as a whole is full does it fail closed, for all.
    let late = DpopKey::generate(Algorithm::ES256).unwrap();
    assert_eq!(send(&verifier, &late), Err(DpopError::ReplayCacheFull));
    let err = DpopError::ReplayQuotaExceeded { retry_after: 61 };
    assert_eq!(err.code(), "replay_quota_exceeded");
    assert!(
        !err.is_server_error(),
        "the flooder's problem, not the server's"
    );
}

#[test]
fn the_default_verifier_gives_each_key_a_share() {
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = DpopVerifier::new(DpopPolicy::default(), clock.clone());
    let flooder = DpopKey::generate(Algorithm::EdDSA).unwrap();
    for _ in 0..DEFAULT_REPLAY_KEY_SHARE {
        send(&verifier, &flooder).unwrap();
    }
    assert_eq!(
        send(&verifier, &flooder).unwrap_err().code(),
        "replay_quota_exceeded"
    );
    let other = DpopKey::generate(Algorithm::EdDSA).unwrap();
    send(&verifier, &other).unwrap();
    let cache = InMemoryReplayCache::new(DEFAULT_REPLAY_CAPACITY, clock);
    assert_eq!(cache.key_share(), DEFAULT_REPLAY_KEY_SHARE);
}

#[test]
fn backslashes_in_the_request_path_are_refused() {
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = DpopVerifier::new(DpopPolicy::default(), clock);
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    // The attack: a proof made for /public, a request the router sees as
    // /static/x\..\..\public and the URL parser as /public.
    let public = "https://tools.example/public";
    for request in [
        r"https://tools.example/static/x\..\..\public",
        r"https://tools.example/static/x\..%5C..\public",
        "https://tools.example/static/x%5C..%5C..%5Cpublic",
        "https://tools.example/static/x%5c..%5c..%5cpublic",
        r"https://tools.example/static\public",
        r"https://tools.example/public\",
    ] {
        let proof = key.proof("GET", public, Some(BUNDLE), None, NOW).unwrap();
        let err = verifier
            .verify(&[&proof], "GET", request, Some(BUNDLE), Some(key.jkt()))
            .unwrap_err();
        assert_eq!(err.code(), "invalid_url", "{request}");
        assert_eq!(
            err,
            DpopError::InvalidUrl("the request path has a backslash".into())
        );
    }
    // A backslash in the query is not part of `htu` and harmless.
    let proof = key.proof("GET", public, Some(BUNDLE), None, NOW).unwrap();
    verifier
        .verify(
            &[&proof],
            "GET",
            r"https://tools.example/public?q=a\b",
            Some(BUNDLE),
            Some(key.jkt()),
        )
        .unwrap();
}

#[test]
fn request_paths_the_url_parser_would_rewrite_are_refused() {
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = DpopVerifier::new(DpopPolicy::default(), clock);
    let key = DpopKey::generate(Algorithm::ES256).unwrap();
    // The parser percent-encodes these, so the router and `htu` would see
    // different paths.
    for (request, proof_url) in [
        (
            "https://tools.example/a{b}",
            "https://tools.example/a%7Bb%7D",
        ),
        (
            "https://tools.example/a<b>",
            "https://tools.example/a%3Cb%3E",
        ),
    ] {
        let proof = key
            .proof("GET", proof_url, Some(BUNDLE), None, NOW)
            .unwrap();
        let err = verifier
            .verify(&[&proof], "GET", request, Some(BUNDLE), Some(key.jkt()))
            .unwrap_err();
        assert_eq!(
            err,
            DpopError::InvalidUrl("the URL parser would rewrite the request path".into()),
            "{request}"
        );
    }
}
