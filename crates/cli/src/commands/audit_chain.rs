//! `passport audit verify` and `passport audit export`: the trail's hash
//! chains, in a file (the local issuer's, a verifier's) or in the token
//! service's database.

use std::io::Write as _;

use passport_audit::chain::Report;
use passport_audit::{AuditError, Filter, verify_file};
use passport_store::server::Database;
use serde_json::json;

use super::{AUDIT_LOG, Context, runtime};
use crate::cli::{AuditExportArgs, AuditVerifyArgs};
use crate::error::CliError;
use crate::output;
use crate::term::{self, escape};

use super::audit::outcome_of;

pub(crate) fn verify(ctx: &Context, args: &AuditVerifyArgs) -> Result<(), CliError> {
    let now = ctx.now();
    let (source, report) = match &args.database {
        Some(url) => {
            let report = runtime()?.block_on(async {
                let db = Database::open(url, now).await?;
                Ok::<_, CliError>(db.verify_audit().await?)
            })?;
            (url.clone(), report)
        }
        None => {
            let path = args.file.clone().unwrap_or_else(|| ctx.dir.path(AUDIT_LOG));
            let report =
                verify_file(&path).map_err(|e| CliError::failed(e.code(), e.to_string()))?;
            (path.display().to_string(), report)
        }
    };
    show(&source, &report);
    match report.first_break() {
        None => Ok(()),
        Some(b) => {
            let e = AuditError::ChainBroken(b.clone());
            Err(CliError::failed(e.code(), e.to_string()))
        }
    }
}

fn show(source: &str, report: &Report) {
    if output::json_mode() {
        let value = json!({
            "source": source,
            "ok": report.ok(),
            "unchained": report.unchained,
            "chains": report.chains,
        });
        say!("{}", term::json(&value, false));
        return;
    }
    say!("{}", escape(source));
    if report.unchained > 0 {
        say!(
            "  {} unchained record(s) written before chaining (not verifiable)",
            report.unchained
        );
    }
    if report.chains.is_empty() {
        say!("  no chained record");
    }
    for c in &report.chains {
        let verdict = match &c.result {
            Ok(()) => "ok".to_owned(),
            Err(b) => format!("BROKEN: {b}"),
        };
        say!(
            "  chain {}  records {}  head {}:{}  {}",
            escape(&c.chain),
            c.records,
            c.head.seq,
            escape(&c.head.hash),
            escape(&verdict)
        );
    }
}

pub(crate) fn export(ctx: &Context, args: &AuditExportArgs) -> Result<(), CliError> {
    let now = ctx.now();
    let filter = Filter {
        since: args.since.map(|t| t.resolve(now)),
        until: args.until.map(|t| t.resolve(now)),
        agent: args.agent.clone(),
        principal: args.principal.clone(),
        outcome: args.outcome.as_deref().map(outcome_of),
        ..Filter::default()
    };
    let lines = runtime()?.block_on(async {
        let db = Database::open(&args.database, now).await?;
        Ok::<_, CliError>(db.export_audit(&filter, usize::MAX).await?)
    })?;
    // the stored lines verbatim: a verifier re-hashes exactly these bytes
    let mut out = std::io::stdout().lock();
    for line in &lines {
        writeln!(out, "{line}")
            .map_err(|e| CliError::usage("io_error", format!("writing the export: {e}")))?;
    }
    out.flush()
        .map_err(|e| CliError::usage("io_error", format!("writing the export: {e}")))
}
