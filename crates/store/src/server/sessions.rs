//! Administrators' dashboard sessions, and the read-only registry listing
//! the dashboard shows (issue 14).
//!
//! A session row is keyed by the SHA-256 of the session id ([`TokenHash`]):
//! the id itself lives only in the administrator's cookie. A session ends
//! at `expires_at` (absolute) or after `idle_timeout` seconds without use,
//! whichever comes first; [`Database::touch_admin_session`] checks both and
//! records the use in one statement, so every instance on the database
//! agrees.

use super::exec::{Exec, Row, Val};
#[cfg(feature = "postgres")]
use super::postgres;
use super::sql::REGISTRY_COLUMNS;
use super::{Backend, Database, RegistryRecord, TokenHash, sqlite};
use crate::error::StoreError;

/// A session to store at login.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewAdminSession {
    /// The SHA-256 of the session id.
    pub id_hash: TokenHash,
    /// The administrator's upstream `sub`.
    pub principal: String,
    /// The role names the mapping gave at login (a record of the login;
    /// the roles in force are mapped from [`NewAdminSession::role_claim`]
    /// at each request).
    pub roles: Vec<String>,
    /// The upstream claim the role mapping read at login and its values.
    pub role_claim: RoleClaim,
    /// The secret the session's CSRF tokens derive from.
    pub csrf_secret: String,
    /// When it was created.
    pub created_at: i64,
    /// When it ends, however active.
    pub expires_at: i64,
    /// How long it survives without use, in seconds.
    pub idle_timeout: i64,
}

impl NewAdminSession {
    /// A session for `principal` with `roles`, created `now`, ending at
    /// `expires_at` or after `idle_timeout` seconds unused.
    pub fn new(
        id_hash: TokenHash,
        principal: impl Into<String>,
        roles: Vec<String>,
        csrf_secret: impl Into<String>,
        now: i64,
        expires_at: i64,
        idle_timeout: i64,
    ) -> NewAdminSession {
        NewAdminSession {
            id_hash,
            principal: principal.into(),
            roles,
            role_claim: RoleClaim::default(),
            csrf_secret: csrf_secret.into(),
            created_at: now,
            expires_at,
            idle_timeout,
        }
    }

    /// The session with the upstream claim the role mapping reads and the
    /// values the administrator's ID token held in it.
    #[must_use]
    pub fn with_role_claim(mut self, role_claim: RoleClaim) -> NewAdminSession {
        self.role_claim = role_claim;
        self
    }
}

/// The upstream claim a role mapping reads (e.g. `roles`) and the values
/// an administrator's ID token held in it at login: what a session's roles
/// are mapped from again at each request, with the mapping in force then.
/// A session opened before these were stored has none (no claim, no
/// value), and so no role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoleClaim {
    /// The claim's name.
    pub claim: String,
    /// Its values, as strings.
    pub values: Vec<String>,
}

impl RoleClaim {
    /// The claim `claim` holding `values`.
    ///
    /// ```
    /// use passport_store::server::RoleClaim;
    /// let c = RoleClaim::new("roles", vec!["approvers".into()]);
    /// assert_eq!(c.claim, "roles");
    /// ```
    pub fn new(claim: impl Into<String>, values: Vec<String>) -> RoleClaim {
        RoleClaim {
            claim: claim.into(),
            values,
        }
    }

    /// As stored: `{"claim": NAME, "values": [...]}`.
    fn to_json(&self) -> String {
        serde_json::json!({ "claim": self.claim, "values": self.values }).to_string()
    }

    /// As stored; `{}` (a session from before they were kept) is none.
    fn from_json(text: &str) -> Result<RoleClaim, StoreError> {
        let corrupt = || StoreError::Corrupt("session claim values".into());
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| corrupt())?;
        let claim = match value.get("claim") {
            None => String::new(),
            Some(c) => c.as_str().ok_or_else(corrupt)?.to_owned(),
        };
        let values = match value.get("values") {
            None => Vec::new(),
            Some(v) => v
                .as_array()
                .ok_or_else(corrupt)?
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(corrupt))
                .collect::<Result<_, _>>()?,
        };
        Ok(RoleClaim { claim, values })
    }
}

/// A live session, as [`Database::touch_admin_session`] returns it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminSessionRecord {
    /// The administrator's upstream `sub`.
    pub principal: String,
    /// The role names given at login (a record; map
    /// [`AdminSessionRecord::role_claim`] for the roles in force).
    pub roles: Vec<String>,
    /// The upstream claim the mapping read at login and its values.
    pub role_claim: RoleClaim,
    /// The CSRF secret.
    pub csrf_secret: String,
    /// When it was created.
    pub created_at: i64,
    /// When it ends.
    pub expires_at: i64,
}

impl std::fmt::Debug for AdminSessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSessionRecord")
            .field("principal", &self.principal)
            .field("roles", &self.roles)
            .field("role_claim", &self.role_claim)
            .field("csrf_secret", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

const INSERT: &str = "INSERT INTO admin_sessions (id_hash, principal, roles, csrf_secret, \
    created_at, expires_at, last_seen, idle_timeout, claim_values) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Records the use and returns the session, only if neither expired nor
/// idle for too long. (`$1` first: SQLite numbers `$N` parameters in the
/// order they appear.)
const TOUCH: &str = "UPDATE admin_sessions SET last_seen = $1 \
    WHERE id_hash = $2 AND expires_at > $1 AND last_seen + idle_timeout > $1 \
    RETURNING principal, roles, csrf_secret, created_at, expires_at, claim_values";

const DELETE: &str = "DELETE FROM admin_sessions WHERE id_hash = $1";

const PURGE: &str =
    "DELETE FROM admin_sessions WHERE expires_at <= $1 OR last_seen + idle_timeout <= $1";

async fn insert<E: Exec>(x: &mut E, s: &NewAdminSession) -> Result<(), StoreError> {
    let roles = serde_json::to_string(&s.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let claim = s.role_claim.to_json();
    x.exec(
        INSERT,
        &[
            s.id_hash.as_str().into(),
            s.principal.as_str().into(),
            roles.into(),
            s.csrf_secret.as_str().into(),
            s.created_at.into(),
            s.expires_at.into(),
            s.created_at.into(),
            s.idle_timeout.into(),
            claim.into(),
        ],
    )
    .await?;
    Ok(())
}

fn session_row(r: &Row) -> Result<AdminSessionRecord, StoreError> {
    let roles = serde_json::from_str(&r.text(1)?)
        .map_err(|e| StoreError::Corrupt(format!("session roles: {e}")))?;
    let role_claim = RoleClaim::from_json(&r.text(5)?)?;
    Ok(AdminSessionRecord {
        principal: r.text(0)?,
        roles,
        role_claim,
        csrf_secret: r.text(2)?,
        created_at: r.int(3)?,
        expires_at: r.int(4)?,
    })
}

async fn touch<E: Exec>(
    x: &mut E,
    id_hash: &str,
    now: i64,
) -> Result<Option<AdminSessionRecord>, StoreError> {
    let rows = x.query(TOUCH, &[now.into(), id_hash.into()]).await?;
    rows.first().map(session_row).transpose()
}

async fn exec_one<E: Exec>(x: &mut E, sql: &str, value: Val) -> Result<u64, StoreError> {
    x.exec(sql, &[value]).await
}

async fn newest<E: Exec>(x: &mut E, limit: i64) -> Result<Vec<RegistryRecord>, StoreError> {
    let sql =
        format!("SELECT {REGISTRY_COLUMNS} FROM registry ORDER BY created_at DESC, jti LIMIT $1");
    let rows = x.query(&sql, &[limit.into()]).await?;
    rows.iter().map(super::ops::registry_row).collect()
}

impl Database {
    /// Stores a new administrator session.
    pub async fn insert_admin_session(&self, session: NewAdminSession) -> Result<(), StoreError> {
        on_backend!(self, single_write, |x| insert(x, &session))
    }

    /// The session whose id hashes to `id_hash`, if it is live at `now`
    /// (not past `expires_at`, used within its idle timeout); its use is
    /// recorded, which restarts the idle timeout.
    pub async fn touch_admin_session(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<Option<AdminSessionRecord>, StoreError> {
        let id = id_hash.as_str().to_owned();
        on_backend!(self, single_write, |x| touch(x, &id, now))
    }

    /// Ends the session whose id hashes to `id_hash`; whether there was one.
    pub async fn delete_admin_session(&self, id_hash: &TokenHash) -> Result<bool, StoreError> {
        let id = id_hash.as_str().to_owned();
        on_backend!(self, single_write, |x| exec_one(x, DELETE, id.into())).map(|n| n > 0)
    }

    /// Deletes the sessions expired or idle at `now`; how many.
    pub async fn purge_admin_sessions(&self, now: i64) -> Result<u64, StoreError> {
        on_backend!(self, single_write, |x| exec_one(x, PURGE, now.into()))
    }

    /// The `limit` passports recorded last, newest first (the dashboard's
    /// registry overview; read-only).
    pub async fn newest_passports(&self, limit: u32) -> Result<Vec<RegistryRecord>, StoreError> {
        let limit = i64::from(limit);
        on_backend!(self, read, |x| newest(x, limit))
    }
}

const LIVE: &str = "SELECT 1 FROM admin_sessions \
    WHERE id_hash = $1 AND expires_at > $2 AND last_seen + idle_timeout > $2";

async fn live<E: Exec>(x: &mut E, id_hash: &str, now: i64) -> Result<bool, StoreError> {
    Ok(!x
        .query(LIVE, &[id_hash.into(), now.into()])
        .await?
        .is_empty())
}

impl Database {
    /// Whether the session whose id hashes to `id_hash` is live at `now`,
    /// without recording a use (its idle timeout keeps running).
    pub async fn admin_session_live(
        &self,
        id_hash: &TokenHash,
        now: i64,
    ) -> Result<bool, StoreError> {
        let id = id_hash.as_str().to_owned();
        on_backend!(self, read, |x| live(x, &id, now))
    }
}
