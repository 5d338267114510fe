//! `passport issue`: mint a root passport from the stored (or given) ID token.

use passport_claims::IdentityAssertion;
use passport_issuer::IssuanceRequest;

use super::{Context, holder_jkt, id_token, names, print_minted, runtime, scopes};
use crate::cli::IssueArgs;
use crate::error::CliError;

pub(crate) fn issue(ctx: &Context, args: &IssueArgs) -> Result<(), CliError> {
    let (id_token, from_store) = match id_token(&args.id_token)? {
        Some(token) => (token, false),
        None => (super::session::stored_login(ctx)?.0, true),
    };
    let provider = ctx.provider()?;
    let assertion: IdentityAssertion = runtime()?
        .block_on(provider.validate_id_token(&id_token, None))
        .map_err(|e| {
            let expired = e.code() == "id_token_expired";
            let err = CliError::from(e);
            if expired && from_store {
                CliError { exit: 4, ..err }.hint("run `passport login`")
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
