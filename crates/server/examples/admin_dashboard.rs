//! A hermetic dashboard for the real-browser tests (`scripts/browser.sh`):
//! the mock OpenID provider with three users — `ada` (identity admin and
//! resource owner), `april` (approver), `audrey` (auditor) — and `nobody`
//! (no administrator role), and passport-server on 127.0.0.1:0 governed by
//! the reference's pipeline policy (dev: max TTL 120 s, test: 90 s, prod:
//! 45 s and an approval; one audience each; the role mapping in its
//! `[administrators]` table). Two workload clients, agents A and B (owner
//! and principal `alice`, role `pipeline`), are registered as agent
//! identities through the admin API (as `ada`). It writes `KEY=value`
//! lines to FILE (private: it holds the clients' secrets), then serves
//! until stdin closes or it is signalled.
//!
//! Run: `cargo run -p passport-server --example admin_dashboard -- FILE`.
// A test fixture that cannot be built should fail loudly.
#![allow(clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::{Server, WorkloadClient};
use passport_store::server::Database;
use serde_json::json;
use tokio::io::AsyncReadExt as _;

const DEV: &str = "https://dev.example/api";
const TEST: &str = "https://test.example/api";
const PROD: &str = "https://prod.example/api";

/// The reference's Dev → Test → Prod pipeline, and the administrators.
const POLICY: &str = r#"
[environments.dev]
max_ttl = 120
audiences = ["https://dev.example/api"]
approval = false
[[environments.dev.grants]]
roles = ["pipeline"]
scopes = ["build:*"]

[environments.test]
max_ttl = 90
audiences = ["https://test.example/api"]
approval = false
[[environments.test.grants]]
roles = ["pipeline"]
scopes = ["test:run"]

[environments.prod]
max_ttl = 45
audiences = ["https://prod.example/api"]
approval = true
[[environments.prod.grants]]
roles = ["pipeline"]
scopes = ["deploy:run"]

[administrators]
claim = "roles"
api_client_id = "passport-admin"
[administrators.roles]
identity_admin = ["passport-admins"]
resource_owner = ["owners"]
approver = ["approvers"]
auditor = ["auditors"]
"#;

/// Registers `client` as an agent identity (owner alice, role pipeline)
/// through the admin API, as ada.
async fn register(issuer: &str, mock: &MockOidc, client: &WorkloadClient) {
    let mut claims = mock.default_claims();
    claims["sub"] = json!("ada");
    claims["roles"] = json!(["passport-admins"]);
    // the admin API's bearer: an ID token of the administrators' own client
    claims["aud"] = json!("passport-admin");
    let r = reqwest::Client::new()
        .post(format!("{issuer}/admin/api/identities"))
        .bearer_auth(mock.mint_id_token(claims))
        .json(&json!({
            "agent_id": client.client_id,
            "owner": "alice",
            "team": "pipeline",
            "roles": ["pipeline"],
        }))
        .send()
        .await
        .expect("the identities API");
    assert!(
        r.status().is_success(),
        "registering an identity: {}",
        r.status()
    );
}

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: admin_dashboard FILE");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mock = MockOidc::builder()
        .redirect_path("/authorize/callback")
        .user("ada", json!({"roles": ["passport-admins", "owners"]}))
        .user("april", json!({"roles": ["approvers"]}))
        .user("audrey", json!({"roles": ["auditors"]}))
        .user("nobody", json!({"roles": ["employees"]}))
        .start()
        .await
        .expect("the mock provider");
    let provider = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id()))
        .expect("the provider");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("address"));
    let db = Database::open(dir.path().join("server.db").to_str().expect("path"), now)
        .await
        .expect("database");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).expect("the policy file");
    let server = Server::builder(&issuer, db)
        .upstream(provider)
        .policy_file(policy)
        .build()
        .await
        .expect("the server");
    let serve = tokio::spawn(server.clone().serve(listener, std::future::pending()));
    let mut agents = Vec::new();
    for _ in 0..2 {
        let client = server
            .register_workload_client("alice", "build:* test:run deploy:run")
            .await
            .expect("a workload client");
        register(&issuer, &mock, &client).await;
        agents.push(client);
    }
    let lines = format!(
        "SERVER_URL={issuer}\nMOCK_URL={}\nDEV={DEV}\nTEST={TEST}\nPROD={PROD}\n\
         AGENT_A_ID={}\nAGENT_A_SECRET={}\nAGENT_B_ID={}\nAGENT_B_SECRET={}\n",
        mock.issuer(),
        agents[0].client_id,
        agents[0].secret.expose(),
        agents[1].client_id,
        agents[1].secret.expose(),
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .expect("FILE must not exist yet");
    file.write_all(lines.as_bytes()).expect("write FILE");
    drop(file);
    eprintln!("admin_dashboard: serving {issuer} (mock {})", mock.issuer());
    // until stdin closes (the script that started it ended) or a signal
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
    loop {
        tokio::select! {
            read = stdin.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { break },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    serve.abort();
    // not a return: the runtime would wait for the blocking stdin read
    std::process::exit(0);
}
