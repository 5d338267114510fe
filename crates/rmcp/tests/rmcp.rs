//! passport-rmcp end to end: rmcp's streamable HTTP server behind
//! passport-axum and the tool scope layer on 127.0.0.1:0, passports from the
//! test kit's issuer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use passport_agent::{Credentials, PassportClient};
use passport_audit::{AuditError, AuditRecord, AuditSink};
use passport_axum::{PassportAuth, Requirements};
use passport_claims::{Clock as _, SystemClock};
use passport_dpop::{DpopKey, DpopPolicy, DpopVerifier};
use passport_jose::Algorithm;
use passport_rmcp::{AgentPassport, DEFAULT_MAX_SESSIONS, ToolScopes};
use passport_testkit::{BrokenSink, Kit, MemorySink, alice_ial2, issuance};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    EventStore, EventStoreError, EventStream, ServerSseMessage,
};
use rmcp::transport::streamable_http_server::{
    SessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// `read_file` arguments.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ReadFile {
    path: String,
    /// Also the file's history: needs `files:history` besides `files:read`.
    #[serde(default)]
    history: bool,
}

/// The tools; `calls` counts the tool bodies that ran.
#[derive(Clone)]
struct Tools {
    calls: Arc<AtomicUsize>,
    tool_router: ToolRouter<Tools>,
}

#[tool_router]
impl Tools {
    #[tool(description = "Read a file", meta = passport_rmcp::scope("files:read"))]
    fn read_file(
        &self,
        passport: AgentPassport,
        Parameters(args): Parameters<ReadFile>,
    ) -> Result<String, ErrorData> {
        if args.history {
            passport.require_scope("files:history")?;
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{} read by {}", args.path, passport.agent_id()))
    }

    // No passport parameter: only the HTTP check guards this tool.
    #[tool(description = "Write a file", meta = passport_rmcp::scope("files:write"))]
    fn write_file(&self) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        "written".to_owned()
    }

    #[tool(description = "Who is calling", meta = passport_rmcp::public())]
    fn whoami(&self, passport: AgentPassport) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("{} for {}", passport.agent_id(), passport.principal())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {}

/// Which layers stand in front of rmcp.
#[derive(Clone, Copy, PartialEq)]
enum Stack {
    /// passport-axum, then the tool scope layer (the intended stack).
    Full,
    /// passport-axum only: the tools' own check is all there is.
    NoScopeLayer,
    /// The tool scope layer only: no passport layer in front.
    NoPassportLayer,
    /// The full stack, with a table that misses `write_file` (a tool the
    /// handler serves that was not tabled: added later, another router…).
    PartialTable,
}

/// The verifier's audit sink: records in memory, or fails like a full
/// disk while `broken`.
#[derive(Default)]
struct Audit {
    records: MemorySink,
    broken: AtomicBool,
}

impl AuditSink for Audit {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        if self.broken.load(Ordering::SeqCst) {
            BrokenSink.record(record)
        } else {
            self.records.record(record)
        }
    }
}

impl Audit {
    fn take(&self) -> Vec<AuditRecord> {
        self.records.take()
    }
}

/// An rmcp event store in memory, which notes each replay asked of it.
#[derive(Default)]
struct Events {
    /// Each event's stream, id and message, in order.
    stored: Mutex<Vec<(String, String, ServerSseMessage)>>,
    /// The ids replays were asked after.
    replays: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl EventStore for Events {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<String, EventStoreError> {
        let mut stored = self.stored.lock().unwrap();
        // guessable on purpose, counted from 0: the layer must not rely on
        // ids being secret, nor on their differing from rmcp's own
        let id = stored.len().to_string();
        let mut event = event.clone();
        event.event_id = Some(id.clone());
        stored.push((stream_id.to_owned(), id.clone(), event));
        Ok(id)
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        self.replays.lock().unwrap().push(last_event_id.to_owned());
        let stored = self.stored.lock().unwrap();
        let at = stored
            .iter()
            .position(|(_, id, _)| id == last_event_id)
            .ok_or("no such event")?;
        let stream = stored[at].0.clone();
        let after: Vec<ServerSseMessage> = stored[at + 1..]
            .iter()
            .filter(|(s, _, _)| *s == stream)
            .map(|(_, _, event)| event.clone())
            .collect();
        Ok(Box::pin(futures_util::stream::iter(after)))
    }
}

/// What [`start_with`] sets up besides the defaults.
#[derive(Clone, Copy)]
struct Options {
    max_sessions: usize,
    /// The tool scope layer's bound per principal (`None`: its default).
    per_principal: Option<usize>,
    /// The layer closes the sessions it forgets in rmcp.
    close_forgotten: bool,
    /// rmcp keeps its events in an [`Events`] store.
    event_store: bool,
    /// rmcp's keep-alive on open event streams (`None`: its default).
    keep_alive: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_sessions: DEFAULT_MAX_SESSIONS,
            per_principal: None,
            close_forgotten: false,
            event_store: false,
            keep_alive: None,
        }
    }
}

struct Server {
    kit: Kit,
    url: String,
    metadata_url: String,
    calls: Arc<AtomicUsize>,
    audit: Arc<Audit>,
    sessions: Arc<LocalSessionManager>,
    events: Arc<Events>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const MAX_BODY: usize = 64 * 1024;

async fn start(stack: Stack, dpop: bool) -> Server {
    start_with(stack, dpop, Options::default()).await
}

/// [`start`], with `options`.
async fn start_with(stack: Stack, dpop: bool, options: Options) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{base}/mcp");
    let kit = Kit::at(SystemClock.now(), &url);
    let scopes = if stack == Stack::PartialTable {
        let tools = Tools::tool_router().list_all();
        ToolScopes::from_tools(tools.iter().filter(|t| t.name != "write_file")).unwrap()
    } else {
        ToolScopes::from_router(&Tools::tool_router()).unwrap()
    };
    let audit = Arc::new(Audit::default());
    let verifier = kit.verifier(kit.policy()).with_audit(audit.clone());
    let mut auth = PassportAuth::builder(Arc::new(verifier))
        .resource(&url)
        .public_base_url(&base)
        .scopes_supported(scopes.scopes());
    if dpop {
        auth = auth.dpop(DpopVerifier::new(DpopPolicy::default(), kit.clock.clone()));
    }
    let auth = auth.build().unwrap();
    let metadata_url = auth.metadata_url().to_owned();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let events = Arc::new(Events::default());
    let mut sessions = LocalSessionManager::default();
    if options.event_store {
        sessions = sessions.with_event_store(events.clone());
    }
    let sessions = Arc::new(sessions);
    let mut config = StreamableHttpServerConfig::default();
    if let Some(keep_alive) = options.keep_alive {
        config.sse_keep_alive = Some(keep_alive);
    }
    let mcp = StreamableHttpService::new(
        move || {
            Ok(Tools {
                calls: counter.clone(),
                tool_router: Tools::tool_router(),
            })
        },
        sessions.clone(),
        config,
    );
    let mut layer = scopes
        .layer()
        .max_body(MAX_BODY)
        .max_sessions(options.max_sessions);
    if let Some(bound) = options.per_principal {
        layer = layer.max_sessions_per_principal(bound);
    }
    if options.close_forgotten {
        layer = layer.close_forgotten(sessions.clone());
    }
    // `/reference`: passport-axum's own refusal for `files:write`, to hold
    // the layer's challenge to it byte for byte.
    let reference = Router::new()
        .route("/reference", get(|| async { "ok" }))
        .route_layer(auth.require(Requirements::scope("files:write")));
    let app = match stack {
        Stack::Full | Stack::PartialTable => reference
            .nest_service("/mcp", layer.service(mcp))
            .layer(auth.layer()),
        Stack::NoScopeLayer => reference.nest_service("/mcp", mcp).layer(auth.layer()),
        Stack::NoPassportLayer => Router::new().nest_service("/mcp", layer.service(mcp)),
    }
    .merge(auth.metadata_router());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        kit,
        url,
        metadata_url,
        calls,
        audit,
        sessions,
        events,
        task,
    }
}

/// A client with a passport for `agent-a` holding `patterns` (bound to a
/// fresh key and sent with DPoP proofs when `dpop`).
fn client(server: &Server, patterns: &[&str], dpop: bool) -> PassportClient {
    client_of(server, "agent-a", patterns, dpop)
}

/// [`client`] for `agent`; every call issues a new passport (its own
/// `jti`, and with `dpop` its own key).
fn client_of(server: &Server, agent: &str, patterns: &[&str], dpop: bool) -> PassportClient {
    let request = issuance(alice_ial2(), &server.url, agent, "model-a", patterns);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let credentials = if dpop {
        let key = DpopKey::generate(Algorithm::ES256).unwrap();
        let passport = server.kit.issue(request.holder_jkt(key.jkt()));
        Credentials::new(passport.bundle(), Some(key))
    } else {
        Credentials::new(server.kit.issue(request).bundle(), None)
    };
    PassportClient::builder(credentials)
        .http_client(http)
        .build()
}

/// An initialized MCP session: the client and its `Mcp-Session-Id`.
struct Session {
    client: PassportClient,
    url: String,
    id: String,
}

impl Session {
    async fn open(server: &Server, client: PassportClient) -> Session {
        Session::open_answered(server, client).await.0
    }

    /// [`Session::open`], and the text of rmcp's answer to `initialize`.
    async fn open_answered(server: &Server, client: PassportClient) -> (Session, String) {
        let mut session = Session {
            client,
            url: server.url.clone(),
            id: String::new(),
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        }});
        let response = session.post(init.to_string()).await;
        assert_eq!(response.status(), 200);
        session.id = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let answer = response.text().await.unwrap();
        let _ = jsonrpc_in(&answer);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(session.post(initialized.to_string()).await.status(), 202);
        (session, answer)
    }

    /// A GET that opens the session's event stream, with `headers` too.
    async fn listen(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .client
            .http()
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-11-25");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.client.send(request).await.unwrap()
    }

    async fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        let mut request = self
            .client
            .http()
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if !self.id.is_empty() {
            request = request
                .header("mcp-session-id", &self.id)
                .header("mcp-protocol-version", "2025-11-25");
        }
        self.client.send(request).await.unwrap()
    }

    async fn call(&self, tool: &str, arguments: Value) -> reqwest::Response {
        let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        self.post(call.to_string()).await
    }
}

/// The JSON-RPC response in a 200 answer (JSON, or the SSE event that
/// carries it).
async fn jsonrpc_reply(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    jsonrpc_in(&response.text().await.unwrap())
}

/// The JSON-RPC response in an answer's text (JSON, or an SSE event).
fn jsonrpc_in(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return value;
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in {text:?}"))
}

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The challenge of passport-axum's own 403 for `files:write`.
async fn reference_challenge(server: &Server, client: &PassportClient) -> Vec<String> {
    let reference = server.url.replace("/mcp", "/reference");
    let response = client.get(&reference).await.unwrap();
    assert_eq!(response.status(), 403);
    challenges(&response)
}

#[tokio::test]
async fn a_call_within_scope_reaches_the_tool_with_the_passport() {
    let server = start(Stack::Full, false).await;
    let session = Session::open(&server, client(&server, &["files:read"], false)).await;
    let reply = jsonrpc_reply(session.call("read_file", json!({"path": "a.txt"})).await).await;
    assert_eq!(
        reply["result"]["content"][0]["text"],
        "a.txt read by agent-a"
    );
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_call_beyond_scope_is_403_naming_the_scope_and_the_tool_never_runs() {
    let server = start(Stack::Full, false).await;
    let client = client(&server, &["files:read"], false);
    let expected = reference_challenge(&server, &client).await;
    let session = Session::open(&server, client).await;

    let response = session.call("write_file", json!({})).await;
    assert_eq!(response.status(), 403);
    let got = challenges(&response);
    assert_eq!(got, expected, "the same bytes as passport-axum's own 403");
    assert_eq!(
        got,
        [format!(
            "Bearer realm=\"{}\", error=\"insufficient_scope\", error_description=\"scope_violation\", scope=\"files:write\", resource_metadata=\"{}\"",
            server.url, server.metadata_url
        )]
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "files:write");
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
    // The request's one audit record is the refusal, naming the scope.
    let last = server.audit.take().pop().unwrap();
    assert_eq!(last.error.as_deref(), Some("scope_violation"));
    assert_eq!(last.required_scope.as_deref(), Some("files:write"));
}

#[tokio::test]
async fn with_dpop_the_challenge_is_dpop_and_identical_to_the_layers() {
    let server = start(Stack::Full, true).await;
    let client = client(&server, &["files:read"], true);
    let expected = reference_challenge(&server, &client).await;
    let session = Session::open(&server, client).await;
    let response = session.call("write_file", json!({})).await;
    assert_eq!(response.status(), 403);
    let got = challenges(&response);
    assert_eq!(got, expected);
    let dpop = got.iter().find(|c| c.starts_with("DPoP ")).unwrap();
    assert!(dpop.contains("error=\"insufficient_scope\""), "{dpop}");
    assert!(dpop.contains("scope=\"files:write\""), "{dpop}");
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
    // Within scope, with a proof per request, the tool runs.
    let reply = jsonrpc_reply(session.call("read_file", json!({"path": "b"})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "b read by agent-a");
}

#[tokio::test]
async fn a_batch_with_one_forbidden_call_is_refused() {
    let server = start(Stack::Full, false).await;
    let session = Session::open(&server, client(&server, &["files:read"], false)).await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file", "arguments": {"path": "a"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "write_file", "arguments": {}}},
    ]);
    let response = session.post(batch.to_string()).await;
    assert_eq!(response.status(), 403);
    assert!(challenges(&response)[0].contains("scope=\"files:write\""));
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_tool_name_given_twice_is_refused_not_guessed() {
    let server = start(Stack::Full, false).await;
    let session = Session::open(&server, client(&server, &["files:read"], false)).await;
    let smuggled = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","name":"write_file","arguments":{"path":"a"}}}"#;
    let response = session.post(smuggled).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "malformed_jsonrpc");
    let broken = session
        .post(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call""#)
        .await;
    assert_eq!(broken.status(), 400);
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let server = start(Stack::Full, false).await;
    let session = Session::open(&server, client(&server, &["files:read"], false)).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"read_file","arguments":{{"path":"{}"}}}}}}"#,
        "x".repeat(MAX_BODY)
    );
    let response = session.post(big).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "request_too_large");
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
    // The request's one record is the layer's refusal, not an acceptance.
    let last = server.audit.take().pop().unwrap();
    assert_eq!(last.outcome, passport_audit::Outcome::Refused);
    assert_eq!(last.error.as_deref(), Some("request_too_large"));
}

#[tokio::test]
async fn tools_list_and_public_tools_need_only_a_valid_passport() {
    let server = start(Stack::Full, false).await;
    // A passport with none of the tools' scopes.
    let session = Session::open(&server, client(&server, &["mail:send"], false)).await;
    let list = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"});
    let reply = jsonrpc_reply(session.post(list.to_string()).await).await;
    let tools = reply["result"]["tools"].as_array().unwrap();
    let read = tools.iter().find(|t| t["name"] == "read_file").unwrap();
    // The declaration is the tool's `_meta`: clients see the scope too.
    assert_eq!(read["_meta"]["agentpassport/scope"], "files:read");
    assert_eq!(tools.len(), 3);

    let reply = jsonrpc_reply(session.call("whoami", json!({})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "agent-a for alice");
    // An unknown tool is refused by the layer (it fails closed), before
    // rmcp, which would answer that it does not exist.
    let response = session.call("no_such_tool", json!({})).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "tool_scope_undeclared");
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_the_passport_layer_every_request_fails_closed() {
    let server = start(Stack::NoPassportLayer, false).await;
    let anonymous = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 500);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error_description"], "passport_layer_missing");
}

#[tokio::test]
async fn the_tool_checks_its_scope_itself() {
    // Without the scope layer, the tool's `AgentPassport` refuses: it finds
    // no scope table (fail closed), and the tool does not run.
    let server = start(Stack::NoScopeLayer, false).await;
    let session = Session::open(&server, client(&server, &["files:read"], false)).await;
    let reply = jsonrpc_reply(session.call("read_file", json!({"path": "a"})).await).await;
    assert_eq!(
        reply["error"]["data"]["error"], "passport_layer_missing",
        "{reply}"
    );
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);

    // With it, `require_scope` inside the tool names the extra scope.
    let server = start(Stack::Full, false).await;
    let session = Session::open(&server, client(&server, &["files:read"], false)).await;
    let reply = jsonrpc_reply(
        session
            .call("read_file", json!({"path": "a", "history": true}))
            .await,
    )
    .await;
    assert_eq!(
        reply["error"]["data"]["error"], "insufficient_scope",
        "{reply}"
    );
    assert_eq!(reply["error"]["data"]["scope"], "files:history");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`files:history`")
    );
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
}

/// Tools whose declarations are wrong (or missing).
#[derive(Clone)]
struct Undeclared;

#[tool_router]
impl Undeclared {
    #[tool(description = "Forgot its scope")]
    fn forgot(&self) -> String {
        String::new()
    }
}

#[test]
fn a_tool_without_a_declaration_is_refused_at_startup() {
    let error = ToolScopes::from_router(&Undeclared::tool_router()).unwrap_err();
    assert_eq!(error.code(), "tool_scope_undeclared");
    assert!(error.to_string().contains("`forgot`"));
}

#[test]
fn unusable_declarations_are_refused_at_startup() {
    use rmcp::model::Tool;
    let tool = |meta: rmcp::model::MetaObject| {
        Tool::new_with_raw("t", None, Arc::new(serde_json::Map::new())).with_meta(meta)
    };
    let mut both = passport_rmcp::scope("files:read");
    both.0.extend(passport_rmcp::public().0);
    let mut not_string = rmcp::model::MetaObject::new();
    not_string
        .0
        .insert("agentpassport/scope".into(), json!(["files:read"]));
    let mut not_true = rmcp::model::MetaObject::new();
    not_true
        .0
        .insert("agentpassport/public".into(), json!(false));
    for meta in [
        passport_rmcp::scope("files:*"),
        passport_rmcp::scope("files:read mail:send"),
        passport_rmcp::scope(""),
        passport_rmcp::scope("caf\u{e9}"),
        passport_rmcp::scope(&"x".repeat(300)),
        both,
        not_string,
        not_true,
    ] {
        let error = ToolScopes::from_tools([&tool(meta.clone())]).unwrap_err();
        assert_eq!(error.code(), "tool_scope_invalid", "{meta:?}");
    }
    // A router that hands unknown tools elsewhere cannot be tabled.
    let mut transparent = Tools::tool_router();
    transparent.transparent_when_not_found = true;
    assert_eq!(
        ToolScopes::from_router(&transparent).unwrap_err().code(),
        "tool_router_transparent"
    );
    // Disabled tools are in the table (they may be enabled later).
    let disabled = Tools::tool_router().with_disabled("write_file");
    let scopes = ToolScopes::from_router(&disabled).unwrap();
    assert_eq!(
        scopes.access("write_file"),
        Some(passport_rmcp::ToolAccess::Scope("files:write"))
    );
    assert_eq!(
        scopes.access("whoami"),
        Some(passport_rmcp::ToolAccess::Public)
    );
    assert_eq!(scopes.scopes(), ["files:read", "files:write"]);
}

/// Review finding 5: the HTTP check let a tool it has no declaration for
/// through to rmcp ("rmcp answers that it does not exist"). A tool the
/// handler serves but the table misses then ran for any valid passport,
/// unless it happened to take `AgentPassport`: the check failed open. Now
/// the layer refuses it (400 `tool_scope_undeclared`), alone or in a batch.
#[tokio::test]
async fn a_tool_missing_from_the_table_is_refused_not_passed_on() {
    let server = start(Stack::PartialTable, false).await;
    // Even a passport holding the tool's real scope: the table decides.
    let session = Session::open(
        &server,
        client(&server, &["files:read", "files:write"], false),
    )
    .await;
    let response = session.call("write_file", json!({})).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(
        server.calls.load(Ordering::SeqCst),
        0,
        "the tool ran: {text}"
    );
    assert_eq!(status, 400, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error_description"], "tool_scope_undeclared");

    // Hidden in a batch beside a tabled call: the whole body is refused.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
         "params": {"name": "read_file", "arguments": {"path": "a"}}},
        {"jsonrpc": "2.0", "id": 8, "method": "tools/call",
         "params": {"name": "write_file", "arguments": {}}},
    ]);
    let response = session.post(batch.to_string()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
}

/// Review finding (rev11-b, 1): the acceptance was recorded only when rmcp's
/// response passed back through the passport layer, so with a failing
/// audit sink the tool ran unrecorded and the client, told 503, would send
/// it again. Now the layer records before rmcp reads the request.
#[tokio::test]
async fn an_acceptance_that_cannot_be_recorded_never_reaches_a_tool() {
    let server = start(Stack::Full, false).await;
    let session = Session::open(&server, client(&server, &["files:read"], false)).await;
    server.audit.broken.store(true, Ordering::SeqCst);
    let response = session.call("read_file", json!({"path": "a"})).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "audit_failed");
    // Mended, the next call runs. rmcp handles a session's messages in
    // order, so had the refused call reached it, its tool would have run
    // before this one answers.
    server.audit.broken.store(false, Ordering::SeqCst);
    let reply = jsonrpc_reply(session.call("read_file", json!({"path": "b"})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "b read by agent-a");
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);
    // The accepted call's one record was written before the tool ran.
    let records = server.audit.take();
    let last = records.last().unwrap();
    assert_eq!(last.outcome, passport_audit::Outcome::Accepted);
}

/// Review finding (rev11-b, 2): any valid passport could act in a session
/// by its `Mcp-Session-Id` — post into it, open its event stream, end it.
/// Now a session belongs to the agent that opened it.
#[tokio::test]
async fn a_session_is_used_and_ended_only_by_the_agent_that_opened_it() {
    let server = start(Stack::Full, false).await;
    let a = Session::open(&server, client(&server, &["files:read"], false)).await;
    // agent-b, of the same principal and issuer, with a valid passport
    let b = Session {
        client: client_of(&server, "agent-b", &["files:read"], false),
        url: server.url.clone(),
        id: a.id.clone(),
    };
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
    let posted = b.post(list.to_string()).await;
    assert_eq!(posted.status(), 404);
    let body: Value = posted.json().await.unwrap();
    assert_eq!(body["error_description"], "mcp_session_unknown");
    let refused = server.audit.take().pop().unwrap();
    assert_eq!(refused.error.as_deref(), Some("mcp_session_unknown"));
    assert_eq!(refused.links.last().unwrap().agent_id, "agent-b");
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let request = b
            .client
            .http()
            .request(method.clone(), &b.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &b.id)
            .header("mcp-protocol-version", "2025-11-25");
        let response = b.client.send(request).await.unwrap();
        assert_eq!(response.status(), 404, "{method}");
    }
    assert_eq!(b.call("whoami", json!({})).await.status(), 404);
    // agent-a's session is untouched, and agent-a with a new passport (a
    // rotation: another jti) is still agent-a.
    let reply = jsonrpc_reply(a.call("read_file", json!({"path": "a"})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "a read by agent-a");
    let rotated = Session {
        client: client(&server, &["files:read"], false),
        url: server.url.clone(),
        id: a.id.clone(),
    };
    let reply = jsonrpc_reply(rotated.call("whoami", json!({})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "agent-a for alice");
    // Ended by its owner, it is gone for everyone.
    let end = a
        .client
        .http()
        .delete(&a.url)
        .header("mcp-session-id", &a.id)
        .header("mcp-protocol-version", "2025-11-25");
    assert!(a.client.send(end).await.unwrap().status().is_success());
    assert_eq!(
        a.call("read_file", json!({"path": "a"})).await.status(),
        404
    );
    assert_eq!(server.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_session_the_layer_does_not_know_is_404_and_two_ids_are_400() {
    let server = start(Stack::Full, false).await;
    let a = Session::open(&server, client(&server, &["files:read"], false)).await;
    let forged = Session {
        client: client(&server, &["files:read"], false),
        url: server.url.clone(),
        id: "00000000-0000-4000-8000-000000000000".to_owned(),
    };
    // rmcp would answer 404 too: the layer's own answer and record show
    // that the request never reached it
    let response = forged.call("whoami", json!({})).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "mcp_session_unknown");
    let refused = server.audit.take().pop().unwrap();
    assert_eq!(refused.error.as_deref(), Some("mcp_session_unknown"));
    let twice = a
        .client
        .http()
        .post(&a.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &a.id)
        .header("mcp-session-id", &a.id)
        .header("mcp-protocol-version", "2025-11-25")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string());
    let response = a.client.send(twice).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "malformed_jsonrpc");
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
}

/// A server with `options` and a session each of `agent-a` and then
/// `agent-b` (both alice's, `files:read`).
async fn two_sessions(options: Options) -> (Server, Session, Session) {
    let server = start_with(Stack::Full, false, options).await;
    let a = Session::open(&server, client(&server, &["files:read"], false)).await;
    let b = Session::open(
        &server,
        client_of(&server, "agent-b", &["files:read"], false),
    )
    .await;
    (server, a, b)
}

#[tokio::test]
async fn the_oldest_session_is_forgotten_when_the_layer_is_full() {
    let options = Options {
        max_sessions: 1,
        ..Options::default()
    };
    let (server, a, b) = two_sessions(options).await;
    assert_eq!(a.call("whoami", json!({})).await.status(), 404);
    let reply = jsonrpc_reply(b.call("whoami", json!({})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "agent-b for alice");
    // a client told 404 opens a new session, which works
    let again = Session::open(&server, client(&server, &["files:read"], false)).await;
    let reply = jsonrpc_reply(again.call("whoami", json!({})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "agent-a for alice");
}

#[tokio::test]
async fn a_forgotten_session_is_closed_in_rmcp_when_the_layer_has_its_manager() {
    for close_forgotten in [false, true] {
        let options = Options {
            max_sessions: 1,
            close_forgotten,
            ..Options::default()
        };
        let (server, a, b) = two_sessions(options).await;
        let a_id = Arc::<str>::from(a.id.as_str());
        assert_eq!(a.call("whoami", json!({})).await.status(), 404);
        // forgotten by the layer; in rmcp it ends soon (a task of its
        // own), or at rmcp's idle timeout
        let mut closed = false;
        for _ in 0..50 {
            closed = !server.sessions.has_session(&a_id).await.unwrap();
            if closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(closed, close_forgotten);
        let b_id = Arc::<str>::from(b.id.as_str());
        assert!(server.sessions.has_session(&b_id).await.unwrap());
    }
}

#[tokio::test]
async fn a_session_with_an_open_event_stream_is_in_use() {
    // session 12's review, M3: a session's last use was the request that
    // opened its event stream, however long the stream stayed open
    let options = Options {
        max_sessions: 2,
        keep_alive: Some(Duration::from_millis(100)),
        ..Options::default()
    };
    let server = start_with(Stack::Full, false, options).await;
    let a = Session::open(&server, client(&server, &["files:read"], false)).await;
    let mut stream = a.listen(&[]).await;
    assert_eq!(stream.status(), 200);
    let listening = tokio::spawn(async move { while let Ok(Some(_)) = stream.chunk().await {} });
    let b = Session::open(
        &server,
        client_of(&server, "agent-b", &["files:read"], false),
    )
    .await;
    // agent-a's stream stays open (rmcp's keep-alives pass) after agent-b
    // last used its session
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let _c = Session::open(
        &server,
        client_of(&server, "agent-c", &["files:read"], false),
    )
    .await;
    listening.abort();
    assert_eq!(b.call("whoami", json!({})).await.status(), 404);
    let reply = jsonrpc_reply(a.call("whoami", json!({})).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "agent-a for alice");
}

#[tokio::test]
async fn one_principal_cannot_hold_more_sessions_than_its_bound() {
    // session 11's final review, finding 1: many agents of one principal
    // (one per client it registers) filled the table for everyone
    let options = Options {
        per_principal: Some(2),
        ..Options::default()
    };
    let server = start_with(Stack::Full, false, options).await;
    let mut sessions = Vec::new();
    for agent in ["agent-a", "agent-b", "agent-c"] {
        let client = client_of(&server, agent, &["files:read"], false);
        sessions.push(Session::open(&server, client).await);
        // each agent's session is in use right after it opens
        let reply = jsonrpc_reply(sessions.last().unwrap().call("whoami", json!({})).await).await;
        assert_eq!(
            reply["result"]["content"][0]["text"],
            format!("{agent} for alice")
        );
    }
    // alice's least recently used session made room for her third
    assert_eq!(sessions[0].call("whoami", json!({})).await.status(), 404);
    for session in &sessions[1..] {
        assert_eq!(session.call("whoami", json!({})).await.status(), 200);
    }
}

/// The event ids in an event stream's text.
fn event_ids(stream: &str) -> Vec<String> {
    stream
        .lines()
        .filter_map(|line| line.strip_prefix("id:"))
        .map(|id| id.trim_start().to_owned())
        .collect()
}

/// A GET that resumes an event stream after `last_event_id`, in `session`
/// (`None`: MCP's stateless form, no session).
async fn resume(
    client: &PassportClient,
    url: &str,
    session: Option<&str>,
    last_event_id: &str,
) -> reqwest::Response {
    let mut request = client
        .http()
        .get(url)
        .header("accept", "text/event-stream")
        .header("last-event-id", last_event_id);
    request = match session {
        Some(session) => request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25"),
        // rmcp's stateless replay: a protocol version without sessions
        None => request.header("mcp-protocol-version", "2026-07-28"),
    };
    client.send(request).await.unwrap()
}

#[tokio::test]
async fn an_event_stream_resumes_only_for_the_agent_it_was_sent_to() {
    // With an event store, rmcp replays a stream by its event id alone, in
    // any session or none (MCP's stateless form). This store counts its
    // ids from 0, as a simple one would: "0" is also the id of the priming
    // event rmcp puts in every answer to `initialize`, which, tagged for
    // each agent, replayed another agent's stream (session 12's review,
    // H1).
    let options = Options {
        event_store: true,
        ..Options::default()
    };
    let server = start_with(Stack::Full, false, options).await;
    let a = Session::open(&server, client(&server, &["files:read"], false)).await;
    let (b, b_opened) = Session::open_answered(
        &server,
        client_of(&server, "agent-b", &["files:read"], false),
    )
    .await;
    let response = a.call("read_file", json!({"path": "secret"})).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    const SECRET: &str = "secret read by agent-a";
    assert!(text.contains(SECRET), "{text}");
    // the ids agent-a was sent are the store's ids, each with agent-a's tag
    let sent = event_ids(&text);
    assert!(!sent.is_empty(), "{text}");
    let stored: Vec<String> = server
        .events
        .stored
        .lock()
        .unwrap()
        .iter()
        .map(|(_, id, _)| id.clone())
        .collect();
    assert_eq!(stored[0], "0");
    for id in &sent {
        let (raw, tag) = id.rsplit_once('.').unwrap();
        assert!(stored.iter().any(|s| s == raw), "{raw} not in {stored:?}");
        assert_eq!(tag.len(), 22);
    }
    let first = &sent[0];
    let (first_raw, _) = first.rsplit_once('.').unwrap();
    // agent-a itself, without the tag; and two Last-Event-ID headers
    let response = resume(&a.client, &server.url, Some(&a.id), first_raw).await;
    assert_eq!(response.status(), 404);
    let twice = [
        ("last-event-id", first.as_str()),
        ("last-event-id", first.as_str()),
    ];
    assert_eq!(a.listen(&twice).await.status(), 400);
    assert!(server.events.replays.lock().unwrap().is_empty());
    // agent-b's answer to initialize carries rmcp's "0", untagged
    let b_initialize_ids = event_ids(&b_opened);
    assert!(
        b_initialize_ids.iter().all(|id| !id.contains('.')),
        "{b_opened}"
    );
    // agent-b, in its own session or in none, with agent-a's ids tagged
    // or bare, and with the ids of its own answer to initialize: refused
    // before rmcp replays anything
    let mut foreign = vec![first.clone(), first_raw.to_owned()];
    foreign.extend(b_initialize_ids);
    for session in [Some(b.id.as_str()), None] {
        for id in &foreign {
            let response = resume(&b.client, &server.url, session, id).await;
            assert_eq!(response.status(), 404, "{session:?} {id}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error_description"], "mcp_event_unknown");
        }
    }
    let refused = server.audit.take().pop().unwrap();
    assert_eq!(refused.error.as_deref(), Some("mcp_event_unknown"));
    assert_eq!(refused.links.last().unwrap().agent_id, "agent-b");
    assert!(server.events.replays.lock().unwrap().is_empty());
    // agent-b's own stream resumes, with what follows in it only
    let own = event_ids(&b.call("whoami", json!({})).await.text().await.unwrap());
    assert!(!own.is_empty());
    for session in [Some(b.id.as_str()), None] {
        for id in &own {
            let response = resume(&b.client, &server.url, session, id).await;
            assert_eq!(response.status(), 200, "{session:?} {id}");
            let replayed = response.text().await.unwrap();
            assert!(!replayed.contains(SECRET), "{replayed}");
        }
    }
    // agent-a, with the id as it was sent: rmcp replays from the bare id,
    // and the replayed events' ids are tagged for agent-a too
    server.events.replays.lock().unwrap().clear();
    let response = resume(&a.client, &server.url, Some(&a.id), first).await;
    assert_eq!(response.status(), 200);
    let replayed = response.text().await.unwrap();
    assert_eq!(
        *server.events.replays.lock().unwrap(),
        [first_raw.to_owned()]
    );
    assert_eq!(event_ids(&replayed), sent[1..], "{replayed}");
    assert!(replayed.contains(SECRET), "{replayed}");
}
