//! Kill-switches (issue 14): per agent identity, principal or client.
//!
//! Engaging one ([`engage`]) first records the switch — from its commit on
//! every instance on the database refuses issuance for the subject
//! ([`check`], which every grant runs first in `admit`) — and then revokes
//! every active passport the subject holds, with their descendants, and
//! ends every refresh family that issued one, in one transaction that
//! moves the revocation epoch (so every instance's introspection cache
//! reads the registry again). A failure between the two leaves the switch
//! engaged (fail closed) and is reported; engaging again is idempotent and
//! finishes the revocation. A grant that passed [`check`] just before the
//! switch was engaged checks again once its passport is recorded
//! ([`after_record`]) and revokes it then, so no passport recorded after
//! the revocation's snapshot escapes it.
//!
//! Engaging and lifting need the `resource_owner` or the `identity_admin`
//! role (a resource owner stops what reaches its resources; an identity
//! administrator manages the identities themselves); reading the switches
//! also the `auditor` role. The check reads the database at every grant
//! (one indexed read, no cache: a switch engaged on any instance counts at
//! once); when it cannot be read, issuance is refused (503
//! `temporarily_unavailable`).

use std::sync::Arc;

use passport_store::server::{KillKind, KillSwitch, NewKillSwitch, Revoked};
use serde_json::{Value, json};

use super::Candidate;
use super::audit::{self, Action, AuditEvent, Outcome};
use super::roles::{AdminActor, AdminRole};
use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// Who may engage and lift kill-switches (and revoke passports).
pub(crate) const OPERATORS: [AdminRole; 2] = [AdminRole::ResourceOwner, AdminRole::IdentityAdmin];

/// Who may read the kill-switches and the registry.
pub(crate) const READERS: [AdminRole; 3] = [
    AdminRole::Auditor,
    AdminRole::ResourceOwner,
    AdminRole::IdentityAdmin,
];

/// The longest subject (an agent id, principal or client id) a switch
/// names, in bytes: every client id the server accepts (an agent's id is
/// its client's), a client ID metadata document URL included — a shorter
/// limit left such a client no switch but its principal's, which stops
/// every other client of that person too.
pub(crate) const MAX_SUBJECT: usize = crate::client_auth::MAX_CLIENT_ID_LEN;
/// The longest reason.
const MAX_REASON: usize = 512;

/// Refuses (403 `access_denied`, naming the roles) unless `actor` holds
/// one of `roles`.
pub(crate) fn require_any(actor: &AdminActor, roles: &[AdminRole]) -> Result<(), OAuthError> {
    if roles.iter().any(|r| actor.roles.contains(r)) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    Err(OAuthError::new(
        403,
        codes::ACCESS_DENIED,
        format!(
            "insufficient_role: this needs one of the roles {}",
            names.join(", ")
        ),
    ))
}

/// The kind named `s` (`agent`, `principal` or `client`), or 400.
pub(crate) fn kind(s: &str) -> Result<KillKind, OAuthError> {
    KillKind::parse(s).ok_or_else(|| {
        OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            "kind must be agent, principal or client",
        )
    })
}

/// `text` as a bounded, printable field, or 400 naming `what`.
fn field(what: &str, text: &str, max: usize) -> Result<String, OAuthError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            format!("{what} must be 1 to {max} characters without controls"),
        ));
    }
    Ok(text.to_owned())
}

/// `text` as a switch's subject: a [`field`] of at most [`MAX_SUBJECT`]
/// bytes (ids are bounded in bytes; stored and indexed as given).
fn checked_subject(text: &str) -> Result<String, OAuthError> {
    let subject = field("subject", text, MAX_SUBJECT)?;
    if subject.len() > MAX_SUBJECT {
        return Err(OAuthError::new(
            400,
            codes::INVALID_REQUEST,
            format!("subject must be at most {MAX_SUBJECT} bytes"),
        ));
    }
    Ok(subject)
}

fn unavailable(what: &str, e: &dyn std::error::Error) -> OAuthError {
    tracing::error!(error = %e, "{what}");
    OAuthError::new(503, codes::TEMPORARILY_UNAVAILABLE, what)
}

/// A switch engaged and what its engagement revoked.
#[derive(Debug, Clone)]
pub(crate) struct Engaged {
    /// The switch (the one engaged before, when it already was).
    pub(crate) switch: KillSwitch,
    /// The passports this call revoked.
    pub(crate) revoked: Vec<Revoked>,
}

/// Engages the kill-switch of `kind` = `subject` and revokes what it
/// holds (see the module). Needs [`OPERATORS`]. Runs to its end (audited,
/// revoked) whether or not the request waits ([`super::to_completion`]).
/// An engage of a switch already engaged is recorded and answered with
/// that switch; it revokes again (finishing a revocation that failed)
/// unless a revocation of that switch is already waiting for a place or
/// running: it then revokes nothing itself, and marks that one to run
/// once more when it ends ([`Revoking`]), so a revocation failing after
/// it is run again (review S15c-3).
///
/// # Errors
/// 403 without the role; 400 for an invalid subject or reason; 503 when
/// the database fails — after the switch was recorded, the description
/// says so (the switch stays engaged: engage again to finish).
pub(crate) async fn engage(
    server: &Server,
    actor: &AdminActor,
    kind: KillKind,
    subject: &str,
    reason: &str,
) -> Result<Engaged, OAuthError> {
    // refused at once; and an engage takes no place among the running
    // actions: it never waits behind them (review S14, finding 4)
    require_any(actor, &OPERATORS)?;
    let subject = checked_subject(subject)?;
    let reason = field("reason", reason, MAX_REASON)?;
    super::to_completion(server, actor, super::Place::Exempt, move |server, actor| async move {
        engage_to_end(&server, &actor, kind, subject, reason).await
    })
    .await
}

/// The switches (by id) whose revocation is waiting for a place or
/// running ([`engage_to_end`]), each with its "run again" mark: the
/// principal of the last engage that arrived meanwhile, if any. An engage
/// of one of them queues no revocation of its own: it sets the mark, and
/// the running one, when it ends (done or failed), runs once more
/// (review S15c-3: one that failed after such an engage was answered ran
/// nowhere again). At most one revocation of a switch runs or waits, and
/// at most one more is asked for.
#[derive(Debug, Default)]
pub(crate) struct Revoking(Arc<std::sync::Mutex<RevokingMarks>>);

/// By switch id: the principal of the engage that asked for one run more
/// since the current one began, if one did.
type RevokingMarks = std::collections::HashMap<String, Option<String>>;

/// A switch's revocation counted in [`Revoking`] until it ends
/// ([`RevokingSwitch::again`] answers `None`) or is dropped.
#[derive(Debug)]
pub(crate) struct RevokingSwitch {
    of: Arc<std::sync::Mutex<RevokingMarks>>,
    id: String,
    /// Removed from [`Revoking`] by [`RevokingSwitch::again`]: the entry
    /// under `id`, if any, is another revocation's now.
    ended: bool,
}

fn marks(of: &std::sync::Mutex<RevokingMarks>) -> std::sync::MutexGuard<'_, RevokingMarks> {
    of.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Revoking {
    /// The mark of `id`'s revocation, or `None` when one is already
    /// waiting or running: that one is then marked to run once more when
    /// it ends, for `principal` (checked and set under one lock with
    /// [`RevokingSwitch::again`]'s decision, so no mark is lost between
    /// them).
    pub(crate) fn begin(&self, id: &str, principal: &str) -> Option<RevokingSwitch> {
        let mut ids = marks(&self.0);
        if let Some(again) = ids.get_mut(id) {
            *again = Some(principal.to_owned());
            return None;
        }
        ids.insert(id.to_owned(), None);
        Some(RevokingSwitch {
            of: Arc::clone(&self.0),
            id: id.to_owned(),
            ended: false,
        })
    }
}

impl RevokingSwitch {
    /// The end of a run: the principal of the engage that asked for one
    /// more meanwhile (the mark cleared: this switch's revocation stays
    /// counted, to run again), or `None` — then it is no longer counted,
    /// and the next engage revokes on its own. Decided under the lock
    /// [`Revoking::begin`] takes, so an engage sees either this run still
    /// counted (and its mark is read here) or ended (and it revokes).
    fn again(&mut self) -> Option<String> {
        if self.ended {
            return None;
        }
        let mut ids = marks(&self.of);
        match ids.get_mut(&self.id) {
            Some(again @ Some(_)) => again.take(),
            _ => {
                ids.remove(&self.id);
                self.ended = true;
                None
            }
        }
    }
}

impl Drop for RevokingSwitch {
    fn drop(&mut self) {
        // ended by `again`, the entry (if any) is another run's
        if !self.ended {
            marks(&self.of).remove(&self.id);
        }
    }
}

/// [`engage`], on the task [`super::to_completion`] gives it:
/// the role and the fields were checked before.
async fn engage_to_end(
    server: &Server,
    actor: &AdminActor,
    kind: KillKind,
    subject: String,
    reason: String,
) -> Result<Engaged, OAuthError> {
    let id = crate::service::random_id()
        .map_err(|e| unavailable("no kill-switch id could be drawn", &e))?;
    let db = &server.inner.db;
    let now = server.inner.clock.now();
    let switch = db
        .engage_kill_switch(NewKillSwitch::new(
            id,
            kind,
            subject.clone(),
            actor.principal.clone(),
            reason,
            now,
        ))
        .await
        .map_err(|e| unavailable("the kill-switch could not be engaged", &e))?;
    // recorded before anything is revoked; unrecorded, the switch stays
    // engaged (fail closed) and the answer says so
    audit::record(
        server,
        switch_event(Action::KillSwitchEngaged, actor, &switch),
    )
    .await
    .map_err(|e| not_audited(e, kind, &subject))?;
    // a revocation of this switch already waiting for a place or running:
    // none is queued again, so engages of one switch cannot pile up
    // revocations (review S15-3); that one is marked to run once more when
    // it ends, done or failed, so that a failure after this engage was
    // answered is not left standing (review S15c-3). Answered as engaged,
    // with nothing revoked by this call: the state tells what was
    let Some(mut revoking) = server
        .inner
        .switch_revocations
        .begin(&switch.id, &actor.principal)
    else {
        return Ok(Engaged {
            switch,
            revoked: Vec::new(),
        });
    };
    // this task's runs: its own, then one more each time an engage marked
    // it meanwhile (recorded as that engage's actor's); answered with the
    // last run's outcome and all that was revoked. The same task, tracked
    // until it ends (`governance::spawn_to_end`): the shutdown waits for
    // the runs asked before its places closed (none is asked after: no
    // engage starts then)
    let mut revoked = Vec::new();
    let mut by = actor.principal.clone();
    loop {
        let run = revoke_held(server, &by, &switch.id, kind, &subject).await;
        let failed = match run {
            Ok(more) => {
                revoked.extend(more);
                None
            }
            Err(e) => Some(e),
        };
        match revoking.again() {
            Some(next) => by = next,
            None => {
                return match failed {
                    None => Ok(Engaged { switch, revoked }),
                    Some(e) => Err(e),
                };
            }
        }
    }
}

/// One revocation of what the switch `id` (of `kind` = `subject`) holds,
/// recorded as `actor`'s ([`engage_to_end`]) — only while the switch is
/// still engaged: one lifted meanwhile (a lift that got its place first,
/// or on another instance) revokes nothing and records nothing (review
/// S15d-1: it revoked the passports minted after the lift).
async fn revoke_held(
    server: &Server,
    actor: &str,
    id: &str,
    kind: KillKind,
    subject: &str,
) -> Result<Vec<Revoked>, OAuthError> {
    // the switch blocks issuance from here on; what it holds is revoked in
    // a place among the running actions, waited for here, on the action's
    // own task (its request's deadline cannot drop it): engages sent one
    // after another cannot run any number of revocations at once (review
    // S14, last read). Closed, the places are the server's shutdown
    // (`Server::shutdown`), which waits for this task: the revocation runs
    // then without a place rather than giving up (no new action starts
    // once they are closed, so none piles up; review S15-1)
    let _place = Arc::clone(&server.inner.admin_actions)
        .acquire_owned()
        .await
        .ok();
    let revoked = server
        .inner
        .db
        .revoke_while_engaged(id, server.inner.clock.now())
        .await
        .map_err(|e| {
            unavailable(
                &format!(
                    "kill-switch: {} {} is engaged (issuance is refused) but revoking what it \
                     holds failed: engage it again to finish",
                    kind.as_str(),
                    passport_jose::clip(subject, 80)
                ),
                &e,
            )
        })?;
    let Some(revoked) = revoked else {
        tracing::warn!(
            switch = id,
            kind = kind.as_str(),
            subject = %passport_jose::clip(subject, 80),
            actor = %passport_jose::clip(actor, 80),
            "kill-switch lifted before its revocation ran: nothing revoked"
        );
        return Ok(Vec::new());
    };
    audit::revoked_by_rule(server, actor, Some(KILL_SWITCH_RULE), &revoked)
        .await
        .map_err(|e| not_audited(e, kind, subject))?;
    Ok(revoked)
}

/// Lifts the engaged kill-switch of `kind` = `subject`. Needs
/// [`OPERATORS`]. Runs to its end (audited) whether or not the request
/// waits ([`super::to_completion`]).
///
/// # Errors
/// 403 without the role; 404 `invalid_request` when none is engaged; 503
/// when the database fails.
pub(crate) async fn lift(
    server: &Server,
    actor: &AdminActor,
    kind: KillKind,
    subject: &str,
) -> Result<KillSwitch, OAuthError> {
    // refused at once, without taking a place
    require_any(actor, &OPERATORS)?;
    let subject = checked_subject(subject)?;
    super::to_completion(
        server,
        actor,
        super::Place::Wait,
        move |server, actor| async move { lift_to_end(&server, &actor, kind, subject).await },
    )
    .await
}

/// [`lift`], on the task [`super::to_completion`] gives it: the role and
/// the subject were checked before.
async fn lift_to_end(
    server: &Server,
    actor: &AdminActor,
    kind: KillKind,
    subject: String,
) -> Result<KillSwitch, OAuthError> {
    no_self_lift(server, actor, kind, &subject).await?;
    let lifted = server
        .inner
        .db
        .lift_kill_switch(kind, &subject, &actor.principal, server.inner.clock.now())
        .await
        .map_err(|e| unavailable("the kill-switch could not be lifted", &e))?
        .ok_or_else(|| {
            OAuthError::new(
                404,
                codes::INVALID_REQUEST,
                format!(
                    "no kill-switch is engaged for {} {}",
                    kind.as_str(),
                    passport_jose::clip(&subject, 80)
                ),
            )
        })?;
    audit::record(
        server,
        switch_event(Action::KillSwitchLifted, actor, &lifted),
    )
    .await?;
    Ok(lifted)
}

/// Refuses (403 `self_lift`) the killed principal, and the owner of the
/// killed agent or client — its registered identity's owner or its
/// workload client's owner (`identities::owned_by`) — lifting the switch:
/// it is another administrator's decision (session-5 reviews: any
/// resource owner could lift the switch on its own agent; then the
/// workload's own principal, when the identity named another owner).
/// Fails closed (503) when the identity or client cannot be read.
async fn no_self_lift(
    server: &Server,
    actor: &AdminActor,
    kind: KillKind,
    subject: &str,
) -> Result<(), OAuthError> {
    let own = match kind {
        KillKind::Principal => subject == actor.principal,
        KillKind::Agent | KillKind::Client => {
            super::identities::owned_by(server, subject, &actor.principal).await?
        }
    };
    if own {
        return Err(OAuthError::new(
            403,
            codes::ACCESS_DENIED,
            "self_lift: the subject of a kill-switch, or its owner, may not lift it; \
             another administrator does",
        )
        .with("rule", "kill_switch.self_lift"));
    }
    Ok(())
}

/// The kill-switches, newest first (the engaged ones, or all with
/// `include_lifted`). Needs [`READERS`].
///
/// # Errors
/// 403 without the role; 503 when the database fails.
pub(crate) async fn list(
    server: &Server,
    actor: &AdminActor,
    include_lifted: bool,
    limit: u32,
) -> Result<Vec<KillSwitch>, OAuthError> {
    require_any(actor, &READERS)?;
    server
        .inner
        .db
        .kill_switches(include_lifted, limit)
        .await
        .map_err(|e| unavailable("the kill-switches could not be read", &e))
}

/// The rule audit records of a kill-switch name.
pub(crate) const KILL_SWITCH_RULE: &str = "kill-switch";

/// The audit record of `actor` engaging or lifting `switch`: its subject
/// named as agent, principal or client.
fn switch_event(action: Action, actor: &AdminActor, switch: &KillSwitch) -> AuditEvent {
    let event = AuditEvent::new(action, Outcome::Done)
        .actor(&actor.principal)
        .rule(KILL_SWITCH_RULE)
        .detail(json!({
            "switch": switch.id,
            "kind": switch.kind.as_str(),
            "subject": switch.subject,
            "reason": switch.reason,
        }));
    match switch.kind {
        KillKind::Agent => event.agent(&switch.subject),
        KillKind::Principal => event.principal(&switch.subject),
        KillKind::Client => event.client(&switch.subject),
    }
}

/// The answer when the switch is engaged but its record (or that of what
/// it revoked) could not be stored: 500, saying the switch stands.
fn not_audited(e: OAuthError, kind: KillKind, subject: &str) -> OAuthError {
    OAuthError::new(
        e.status,
        e.error,
        format!(
            "kill-switch: {} {} is engaged (issuance is refused) but the audit trail could not \
             be written: engage it again to finish",
            kind.as_str(),
            passport_jose::clip(subject, 80)
        ),
    )
}

/// A switch as the admin API shows it.
pub(crate) fn switch_json(s: &KillSwitch) -> Value {
    json!({
        "id": s.id,
        "kind": s.kind.as_str(),
        "subject": s.subject,
        "engaged": s.lifted_at.is_none(),
        "engaged_at": s.engaged_at,
        "engaged_by": s.engaged_by,
        "reason": s.reason,
        "lifted_at": s.lifted_at,
        "lifted_by": s.lifted_by,
    })
}

/// The refusal for an engaged switch: `access_denied`, `kill-switch:
/// agent X`.
fn refusal(kind: KillKind, subject: &str) -> OAuthError {
    OAuthError::new(
        400,
        codes::ACCESS_DENIED,
        format!(
            "kill-switch: {} {}",
            kind.as_str(),
            passport_jose::clip(subject, 128)
        ),
    )
}

/// The engaged switch blocking `candidate`, if any: its agent, principal
/// or client, or — for a delegated child, or one minted for an actor
/// passport — any passport's up the parent's and the actor passport's
/// links (each passport's parent and actor passport: what a revocation
/// would cascade from to it).
async fn blocking(
    server: &Server,
    candidate: &Candidate,
) -> Result<Option<(KillKind, String)>, OAuthError> {
    server
        .inner
        .db
        .engaged_kill_switch(
            candidate.parent_jti.as_deref(),
            candidate.actor_jti.as_deref(),
            &candidate.agent_id,
            &candidate.principal,
            &candidate.client_id,
        )
        .await
        .map_err(|e| {
            unavailable(
                "kill-switch: the kill-switches could not be read; issuance is refused",
                &e,
            )
        })
}

/// Refuses `candidate` when an engaged switch blocks it (400
/// `access_denied`, `kill-switch: agent X`), or when the switches cannot
/// be read (503 `temporarily_unavailable`: fail closed).
///
/// # Errors
/// As above.
pub(crate) async fn check(server: &Server, candidate: &Candidate) -> Result<(), OAuthError> {
    match blocking(server, candidate).await? {
        None => Ok(()),
        Some((kind, subject)) => {
            let refused = refusal(kind, &subject);
            audit::refusal(
                server,
                super::refused_event(candidate, &refused).rule(KILL_SWITCH_RULE),
            )
            .await;
            Err(refused)
        }
    }
}

/// [`check`] again once `jti` (minted for `candidate`) is recorded: a
/// switch engaged since the first check — whose revocation may have run
/// before this passport's row existed — revokes it here and refuses.
///
/// # Errors
/// As [`check`]; the passport is then revoked (when the database allows).
pub(crate) async fn after_record(
    server: &Server,
    candidate: &Candidate,
    jti: &str,
) -> Result<(), OAuthError> {
    let refused = match blocking(server, candidate).await {
        Ok(None) => return Ok(()),
        Ok(Some((kind, subject))) => refusal(kind, &subject),
        Err(e) => e,
    };
    let event = super::refused_event(candidate, &refused)
        .rule(KILL_SWITCH_RULE)
        .passport(jti, &candidate.agent_id);
    super::lifecycle::revoke_unhanded(server, candidate, jti, KILL_SWITCH_RULE, Some(event)).await;
    Err(refused)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use passport_store::server::PassportEntry;

    use super::*;

    fn actor(roles: &[AdminRole]) -> AdminActor {
        AdminActor {
            principal: "admin".into(),
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn operators_and_readers() {
        assert!(require_any(&actor(&[AdminRole::ResourceOwner]), &OPERATORS).is_ok());
        assert!(require_any(&actor(&[AdminRole::IdentityAdmin]), &OPERATORS).is_ok());
        for lacking in [&[AdminRole::Auditor][..], &[AdminRole::Approver], &[]] {
            let e = require_any(&actor(lacking), &OPERATORS).unwrap_err();
            assert_eq!((e.status, e.error), (403, "access_denied"));
            assert!(
                e.description.contains("resource_owner, identity_admin"),
                "{}",
                e.description
            );
        }
        assert!(require_any(&actor(&[AdminRole::Auditor]), &READERS).is_ok());
        assert!(require_any(&actor(&[AdminRole::Approver]), &READERS).is_err());
    }

    #[test]
    fn fields_are_bounded_and_printable() {
        assert_eq!(field("subject", " a ", 5).unwrap(), "a");
        for bad in ["", "   ", "a\nb", "abcdef"] {
            let e = field("subject", bad, 5).unwrap_err();
            assert_eq!((e.status, e.error), (400, "invalid_request"));
        }
        // every client id the server accepts, in bytes
        let longest = "a".repeat(crate::client_auth::MAX_CLIENT_ID_LEN);
        assert_eq!(checked_subject(&longest).unwrap(), longest);
        assert!(checked_subject(&format!("{longest}a")).is_err());
        assert!(checked_subject(&"é".repeat(MAX_SUBJECT / 2 + 1)).is_err());
        assert!(kind("agent").is_ok());
        assert_eq!(kind("Agent").unwrap_err().error, "invalid_request");
    }

    /// What the agent "bot" of alice's client "bot" asks for
    /// `https://api.example` (replacing `replaces`).
    pub(crate) fn bot_candidate(replaces: Option<&str>) -> Candidate {
        Candidate {
            agent_id: "bot".into(),
            principal: "alice".into(),
            client_id: "bot".into(),
            audience: "https://api.example".into(),
            scopes: passport_claims::ScopeSet::parse(["files:read"]).unwrap(),
            ttl: 60,
            parent_jti: None,
            actor_jti: None,
            replaces: replaces.map(str::to_owned),
        }
    }

    /// The registry row of [`bot_candidate`]'s passport `jti`, issued at
    /// `now` under `kid`.
    pub(crate) fn bot_entry(jti: &str, now: i64, kid: &str) -> PassportEntry {
        PassportEntry {
            jti: jti.into(),
            parent_jti: None,
            actor_jti: None,
            client_id: "bot".into(),
            agent_id: "bot".into(),
            principal: "alice".into(),
            audience: "https://api.example".into(),
            scopes: "files:read".into(),
            iat: now,
            exp: now + 60,
            kid: kid.into(),
            status_uri: None,
            status_idx: None,
            created_at: now,
            environment: None,
            approval_id: None,
        }
    }

    /// A passport recorded while a switch was being engaged (after the
    /// first check, before the revocation's snapshot saw it): revoked and
    /// refused, and both are in the audit trail.
    #[tokio::test]
    async fn a_mint_racing_the_switch_is_revoked_refused_and_audited() {
        use passport_audit::{Action, AuditRecord, Filter, Outcome};

        let dir = tempfile::tempdir().unwrap();
        let now = 1_700_000_000;
        let db =
            passport_store::server::Database::open(dir.path().join("s.db").to_str().unwrap(), now)
                .await
                .unwrap();
        let server = Server::builder("http://127.0.0.1:9", db)
            .build()
            .await
            .unwrap();
        let candidate = bot_candidate(None);
        // admitted first: no switch yet
        check(&server, &candidate).await.unwrap();
        let db = &server.inner.db;
        db.record_issued(bot_entry("j-racing", now, &server.kid()))
            .await
            .unwrap();
        // the switch lands between the check and the record's re-check
        db.engage_kill_switch(NewKillSwitch::new(
            "k1".into(),
            KillKind::Agent,
            "bot".into(),
            "admin".into(),
            "race".into(),
            now,
        ))
        .await
        .unwrap();
        let e = after_record(&server, &candidate, "j-racing")
            .await
            .unwrap_err();
        assert_eq!((e.status, e.error), (400, "access_denied"));
        assert!(
            db.passport("j-racing")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        let records: Vec<AuditRecord> = db
            .export_audit(&Filter::default(), 10)
            .await
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let seen: Vec<(Action, Outcome, Option<&str>, &str)> = records
            .iter()
            .map(|r| {
                (
                    r.action,
                    r.outcome,
                    r.rule.as_deref(),
                    r.links[0].jti.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    Action::Refuse,
                    Outcome::Refused,
                    Some(KILL_SWITCH_RULE),
                    "j-racing"
                ),
                (
                    Action::Revoke,
                    Outcome::Done,
                    Some(KILL_SWITCH_RULE),
                    "j-racing"
                ),
            ]
        );
        assert!(records.iter().all(|r| r.actor.as_deref() == Some("bot")));
        assert!(db.verify_audit().await.unwrap().ok());
    }

    /// Review S15c-3: an engage arriving while a switch's revocation runs
    /// marks it to run once more (the last engage's actor named); the run
    /// that ends with no mark leaves the switch uncounted, and its guard,
    /// dropped later, does not remove the next revocation's count.
    #[test]
    fn an_engage_during_a_revocation_marks_it_to_run_again() {
        let revoking = Revoking::default();
        let mut first = revoking.begin("k1", "olga").unwrap();
        assert!(revoking.begin("k1", "bob").is_none());
        assert!(revoking.begin("k1", "carol").is_none());
        // another switch is its own
        assert!(revoking.begin("k2", "olga").is_some());
        // one run more, for the last that asked; then none
        assert_eq!(first.again().as_deref(), Some("carol"));
        assert!(revoking.begin("k1", "dan").is_none());
        assert_eq!(first.again().as_deref(), Some("dan"));
        assert_eq!(first.again(), None);
        assert_eq!(first.again(), None);
        // ended: the next engage revokes on its own, and the ended guard
        // leaves its count alone
        let second = revoking.begin("k1", "bob").unwrap();
        drop(first);
        assert!(revoking.begin("k1", "olga").is_none());
        drop(second);
        assert!(revoking.begin("k1", "olga").is_some());
    }

    #[test]
    fn the_refusal_names_the_switch() {
        let e = refusal(KillKind::Agent, "agent-7");
        assert_eq!((e.status, e.error), (400, "access_denied"));
        assert_eq!(e.description, "kill-switch: agent agent-7");
    }
}
