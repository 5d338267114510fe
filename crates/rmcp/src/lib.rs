//! # passport-rmcp
//!
//! Agent Passports for MCP servers built with [rmcp](https://docs.rs/rmcp),
//! the official Rust MCP SDK, served over streamable HTTP behind
//! passport-axum:
//!
//! - **a tool declares its scope on itself**, in its `#[tool]` attribute:
//!   `meta = passport_rmcp::scope("files:read")` (or
//!   [`public()`] for a tool any valid passport may call). The
//!   declaration is the tool's `_meta` (`"agentpassport/scope"`), so
//!   clients see it in `tools/list` too;
//! - [`ToolScopes::from_router`] reads every tool's declaration at startup
//!   and refuses a tool that declares nothing: no tool is open by default;
//! - [`ToolScopes::layer`], in front of rmcp's `StreamableHttpService` and
//!   inside passport-axum's layer, answers a `tools/call` beyond the
//!   passport's scope with **403** `insufficient_scope` naming the scope
//!   (MCP authorization's step-up challenge, the same bytes as
//!   passport-axum's) **before rmcp reads it**;
//! - a tool takes the caller's passport as a parameter, [`AgentPassport`],
//!   which checks the declared scope once more inside rmcp.
//!
//! ```
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use passport_axum::PassportAuth;
//! use passport_rmcp::{AgentPassport, ToolScopes};
//! use passport_verifier::{InMemoryKeyStore, VerificationPolicy, Verifier};
//! use rmcp::handler::server::router::tool::ToolRouter;
//! use rmcp::handler::server::wrapper::Parameters;
//! use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
//! use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
//! use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct ReadFile {
//!     path: String,
//! }
//!
//! #[derive(Clone)]
//! struct Files {
//!     tool_router: ToolRouter<Files>,
//! }
//!
//! #[tool_router]
//! impl Files {
//!     // The scope is written on the tool; the HTTP check and the tool's
//!     // `AgentPassport` both read it from here.
//!     #[tool(description = "Read a file", meta = passport_rmcp::scope("files:read"))]
//!     fn read_file(&self, passport: AgentPassport, Parameters(args): Parameters<ReadFile>) -> String {
//!         format!("{} read by {}", args.path, passport.agent_id())
//!     }
//!
//!     #[tool(description = "Say who you are", meta = passport_rmcp::public())]
//!     fn whoami(&self, passport: AgentPassport) -> String {
//!         passport.principal().to_string()
//!     }
//! }
//!
//! #[tool_handler(router = self.tool_router)]
//! impl ServerHandler for Files {}
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let resource = "https://files.example/mcp";
//! let verifier = Verifier::new(
//!     VerificationPolicy::new("https://issuer.example", resource),
//!     InMemoryKeyStore::new(),
//! )?;
//! // Every tool's declaration, read once: a tool without one is an error here.
//! let scopes = ToolScopes::from_router(&Files::tool_router())?;
//! assert_eq!(scopes.scopes(), ["files:read"]);
//!
//! let auth = PassportAuth::builder(Arc::new(verifier))
//!     .resource(resource)
//!     .scopes_supported(scopes.scopes())
//!     .build()?;
//! let sessions = Arc::new(LocalSessionManager::default());
//! let mcp = StreamableHttpService::new(
//!     || Ok(Files { tool_router: Files::tool_router() }),
//!     sessions.clone(),
//!     StreamableHttpServerConfig::default(),
//! );
//! // Each MCP session belongs to the agent that opened it; one the layer
//! // forgets to make room is closed in rmcp too.
//! let tool_layer = scopes.layer().close_forgotten(sessions);
//! let app: Router = Router::new()
//!     // Outermost first: the passport layer, then the tool scope check, then rmcp.
//!     .nest_service("/mcp", tool_layer.service(mcp))
//!     .layer(auth.layer())
//!     .merge(auth.metadata_router());
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! [`ToolScopeLayer`] is a [`tower_layer::Layer`] too, for a
//! `tower::ServiceBuilder`.
//!
//! ## What is refused, and where
//!
//! | request | answer |
//! |---|---|
//! | no valid passport | passport-axum's 401 (before this crate) |
//! | no passport layer in front | 500 `passport_layer_missing` |
//! | `tools/call` of a tool whose scope the passport lacks (alone or in a batch) | 403, `WWW-Authenticate: … error="insufficient_scope", scope="<scope>", resource_metadata="…"`; the tool never runs |
//! | body over the bound (4 MiB, rmcp's default) | 413 `request_too_large` |
//! | body not JSON, a member twice in an object, a `tools/call` without a name | 400 `malformed_jsonrpc` |
//! | `tools/call` of a tool not in the [`ToolScopes`] table (alone or in a batch), served by the handler or not | 400 `tool_scope_undeclared`; nothing reaches rmcp |
//! | an `Mcp-Session-Id` of a session another agent opened, or one the layer no longer remembers (any method: post, event stream, `DELETE`) | 404 `mcp_session_unknown`, as rmcp answers an unknown session |
//! | a `Last-Event-ID` the layer did not send to the same agent (another agent's, untagged, made up) | 404 `mcp_event_unknown`; rmcp replays nothing |
//! | an acceptance the verifier's audit sink cannot record | 503 `audit_failed`; nothing reaches rmcp |
//! | `tools/list`, `initialize`, … | passed on: any valid passport |
//!
//! See the workspace's `docs/design.md` ("rmcp") for why the scope is
//! checked both over HTTP and in the tool.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod declare;
mod error;
mod events;
mod extract;
mod layer;
mod sessions;

pub use declare::{PUBLIC_META_KEY, SCOPE_META_KEY, ToolAccess, ToolScopes, public, scope};
pub use error::ToolScopeError;
pub use extract::{AgentPassport, insufficient_scope};
pub use layer::{DEFAULT_MAX_BODY, ToolScopeFuture, ToolScopeLayer, ToolScopeService};
pub use sessions::{
    DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_PRINCIPAL, MAX_SESSIONS_PER_AGENT,
};
