//! `passport audit`: read the audit trail.

use passport_audit::{Filter, Outcome, read_records};

use super::{AUDIT_LOG, Context};
use crate::cli::AuditArgs;
use crate::error::CliError;
use crate::time::{parse_time, rfc3339};

pub(crate) fn audit(ctx: &Context, args: &AuditArgs) -> Result<(), CliError> {
    let since = match &args.since {
        None => None,
        Some(text) => Some(parse_time(text).ok_or_else(|| {
            CliError::usage("usage", format!("--since {text:?}: use seconds since the epoch or RFC 3339 (2026-11-22T13:00:00Z)"))
        })?),
    };
    let outcome = match args.outcome.as_deref() {
        None => None,
        Some("accepted") => Some(Outcome::Accepted),
        Some("refused") => Some(Outcome::Refused),
        Some("done") => Some(Outcome::Done),
        Some(_) => Some(Outcome::Failed),
    };
    let filter = Filter {
        since,
        agent: args.agent.clone(),
        outcome,
        action: None,
    };
    let path = args.file.clone().unwrap_or_else(|| ctx.dir.path(AUDIT_LOG));
    let records =
        read_records(&path, &filter).map_err(|e| CliError::usage(e.code(), e.to_string()))?;
    if args.json {
        for r in &records {
            say!("{}", serde_json::to_string(r).unwrap_or_default());
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
        let chain: Vec<&str> = r.links.iter().map(|l| l.agent_id.as_str()).collect();
        say!(
            "{:<20}  {:<9}  {:<8}  {:<20}  {:<36}  {}{}",
            rfc3339(r.time),
            action,
            outcome,
            r.error.as_deref().unwrap_or("-"),
            r.links.first().map_or("-", |l| l.jti.as_str()),
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
