//! How long a revocation takes to reach the served status list and a
//! status-list verifier (`scripts/load-server.sh`'s `propagation` scenario):
//! against running instances of `token_load_server` (DIR holds the files
//! the first one wrote), ROUNDS times: a child passport is exchanged at
//! the first instance and verified once by a `passport-verifier` whose
//! `StatusListSource` fetches the issuer's list over HTTP (cached for the
//! list's `ttl`); then it is revoked at the LAST instance, and from that
//! 200 on the example measures
//! - `list`: until the list the FIRST instance serves has the bit set
//!   (fetched again and again);
//! - `verifier`: until the verifier refuses the passport (it fetches the
//!   list again only once its copy is past the `ttl`).
//!
//! It prints one line per measure: the median, the 99th percentile and the
//! largest, in milliseconds.
//!
//! Run: `cargo run --release -p passport-server --example
//! revocation_propagation -- DIR ROUNDS URL [URL]`
// A measurement that cannot run should fail loudly.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use passport_claims::UnverifiedBundle;
use passport_jose::JwkSet;
use passport_status::{ListExpectations, StatusListSource, StatusListToken};
use passport_verifier::{InMemoryKeyStore, KeyStore, VerificationPolicy, Verifier};

const RESOURCE: &str = "https://tools.example/mcp";
/// The longest a measure may take before the run gives up.
const GIVE_UP: Duration = Duration::from_secs(30);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

async fn post(http: &reqwest::Client, url: &str, auth: &str, body: &str) -> serde_json::Value {
    let r = http
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap_or(serde_json::Value::Null)
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} rounds)",
        at(0.5),
        at(0.99),
        ms[ms.len() - 1],
        ms.len()
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: revocation_propagation DIR ROUNDS URL [URL]";
    let dir = std::path::PathBuf::from(args.next().expect(usage));
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let urls: Vec<String> = args.collect();
    let (first, last) = (urls.first().expect(usage), urls.last().expect(usage));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    let (auth, exchange) = (read("exchange.auth"), read("exchange.body"));
    let http = reqwest::Client::new();
    // the issuer's name is the first instance's address
    let issuer = first.clone();
    let status_uri = format!("{issuer}/status/1");
    let jwks = http
        .get(format!("{first}/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .bytes()
        .await
        .expect("jwks");
    let keys: Arc<dyn KeyStore> = Arc::new(
        InMemoryKeyStore::from_jwks(&issuer, &JwkSet::from_json(&jwks).expect("jwks"))
            .expect("keys"),
    );
    let (mut list_ms, mut verifier_ms) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let child = post(&http, &format!("{first}/token"), &auth, &exchange).await;
        let child = child["access_token"].as_str().expect("a child").to_owned();
        let bundle = UnverifiedBundle::parse(&child).expect("bundle");
        let idx = bundle.inspect_unverified()[0]
            .as_ref()
            .expect("claims")
            .claims
            .status
            .as_ref()
            .expect("status")
            .idx();
        // a verifier holding a list fetched before the revocation, as one
        // in service would
        let source = Arc::new(
            StatusListSource::new(keys.clone())
                .trust_issuer(&issuer, format!("{issuer}/status"))
                .expect("a loopback issuer's base"),
        );
        let verifier =
            Verifier::with_key_store(VerificationPolicy::new(&issuer, RESOURCE), keys.clone())
                .expect("verifier")
                .with_status_source(source.clone());
        source.prefetch(&bundle).await.expect("the list");
        verifier
            .verify_str(&child)
            .expect("valid before its revocation");

        let form = format!("token={child}");
        post(&http, &format!("{last}/revoke"), &auth, &form).await;
        let revoked = Instant::now();
        let (mut listed, mut refused) = (None, None);
        while listed.is_none() || refused.is_none() {
            assert!(revoked.elapsed() < GIVE_UP, "the revocation never arrived");
            if listed.is_none() {
                let token = http
                    .get(format!("{first}/status/1"))
                    .send()
                    .await
                    .expect("list")
                    .text()
                    .await
                    .expect("list");
                let list = StatusListToken::verify(
                    &token,
                    &*keys,
                    &ListExpectations::new(&issuer, &status_uri, now()),
                )
                .expect("a valid list");
                if list.list.get(idx).expect("index") == 1 {
                    listed = Some(revoked.elapsed());
                }
            }
            if refused.is_none() {
                // fetches only when its copy is past the ttl
                let _ = source.prefetch(&bundle).await;
                if verifier.verify_str(&child).is_err() {
                    refused = Some(revoked.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        list_ms.push(listed.expect("listed").as_secs_f64() * 1000.0);
        verifier_ms.push(refused.expect("refused").as_secs_f64() * 1000.0);
    }
    summary("revocation → served status list", list_ms);
    summary("revocation → status-list verifier refuses", verifier_ms);
}
