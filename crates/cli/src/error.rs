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
        "serve_not_loopback",
        2,
        "`passport serve --listen` names an address that is not loopback, without `--allow-remote`.",
    ),
    (
        "serve_listen",
        1,
        "`passport serve` cannot listen on its address or read it.",
    ),
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
        "A command-line value is invalid (an assurance level, a client secret given as an option).",
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
        let err = CliError::usage("io_error", format!("{what} {}: {e}", path.display()));
        match io_hint(e.kind()) {
            Some(hint) => err.hint(hint),
            None => err,
        }
    }

    /// Adds `hint` unless the error already has one.
    pub(crate) fn or_hint(self, hint: Option<&str>) -> CliError {
        match (&self.hint, hint) {
            (None, Some(hint)) => self.hint(hint),
            _ => self,
        }
    }
}

/// The next step for a file that cannot be read or written.
fn io_hint(kind: std::io::ErrorKind) -> Option<&'static str> {
    match kind {
        std::io::ErrorKind::NotFound => {
            Some("check the path; relative paths start in the working directory")
        }
        std::io::ErrorKind::PermissionDenied => {
            Some("check the file's owner and mode, and its directory's (`ls -l`)")
        }
        _ => None,
    }
}

/// The next step for a library error, by its stable code.
fn code_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "config" => {
            "set CSP_DISCOVERY_URL and CSP_CLIENT_ID in the environment or a .env file (see `passport --help`)"
        }
        "discovery_failed" | "http_failed" => {
            "check that CSP_DISCOVERY_URL is right and the provider is reachable from here"
        }
        "insecure_url" => {
            "use https; plain http only for an issuer on this machine, from this machine (127.0.0.1, [::1], localhost)"
        }
        "issuer_mismatch" => {
            "CSP_DISCOVERY_URL must be the provider's issuer followed by /.well-known/openid-configuration"
        }
        "id_token_audience_mismatch" | "azp_mismatch" => {
            "the ID token was issued to another client: check CSP_CLIENT_ID"
        }
        "id_token_expired" | "nonce_mismatch" | "state_mismatch" => {
            "run `passport login` for a fresh ID token"
        }
        "id_token_not_yet_valid" => "check this machine's clock",
        "unsupported_acr" => {
            "set CSP_ACR_MAPPING to a table mapping the provider's acr values to levels"
        }
        "login_timeout" => {
            "finish the login in the browser sooner, or raise --timeout; with --no-browser open the printed URL yourself"
        }
        "token_exchange_failed" => {
            "check CSP_CLIENT_ID and CSP_CLIENT_SECRET, and that CSP_REDIRECT_URI is registered at the provider"
        }
        "file_too_large" => "check that the right file was named",
        "store_busy" => "another passport command is using the data directory; try again",
        "store_schema_newer" => {
            "a newer passport wrote this data directory: upgrade, or use another --data-dir"
        }
        "store_schema_older" => {
            "check the database named is the server's, and that this version's `passport serve` has opened it"
        }
        "insecure_data_dir" | "insecure_path" => {
            "the data directory must be yours and closed to others: chmod 700 it (`passport where` shows it)"
        }
        "insecure_key_file" => "chmod 600 the key file",
        "key_file" => "check the key file's path, and that it is readable by this user",
        _ => return None,
    })
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
        .or_hint(code_hint(e.code()))
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
        .or_hint(code_hint(e.code()))
    }
}

impl From<passport_status::StatusError> for CliError {
    fn from(e: passport_status::StatusError) -> CliError {
        // A list file that cannot be read, or a list URI its issuer's
        // lists may not be fetched from, is the operator's to fix; a list
        // that is read and refused is a refusal.
        let exit = if matches!(e.code(), "io_error" | "insecure_url") {
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
        .or_hint(code_hint(e.code()))
    }
}

impl From<OidcError> for CliError {
    fn from(e: OidcError) -> CliError {
        // An insecure issuer or discovery URL is the configuration's.
        let exit = if matches!(e, OidcError::Config(_) | OidcError::InsecureUrl { .. }) {
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
        .or_hint(code_hint(e.code()))
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
        .or_hint(code_hint(e.code()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_get_the_hint_of_their_code() {
        let err = CliError::from(OidcError::Config("CSP_CLIENT_ID is not set".into()));
        assert_eq!((err.exit, err.code), (2, "config"));
        assert!(
            err.hint
                .as_deref()
                .is_some_and(|h| h.contains("CSP_CLIENT_ID"))
        );
        let err = CliError::from(StoreError::Busy);
        assert!(err.hint.as_deref().is_some_and(|h| h.contains("try again")));
        assert!(code_hint("login_timeout").is_some_and(|h| h.contains("--timeout")));
        assert!(code_hint("no_such_code").is_none());
    }

    #[test]
    fn a_missing_file_says_to_check_the_path() {
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = CliError::io("cannot read", std::path::Path::new("x.json"), &e);
        assert!(err.hint.as_deref().is_some_and(|h| h.contains("path")));
    }

    #[test]
    fn an_existing_hint_is_kept() {
        let err = CliError::usage("config", "x")
            .hint("mine")
            .or_hint(code_hint("config"));
        assert_eq!(err.hint.as_deref(), Some("mine"));
    }
}
