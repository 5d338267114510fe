//! The discovery and JWKS caches: rotation, `kid`-less tokens, and the
//! refetch budget under a flood of unknown `kid`s.

use passport_mock_oidc::{Endpoint, MockOidc};
use serde_json::json;

use crate::common::{env, env_with};

#[tokio::test]
async fn discovery_and_jwks_are_fetched_once_not_per_token() {
    let env = env().await;
    for _ in 0..10 {
        let token = env.mock.mint_id_token(env.mock.default_claims());
        assert_eq!(env.validate_code(&token).await, "ok");
    }
    assert_eq!(env.mock.request_count(Endpoint::Discovery), 1);
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn discovery_is_fetched_again_after_its_ttl() {
    let env = env().await;
    let token = env.mock.mint_id_token(env.mock.default_claims());
    assert_eq!(env.validate_code(&token).await, "ok");
    env.clock.advance(299);
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(env.mock.default_claims()))
            .await,
        "ok"
    );
    assert_eq!(env.mock.request_count(Endpoint::Discovery), 1);
    env.clock.advance(1);
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(env.mock.default_claims()))
            .await,
        "ok"
    );
    assert_eq!(env.mock.request_count(Endpoint::Discovery), 2);
}

#[tokio::test]
async fn kid_absent_with_one_key_uses_it() {
    let env = env().await;
    let header = json!({"alg": env.mock.algorithm().as_str(), "typ": "JWT"});
    let token = env
        .mock
        .mint_id_token_with_header(header, env.mock.default_claims());
    assert_eq!(env.validate_code(&token).await, "ok");
}

#[tokio::test]
async fn kid_absent_with_several_keys_is_ambiguous() {
    let env = env().await;
    env.mock.rotate_keys(true);
    let header = json!({"alg": env.mock.algorithm().as_str(), "typ": "JWT"});
    let token = env
        .mock
        .mint_id_token_with_header(header, env.mock.default_claims());
    let err = env.validate(&token).await.unwrap_err();
    assert!(
        matches!(err, passport_oidc::OidcError::AmbiguousKey(2)),
        "{err:?}"
    );
}

#[tokio::test]
async fn rotation_is_picked_up_by_one_refetch() {
    let env = env().await;
    let old = env.mock.mint_id_token(env.mock.default_claims());
    assert_eq!(env.validate_code(&old).await, "ok");
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 1);

    let new_kid = env.mock.rotate_keys(false);
    env.clock.advance(30); // one cooldown later
    let new = env.mock.mint_id_token(env.mock.default_claims());
    let identity = env.validate(&new).await.unwrap();
    assert_eq!(identity.subject, "alice");
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 2);
    assert_ne!(new_kid, "");

    // The old key is gone from the provider's JWKS, and so from the cache.
    let err = env.validate(&old).await.unwrap_err();
    assert_eq!(err.code(), "unknown_kid");
}

#[tokio::test]
async fn rotation_within_the_cooldown_waits_for_it() {
    let env = env().await;
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(env.mock.default_claims()))
            .await,
        "ok"
    );
    env.mock.rotate_keys(false);
    env.clock.advance(29);
    let new = env.mock.mint_id_token(env.mock.default_claims());
    assert_eq!(env.validate_code(&new).await, "unknown_kid");
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 1);
    env.clock.advance(1);
    assert_eq!(env.validate_code(&new).await, "ok");
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 2);
}

#[tokio::test]
async fn a_burst_of_unknown_kids_costs_one_refetch_per_cooldown() {
    let env = env().await;
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(env.mock.default_claims()))
            .await,
        "ok"
    );
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 1);
    let alg = env.mock.algorithm().as_str();
    let random_kid_token = |i: usize, round: usize| {
        let header = json!({"alg": alg, "kid": format!("attacker-{round}-{i}")});
        env.mock
            .mint_id_token_with_header(header, env.mock.default_claims())
    };

    // Within the cooldown of the first fetch: no request at all.
    for i in 0..50 {
        assert_eq!(
            env.validate_code(&random_kid_token(i, 0)).await,
            "unknown_kid"
        );
    }
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 1);

    // One cooldown later: exactly one refetch for the whole burst.
    env.clock.advance(30);
    for i in 0..50 {
        assert_eq!(
            env.validate_code(&random_kid_token(i, 1)).await,
            "unknown_kid"
        );
    }
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 2);

    // Concurrently, too.
    env.clock.advance(30);
    let tokens: Vec<String> = (0..20).map(|i| random_kid_token(i, 2)).collect();
    let results = futures_join_all(tokens.iter().map(|t| env.validate_code(t))).await;
    assert!(results.iter().all(|c| *c == "unknown_kid"), "{results:?}");
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 3);

    // Valid tokens keep validating from the cache throughout.
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(env.mock.default_claims()))
            .await,
        "ok"
    );
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 3);
}

#[tokio::test]
async fn a_custom_cooldown_is_honoured() {
    let env = env_with(MockOidc::builder(), |c| {
        c.jwks_refetch_cooldown = std::time::Duration::from_secs(5)
    })
    .await;
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(env.mock.default_claims()))
            .await,
        "ok"
    );
    env.mock.rotate_keys(false);
    env.clock.advance(5);
    assert_eq!(
        env.validate_code(&env.mock.mint_id_token(env.mock.default_claims()))
            .await,
        "ok"
    );
    assert_eq!(env.mock.request_count(Endpoint::Jwks), 2);
}

/// A minimal join-all (the crate does not depend on `futures`): drives every
/// future on one task so their cache accesses interleave.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}
