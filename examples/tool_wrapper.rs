//! A protected tool: a wrapper that runs the tool only for a passport that
//! verifies and covers its scope, and catches any tampering with the token.
//!
//! Run: `cargo run -p passport-examples --example tool_wrapper`

use passport_claims::{AgentId, AgentModel, Audience, ScopeSet};
use passport_examples::{
    BoxError, ISSUER, local_issuer, login_without_browser, section, start_provider,
};
use passport_issuer::IssuanceRequest;
use passport_jose::b64;
use passport_verifier::{VerificationPolicy, Verifier, VerifyError};

/// Wraps a function so it only runs with a valid passport covering `scope`.
struct Protected<F> {
    verifier: Verifier,
    scope: &'static str,
    tool: F,
}

impl<F: Fn(&str) -> String> Protected<F> {
    fn call(&self, bundle: &str, input: &str) -> Result<String, VerifyError> {
        let verified = self.verifier.verify_str(bundle)?;
        verified.require_scope(self.scope)?;
        Ok((self.tool)(input))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mock = start_provider().await?;
    let identity = login_without_browser(&mock).await?;
    let (issuer, keys) = local_issuer()?;

    section("1. A weather tool that needs `weather:read`");
    let weather = Protected {
        verifier: Verifier::with_key_store(
            VerificationPolicy::new(ISSUER, "https://weather.example"),
            keys,
        )?,
        scope: "weather:read",
        tool: |city: &str| format!("sunny in {city}"),
    };

    section("2. With the right passport, the tool runs");
    let good = issuer.issue(IssuanceRequest::new(
        identity.clone(),
        Audience::new("https://weather.example")?,
        AgentId::new("travel-bot")?,
        AgentModel::new("model-x")?,
        ScopeSet::parse(["weather:*"])?,
    ))?;
    println!("   {}", weather.call(good.bundle(), "Lisbon")?);

    section("3. Scope enforcement: a passport for `news:read` only");
    let wrong = issuer.issue(IssuanceRequest::new(
        identity,
        Audience::new("https://weather.example")?,
        AgentId::new("news-bot")?,
        AgentModel::new("model-x")?,
        ScopeSet::parse(["news:read"])?,
    ))?;
    match weather.call(wrong.bundle(), "Lisbon") {
        Err(e) => println!("   refused with `{}`: {e}", e.code()),
        Ok(_) => return Err("the tool ran without its scope".into()),
    }

    section("4. Tamper detection: widen the scope inside a valid token");
    let token = good.token();
    let mut parts = token.split('.');
    let (header, payload, signature) = (
        parts.next().ok_or("header")?,
        parts.next().ok_or("payload")?,
        parts.next().ok_or("signature")?,
    );
    let claims = String::from_utf8(b64::decode(payload).ok_or("payload")?)?;
    let forged_claims = claims.replace(r#"["weather:*"]"#, r#"["weather:*","bank:transfer"]"#);
    let forged = format!("{header}.{}.{signature}", b64::encode(forged_claims));
    match weather.call(&forged, "Lisbon") {
        Err(e) => println!("   refused with `{}`: {e}", e.code()),
        Ok(_) => return Err("a tampered token was accepted".into()),
    }

    section("5. Tamper detection: flip one bit of the signature");
    let mut sig = b64::decode(signature).ok_or("signature")?;
    sig[0] ^= 1;
    let flipped = format!("{header}.{payload}.{}", b64::encode(sig));
    match weather.call(&flipped, "Lisbon") {
        Err(e) => println!("   refused with `{}`: {e}", e.code()),
        Ok(_) => return Err("a token with a bad signature was accepted".into()),
    }

    println!("\nDone.");
    Ok(())
}
