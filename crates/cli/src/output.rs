//! How results and messages reach the operator (the global `--json`,
//! `--quiet` and `-v`).
//!
//! - Results go to stdout: text, or with `--json` one JSON document per
//!   command (docs/cli-json.md), always through [`crate::term::json`] and
//!   never coloured.
//! - Messages go to stderr: `--quiet` silences all but errors.
//! - Colour goes through anstream, which writes styles only to a terminal
//!   and honours `NO_COLOR` (never) and `CLICOLOR_FORCE` (always).
//! - `-v` (repeatable) or `RUST_LOG` turns on tracing to stderr; the audit
//!   trail is then logged too, as identifiers only (jti, sub, agent_id,
//!   iss, aud), never a token.

use std::sync::{Arc, OnceLock};

use anstyle::{AnsiColor, Style};
use passport_audit::{AuditError, AuditRecord, AuditSink, TracingSink};
use serde_json::Value;

/// An error label (`error[code]`).
pub(crate) const ERROR: Style = AnsiColor::Red.on_default().bold();
/// A warning label (`warning:`).
pub(crate) const WARNING: Style = AnsiColor::Yellow.on_default().bold();
/// A hint label (`hint:`).
pub(crate) const HINT: Style = AnsiColor::Cyan.on_default().bold();
/// A status word meaning all is well (`valid`, `current`).
pub(crate) const GOOD: Style = AnsiColor::Green.on_default().bold();
/// A status word meaning refused or withdrawn (`revoked`, `suspended`).
pub(crate) const BAD: Style = AnsiColor::Red.on_default();

/// The global output choices, set once by [`init`].
#[derive(Debug, Clone, Copy, Default)]
struct Choices {
    json: bool,
    quiet: bool,
    tracing: bool,
}

static CHOICES: OnceLock<Choices> = OnceLock::new();

fn choices() -> Choices {
    CHOICES.get().copied().unwrap_or_default()
}

/// Records the global choices and, when `-v` or `RUST_LOG` asks for it,
/// installs the tracing subscriber (fmt, to stderr).
pub(crate) fn init(json: bool, quiet: bool, verbose: u8) {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let directives = match (rust_log, verbose) {
        (Some(directives), _) => Some(directives),
        (None, 0) => None,
        (None, 1) => Some("passport=info".to_owned()),
        (None, 2) => Some("passport=debug".to_owned()),
        (None, _) => Some("passport=trace".to_owned()),
    };
    let tracing = directives.is_some_and(|directives| {
        // `passport` is a prefix of every crate's target here
        // (passport::…, passport_verifier, …). A malformed RUST_LOG keeps
        // the directives that parse rather than failing the command.
        let filter = tracing_subscriber::EnvFilter::builder().parse_lossy(directives);
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(anstream::stderr)
            .try_init()
            .is_ok()
    });
    let _ = CHOICES.set(Choices {
        json,
        quiet,
        tracing,
    });
}

/// `--json`: print results as JSON.
pub(crate) fn json_mode() -> bool {
    choices().json
}

/// `--quiet`: no messages on stderr but errors.
pub(crate) fn quiet() -> bool {
    choices().quiet
}

/// `text` in `style` (anstream drops the style where colour is off).
pub(crate) fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// The style of a passport status word.
pub(crate) fn status_style(status: &str) -> Style {
    match status {
        "valid" | "current" => GOOD,
        "revoked" | "invalid" | "suspended" => BAD,
        _ => Style::new(),
    }
}

/// Prints a command's JSON result on stdout: one line, escaped for the
/// terminal, never coloured.
pub(crate) fn emit(value: &Value) {
    say!("{}", crate::term::json(value, false));
}

/// Where the audit trail goes besides its own sink: to tracing too when
/// tracing is on.
pub(crate) fn with_tracing(sink: Option<Arc<dyn AuditSink>>) -> Option<Arc<dyn AuditSink>> {
    if !choices().tracing {
        return sink;
    }
    Some(match sink {
        Some(sink) => Arc::new(Both(sink)),
        None => Arc::new(TracingSink),
    })
}

/// A sink and tracing: the sink's error counts, tracing never fails.
struct Both(Arc<dyn AuditSink>);

impl AuditSink for Both {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.0.record(record)?;
        TracingSink.record(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_wraps_in_the_style_and_resets() {
        let text = paint(ERROR, "error[x]");
        assert!(text.starts_with("\u{1b}["), "{text:?}");
        assert!(text.ends_with("\u{1b}[0m"), "{text:?}");
        assert!(text.contains("error[x]"));
        assert_eq!(paint(Style::new(), "plain"), "plain");
    }

    #[test]
    fn status_words_have_their_colours() {
        assert_eq!(status_style("valid"), GOOD);
        assert_eq!(status_style("current"), GOOD);
        assert_eq!(status_style("revoked"), BAD);
        assert_eq!(status_style("suspended"), BAD);
        assert_eq!(status_style("retired"), Style::new());
    }
}
