//! `passport status-list`: publish the local issuer's signed Token Status List.

use super::Context;
use crate::cli::StatusListArgs;
use crate::error::CliError;
use crate::output;
use crate::term::escape;

pub(crate) fn status_list(ctx: &Context, args: &StatusListArgs) -> Result<(), CliError> {
    let now = ctx.now();
    let key = ctx.dir.signing_key(&ctx.dir.current_key(now)?.kid)?;
    let token = ctx
        .store()?
        .publish(&ctx.env.status_uri(), &key, now, args.ttl, args.lifetime)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{token}\n"))
                .map_err(|e| CliError::io("cannot write", path, &e))?;
            note!(
                "wrote the status list for {} to {}",
                escape(&ctx.env.status_uri()),
                escape(&path.display().to_string())
            );
        }
        None if !output::json_mode() => say!("{token}"),
        None => {}
    }
    if output::json_mode() {
        output::emit(&serde_json::json!({
            "uri": ctx.env.status_uri(),
            "token": token.to_string(),
            "out": args.out.as_ref().map(|p| p.display().to_string()),
        }));
    }
    Ok(())
}
