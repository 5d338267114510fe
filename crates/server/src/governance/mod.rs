//! Governance (SPEC §8, issue 14): what may be minted, for whom, for how
//! long, and who decides.
//!
//! Every grant asks [`admit`] before it signs: the grant describes what it
//! is about to mint as a [`Candidate`], and gets back an [`Admission`] (the
//! lifetime to sign with, the environment, the approval it cites) or the
//! refusal to answer with. Without a policy every candidate is admitted as
//! asked, which is the token service of SPEC §7 alone.
//!
//! The parts, each in its own module:
//! - [`roles`]: administrators' roles and the mapping from the upstream
//!   provider's claim.
//! - [`policy`]: the policy file (environments, TTL caps, audiences,
//!   grants, approval), validated on load and reloaded when it changes.
//! - [`identities`]: agent identities, registered by identity
//!   administrators.
//! - [`approvals`]: requests for environments that need approval, and
//!   approvers' decisions.
//! - [`audit`]: the tamper-evident audit trail every module records to.
//! - [`events`]: the in-process broadcast of registry changes the
//!   dashboard's server-sent events follow.
//! - [`revocation`]: an administrator revokes a passport.

// A skeleton: the governance modules read these as they land.
#![allow(dead_code)]

pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod events;
pub(crate) mod identities;
pub(crate) mod kill_switch;
pub(crate) mod lifecycle;
pub(crate) mod policy;
pub(crate) mod revocation;
pub(crate) mod roles;

use passport_claims::ScopeSet;

use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// What a grant is about to mint, as governance sees it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// The holder (`agent.agent_id`).
    pub(crate) agent_id: String,
    /// The principal (`sub`).
    pub(crate) principal: String,
    /// The client that asked.
    pub(crate) client_id: String,
    /// The requested resource (`aud`).
    pub(crate) audience: String,
    /// The scopes the grant would give (already within the client's).
    pub(crate) scopes: ScopeSet,
    /// The lifetime the grant would give, in seconds (already clamped by
    /// the grant's own rules).
    pub(crate) ttl: u64,
    /// The parent, for a delegated child.
    pub(crate) parent_jti: Option<String>,
    /// The actor passport it is minted for (RFC 8693 `actor_token`), if
    /// any: recorded with it, so that revoking that passport revokes it,
    /// and walked up like the parent by the kill-switch check.
    pub(crate) actor_jti: Option<String>,
    /// The predecessor this passport replaces (a rotation), if named.
    pub(crate) replaces: Option<String>,
}

/// What governance allows a [`Candidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admission {
    /// The lifetime to sign with: the candidate's, capped by policy.
    pub(crate) ttl: u64,
    /// The environment whose policy applied, if any.
    pub(crate) environment: Option<String>,
    /// The approval the passport is issued under, if one was needed.
    pub(crate) approval_id: Option<String>,
}

impl Admission {
    /// The candidate as asked: no policy applied.
    fn as_asked(candidate: &Candidate) -> Admission {
        Admission {
            ttl: candidate.ttl,
            environment: None,
            approval_id: None,
        }
    }
}

/// How many administrators' actions run at once ([`to_completion`]): more
/// wait for one to end. An operator who hangs up and sends again cannot
/// pile up concurrent revocations.
pub(crate) const MAX_RUNNING_ACTIONS: usize = 8;

tokio::task_local! {
    /// Set, in a request's future, once [`to_completion`] has handed the
    /// request's action to a task of its own (see [`noting_actions`]).
    static ACTION_ACCEPTED: std::sync::Arc<std::sync::atomic::AtomicBool>;
}

/// Runs a request's future `work`, setting `accepted` once an action
/// within it is handed to [`to_completion`]'s task: the deadline
/// (`endpoints::deadline`) then knows the action goes on without the
/// request, and says so.
pub(crate) async fn noting_actions<F: std::future::Future>(
    accepted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    work: F,
) -> F::Output {
    ACTION_ACCEPTED.scope(accepted, work).await
}

/// Whether an administrator's action waits for a place among the
/// [`MAX_RUNNING_ACTIONS`] ([`to_completion`]), and whether it is charged
/// to its actor's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Waits for a place: every action but the two below.
    Wait,
    /// Takes none: a kill-switch engage (its first write is what blocks
    /// issuance: it must not wait behind long actions, nor be dropped at
    /// its deadline while it waits). Its switch and its record are written
    /// at once; the revocation of what it holds then waits for a place on
    /// the engage's own task (so engages sent one after another cannot run
    /// any number of revocations at once; review S14, governance finding
    /// 4, and the last read). Charged to its actor's rate of engages, a
    /// bucket of its own ([`Bucket::Engages`]): what bounds the engages
    /// one operator sends, and so the revocations waiting for a place
    /// (review S15-3), without the operator's other actions using it up
    /// (review S15c-2).
    Exempt,
    /// Takes none and is not charged to the actor's rate: a logout (one
    /// delete and one record; ending one's own session is never refused
    /// for the rate).
    Free,
}

/// Runs an administrator's action — `action` given its own handle on the
/// server and `actor` — to its end on a task of its own, and answers its
/// result.
///
/// A request's future is dropped at its deadline (`endpoints::deadline`)
/// or when the client hangs up, and an action awaited inside it stopped
/// at whichever await it had reached: after its write committed (the
/// database carries on with a write it was given) and before the steps
/// that follow — the audit record, the revocation of what a kill-switch
/// holds. Spawned, the action is no longer the request's: it runs to its
/// end whether or not anyone waits for the answer (a request past its
/// deadline is answered that the action was handed over and is still
/// running). Every action that changes the governance state runs through
/// here, from the API and the dashboard alike. At most
/// [`MAX_RUNNING_ACTIONS`] run at once ([`Place::Wait`]): the request
/// waits for a place, and an action whose request ends while it waits
/// never starts. The caller checks the actor's role before (an actor
/// without it is refused at once, without taking a place); a kill-switch
/// engage and a logout take none ([`Place::Exempt`], [`Place::Free`]).
/// Every action but a logout is first charged to its actor's rate
/// ([`limit`]: 429 past it, before any place is taken): an engage to its
/// actor's bucket of engages, every other action to its actor's bucket of
/// actions ([`Bucket`]).
///
/// Once the server is shutting down ([`Server::shutdown`]) no action
/// starts: it is answered 503 at once, or when it was waiting for a
/// place. An action handed over before runs to its end during the drain
/// (the shutdown waits for it).
///
/// # Errors
/// The action's own; 429 `temporarily_unavailable` (with `Retry-After`)
/// past the actor's rate; 503 `temporarily_unavailable` when the server is
/// shutting down (nothing was done); 500 `server_error` when its task
/// panicked (or the runtime is shutting down): what it did is in the
/// state and the audit trail, as far as it got.
pub(crate) async fn to_completion<T, F, Fut>(
    server: &Server,
    actor: &roles::AdminActor,
    place: Place,
    action: F,
) -> Result<T, OAuthError>
where
    F: FnOnce(Server, roles::AdminActor) -> Fut,
    Fut: std::future::Future<Output = Result<T, OAuthError>> + Send + 'static,
    T: Send + 'static,
{
    // closed by `Server::shutdown`: from then on no action starts, of any
    // place (those handed over before run to their end)
    if server.inner.admin_actions.is_closed() {
        return Err(shutting_down());
    }
    match place {
        Place::Wait => limit(server, actor, Bucket::Actions).await?,
        Place::Exempt => limit(server, actor, Bucket::Engages).await?,
        Place::Free => {}
    }
    let permit = match place {
        Place::Wait => Some(
            std::sync::Arc::clone(&server.inner.admin_actions)
                .acquire_owned()
                .await
                .map_err(|_| shutting_down())?,
        ),
        Place::Exempt | Place::Free => None,
    };
    let running = action(server.clone(), actor.clone());
    let done = spawn_to_end(server, "action", move |_| async move {
        let result = running.await;
        drop(permit);
        result
    });
    // outside a request (none in the scope) nothing is noted
    let _ = ACTION_ACCEPTED.try_with(|accepted| {
        accepted.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    done.await
}

/// An administrator's two buckets ([`Server`]'s `admin_rate_limit`,
/// each at that rate): its kill-switch engages have one of their own, so
/// that a burst of its other actions (lifts, revocations, decisions, as
/// in an incident) never leaves its emergency stop refused (review
/// S15c-2); each stays bounded (review S15-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    /// Every charged action but an engage ([`Place::Wait`]).
    Actions,
    /// Kill-switch engages ([`Place::Exempt`]).
    Engages,
}

impl Bucket {
    /// As the record of a refusal names it.
    fn name(self) -> &'static str {
        match self {
            Bucket::Actions => "actions",
            Bucket::Engages => "kill_switch_engages",
        }
    }
}

/// Charges one action to `actor`'s `bucket` ([`Server`]'s
/// `admin_rate_limit`): refused, 429 `temporarily_unavailable` with
/// `Retry-After`. The first refusal of a run is recorded (action
/// `refuse`, rule [`ADMIN_RATE_RULE`], the actor and the bucket named);
/// the ones after it, until one of the actor's actions is accepted again
/// from that bucket, are logged only: a flood of refused requests writes
/// one record per bucket, not one each.
async fn limit(
    server: &Server,
    actor: &roles::AdminActor,
    bucket: Bucket,
) -> Result<(), OAuthError> {
    let limited = &server.inner.admin_limited;
    let limiter = &server.inner.admin_limiter;
    let charged = match bucket {
        Bucket::Actions => limiter.check_actor(&actor.principal),
        Bucket::Engages => limiter.check_engager(&actor.principal),
    };
    let Err(e) = charged else {
        limited.accepted(bucket, &actor.principal);
        return Ok(());
    };
    let refused = e.oauth();
    if limited.first_refusal(bucket, &actor.principal) {
        audit::refusal(
            server,
            audit::AuditEvent::new(audit::Action::Refuse, audit::Outcome::Refused)
                .actor(&actor.principal)
                .principal(&actor.principal)
                .rule(ADMIN_RATE_RULE)
                .error(refused.error)
                .detail(serde_json::json!({
                    "retry_after": e.retry_after(),
                    "bucket": bucket.name(),
                })),
        )
        .await;
    } else {
        tracing::warn!(
            actor = %passport_jose::clip(&actor.principal, 80),
            bucket = bucket.name(),
            "an administrator's action refused for the rate"
        );
    }
    Err(refused)
}

/// The rule the record of an administrator's action refused for its rate
/// names.
pub(crate) const ADMIN_RATE_RULE: &str = "admin_rate_limit";

/// The most administrators (by bucket) [`Limited`] remembers: past it, a
/// refusal is logged and not recorded (the administrators are the principals the
/// role mapping names; this is far above their number).
const MAX_LIMITED: usize = 4096;

/// The administrators refused for their rate whose refusal was recorded,
/// and who have had no action accepted since ([`limit`]), by [`Bucket`].
#[derive(Debug, Default)]
pub(crate) struct Limited(std::sync::Mutex<std::collections::HashSet<(Bucket, String)>>);

impl Limited {
    fn set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<(Bucket, String)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this refusal of `principal` from `bucket` is the first
    /// since its last action accepted from it (to be recorded).
    fn first_refusal(&self, bucket: Bucket, principal: &str) -> bool {
        let mut set = self.set();
        if set.len() >= MAX_LIMITED {
            return false;
        }
        set.insert((bucket, principal.to_owned()))
    }

    /// `principal`'s action from `bucket` was accepted: its next refusal
    /// from it is recorded.
    fn accepted(&self, bucket: Bucket, principal: &str) {
        let mut set = self.set();
        if !set.is_empty() {
            set.remove(&(bucket, principal.to_owned()));
        }
    }
}

/// Spawns `work` (given its own handle on the server) at once on a task
/// of its own, so that it runs to its end
/// whether or not anyone awaits the answer (a request dropped at its
/// deadline, or whose client hung up, stops only its own future), and
/// gives the future of its result: `work`'s own, or 500 `server_error`
/// naming `what` when its task panicked (or the runtime is shutting down)
/// — what it did is in the state and the audit trail, as far as it got.
/// The task is tracked ([`Running`]) from here until it ends:
/// [`Server::shutdown`] waits for it (review S15-1: an untracked task was
/// dropped with the runtime once `serve` returned). Used by
/// [`to_completion`] and by the token endpoint's revocations of a refresh
/// family or a code's grant.
pub(crate) fn spawn_to_end<T, W, F>(
    server: &Server,
    what: &'static str,
    work: W,
) -> impl std::future::Future<Output = Result<T, OAuthError>> + use<T, W, F>
where
    W: FnOnce(Server) -> F,
    F: std::future::Future<Output = Result<T, OAuthError>> + Send + 'static,
    T: Send + 'static,
{
    // counted before the task exists: a shutdown that starts now waits
    let tracked = server.inner.running.track(what);
    let work = work(server.clone());
    let task = tokio::spawn(async move {
        let result = work.await;
        drop(tracked);
        result
    });
    async move {
        task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "{what} ended abnormally");
            Err(OAuthError::new(
                500,
                codes::SERVER_ERROR,
                format!("the {what} ended abnormally: read the state before trying again"),
            ))
        })
    }
}

/// The tasks [`spawn_to_end`] started that have not ended yet, each by
/// what it does: what [`Server::shutdown`] waits for.
#[derive(Debug, Default)]
pub(crate) struct Running {
    tasks: std::sync::Mutex<RunningTasks>,
    /// Notified when the last one ends.
    idle: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct RunningTasks {
    next: u64,
    what: std::collections::BTreeMap<u64, &'static str>,
}

/// One task counted in [`Running`] until this is dropped (its end, or
/// the runtime dropping it).
#[derive(Debug)]
pub(crate) struct Tracked {
    running: std::sync::Arc<Running>,
    id: u64,
}

impl Running {
    fn tasks(&self) -> std::sync::MutexGuard<'_, RunningTasks> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one task doing `what` until the guard is dropped.
    pub(crate) fn track(self: &std::sync::Arc<Self>, what: &'static str) -> Tracked {
        let mut tasks = self.tasks();
        let id = tasks.next;
        tasks.next += 1;
        tasks.what.insert(id, what);
        Tracked {
            running: std::sync::Arc::clone(self),
            id,
        }
    }

    /// What the tasks still running do (one name per task).
    pub(crate) fn unfinished(&self) -> Vec<&'static str> {
        self.tasks().what.values().copied().collect()
    }

    /// Returns once no task is running (at once when none is).
    pub(crate) async fn all_ended(&self) {
        loop {
            let mut idle = std::pin::pin!(self.idle.notified());
            // registered before the check: an end in between is not missed
            idle.as_mut().enable();
            if self.tasks().what.is_empty() {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut tasks = self.running.tasks();
        tasks.what.remove(&self.id);
        if tasks.what.is_empty() {
            drop(tasks);
            self.running.idle.notify_waiters();
        }
    }
}

/// The answer to an action sent once the server is shutting down
/// ([`Server::shutdown`] closed the places): nothing of it was done.
fn shutting_down() -> OAuthError {
    OAuthError::new(
        503,
        codes::TEMPORARILY_UNAVAILABLE,
        "the server is shutting down: the action was not started; send it again once the \
         server is back",
    )
}

/// An approver's decision ([`approvals::decide`]), run to its end
/// whether or not the request waits ([`to_completion`]): the API and the
/// dashboard both decide through here.
///
/// # Errors
/// As [`approvals::decide`]'s.
pub(crate) async fn decide(
    server: &Server,
    actor: &roles::AdminActor,
    id: &str,
    approve: bool,
) -> Result<passport_store::server::ApprovalRecord, OAuthError> {
    // refused at once, without taking a place
    actor.require(roles::AdminRole::Approver)?;
    let id = id.to_owned();
    to_completion(
        server,
        actor,
        Place::Wait,
        move |server, actor| async move { approvals::decide(&server, &actor, &id, approve).await },
    )
    .await
}

/// The administrators' role mapping in force (the policy file's
/// `[administrators]`; none without a policy: nobody has a role).
pub(crate) fn role_mapping(server: &Server) -> std::sync::Arc<roles::RoleMapping> {
    match &server.inner.policy {
        Some(handle) => std::sync::Arc::clone(&handle.current().administrators),
        None => server.inner.admin_roles.clone().unwrap_or_default(),
    }
}

/// A refusal by the policy: `error_description` starts with `policy:
/// RULE:`, and the body names the rule.
fn refusal(status: u16, error: &'static str, rule: &str, why: &str) -> OAuthError {
    OAuthError::new(status, error, format!("policy: {rule}: {why}")).with("rule", rule)
}

/// The audit record of `candidate` refused with `e`: action `refuse`,
/// the client as actor, the rule and approval the refusal names.
pub(crate) fn refused_event(candidate: &Candidate, e: &OAuthError) -> audit::AuditEvent {
    let member = |name: &str| {
        e.extra
            .as_ref()
            .and_then(|m| m.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let mut event = audit::AuditEvent::new(audit::Action::Refuse, audit::Outcome::Refused)
        .actor(&candidate.client_id)
        .client(&candidate.client_id)
        .agent(&candidate.agent_id)
        .principal(&candidate.principal)
        .audience(&candidate.audience)
        .error(e.error)
        .approval(member("approval_id").as_deref());
    if let Some(rule) = member("rule") {
        event = event.rule(&rule);
    }
    event
}

/// Decides whether `candidate` may be minted, and how.
///
/// # Errors
/// The OAuth error to answer with when governance refuses.
///
/// With a policy, in order: the environment is the one whose audiences
/// hold the candidate's audience (none: `invalid_target`, rule
/// `environments`); the agent identity must be registered and active
/// (`access_denied`, rule `identities`); every scope must be implied by
/// the grants naming the agent or one of its roles (`invalid_scope`, rule
/// `environments.NAME.grants`, naming the scopes beyond); the lifetime is
/// capped to the environment's `max_ttl`; and an environment with
/// `approval = true` needs a standing approval
/// ([`approvals::admit_under`]). A delegated child is checked as any
/// passport, for its own agent. Every refusal is audited (action
/// `refuse`, naming the rule) before it is answered.
pub(crate) async fn admit(server: &Server, candidate: &Candidate) -> Result<Admission, OAuthError> {
    kill_switch::check(server, candidate).await?;
    let Some(handle) = &server.inner.policy else {
        return Ok(Admission::as_asked(candidate));
    };
    let policy = handle.current();
    let checked = async {
        let Some(env) = policy.environment_for(&candidate.audience) else {
            return Err(refusal(
                400,
                codes::INVALID_TARGET,
                "environments",
                "the resource belongs to no environment of the policy",
            ));
        };
        let identity = identities::active(server, &candidate.agent_id).await?;
        let beyond = policy::beyond(
            &candidate.scopes,
            &env.granted(&identity.agent_id, &identity.roles),
        );
        if !beyond.is_empty() {
            let rule = format!("environments.{}.grants", env.name);
            return Err(refusal(
                400,
                codes::INVALID_SCOPE,
                &rule,
                &format!("not granted to this agent: {}", beyond.join(" ")),
            ));
        }
        Ok(env)
    }
    .await;
    let env = match checked {
        Ok(env) => env,
        Err(e) => {
            audit::refusal(server, refused_event(candidate, &e)).await;
            return Err(e);
        }
    };
    let approval_id = if env.approval {
        // refusals there are audited there (pending, denied)
        Some(approvals::admit_under(server, env, candidate).await?)
    } else {
        None
    };
    Ok(Admission {
        ttl: candidate.ttl.min(env.max_ttl),
        environment: Some(env.name.clone()),
        approval_id,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Review S14 v3 (V3-4 c): an operator who hangs up and sends again
    /// cannot run any number of actions at once: the ninth waits (it is
    /// not refused) until one of the eight running ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_eight_actions_run_at_once_and_more_wait() {
        let dir = tempfile::tempdir().unwrap();
        let server = audit::tests::server(&dir).await;
        let actor = roles::AdminActor {
            principal: "admin".into(),
            roles: std::collections::BTreeSet::new(),
        };
        let running = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let mut requests = Vec::new();
        for _ in 0..=MAX_RUNNING_ACTIONS {
            let (server, actor) = (server.clone(), actor.clone());
            let (running, release) = (Arc::clone(&running), Arc::clone(&release));
            requests.push(tokio::spawn(async move {
                to_completion(&server, &actor, Place::Wait, move |_, _| async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    let _ = release.acquire().await.map(|p| p.forget());
                    Ok::<_, OAuthError>(())
                })
                .await
            }));
        }
        let waited = |n: usize| {
            let running = Arc::clone(&running);
            async move {
                for _ in 0..600 {
                    if running.load(Ordering::SeqCst) >= n {
                        return true;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                false
            }
        };
        assert!(waited(MAX_RUNNING_ACTIONS).await, "eight actions start");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(running.load(Ordering::SeqCst), MAX_RUNNING_ACTIONS);
        // one ends: the ninth starts
        release.add_permits(1);
        assert!(waited(MAX_RUNNING_ACTIONS + 1).await, "the ninth starts");
        release.add_permits(MAX_RUNNING_ACTIONS);
        for request in requests {
            assert!(request.await.unwrap().is_ok());
        }
    }

    /// Every place among the running actions, held until dropped.
    fn all_places(server: &Server) -> Vec<tokio::sync::OwnedSemaphorePermit> {
        (0..MAX_RUNNING_ACTIONS)
            .map(|_| {
                Arc::clone(&server.inner.admin_actions)
                    .try_acquire_owned()
                    .unwrap()
            })
            .collect()
    }

    /// Gives the held places back and waits (30 s at most) for every
    /// task the server handed work to.
    async fn free_places_and_wait(server: &Server, places: Vec<tokio::sync::OwnedSemaphorePermit>) {
        drop(places);
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            server.inner.running.all_ended(),
        )
        .await
        .unwrap();
    }

    /// A server with every place among the running actions taken (held
    /// until the permits are dropped), and an operator, olga.
    async fn busy_server_and_operator(
        dir: &tempfile::TempDir,
    ) -> (
        Server,
        Vec<tokio::sync::OwnedSemaphorePermit>,
        roles::AdminActor,
    ) {
        let server = audit::tests::server(dir).await;
        let places = all_places(&server);
        let operator = roles::AdminActor {
            principal: "olga".into(),
            roles: [roles::AdminRole::ResourceOwner].into_iter().collect(),
        };
        (server, places, operator)
    }

    /// Review S15-3: engages of one switch sent while its revocation waits
    /// for a place (the eight held here) queue no second revocation: each
    /// is answered as engaged at once, nothing revoked by it, and one task
    /// only is left waiting; once a place frees, that one revokes (and,
    /// marked by them, once more: review S15c-3) and ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn engages_of_one_switch_queue_one_revocation() {
        let dir = tempfile::tempdir().unwrap();
        let (server, places, operator) = busy_server_and_operator(&dir).await;
        let engage = || {
            tokio::time::timeout(
                std::time::Duration::from_secs(2),
                kill_switch::engage(
                    &server,
                    &operator,
                    passport_store::server::KillKind::Principal,
                    "mallory",
                    "leaked",
                ),
            )
        };
        // the first waits for a place to revoke (past its 2 s here)
        assert!(
            engage().await.is_err(),
            "the first engage's revocation waits"
        );
        let mut switch = None;
        for _ in 0..5 {
            let again = engage().await.unwrap().unwrap();
            assert!(again.revoked.is_empty());
            switch = Some(again.switch.id);
        }
        assert_eq!(server.inner.running.unfinished(), ["action"]);
        free_places_and_wait(&server, places).await;
        // ended, unmarked: the next engage revokes again (idempotent: it
        // finishes a revocation that failed)
        assert!(
            server
                .inner
                .switch_revocations
                .begin(&switch.unwrap(), "olga")
                .is_some()
        );
    }

    /// Review S15d-1: a kill-switch's revocation waiting for a place ran
    /// whatever happened meanwhile; when the switch was lifted first (a
    /// lift that got a place before it, or one on another instance), it
    /// revoked the passports minted after the lift, for a switch no longer
    /// engaged. Now it revokes only while its switch is engaged.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_that_runs_after_a_lift_revokes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (server, places, operator) = busy_server_and_operator(&dir).await;
        let kind = passport_store::server::KillKind::Principal;
        // engaged at once; its revocation waits for a place
        let waiting = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            kill_switch::engage(&server, &operator, kind, "mallory", "leaked"),
        )
        .await;
        assert!(waiting.is_err(), "the engage's revocation waits");
        let db = &server.inner.db;
        db.lift_kill_switch(kind, "mallory", "carol", server.inner.clock.now())
            .await
            .unwrap()
            .unwrap();
        // a passport minted after the lift
        let now = server.inner.clock.now();
        db.record_issued(passport_store::server::PassportEntry {
            jti: "after-lift".into(),
            parent_jti: None,
            actor_jti: None,
            client_id: "client-1".into(),
            agent_id: "agent-1".into(),
            principal: "mallory".into(),
            audience: "https://tool.example".into(),
            scopes: "read".into(),
            iat: now,
            exp: now + 300,
            kid: "k1".into(),
            status_uri: None,
            status_idx: None,
            created_at: now,
            environment: None,
            approval_id: None,
        })
        .await
        .unwrap();
        free_places_and_wait(&server, places).await;
        let state = db.passport("after-lift").await.unwrap().unwrap().state;
        assert_eq!(
            state,
            passport_store::server::PassportState::Active,
            "the revocation of a lifted switch revoked a passport minted after the lift"
        );
    }

    /// Review S14 v5 (adversarial pass on fda1d256): the place among the
    /// [`MAX_RUNNING_ACTIONS`] was taken before the action checked the
    /// actor's role, and a kill-switch engage waited in the same FIFO
    /// line as every other action. With eight actions running long (held
    /// places here), (a) an actor with no administrator role at all was
    /// not refused 403 at once: it waited for a place like any operator;
    /// (b) an operator's engage -- the most urgent action, whose first
    /// write is what blocks issuance -- waited behind them, and when its
    /// request's deadline passed (200 ms here) it was dropped and never
    /// engaged. Now the role is checked before a place is taken, and an
    /// engage takes none ([`Place::Exempt`]).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_engage_never_waits_behind_running_actions_and_no_role_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let server = audit::tests::server(&dir).await;
        let running = all_places(&server);
        let nobody = roles::AdminActor {
            principal: "mallory".into(),
            roles: std::collections::BTreeSet::new(),
        };
        // an engage by `actor`, given 200 ms
        let engage = |actor, kind, subject| {
            tokio::time::timeout(
                std::time::Duration::from_millis(200),
                kill_switch::engage(&server, actor, kind, subject, "leaked"),
            )
        };
        let refused = engage(&nobody, passport_store::server::KillKind::Agent, "agent-1").await;
        let operator = roles::AdminActor {
            principal: "olga".into(),
            roles: [roles::AdminRole::ResourceOwner].into_iter().collect(),
        };
        let engaged = engage(
            &operator,
            passport_store::server::KillKind::Principal,
            "olga",
        )
        .await;
        // the switch is engaged at once; its revocation waits for a place
        let switched = server
            .database()
            .kill_switches(false, 10)
            .await
            .unwrap()
            .iter()
            .any(|s| s.subject == "olga");
        drop(running);
        let mut wrong = Vec::new();
        if !matches!(refused, Ok(Err(ref e)) if e.status == 403) {
            wrong.push(
                "an actor with no role waited for a place among the running actions instead \
                 of being refused at once",
            );
        }
        if !switched {
            wrong.push(
                "an operator's kill-switch engage waited behind eight running actions past \
                 its deadline and was dropped before it engaged anything",
            );
        }
        // still running (its revocation waited for a place) or done: not
        // refused
        if matches!(engaged, Ok(Err(_))) {
            wrong.push("the engage was refused");
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
