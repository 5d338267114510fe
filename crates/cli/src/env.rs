//! Configuration from the environment and a `.env` file (SPEC §6 names).
//!
//! The environment wins over `.env`: a variable that is set, even to the
//! empty string, is never replaced by the file's value (an empty value then
//! means "the default"). A `.env` file in the working directory can name the
//! trusted provider and the acr mapping, so when one is read the CLI says so
//! on stderr, with the variables it supplied.

use std::collections::HashMap;
use std::path::Path;

use crate::error::CliError;
use crate::files::{MAX_DOTENV_BYTES, read_capped};
use crate::term::escape;

/// The default local issuer identifier.
pub(crate) const DEFAULT_ISSUER: &str = "https://issuer.local";

#[derive(Debug, Default)]
pub(crate) struct Env {
    dotenv: HashMap<String, String>,
}

impl Env {
    /// Reads `.env` from the working directory if there is one (at most
    /// 64 KiB), and names it on stderr with the variables it supplies.
    pub(crate) fn load() -> Result<Env, CliError> {
        let path = Path::new(".env");
        if !path.exists() {
            return Ok(Env::default());
        }
        let bytes = read_capped(path, MAX_DOTENV_BYTES, "the .env file")?;
        let text = String::from_utf8(bytes).map_err(|_| {
            CliError::usage("io_error", "cannot read the .env file: it is not UTF-8")
        })?;
        let env = Env {
            dotenv: parse_dotenv(&text),
        };
        let mut used: Vec<&str> = env
            .dotenv
            .keys()
            .filter(|k| std::env::var_os(k).is_none())
            .map(String::as_str)
            .collect();
        used.sort_unstable();
        let shown = std::env::current_dir().map_or_else(|_| path.to_owned(), |d| d.join(path));
        note!(
            "note: read configuration from {} ({}); variables set in the environment take precedence",
            escape(&shown.display().to_string()),
            if used.is_empty() {
                "nothing it sets is used".to_owned()
            } else {
                escape(&used.join(", ")).into_owned()
            }
        );
        Ok(env)
    }

    /// The variable `name`: from the environment when it is set there (even
    /// empty), otherwise from `.env`; an empty or blank value is `None`.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let value = match std::env::var(name) {
            Ok(value) => value,
            Err(std::env::VarError::NotPresent) => self.dotenv.get(name)?.clone(),
            // Set, but not UTF-8: set all the same, so `.env` does not win.
            Err(std::env::VarError::NotUnicode(_)) => return None,
        };
        Some(value).filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn issuer(&self) -> String {
        self.get("AGENT_PASSPORT_ISSUER")
            .unwrap_or_else(|| DEFAULT_ISSUER.to_owned())
    }

    /// Where the local issuer's status list is published (the `uri` in each
    /// passport's `status` claim).
    pub(crate) fn status_uri(&self) -> String {
        self.get("AGENT_PASSPORT_STATUS_URI")
            .unwrap_or_else(|| format!("{}/status/1", self.issuer().trim_end_matches('/')))
    }
}

/// `KEY=VALUE` lines; `#` comments; optional `export `; single or double
/// quotes around the value.
fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            &value[1..value.len() - 1]
        } else {
            value.split(" #").next().unwrap_or(value).trim()
        };
        out.insert(key.trim().to_owned(), value.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dotenv_lines() {
        let env = super::parse_dotenv(
            "# comment\nCSP_CLIENT_ID=abc\nexport CSP_SCOPES=\"openid email\"\nX='y z'\nBAD LINE\nY=1 # trailing\n",
        );
        assert_eq!(env["CSP_CLIENT_ID"], "abc");
        assert_eq!(env["CSP_SCOPES"], "openid email");
        assert_eq!(env["X"], "y z");
        assert_eq!(env["Y"], "1");
        assert_eq!(env.len(), 4);
    }
}
