//! Kill-switches and the registry's lifecycle (issue 14): a switch per
//! agent identity, principal or client blocks issuance until it is lifted;
//! engaging one revokes what the subject holds; a passport's successor
//! makes it ROTATED, and the registry is listed with its lineage.

use super::exec::{Exec, Row};
use super::ops::{self, one};
#[cfg(feature = "postgres")]
use super::postgres;
use super::sql::{REGISTRY_COLUMNS, qualified};
use super::types::{PassportState, RegistryRecord, Revoked};
use super::{Backend, Database, sqlite};
use crate::error::{StoreError, shorten};

/// What a kill-switch is engaged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KillKind {
    /// An agent identity (`agent.agent_id`).
    Agent,
    /// A principal (`sub`).
    Principal,
    /// A client (`client_id`).
    Client,
}

impl KillKind {
    /// `"agent"`, `"principal"` or `"client"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KillKind::Agent => "agent",
            KillKind::Principal => "principal",
            KillKind::Client => "client",
        }
    }

    /// The kind named `s` (as [`KillKind::as_str`] writes it).
    pub fn parse(s: &str) -> Option<KillKind> {
        [KillKind::Agent, KillKind::Principal, KillKind::Client]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The registry column holding this kind of subject (a fixed name,
    /// never input).
    fn column(self) -> &'static str {
        match self {
            KillKind::Agent => "agent_id",
            KillKind::Principal => "principal",
            KillKind::Client => "client_id",
        }
    }
}

/// A kill-switch to engage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewKillSwitch {
    /// A random id.
    pub id: String,
    /// What it is engaged for.
    pub kind: KillKind,
    /// The agent id, principal or client id.
    pub subject: String,
    /// The administrator engaging it.
    pub engaged_by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub engaged_at: i64,
}

impl NewKillSwitch {
    /// A switch for `subject`, engaged by `engaged_by` at `engaged_at`.
    pub fn new(
        id: String,
        kind: KillKind,
        subject: String,
        engaged_by: String,
        reason: String,
        engaged_at: i64,
    ) -> NewKillSwitch {
        NewKillSwitch {
            id,
            kind,
            subject,
            engaged_by,
            reason,
            engaged_at,
        }
    }
}

/// A kill-switch, engaged or lifted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KillSwitch {
    /// Its id.
    pub id: String,
    /// What it is engaged for.
    pub kind: KillKind,
    /// The agent id, principal or client id.
    pub subject: String,
    /// When it was engaged.
    pub engaged_at: i64,
    /// Who engaged it.
    pub engaged_by: String,
    /// Why.
    pub reason: String,
    /// When it was lifted (`None` while engaged).
    pub lifted_at: Option<i64>,
    /// Who lifted it.
    pub lifted_by: Option<String>,
}

/// A passport's place in its lifecycle, computed when read: REVOKED
/// before ROTATED (a successor named it) before EXPIRED before ACTIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lifecycle {
    /// Unexpired, not revoked, no successor.
    Active,
    /// A successor names it (it may still be unexpired).
    Rotated,
    /// Its `exp` has passed.
    Expired,
    /// Revoked (directly or by cascade).
    Revoked,
}

impl Lifecycle {
    /// `"active"`, `"rotated"`, `"expired"` or `"revoked"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Rotated => "rotated",
            Lifecycle::Expired => "expired",
            Lifecycle::Revoked => "revoked",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<Lifecycle> {
        [
            Lifecycle::Active,
            Lifecycle::Rotated,
            Lifecycle::Expired,
            Lifecycle::Revoked,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }

    /// The state of `listing` at `now` (the same rule as
    /// [`Database::registry_listing`]'s filter).
    pub fn of(listing: &RegistryListing, now: i64) -> Lifecycle {
        if listing.record.state == PassportState::Revoked {
            Lifecycle::Revoked
        } else if listing.successor_jti.is_some() {
            Lifecycle::Rotated
        } else if listing.record.entry.exp <= now {
            Lifecycle::Expired
        } else {
            Lifecycle::Active
        }
    }
}

/// [`Lifecycle::of`] in SQL, over the registry aliased `r`, `$1` = now.
const LIFECYCLE_SQL: &str = "CASE WHEN r.state = 'revoked' THEN 'revoked' \
     WHEN r.successor_jti IS NOT NULL THEN 'rotated' \
     WHEN r.exp <= $1 THEN 'expired' ELSE 'active' END";

/// A registry row with its rotation lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryListing {
    /// The row (its `entry.parent_jti` is the delegation lineage).
    pub record: RegistryRecord,
    /// The passport that replaced it, if any.
    pub successor_jti: Option<String>,
    /// The passport it replaced, if any.
    pub predecessor_jti: Option<String>,
}

/// Which registry rows [`Database::registry_listing`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryFilter {
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Only this principal's.
    pub principal: Option<String>,
    /// Only those in this state (at the `now` of the call).
    pub state: Option<Lifecycle>,
    /// At most this many (newest first); clamped to 1 ..= 1000.
    pub limit: u32,
}

impl RegistryFilter {
    /// No filter; the newest `limit`.
    pub fn newest(limit: u32) -> RegistryFilter {
        RegistryFilter {
            limit,
            ..RegistryFilter::default()
        }
    }
}

/// The most rows one listing returns.
const MAX_LISTING: u32 = 1000;

const SWITCH_COLUMNS: &str =
    "id, kind, subject, engaged_at, engaged_by, reason, lifted_at, lifted_by";

const INSERT_SWITCH: &str = "INSERT INTO kill_switches (id, kind, subject, engaged_at, \
     engaged_by, reason) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

fn engaged_switch() -> String {
    format!(
        "SELECT {SWITCH_COLUMNS} FROM kill_switches \
         WHERE kind = $1 AND subject = $2 AND lifted_at IS NULL"
    )
}

fn lift_switch() -> String {
    format!(
        "UPDATE kill_switches SET lifted_at = $1, lifted_by = $2 \
         WHERE kind = $3 AND subject = $4 AND lifted_at IS NULL RETURNING {SWITCH_COLUMNS}"
    )
}

fn switches() -> String {
    format!(
        "SELECT {SWITCH_COLUMNS} FROM kill_switches \
         WHERE lifted_at IS NULL OR CAST($1 AS BIGINT) = 1 ORDER BY engaged_at DESC, id LIMIT $2"
    )
}

/// The first engaged switch of the candidate `$3` (agent), `$4`
/// (principal), `$5` (client) or of any passport up the links of the
/// parent `$1` and of the actor passport `$2` (its agent, principal or
/// client): the candidate's own first, then the parent's and the actor
/// passport's, then further up. A link up is a passport's parent or its
/// actor passport, as the cascade follows them down
/// ([`super::sql::revoke_cascade`]): a switch that would revoke a
/// passport when engaged blocks what would depend on it. `UNION` keeps
/// each passport once per depth, so passports reached by several links
/// (a parent that is also the actor passport) do not multiply the walk;
/// it stops at 64 links (a bound against a cyclic row). A delegation chain
/// is never longer than a bundle, `MAX_BUNDLE_LINKS` (32), the server's
/// `max_depth` cap. A chain of actor passports (each minted for the one
/// before) may be longer than the walk, and a switch engaged for a
/// passport beyond it is not seen here; that passport's engagement
/// revoked it and, by the unbounded cascade, every passport below it, and
/// a child of a revoked actor passport is refused (`actor_revoked`), so
/// the walk is a pre-check, not the guard.
const ENGAGED_FOR: &str = "WITH RECURSIVE up(jti, parent_jti, actor_jti, depth) AS ( \
       SELECT jti, parent_jti, actor_jti, 0 FROM registry \
         WHERE jti = CAST($1 AS TEXT) OR jti = CAST($2 AS TEXT) \
       UNION \
       SELECT r.jti, r.parent_jti, r.actor_jti, up.depth + 1 FROM registry r \
         JOIN up ON r.jti = up.parent_jti OR r.jti = up.actor_jti WHERE up.depth < 64), \
     wanted(rank, kind, subject) AS ( \
       SELECT 0, 'agent', CAST($3 AS TEXT) \
       UNION ALL SELECT 1, 'principal', CAST($4 AS TEXT) \
       UNION ALL SELECT 2, 'client', CAST($5 AS TEXT) \
       UNION ALL SELECT 3 * up.depth + 3, 'agent', r.agent_id \
         FROM up JOIN registry r ON r.jti = up.jti \
       UNION ALL SELECT 3 * up.depth + 4, 'principal', r.principal \
         FROM up JOIN registry r ON r.jti = up.jti \
       UNION ALL SELECT 3 * up.depth + 5, 'client', r.client_id \
         FROM up JOIN registry r ON r.jti = up.jti) \
     SELECT k.kind, k.subject FROM wanted w JOIN kill_switches k \
       ON k.kind = w.kind AND k.subject = w.subject AND k.lifted_at IS NULL \
     ORDER BY w.rank, k.subject LIMIT 1";

/// Revokes every active passport whose `column` is `$1`, and every
/// passport that depends on one (delegated from it or minted for it as
/// the actor passport, at any depth), as [`super::sql::revoke_cascade`]
/// does for one.
fn revoke_subject_sql(column: &str) -> String {
    super::sql::revoke_tree(&format!("{column} = $1 AND state = 'active'"))
}

/// Ends every refresh family that issued a passport whose `column` is `$2`.
fn revoke_families_sql(column: &str) -> String {
    format!(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND family_id IN ( \
           SELECT t.family_id FROM refresh_tokens t JOIN registry r ON r.jti = t.passport_jti \
           WHERE r.{column} = $2)"
    )
}

const SET_SUCCESSOR: &str =
    "UPDATE registry SET successor_jti = $1 WHERE jti = $2 AND successor_jti IS NULL";

/// The registry's columns, then the successor and the predecessor.
fn listing_select() -> String {
    format!(
        "SELECT {}, r.successor_jti, \
           (SELECT p.jti FROM registry p WHERE p.successor_jti = r.jti ORDER BY p.jti LIMIT 1) \
         FROM registry r",
        qualified(REGISTRY_COLUMNS, "r")
    )
}

fn listing_sql() -> String {
    format!(
        "{} WHERE (CAST($2 AS TEXT) IS NULL OR r.agent_id = $2) \
           AND (CAST($3 AS TEXT) IS NULL OR r.principal = $3) \
           AND (CAST($4 AS TEXT) IS NULL OR {LIFECYCLE_SQL} = $4) \
         ORDER BY r.created_at DESC, r.jti DESC LIMIT $5",
        listing_select().replacen("SELECT ", "SELECT CAST($1 AS BIGINT) AS now_, ", 1)
    )
}

/// How many columns [`REGISTRY_COLUMNS`] names.
fn registry_width() -> usize {
    REGISTRY_COLUMNS.split(',').count()
}

fn listing_row(r: &Row, offset: usize) -> Result<RegistryListing, StoreError> {
    let cols = Row(r.0.iter().skip(offset).cloned().collect());
    Ok(RegistryListing {
        record: ops::registry_row(&cols)?,
        successor_jti: cols.opt_text(registry_width())?,
        predecessor_jti: cols.opt_text(registry_width() + 1)?,
    })
}

fn switch_row(r: &Row) -> Result<KillSwitch, StoreError> {
    let kind = r.text(1)?;
    Ok(KillSwitch {
        id: r.text(0)?,
        kind: KillKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("kill-switch kind {:?}", shorten(&kind))))?,
        subject: r.text(2)?,
        engaged_at: r.int(3)?,
        engaged_by: r.text(4)?,
        reason: r.text(5)?,
        lifted_at: r.opt_int(6)?,
        lifted_by: r.opt_text(7)?,
    })
}

async fn engage<E: Exec>(x: &mut E, s: &NewKillSwitch) -> Result<KillSwitch, StoreError> {
    x.exec(
        INSERT_SWITCH,
        &[
            s.id.as_str().into(),
            s.kind.as_str().into(),
            s.subject.as_str().into(),
            s.engaged_at.into(),
            s.engaged_by.as_str().into(),
            s.reason.as_str().into(),
        ],
    )
    .await?;
    // this one, or the one engaged before (re-engaging is idempotent)
    one(
        x,
        &engaged_switch(),
        &[s.kind.as_str().into(), s.subject.as_str().into()],
    )
    .await?
    .ok_or_else(|| StoreError::Corrupt("the engaged kill-switch vanished".into()))
    .and_then(|r| switch_row(&r))
}

async fn lift<E: Exec>(
    x: &mut E,
    kind: KillKind,
    subject: &str,
    by: &str,
    now: i64,
) -> Result<Option<KillSwitch>, StoreError> {
    one(
        x,
        &lift_switch(),
        &[now.into(), by.into(), kind.as_str().into(), subject.into()],
    )
    .await?
    .map(|r| switch_row(&r))
    .transpose()
}

async fn revoke_subject<E: Exec>(
    x: &mut E,
    kind: KillKind,
    subject: &str,
    now: i64,
) -> Result<Vec<Revoked>, StoreError> {
    if x.dialect() == super::exec::Dialect::Postgres {
        // as a revocation of one passport: no child recorded meanwhile
        // escapes the cascade
        x.exec(
            &ops::pg_lock("pg_advisory_xact_lock", ops::REVOCATION_LOCK),
            &[],
        )
        .await?;
    }
    x.exec(
        &revoke_families_sql(kind.column()),
        &[now.into(), subject.into()],
    )
    .await?;
    let rows = x
        .query(
            &revoke_subject_sql(kind.column()),
            &[subject.into(), now.into()],
        )
        .await?;
    // always: an instance caching "active" answers reads the registry again
    x.exec(super::sql::BUMP_REVOCATION_EPOCH, &[now.into()])
        .await?;
    ops::revoked_rows(&rows)
}

/// [`revoke_subject`] of what the switch `id` names, if it is still
/// engaged, in the same transaction (on PostgreSQL its row is locked
/// against a lift until the revocation commits); `None`, nothing revoked,
/// once it is lifted (or unknown).
async fn revoke_while_engaged<E: Exec>(
    x: &mut E,
    id: &str,
    now: i64,
) -> Result<Option<Vec<Revoked>>, StoreError> {
    let lock = match x.dialect() {
        super::exec::Dialect::Postgres => " FOR SHARE",
        super::exec::Dialect::Sqlite => "",
    };
    let engaged = x
        .query(
            &format!("SELECT {SWITCH_COLUMNS} FROM kill_switches WHERE id = $1 AND lifted_at IS NULL{lock}"),
            &[id.into()],
        )
        .await?;
    let Some(row) = engaged.first() else {
        return Ok(None);
    };
    let switch = switch_row(row)?;
    revoke_subject(x, switch.kind, &switch.subject, now)
        .await
        .map(Some)
}

async fn list_switches<E: Exec>(
    x: &mut E,
    all: i64,
    limit: i64,
) -> Result<Vec<KillSwitch>, StoreError> {
    let rows = x.query(&switches(), &[all.into(), limit.into()]).await?;
    rows.iter().map(switch_row).collect()
}

async fn set_successor<E: Exec>(
    x: &mut E,
    predecessor: &str,
    successor: &str,
) -> Result<bool, StoreError> {
    let changed = x
        .exec(SET_SUCCESSOR, &[successor.into(), predecessor.into()])
        .await?;
    Ok(changed == 1)
}

async fn engaged_for<E: Exec>(
    x: &mut E,
    parent: Option<&str>,
    actor: Option<&str>,
    agent: &str,
    principal: &str,
    client: &str,
) -> Result<Option<(KillKind, String)>, StoreError> {
    let Some(r) = one(
        x,
        ENGAGED_FOR,
        &[
            parent.into(),
            actor.into(),
            agent.into(),
            principal.into(),
            client.into(),
        ],
    )
    .await?
    else {
        return Ok(None);
    };
    let kind = r.text(0)?;
    let kind = KillKind::parse(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("kill-switch kind {:?}", shorten(&kind))))?;
    Ok(Some((kind, r.text(1)?)))
}

async fn listing<E: Exec>(
    x: &mut E,
    f: &RegistryFilter,
    now: i64,
) -> Result<Vec<RegistryListing>, StoreError> {
    let limit = i64::from(f.limit.clamp(1, MAX_LISTING));
    let rows = x
        .query(
            &listing_sql(),
            &[
                now.into(),
                f.agent_id.as_deref().into(),
                f.principal.as_deref().into(),
                f.state.map(Lifecycle::as_str).into(),
                limit.into(),
            ],
        )
        .await?;
    rows.iter().map(|r| listing_row(r, 1)).collect()
}

async fn lineage<E: Exec>(x: &mut E, jti: &str) -> Result<Option<RegistryListing>, StoreError> {
    let query = format!("{} WHERE r.jti = $1", listing_select());
    one(x, &query, &[jti.into()])
        .await?
        .map(|r| listing_row(&r, 0))
        .transpose()
}

impl Database {
    /// Engages a kill-switch (or finds the one already engaged for the
    /// same kind and subject: engaging twice is one switch); returns the
    /// engaged switch. It blocks issuance from its commit on
    /// ([`engaged_kill_switch`](Database::engaged_kill_switch)); revoking
    /// what the subject holds is [`revoke_subject`](Database::revoke_subject).
    ///
    /// ```
    /// use passport_store::server::{Database, KillKind, NewKillSwitch};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path().join("s.db").to_str().unwrap(), 1_700_000_000).await?;
    /// let switch = NewKillSwitch::new(
    ///     "ks-1".into(), KillKind::Agent, "agent-7".into(), "alice".into(),
    ///     "leaked key".into(), 1_700_000_000,
    /// );
    /// db.engage_kill_switch(switch).await?;
    /// db.revoke_subject(KillKind::Agent, "agent-7", 1_700_000_000).await?;
    /// let blocked = db.engaged_kill_switch(None, None, "agent-7", "bob", "client-1").await?;
    /// assert_eq!(blocked, Some((KillKind::Agent, "agent-7".to_owned())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn engage_kill_switch(
        &self,
        switch: NewKillSwitch,
    ) -> Result<KillSwitch, StoreError> {
        on_backend!(self, write, |x| engage(x, &switch))
    }

    /// Lifts the engaged switch of `kind` and `subject`; the lifted switch,
    /// or `None` when none was engaged.
    pub async fn lift_kill_switch(
        &self,
        kind: KillKind,
        subject: &str,
        lifted_by: &str,
        now: i64,
    ) -> Result<Option<KillSwitch>, StoreError> {
        let (subject, by) = (subject.to_owned(), lifted_by.to_owned());
        on_backend!(self, write, |x| lift(x, kind, &subject, &by, now))
    }

    /// The kill-switches, newest first: the engaged ones, or all of them
    /// with `include_lifted`; at most `limit` (clamped to 1 ..= 1000).
    pub async fn kill_switches(
        &self,
        include_lifted: bool,
        limit: u32,
    ) -> Result<Vec<KillSwitch>, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_LISTING));
        let all = i64::from(include_lifted);
        on_backend!(self, read, |x| list_switches(x, all, limit))
    }

    /// The first engaged kill-switch that blocks a passport for `agent`,
    /// `principal` and `client` delegated from `parent` and minted for the
    /// actor passport `actor` (each if any): one of these three, or the
    /// agent, principal or client of any passport up the parent's and the
    /// actor passport's links — each passport's parent and actor passport,
    /// the links a revocation cascades down — nearest first. One read.
    pub async fn engaged_kill_switch(
        &self,
        parent: Option<&str>,
        actor: Option<&str>,
        agent: &str,
        principal: &str,
        client: &str,
    ) -> Result<Option<(KillKind, String)>, StoreError> {
        on_backend!(self, point_read, |x| engaged_for(
            x, parent, actor, agent, principal, client
        ))
    }

    /// Revokes, in one transaction, every active passport `kind` =
    /// `subject` holds and every passport that depends on one — delegated
    /// from it or minted for it as the actor passport, at any depth (as
    /// [`revoke_cascade`](Database::revoke_cascade)) — ends every refresh
    /// family that issued one, and moves the revocation epoch. Returns the
    /// passports revoked (those held `Direct`, their descendants
    /// `Cascaded`). Idempotent.
    pub async fn revoke_subject(
        &self,
        kind: KillKind,
        subject: &str,
        now: i64,
    ) -> Result<Vec<Revoked>, StoreError> {
        let subject = subject.to_owned();
        on_backend!(self, write, |x| revoke_subject(x, kind, &subject, now))
    }

    /// As [`revoke_subject`](Database::revoke_subject), for what the
    /// switch `id` names (its kind and subject, read from its row): only
    /// while it is still engaged, checked in the same transaction —
    /// `None`, nothing revoked, once it is lifted or when there is no such
    /// switch (review S15d-1: a revocation that ran after a lift revoked
    /// the passports minted since, for a switch no longer engaged).
    pub async fn revoke_while_engaged(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<Vec<Revoked>>, StoreError> {
        let id = id.to_owned();
        on_backend!(self, write, |x| revoke_while_engaged(x, &id, now))
    }

    /// Names `successor` as the passport that replaced `predecessor` (it is
    /// then ROTATED); `false` when the predecessor is unknown or already
    /// has a successor (the first one stays).
    pub async fn set_successor(
        &self,
        predecessor: &str,
        successor: &str,
    ) -> Result<bool, StoreError> {
        let (p, s) = (predecessor.to_owned(), successor.to_owned());
        on_backend!(self, single_write, |x| set_successor(x, &p, &s))
    }

    /// The registry rows `filter` selects, newest first, with their
    /// rotation lineage; the state filter is [`Lifecycle::of`] at `now`.
    pub async fn registry_listing(
        &self,
        filter: RegistryFilter,
        now: i64,
    ) -> Result<Vec<RegistryListing>, StoreError> {
        on_backend!(self, read, |x| listing(x, &filter, now))
    }

    /// The registry row of `jti` with its rotation lineage.
    pub async fn registry_lineage(&self, jti: &str) -> Result<Option<RegistryListing>, StoreError> {
        on_backend!(self, point_read, |x| lineage(x, jti))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in [KillKind::Agent, KillKind::Principal, KillKind::Client] {
            assert_eq!(KillKind::parse(k.as_str()), Some(k));
        }
        for l in [
            Lifecycle::Active,
            Lifecycle::Rotated,
            Lifecycle::Expired,
            Lifecycle::Revoked,
        ] {
            assert_eq!(Lifecycle::parse(l.as_str()), Some(l));
        }
        assert_eq!(KillKind::parse("Agent"), None);
        assert_eq!(Lifecycle::parse(""), None);
    }

    #[test]
    fn values_are_bound_not_spliced() {
        // the only text spliced into the statements is a fixed column name
        for k in [KillKind::Agent, KillKind::Principal, KillKind::Client] {
            assert!(
                k.column()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }
}
