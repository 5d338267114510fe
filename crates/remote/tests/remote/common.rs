//! A scriptable local HTTP server: each path answers what the test set, and
//! every request is counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use passport_claims::ManualClock;
use passport_jose::{Algorithm, JwkSet, SigningKey, VerifyingKey};
use passport_remote::{RemoteKeys, RemoteKeysBuilder};
use serde_json::{Value, json};

pub const NOW: i64 = passport_testkit::NOW;

#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(value: &Value) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Routes {
    replies: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    routes: Arc<Mutex<Routes>>,
}

impl Server {
    pub async fn start() -> Server {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&routes));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            base: format!("http://{addr}"),
            routes,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .replies
            .insert(path.to_owned(), reply);
    }

    pub fn set_jwks(&self, path: &str, keys: &[&SigningKey]) {
        self.set(path, Reply::json(&jwks(keys)));
    }

    pub fn hits(&self, path: &str) -> usize {
        self.routes
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn answer(State(routes): State<Arc<Mutex<Routes>>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let reply = {
        let mut routes = routes.lock().unwrap();
        *routes.hits.entry(path.clone()).or_default() += 1;
        routes.replies.get(&path).cloned()
    };
    let Some(reply) = reply else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response.body(Body::from(reply.body)).unwrap()
}

pub fn key() -> SigningKey {
    SigningKey::generate(Algorithm::EdDSA).unwrap()
}

pub fn jwks(keys: &[&SigningKey]) -> Value {
    JwkSet::from_keys(keys.iter().map(|k| k.verifying_key()))
        .unwrap()
        .to_json()
}

pub fn metadata(issuer: &str, jwks_uri: &str) -> Value {
    json!({"issuer": issuer, "jwks_uri": jwks_uri, "response_types_supported": ["code"]})
}

/// A builder on `clock` with short real-time checks and test-friendly bounds:
/// TTL within [60 s, 3600 s], default 300 s, cooldown 30 s, max_stale 600 s.
pub fn builder(clock: &Arc<ManualClock>) -> RemoteKeysBuilder {
    RemoteKeys::builder()
        .clock(clock.clone())
        .min_ttl(Duration::from_secs(60))
        .max_ttl(Duration::from_secs(3600))
        .default_ttl(Duration::from_secs(300))
        .unknown_kid_cooldown(Duration::from_secs(30))
        .max_stale(Duration::from_secs(600))
        .refresh_check_interval(Duration::from_millis(10))
        .http_timeout(Duration::from_secs(5))
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW))
}

/// Waits (a few real milliseconds at a time, 5 s at most) until `done`.
pub async fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition did not become true within 5 s");
}

/// The key object for `(iss, kid)`, through the `KeyStore` trait.
pub fn lookup(keys: &RemoteKeys, iss: &str, kid: &str) -> Option<VerifyingKey> {
    passport_verifier::KeyStore::key(keys, iss, kid)
}
