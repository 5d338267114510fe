//! `passport keys`: the local issuer's signing keys.

use super::Context;
use crate::cli::KeysAction;
use crate::error::CliError;
use crate::time::rfc3339;

pub(crate) fn keys(ctx: &Context, action: KeysAction) -> Result<(), CliError> {
    let now = ctx.now();
    match action {
        KeysAction::Show => {
            let current = ctx.dir.issuer_key(now)?;
            say!("issuer {}", crate::term::escape(&ctx.env.issuer()));
            for k in ctx.dir.keyring()? {
                let status = if k.kid == current.kid() {
                    "current".to_owned()
                } else if k.is_published(now) {
                    format!("retired, published until {}", rfc3339(k.retained_until()))
                } else {
                    "retired, no longer published".to_owned()
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
            ctx.dir.issuer_key(now)?;
            say!("{:#}", ctx.dir.jwks(now)?.to_json());
        }
        KeysAction::Rotate => {
            let (new, old) = ctx.dir.rotate(now)?;
            if let Some(old) = old {
                note!(
                    "retired {old}: it stays in the JWKS until every passport it signed has expired"
                );
            }
            say!("{}", new.kid());
        }
    }
    Ok(())
}
