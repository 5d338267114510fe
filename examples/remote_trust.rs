//! Trust an issuer by its URL alone. An issuer publishes its metadata
//! (RFC 8414), its JWKS and a Token Status List over HTTP; a separate
//! resource server is configured with that URL and its own, nothing else:
//!
//! 1. a passport from the issuer is accepted;
//! 2. the issuer revokes it: refused after the next status-list refresh,
//!    with no restart and no fetch on the request path;
//! 3. the issuer rotates its key: a passport signed by the new key is
//!    accepted without a restart;
//! 4. the server's refreshers report their health.
//!
//! Run: `cargo run -p passport-examples --example remote_trust`

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use passport_axum::{Passport, PassportAuth, Requirements};
use passport_claims::{AgentId, AgentModel, Audience, IdentityAssertion, ScopeSet};
use passport_examples::remote::PublishingIssuer;
use passport_examples::{BoxError, describe, login_without_browser, section, start_provider};
use passport_issuer::{IssuanceRequest, IssuedPassport, Issuer};

async fn files(passport: Passport) -> String {
    format!(
        "files of {} for agent {}",
        passport.principal(),
        passport.agent_id()
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    section("1. An issuer publishes its metadata, JWKS and status list over HTTP");
    let (issuer, minter) = PublishingIssuer::start().await?;
    let issuer_url = issuer.url();
    println!("   issuer   {issuer_url}");
    println!("   metadata {issuer_url}/.well-known/oauth-authorization-server");
    println!("   status   {}", issuer.status_uri());

    section("2. A separate resource server trusts it by URL alone");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let resource = format!("http://{}/files", listener.local_addr()?);
    let auth = PassportAuth::trusting(&issuer_url)
        .resource(&resource)
        // Short intervals for a demo that runs in seconds; the defaults
        // (minutes) suit production.
        .configure_keys(|keys| {
            keys.min_ttl(Duration::from_secs(1))
                .unknown_kid_cooldown(Duration::from_secs(1))
        })
        .configure_status(|status| status.min_interval(Duration::from_millis(200)))
        .build()
        .await?;
    let app = Router::new()
        .route("/files", get(files))
        .route_layer(auth.require(Requirements::scope("files:read")))
        .merge(auth.metadata_router());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    println!("   resource {resource}");
    println!("   PassportAuth::trusting({issuer_url:?}).resource({resource:?}).build()");
    let http = reqwest::Client::new();
    let metadata: serde_json::Value = http.get(auth.metadata_url()).send().await?.json().await?;
    println!(
        "   RFC 9728 authorization_servers: {}",
        metadata["authorization_servers"]
    );

    section("3. A passport from the issuer is accepted");
    let mock = start_provider().await?;
    let identity = login_without_browser(&mock).await?;
    println!("   logged in: {}", describe(&identity));
    let first = mint(&minter, &identity, &resource)?;
    let answer = call(&http, &resource, first.bundle()).await?;
    println!("   GET /files → {answer}");
    if !answer.starts_with("200") {
        return Err(format!("expected 200, got {answer}").into());
    }

    section("4. The issuer revokes it: refused after the next status-list refresh");
    let idx = first
        .claims()
        .status
        .as_ref()
        .map(|s| s.idx())
        .ok_or("the passport has no status reference")?;
    let served = issuer.served_lists();
    issuer.revoke(idx)?;
    println!("   revoked status index {idx} at the issuer");
    let answer = until(&http, &resource, first.bundle(), "401").await?;
    println!("   GET /files → {answer}");
    println!(
        "   (the resource server fetched the list {} more time(s), in the background)",
        issuer.served_lists() - served
    );

    section("5. The issuer rotates its key: accepted without a restart");
    let minter = issuer.rotate()?;
    let second = mint(&minter, &identity, &resource)?;
    println!("   new key {} signs the next passport", minter.kid());
    let answer = until(&http, &resource, second.bundle(), "200").await?;
    println!("   GET /files → {answer}");

    section("6. The resource server's view of its trust");
    let trust = auth.trust().ok_or("trusting() keeps its refreshers")?;
    for keys in trust.keys().health() {
        println!(
            "   keys of {}: {} key(s), stale: {}, failed closed: {}",
            keys.issuer, keys.keys, keys.stale, keys.failed_closed
        );
    }
    for list in trust.status().health().lists {
        println!(
            "   status list {}: held, {} consecutive failure(s)",
            list.uri, list.consecutive_failures
        );
    }
    println!("   healthy: {}", trust.is_healthy());

    server.abort();
    println!("\nDone.");
    Ok(())
}

/// A root passport for `resource`, scope `files:read`.
fn mint(
    issuer: &Issuer,
    identity: &IdentityAssertion,
    resource: &str,
) -> Result<IssuedPassport, BoxError> {
    Ok(issuer.issue(IssuanceRequest::new(
        identity.clone(),
        Audience::new(resource)?,
        AgentId::new("report-writer")?,
        AgentModel::new("model-x")?,
        ScopeSet::parse(["files:read"])?,
    ))?)
}

/// `GET resource` with the bundle as a Bearer token: "<status> <body or
/// error description>".
async fn call(http: &reqwest::Client, resource: &str, bundle: &str) -> Result<String, BoxError> {
    let response = http
        .get(resource)
        .header("authorization", format!("Bearer {bundle}"))
        .send()
        .await?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await?;
    Ok(match challenge {
        Some(challenge) => format!("{status} {challenge}"),
        None => format!("{status} {body}"),
    })
}

/// Calls until the answer starts with `status`, for at most 10 seconds.
async fn until(
    http: &reqwest::Client,
    resource: &str,
    bundle: &str,
    status: &str,
) -> Result<String, BoxError> {
    let start = Instant::now();
    loop {
        let answer = call(http, resource, bundle).await?;
        if answer.starts_with(status) {
            return Ok(answer);
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!("still {answer} after 10 s, expected {status}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
