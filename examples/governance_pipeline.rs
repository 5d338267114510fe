//! The governed Dev → Test → Prod pipeline (issue 14), hermetically:
//! passport-server embedded (SQLite in a temporary directory, 127.0.0.1
//! only) under a policy modelled on `examples/governance/policy.toml`, the
//! mock OIDC provider upstream for the administrators. Two agent identities
//! are registered by an identity administrator; dev and test passports are
//! issued with their environments' capped lifetimes; prod waits for an
//! approver (not the identity's owner); an agent hands work to another
//! agent by token exchange with the receiving agent's own passport; the
//! kill-switch revokes the first agent's passports and refuses its next
//! request; and the hash-chained audit trail is verified.
//!
//! Run: `cargo run -p passport-examples --example governance_pipeline`

use std::time::Duration;

use passport_claims::{Clock as _, PassportClaims, SystemClock, UnverifiedBundle};
use passport_dpop::DpopKey;
use passport_examples::{BoxError, section};
use passport_jose::Algorithm;
use passport_mock_oidc::MockOidc;
use passport_oidc::{OidcConfig, Provider};
use passport_server::{Server, WorkloadClient};
use passport_store::server::Database;
use serde_json::{Value, json};

const DEV: &str = "https://dev.example/api";
const TEST: &str = "https://test.example/api";
const PROD: &str = "https://prod.example/api";

/// The reference's caps: dev 120 s, test 90 s, prod 45 s with approval —
/// the policy file the README and `passport serve --policy` document, so
/// this example keeps it honest.
const POLICY: &str = include_str!("governance/policy.toml");

/// The running pipeline: the server, its URL, the provider that signs the
/// administrators' ID tokens.
struct Pipeline {
    server: Server,
    url: String,
    mock: MockOidc,
    http: reqwest::Client,
}

impl Pipeline {
    /// An administrator's bearer credential: an upstream ID token of `sub`
    /// with the upstream `roles` (the policy maps them to admin roles),
    /// issued to the administrators' own client (`api_client_id`), not the
    /// one users log in with.
    fn administrator(&self, sub: &str, roles: &[&str]) -> String {
        let mut claims = self.mock.default_claims();
        claims["sub"] = json!(sub);
        claims["roles"] = json!(roles);
        claims["aud"] = json!("passport-admin");
        self.mock.mint_id_token(claims)
    }

    /// Calls the admin API as `bearer` (GET without a body, POST with).
    async fn admin(
        &self,
        bearer: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), BoxError> {
        let url = format!("{}{path}", self.url);
        let request = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let r = request.bearer_auth(bearer).send().await?;
        Ok((r.status().as_u16(), r.json().await?))
    }

    /// Asks `/token` as `client` with `form`: the status and the body.
    async fn token(
        &self,
        client: &WorkloadClient,
        form: &[(&str, &str)],
        dpop: Option<String>,
    ) -> Result<(u16, Value), BoxError> {
        let mut request = self
            .http
            .post(format!("{}/token", self.url))
            .basic_auth(&client.client_id, Some(client.secret.expose()))
            .form(form);
        if let Some(proof) = dpop {
            request = request.header("DPoP", proof);
        }
        let r = request.send().await?;
        Ok((r.status().as_u16(), r.json().await?))
    }

    /// A client-credentials passport for `resource` with `scope`.
    async fn ask(
        &self,
        client: &WorkloadClient,
        resource: &str,
        scope: &str,
    ) -> Result<(u16, Value), BoxError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", scope),
        ];
        self.token(client, &form, None).await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    section("1. passport-server starts under the pipeline's policy");
    let mock = MockOidc::start().await;
    let upstream = Provider::new(OidcConfig::new(mock.discovery_url(), mock.client_id()))?;
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY)?;
    let database = dir
        .path()
        .join("server.db")
        .to_str()
        .ok_or("a non-UTF-8 path")?
        .to_owned();
    let db = Database::open(&database, now()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = Server::builder(&url, db)
        .upstream(upstream)
        .policy_file(&policy)
        .build()
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let p = Pipeline {
        server,
        url,
        mock,
        http,
    };
    let status = p.server.policy_status().ok_or("no policy in force")?;
    println!(
        "   passport-server     {} (SQLite in a temporary directory)",
        p.url
    );
    println!(
        "   policy version {}: environments {}",
        status.version,
        status.environments.join(", ")
    );
    println!("   dev: max 120 s; test: max 90 s; prod: max 45 s, approval required");

    section("2. An identity administrator registers two agent identities");
    // the operator's workload clients; each client is its own agent id
    let builder = p
        .server
        .register_workload_client("alice", "build:* test:run deploy:run")
        .await?;
    let tester = p
        .server
        .register_workload_client("tess", "test:run")
        .await?;
    let ida = p.administrator("ida", &["passport-admins"]);
    for (client, owner, team, roles) in [
        (
            &builder,
            "alice",
            "platform",
            json!(["pipeline", "deployer"]),
        ),
        (&tester, "tess", "qa", json!(["pipeline"])),
    ] {
        let (status, identity) = p
            .admin(
                &ida,
                "/admin/api/identities",
                Some(json!({"agent_id": client.client_id, "owner": owner, "team": team, "roles": roles})),
            )
            .await?;
        if status != 201 {
            return Err(format!("registration refused: {identity}").into());
        }
        println!(
            "   registered agent {} (owner {owner}, team {team}, roles {roles}) by ida",
            identity["agent_id"].as_str().unwrap_or_default()
        );
    }
    println!("   the builder is agent {}", builder.client_id);

    section("3. Dev and Test: passports issued, lifetimes capped by the environment");
    let (status, dev) = p.ask(&builder, DEV, "build:compile").await?;
    expect(status, 200, &dev)?;
    println!(
        "   dev passport issued: expires_in {} s (cap 120)",
        dev["expires_in"]
    );
    let (status, test) = p.ask(&builder, TEST, "test:run").await?;
    expect(status, 200, &test)?;
    println!(
        "   test passport issued: expires_in {} s (cap 90)",
        test["expires_in"]
    );

    section("4. Prod: blocked until another principal approves");
    let (status, pending) = p.ask(&builder, PROD, "deploy:run").await?;
    expect(status, 400, &pending)?;
    let approval = pending["approval_id"]
        .as_str()
        .ok_or("no approval id")?
        .to_owned();
    println!(
        "   prod answered {} (approval {approval})",
        pending["error"].as_str().unwrap_or_default()
    );
    let approve = format!("/admin/api/approvals/{approval}/approve");
    // the identity's owner may hold the approver role, but may not approve
    let (status, refused) = p
        .admin(
            &p.administrator("alice", &["approvers"]),
            &approve,
            Some(json!({})),
        )
        .await?;
    expect(status, 403, &refused)?;
    println!(
        "   alice (the owner) tries to approve: refused, {}",
        refused["error_description"].as_str().unwrap_or_default()
    );
    let (status, decided) = p
        .admin(
            &p.administrator("victor", &["approvers"]),
            &approve,
            Some(json!({})),
        )
        .await?;
    expect(status, 200, &decided)?;
    println!(
        "   victor (approver) approves: state {}",
        decided["state"].as_str().unwrap_or_default()
    );
    let (status, prod) = p.ask(&builder, PROD, "deploy:run").await?;
    expect(status, 200, &prod)?;
    let prod_jti = leaf(&prod)?.jti;
    let row = p
        .server
        .database()
        .passport(&prod_jti)
        .await?
        .ok_or("the prod passport is not in the registry")?;
    println!(
        "   prod passport issued: expires_in {} s (cap 45), citing approval {}",
        prod["expires_in"],
        row.entry.approval_id.as_deref().unwrap_or("none")
    );
    if row.entry.approval_id.as_deref() != Some(approval.as_str()) {
        return Err("the prod passport does not cite its approval".into());
    }

    section("5. Handoff: the builder delegates its test work to the tester agent");
    // the tester proves who it is with its own passport, bound to its key
    let tester_key = DpopKey::generate(Algorithm::ES256)?;
    let proof = tester_key.proof("POST", &format!("{}/token", p.url), None, None, now())?;
    let own = [
        ("grant_type", "client_credentials"),
        ("resource", TEST),
        ("scope", "test:run"),
    ];
    let (status, tester_passport) = p.token(&tester, &own, Some(proof)).await?;
    expect(status, 200, &tester_passport)?;
    println!("   the tester holds its own passport, bound to its key");
    let subject = test["access_token"].as_str().ok_or("no test passport")?;
    let actor = tester_passport["access_token"]
        .as_str()
        .ok_or("no tester passport")?;
    let exchange = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", subject),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("actor_token", actor),
        ("actor_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("resource", TEST),
        ("scope", "test:run"),
    ];
    let (status, child) = p.token(&builder, &exchange, None).await?;
    expect(status, 200, &child)?;
    let bundle = child["access_token"].as_str().ok_or("no child")?;
    let chain = UnverifiedBundle::parse(bundle)?;
    let handed = leaf(&child)?;
    println!(
        "   RFC 8693 exchange with the tester's passport as actor_token: a child of {} links",
        chain.len()
    );
    if handed.agent.agent_id != tester.client_id
        || handed.cnf_jkt.as_deref() != Some(tester_key.jkt())
    {
        return Err("the child is not the tester's, bound to its key".into());
    }
    println!(
        "   held by the tester agent {} for {}, bound to the tester's key",
        handed.agent.agent_id, handed.sub
    );

    section("6. Kill-switch on the builder: everything it holds is revoked");
    let rita = p.administrator("rita", &["owners"]);
    let (status, engaged) = p
        .admin(
            &rita,
            "/admin/api/kill-switches",
            Some(json!({"kind": "agent", "subject": builder.client_id, "reason": "credentials leaked"})),
        )
        .await?;
    expect(status, 200, &engaged)?;
    println!(
        "   rita (resource owner) engages the kill-switch: {} passport(s) revoked, the handoff's child with them",
        engaged["revoked"]
    );
    let (status, refused) = p.ask(&builder, DEV, "build:compile").await?;
    expect(status, 400, &refused)?;
    println!(
        "   the builder's next request: {} ({})",
        refused["error"].as_str().unwrap_or_default(),
        refused["error_description"].as_str().unwrap_or_default()
    );

    section("7. The audit trail verifies (as `passport audit verify --database`)");
    let (status, trail) = p
        .admin(
            &p.administrator("aude", &["auditors"]),
            "/admin/api/audit",
            None,
        )
        .await?;
    expect(status, 200, &trail)?;
    let records = trail["records"].as_array().cloned().unwrap_or_default();
    let mut actions: Vec<String> = records
        .iter()
        .filter_map(|r| r["action"].as_str().map(str::to_owned))
        .collect();
    actions.dedup();
    println!("   {} records: {}", records.len(), actions.join(", "));
    // a second handle on the database, as the CLI opens it
    let report = Database::open(&database, now())
        .await?
        .verify_audit()
        .await?;
    for chain in &report.chains {
        println!(
            "   chain {}…: {} records, head seq {}: {}",
            chain.chain.get(..8).unwrap_or(&chain.chain),
            chain.records,
            chain.head.seq,
            if chain.result.is_ok() { "ok" } else { "BROKEN" }
        );
    }
    if !report.ok() {
        return Err("the audit trail does not verify".into());
    }
    println!("   the trail verifies: no record edited, dropped or reordered");

    let _ = stop.send(());
    serving.await??;
    println!("Done.");
    Ok(())
}

/// Fails unless the answer has the status expected.
fn expect(status: u16, expected: u16, body: &Value) -> Result<(), BoxError> {
    if status == expected {
        Ok(())
    } else {
        Err(format!("HTTP {status} (expected {expected}): {body}").into())
    }
}

/// The leaf passport's claims (decoded here only to show them; the
/// resource servers verify).
fn leaf(answer: &Value) -> Result<PassportClaims, BoxError> {
    let bundle = answer["access_token"].as_str().ok_or("no access_token")?;
    let parsed = UnverifiedBundle::parse(bundle)?;
    // leaf first
    let first = parsed
        .inspect_unverified()
        .into_iter()
        .next()
        .ok_or("an empty bundle")??;
    Ok(first.claims)
}

fn now() -> i64 {
    SystemClock.now()
}
