//! An administrator revokes a passport: the existing cascade (the passport
//! and every descendant, in the registry and so on the status list) and the
//! end of the refresh family that issued it, if any. The admin API and the
//! dashboard both call [`revoke_passport`].

use passport_store::StoreError;

use super::audit::{self, Action, AuditEvent, Outcome};
use super::events::{Event, publish};
use super::kill_switch::{OPERATORS, require_any};
use super::roles::AdminActor;
use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// The rule an administrator's revocation is audited under.
const ADMIN_REVOKE: &str = "admin.revoke";

/// Revokes `jti` and its descendants for `actor`, who needs the
/// `resource_owner` or `identity_admin` role (as `/revoke`, RFC 7009,
/// revokes it — whoever it was issued to — and the refresh family that
/// issued it ends); the `jti`s this call revoked, the named one first
/// (empty when it was already revoked). Answered only once audited: each
/// revoked passport (or, when there was none left to revoke, the request)
/// is recorded naming the administrator.
///
/// Runs to its end whether or not the request waits
/// ([`super::to_completion`]).
///
/// # Errors
/// 403 without the role, 404 `invalid_request` for an unknown `jti`, 500
/// when the database fails or the audit trail cannot be written.
pub(crate) async fn revoke_passport(
    server: &Server,
    actor: &AdminActor,
    jti: &str,
) -> Result<Vec<String>, OAuthError> {
    // refused at once, without taking a place
    require_any(actor, &OPERATORS)?;
    let jti = jti.to_owned();
    super::to_completion(
        server,
        actor,
        super::Place::Wait,
        move |server, actor| async move { revoke_to_end(&server, &actor, &jti).await },
    )
    .await
}

/// [`revoke_passport`], on the task [`super::to_completion`] gives it:
/// the role was checked before.
async fn revoke_to_end(
    server: &Server,
    actor: &AdminActor,
    jti: &str,
) -> Result<Vec<String>, OAuthError> {
    let unknown = || {
        OAuthError::new(
            404,
            codes::INVALID_REQUEST,
            "no passport of this server has this jti",
        )
    };
    if jti.len() > 256 {
        return Err(unknown());
    }
    crate::endpoints::end_family_of(server, jti).await?;
    let now = server.inner.clock.now();
    let revoked = match server.inner.db.revoke_cascade(jti, now).await {
        Ok(revoked) => revoked,
        Err(StoreError::UnknownRecord(_)) => return Err(unknown()),
        Err(e) => {
            tracing::error!(error = %e, "an administrator's revocation failed");
            return Err(OAuthError::new(
                500,
                codes::SERVER_ERROR,
                "the revocation failed",
            ));
        }
    };
    let jtis: Vec<String> = revoked.iter().map(|r| r.jti.clone()).collect();
    publish(server, Event::Revoked { jtis: jtis.clone() });
    if revoked.is_empty() {
        // revoked already (perhaps by the family's end just now): the
        // administrator's request is recorded all the same
        let mut event = AuditEvent::new(Action::Revoke, Outcome::Done)
            .actor(&actor.principal)
            .rule(ADMIN_REVOKE)
            .detail(serde_json::json!({ "already_revoked": true }));
        event = match server.inner.db.passport(jti).await {
            Ok(Some(row)) => event
                .passport(jti, &row.entry.agent_id)
                .principal(&row.entry.principal)
                .client(&row.entry.client_id),
            _ => event.passport(jti, ""),
        };
        audit::record(server, event).await?;
    } else {
        audit::revoked_by_rule(server, &actor.principal, Some(ADMIN_REVOKE), &revoked).await?;
    }
    Ok(jtis)
}
