//! The registry's lifecycle (issue 14): each passport is ACTIVE, ROTATED
//! (a successor names it), EXPIRED or REVOKED, computed when read
//! ([`state`]: REVOKED before ROTATED before EXPIRED before ACTIVE), with
//! its lineage through delegation (`parent_jti`) and rotation
//! (predecessor / successor).
//!
//! A successor is named by the refresh grant (the family's previous
//! passport) or by `replaces=<jti>` on client credentials, which
//! [`check_replaces`] admits only for a root passport of the same client
//! and audience that is neither revoked nor already replaced. The
//! predecessor is not revoked: it stays valid until it expires (calls in
//! flight finish), and its state reads ROTATED.

use passport_store::server::{Lifecycle, PassportState, RegistryFilter, RegistryListing};
use serde::Serialize;

use super::Candidate;
use super::audit::{self, Action, AuditEvent, Outcome};
use super::kill_switch::{self, READERS, require_any};
use super::roles::AdminActor;
use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// The most rows a listing returns, and the default.
pub(crate) const MAX_LIMIT: u32 = 1000;
/// The default number of rows.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

/// The state of `listing` at `now`.
pub(crate) fn state(listing: &RegistryListing, now: i64) -> Lifecycle {
    Lifecycle::of(listing, now)
}

fn invalid(why: &str) -> OAuthError {
    OAuthError::new(400, codes::INVALID_REQUEST, format!("replaces: {why}"))
}

/// Admits `replaces` for a passport of `client_id` to `audience` (400
/// `invalid_request` naming why otherwise; an unknown passport and
/// another client's are one answer, so a client learns nothing of others'
/// passports).
///
/// # Errors
/// As above; 503 when the registry cannot be read.
pub(crate) async fn check_replaces(
    server: &Server,
    client_id: &str,
    audience: &str,
    replaces: &str,
) -> Result<(), OAuthError> {
    let found = server
        .inner
        .db
        .registry_lineage(replaces)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the registry could not be read");
            OAuthError::new(
                503,
                codes::TEMPORARILY_UNAVAILABLE,
                "the registry could not be read",
            )
        })?;
    let Some(previous) = found.filter(|p| p.record.entry.client_id == client_id) else {
        return Err(invalid("not a passport issued to this client"));
    };
    let entry = &previous.record.entry;
    if previous.record.state == PassportState::Revoked {
        return Err(invalid("the passport is revoked"));
    }
    if entry.parent_jti.is_some() {
        return Err(invalid(
            "the passport is delegated: exchange its parent again instead",
        ));
    }
    if entry.audience != audience {
        return Err(invalid("the passport is for another audience"));
    }
    if previous.successor_jti.is_some() {
        return Err(invalid("the passport was already replaced"));
    }
    Ok(())
}

/// What follows the recording of `jti`, minted for `candidate`: the
/// kill-switch check again ([`kill_switch::after_record`]), then the
/// rotation lineage (the predecessor's successor).
///
/// # Errors
/// The kill-switch's refusal (the passport is then revoked); 500 when the
/// rotation could not be audited: the successor is then revoked (with
/// [`revoke_unhanded`]), so no passport never handed out stays ACTIVE.
pub(crate) async fn recorded(
    server: &Server,
    candidate: &Candidate,
    jti: &str,
) -> Result<(), OAuthError> {
    kill_switch::after_record(server, candidate, jti).await?;
    let Some(previous) = &candidate.replaces else {
        return Ok(());
    };
    match server.inner.db.set_successor(previous, jti).await {
        Ok(true) => {
            // audited before the successor is handed out
            // (the links: the successor, then its predecessor)
            let event = AuditEvent::new(Action::Rotate, Outcome::Done)
                .actor(&candidate.client_id)
                .client(&candidate.client_id)
                .principal(&candidate.principal)
                .audience(&candidate.audience)
                .passport(jti, &candidate.agent_id)
                .passport(previous, &candidate.agent_id);
            if let Err(e) = audit::record(server, event).await {
                revoke_unhanded(server, candidate, jti, UNHANDED_RULE, None).await;
                return Err(e);
            }
        }
        // a concurrent replacement named its successor first; this
        // passport stands alone (the lineage keeps the first)
        Ok(false) => tracing::warn!(
            predecessor = %previous,
            successor = %jti,
            "the predecessor already has a successor"
        ),
        // the passport is issued and recorded: only its lineage is lost
        Err(e) => tracing::error!(
            error = %e,
            predecessor = %previous,
            successor = %jti,
            "the rotation lineage could not be recorded"
        ),
    }
    Ok(())
}

/// The rule the revocation of a successor never handed out names.
pub(crate) const UNHANDED_RULE: &str = "lifecycle.rotation";

/// Revokes `jti`, minted for `candidate` and recorded but not handed out
/// (with its descendants), audited as revoked under `rule` — after
/// `first` (a refusal's record) when given; when it cannot be revoked,
/// `first` is recorded saying so (`"revoked": false`). Failures are
/// logged: the caller answers its error already.
///
/// Used for a successor whose rotation could not be audited (review 2b:
/// it stayed ACTIVE, its predecessor ROTATED; the predecessor keeps its
/// successor link — the registry names a successor once — and stays valid
/// until it expires: its holder asks again without `replaces`) and for a
/// passport caught by a kill-switch engaged while it was minted.
pub(crate) async fn revoke_unhanded(
    server: &Server,
    candidate: &Candidate,
    jti: &str,
    rule: &str,
    first: Option<AuditEvent>,
) {
    match server
        .inner
        .db
        .revoke_cascade(jti, server.inner.clock.now())
        .await
    {
        Ok(revoked) => {
            tracing::warn!(
                jti = %jti,
                agent_id = %candidate.agent_id,
                rule,
                "a passport minted but not handed out is revoked"
            );
            if let Some(first) = first {
                audit::refusal(server, first).await;
            }
            if audit::revoked_by_rule(server, &candidate.client_id, Some(rule), &revoked)
                .await
                .is_err()
            {
                tracing::error!(jti = %jti, rule, "the revocation could not be audited");
            }
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                jti = %jti,
                rule,
                "a passport minted but not handed out could not be revoked"
            );
            if let Some(first) = first {
                audit::refusal(server, first.detail(serde_json::json!({"revoked": false}))).await;
            }
        }
    }
}

/// Which registry rows an administrator lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RegistryQuery {
    /// Only this agent's.
    pub(crate) agent: Option<String>,
    /// Only this principal's.
    pub(crate) principal: Option<String>,
    /// Only those in this state.
    pub(crate) state: Option<Lifecycle>,
    /// At most this many (1 ..= [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when 0).
    pub(crate) limit: u32,
}

/// One registry row as administrators see it (the dashboard renders the
/// rows as a tree by `parent_jti`, and rotations by
/// `predecessor_jti` / `successor_jti`; `actor_jti` names the actor
/// passport it was minted for, whose revocation revokes it too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RegistryEntry {
    pub(crate) jti: String,
    pub(crate) state: &'static str,
    pub(crate) parent_jti: Option<String>,
    pub(crate) actor_jti: Option<String>,
    pub(crate) predecessor_jti: Option<String>,
    pub(crate) successor_jti: Option<String>,
    pub(crate) agent_id: String,
    pub(crate) principal: String,
    pub(crate) client_id: String,
    pub(crate) audience: String,
    pub(crate) scopes: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    /// Seconds left (0 once expired).
    pub(crate) expires_in: i64,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) revoked_reason: Option<&'static str>,
}

fn entry(listing: RegistryListing, now: i64) -> RegistryEntry {
    let state = state(&listing, now).as_str();
    let RegistryListing {
        record,
        successor_jti,
        predecessor_jti,
        ..
    } = listing;
    let e = record.entry;
    RegistryEntry {
        jti: e.jti,
        state,
        parent_jti: e.parent_jti,
        actor_jti: e.actor_jti,
        predecessor_jti,
        successor_jti,
        agent_id: e.agent_id,
        principal: e.principal,
        client_id: e.client_id,
        audience: e.audience,
        scopes: e.scopes,
        iat: e.iat,
        exp: e.exp,
        expires_in: e.exp.saturating_sub(now).max(0),
        revoked_at: record.revoked_at,
        revoked_reason: record.revoked_reason.map(|r| match r {
            passport_store::server::RevocationReason::Direct => "direct",
            _ => "cascaded",
        }),
    }
}

/// The registry rows `query` selects, newest first, with state and
/// lineage. Needs the `auditor`, `resource_owner` or `identity_admin` role.
///
/// # Errors
/// 403 without the role; 503 when the registry cannot be read.
pub(crate) async fn list(
    server: &Server,
    actor: &AdminActor,
    query: RegistryQuery,
) -> Result<Vec<RegistryEntry>, OAuthError> {
    require_any(actor, &READERS)?;
    let now = server.inner.clock.now();
    let mut filter = RegistryFilter::newest(match query.limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    });
    filter.agent_id = query.agent;
    filter.principal = query.principal;
    filter.state = query.state;
    let rows = server
        .inner
        .db
        .registry_listing(filter, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the registry could not be read");
            OAuthError::new(
                503,
                codes::TEMPORARILY_UNAVAILABLE,
                "the registry could not be read",
            )
        })?;
    Ok(rows.into_iter().map(|l| entry(l, now)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::audit::tests::server;
    use super::super::kill_switch::tests::{bot_candidate, bot_entry};
    use super::*;

    const NOW: i64 = 1_700_000_000;

    /// The rotation's record cannot be stored (a trigger refuses it, and
    /// only it): the mint answers 500 and the successor, recorded but
    /// never handed out, is REVOKED, not ACTIVE.
    #[tokio::test]
    async fn a_successor_whose_rotation_is_not_audited_is_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&dir).await;
        let db = &server.inner.db;
        for jti in ["j-old", "j-new"] {
            db.record_issued(bot_entry(jti, NOW, "k")).await.unwrap();
        }
        db.execute_script_for_tests(
            "CREATE TRIGGER no_rotate BEFORE INSERT ON audit_log \
             WHEN instr(NEW.line, '\"action\":\"rotate\"') > 0 \
             BEGIN SELECT RAISE(ABORT, 'rotation refused'); END",
        )
        .await
        .unwrap();
        let candidate = bot_candidate(Some("j-old"));
        let e = recorded(&server, &candidate, "j-new").await.unwrap_err();
        assert_eq!((e.status, e.error), (500, codes::SERVER_ERROR));
        let now = server.inner.clock.now();
        let successor = db.registry_lineage("j-new").await.unwrap().unwrap();
        assert!(successor.record.revoked_at.is_some());
        assert_eq!(state(&successor, now), Lifecycle::Revoked);
        // and its revocation is in the trail, naming the rule
        let revokes: Vec<passport_audit::AuditRecord> = db
            .export_audit(&passport_audit::Filter::default(), 10)
            .await
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|r: &passport_audit::AuditRecord| r.action == Action::Revoke)
            .collect();
        assert_eq!(revokes.len(), 1);
        assert_eq!(revokes[0].rule.as_deref(), Some(UNHANDED_RULE));
        assert_eq!(revokes[0].links[0].jti, "j-new");
    }
}
