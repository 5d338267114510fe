//! A delegation chain: alice's planner (alice-bot) delegates to bob, bob to
//! carol, each with a narrower scope; the file tool verifies the 3-link
//! bundle and prints the delegation tree.
//!
//! Run: `cargo run -p passport-examples --example multi_agent_chain`

use passport_claims::{AgentId, AgentModel, Audience, ScopeSet};
use passport_examples::{
    BoxError, ISSUER, local_issuer, login_without_browser, section, start_provider,
};
use passport_issuer::{DelegationRequest, IssuanceRequest};
use passport_verifier::{VerificationPolicy, Verifier};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mock = start_provider().await?;
    let identity = login_without_browser(&mock).await?;
    let (issuer, keys) = local_issuer()?;
    // Each agent verifies what it was handed before delegating from it; here
    // every hop happens to be addressed to the orchestrator.
    let hop = Verifier::with_key_store(
        VerificationPolicy::new(ISSUER, "https://orchestrator.example"),
        keys.clone(),
    )?;

    section("1. alice-bot gets the root passport: files and mail");
    let root = issuer.issue(IssuanceRequest::new(
        identity,
        Audience::new("https://orchestrator.example")?,
        AgentId::new("alice-bot")?,
        AgentModel::new("planner-model")?,
        ScopeSet::parse(["files:*", "mail:send"])?,
    ))?;
    println!("   scope {:?}", root.claims().agent.tool_scope);

    section("2. alice-bot delegates files only to bob");
    let parent = hop.verify_str(root.bundle())?;
    let bob = issuer.delegate(DelegationRequest::new(
        &parent,
        Audience::new("https://orchestrator.example")?,
        AgentId::new("bob")?,
        AgentModel::new("research-model")?,
        ScopeSet::parse(["files:*"])?,
    ))?;
    println!("   scope {:?}", bob.claims().agent.tool_scope);

    section("3. bob delegates read-only access to carol, for the file tool");
    let parent = hop.verify_str(bob.bundle())?;
    let carol = issuer.delegate(
        DelegationRequest::new(
            &parent,
            Audience::new("https://files.example")?,
            AgentId::new("carol")?,
            AgentModel::new("reader-model")?,
            ScopeSet::parse(["files:read"])?,
        )
        .ttl(120),
    )?;
    println!(
        "   scope {:?}; the bundle now holds 3 passports",
        carol.claims().agent.tool_scope
    );

    section("4. bob tries to give carol more than he has: refused at issuance");
    match issuer.delegate(DelegationRequest::new(
        &parent,
        Audience::new("https://files.example")?,
        AgentId::new("carol")?,
        AgentModel::new("reader-model")?,
        ScopeSet::parse(["mail:send"])?,
    )) {
        Err(e) => println!("   refused with `{}`: {e}", e.code()),
        Ok(_) => return Err("a widening delegation was minted".into()),
    }

    section("5. The file tool verifies the whole chain");
    let tool = Verifier::with_key_store(
        VerificationPolicy::new(ISSUER, "https://files.example").required_scope("files:read"),
        keys,
    )?;
    let verified = tool.verify_str(carol.bundle())?;
    println!(
        "   OK: {} links, principal {}",
        verified.depth(),
        verified.principal()
    );
    println!("\n   delegation tree:");
    println!("   {} ({})", verified.principal(), verified.assurance());
    for (depth, link) in verified.links().iter().rev().enumerate() {
        println!(
            "   {}└─ {} {:?} (expires {})",
            "   ".repeat(depth),
            link.agent.agent_id,
            link.agent.tool_scope,
            link.exp
        );
    }

    println!("\nDone.");
    Ok(())
}
