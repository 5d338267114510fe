//! What each command does: one module per command, and here the context
//! and input helpers they share.

mod audit;
mod audit_chain;
mod delegate;
mod inspect;
mod issue;
mod keys;
mod login;
mod revoke;
mod serve;
mod session;
mod status_list;
mod verify;
mod where_;

use std::io::{IsTerminal as _, Read as _};
use std::sync::Arc;

use passport_audit::{AuditSink, JsonLinesSink};
use passport_claims::{
    AgentId, AgentModel, Audience, ClaimsError, Clock, MAX_BUNDLE_LEN, ScopeSet, SystemClock,
};
use passport_issuer::{IssuedPassport, Issuer};
use passport_oidc::{OidcConfig, Provider};
use passport_store::{LocalStatus, Signed, Store};
use passport_verifier::StatusSource;

use crate::cli::{IdTokenArgs, PassportArgs};
use crate::env::Env;
use crate::error::CliError;
use crate::files::{MAX_ID_TOKEN_BYTES, MAX_JWK_BYTES, read_capped};
use crate::store::DataDir;

pub(crate) use audit::audit;
pub(crate) use delegate::delegate;
pub(crate) use inspect::inspect;
pub(crate) use issue::issue;
pub(crate) use keys::keys;
pub(crate) use login::login;
pub(crate) use revoke::{revocations, revoke};
pub(crate) use serve::serve;
pub(crate) use session::{logout, whoami};
pub(crate) use status_list::status_list;
pub(crate) use verify::verify;
pub(crate) use where_::where_;

/// The local issuer's audit log, in the data directory.
const AUDIT_LOG: &str = "audit.jsonl";

pub(crate) struct Context {
    pub(crate) env: Env,
    pub(crate) dir: DataDir,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Context {
    pub(crate) fn new(env: Env, dir: DataDir) -> Context {
        Context {
            env,
            dir,
            clock: Arc::new(SystemClock),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn provider(&self) -> Result<Provider, CliError> {
        let config = OidcConfig::from_env(|name| self.env.get(name))?;
        Ok(Provider::with_clock(config, self.clock.clone())?)
    }

    /// Mints one passport with the local issuer's current key: `mint` gets
    /// an issuer holding the key that is current in the store's transaction,
    /// which also records the passport's status index and the key's
    /// `max_exp` — so a rotation never lets a retired key sign, and no
    /// update is lost to a concurrent process.
    fn mint(
        &self,
        mint: impl FnOnce(&Issuer) -> Result<IssuedPassport, CliError>,
    ) -> Result<IssuedPassport, CliError> {
        let now = self.now();
        self.dir.current_key(now)?;
        let audit = self.audit_sink()?;
        let uri = self.env.status_uri();
        self.store()?
            .sign_with_current_key(now, Some(&uri), |key, allocator| {
                let mut issuer = Issuer::new(self.env.issuer(), self.dir.signing_key(&key.kid)?)
                    .with_clock(self.clock.clone())
                    .with_audit(audit);
                if let Some(allocator) = allocator {
                    issuer = issuer.with_status(allocator);
                }
                let minted = mint(&issuer)?;
                Ok(Signed {
                    iat: minted.claims().iat,
                    exp: minted.claims().exp,
                    value: minted,
                })
            })
    }

    /// The local issuer's store (`state.db`).
    fn store(&self) -> Result<Arc<Store>, CliError> {
        self.dir.store(self.now())
    }

    /// The local issuer's own revocation state, as a verifier's status source.
    fn local_status(&self) -> Result<Arc<dyn StatusSource>, CliError> {
        Ok(Arc::new(LocalStatus::new(
            self.store()?,
            self.env.status_uri(),
        )))
    }

    /// The local issuer's audit log, under the data directory.
    fn audit_sink(&self) -> Result<Arc<dyn AuditSink>, CliError> {
        self.dir.ensure()?;
        let path = self.dir.path(AUDIT_LOG);
        let sink: Arc<dyn AuditSink> = Arc::new(
            JsonLinesSink::open(&path).map_err(|e| CliError::usage(e.code(), e.to_string()))?,
        );
        Ok(crate::output::with_tracing(Some(Arc::clone(&sink))).unwrap_or(sink))
    }
}

/// A minted passport: its bundle (text), or the bundle with the new leaf's
/// identifiers (`--json`, docs/cli-json.md).
fn print_minted(minted: &IssuedPassport) {
    if !crate::output::json_mode() {
        say!("{}", minted.bundle());
        return;
    }
    let c = minted.claims();
    crate::output::emit(&serde_json::json!({
        "bundle": minted.bundle(),
        "jti": c.jti,
        "sub": c.sub,
        "iss": c.iss,
        "aud": c.aud,
        "agent_id": c.agent.agent_id,
        "tool_scope": c.agent.tool_scope.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "exp": c.exp,
        "clamped": minted.clamped(),
    }));
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed("runtime", format!("cannot start the async runtime: {e}")))
}

/// The RFC 7638 thumbprint of `--holder-key` (a public JWK; a private one is
/// refused, so a secret key never has to be handed to the issuer).
fn holder_jkt(p: &PassportArgs) -> Result<Option<String>, CliError> {
    let Some(path) = &p.holder_key else {
        return Ok(None);
    };
    let bytes = read_capped(path, MAX_JWK_BYTES, "--holder-key")?;
    let key = passport_jose::json::parse_object(&bytes, "jwk")
        .and_then(passport_jose::VerifyingKey::from_holder_jwk_map)
        .map_err(|e| CliError::usage(e.code(), format!("--holder-key {}: {e}", path.display())))?;
    let jkt = key
        .thumbprint()
        .map_err(|e| CliError::usage(e.code(), format!("--holder-key {}: {e}", path.display())))?;
    Ok(Some(jkt))
}

/// `--aud`, `--agent-id` and `--agent-model`, each refused when empty (exit
/// 2, `invalid_request`, as the issuer answered before these were types).
fn names(p: &PassportArgs) -> Result<(Audience, AgentId, AgentModel), CliError> {
    let invalid =
        |flag: &str, e: ClaimsError| CliError::usage("invalid_request", format!("{flag}: {e}"));
    Ok((
        Audience::new(p.aud.as_str()).map_err(|e| invalid("--aud", e))?,
        AgentId::new(p.agent_id.as_str()).map_err(|e| invalid("--agent-id", e))?,
        AgentModel::new(p.agent_model.as_str()).map_err(|e| invalid("--agent-model", e))?,
    ))
}

fn scopes(p: &PassportArgs) -> Result<ScopeSet, CliError> {
    ScopeSet::parse(&p.tool_scope)
        .map_err(|e| CliError::usage(e.code(), format!("--tool-scope: {e}")))
}

// ---------------------------------------------------------------- input

/// The ID token of `--id-token JWT`, `--id-token -` (stdin) or
/// `--id-token-file FILE`, trimmed; `None` when none is given.
fn id_token(args: &IdTokenArgs) -> Result<Option<String>, CliError> {
    let bytes = match (&args.id_token, &args.id_token_file) {
        (None, None) => return Ok(None),
        (Some(token), _) if token != "-" => {
            note!(
                "note: an ID token given in argv is visible to other users (the process list); prefer --id-token - or --id-token-file"
            );
            token.clone().into_bytes()
        }
        (Some(_), _) => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(CliError::usage("no_input", "--id-token - reads stdin, which is a terminal")
                    .hint("pipe the token, e.g. `passport login --id-token - < id_token.jwt`, or use --id-token-file"));
            }
            let mut bytes = Vec::new();
            stdin
                .lock()
                .take(u64::try_from(MAX_ID_TOKEN_BYTES).unwrap_or(u64::MAX) + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::usage("io_error", format!("cannot read stdin: {e}")))?;
            if bytes.len() > MAX_ID_TOKEN_BYTES {
                return Err(CliError::usage(
                    "file_too_large",
                    format!(
                        "the ID token on stdin is larger than the limit of {MAX_ID_TOKEN_BYTES} bytes"
                    ),
                ));
            }
            bytes
        }
        (None, Some(path)) => {
            read_capped(path, MAX_ID_TOKEN_BYTES, "--id-token-file").map_err(|e| {
                e.or_hint(Some(
                    "the file holds one ID token (a compact JWT) and nothing else",
                ))
            })?
        }
    };
    let token = String::from_utf8(bytes)
        .map_err(|_| CliError::usage("no_input", "the ID token is not UTF-8"))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(CliError::usage("no_input", "the ID token is empty")
            .hint("pass a compact JWT with --id-token - (stdin) or --id-token-file FILE"));
    }
    Ok(Some(token.to_owned()))
}

/// The bundle from the argument, or from stdin when it is `-` or absent.
fn read_bundle(arg: Option<&str>) -> Result<String, CliError> {
    if let Some(text) = arg.filter(|a| *a != "-") {
        return Ok(text.to_owned());
    }
    let stdin = std::io::stdin();
    if arg.is_none() && stdin.is_terminal() {
        return Err(CliError::usage("no_input", "no bundle given")
            .hint("pass it as an argument, or pipe it on stdin"));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(u64::try_from(MAX_BUNDLE_LEN).unwrap_or(u64::MAX) + 1024)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage("io_error", format!("cannot read stdin: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::usage("no_input", "stdin was empty")
            .hint("pipe a bundle, e.g. `passport issue … | passport verify …`"));
    }
    String::from_utf8(bytes).map_err(|e| {
        CliError::failed(
            "malformed_bundle",
            format!(
                "the input is not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(aud: &str, agent_id: &str, agent_model: &str) -> PassportArgs {
        PassportArgs {
            agent_id: agent_id.into(),
            agent_model: agent_model.into(),
            aud: aud.into(),
            tool_scope: Vec::new(),
            task_purpose: None,
            ttl: None,
            holder_key: None,
        }
    }

    #[test]
    fn an_empty_agent_id_is_a_usage_error_naming_its_flag() {
        let err = names(&args("https://files.example", " ", "model-a")).unwrap_err();
        assert_eq!((err.exit, err.code), (2, "invalid_request"));
        assert!(err.message.starts_with("--agent-id: "), "{}", err.message);
        let err = names(&args("", "reader", "model-a")).unwrap_err();
        assert!(err.message.starts_with("--aud: "), "{}", err.message);
        let err = names(&args("https://files.example", "reader", "")).unwrap_err();
        assert!(
            err.message.starts_with("--agent-model: "),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_names_keep_their_places() {
        let (aud, id, model) = names(&args("https://files.example", "reader", "model-a")).unwrap();
        assert_eq!(
            (aud.as_str(), id.as_str(), model.as_str()),
            ("https://files.example", "reader", "model-a")
        );
    }
}
