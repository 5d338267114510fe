//! `passport whoami` and `passport logout`: the stored login.

use passport_claims::{Assurance, Level};
use serde_json::{Map, Value, json};

use super::Context;
use super::login::session_json;
use crate::error::CliError;
use crate::output;
use crate::store::Session;
use crate::term::escape;
use crate::time::rfc3339;

/// The stored login, refused with exit 4 when there is none or it has
/// expired.
pub(super) fn stored_login(ctx: &Context) -> Result<Session, CliError> {
    let Some((token, session)) = ctx.dir.session()? else {
        return Err(CliError::login_required(
            "no_session",
            "not logged in: no ID token is stored",
        ));
    };
    let exp = session.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp <= ctx.now() {
        return Err(CliError::login_required(
            "id_token_expired",
            format!("the stored ID token expired at {}", rfc3339(exp)),
        ));
    }
    Ok((token, session))
}

/// What `passport whoami` says about a stored login: `(label, value)` lines.
fn describe(session: &Map<String, Value>, now: i64) -> Vec<(&'static str, String)> {
    let text = |key: &str| session.get(key).and_then(Value::as_str).unwrap_or("-");
    let exp = session.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let left = exp.saturating_sub(now).max(0);
    vec![
        ("subject", text("subject").to_owned()),
        ("provider", text("issuer").to_owned()),
        ("levels", text("levels").to_owned()),
        ("acr", text("acr").to_owned()),
        (
            "until",
            format!(
                "{} (in {}h {:02}m)",
                rfc3339(exp),
                left / 3600,
                left % 3600 / 60
            ),
        ),
    ]
}

/// The levels of a stored session's `levels` (`IAL2 AAL- FAL1`, as
/// [`Assurance`] displays them).
fn stored_levels(session: &Map<String, Value>) -> Assurance {
    let levels = session.get("levels").and_then(Value::as_str).unwrap_or("");
    let level = |prefix: &str| {
        levels
            .split_whitespace()
            .find_map(|word| word.strip_prefix(prefix))
            .and_then(|n| n.parse::<u8>().ok())
            .and_then(Level::new)
    };
    Assurance {
        ial: level("IAL"),
        aal: level("AAL"),
        fal: level("FAL"),
    }
}

pub(crate) fn whoami(ctx: &Context) -> Result<(), CliError> {
    let (_, session) = stored_login(ctx)?;
    if output::json_mode() {
        let mut value = session_json(&Value::Object(session.clone()), &stored_levels(&session));
        let exp = session.get("exp").and_then(Value::as_i64).unwrap_or(0);
        value["expires_in"] = exp.saturating_sub(ctx.now()).max(0).into();
        output::emit(&value);
        return Ok(());
    }
    for (label, value) in describe(&session, ctx.now()) {
        say!("{label:<9}{}", escape(&value));
    }
    Ok(())
}

pub(crate) fn logout(ctx: &Context) -> Result<(), CliError> {
    let forgotten = ctx.dir.forget_session()?;
    if forgotten {
        note!("Logged out: the stored ID token is deleted.");
    } else {
        note!("Not logged in; nothing to forget.");
    }
    if output::json_mode() {
        output::emit(&json!({ "logged_out": forgotten }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn whoami_names_who_where_which_levels_and_until_when() {
        let session = json!({
            "issuer": "https://idp.example",
            "subject": "alice",
            "acr": "urn:acr:2",
            "levels": "IAL2 AAL2 FAL1",
            "exp": 1_800_003_900_i64,
        });
        let lines = super::describe(session.as_object().unwrap(), 1_800_000_000);
        let get = |l: &str| lines.iter().find(|(k, _)| *k == l).unwrap().1.clone();
        assert_eq!(get("subject"), "alice");
        assert_eq!(get("provider"), "https://idp.example");
        assert_eq!(get("levels"), "IAL2 AAL2 FAL1");
        assert!(get("until").ends_with("(in 1h 05m)"), "{}", get("until"));
    }

    #[test]
    fn stored_levels_read_back_as_numbers() {
        use passport_claims::{Assurance, Level};
        let levels =
            |text: &str| super::stored_levels(json!({ "levels": text }).as_object().unwrap());
        assert_eq!(
            levels("IAL2 AAL- FAL1"),
            Assurance {
                ial: Some(Level::TWO),
                aal: None,
                fal: Some(Level::ONE)
            }
        );
        assert_eq!(
            levels(&Assurance::uniform(Level::THREE).to_string()),
            Assurance::uniform(Level::THREE)
        );
        assert_eq!(levels("IAL9 garbage"), Assurance::none());
        assert_eq!(
            super::stored_levels(&serde_json::Map::new()),
            Assurance::none()
        );
    }
}
