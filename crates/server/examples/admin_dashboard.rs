//! A hermetic dashboard for the real-browser tests (`scripts/browser.sh`):
//! the mock OpenID provider with three users — `ada` (identity admin and
//! resource owner), `april` (approver), `audrey` (auditor) — and `nobody`
//! (no administrator role), and passport-server on 127.0.0.1:0 with their
//! role mapping and one workload client. It writes `KEY=value` lines to
//! FILE (private: it holds the test client's secret), then serves until
//! stdin closes or it is signalled.
//!
//! Run: `cargo run -p passport-server --example admin_dashboard -- FILE`.
// A test fixture that cannot be built should fail loudly.
#![allow(clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::Server;
use passport_store::server::Database;
use serde_json::json;
use tokio::io::AsyncReadExt as _;

const MAPPING: &str = r#"
claim = "roles"
[roles]
identity_admin = ["passport-admins"]
resource_owner = ["owners"]
approver = ["approvers"]
auditor = ["auditors"]
"#;

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
    let server = Server::builder(&issuer, db)
        .upstream(provider)
        .admin_role_mapping(MAPPING)
        .expect("the role mapping")
        .build()
        .await
        .expect("the server");
    let client = server
        .register_workload_client("alice", "tools:read tools:list")
        .await
        .expect("a workload client");
    let lines = format!(
        "SERVER_URL={issuer}\nMOCK_URL={}\nCLIENT_ID={}\nCLIENT_SECRET={}\nRESOURCE=https://tools.example/mcp\n",
        mock.issuer(),
        client.client_id,
        client.secret.expose()
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .expect("FILE must not exist yet");
    file.write_all(lines.as_bytes()).expect("write FILE");
    drop(file);
    eprintln!("admin_dashboard: serving {issuer} (mock {})", mock.issuer());
    let serve = tokio::spawn(server.serve(listener, std::future::pending()));
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
