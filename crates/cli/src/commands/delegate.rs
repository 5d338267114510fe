//! `passport delegate`: verify a bundle from the local issuer and extend it with a narrower child.

use passport_claims::{MAX_BUNDLE_LINKS, UnverifiedBundle};
use passport_issuer::{DelegationRequest, IssueError};
use passport_verifier::{InMemoryKeyStore, Verification, VerificationPolicy, Verifier};

use super::{Context, holder_jkt, names, print_minted, read_bundle, scopes};
use crate::cli::DelegateArgs;
use crate::error::CliError;
use crate::time::rfc3339;

pub(crate) fn delegate(ctx: &Context, args: &DelegateArgs) -> Result<(), CliError> {
    let text = read_bundle(args.bundle.as_deref())?;
    let bundle = UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
    let now = ctx.now();
    // The parent must verify against this issuer, chain included. Its own
    // audience is used (we are its holder, not its audience); every other rule
    // applies, and the issuer enforces the depth limit itself.
    let audience = leaf_audience(&bundle).unwrap_or_default();
    let mut policy = VerificationPolicy::new(
        ctx.env.issuer(),
        if audience.is_empty() {
            "-".into()
        } else {
            audience
        },
    )
    .max_depth(MAX_BUNDLE_LINKS)
    .allow_wildcard(true);
    policy.accept_untyped = false;
    let keys = InMemoryKeyStore::from_jwks(ctx.env.issuer(), &ctx.dir.jwks(now)?)?;
    let verifier = Verifier::new(policy, keys)?
        .with_clock(ctx.clock.clone())
        .with_status_source(ctx.local_status()?);
    // The local issuer's operator delegates on the holder's behalf: it holds
    // the issuer key, so a bound parent needs no proof here; the issuer still
    // binds the child to its own holder key (--holder-key is then required).
    let parent = match verifier.verify_bundle_pending_proof(&bundle)? {
        Verification::Verified(v) => v,
        Verification::ProofRequired(pending) => pending.dangerous_assume_proven()?,
        _ => {
            return Err(CliError::failed(
                "unsupported",
                "unexpected verification outcome",
            ));
        }
    };

    let p = &args.passport;
    let (audience, agent_id, agent_model) = names(p)?;
    let mut request = DelegationRequest::new(&parent, audience, agent_id, agent_model, scopes(p)?);
    if let Some(purpose) = &p.task_purpose {
        request = request.task_purpose(purpose.clone());
    }
    if let Some(ttl) = p.ttl {
        request = request.ttl(ttl);
    }
    if let Some(jkt) = holder_jkt(p)? {
        request = request.holder_jkt(jkt);
    }
    let minted = ctx.mint(|issuer| {
        issuer.delegate(request).map_err(|e| match e {
            IssueError::ScopeAttenuation {
                requested,
                parent,
                widened,
            } => CliError::failed(
                "scope_widened",
                format!(
                    "requested scope [{}] is wider than the parent's [{}]; not covered: [{}]",
                    requested.join(", "),
                    parent.join(", "),
                    widened.join(", ")
                ),
            ),
            other => other.into(),
        })
    })?;
    if minted.clamped() {
        note!(
            "note: expiry clamped to the parent's: the passport expires at {}",
            rfc3339(minted.claims().exp)
        );
    }
    print_minted(&minted);
    Ok(())
}

fn leaf_audience(bundle: &UnverifiedBundle) -> Option<String> {
    bundle
        .inspect_unverified()
        .into_iter()
        .next()?
        .ok()
        .map(|i| i.claims.aud)
}
