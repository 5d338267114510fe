//! An issuer that publishes what a resource server needs to trust it by URL:
//! its RFC 8414 metadata, its JWKS and one Token Status List, over HTTP on
//! 127.0.0.1 — the `remote_trust` example's issuer, small enough to read.
//! (The token service of `passport serve` does this for real.)

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use passport_claims::{
    AllocationError, Clock, PassportClaims, StatusAllocator, StatusReference, SystemClock,
};
use passport_issuer::Issuer;
use passport_jose::{Algorithm, SigningKey};
use passport_status::{StatusList, StatusListToken};
use serde_json::{Value, json};

use crate::BoxError;

/// How long a consumer may cache the JWKS and the status list, in seconds:
/// short, so the example sees a revocation or a new key within a second or
/// two (a real issuer picks minutes).
pub const CACHE_SECONDS: u64 = 1;

/// How many passports the one status list has room for.
const LIST_ENTRIES: u64 = 1024;

/// How long each status list token is valid, in seconds.
const LIST_LIFETIME: i64 = 60;

struct State_ {
    url: String,
    /// Every published public key (JWK): the passport signers' and the
    /// status list's.
    published: Vec<Value>,
    /// Signs the status list (a key of this issuer like the others).
    status_key: SigningKey,
    list: StatusList,
    next_index: u64,
    served_lists: u64,
}

type Shared = Arc<Mutex<State_>>;

fn lock(state: &Shared) -> MutexGuard<'_, State_> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running publishing issuer; its server stops when dropped.
pub struct PublishingIssuer {
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for PublishingIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishingIssuer")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Drop for PublishingIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PublishingIssuer {
    /// Starts the issuer on a free loopback port; returns it and the
    /// [`Issuer`] that mints its passports (with a published Ed25519 key,
    /// allocating status indexes in the published list).
    pub async fn start() -> Result<(PublishingIssuer, Issuer), BoxError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let status_key = SigningKey::generate(Algorithm::EdDSA)?;
        let state: Shared = Arc::new(Mutex::new(State_ {
            url,
            published: vec![Value::Object(status_key.public_jwk().clone())],
            status_key,
            list: StatusList::with_capacity(1, LIST_ENTRIES)?,
            next_index: 0,
            served_lists: 0,
        }));
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks.json", get(jwks))
            .route("/status/1", get(status_list))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let publisher = PublishingIssuer { state, task };
        let issuer = publisher.rotate()?;
        Ok((publisher, issuer))
    }

    /// The issuer identifier (its base URL).
    pub fn url(&self) -> String {
        lock(&self.state).url.clone()
    }

    /// The URI of its one status list.
    pub fn status_uri(&self) -> String {
        format!("{}/status/1", self.url())
    }

    /// Revokes the passport at status index `idx` (sets its bit).
    pub fn revoke(&self, idx: u64) -> Result<(), BoxError> {
        lock(&self.state).list.set(idx, 1)?;
        Ok(())
    }

    /// Rotates: publishes a new key and returns the [`Issuer`] that signs
    /// with it. The old passport keys stay published, so the passports
    /// they signed keep verifying, but marked retired (`retired_at`, RFC
    /// 7517 allows extra members): a passport one of them signs from now
    /// on is refused, so a leaked old key cannot mint forever.
    pub fn rotate(&self) -> Result<Issuer, BoxError> {
        let key = SigningKey::generate(Algorithm::EdDSA)?;
        let now = SystemClock.now();
        let mut state = lock(&self.state);
        // The first key signs the status list and stays active.
        for old in state.published.iter_mut().skip(1) {
            if let Value::Object(jwk) = old {
                jwk.entry(passport_jose::JWK_RETIRED_AT)
                    .or_insert_with(|| Value::from(now));
            }
        }
        state
            .published
            .push(Value::Object(key.public_jwk().clone()));
        Ok(Issuer::new(state.url.clone(), key)
            .with_status(Arc::new(Allocator(Arc::clone(&self.state)))))
    }

    /// How many times the status list was served.
    pub fn served_lists(&self) -> u64 {
        lock(&self.state).served_lists
    }
}

/// Hands out indexes in the issuer's one list.
struct Allocator(Shared);

impl fmt::Debug for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Allocator")
    }
}

impl StatusAllocator for Allocator {
    fn allocate(&self, _passport: &PassportClaims) -> Result<StatusReference, AllocationError> {
        let mut state = lock(&self.0);
        let idx = state.next_index;
        if idx >= LIST_ENTRIES {
            return Err(AllocationError::new("the status list is full"));
        }
        state.next_index += 1;
        StatusReference::new(idx, format!("{}/status/1", state.url)).map_err(AllocationError::new)
    }
}

async fn metadata(State(state): State<Shared>) -> Json<Value> {
    let url = lock(&state).url.clone();
    Json(json!({
        "issuer": url,
        "jwks_uri": format!("{url}/jwks.json"),
        "response_types_supported": ["code"],
    }))
}

async fn jwks(State(state): State<Shared>) -> Response {
    let keys = lock(&state).published.clone();
    (
        [(header::CACHE_CONTROL, format!("max-age={CACHE_SECONDS}"))],
        Json(json!({ "keys": keys })),
    )
        .into_response()
}

async fn status_list(State(state): State<Shared>) -> Response {
    let mut state = lock(&state);
    state.served_lists += 1;
    let now = SystemClock.now();
    let uri = format!("{}/status/1", state.url);
    match StatusListToken::sign(
        &state.status_key,
        &uri,
        &state.list,
        now,
        now + LIST_LIFETIME,
        CACHE_SECONDS,
    ) {
        Ok(token) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/statuslist+jwt".to_owned(),
                ),
                (header::CACHE_CONTROL, format!("max-age={CACHE_SECONDS}")),
            ],
            token,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
