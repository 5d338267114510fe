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
/// rotation could not be audited (the successor is not handed out).
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
            audit::record(server, event).await?;
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
/// `predecessor_jti` / `successor_jti`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RegistryEntry {
    pub(crate) jti: String,
    pub(crate) state: &'static str,
    pub(crate) parent_jti: Option<String>,
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
