//! Errors with the exit code they map to: 1 rejected or failed, 2 usage or
//! configuration.

use std::fmt;

use passport_issuer::IssueError;
use passport_jose::JoseError;
use passport_oidc::OidcError;
use passport_verifier::VerifyError;

/// A failure the CLI reports on stderr as `error[code]: message`.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) exit: u8,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl CliError {
    /// Exit 2: the command line or the configuration is wrong.
    pub(crate) fn usage(code: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            exit: 2,
            code,
            message: message.into(),
            hint: None,
        }
    }

    /// Exit 1: the input was rejected or the operation failed.
    pub(crate) fn failed(code: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            exit: 1,
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn io(what: &str, path: &std::path::Path, e: &std::io::Error) -> CliError {
        CliError::usage("io_error", format!("{what} {}: {e}", path.display()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<VerifyError> for CliError {
    fn from(e: VerifyError) -> CliError {
        let link = e.link();
        let mut message = e.to_string();
        if link > 0 && !message.contains("link") {
            message = format!("link {link} (0 = leaf): {message}");
        }
        let err = CliError::failed(e.code(), message);
        if matches!(e, VerifyError::ProofRequired) {
            return err.hint("the passport is bound with --holder-key; a server checks its DPoP proof per request (passport-axum); `passport inspect` shows the claims");
        }
        err
    }
}

impl From<IssueError> for CliError {
    fn from(e: IssueError) -> CliError {
        let exit = if matches!(e, IssueError::InvalidRequest { .. }) {
            2
        } else {
            1
        };
        CliError {
            exit,
            code: e.code(),
            message: e.to_string(),
            hint: None,
        }
    }
}

impl From<OidcError> for CliError {
    fn from(e: OidcError) -> CliError {
        let exit = if e.code() == "config" { 2 } else { 1 };
        CliError {
            exit,
            code: e.code(),
            message: e.to_string(),
            hint: None,
        }
    }
}

impl From<JoseError> for CliError {
    fn from(e: JoseError) -> CliError {
        // Key files that are missing, unreadable or unsafe are configuration problems.
        let exit = match e {
            JoseError::KeyFile { .. }
            | JoseError::InsecureKeyFile { .. }
            | JoseError::InvalidKey(_)
            | JoseError::WeakKey(_)
            | JoseError::IncompleteRsaKey(_) => 2,
            _ => 1,
        };
        CliError {
            exit,
            code: e.code(),
            message: e.to_string(),
            hint: None,
        }
    }
}
