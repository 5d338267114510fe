//! Discovery: RFC 8414 (with path insertion), the OpenID fallback, exact
//! issuer match, JWKS URLs without discovery, and all-or-nothing startup.

use passport_remote::{OAUTH_METADATA_SUFFIX, OPENID_METADATA_SUFFIX, RemoteError};

use crate::common::{Reply, Server, builder, clock, key, lookup, metadata};

#[tokio::test]
async fn rfc8414_metadata_names_the_jwks_uri() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let a = key();
    server.set(
        OAUTH_METADATA_SUFFIX,
        Reply::json(&metadata(&issuer, &server.url("/jwks"))),
    );
    server.set_jwks("/jwks", &[&a]);

    let keys = builder(&clock())
        .trust_issuer(&issuer)
        .build()
        .await
        .unwrap();
    assert!(
        lookup(&keys, &issuer, a.kid())
            .unwrap()
            .same_key(&keys.keys_of(&issuer)[0])
    );
    let health = &keys.health()[0];
    assert_eq!(
        health.jwks_uri.as_deref(),
        Some(server.url("/jwks").as_str())
    );
    assert_eq!(health.keys, 1);
    assert_eq!(server.hits(OPENID_METADATA_SUFFIX), 0);
}

#[tokio::test]
async fn rfc8414_inserts_the_well_known_segment_before_the_issuer_path() {
    let server = Server::start().await;
    let issuer = server.url("/tenant/a");
    let a = key();
    server.set(
        &format!("{OAUTH_METADATA_SUFFIX}/tenant/a"),
        Reply::json(&metadata(&issuer, &server.url("/tenant/a/jwks"))),
    );
    server.set_jwks("/tenant/a/jwks", &[&a]);

    let keys = builder(&clock())
        .trust_issuer(&issuer)
        .build()
        .await
        .unwrap();
    assert!(lookup(&keys, &issuer, a.kid()).is_some());
    // The appended form (…/tenant/a/.well-known/…) was never asked for.
    assert_eq!(server.hits(&format!("/tenant/a{OAUTH_METADATA_SUFFIX}")), 0);
}

#[tokio::test]
async fn openid_discovery_is_the_fallback() {
    let server = Server::start().await;
    let issuer = server.url("/realm");
    let a = key();
    server.set(
        &format!("/realm{OPENID_METADATA_SUFFIX}"),
        Reply::json(&metadata(&issuer, &server.url("/certs"))),
    );
    server.set_jwks("/certs", &[&a]);

    let keys = builder(&clock())
        .trust_issuer(&issuer)
        .build()
        .await
        .unwrap();
    assert!(lookup(&keys, &issuer, a.kid()).is_some());
    assert_eq!(server.hits(&format!("{OAUTH_METADATA_SUFFIX}/realm")), 1);
}

#[tokio::test]
async fn metadata_naming_another_issuer_is_refused() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    server.set(
        OAUTH_METADATA_SUFFIX,
        Reply::json(&metadata(&format!("{issuer}/"), &server.url("/jwks"))),
    );
    server.set_jwks("/jwks", &[&key()]);

    let err = builder(&clock())
        .trust_issuer(&issuer)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch");
    let RemoteError::Issuer {
        issuer: named,
        source,
    } = err
    else {
        panic!("not named after its issuer: {err:?}");
    };
    assert_eq!(named, issuer);
    assert!(
        matches!(*source, RemoteError::IssuerMismatch { .. }),
        "{source:?}"
    );
    assert_eq!(
        server.hits("/jwks"),
        0,
        "no key is fetched for a mismatched issuer"
    );
}

#[tokio::test]
async fn no_metadata_at_either_location_is_a_discovery_error() {
    let server = Server::start().await;
    let err = builder(&clock())
        .trust_issuer(&server.base)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "discovery_failed");
}

#[tokio::test]
async fn a_jwks_url_needs_no_discovery() {
    let server = Server::start().await;
    let a = key();
    server.set_jwks("/keys.json", &[&a]);
    let keys = builder(&clock())
        .trust_jwks(&server.base, server.url("/keys.json"))
        .build()
        .await
        .unwrap();
    assert!(lookup(&keys, &server.base, a.kid()).is_some());
    assert_eq!(server.hits(OAUTH_METADATA_SUFFIX), 0);
    assert_eq!(server.hits(OPENID_METADATA_SUFFIX), 0);
}

#[tokio::test]
async fn startup_fails_naming_the_issuer_that_cannot_be_fetched() {
    let server = Server::start().await;
    let good = server.url("/good");
    let bad = server.url("/bad");
    server.set_jwks("/good/jwks", &[&key()]);
    server.set("/bad/jwks", Reply::status(503));
    let err = builder(&clock())
        .trust_jwks(&good, server.url("/good/jwks"))
        .trust_jwks(&bad, server.url("/bad/jwks"))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "http_status");
    assert!(
        matches!(&err, RemoteError::Issuer { issuer, .. } if *issuer == bad),
        "{err:?}"
    );
}

#[tokio::test]
async fn keys_stay_bound_to_their_issuer() {
    let server = Server::start().await;
    let (one, two) = (server.url("/one"), server.url("/two"));
    let (a, b) = (key(), key());
    server.set_jwks("/one/jwks", &[&a]);
    server.set_jwks("/two/jwks", &[&b]);
    let keys = builder(&clock())
        .trust_jwks(&one, server.url("/one/jwks"))
        .trust_jwks(&two, server.url("/two/jwks"))
        .build()
        .await
        .unwrap();
    assert!(lookup(&keys, &one, a.kid()).is_some());
    assert!(lookup(&keys, &two, b.kid()).is_some());
    assert!(lookup(&keys, &two, a.kid()).is_none());
    assert!(lookup(&keys, &one, b.kid()).is_none());
    assert!(lookup(&keys, "https://untrusted.example", a.kid()).is_none());
}

#[tokio::test]
async fn insecure_issuers_and_jwks_urls_are_refused_before_any_request() {
    let server = Server::start().await;
    server.set_jwks("/jwks", &[&key()]);
    // An https issuer's keys over plain http: anyone on the path could
    // choose them.
    let err = builder(&clock())
        .trust_jwks("https://issuer.example", server.url("/jwks"))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "insecure_url");
    // A plain-http issuer off this machine.
    let err = builder(&clock())
        .trust_issuer("http://issuer.example")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "insecure_url");
    assert_eq!(server.hits("/jwks"), 0);
}

/// Review finding 3: whether the issuer is https was read with a
/// case-sensitive prefix test, so an issuer configured as `HTTPS://…` (a
/// valid spelling: schemes are case-insensitive) took its keys, and an OIDC
/// provider its token endpoint, over plain http.
#[tokio::test]
async fn an_https_issuer_in_any_spelling_needs_https_endpoints() {
    for issuer in ["HTTPS://issuer.example", "Https://issuer.example/t"] {
        let err = passport_remote::check_endpoint(issuer, "http://keys.example/jwks").unwrap_err();
        assert_eq!(err.code(), "insecure_url", "{issuer}");
    }
    let server = Server::start().await;
    server.set_jwks("/jwks", &[&key()]);
    let err = builder(&clock())
        .trust_jwks("HTTPS://issuer.example", server.url("/jwks"))
        .build()
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code(), "insecure_url");
    assert_eq!(server.hits("/jwks"), 0);
}
