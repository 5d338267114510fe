//! Quickstart: the whole loop in one program, against an in-process mock
//! OIDC provider on 127.0.0.1 — log in (PKCE, no browser), mint a root
//! passport, verify it, then watch two typed refusals.
//!
//! Run: `cargo run -p passport-examples --example quickstart`

use passport_claims::{AgentId, AgentModel, Audience, Level, ScopeSet};
use passport_examples::{
    BoxError, ISSUER, describe, local_issuer, login_without_browser, section, start_provider,
};
use passport_issuer::IssuanceRequest;
use passport_verifier::{VerificationPolicy, Verifier};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    section("1. A principal signs in with their identity provider");
    let mock = start_provider().await?;
    println!("   mock provider at {}", mock.issuer());
    let identity = login_without_browser(&mock).await?;
    println!("   logged in: {}", describe(&identity));

    section("2. The local issuer mints a root passport for an agent");
    let (issuer, keys) = local_issuer()?;
    let minted = issuer.issue(
        IssuanceRequest::new(
            identity,
            Audience::new("https://calendar.example")?,
            AgentId::new("scheduler-bot")?,
            AgentModel::new("model-x")?,
            ScopeSet::parse(["calendar:read", "calendar:write"])?,
        )
        .task_purpose("find a meeting slot"),
    )?;
    let claims = minted.claims();
    println!(
        "   jti {}  agent {}  scope {:?}",
        claims.jti, claims.agent.agent_id, claims.agent.tool_scope
    );
    println!(
        "   expires in {} s; bundle is {} bytes",
        claims.exp - claims.iat,
        minted.bundle().len()
    );

    section("3. The calendar tool verifies it, offline");
    let policy = VerificationPolicy::new(ISSUER, "https://calendar.example")
        .require_ial(Level::TWO)
        .required_scope("calendar:read");
    let verifier = Verifier::with_key_store(policy, keys.clone())?;
    let verified = verifier.verify_str(minted.bundle())?;
    println!(
        "   OK: {} acting for {} with {}",
        verified.agent_id(),
        verified.principal(),
        verified.assurance()
    );

    section("4. Refused: the passport was not meant for this tool");
    let mail = Verifier::with_key_store(
        VerificationPolicy::new(ISSUER, "https://mail.example"),
        keys.clone(),
    )?;
    match mail.verify_str(minted.bundle()) {
        Err(e) => println!("   refused with `{}`: {e}", e.code()),
        Ok(_) => return Err("a passport for another audience was accepted".into()),
    }

    section("5. Refused: this tool requires IAL3, the principal proved IAL2");
    let strict = Verifier::with_key_store(
        VerificationPolicy::new(ISSUER, "https://calendar.example").require_ial(Level::THREE),
        keys,
    )?;
    match strict.verify_str(minted.bundle()) {
        Err(e) => println!("   refused with `{}`: {e}", e.code()),
        Ok(_) => return Err("an IAL2 passport passed an IAL3 floor".into()),
    }

    println!("\nDone.");
    Ok(())
}
