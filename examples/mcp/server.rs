//! The example MCP server: three tools, each declaring the scope it needs,
//! served by `rmcp` over streamable HTTP under `/mcp`, behind passport-axum
//! and passport-rmcp.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use passport_axum::{PassportAuth, PassportAuthBuilder};
use passport_claims::SystemClock;
use passport_dpop::{DpopPolicy, DpopVerifier};
use passport_rmcp::{AgentPassport, ToolScopeError, ToolScopes};
use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

use crate::{BoxError, ISSUER};

/// Every tool of the server and the scope it declares (in its `#[tool]`
/// attribute, below): read once at startup, refused if a tool declares
/// nothing.
pub fn tool_scopes() -> Result<ToolScopes, ToolScopeError> {
    ToolScopes::from_router(&FilesAndMail::tool_router())
}

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
/// 2. passport-rmcp's tool scope check: for `tools/call`, the scope the
///    tool declares (403 `insufficient_scope` with `scope="…"` otherwise),
///    before rmcp reads the call;
/// 3. rmcp's streamable HTTP service, whose tools take the caller's
///    passport ([`AgentPassport`]), which checks the declared scope once more.
pub async fn start_mcp_server(keys: Arc<InMemoryKeyStore>) -> Result<McpServer, BoxError> {
    let (listener, base, url) = bind().await?;
    // The audience of the passports this server accepts is its own URL.
    let verifier = Verifier::with_key_store(VerificationPolicy::new(ISSUER, &url), keys)?;
    let auth = PassportAuth::builder(Arc::new(verifier))
        .dpop(DpopVerifier::new(
            DpopPolicy::default(),
            Arc::new(SystemClock),
        ))
        .require_proof_of_possession(true);
    let auth = describe(auth, &base, &url, &tool_scopes()?).build()?;
    serve(listener, url, auth)
}

/// Starts the same MCP server trusting a token service by its URL
/// (`passport serve`): its keys and status lists are fetched and kept
/// fresh, and its RFC 9728 metadata names `issuer` as the authorization
/// server, so a standard MCP client finds where to get a passport. Bearer
/// passports are accepted (an MCP client such as the official Python SDK
/// has no DPoP); DPoP-bound ones still need their proof.
///
/// A request without a passport is answered 401 with `scope="files:read"`
/// in its challenge: the scope an MCP client asks for first (the MCP
/// authorization specification's scope selection); each other tool's scope
/// is asked for when the tool answers 403 `insufficient_scope`.
pub async fn start_mcp_server_trusting(issuer: &str) -> Result<McpServer, BoxError> {
    let (listener, base, url) = bind().await?;
    let scopes = tool_scopes()?;
    let (base_for, url_for) = (base.clone(), url.clone());
    let auth = PassportAuth::trusting(issuer)
        .resource(&url)
        .configure(move |auth| {
            describe(auth, &base_for, &url_for, &scopes).challenge_scope(FIRST_SCOPE)
        })
        .build()
        .await?;
    serve(listener, url, auth)
}

/// The scope a client without a passport is told to ask for first.
const FIRST_SCOPE: &str = "files:read";

/// What the RFC 9728 metadata says of this server.
fn describe(
    auth: PassportAuthBuilder,
    base: &str,
    url: &str,
    scopes: &ToolScopes,
) -> PassportAuthBuilder {
    auth.resource(url)
        .public_base_url(base)
        .resource_name("Files and mail (example MCP server)")
        .scopes_supported(scopes.scopes())
}

/// Serves the tools under `/mcp` behind `auth` and the scope check.
fn serve(
    listener: tokio::net::TcpListener,
    url: String,
    auth: PassportAuth,
) -> Result<McpServer, BoxError> {
    let scopes = tool_scopes()?;
    let metadata_url = auth.metadata_url().to_owned();

    // One in-memory "disk" shared by every MCP session.
    let disk = Arc::new(Mutex::new(BTreeMap::from([(
        "notes/q3.txt".to_owned(),
        "Q3: revenue up 12%, churn down 2 points.".to_owned(),
    )])));
    // A session per `initialize` (`Mcp-Session-Id`); each gets its own
    // handler value, sharing the disk.
    let sessions = Arc::new(LocalSessionManager::default());
    let mcp = StreamableHttpService::new(
        move || Ok(FilesAndMail::new(disk.clone())),
        sessions.clone(),
        StreamableHttpServerConfig::default(),
    );
    // The tool scope layer binds each session to the agent that opened it;
    // a session it forgets to make room is closed in rmcp too.
    let tool_layer = scopes.layer().close_forgotten(sessions);

    let app = Router::new()
        .nest_service("/mcp", tool_layer.service(mcp))
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

async fn bind() -> Result<(tokio::net::TcpListener, String, String), BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let url = format!("{base}/mcp");
    Ok((listener, base, url))
}

/// The MCP server's tools (an rmcp handler).
///
/// Each tool states its scope in its attribute (`meta =
/// passport_rmcp::scope(…)`): the one declaration the HTTP check and the
/// tool's [`AgentPassport`] parameter both read. Taking the passport checks
/// the scope once more inside rmcp, which keeps a tool safe on its own
/// (mounted without the HTTP check, it refuses).
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

    #[tool(description = "Read a file", meta = passport_rmcp::scope("files:read"))]
    fn read_file(
        &self,
        passport: AgentPassport,
        Parameters(args): Parameters<ReadFile>,
    ) -> CallToolResult {
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

    #[tool(description = "Write a file", meta = passport_rmcp::scope("files:write"))]
    fn write_file(
        &self,
        _passport: AgentPassport,
        Parameters(args): Parameters<WriteFile>,
    ) -> CallToolResult {
        let len = args.content.len();
        self.disk().insert(args.path.clone(), args.content);
        text_result(format!("wrote {len} bytes to {}", args.path))
    }

    #[tool(description = "Send an e-mail", meta = passport_rmcp::scope("mail:send"))]
    fn send_mail(
        &self,
        _passport: AgentPassport,
        Parameters(args): Parameters<SendMail>,
    ) -> CallToolResult {
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

fn text_result(text: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A tool error (`isError: true`): the model sees why the call failed.
fn tool_error(why: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(why)])
}
