//! An administrator revokes a passport: the existing cascade (the passport
//! and every descendant, in the registry and so on the status list) and the
//! end of the refresh family that issued it, if any.

use passport_store::StoreError;

use super::events::{Event, publish};
use super::roles::{AdminActor, AdminRole};
use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// Revokes `jti` and its descendants for `actor`, who needs the
/// `resource_owner` role; the `jti`s this call revoked, the named one
/// first (empty when it was already revoked).
///
/// # Errors
/// 403 without the role, 404 `invalid_request` for an unknown `jti`, 500
/// when the database fails.
pub(crate) async fn revoke_passport(
    server: &Server,
    actor: &AdminActor,
    jti: &str,
) -> Result<Vec<String>, OAuthError> {
    actor.require(AdminRole::ResourceOwner)?;
    crate::endpoints::end_family_of(server, jti).await?;
    let now = server.inner.clock.now();
    let revoked = match server.inner.db.revoke_cascade(jti, now).await {
        Ok(revoked) => revoked,
        Err(StoreError::UnknownRecord(_)) => {
            return Err(OAuthError::new(
                404,
                codes::INVALID_REQUEST,
                "no passport with this jti in the registry",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "an administrator's revocation failed");
            return Err(OAuthError::new(
                500,
                codes::SERVER_ERROR,
                "the revocation failed",
            ));
        }
    };
    let jtis: Vec<String> = revoked.into_iter().map(|r| r.jti).collect();
    // audit: an administrator revoked a passport (the hash-chained trail
    // takes this record over in round 2: governance::audit)
    tracing::info!(
        target: "passport_server::audit",
        action = "admin.revoke",
        actor = %actor.principal,
        jti = %jti,
        revoked = jtis.len(),
        "administrator revoked a passport"
    );
    publish(server, Event::Revoked { jtis: jtis.clone() });
    Ok(jtis)
}
