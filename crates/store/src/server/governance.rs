//! Governance state (issue 14): agent identities and approvals, on either
//! backend (migration `0007_governance`).

use super::exec::{Exec, Row, Val};
#[cfg(feature = "postgres")]
use super::postgres;
use super::{Backend, Database, sqlite};
use crate::error::{StoreError, shorten};

/// An agent identity's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityState {
    /// Passports may be issued to it (as policy allows).
    Active,
    /// Nothing is issued to it.
    Disabled,
}

impl IdentityState {
    /// The stored name (`active`, `disabled`).
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityState::Active => "active",
            IdentityState::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> Result<IdentityState, StoreError> {
        match s {
            "active" => Ok(IdentityState::Active),
            "disabled" => Ok(IdentityState::Disabled),
            other => Err(StoreError::Corrupt(format!(
                "identity state {:?}",
                shorten(other)
            ))),
        }
    }
}

/// A registered agent identity (`agent_identities`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    /// The agent's id (a workload client's `client_id`).
    pub agent_id: String,
    /// The principal answerable for it.
    pub owner: String,
    /// Its team.
    pub team: String,
    /// Its roles, as the policy's grants name them.
    pub roles: Vec<String>,
    /// Active or disabled.
    pub state: IdentityState,
    /// When it was registered.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// The administrator who made the last change.
    pub updated_by: String,
}

/// An approval's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalState {
    /// Waiting for an approver.
    Pending,
    /// Approved: admits until `expires_at`.
    Approved,
    /// Denied: refuses until `expires_at`.
    Denied,
    /// Past its `expires_at`.
    Expired,
}

impl ApprovalState {
    /// The stored name (`pending`, `approved`, `denied`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<ApprovalState, StoreError> {
        match s {
            "pending" => Ok(ApprovalState::Pending),
            "approved" => Ok(ApprovalState::Approved),
            "denied" => Ok(ApprovalState::Denied),
            "expired" => Ok(ApprovalState::Expired),
            other => Err(StoreError::Corrupt(format!(
                "approval state {:?}",
                shorten(other)
            ))),
        }
    }
}

/// A request for an environment that needs approval (`approvals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// Its id (random).
    pub id: String,
    /// The agent that asked.
    pub agent_id: String,
    /// The environment.
    pub environment: String,
    /// The audience asked for.
    pub audience: String,
    /// The scopes asked for, space-separated.
    pub scopes: String,
    /// The principal of the request.
    pub requested_by: String,
    /// When it was first asked.
    pub requested_at: i64,
    /// Where it stands.
    pub state: ApprovalState,
    /// The approver who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<i64>,
    /// Until when a decision holds; for a pending request, until when it
    /// waits for one (then it is expired and cannot be decided). `None`
    /// (a row written before requests expired) is expired at once: a
    /// pending request without it is never decided and never stands
    /// (session 15; before, it waited for ever); a decision without it
    /// never stands.
    pub expires_at: Option<i64>,
}

const IDENTITY_COLUMNS: &str =
    "agent_id, owner, team, roles, state, created_at, updated_at, updated_by";

const INSERT_IDENTITY: &str = "INSERT INTO agent_identities (agent_id, owner, team, roles, \
     state, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT DO NOTHING";

/// Conditional on the row being as it was read (every column a change
/// writes: `updated_at` counts seconds, so two changes in one second are
/// told apart by the rest), so of two concurrent changes made on the same
/// reading exactly one lands. (`$N` first appear in order: SQLite numbers
/// them so.)
const UPDATE_IDENTITY: &str = "UPDATE agent_identities SET owner = $1, team = $2, roles = $3, \
     state = $4, updated_at = $5, updated_by = $6 WHERE agent_id = $7 AND owner = $8 \
     AND team = $9 AND roles = $10 AND state = $11 AND updated_at = $12 AND updated_by = $13";

const APPROVAL_COLUMNS: &str = "id, agent_id, environment, audience, scopes, requested_by, \
     requested_at, state, decided_by, decided_at, expires_at";

const INSERT_PENDING: &str = "INSERT INTO approvals (id, agent_id, environment, audience, \
     scopes, requested_by, requested_at, state, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT DO NOTHING";

/// Marks expired what has passed its `expires_at`: a decision, and a
/// pending request nobody decided in time, or one without `expires_at`
/// (written before requests expired: session 15, it could otherwise be
/// approved however old). A decision without `expires_at` is not marked;
/// it never stands.
const EXPIRE_DECIDED: &str = "UPDATE approvals SET state = 'expired' \
     WHERE state IN ('pending', 'approved', 'denied') \
     AND (expires_at <= $1 OR (state = 'pending' AND expires_at IS NULL))";

/// [`EXPIRE_DECIDED`] over one (agent, requester)'s rows only (review S14,
/// fourth pass, V4-6): a request sweeps no rows but those its lock
/// serialises, so that requests for different agents never wait on (and,
/// on PostgreSQL, never deadlock over) each other's rows.
const EXPIRE_REQUESTERS: &str = "UPDATE approvals SET state = 'expired' \
     WHERE state IN ('pending', 'approved', 'denied') \
     AND (expires_at <= $1 OR (state = 'pending' AND expires_at IS NULL)) \
     AND agent_id = $2 AND requested_by = $3";

/// The most identities or approvals one listing returns.
pub const MAX_LISTED: i64 = 1_000;

/// The most requests one principal may have waiting for an approver
/// through one agent at once (review S14, finding 6; fourth pass, V4-1):
/// past it, a new request of theirs is not recorded
/// ([`ApprovalRequest::Full`]) until one of theirs is decided or expires.
/// The bound is per (agent, requester), not per agent: a per-agent bound
/// is one any principal who may use the agent fills alone with made-up
/// scope sets, locking every other principal of that agent out, renewably.
/// There is no overall per-agent bound for the same reason (any bound a
/// few principals reach together lets them lock out the rest); the rows
/// stay bounded by 16 per principal who may use the agent, and with the
/// pending requests listed oldest first, no flood buries a request that
/// was waiting before it.
pub const MAX_PENDING_PER_REQUESTER: usize = 16;

/// Serialises, on PostgreSQL, the requests of one principal through one
/// agent (keyed by the hash of both), so that concurrent ones do not each
/// count fewer pending than [`MAX_PENDING_PER_REQUESTER`] and all be
/// recorded; another principal's requests do not wait on them.
const AGENT_REQUESTS_LOCK: i32 = 0x6170_7072;

/// What a request for approval came to (exhaustive: a caller handles
/// every outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalRequest {
    /// Waiting for an approver: the request this principal left pending
    /// already, or the one just recorded.
    Pending(ApprovalRecord),
    /// Not recorded: the principal has [`MAX_PENDING_PER_REQUESTER`]
    /// requests pending through the agent already; the oldest of them
    /// (it has an `expires_at`).
    Full(ApprovalRecord),
}

fn identity_row(r: &Row) -> Result<AgentIdentity, StoreError> {
    Ok(AgentIdentity {
        agent_id: r.text(0)?,
        owner: r.text(1)?,
        team: r.text(2)?,
        roles: serde_json::from_str(&r.text(3)?)
            .map_err(|e| StoreError::Corrupt(format!("identity roles: {e}")))?,
        state: IdentityState::parse(&r.text(4)?)?,
        created_at: r.int(5)?,
        updated_at: r.int(6)?,
        updated_by: r.text(7)?,
    })
}

fn approval_row(r: &Row) -> Result<ApprovalRecord, StoreError> {
    Ok(ApprovalRecord {
        id: r.text(0)?,
        agent_id: r.text(1)?,
        environment: r.text(2)?,
        audience: r.text(3)?,
        scopes: r.text(4)?,
        requested_by: r.text(5)?,
        requested_at: r.int(6)?,
        state: ApprovalState::parse(&r.text(7)?)?,
        decided_by: r.opt_text(8)?,
        decided_at: r.opt_int(9)?,
        expires_at: r.opt_int(10)?,
    })
}

fn identity_values(i: &AgentIdentity) -> Result<Vec<Val>, StoreError> {
    let roles = serde_json::to_string(&i.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(vec![
        i.agent_id.as_str().into(),
        i.owner.as_str().into(),
        i.team.as_str().into(),
        roles.into(),
        i.state.as_str().into(),
    ])
}

async fn insert_identity<E: Exec>(x: &mut E, i: &AgentIdentity) -> Result<bool, StoreError> {
    let mut values = identity_values(i)?;
    values.extend([
        i.created_at.into(),
        i.updated_at.into(),
        i.updated_by.as_str().into(),
    ]);
    Ok(x.exec(INSERT_IDENTITY, &values).await? == 1)
}

async fn update_identity<E: Exec>(
    x: &mut E,
    read: &AgentIdentity,
    i: &AgentIdentity,
) -> Result<bool, StoreError> {
    let mut values = identity_values(i)?;
    values.remove(0);
    values.extend([i.updated_at.into(), i.updated_by.as_str().into()]);
    // the row as read: its agent_id (the key) and the columns a change writes
    values.extend(identity_values(read)?);
    values.extend([read.updated_at.into(), read.updated_by.as_str().into()]);
    Ok(x.exec(UPDATE_IDENTITY, &values).await? == 1)
}

async fn identity<E: Exec>(x: &mut E, agent_id: &str) -> Result<Option<AgentIdentity>, StoreError> {
    let q = format!("SELECT {IDENTITY_COLUMNS} FROM agent_identities WHERE agent_id = $1");
    x.query(&q, &[agent_id.into()])
        .await?
        .first()
        .map(identity_row)
        .transpose()
}

async fn identities<E: Exec>(x: &mut E) -> Result<Vec<AgentIdentity>, StoreError> {
    let q = format!("SELECT {IDENTITY_COLUMNS} FROM agent_identities ORDER BY agent_id LIMIT $1");
    x.query(&q, &[MAX_LISTED.into()])
        .await?
        .iter()
        .map(identity_row)
        .collect()
}

async fn request_one<E: Exec>(
    x: &mut E,
    a: &ApprovalRecord,
) -> Result<ApprovalRequest, StoreError> {
    // agent and requester, unambiguously (the agent id's length first)
    let key = format!("{}:{}{}", a.agent_id.len(), a.agent_id, a.requested_by);
    super::ops::lock_keyed(x, AGENT_REQUESTS_LOCK, &key).await?;
    let own_rows = [
        a.requested_at.into(),
        a.agent_id.as_str().into(),
        a.requested_by.as_str().into(),
    ];
    x.exec(EXPIRE_REQUESTERS, &own_rows).await?;
    if let Some(own) = own_pending(x, a).await? {
        return Ok(ApprovalRequest::Pending(own));
    }
    // a pending row without `expires_at` (written before requests expired)
    // counts as expired (the sweep above marked this requester's): it does
    // not hold a slot for ever
    let q = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE agent_id = $1 AND requested_by = $2 \
         AND state = 'pending' AND expires_at > $3 ORDER BY requested_at, id LIMIT $4"
    );
    let limit = i64::try_from(MAX_PENDING_PER_REQUESTER).unwrap_or(i64::MAX);
    let waiting = x
        .query(
            &q,
            &[
                a.agent_id.as_str().into(),
                a.requested_by.as_str().into(),
                a.requested_at.into(),
                limit.into(),
            ],
        )
        .await?;
    if waiting.len() >= MAX_PENDING_PER_REQUESTER
        && let Some(oldest) = waiting.first()
    {
        return Ok(ApprovalRequest::Full(approval_row(oldest)?));
    }
    x.exec(
        INSERT_PENDING,
        &[
            a.id.as_str().into(),
            a.agent_id.as_str().into(),
            a.environment.as_str().into(),
            a.audience.as_str().into(),
            a.scopes.as_str().into(),
            a.requested_by.as_str().into(),
            a.requested_at.into(),
            a.expires_at.into(),
        ],
    )
    .await?;
    own_pending(x, a)
        .await?
        .map(ApprovalRequest::Pending)
        .ok_or_else(|| StoreError::Corrupt("the pending approval vanished".into()))
}

/// The request of `a`'s principal pending for the same (agent,
/// environment, audience, scopes), if any.
async fn own_pending<E: Exec>(
    x: &mut E,
    a: &ApprovalRecord,
) -> Result<Option<ApprovalRecord>, StoreError> {
    let q = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE agent_id = $1 AND environment = $2 \
         AND audience = $3 AND scopes = $4 AND requested_by = $5 AND state = 'pending'"
    );
    x.query(
        &q,
        &[
            a.agent_id.as_str().into(),
            a.environment.as_str().into(),
            a.audience.as_str().into(),
            a.scopes.as_str().into(),
            a.requested_by.as_str().into(),
        ],
    )
    .await?
    .first()
    .map(approval_row)
    .transpose()
}

async fn standing<E: Exec>(
    x: &mut E,
    key: &[String; 3],
    now: i64,
) -> Result<Vec<ApprovalRecord>, StoreError> {
    let q = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE agent_id = $1 AND environment = $2 \
         AND audience = $3 AND ((state = 'pending' AND expires_at > $4) \
         OR (state IN ('approved', 'denied') AND expires_at > $4)) \
         ORDER BY requested_at DESC, id LIMIT $5"
    );
    let [agent, env, aud] = key;
    x.query(
        &q,
        &[
            agent.as_str().into(),
            env.as_str().into(),
            aud.as_str().into(),
            now.into(),
            MAX_LISTED.into(),
        ],
    )
    .await?
    .iter()
    .map(approval_row)
    .collect()
}

async fn approval<E: Exec>(x: &mut E, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let q = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1");
    x.query(&q, &[id.into()])
        .await?
        .first()
        .map(approval_row)
        .transpose()
}

async fn approvals<E: Exec>(
    x: &mut E,
    state: Option<ApprovalState>,
    now: i64,
) -> Result<Vec<ApprovalRecord>, StoreError> {
    x.exec(EXPIRE_DECIDED, &[now.into()]).await?;
    // pending first, oldest first: a request waiting stays within the
    // listing however many requests come after it (each principal has at
    // most MAX_PENDING_PER_REQUESTER through an agent); then the rest,
    // newest first, with them a pending request without `expires_at`
    // (written before requests expired: it is not among the waiting ones)
    let q = format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE $1 = '' OR state = $1 \
         ORDER BY CASE WHEN state = 'pending' AND expires_at IS NOT NULL THEN 0 ELSE 1 END, \
           CASE WHEN state = 'pending' AND expires_at IS NOT NULL THEN requested_at \
             ELSE -requested_at END, id \
         LIMIT $2"
    );
    let state = state.map_or("", ApprovalState::as_str);
    x.query(&q, &[state.into(), MAX_LISTED.into()])
        .await?
        .iter()
        .map(approval_row)
        .collect()
}

async fn decide<E: Exec>(
    x: &mut E,
    id: &str,
    decision: &Decision,
) -> Result<Option<ApprovalRecord>, StoreError> {
    let q = format!(
        "UPDATE approvals SET state = $1, decided_by = $2, decided_at = $3, expires_at = $4 \
         WHERE id = $5 AND state = 'pending' AND expires_at > $3 \
         RETURNING {APPROVAL_COLUMNS}"
    );
    let state = if decision.approve {
        ApprovalState::Approved
    } else {
        ApprovalState::Denied
    };
    x.query(
        &q,
        &[
            state.as_str().into(),
            decision.decided_by.as_str().into(),
            decision.now.into(),
            decision.expires_at.into(),
            id.into(),
        ],
    )
    .await?
    .first()
    .map(approval_row)
    .transpose()
}

/// An approver's decision on a pending approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Approve (or deny).
    pub approve: bool,
    /// The approver.
    pub decided_by: String,
    /// When.
    pub now: i64,
    /// Until when the decision holds.
    pub expires_at: i64,
}

impl Database {
    /// Registers an agent identity; `false` (nothing changed) when its
    /// `agent_id` is registered already.
    pub async fn insert_agent_identity(&self, identity: AgentIdentity) -> Result<bool, StoreError> {
        on_backend!(self, write, |x| insert_identity(x, &identity))
    }

    /// Replaces the agent identity `read` (as [`Database::agent_identity`]
    /// read it) with `identity`'s owner, team, roles, state and last
    /// change (keyed by `read`'s `agent_id`; `created_at` is kept), only if
    /// it still stands as read; `false` when it is unknown or was changed
    /// since (of two concurrent changes made on the same reading exactly
    /// one lands: read it again and redo the change).
    pub async fn update_agent_identity(
        &self,
        read: &AgentIdentity,
        identity: AgentIdentity,
    ) -> Result<bool, StoreError> {
        let read = read.clone();
        on_backend!(self, write, |x| update_identity(x, &read, &identity))
    }

    /// The agent identity `agent_id`.
    pub async fn agent_identity(
        &self,
        agent_id: &str,
    ) -> Result<Option<AgentIdentity>, StoreError> {
        on_backend!(self, point_read, |x| identity(x, agent_id))
    }

    /// The agent identities, by `agent_id` (at most [`MAX_LISTED`]).
    pub async fn agent_identities(&self) -> Result<Vec<AgentIdentity>, StoreError> {
        on_backend!(self, read, |x| identities(x))
    }

    /// The pending approval of (`agent_id`, `environment`, `audience`,
    /// `scopes`, `requested_by`) of `request`: the one this principal's
    /// request left pending already, or `request` itself (inserted as
    /// pending; its `state` and decision fields are ignored). Another
    /// principal's request is another approval: each is decided, and
    /// admits or refuses, for the principal that asked. A new request is
    /// not recorded while its principal has [`MAX_PENDING_PER_REQUESTER`]
    /// pending through the agent ([`ApprovalRequest::Full`]). That
    /// principal's decisions and requests through the agent past their
    /// `expires_at` (at `request.requested_at`) are marked expired first.
    pub async fn request_approval(
        &self,
        request: ApprovalRecord,
    ) -> Result<ApprovalRequest, StoreError> {
        on_backend!(self, write, |x| request_one(x, &request))
    }

    /// The approvals of (`agent_id`, `environment`, `audience`) that stand
    /// at `now`: pending, or approved or denied and not yet expired; the
    /// newest first.
    pub async fn standing_approvals(
        &self,
        agent_id: &str,
        environment: &str,
        audience: &str,
        now: i64,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let key = [
            agent_id.to_owned(),
            environment.to_owned(),
            audience.to_owned(),
        ];
        on_backend!(self, read, |x| standing(x, &key, now))
    }

    /// The approval `id`.
    pub async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        on_backend!(self, point_read, |x| approval(x, id))
    }

    /// The approvals (in `state`, or all), at most [`MAX_LISTED`]: the
    /// pending ones first, oldest first, then the others, newest first;
    /// decisions and requests past their `expires_at` at `now` are marked
    /// expired first.
    pub async fn approvals(
        &self,
        state: Option<ApprovalState>,
        now: i64,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        on_backend!(self, write, |x| approvals(x, state, now))
    }

    /// Decides the pending approval `id`; the approval as decided, or
    /// `None` when it is unknown or no longer pending (of two concurrent
    /// decisions exactly one wins).
    pub async fn decide_approval(
        &self,
        id: &str,
        decision: Decision,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let id = id.to_owned();
        on_backend!(self, write, |x| decide(x, &id, &decision))
    }
}
