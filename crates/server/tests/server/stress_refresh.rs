//! Refresh rotation under load (session 15: a reviewer's load run saw one
//! unexplained 500 from an ordinary rotation). A bounded run on loopback:
//! clients each rotating their own grant in sequence, all at once (some
//! of them DPoP-bound), while other grants have one token presented twice
//! at once. Every answer must be 200, or — for the second use of a raced
//! token — 400 `invalid_grant`; a 500 fails the run with its body. No
//! timing is asserted.

use std::sync::Arc;

use passport_dpop::DpopKey;
use passport_jose::Algorithm;
use passport_server::rate_limit::RateLimit;
use reqwest::StatusCode;
use serde_json::Value;

use crate::code_grant::{Client, client, code_for, redeem_with, refresh_with, token};
use crate::endpoints::{Running, start_on};

/// Clients rotating their own grant, at once.
const CLIENTS: usize = 16;
/// Rotations each of them makes, one after another.
const ROTATIONS: usize = 40;
/// Of those clients, the first few hold a DPoP-bound grant.
const BOUND: usize = 4;
/// Grants whose token is presented twice at once (after a few rotations).
const RACES: usize = 16;

/// An answer: its status and body (JSON when it is, else the text).
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    async fn of(r: reqwest::Response) -> Answer {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    /// The next refresh token, for a 200; what is wrong otherwise.
    fn rotated(&self, what: &str) -> Result<String, String> {
        if self.status == StatusCode::OK {
            Ok(token(&self.body, "refresh_token"))
        } else {
            Err(format!("{what}: {} {}", self.status, self.body))
        }
    }

    /// A reuse refused as it must be.
    fn is_reuse_refused(&self) -> bool {
        self.status == StatusCode::BAD_REQUEST && self.body["error"] == "invalid_grant"
    }
}

/// `count` instances on one database, none rate-limiting this load.
async fn instances(dir: &tempfile::TempDir, count: usize) -> Arc<Vec<Running>> {
    let path = dir.path().join("server.db");
    let mut all = Vec::new();
    for _ in 0..count {
        let unlimited = RateLimit {
            burst: 1_000_000,
            per_second: 1_000_000.0,
        };
        all.push(
            start_on(path.to_str().unwrap(), move |b| {
                b.token_rate_limit(unlimited)
            })
            .await,
        );
    }
    Arc::new(all)
}

/// A new client `id` with its grant (bound to `key` if given): the first
/// refresh token.
async fn grant(s: &Running, id: &str, key: Option<&DpopKey>) -> Result<(Client, String), String> {
    let c = client(s, id, "files:*").await;
    let code = format!("code-{id}");
    code_for(s, &c, &code, "files:read", crate::exchange::now() + 60).await;
    let proof = key.map(|k| s.token_proof(k));
    let first = Answer::of(redeem_with(s, &c, &code, &[], proof.as_deref()).await).await;
    let rt = first.rotated(&format!("{id}: the code grant"))?;
    Ok((c, rt))
}

/// Client `n` rotating its grant [`ROTATIONS`] times, one after another.
async fn rotating(all: Arc<Vec<Running>>, n: usize) -> Result<(), String> {
    let id = format!("load-{n}");
    let key = (n < BOUND).then(|| DpopKey::generate(Algorithm::ES256).unwrap());
    let (c, mut rt) = grant(&all[0], &id, key.as_ref()).await?;
    for i in 0..ROTATIONS {
        let s = &all[i % all.len()];
        let proof = key.as_ref().map(|k| s.token_proof(k));
        let r = refresh_with(s, &c, &rt, &[], proof.as_deref()).await;
        rt = Answer::of(r)
            .await
            .rotated(&format!("{id}: rotation {i}"))?;
    }
    Ok(())
}

/// Grant `n` rotated `n % 4` times, then its token presented twice (on
/// two instances when there are), the second `n % 8` ms after the first
/// so that it meets the first at one step or another of its rotation:
/// never two 200s, and any other answer 400 `invalid_grant`.
async fn racing(all: Arc<Vec<Running>>, n: usize) -> Result<(), String> {
    let id = format!("race-{n}");
    let (c, mut rt) = grant(&all[0], &id, None).await?;
    for i in 0..n % 4 {
        let r = refresh_with(&all[i % all.len()], &c, &rt, &[], None).await;
        rt = Answer::of(r)
            .await
            .rotated(&format!("{id}: rotation {i}"))?;
    }
    let later = async {
        tokio::time::sleep(std::time::Duration::from_millis(n as u64 % 8)).await;
        refresh_with(&all[(n + 1) % all.len()], &c, &rt, &[], None).await
    };
    let (a, b) = tokio::join!(refresh_with(&all[n % all.len()], &c, &rt, &[], None), later);
    let answers = [Answer::of(a).await, Answer::of(b).await];
    let wrong: Vec<String> = answers
        .iter()
        .filter(|a| a.status != StatusCode::OK && !a.is_reuse_refused())
        .map(|a| format!("{id}: the race: {} {}", a.status, a.body))
        .collect();
    if !wrong.is_empty() {
        return Err(wrong.join("\n"));
    }
    if answers.iter().all(|a| a.status == StatusCode::OK) {
        return Err(format!("{id}: one token rotated twice"));
    }
    Ok(())
}

/// Session 15: [`CLIENTS`] × [`ROTATIONS`] rotations and [`RACES`] raced
/// tokens at once; no answer is a 500 (nor anything but 200, or 400
/// `invalid_grant` for a raced token's second use).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_and_races_never_answer_500() {
    load(1).await;
}

/// As above, on two instances sharing one database, each rotation and
/// each raced pair spread over both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_two_instances_concurrent_rotations_and_races_never_answer_500() {
    load(2).await;
}

/// The load of the tests above on `count` instances.
async fn load(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let all = instances(&dir, count).await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CLIENTS {
        tasks.spawn(rotating(Arc::clone(&all), n));
    }
    for n in 0..RACES {
        tasks.spawn(racing(Arc::clone(&all), n));
    }
    let mut wrong = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.unwrap() {
            wrong.push(e);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
