//! Errors with the exit code they map to: 1 rejected or failed, 2 usage or
//! configuration, 4 log in first.

use std::fmt;

use passport_issuer::IssueError;
use passport_jose::JoseError;
use passport_oidc::OidcError;
use passport_store::StoreError;
use passport_verifier::VerifyError;

/// The codes the CLI reports itself (besides the codes of the library
/// errors it passes on), with the exit status and the condition each names.
/// A test checks that every code literal of this crate is listed here, with
/// the exit status of the constructor it is given to.
#[cfg(test)]
pub(crate) const CODES: &[(&str, u8, &str)] = &[
    (
        "ambiguous_trust",
        2,
        "`passport verify` cannot pair every trusted issuer with its own keys (several `--issuer` with one `--jwks`, an issuer without keys, `--trust` mixed with `--issuer`/`--jwks`, or a `--trust` value that is not ISSUER=JWKS).",
    ),
    (
        "config",
        2,
        "The configuration is missing or invalid (no data directory can be found, or the `.env` file cannot be parsed).",
    ),
    (
        "corrupt_session",
        2,
        "The stored login session is not what `passport login` writes.",
    ),
    (
        "file_too_large",
        2,
        "A file named on the command line or read from the working directory (`--jwks`, `--holder-key`, `audit --file`, `.env`) is larger than its size cap.",
    ),
    (
        "id_token_expired",
        4,
        "The stored login session's ID token has expired (run `passport login`).",
    ),
    (
        "invalid_request",
        2,
        "A command-line value is empty or invalid for its claim (`--agent-id`, `--agent-model`, `--aud`).",
    ),
    (
        "invalid_transition",
        1,
        "Revocation is final: a revoked passport cannot be suspended or reinstated, nor a valid one reinstated.",
    ),
    (
        "io_error",
        2,
        "A file (or stdin) could not be read or written.",
    ),
    (
        "jwks_failed",
        1,
        "A JWKS could not be fetched or parsed, or holds no usable key.",
    ),
    (
        "malformed_bundle",
        1,
        "A passport of the bundle is not shaped like a compact JWS, or cannot be decoded.",
    ),
    (
        "no_input",
        2,
        "No bundle or ID token was given (no argument, empty stdin, stdin a terminal), or the ID token given is empty.",
    ),
    (
        "no_keys",
        2,
        "The local issuer has no trusted key (the JWKS is empty).",
    ),
    (
        "no_session",
        4,
        "No ID token is stored (run `passport login`).",
    ),
    ("runtime", 1, "The async runtime could not be started."),
    (
        "scope_widened",
        1,
        "A child scope pattern is not implied by any of the parent's (delegation would widen the scope).",
    ),
    (
        "unknown_passport",
        1,
        "No passport with this `jti` (or status index) was issued here.",
    ),
    (
        "unsupported",
        1,
        "The verifier returned an outcome this CLI does not handle.",
    ),
    (
        "usage",
        2,
        "A command-line value is invalid (an assurance level, a `--since` time, a client secret given as an option).",
    ),
];

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

    /// Exit 4: the operator must log in first (as `gh` does), with the hint
    /// that says how.
    pub(crate) fn login_required(code: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            exit: 4,
            code,
            message: message.into(),
            hint: Some("run `passport login`".to_owned()),
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

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> CliError {
        // A data directory or database that cannot be trusted or read is a
        // configuration problem; a busy or failing database an operation
        // that failed.
        let exit = match e {
            StoreError::Busy
            | StoreError::Database(_)
            | StoreError::IndexSpaceExhausted { .. }
            | StoreError::RandomUnavailable(_)
            | StoreError::UnknownRecord(_)
            | StoreError::DuplicateJti(_)
            | StoreError::UnknownKey(_)
            | StoreError::Status(_) => 1,
            _ => 2,
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
