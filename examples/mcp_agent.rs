//! An agent and its sub-agent calling the tools of a real MCP server (the
//! `mcp_server` example's, started here on 127.0.0.1): the agent gets a
//! passport bound to its own DPoP key, delegates a read-only one to a
//! sub-agent bound to the sub-agent's key, and the sub-agent calls the
//! tools. One success, one `insufficient_scope` refusal, one replayed proof.
//!
//! Run: `cargo run -p passport-examples --example mcp_agent`

use passport_agent::PassportClient;
use passport_claims::{AgentId, AgentModel, Audience, Clock, ScopeSet, SystemClock};
use passport_dpop::DpopKey;
use passport_examples::mcp::{McpReply, McpSession, challenge_param, read_reply, start_mcp_server};
use passport_examples::{
    BoxError, ISSUER, local_issuer, login_without_browser, section, start_provider,
};
use passport_issuer::{DelegationRequest, IssuanceRequest};
use passport_jose::{Algorithm, SigningKey};
use passport_verifier::{Verification, VerificationPolicy, Verifier};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mock = start_provider().await?;
    let (issuer, keys) = local_issuer()?;
    let server = start_mcp_server(keys.clone()).await?;
    println!("MCP server at {}", server.url);

    section("1. The agent logs in and gets a passport bound to its own DPoP key");
    let identity = login_without_browser(&mock).await?;
    let agent_key = DpopKey::generate(Algorithm::ES256)?;
    let agent = issuer.issue(
        IssuanceRequest::new(
            identity,
            Audience::new(&server.url)?,
            AgentId::new(
                // the audience: this MCP server
                "planner-bot",
            )?,
            AgentModel::new("planner-model")?,
            ScopeSet::parse(["files:read", "files:write", "mail:send"])?,
        )
        .holder_jkt(agent_key.jkt()),
    )?;
    println!(
        "   planner-bot: scope {:?}, bound to key {}",
        agent.claims().agent.tool_scope,
        agent_key.jkt()
    );

    section("2. It delegates read-only access to a sub-agent, bound to the sub-agent's key");
    // The sub-agent made its own key pair and sent only the thumbprint. It
    // keeps a copy of the key to sign one proof by hand in step 5.
    let sub_signing_key = SigningKey::generate(Algorithm::ES256)?;
    let sub_key = DpopKey::from_signing_key(sub_signing_key.try_clone()?)?;
    let verifier = Verifier::with_key_store(VerificationPolicy::new(ISSUER, &server.url), keys)?;
    // The agent's passport is bound to its key; holding that key here is the
    // proof of possession the delegation needs.
    let parent = match verifier.verify_str_pending_proof(agent.bundle())? {
        Verification::ProofRequired(pending) => pending.confirm(agent_key.jkt())?,
        Verification::Verified(bearer) => bearer,
        _ => return Err("unexpected verification outcome".into()),
    };
    let sub = issuer.delegate(
        DelegationRequest::new(
            &parent,
            Audience::new(&server.url)?,
            AgentId::new("summariser")?,
            AgentModel::new("small-model")?,
            ScopeSet::parse(["files:read"])?,
        )
        .holder_jkt(sub_key.jkt()),
    )?;
    println!(
        "   summariser: scope {:?}, bound to key {}; the bundle holds 2 passports",
        sub.claims().agent.tool_scope,
        sub_key.jkt()
    );

    section(
        "3. The sub-agent speaks MCP (rmcp's client): initialize, then tools/call read_file → OK",
    );
    // passport-agent's client: every request carries `Authorization: DPoP
    // <bundle>` and a fresh proof signed by the sub-agent's key. rmcp's
    // streamable HTTP client runs over it (`client.mcp()`).
    let client = PassportClient::new(sub.bundle(), Some(sub_key));
    let transport = StreamableHttpClientTransport::with_client(
        client.mcp(),
        StreamableHttpClientTransportConfig::with_uri(server.url.as_str()),
    );
    let mcp = ().serve(transport).await?;
    println!(
        "   initialize → {}",
        mcp.peer_info()
            .and_then(|info| info.server_info.as_ref().map(|s| s.name.clone()))
            .unwrap_or_default()
    );
    let result = mcp
        .call_tool(
            CallToolRequestParams::new("read_file")
                .with_arguments(arguments(json!({"path": "notes/q3.txt"}))?),
        )
        .await?;
    let text = result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .ok_or_else(|| format!("read_file failed: {result:?}"))?;
    println!("   read_file → {text}");

    section("4. tools/call write_file: beyond the sub-agent's passport → 403 insufficient_scope");
    let refused = mcp
        .call_tool(
            CallToolRequestParams::new("write_file").with_arguments(arguments(
                json!({"path": "notes/q3.txt", "content": "rewritten"}),
            )?),
        )
        .await;
    let Err(error) = refused else {
        return Err(format!("write_file was not refused: {refused:?}").into());
    };
    // rmcp's typed 403 (`InsufficientScope`), carrying the challenge.
    let challenge = error
        .auth_challenge()
        .ok_or_else(|| format!("not an HTTP refusal: {error}"))?;
    println!("   HTTP 403: rmcp's `InsufficientScope` error");
    println!("   WWW-Authenticate: {challenge}");
    println!(
        "   → refused with `{}`: the tool needs scope `{}` (the agent could ask its parent for it)",
        challenge_param(challenge, "error").unwrap_or_default(),
        challenge_param(challenge, "scope").unwrap_or_default()
    );
    mcp.cancel().await?;

    section("5. The same request sent twice with the same DPoP proof → the copy is refused");
    // PassportClient signs a fresh proof per request; here the sub-agent
    // signs one by hand, as a captured request would carry it.
    let proof_key = DpopKey::from_signing_key(sub_signing_key)?;
    let proof = proof_key.proof(
        "POST",
        &server.url,
        Some(sub.bundle()),
        None,
        SystemClock.now(),
    )?;
    // A session of the small hand-written client, to see the wire.
    let (mut session, _) = McpSession::connect(client.clone(), &server.url).await?;
    let (id, request) = session.request(
        "tools/call",
        json!({"name": "read_file", "arguments": {"path": "notes/q3.txt"}}),
    );
    let request = request
        .header("authorization", format!("DPoP {}", sub.bundle()))
        .header("dpop", proof)
        .build()?;
    let copy = request.try_clone().ok_or("the request cannot be cloned")?;
    let http = reqwest::Client::new();
    let first = read_reply(http.execute(request).await?, id).await?;
    if first.tool_text().is_none() {
        return Err(format!("the first request was refused: {first:?}").into());
    }
    println!("   first:  HTTP 200, read_file ran");
    let second = read_reply(http.execute(copy).await?, id).await?;
    let McpReply::Refused { status, .. } = &second else {
        return Err(format!("a replayed proof was accepted: {second:?}").into());
    };
    println!(
        "   second: HTTP {status}, refused with `{}` / `{}`",
        second.challenge_param("error").unwrap_or_default(),
        second
            .challenge_param("error_description")
            .unwrap_or_default()
    );

    println!("\nDone.");
    Ok(())
}

/// A tool call's arguments (a JSON object).
fn arguments(value: Value) -> Result<Map<String, Value>, BoxError> {
    Ok(serde_json::from_value(value)?)
}
