//! `passport keys`: the local issuer's signing keys.

use passport_store::KeyRecord;
use serde_json::{Value, json};

use super::Context;
use crate::cli::KeysAction;
use crate::error::CliError;
use crate::output::{self, paint, status_style};
use crate::term::escape;
use crate::time::rfc3339;

pub(crate) fn keys(ctx: &Context, action: KeysAction) -> Result<(), CliError> {
    let now = ctx.now();
    match action {
        KeysAction::Show => {
            ctx.dir.current_key(now)?;
            let keys = ctx.store()?.keys()?;
            if output::json_mode() {
                let keys: Vec<Value> = keys.iter().map(|k| key_json(k, now)).collect();
                output::emit(&json!({ "issuer": ctx.env.issuer(), "keys": keys }));
                return Ok(());
            }
            say!("issuer {}", escape(&ctx.env.issuer()));
            for k in &keys {
                let status = match (k.retired, k.revoked) {
                    (None, _) => paint(status_style("current"), "current"),
                    (_, Some(revoked)) => format!(
                        "{} {}, not published",
                        paint(status_style("revoked"), "revoked"),
                        rfc3339(revoked)
                    ),
                    (Some(retired), None) if k.is_published(now) => format!(
                        "retired {}, published until {}",
                        rfc3339(retired),
                        rfc3339(k.retained_until())
                    ),
                    (Some(retired), None) => {
                        format!("retired {}, no longer published", rfc3339(retired))
                    }
                };
                say!(
                    "{}  {}  created {}  {status}",
                    k.kid,
                    k.alg,
                    rfc3339(k.created)
                );
            }
        }
        KeysAction::Jwks => {
            ctx.dir.current_key(now)?;
            let keys: Vec<Value> = ctx
                .store()?
                .published_keys(now)?
                .iter()
                .map(|k| Value::Object(k.published_jwk()))
                .collect();
            let jwks = json!({ "keys": keys });
            if output::json_mode() {
                output::emit(&jwks);
            } else {
                say!("{jwks:#}");
            }
        }
        KeysAction::Rotate => {
            let (new, old) = ctx.dir.rotate(now)?;
            if let Some(old) = &old {
                note!(
                    "retired {}: it never signs again, and stays in the JWKS until every passport it signed has expired",
                    old.kid
                );
            }
            if output::json_mode() {
                output::emit(&json!({
                    "kid": new,
                    "retired": old.as_ref().map(|old| key_json(old, now)),
                }));
            } else {
                say!("{new}");
            }
        }
        KeysAction::Revoke { kid } => {
            ctx.dir.key_path(&kid)?;
            let revoked = ctx.store()?.revoke_key(&kid, now)?;
            ctx.dir.destroy_key(&revoked.kid)?;
            note!(
                "revoked {}: it no longer signs nor is published; verifiers refuse its passports once they fetch the new JWKS{}",
                revoked.kid,
                if revoked.retired == revoked.revoked {
                    " (the next issuance makes a new key)"
                } else {
                    ""
                }
            );
            if output::json_mode() {
                output::emit(&key_json(&revoked, now));
            }
        }
    }
    Ok(())
}

/// One key as `keys show --json` lists it (docs/cli-json.md).
fn key_json(k: &KeyRecord, now: i64) -> Value {
    let status = match (k.retired, k.revoked) {
        (None, _) => "current",
        (_, Some(_)) => "revoked",
        (Some(_), None) => "retired",
    };
    json!({
        "kid": k.kid,
        "alg": k.alg,
        "status": status,
        "created": k.created,
        "retired": k.retired,
        "revoked": k.revoked,
        "published": k.is_published(now),
        "published_until": k.retired.filter(|_| k.revoked.is_none()).map(|_| k.retained_until()),
    })
}
