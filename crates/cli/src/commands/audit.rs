//! `passport audit`: read the audit trail.

use passport_audit::{Filter, Outcome, read_records, records_from};

use super::{AUDIT_LOG, Context};
use crate::cli::{AuditAction, AuditArgs};
use crate::error::CliError;
use crate::files::{MAX_AUDIT_FILE_BYTES, read_capped};
use crate::output;
use crate::term::{self, escape};
use crate::time::rfc3339;

/// An `--outcome` value (one of those clap accepts).
pub(super) fn outcome_of(outcome: &str) -> Outcome {
    match outcome {
        "accepted" => Outcome::Accepted,
        "refused" => Outcome::Refused,
        "done" => Outcome::Done,
        _ => Outcome::Failed,
    }
}

pub(crate) fn audit(ctx: &Context, args: &AuditArgs) -> Result<(), CliError> {
    match &args.action {
        Some(AuditAction::Verify(verify)) => return super::audit_chain::verify(ctx, verify),
        Some(AuditAction::Export(export)) => return super::audit_chain::export(ctx, export),
        None => {}
    }
    let since = args.since.map(|since| since.resolve(ctx.now()));
    let filter = Filter {
        since,
        agent: args.agent.clone(),
        outcome: args.outcome.as_deref().map(outcome_of),
        ..Filter::default()
    };
    // A log someone hands us (a verifier's) is read with a size cap; the
    // local issuer's own log is streamed.
    let records = match &args.file {
        Some(path) => {
            let bytes = read_capped(path, MAX_AUDIT_FILE_BYTES, "audit --file")?;
            records_from(bytes.as_slice(), path, &filter)
        }
        None => read_records(&ctx.dir.path(AUDIT_LOG), &filter),
    }
    .map_err(|e| CliError::usage(e.code(), e.to_string()))?;
    if output::json_mode() {
        for r in &records {
            let value = serde_json::to_value(r).unwrap_or_default();
            say!("{}", term::json(&value, false));
        }
        return Ok(());
    }
    say!(
        "{:<20}  {:<9}  {:<8}  {:<20}  {:<36}  chain (holder first)",
        "time",
        "action",
        "outcome",
        "error",
        "jti"
    );
    for r in &records {
        let action = serde_json::to_value(r.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let outcome = serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        // Records of refused bundles quote whatever the bundle claimed.
        let chain: Vec<_> = r.links.iter().map(|l| escape(&l.agent_id)).collect();
        say!(
            "{:<20}  {:<9}  {:<8}  {:<20}  {:<36}  {}{}",
            rfc3339(r.time),
            escape(&action),
            escape(&outcome),
            escape(r.error.as_deref().unwrap_or("-")),
            escape(r.links.first().map_or("-", |l| l.jti.as_str())),
            chain.join(" <- "),
            if r.verified {
                ""
            } else {
                "  (claimed, unverified)"
            }
        );
    }
    Ok(())
}
