//! The example MCP server: three tools, each requiring a scope, served by
//! `rmcp` over streamable HTTP under `/mcp`, behind passport-axum.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use passport_axum::{Passport, PassportAuth};
use passport_claims::SystemClock;
use passport_dpop::{DpopPolicy, DpopVerifier};
use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

use crate::{BoxError, ISSUER};

/// Each tool and the scope a passport needs to call it: the one table both
/// checks (the HTTP middleware and the tool itself) read.
pub const TOOL_SCOPES: [(&str, &str); 3] = [
    ("read_file", "files:read"),
    ("write_file", "files:write"),
    ("send_mail", "mail:send"),
];

/// The scope `tool` requires; `None` for a tool not in [`TOOL_SCOPES`].
pub fn scope_for(tool: &str) -> Option<&'static str> {
    TOOL_SCOPES
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, scope)| *scope)
}

/// The largest request body the scope middleware reads (rmcp's own limit).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A running MCP server on 127.0.0.1; stopped when dropped.
#[derive(Debug)]
pub struct McpServer {
    /// The MCP endpoint, `http://127.0.0.1:<port>/mcp`: also the resource
    /// identifier, so the audience passports for this server carry.
    pub url: String,
    /// The RFC 9728 metadata document (public).
    pub metadata_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for McpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the MCP server on a free loopback port, trusting passports from
/// the example issuer whose public keys are in `keys`.
///
/// The stack, outermost first:
/// 1. passport-axum's layer: a valid passport for this server, bound to a
///    key and presented with a DPoP proof for this request (401 otherwise);
/// 2. [`tool_scope_check`]: for `tools/call`, the tool's scope (403
///    `insufficient_scope` with `scope="…"` otherwise);
/// 3. rmcp's streamable HTTP service, whose tools check the scope once more
///    from the passport in the HTTP request parts.
pub async fn start_mcp_server(keys: Arc<InMemoryKeyStore>) -> Result<McpServer, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let url = format!("{base}/mcp");

    // The audience of the passports this server accepts is its own URL.
    let verifier = Verifier::with_key_store(VerificationPolicy::new(ISSUER, &url), keys)?;
    let auth = PassportAuth::builder(Arc::new(verifier))
        .dpop(DpopVerifier::new(
            DpopPolicy::default(),
            Arc::new(SystemClock),
        ))
        .require_proof_of_possession(true)
        .resource(&url)
        .public_base_url(&base)
        .resource_name("Files and mail (example MCP server)")
        .scopes_supported(TOOL_SCOPES.map(|(_, scope)| scope))
        .build()?;
    let metadata_url = auth.metadata_url().to_owned();

    // One in-memory "disk" shared by every MCP session.
    let disk = Arc::new(Mutex::new(BTreeMap::from([(
        "notes/q3.txt".to_owned(),
        "Q3: revenue up 12%, churn down 2 points.".to_owned(),
    )])));
    // A session per `initialize` (`Mcp-Session-Id`); each gets its own
    // handler value, sharing the disk.
    let mcp = StreamableHttpService::new(
        move || Ok(FilesAndMail::new(disk.clone())),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );

    let app = Router::new()
        .nest_service("/mcp", mcp)
        .layer(from_fn(tool_scope_check))
        .layer(auth.layer())
        // After `.layer`: the metadata document is public.
        .merge(auth.metadata_router());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(McpServer {
        url,
        metadata_url,
        task,
    })
}

/// An axum middleware between the passport layer and the MCP service: for
/// a JSON-RPC `tools/call`, checks the passport covers the tool's scope
/// before rmcp dispatches it, and answers a refusal exactly like
/// passport-axum: 403, `WWW-Authenticate: DPoP …, error="insufficient_scope",
/// scope="<the tool's scope>"` (what MCP's authorization spec asks for, so
/// an agent knows which scope to ask for).
///
/// The body is read (up to rmcp's own limit) and handed on unchanged.
/// Requests it cannot parse go on to rmcp, which refuses them; tools not in
/// the table go on too (rmcp answers "tool not found"), and each tool also
/// checks its own scope (see [`FilesAndMail`]).
pub async fn tool_scope_check(passport: Passport, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    for tool in called_tools(&bytes) {
        if let Some(scope) = scope_for(&tool)
            && let Err(refusal) = passport.require_scope(scope)
        {
            return refusal.into_response();
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The tool names of the `tools/call` requests in a JSON-RPC body (one
/// message, or a batch).
fn called_tools(body: &[u8]) -> Vec<String> {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let messages = match json {
        serde_json::Value::Array(batch) => batch,
        message => vec![message],
    };
    messages
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .filter_map(|m| m["params"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// The MCP server's tools (an rmcp handler).
///
/// Each tool takes the HTTP request parts (rmcp puts them in the request
/// context), finds the [`Passport`] passport-axum left there, and checks
/// its scope again: the middleware already refused at the HTTP level, this
/// keeps a tool safe on its own (mounted without the middleware, or added
/// without a table entry: then it refuses).
#[derive(Clone)]
pub struct FilesAndMail {
    disk: Arc<Mutex<BTreeMap<String, String>>>,
    tool_router: ToolRouter<FilesAndMail>,
}

/// `read_file` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReadFile {
    /// The file's path.
    pub path: String,
}

/// `write_file` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WriteFile {
    /// The file's path.
    pub path: String,
    /// The new contents.
    pub content: String,
}

/// `send_mail` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SendMail {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
}

#[tool_router]
impl FilesAndMail {
    /// A handler over `disk`.
    pub fn new(disk: Arc<Mutex<BTreeMap<String, String>>>) -> FilesAndMail {
        FilesAndMail {
            disk,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Read a file (requires files:read)")]
    fn read_file(
        &self,
        Extension(http): Extension<Parts>,
        Parameters(args): Parameters<ReadFile>,
    ) -> CallToolResult {
        let passport = match authorize(&http, "read_file") {
            Ok(passport) => passport,
            Err(refusal) => return tool_error(refusal),
        };
        match self.disk().get(&args.path) {
            Some(text) => text_result(format!(
                "{}: {text} (read by {} for {})",
                args.path,
                passport.agent_id(),
                passport.principal()
            )),
            None => tool_error(format!("no such file: {}", args.path)),
        }
    }

    #[tool(description = "Write a file (requires files:write)")]
    fn write_file(
        &self,
        Extension(http): Extension<Parts>,
        Parameters(args): Parameters<WriteFile>,
    ) -> CallToolResult {
        if let Err(refusal) = authorize(&http, "write_file") {
            return tool_error(refusal);
        }
        let len = args.content.len();
        self.disk().insert(args.path.clone(), args.content);
        text_result(format!("wrote {len} bytes to {}", args.path))
    }

    #[tool(description = "Send an e-mail (requires mail:send)")]
    fn send_mail(
        &self,
        Extension(http): Extension<Parts>,
        Parameters(args): Parameters<SendMail>,
    ) -> CallToolResult {
        if let Err(refusal) = authorize(&http, "send_mail") {
            return tool_error(refusal);
        }
        text_result(format!("queued mail to {}: {}", args.to, args.subject))
    }
}

impl FilesAndMail {
    fn disk(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.disk.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FilesAndMail {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "files-and-mail",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("Every tool call needs an Agent Passport covering the tool's scope.")
    }
}

/// The passport of this HTTP request, if it covers `tool`'s scope; the
/// reason for a refusal otherwise, naming the missing scope (fail closed: no
/// passport, or a tool without a scope, is refused).
fn authorize(http: &Parts, tool: &str) -> Result<Passport, String> {
    let passport = http
        .extensions
        .get::<Passport>()
        .ok_or("no passport on this request")?;
    let scope = scope_for(tool).ok_or_else(|| format!("{tool} has no scope"))?;
    passport
        .require_scope(scope)
        .map_err(|_| format!("insufficient_scope: {tool} requires {scope}"))?;
    Ok(passport.clone())
}

fn text_result(text: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A tool error (`isError: true`): the model sees why the call failed.
fn tool_error(why: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(why)])
}
