//! `passport keys`: the local issuer's signing keys.

use serde_json::{Value, json};

use super::Context;
use crate::cli::KeysAction;
use crate::error::CliError;
use crate::time::rfc3339;

pub(crate) fn keys(ctx: &Context, action: KeysAction) -> Result<(), CliError> {
    let now = ctx.now();
    match action {
        KeysAction::Show => {
            ctx.dir.current_key(now)?;
            say!("issuer {}", crate::term::escape(&ctx.env.issuer()));
            for k in ctx.store()?.keys()? {
                let status = match (k.retired, k.revoked) {
                    (None, _) => "current".to_owned(),
                    (_, Some(revoked)) => format!("revoked {}, not published", rfc3339(revoked)),
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
            say!("{:#}", json!({ "keys": keys }));
        }
        KeysAction::Rotate => {
            let (new, old) = ctx.dir.rotate(now)?;
            if let Some(old) = old {
                note!(
                    "retired {}: it never signs again, and stays in the JWKS until every passport it signed has expired",
                    old.kid
                );
            }
            say!("{new}");
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
        }
    }
    Ok(())
}
