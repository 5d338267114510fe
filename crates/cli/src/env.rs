//! Configuration from the environment and a `.env` file (SPEC §6 names).
//! The environment wins over `.env`.

use std::collections::HashMap;
use std::path::Path;

use crate::error::CliError;

/// The default local issuer identifier.
pub(crate) const DEFAULT_ISSUER: &str = "https://issuer.local";

#[derive(Debug, Default)]
pub(crate) struct Env {
    dotenv: HashMap<String, String>,
}

impl Env {
    /// Reads `.env` from the working directory if there is one.
    pub(crate) fn load() -> Result<Env, CliError> {
        let path = Path::new(".env");
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Env::default()),
            Err(e) => return Err(CliError::io("cannot read", path, &e)),
        };
        Ok(Env {
            dotenv: parse_dotenv(&text),
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.dotenv.get(name).cloned())
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
