//! `passport audit verify` and `passport audit export`: the trail's hash
//! chains, in a file (the local issuer's, a verifier's) or in the token
//! service's database.

use std::io::{IsTerminal as _, Write as _};

use passport_audit::chain::{Finding, Report};
use passport_audit::{Filter, verify_file, verify_legacy_file};
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
            let mut report = runtime()?.block_on(async {
                let db = Database::open_existing(url, now).await?;
                Ok::<_, CliError>(db.verify_audit().await?)
            })?;
            // no chain means no head row: nothing the database holds is
            // verifiable (an empty or wiped trail)
            if report.chains.is_empty() {
                report.findings.push(Finding::NoChainedRecord);
            }
            // never the password of a postgres:// URL
            (Database::display_url(url), report)
        }
        None => {
            let path = args.file.clone().unwrap_or_else(|| ctx.dir.path(AUDIT_LOG));
            let verify = if args.legacy {
                verify_legacy_file
            } else {
                verify_file
            };
            let report = verify(&path).map_err(|e| CliError::failed(e.code(), e.to_string()))?;
            (path.display().to_string(), report)
        }
    };
    show(&source, &report, args.database.is_none());
    report
        .check()
        .map_err(|e| CliError::failed(e.code(), e.to_string()))
}

/// The report; `file`: the source is a file (which `--legacy` may accept).
fn show(source: &str, report: &Report, file: bool) {
    if output::json_mode() {
        let value = json!({
            "source": source,
            "ok": report.ok(),
            "unchained": report.unchained,
            "chains": report.chains,
            "findings": report.findings,
            "legacy": report.legacy,
        });
        say!("{}", term::json(&value, false));
        return;
    }
    say!("{}", escape(source));
    for c in &report.chains {
        let verdict = match &c.result {
            Ok(()) if c.interrupted => format!(
                "ok (record {} written after the head: an interrupted append, confirmed by the next)",
                c.head.seq
            ),
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
    let (lead, tail) = match (report.legacy, file) {
        (true, _) => ("LEGACY, accepted by --legacy, NOT verified", ""),
        (false, true) => (
            "REFUSED",
            " (--legacy accepts a file written before heads existed)",
        ),
        (false, false) => ("REFUSED", ""),
    };
    for finding in &report.findings {
        let what = match finding {
            Finding::NoChainedRecord => "no chained record".to_owned(),
            Finding::Unchained { lines } => {
                format!("{lines} line(s) without a chain before the chained records")
            }
            Finding::NoHead { chain } => format!(
                "chain {} has no head: records cut off its end cannot be detected",
                escape(chain)
            ),
            _ => "unverifiable".to_owned(),
        };
        say!("  {lead}: {what}{tail}");
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
    let written =
        |e: std::io::Error| CliError::usage("io_error", format!("writing the export: {e}"));
    // the stored lines verbatim (a verifier re-hashes exactly these bytes),
    // each written as it is read: the trail is never held in memory. Lines
    // sealed since review S14 hold no character a terminal acts on; on a
    // terminal, those of older lines are shown escaped (nobody re-hashes a
    // screen)
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = None;
    runtime()?.block_on(async {
        let db = Database::open_existing(&args.database, now).await?;
        db.each_exported_line(&filter, |line| {
            let line = if terminal {
                escape(&line).into_owned()
            } else {
                line
            };
            match writeln!(out, "{line}") {
                Ok(()) => std::ops::ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    std::ops::ControlFlow::Break(())
                }
            }
        })
        .await?;
        Ok::<_, CliError>(())
    })?;
    if let Some(e) = failed {
        return Err(written(e));
    }
    out.flush().map_err(written)
}
