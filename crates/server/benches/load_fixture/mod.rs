//! What the token service's benchmark (`benches/token_service.rs`) and its
//! load run (`examples/token_load_server.rs`, `scripts/load-server.sh`) share: a
//! server with two workload clients (the parent passport's holder, which
//! exchanges it, and a tool that introspects), a parent passport to exchange, a
//! child to introspect again and again, and `distinct` other children.
//! Every request goes through the router in-process
//! (`tower::ServiceExt::oneshot`: no socket).
// A fixture that cannot be built is a bug in the benchmark: fail loudly.
#![allow(clippy::expect_used, clippy::panic, dead_code)]

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use passport_server::rate_limit::RateLimit;
use passport_server::{Server, ServerBuilder, WorkloadClient};
use passport_store::server::Database;
use tower::ServiceExt as _;

/// The audience of every passport.
pub(crate) const RESOURCE: &str = "https://tools.example/mcp";
/// The `/token`, `/introspect` and `/revoke` limits of the runs (per
/// client and per address): high enough never to refuse a request of the
/// load generator.
pub(crate) const LOAD_RATE: RateLimit = RateLimit {
    burst: 1_000_000,
    per_second: 1_000_000.0,
};

/// A server and what requests to it need.
pub(crate) struct Fixture {
    pub(crate) server: Server,
    pub(crate) router: axum::Router,
    /// `Authorization` of the client exchanging the parent.
    pub(crate) exchange_auth: String,
    /// The `/token` body of an exchange of the parent.
    pub(crate) exchange_body: String,
    /// `Authorization` of the resource server introspecting.
    pub(crate) introspect_auth: String,
    /// The `/introspect` body of the one child asked about again and again.
    pub(crate) repeated_body: String,
    /// `/introspect` bodies of other children, one each.
    pub(crate) distinct_bodies: Vec<String>,
}

fn basic(client: &WorkloadClient) -> String {
    let pair = format!("{}:{}", client.client_id, client.secret.expose());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// POSTs `body` to `path` with `authorization`, in-process.
pub(crate) async fn post(
    router: &axum::Router,
    path: &str,
    authorization: &str,
    body: &str,
) -> (StatusCode, Bytes) {
    let request = Request::post(path)
        .header(header::AUTHORIZATION, authorization)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, bytes)
}

fn access_token(status: StatusCode, body: &Bytes) -> String {
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(body));
    let answer: serde_json::Value = serde_json::from_slice(body).expect("json");
    answer["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A server named `issuer` on `database`, its clients and passports, with
/// `distinct` children minted for the distinct-introspection runs.
pub(crate) async fn prepare(issuer: &str, database: Database, distinct: usize) -> Fixture {
    prepare_with(issuer, database, distinct, |b| b).await
}

/// A server named `issuer` on `database` with the load limits
/// ([`LOAD_RATE`]), its builder passed through `configure`.
pub(crate) async fn load_server(
    issuer: &str,
    database: Database,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> Server {
    configure(
        Server::builder(issuer, database)
            .token_rate_limit(LOAD_RATE)
            .introspection_rate_limit(LOAD_RATE)
            .revocation_rate_limit(LOAD_RATE),
    )
    .build()
    .await
    .expect("server")
}

/// As [`prepare`], the server's builder passed through `configure`.
pub(crate) async fn prepare_with(
    issuer: &str,
    database: Database,
    distinct: usize,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> Fixture {
    let server = load_server(issuer, database, configure).await;
    let router = server.router();
    let owner = server
        .register_workload_client("alice", "files:*")
        .await
        .expect("client");
    let tool = server
        .register_workload_client("tool", "introspect")
        .await
        .expect("client");
    let (status, body) = post(
        &router,
        "/token",
        &basic(&owner),
        &form(&[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE),
            ("scope", "files:*"),
        ]),
    )
    .await;
    let parent = access_token(status, &body);
    // the holder exchanges its bearer passport (no other client may)
    let exchange_auth = basic(&owner);
    let exchange_body = form(&[
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", &parent),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("resource", RESOURCE),
        ("scope", "files:read"),
    ]);
    let child = |router: axum::Router, auth: String, body: String| async move {
        let (status, answer) = post(&router, "/token", &auth, &body).await;
        form(&[("token", &access_token(status, &answer))])
    };
    let repeated_body = child(router.clone(), exchange_auth.clone(), exchange_body.clone()).await;
    let mut distinct_bodies = Vec::with_capacity(distinct);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..distinct {
        tasks.spawn(child(
            router.clone(),
            exchange_auth.clone(),
            exchange_body.clone(),
        ));
        if n % 64 == 63 {
            while let Some(b) = tasks.join_next().await {
                distinct_bodies.push(b.expect("task"));
            }
        }
    }
    while let Some(b) = tasks.join_next().await {
        distinct_bodies.push(b.expect("task"));
    }
    Fixture {
        server,
        router,
        exchange_auth,
        exchange_body,
        introspect_auth: basic(&tool),
        repeated_body,
        distinct_bodies,
    }
}
