//! A passport-axum server on 127.0.0.1:0 that records what each request
//! carried (before the passport layer) and can fail attempts with 503.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passport_axum::{Passport, PassportAuth};
use passport_claims::{Clock as _, SystemClock};
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier, NonceIssuer};
use passport_issuer::IssuedPassport;
use passport_jose::Algorithm;
use passport_testkit::{Kit, alice_ial2, issuance};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What one request carried when it reached the server.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) authorization: Option<String>,
    pub(crate) dpop: Option<String>,
}

impl Seen {
    /// The claims of the request's DPoP proof.
    pub(crate) fn proof_claims(&self) -> Value {
        let proof = self.dpop.as_deref().expect("a DPoP proof");
        let payload = proof.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }
}

#[derive(Clone, Default)]
pub(crate) struct Recorder {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    /// The next this many requests are answered 503 before the passport layer.
    pub(crate) fail_next: Arc<AtomicUsize>,
}

impl Recorder {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    let seen = {
        let headers = request.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Seen {
            authorization: header("authorization"),
            dpop: header("dpop"),
        }
    };
    recorder.seen.lock().unwrap().push(seen);
    // The whole body first (these are small): a layer that answers before
    // reading it (the passport layer's 401) makes hyper close the
    // connection while a streamed body is still arriving, and the client
    // then loses that answer or the next request on the pooled connection
    // (`IncompleteMessage`, seen once in CI on a loaded machine). That
    // transport race is not what these tests are about.
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    let failing = recorder
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    next.run(request).await
}

/// A running server; stopped when dropped.
pub(crate) struct Server {
    pub(crate) kit: Kit,
    /// `http://127.0.0.1:<port>`: the origin and the passports' audience.
    pub(crate) base: String,
    pub(crate) recorder: Recorder,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn whoami(passport: Passport) -> Json<Value> {
    let claims = passport.verified().claims();
    Json(
        json!({"agent": claims.agent.agent_id.as_str(), "scheme": format!("{:?}", passport.scheme())}),
    )
}

async fn upload(passport: Passport, body: String) -> Response {
    if let Err(refusal) = passport.require_scope("files:write") {
        return refusal.into_response();
    }
    Json(json!({"bytes": body.len()})).into_response()
}

impl Server {
    /// A files API: `GET /files`, `POST /upload` (needs `files:write`).
    /// With `nonces`, every proof must carry a server nonce.
    pub(crate) async fn start(nonces: bool) -> Server {
        Server::start_with(nonces, |_, router| router).await
    }

    /// Like [`Server::start`], with `extra` routes (inside the passport
    /// layer) added by the caller.
    pub(crate) async fn start_with(
        nonces: bool,
        extra: impl FnOnce(&str, Router) -> Router,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let kit = Kit::at(SystemClock.now(), &base);
        let policy = DpopPolicy {
            require_nonce: nonces,
            ..DpopPolicy::default()
        };
        let mut dpop = DpopVerifier::new(policy, kit.clock.clone());
        if nonces {
            dpop = dpop.with_nonce_issuer(NonceIssuer::generate(kit.clock.clone()).unwrap());
        }
        let auth = PassportAuth::builder(Arc::new(kit.verifier(kit.policy())))
            .dpop(dpop)
            .scopes_supported(["files:read", "files:write"])
            .build()
            .unwrap();
        let routes = Router::new()
            .route("/files", get(whoami))
            .route("/upload", post(upload));
        let recorder = Recorder::default();
        let app = extra(&base, routes)
            .layer(auth.layer())
            .layer(from_fn_with_state(recorder.clone(), record));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server {
            kit,
            base,
            recorder,
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A root passport for this server, bound to `key` when given.
    pub(crate) fn passport(&self, scopes: &[&str], key: Option<&DpopKey>) -> IssuedPassport {
        let mut request = issuance(alice_ial2(), &self.base, "agent-a", "model-a", scopes);
        if let Some(key) = key {
            request = request.holder_jkt(key.jkt());
        }
        self.kit.issue(request)
    }
}

pub(crate) fn key() -> DpopKey {
    DpopKey::generate(Algorithm::ES256).unwrap()
}

/// A real passport-server on 127.0.0.1:0 (SQLite in a temporary
/// directory, signing keys made at `now`), configured by `configure`;
/// stopped when dropped.
pub(crate) struct TokenServer {
    /// `http://127.0.0.1:<port>`.
    pub(crate) issuer: String,
    pub(crate) server: passport_server::Server,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenServer {
    pub(crate) async fn start(
        now: i64,
        configure: impl FnOnce(passport_server::ServerBuilder) -> passport_server::ServerBuilder,
    ) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let db = passport_store::server::Database::open(
            dir.path().join("server.db").to_str().unwrap(),
            now,
        )
        .await
        .unwrap();
        let server = configure(passport_server::Server::builder(&issuer, db))
            .build()
            .await
            .unwrap();
        let serving = server.clone().serve(listener, std::future::pending());
        let task = tokio::spawn(async move {
            let _ = serving.await;
        });
        TokenServer {
            issuer,
            server,
            task,
            _dir: dir,
        }
    }
}

/// The leaf passport's claims of `bundle` (unverified).
pub(crate) fn leaf_of(bundle: &str) -> passport_claims::PassportClaims {
    passport_claims::UnverifiedBundle::parse(bundle)
        .unwrap()
        .inspect_unverified()
        .remove(0)
        .unwrap()
        .claims
}
