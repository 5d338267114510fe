//! An MCP-style tool dispatcher: one verifier per server (sharing the
//! ancestor cache), and a scope required per tool. It refuses an over-broad
//! passport and one addressed to another server.
//!
//! Run: `cargo run -p passport-examples --example mcp_middleware`

use std::collections::BTreeMap;

use passport_claims::{AgentId, AgentModel, Audience, ScopeSet};
use passport_examples::{
    BoxError, ISSUER, local_issuer, login_without_browser, section, start_provider,
};
use passport_issuer::{DelegationRequest, IssuanceRequest};
use passport_verifier::{VerificationPolicy, Verifier};

/// A tool server: which scope each tool needs, and the verifier it shares.
struct Server {
    verifier: Verifier,
    tools: BTreeMap<&'static str, &'static str>,
}

impl Server {
    /// Verifies the bundle once (audience, chain, issuer, time), then checks
    /// the tool's own scope.
    fn call(&self, tool: &str, bundle: &str) -> Result<String, String> {
        let required = self
            .tools
            .get(tool)
            .ok_or_else(|| format!("no tool {tool}"))?;
        let verified = self
            .verifier
            .verify_str(bundle)
            .map_err(|e| format!("{}: {e}", e.code()))?;
        verified
            .require_scope(required)
            .map_err(|e| format!("{}: {e}", e.code()))?;
        Ok(format!(
            "{tool} ran for {} on behalf of {}",
            verified.agent_id(),
            verified.principal()
        ))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mock = start_provider().await?;
    let identity = login_without_browser(&mock).await?;
    let (issuer, keys) = local_issuer()?;

    section("1. The files MCP server: a verifier and a scope per tool");
    // Wildcards are refused by default: a passport with a bare `*` would be
    // turned away before any tool runs.
    let server = Server {
        verifier: Verifier::with_key_store(
            VerificationPolicy::new(ISSUER, "https://mcp.files.example"),
            keys.clone(),
        )?,
        tools: BTreeMap::from([
            ("read_file", "files:read"),
            ("write_file", "files:write"),
            ("delete_file", "files:delete"),
        ]),
    };
    for (tool, scope) in &server.tools {
        println!("   {tool:<12} requires {scope}");
    }

    section("2. The agent's passport: read and write");
    let root = issuer.issue(IssuanceRequest::new(
        identity.clone(),
        Audience::new("https://mcp.files.example")?,
        AgentId::new("editor-bot")?,
        AgentModel::new("model-x")?,
        ScopeSet::parse(["files:read", "files:write"])?,
    ))?;
    for tool in ["read_file", "write_file", "delete_file"] {
        match server.call(tool, root.bundle()) {
            Ok(msg) => println!("   {tool:<12} OK   {msg}"),
            Err(e) => println!("   {tool:<12} DENY {e}"),
        }
    }

    section("3. An over-broad passport (`*`) is refused outright");
    let greedy = issuer.issue(IssuanceRequest::new(
        identity.clone(),
        Audience::new("https://mcp.files.example")?,
        AgentId::new("greedy-bot")?,
        AgentModel::new("model-x")?,
        ScopeSet::parse(["*"])?,
    ))?;
    match server.call("read_file", greedy.bundle()) {
        Err(e) => println!("   DENY {e}"),
        Ok(_) => return Err("a wildcard passport was accepted".into()),
    }

    section("4. A passport for another server is refused");
    let elsewhere = issuer.issue(IssuanceRequest::new(
        identity,
        Audience::new("https://mcp.mail.example")?,
        AgentId::new("editor-bot")?,
        AgentModel::new("model-x")?,
        ScopeSet::parse(["files:read"])?,
    ))?;
    match server.call("read_file", elsewhere.bundle()) {
        Err(e) => println!("   DENY {e}"),
        Ok(_) => return Err("a passport for another audience was accepted".into()),
    }

    section(
        "5. A sub-agent's delegated passport: the chain is verified once per call, ancestors from cache",
    );
    let hop = Verifier::with_key_store(
        VerificationPolicy::new(ISSUER, "https://mcp.files.example"),
        keys,
    )?;
    let parent = hop.verify_str(root.bundle())?;
    let child = issuer.delegate(DelegationRequest::new(
        &parent,
        Audience::new("https://mcp.files.example")?,
        AgentId::new("summariser")?,
        AgentModel::new("small-model")?,
        ScopeSet::parse(["files:read"])?,
    ))?;
    for _ in 0..3 {
        println!(
            "   {}",
            server
                .call("read_file", child.bundle())
                .map_err(BoxError::from)?
        );
    }
    println!(
        "   signature cache: {} tokens (each ancestor seen above, and each leaf seen twice)",
        server.verifier.cached_tokens()
    );
    match server.call("write_file", child.bundle()) {
        Err(e) => println!("   write_file DENY {e}"),
        Ok(_) => return Err("a read-only child wrote".into()),
    }

    println!("\nDone.");
    Ok(())
}
