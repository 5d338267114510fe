//! `passport login`: sign in with the OIDC provider and store the ID token.

use std::time::Duration;

use passport_claims::{Assurance, Level};
use passport_oidc::{LoginOptions, OidcError};
use serde_json::{Value, json};

use super::{Context, id_token, runtime};
use crate::cli::LoginArgs;
use crate::error::CliError;
use crate::term::escape;
use crate::time::rfc3339;

pub(crate) fn login(ctx: &Context, args: &LoginArgs) -> Result<(), CliError> {
    let provider = ctx.provider()?;
    ctx.dir.ensure()?;
    let rt = runtime()?;
    let (id_token, assertion) = match id_token(&args.id_token)? {
        Some(token) => {
            // Never store what does not validate.
            let assertion = rt.block_on(provider.validate_id_token(&token, None))?;
            (token, assertion)
        }
        None => {
            let options = LoginOptions::new()
                .open_browser(!args.no_browser)
                .timeout(Duration::from_secs(args.timeout))
                .url_sink(|url| {
                    // The URL is built on the provider's authorization
                    // endpoint. Shown even with --quiet: without it a
                    // --no-browser login cannot finish.
                    use std::io::Write as _;
                    let _ = writeln!(
                        anstream::stderr(),
                        "Open this URL in a browser to log in:\n  {}\nWaiting for the login to finish…",
                        escape(url)
                    );
                });
            let result = rt.block_on(passport_oidc::login(&provider, options))?;
            (result.id_token.as_str().to_owned(), result.assertion)
        }
    };
    // Validation refused any `exp` that is not an integer NumericDate.
    let exp = assertion
        .raw_claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(OidcError::MissingClaim("exp"))?;
    let session = json!({
        "issuer": assertion.issuer,
        "subject": assertion.subject,
        "acr": assertion.acr,
        "levels": assertion.assurance.to_string(),
        "exp": exp,
        "stored_at": ctx.now(),
    });
    ctx.dir.save_session(&id_token, &session)?;
    note!(
        "Logged in as {} at {} ({}); the ID token expires at {}.",
        escape(&assertion.subject),
        escape(&assertion.issuer),
        assertion.assurance,
        rfc3339(exp)
    );
    if crate::output::json_mode() {
        crate::output::emit(&session_json(&session, &assertion.assurance));
    }
    Ok(())
}

/// Who is logged in, as `login --json` prints it (docs/cli-json.md): the
/// stored session's fields under the names of the claims they came from.
pub(crate) fn session_json(session: &Value, assurance: &Assurance) -> Value {
    let level = |l: Option<Level>| l.map(Level::get);
    json!({
        "sub": session.get("subject"),
        "iss": session.get("issuer"),
        "acr": session.get("acr"),
        "ial": level(assurance.ial),
        "aal": level(assurance.aal),
        "fal": level(assurance.fal),
        "expires_at": session.get("exp"),
    })
}
