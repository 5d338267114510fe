//! An agent and its sub-agent calling the tools of a real MCP server (the
//! `mcp_server` example's, started here on 127.0.0.1): the agent gets a
//! passport bound to its own DPoP key, delegates a read-only one to a
//! sub-agent bound to the sub-agent's key, and the sub-agent calls the
//! tools. One success, one `insufficient_scope` refusal, one replayed proof.
//!
//! Run: `cargo run -p passport-examples --example mcp_agent`

use passport_axum::PassportClient;
use passport_claims::{AgentId, AgentModel, Audience, Clock, ScopeSet, SystemClock};
use passport_dpop::DpopKey;
use passport_examples::mcp::{McpReply, McpSession, read_reply, start_mcp_server};
use passport_examples::{
    BoxError, ISSUER, local_issuer, login_without_browser, section, start_provider,
};
use passport_issuer::{DelegationRequest, IssuanceRequest};
use passport_jose::{Algorithm, SigningKey};
use passport_verifier::{Verification, VerificationPolicy, Verifier};
use serde_json::json;

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

    section("3. The sub-agent speaks MCP: initialize, then tools/call read_file → OK");
    // Every request carries `Authorization: DPoP <bundle>` and a fresh proof
    // signed by the sub-agent's key.
    let client = PassportClient::new(sub.bundle(), Some(sub_key));
    let (mut mcp, server_info) = McpSession::connect(client, &server.url).await?;
    println!(
        "   initialize → {}, Mcp-Session-Id {}",
        server_info["name"].as_str().unwrap_or("?"),
        mcp.session_id().unwrap_or("(none)")
    );
    let reply = mcp
        .call_tool("read_file", json!({"path": "notes/q3.txt"}))
        .await?;
    let text = reply
        .tool_text()
        .ok_or_else(|| format!("read_file failed: {reply:?}"))?;
    println!("   read_file → {text}");

    section("4. tools/call write_file: beyond the sub-agent's passport → 403 insufficient_scope");
    let reply = mcp
        .call_tool(
            "write_file",
            json!({"path": "notes/q3.txt", "content": "rewritten"}),
        )
        .await?;
    let McpReply::Refused {
        status, challenge, ..
    } = &reply
    else {
        return Err(format!("write_file was not refused: {reply:?}").into());
    };
    println!("   HTTP {status}");
    println!("   WWW-Authenticate: {challenge}");
    println!(
        "   → refused with `{}`: the tool needs scope `{}` (the agent could ask its parent for it)",
        reply.challenge_param("error").unwrap_or_default(),
        reply.challenge_param("scope").unwrap_or_default()
    );

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
    let (id, request) = mcp.request(
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
