//! `passport where`: the data directory and its files.

use super::Context;
use crate::error::CliError;
use crate::store::mode_of;
use crate::term::escape;

pub(crate) fn where_(ctx: &Context) -> Result<(), CliError> {
    let root = ctx.dir.root();
    let chosen = ctx.dir.source().describe();
    match std::fs::metadata(root) {
        Ok(meta) => say!(
            "{}  (mode {:04o}; chosen by {chosen})",
            escape(&root.display().to_string()),
            mode_of(&meta)
        ),
        Err(_) => {
            say!(
                "{}  (not created yet; chosen by {chosen})",
                escape(&root.display().to_string())
            );
            return Ok(());
        }
    }
    for (path, mode, len) in ctx.dir.listing()? {
        let name = path.strip_prefix(root).unwrap_or(&path);
        say!(
            "  {:04o}  {:>8}  {}",
            mode,
            len,
            escape(&name.display().to_string())
        );
    }
    Ok(())
}
