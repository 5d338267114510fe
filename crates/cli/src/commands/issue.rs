//! `passport issue`: mint a root passport from the stored (or given) ID token.

use passport_claims::IdentityAssertion;
use passport_issuer::IssuanceRequest;
use serde_json::Value;

use super::{Context, holder_jkt, names, print_minted, runtime, scopes};
use crate::cli::IssueArgs;
use crate::error::CliError;
use crate::time::rfc3339;

pub(crate) fn issue(ctx: &Context, args: &IssueArgs) -> Result<(), CliError> {
    let (id_token, from_store) = match &args.id_token {
        Some(token) => (token.trim().to_owned(), false),
        None => {
            let Some((token, session)) = ctx.dir.session()? else {
                return Err(CliError::usage("no_session", "no ID token is stored")
                    .hint("run `passport login`"));
            };
            let exp = session.get("exp").and_then(Value::as_i64).unwrap_or(0);
            if exp <= ctx.now() {
                return Err(CliError::usage(
                    "id_token_expired",
                    format!("the stored ID token expired at {}", rfc3339(exp)),
                )
                .hint("run `passport login`"));
            }
            (token, true)
        }
    };
    let provider = ctx.provider()?;
    let assertion: IdentityAssertion = runtime()?
        .block_on(provider.validate_id_token(&id_token, None))
        .map_err(|e| {
            let expired = e.code() == "id_token_expired";
            let err = CliError::from(e);
            if expired && from_store {
                CliError { exit: 2, ..err }.hint("run `passport login`")
            } else {
                err
            }
        })?;
    let p = &args.passport;
    let (audience, agent_id, agent_model) = names(p)?;
    let mut request = IssuanceRequest::new(assertion, audience, agent_id, agent_model, scopes(p)?);
    if let Some(purpose) = &p.task_purpose {
        request = request.task_purpose(purpose.clone());
    }
    if let Some(ttl) = p.ttl {
        request = request.ttl(ttl);
    }
    if let Some(jkt) = holder_jkt(p)? {
        request = request.holder_jkt(jkt);
    }
    let minted = ctx.mint(|issuer| Ok(issuer.issue(request)?))?;
    print_minted(&minted);
    Ok(())
}
