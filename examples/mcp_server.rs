//! A real MCP server (the official Rust SDK, `rmcp`, over streamable HTTP)
//! protected by passport-axum and passport-rmcp: every request needs a
//! passport bound to the agent's key with a DPoP proof, and each tool needs
//! the scope it declares on itself.
//!
//! Run: `cargo run -p passport-examples --example mcp_server`
//! (add `-- --serve` to keep it running after the self-check; Ctrl-C stops it).
//!
//! With `-- --trust ISSUER_URL` it instead trusts a running token service
//! (`passport serve`) by its URL, prints `MCP_URL=<endpoint>` as its first
//! line and serves until Ctrl-C: the setup of the official MCP Python SDK
//! test (`scripts/mcp-sdk.sh`).
//!
//! The server itself is `passport_examples::mcp::start_mcp_server` (in
//! `examples/mcp/server.rs`): read it alongside this file.

use passport_agent::PassportClient;
use passport_claims::{AgentId, AgentModel, Audience, ScopeSet};
use passport_dpop::DpopKey;
use passport_examples::mcp::{
    McpReply, McpSession, start_mcp_server, start_mcp_server_trusting, tool_scopes,
};
use passport_examples::{BoxError, local_issuer, login_without_browser, section, start_provider};
use passport_issuer::IssuanceRequest;
use passport_jose::Algorithm;
use passport_rmcp::ToolAccess;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--trust") {
        let issuer = args
            .get(at + 1)
            .ok_or("--trust needs the token service's URL")?;
        let server = start_mcp_server_trusting(issuer).await?;
        println!("MCP_URL={}", server.url);
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }
    let serve = args.iter().any(|a| a == "--serve");
    let mock = start_provider().await?;
    let (issuer, keys) = local_issuer()?;

    section(
        "1. The MCP server: rmcp's streamable HTTP service under /mcp, behind passport-axum and passport-rmcp",
    );
    // The server trusts the local issuer's keys; passports must name its
    // URL as their audience.
    let server = start_mcp_server(keys).await?;
    println!("   MCP endpoint:      {}", server.url);
    println!("   resource metadata: {}", server.metadata_url);
    // Each tool declares its scope in its own #[tool] attribute
    // (`meta = passport_rmcp::scope("files:read")`); passport-rmcp reads the
    // declarations once, and refuses to start if a tool has none.
    for (tool, access) in tool_scopes()?.tools() {
        match access {
            ToolAccess::Scope(scope) => println!("   tool {tool:<11} requires {scope}"),
            _ => println!("   tool {tool:<11} is open to any valid passport"),
        }
    }

    section("2. The metadata document is public (RFC 9728): how an agent learns what to present");
    let metadata: serde_json::Value = reqwest::get(&server.metadata_url).await?.json().await?;
    println!(
        "   resource:                          {}",
        metadata["resource"]
    );
    println!(
        "   authorization_servers:             {}",
        metadata["authorization_servers"]
    );
    println!(
        "   scopes_supported:                  {}",
        metadata["scopes_supported"]
    );
    println!(
        "   dpop_bound_access_tokens_required: {}",
        metadata["dpop_bound_access_tokens_required"]
    );

    section("3. Without a passport: 401 and a challenge naming the metadata");
    let anonymous = reqwest::Client::new()
        .post(&server.url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await?;
    println!("   HTTP {}", anonymous.status());
    for challenge in anonymous.headers().get_all("www-authenticate") {
        println!("   WWW-Authenticate: {}", challenge.to_str()?);
    }

    section("4. Self-check: a passport bound to a fresh DPoP key, one tool call");
    let identity = login_without_browser(&mock).await?;
    let key = DpopKey::generate(Algorithm::ES256)?;
    let passport = issuer.issue(
        IssuanceRequest::new(
            identity,
            Audience::new(&server.url)?,
            AgentId::new("self-check")?,
            AgentModel::new("model-x")?,
            ScopeSet::parse(["files:read"])?,
        )
        .holder_jkt(key.jkt()),
    )?;
    // PassportClient sends `Authorization: DPoP <bundle>` and a fresh proof
    // by `key` for each request.
    let (mut mcp, server_info) = McpSession::connect(
        PassportClient::new(passport.bundle(), Some(key)),
        &server.url,
    )
    .await?;
    println!(
        "   initialize → {} {}, Mcp-Session-Id {}",
        server_info["name"].as_str().unwrap_or("?"),
        server_info["version"].as_str().unwrap_or("?"),
        mcp.session_id().unwrap_or("(none)")
    );
    println!("   tools/list → {}", mcp.list_tools().await?.join(", "));
    let reply = mcp
        .call_tool("read_file", json!({"path": "notes/q3.txt"}))
        .await?;
    let text = reply
        .tool_text()
        .ok_or_else(|| format!("read_file failed: {reply:?}"))?;
    println!("   tools/call read_file → {text}");

    section("5. Beyond the passport's scope: 403 before the tool runs (MCP step-up)");
    // The passport holds files:read; write_file declares files:write.
    // passport-rmcp refuses the call at the HTTP level, naming the scope to
    // ask for, with the same challenge passport-axum gives a route.
    let refused = mcp
        .call_tool(
            "write_file",
            json!({"path": "notes/q4.txt", "content": "-"}),
        )
        .await?;
    match &refused {
        McpReply::Refused {
            status, challenge, ..
        } => {
            println!("   tools/call write_file → HTTP {status}");
            println!("   WWW-Authenticate: {challenge}");
        }
        McpReply::Response(_) => {
            return Err(format!("write_file was not refused: {refused:?}").into());
        }
    }

    if serve {
        section("Serving (Ctrl-C to stop)");
        println!(
            "   Agents need a passport from this process's issuer: see the mcp_agent example."
        );
        std::future::pending::<()>().await;
    }

    println!("\nDone.");
    Ok(())
}
