//! `passport revoke` and `passport revocations`: the local issuer's revocation state.

use passport_audit::{Action, AuditRecord, LinkRef, Outcome};
use passport_claims::UnverifiedBundle;
use passport_status::{RecordRef, Status};
use passport_store::{StatusRecord, StoreError};
use serde_json::{Value, json};

use super::{Context, read_bundle};
use crate::cli::RevokeArgs;
use crate::error::CliError;
use crate::output::{self, paint, status_style};
use crate::term::escape;
use crate::time::rfc3339;

pub(crate) fn revoke(ctx: &Context, args: &RevokeArgs) -> Result<(), CliError> {
    let target = match args.target.as_deref() {
        Some(t) if t != "-" && !t.contains('.') => t.trim().to_owned(),
        other => {
            let text = read_bundle(other)?;
            let bundle =
                UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
            leaf_jti(&bundle).ok_or_else(|| {
                CliError::failed("malformed_bundle", "the bundle's leaf cannot be decoded")
            })?
        }
    };
    let (wanted, action) = if args.suspend {
        (Status::Suspended, Action::Suspend)
    } else if args.reinstate {
        (Status::Valid, Action::Reinstate)
    } else {
        (Status::Invalid, Action::Revoke)
    };
    let now = ctx.now();
    // One transaction reads the status it changes: revocation is final, only
    // a suspension can be lifted, whatever runs at the same time.
    let transition = ctx
        .store()?
        .change_status(&ctx.env.status_uri(), RecordRef::Jti(&target), wanted, now)
        .map_err(|e| match e {
            StoreError::UnknownRecord(_) => CliError::failed(
                "unknown_passport",
                format!("no passport {target:?} was issued here"),
            )
            .hint("`passport audit` lists the passports issued here with their jti"),
            other => other.into(),
        })?;
    let current = &transition.before;
    let mut record = AuditRecord::new(now, action, Outcome::Done);
    record.links = vec![LinkRef {
        jti: current.jti.clone(),
        agent_id: current.agent_id.clone(),
    }];
    record.iss = Some(ctx.env.issuer());
    let Some(updated) = transition.after else {
        record.outcome = Outcome::Failed;
        record.error = Some("invalid_transition".into());
        ctx.audit_sink()?
            .record(&record)
            .map_err(|e| CliError::usage(e.code(), e.to_string()))?;
        return Err(CliError::failed(
            "invalid_transition",
            format!(
                "passport {target} is {}; it cannot become {}",
                current.status, wanted
            ),
        ));
    };
    ctx.audit_sink()?
        .record(&record)
        .map_err(|e| CliError::usage(e.code(), e.to_string()))?;
    note!(
        "{} is now {} (agent {}, expires {}); every passport delegated from it is refused too.",
        escape(&updated.jti),
        paint(status_style(updated.status.as_str()), updated.status),
        escape(&updated.agent_id),
        rfc3339(updated.exp)
    );
    if output::json_mode() {
        output::emit(&record_json(&updated));
    }
    Ok(())
}

fn leaf_jti(bundle: &UnverifiedBundle) -> Option<String> {
    bundle
        .inspect_unverified()
        .into_iter()
        .next()?
        .ok()
        .map(|i| i.claims.jti)
}

pub(crate) fn revocations(ctx: &Context) -> Result<(), CliError> {
    let records = ctx.store()?.revoked(&ctx.env.status_uri())?;
    if output::json_mode() {
        let list: Vec<Value> = records.iter().map(record_json).collect();
        output::emit(&json!({ "revocations": list }));
        return Ok(());
    }
    say!(
        "{:<36}  {:<9}  {:<16}  {:<20}  changed",
        "jti",
        "status",
        "agent",
        "expires"
    );
    for r in &records {
        say!(
            "{:<36}  {}  {:<16}  {:<20}  {}",
            escape(&r.jti),
            paint(
                status_style(r.status.as_str()),
                format_args!("{:<9}", r.status.as_str())
            ),
            escape(&r.agent_id),
            rfc3339(r.exp),
            r.changed_at.map(rfc3339).unwrap_or_default()
        );
    }
    Ok(())
}

/// One passport's status as `revoke` and `revocations` print it in JSON.
fn record_json(r: &StatusRecord) -> Value {
    json!({
        "jti": r.jti,
        "status": r.status.as_str(),
        "agent_id": r.agent_id,
        "exp": r.exp,
        "changed_at": r.changed_at,
    })
}
