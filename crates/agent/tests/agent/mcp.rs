//! An rmcp client over `McpHttpClient`, against an rmcp server behind
//! passport-axum.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use passport_agent::PassportClient;
use passport_axum::Passport;
use passport_testkit::bounded;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, ServerCapabilities, ServerConfig,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    InsufficientScopeError, StreamableHttpClientTransportConfig,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};

use crate::common::{Server, key};

#[derive(Clone)]
struct Reports {
    tool_router: ToolRouter<Reports>,
}

#[tool_router]
impl Reports {
    fn new() -> Reports {
        Reports {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Read the Q3 report (files:read)")]
    fn read_report(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text("Q3: revenue up 12%")])
    }

    #[tool(description = "Rewrite the Q3 report (files:write)")]
    fn write_report(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text("rewritten")])
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Reports {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// `tools/call write_report` needs `files:write`: 403 `insufficient_scope`
/// from passport-axum's own refusal otherwise.
async fn scope_check(passport: Passport, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let message: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if message["method"] == "tools/call"
        && message["params"]["name"] == "write_report"
        && let Err(refusal) = passport.require_scope("files:write")
    {
        return refusal.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The files server with an MCP endpoint at `/mcp`.
async fn mcp_server(nonces: bool) -> Server {
    Server::start_with(nonces, |_, routes| {
        let mcp = StreamableHttpService::new(
            || Ok(Reports::new()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        routes.merge(
            Router::new()
                .nest_service("/mcp", mcp)
                .layer(from_fn(scope_check)),
        )
    })
    .await
}

fn transport(
    client: &PassportClient,
    server: &Server,
) -> StreamableHttpClientTransport<passport_agent::McpHttpClient> {
    StreamableHttpClientTransport::with_client(
        client.mcp(),
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rmcp_client_lists_and_calls_tools_through_the_passport() {
    bounded(async {
        // With server nonces: the first message is challenged and retried.
        let server = mcp_server(true).await;
        let key = key();
        let passport = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::new(passport.bundle(), Some(key));
        let mcp = ().serve(transport(&client, &server)).await.unwrap();
        let tools: HashSet<String> = mcp
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(
            tools,
            HashSet::from(["read_report".to_owned(), "write_report".to_owned()])
        );
        let result = mcp
            .call_tool(CallToolRequestParams::new("read_report"))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false));
        let text = serde_json::to_value(&result.content).unwrap();
        assert_eq!(text[0]["text"], "Q3: revenue up 12%", "{text}");
        mcp.cancel().await.unwrap();

        // Every message carried the passport and its own proof.
        let seen = server.recorder.seen();
        assert!(seen.len() >= 4, "{seen:?}");
        let mut jtis = HashSet::new();
        for s in &seen {
            assert_eq!(
                s.authorization.as_deref(),
                Some(format!("DPoP {}", passport.bundle()).as_str())
            );
            assert!(
                jtis.insert(s.proof_claims()["jti"].to_string()),
                "a proof was resent"
            );
        }
        assert!(seen[0].proof_claims().get("nonce").is_none());
        assert!(
            seen[1].proof_claims()["nonce"].is_string(),
            "retried with the nonce"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_beyond_the_passport_is_a_403_insufficient_scope_error() {
    bounded(async {
        let server = mcp_server(false).await;
        let key = key();
        let passport = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::new(passport.bundle(), Some(key));
        let mcp = ().serve(transport(&client, &server)).await.unwrap();
        let err = mcp
            .call_tool(CallToolRequestParams::new("write_report"))
            .await
            .unwrap_err();
        // rmcp's typed 403: the challenge and the scope to ask for.
        let challenge = err.auth_challenge().expect("the 403 challenge").to_owned();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let mut insufficient = None;
        while let Some(current) = source {
            if let Some(found) = current.downcast_ref::<InsufficientScopeError>() {
                insufficient = Some(found);
            }
            source = current.source();
        }
        let insufficient = insufficient.expect("an InsufficientScopeError in the chain");
        assert_eq!(insufficient.get_required_scope(), Some("files:write"));
        assert!(!err.is_authorization_required() || challenge.contains("insufficient_scope"));

        // The session goes on: a tool within the scope still answers.
        let result = mcp
            .call_tool(CallToolRequestParams::new("read_report"))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false));
        mcp.cancel().await.unwrap();
    })
    .await;
}

/// Review finding 2: a hostile server's SSE body of many short lines must
/// cost time linear in its size. The parser drained each line from the
/// front of its buffer, moving the rest every time: a chunk of n blank
/// lines cost O(n²) (4 MiB of `\n` took minutes of CPU).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_body_of_many_short_lines_is_parsed_in_linear_time() {
    use futures_util::StreamExt as _;
    use rmcp::transport::streamable_http_client::StreamableHttpClient as _;

    bounded(async {
        const BYTES: usize = 4 * 1024 * 1024;
        let server = Server::start_with(false, |_, router| {
            router.route(
                "/events",
                axum::routing::get(|| async {
                    let mut body = vec![b'\n'; BYTES];
                    body.extend_from_slice(b"data: end\n\n");
                    ([("content-type", "text/event-stream")], body)
                }),
            )
        })
        .await;
        let key = key();
        let passport = server.passport(&["files:read"], Some(&key));
        let client = PassportClient::new(passport.bundle(), Some(key));
        let started = std::time::Instant::now();
        let events = client
            .mcp()
            .get_stream(
                server.url("/events").into(),
                None,
                None,
                None,
                std::collections::HashMap::new(),
            )
            .await
            .unwrap();
        let events: Vec<_> = events.collect().await;
        let elapsed = started.elapsed();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap().data.as_deref(), Some("end"));
        assert!(
            elapsed < std::time::Duration::from_secs(3),
            "4 MiB of blank lines took {elapsed:?}"
        );
    })
    .await;
}
