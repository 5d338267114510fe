//! A passport-protected HTTP route for load testing (see scripts/load.sh).
//!
//! It mints a 3-link bundle (root → child → grandchild) with a local issuer,
//! writes it to the file named by the first argument, prints the URL, serves
//! `GET /files` (scope `files:read`, verified by passport-axum with one shared
//! `Verifier` and its ancestor cache) on 127.0.0.1 for the number of seconds
//! given as the second argument (default 20), then exits.
//!
//! `GET /metrics` answers the process's metrics in Prometheus text format
//! (`passport_verify_total`, `passport_verify_cache_total`, … as the
//! libraries emit them through the `metrics` facade), recorded by
//! `metrics-exporter-prometheus`'s recorder. The route is not behind the
//! passport layer: this server listens on the loopback interface only, for
//! the load generator and a scraper on the same machine. A server reachable
//! from elsewhere would serve metrics on a separate, internal listener or
//! behind its own authentication, since outcome counts tell an attacker
//! which of their attempts fail and how.
//!
//! By default the passports are bearer passports. With `--dpop N`, the
//! grandchild is bound to a P-256 key (`cnf.jkt`), the server verifies a
//! DPoP proof on every request, and N single-use proofs for `GET /files`
//! (each with its own `jti`) are written one per line to `BUNDLE_FILE.proofs`
//! for the load generator to send, one per request (a load generator cannot
//! sign proofs itself; `scripts/load.lua` hands them out to wrk).
//!
//! Run: `cargo run --release -p passport-examples --example load_server -- bundle.txt 20 [--dpop N]`

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::{Router, routing::get};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use passport_axum::{Passport, PassportAuth, Requirements};
use passport_claims::{
    AgentId, AgentModel, Assurance, Audience, Clock, IdentityAssertion, Level, ScopeSet,
    SystemClock,
};
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier, InMemoryReplayCache};
use passport_examples::{BoxError, ISSUER, local_issuer};
use passport_issuer::{DelegationRequest, IssuanceRequest};
use passport_jose::Algorithm;
use passport_verifier::{VerificationPolicy, Verifier};

async fn files(passport: Passport) -> String {
    format!("ok {}\n", passport.agent_id())
}

/// The Prometheus text exposition format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// `GET /metrics`: every metric recorded so far.
fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            handle.run_upkeep();
            let body = handle.render();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(PROMETHEUS_TEXT),
                    )],
                    body,
                )
            }
        }),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: load_server BUNDLE_FILE [SECONDS]")?;
    let seconds: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20)
        .min(600);
    let proofs: Option<usize> = match (args.next().as_deref(), args.next()) {
        (None, _) => None,
        (Some("--dpop"), Some(n)) => Some(n.parse::<usize>()?.min(2_000_000)),
        _ => return Err("usage: load_server BUNDLE_FILE [SECONDS] [--dpop N]".into()),
    };
    let holder = match proofs {
        Some(_) => Some(DpopKey::generate(Algorithm::ES256)?),
        None => None,
    };

    // Installed before anything is verified, so every event is counted.
    let metrics = PrometheusBuilder::new().install_recorder()?;
    // Without its HTTP listener the recorder leaves upkeep (draining
    // histogram samples into their buckets) to us; the task ends with the
    // runtime, when `main` returns.
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let audience = format!("http://{}", listener.local_addr()?);
    let (issuer, keys) = local_issuer()?;
    let hop = Verifier::with_key_store(
        VerificationPolicy::new(ISSUER, audience.clone()),
        keys.clone(),
    )?;
    let alice = IdentityAssertion::new("https://idp.example", "alice").with_acr(
        "http://idmanagement.gov/ns/assurance/ial/2",
        Assurance::uniform(Level::TWO),
    );
    let ttl = seconds + 300;
    let root = issuer.issue(
        IssuanceRequest::new(
            alice,
            Audience::new(audience.clone())?,
            AgentId::new("planner")?,
            AgentModel::new("m")?,
            ScopeSet::parse(["files:*"])?,
        )
        .ttl(ttl),
    )?;
    let child = issuer.delegate(
        DelegationRequest::new(
            &hop.verify_str(root.bundle())?,
            Audience::new(audience.clone())?,
            AgentId::new("reader")?,
            AgentModel::new("m")?,
            ScopeSet::parse(["files:*"])?,
        )
        .ttl(ttl),
    )?;
    let verified_child = hop.verify_str(child.bundle())?;
    let mut request = DelegationRequest::new(
        &verified_child,
        Audience::new(audience.clone())?,
        AgentId::new("helper")?,
        AgentModel::new("m")?,
        ScopeSet::parse(["files:read"])?,
    )
    .ttl(ttl);
    if let Some(key) = &holder {
        request = request.holder_jkt(key.jkt());
    }
    let grandchild = issuer.delegate(request)?;
    std::fs::write(&out, grandchild.bundle())?;

    let verifier =
        Verifier::with_key_store(VerificationPolicy::new(ISSUER, audience.clone()), keys)?;
    let mut auth = PassportAuth::builder(Arc::new(verifier));
    if let (Some(key), Some(count)) = (&holder, proofs) {
        // Every proof of the run fits in the replay cache (one key sends
        // them all, so its share is the whole cache).
        let clock = Arc::new(SystemClock);
        let replay = Arc::new(
            InMemoryReplayCache::new(count + 1024, clock.clone()).with_key_share(count + 1024),
        );
        auth = auth.dpop(DpopVerifier::new(DpopPolicy::default(), clock).with_replay_cache(replay));
        let url = format!("{audience}/files");
        let now = SystemClock.now();
        let mut lines = String::with_capacity(count * 600);
        for _ in 0..count {
            lines.push_str(&key.proof("GET", &url, Some(grandchild.bundle()), None, now)?);
            lines.push('\n');
        }
        std::fs::write(format!("{out}.proofs"), lines)?;
    }
    let auth = auth.build()?;
    let app = Router::new()
        .route("/files", get(files))
        .route_layer(auth.require(Requirements::scope("files:read")))
        .layer(auth.layer())
        // After `.layer`: not behind the passport layer (see above).
        .merge(metrics_router(metrics));
    println!("{audience}/files");
    let server = axum::serve(listener, app);
    match tokio::time::timeout(Duration::from_secs(seconds), server).await {
        Ok(result) => result?,
        Err(_) => println!("Done."),
    }
    Ok(())
}
