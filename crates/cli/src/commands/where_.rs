//! `passport where`: the data directory and its files.

use serde_json::{Value, json};

use super::Context;
use crate::error::CliError;
use crate::output;
use crate::store::mode_of;
use crate::term::escape;

pub(crate) fn where_(ctx: &Context) -> Result<(), CliError> {
    let root = ctx.dir.root();
    let chosen = ctx.dir.source().describe();
    let mode = std::fs::metadata(root).ok().map(|meta| mode_of(&meta));
    let files = match mode {
        Some(_) => ctx.dir.listing()?,
        None => Vec::new(),
    };
    if output::json_mode() {
        let files: Vec<Value> = files
            .iter()
            .map(|(path, mode, len)| {
                json!({
                    "path": path.strip_prefix(root).unwrap_or(path).display().to_string(),
                    "mode": format!("{mode:04o}"),
                    "size": len,
                })
            })
            .collect();
        output::emit(&json!({
            "data_dir": root.display().to_string(),
            "chosen_by": chosen,
            "exists": mode.is_some(),
            "mode": mode.map(|m| format!("{m:04o}")),
            "files": files,
        }));
        return Ok(());
    }
    let Some(mode) = mode else {
        say!(
            "{}  (not created yet; chosen by {chosen})",
            escape(&root.display().to_string())
        );
        return Ok(());
    };
    say!(
        "{}  (mode {:04o}; chosen by {chosen})",
        escape(&root.display().to_string()),
        mode
    );
    for (path, mode, len) in &files {
        let name = path.strip_prefix(root).unwrap_or(path);
        say!(
            "  {:04o}  {:>8}  {}",
            mode,
            len,
            escape(&name.display().to_string())
        );
    }
    Ok(())
}
