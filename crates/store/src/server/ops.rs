//! Every operation on the token service's state, written once over
//! [`Exec`]: the SQLite backend runs them inside its group-commit writer's
//! transactions, the PostgreSQL backend inside its own.

use super::exec::{Dialect, Exec, Row, Val};
use super::sql;
use super::types::{
    ClientKind, ClientRecord, CodeGrant, KeyState, NewClient, NewCode, NewRefreshToken,
    NewSigningKey, PassportEntry, PassportState, RefreshFamily, RefreshGrant, RefreshSuccessor,
    RegistryRecord, RevocationReason, Revoked, SigningKeyRecord, TokenHash,
};
use crate::error::{StoreError, shorten};

/// Serialises revocations against the insertion of linked passports (a
/// delegated one, one minted for an actor passport) on PostgreSQL, where
/// several instances write at once: a child recorded while its parent's
/// (or its actor passport's) subtree is being revoked would escape the
/// recursive query's snapshot. Children take it shared (they do not wait
/// for each other), a revocation exclusively; SQLite's single writer needs
/// none.
pub(super) const REVOCATION_LOCK: i64 = 0x7061_7373_7265_766b;

/// Signing-key changes (the first key, a rotation, a promotion) run under
/// this transaction-level lock on PostgreSQL. Without it, two instances
/// starting together on a new database each read "no key" in their
/// insert's snapshot (READ COMMITTED) while the other's key was being
/// promoted, both inserted one, and one then signed with a key the other
/// did not publish (found by passport-server's suite on PostgreSQL). Under
/// the lock, the insert's snapshot is taken after the other's commit.
/// (SQLite's single writer serialises them already.)
const KEYS_LOCK: i64 = 0x7061_7373_6b65_7973;

/// Migrations run under this transaction-level lock on PostgreSQL, so
/// instances starting together apply each one once.
const MIGRATION_LOCK: i64 = 0x7061_7373_6d69_6772;

/// Serialises, on PostgreSQL, the rotations and revocations of one refresh
/// token family (keyed by the hash of its id, in the two-key space, apart
/// from the locks above). Without it a family revoked while another
/// instance rotates one of its tokens misses the successor that rotation
/// commits: the revocation's snapshot predates the successor's row.
const REFRESH_FAMILY_LOCK: i32 = 1_919_247_974;

async fn lock_family<E: Exec>(x: &mut E, family: &str) -> Result<(), StoreError> {
    lock_keyed(x, REFRESH_FAMILY_LOCK, family).await
}

/// Takes, on PostgreSQL, the transaction-level advisory lock on `key` (by
/// its hash) in the two-key space `class`: the same key in another class
/// is another lock. SQLite's single writer needs none.
pub(super) async fn lock_keyed<E: Exec>(
    x: &mut E,
    class: i32,
    key: &str,
) -> Result<(), StoreError> {
    if x.dialect() == Dialect::Postgres {
        let lock = format!("SELECT pg_advisory_xact_lock({class}, hashtext($1))");
        x.exec(&lock, &[key.into()]).await?;
    }
    Ok(())
}

pub(super) fn pg_lock(kind: &str, key: i64) -> String {
    format!("SELECT {kind}({key})")
}

fn idx_in(v: Option<u64>) -> Result<Val, StoreError> {
    v.map(|i| i64::try_from(i).map_err(|_| StoreError::Corrupt(format!("status index {i}"))))
        .transpose()
        .map(Val::from)
}

pub(super) fn idx_out(v: Option<i64>) -> Result<Option<u64>, StoreError> {
    v.map(|i| u64::try_from(i).map_err(|_| StoreError::Corrupt(format!("status index {i}"))))
        .transpose()
}

fn json_list(v: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse_list(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("a JSON list: {e}")))
}

/// One statement's only row, if any.
pub(super) async fn one<E: Exec>(
    x: &mut E,
    query: &str,
    params: &[Val],
) -> Result<Option<Row>, StoreError> {
    Ok(x.query(query, params).await?.into_iter().next())
}

// ---- migrations ----

/// A schema migration, the same number and name on both databases.
pub(super) struct Migration {
    pub(super) version: i64,
    pub(super) name: &'static str,
    pub(super) sqlite: &'static str,
    pub(super) postgres: &'static str,
}

/// The migrations, in order.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_server_state",
        sqlite: include_str!("../../migrations/sqlite/0001_server_state.sql"),
        postgres: include_str!("../../migrations/postgres/0001_server_state.sql"),
    },
    Migration {
        version: 2,
        name: "0002_random_status_indices",
        sqlite: include_str!("../../migrations/sqlite/0002_random_status_indices.sql"),
        postgres: include_str!("../../migrations/postgres/0002_random_status_indices.sql"),
    },
    Migration {
        version: 3,
        name: "0003_server_secrets",
        sqlite: include_str!("../../migrations/sqlite/0003_server_secrets.sql"),
        postgres: include_str!("../../migrations/postgres/0003_server_secrets.sql"),
    },
    Migration {
        version: 4,
        name: "0004_code_reuse",
        sqlite: include_str!("../../migrations/sqlite/0004_code_reuse.sql"),
        postgres: include_str!("../../migrations/postgres/0004_code_reuse.sql"),
    },
    Migration {
        version: 5,
        name: "0005_revocation_epoch",
        sqlite: include_str!("../../migrations/sqlite/0005_revocation_epoch.sql"),
        postgres: include_str!("../../migrations/postgres/0005_revocation_epoch.sql"),
    },
    Migration {
        version: 6,
        name: "0006_refresh_by_passport",
        sqlite: include_str!("../../migrations/sqlite/0006_refresh_by_passport.sql"),
        postgres: include_str!("../../migrations/postgres/0006_refresh_by_passport.sql"),
    },
    Migration {
        version: 7,
        name: "0007_governance",
        sqlite: include_str!("../../migrations/sqlite/0007_governance.sql"),
        postgres: include_str!("../../migrations/postgres/0007_governance.sql"),
    },
    Migration {
        version: 8,
        name: "0008_lifecycle_kill",
        sqlite: include_str!("../../migrations/sqlite/0008_lifecycle_kill.sql"),
        postgres: include_str!("../../migrations/postgres/0008_lifecycle_kill.sql"),
    },
    Migration {
        version: 9,
        name: "0009_audit",
        sqlite: include_str!("../../migrations/sqlite/0009_audit.sql"),
        postgres: include_str!("../../migrations/postgres/0009_audit.sql"),
    },
    Migration {
        version: 10,
        name: "0010_admin_sessions",
        sqlite: include_str!("../../migrations/sqlite/0010_admin_sessions.sql"),
        postgres: include_str!("../../migrations/postgres/0010_admin_sessions.sql"),
    },
    Migration {
        version: 11,
        name: "0011_list_iat_session_claims",
        sqlite: include_str!("../../migrations/sqlite/0011_list_iat_session_claims.sql"),
        postgres: include_str!("../../migrations/postgres/0011_list_iat_session_claims.sql"),
    },
    Migration {
        version: 12,
        name: "0012_actor_lineage",
        sqlite: include_str!("../../migrations/sqlite/0012_actor_lineage.sql"),
        postgres: include_str!("../../migrations/postgres/0012_actor_lineage.sql"),
    },
    Migration {
        version: 13,
        name: "0013_approval_per_requester",
        sqlite: include_str!("../../migrations/sqlite/0013_approval_per_requester.sql"),
        postgres: include_str!("../../migrations/postgres/0013_approval_per_requester.sql"),
    },
];

/// The migration that made the audit trail (`0009_audit`): a command that
/// only reads it needs at least this schema.
pub(super) const AUDIT_SCHEMA_VERSION: i64 = 9;

/// The newest schema version this crate knows: the last migration's
/// (migrations are numbered without gaps once every branch is merged).
pub(super) const SCHEMA_VERSION: i64 = match MIGRATIONS.last() {
    Some(m) => m.version,
    None => 0,
};

/// Creates the version table; the versions applied.
pub(super) async fn applied_versions<E: Exec>(x: &mut E) -> Result<Vec<i64>, StoreError> {
    match x.dialect() {
        Dialect::Sqlite => x.exec(sql::MIGRATIONS_TABLE_SQLITE, &[]).await?,
        Dialect::Postgres => {
            x.exec(&pg_lock("pg_advisory_xact_lock", MIGRATION_LOCK), &[])
                .await?;
            x.exec(sql::MIGRATIONS_TABLE_POSTGRES, &[]).await?
        }
    };
    let rows = x.query(sql::APPLIED_VERSIONS, &[]).await?;
    rows.iter().map(|r| r.int(0)).collect()
}

/// Applies migration `m` unless it is already recorded; inside the
/// caller's transaction (one per migration).
pub(super) async fn apply<E: Exec>(x: &mut E, m: &Migration, now: i64) -> Result<(), StoreError> {
    let applied = applied_versions(x).await?;
    if let Some(&found) = applied.iter().max()
        && found > SCHEMA_VERSION
    {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if applied.contains(&m.version) {
        return Ok(());
    }
    let script = match x.dialect() {
        Dialect::Sqlite => m.sqlite,
        Dialect::Postgres => m.postgres,
    };
    x.exec(script, &[]).await?;
    x.exec(
        sql::RECORD_MIGRATION,
        &[m.version.into(), m.name.into(), now.into()],
    )
    .await?;
    Ok(())
}

// ---- registry ----

pub(super) fn registry_row(r: &Row) -> Result<RegistryRecord, StoreError> {
    let state = match r.text(13)?.as_str() {
        "active" => PassportState::Active,
        "revoked" => PassportState::Revoked,
        other => {
            return Err(StoreError::Corrupt(format!(
                "passport state {:?}",
                shorten(other)
            )));
        }
    };
    Ok(RegistryRecord {
        entry: PassportEntry {
            jti: r.text(0)?,
            parent_jti: r.opt_text(1)?,
            client_id: r.text(2)?,
            agent_id: r.text(3)?,
            principal: r.text(4)?,
            audience: r.text(5)?,
            scopes: r.text(6)?,
            iat: r.int(7)?,
            exp: r.int(8)?,
            kid: r.text(9)?,
            status_uri: r.opt_text(10)?,
            status_idx: idx_out(r.opt_int(11)?)?,
            created_at: r.int(12)?,
            environment: r.opt_text(16)?,
            approval_id: r.opt_text(17)?,
            actor_jti: r.opt_text(18)?,
        },
        state,
        revoked_at: r.opt_int(14)?,
        revoked_reason: r
            .opt_text(15)?
            .map(|s| RevocationReason::parse(&s))
            .transpose()?,
    })
}

/// Whether `e` depends on another passport (a parent, an actor passport):
/// its record is then checked against that passport's state, under the
/// shared revocation lock on PostgreSQL.
pub(super) fn is_linked(e: &PassportEntry) -> bool {
    e.parent_jti.is_some() || e.actor_jti.is_some()
}

/// Records `e`. On PostgreSQL a passport linked to none is one statement
/// (the caller may run it outside a transaction:
/// [`Database::record_issued`]), a linked one ([`is_linked`]) two: the
/// shared revocation lock, then the checked insert (see
/// [`sql::RECORD_PASSPORT_POSTGRES`]).
///
/// [`Database::record_issued`]: super::Database::record_issued
pub(super) async fn record_issued<E: Exec>(x: &mut E, e: &PassportEntry) -> Result<(), StoreError> {
    let values = passport_values(e)?;
    if x.dialect() == Dialect::Postgres {
        if is_linked(e) {
            x.exec(&shared_revocation_lock(), &[]).await?;
        }
        let rows = x.query(sql::RECORD_PASSPORT_POSTGRES, &values).await?;
        return recorded_postgres(e, rows.first());
    }
    if let Some(parent) = &e.parent_jti {
        let state = one(x, sql::LINK_STATE, &[parent.as_str().into()]).await?;
        link_active(
            Link::Parent,
            parent,
            state.map(|r| r.text(0)).transpose()?.as_deref(),
        )?;
    }
    if let Some(actor) = &e.actor_jti {
        let state = one(x, sql::LINK_STATE, &[actor.as_str().into()]).await?;
        link_active(
            Link::Actor,
            actor,
            state.map(|r| r.text(0)).transpose()?.as_deref(),
        )?;
    }
    if x.exec(sql::INSERT_PASSPORT, &values).await? == 0 {
        return Err(StoreError::DuplicatePassport(shorten(&e.jti)));
    }
    x.exec(sql::NOTE_KEY_EXP, &[e.exp.into(), e.kid.as_str().into()])
        .await?;
    Ok(())
}

/// The statement taking the revocation lock shared (PostgreSQL), which a
/// linked passport's insert runs after, in its transaction.
pub(super) fn shared_revocation_lock() -> String {
    pg_lock("pg_advisory_xact_lock_shared", REVOCATION_LOCK)
}

/// The values of [`sql::INSERT_PASSPORT`] and
/// [`sql::RECORD_PASSPORT_POSTGRES`] for `e`.
pub(super) fn passport_values(e: &PassportEntry) -> Result<[Val; 16], StoreError> {
    Ok([
        e.jti.as_str().into(),
        e.parent_jti.as_deref().into(),
        e.client_id.as_str().into(),
        e.agent_id.as_str().into(),
        e.principal.as_str().into(),
        e.audience.as_str().into(),
        e.scopes.as_str().into(),
        e.iat.into(),
        e.exp.into(),
        e.kid.as_str().into(),
        e.status_uri.as_deref().into(),
        idx_in(e.status_idx)?,
        e.created_at.into(),
        e.environment.as_deref().into(),
        e.approval_id.as_deref().into(),
        e.actor_jti.as_deref().into(),
    ])
}

/// What the row of [`sql::RECORD_PASSPORT_POSTGRES`] says of `e`.
pub(super) fn recorded_postgres(e: &PassportEntry, row: Option<&Row>) -> Result<(), StoreError> {
    let row = row.ok_or_else(|| StoreError::Corrupt("the insert returned no row".into()))?;
    if let Some(parent) = &e.parent_jti {
        link_active(Link::Parent, parent, row.opt_text(0)?.as_deref())?;
    }
    if let Some(actor) = &e.actor_jti {
        link_active(Link::Actor, actor, row.opt_text(2)?.as_deref())?;
    }
    if row.int(1)? == 0 {
        return Err(StoreError::DuplicatePassport(shorten(&e.jti)));
    }
    Ok(())
}

/// What a passport being recorded depends on.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// The passport it is delegated from (`parent_jti`).
    Parent,
    /// The actor passport it is minted for (`actor_jti`).
    Actor,
}

/// Refuses a passport whose `link` `jti` is in `state` other than active
/// ([`StoreError::ParentRevoked`], [`StoreError::ActorRevoked`]) or unknown
/// ([`StoreError::UnknownRecord`]).
fn link_active(link: Link, jti: &str, state: Option<&str>) -> Result<(), StoreError> {
    match (state, link) {
        (Some("active"), _) => Ok(()),
        (Some(_), Link::Parent) => Err(StoreError::ParentRevoked(shorten(jti))),
        (Some(_), Link::Actor) => Err(StoreError::ActorRevoked(shorten(jti))),
        (None, Link::Parent) => Err(StoreError::UnknownRecord(format!(
            "parent {}",
            shorten(jti)
        ))),
        (None, Link::Actor) => Err(StoreError::UnknownRecord(format!("actor {}", shorten(jti)))),
    }
}

pub(super) async fn revoke_cascade<E: Exec>(
    x: &mut E,
    jti: &str,
    now: i64,
) -> Result<Vec<Revoked>, StoreError> {
    if x.dialect() == Dialect::Postgres {
        x.exec(&pg_lock("pg_advisory_xact_lock", REVOCATION_LOCK), &[])
            .await?;
    }
    if one(x, sql::PASSPORT_EXISTS, &[jti.into()]).await?.is_none() {
        return Err(StoreError::UnknownRecord(shorten(jti)));
    }
    let rows = x
        .query(&sql::revoke_cascade(), &[jti.into(), now.into()])
        .await?;
    if !rows.is_empty() {
        // in the same transaction: whoever reads the new epoch sees these
        x.exec(sql::BUMP_REVOCATION_EPOCH, &[now.into()]).await?;
    }
    revoked_rows(&rows)
}

/// The rows of a revoking `UPDATE … RETURNING` [`sql::REVOKED_COLUMNS`]:
/// the direct ones first, then the descendants, each in a stable order.
pub(super) fn revoked_rows(rows: &[Row]) -> Result<Vec<Revoked>, StoreError> {
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(Revoked {
                jti: r.text(0)?,
                status_uri: r.opt_text(1)?,
                status_idx: idx_out(r.opt_int(2)?)?,
                reason: RevocationReason::parse(&r.text(3)?)?,
                agent_id: r.text(4)?,
                principal: r.text(5)?,
                client_id: r.text(6)?,
                audience: r.text(7)?,
                parent_jti: r.opt_text(8)?,
                actor_jti: r.opt_text(9)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by(|a, b| {
        (a.reason != RevocationReason::Direct, &a.jti)
            .cmp(&(b.reason != RevocationReason::Direct, &b.jti))
    });
    Ok(out)
}

pub(super) async fn revoked_status_indices<E: Exec>(
    x: &mut E,
    uri: &str,
) -> Result<Vec<u64>, StoreError> {
    x.query(sql::REVOKED_INDICES, &[uri.into()])
        .await?
        .iter()
        .map(|r| idx_out(Some(r.int(0)?)).map(|i| i.unwrap_or_default()))
        .collect()
}

pub(super) async fn passport<E: Exec>(
    x: &mut E,
    jti: &str,
) -> Result<Option<RegistryRecord>, StoreError> {
    one(x, &sql::passport_by_jti(), &[jti.into()])
        .await?
        .map(|r| registry_row(&r))
        .transpose()
}

pub(super) async fn chain<E: Exec>(
    x: &mut E,
    jti: &str,
) -> Result<Vec<RegistryRecord>, StoreError> {
    let rows = x.query(&sql::chain(), &[jti.into()]).await?;
    rows.iter().map(registry_row).collect()
}

// ---- clients ----

fn client_row(r: &Row) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        client_id: r.text(0)?,
        kind: ClientKind::parse(&r.text(1)?)?,
        secret_hash: r.opt_text(2)?,
        auth_method: r.text(3)?,
        redirect_uris: parse_list(&r.text(4)?)?,
        grant_types: parse_list(&r.text(5)?)?,
        scopes: r.text(6)?,
        owner: r.opt_text(7)?,
        jwks: r.opt_text(8)?,
        metadata: r.text(9)?,
        created_at: r.int(10)?,
    })
}

pub(super) async fn insert_client<E: Exec>(x: &mut E, c: &NewClient) -> Result<(), StoreError> {
    let changed = x
        .exec(
            sql::INSERT_CLIENT,
            &[
                c.client_id.as_str().into(),
                c.kind.as_str().into(),
                c.secret_hash.as_deref().into(),
                c.auth_method.as_str().into(),
                json_list(&c.redirect_uris)?.into(),
                json_list(&c.grant_types)?.into(),
                c.scopes.as_str().into(),
                c.owner.as_deref().into(),
                c.jwks.as_deref().into(),
                c.metadata.as_str().into(),
                c.created_at.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::DuplicateClient(shorten(&c.client_id)));
    }
    Ok(())
}

pub(super) async fn client<E: Exec>(
    x: &mut E,
    client_id: &str,
) -> Result<Option<ClientRecord>, StoreError> {
    one(x, &sql::client_by_id(), &[client_id.into()])
        .await?
        .map(|r| client_row(&r))
        .transpose()
}

/// The client `client_id` (if registered) and the revocation epoch, read
/// by one statement.
pub(super) async fn client_and_epoch<E: Exec>(
    x: &mut E,
    client_id: &str,
) -> Result<(Option<ClientRecord>, i64), StoreError> {
    let row = one(x, &sql::client_and_epoch(), &[client_id.into()])
        .await?
        .ok_or_else(|| StoreError::Corrupt("the revocation epoch is missing".into()))?;
    let epoch = row.int(11)?;
    let client = match row.opt_text(0)? {
        Some(_) => Some(client_row(&row)?),
        None => None,
    };
    Ok((client, epoch))
}

pub(super) async fn delete_client<E: Exec>(x: &mut E, client_id: &str) -> Result<bool, StoreError> {
    Ok(x.exec(sql::DELETE_CLIENT, &[client_id.into()]).await? > 0)
}

// ---- authorization codes ----

pub(super) async fn insert_code<E: Exec>(x: &mut E, c: &NewCode) -> Result<(), StoreError> {
    let changed = x
        .exec(
            sql::INSERT_CODE,
            &[
                c.code.as_str().into(),
                c.client_id.as_str().into(),
                c.redirect_uri.as_str().into(),
                c.code_challenge.as_str().into(),
                c.resource.as_str().into(),
                c.scope.as_str().into(),
                c.claims.as_str().into(),
                c.expires_at.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::Corrupt(
            "an authorization code hash collided".into(),
        ));
    }
    Ok(())
}

/// The outer error rolls back; the inner one (a reuse, an expiry) is an
/// answer, committed.
pub(super) async fn consume_code<E: Exec>(
    x: &mut E,
    code: &TokenHash,
    now: i64,
    issued: &[String],
) -> Result<Result<CodeGrant, StoreError>, StoreError> {
    let used = one(
        x,
        sql::CONSUME_CODE,
        &[now.into(), json_list(issued)?.into(), code.as_str().into()],
    )
    .await?;
    if let Some(r) = used {
        return Ok(Ok(code_row(&r)?));
    }
    let Some(state) = one(x, sql::CODE_STATE, &[code.as_str().into()]).await? else {
        return Ok(Err(StoreError::UnknownCode));
    };
    if state.opt_int(0)?.is_some() {
        // marked in this (committed) transaction: a first use still minting
        // sees it when it re-reads the code ([`code_reused`])
        x.exec(sql::MARK_CODE_REUSED, &[now.into(), code.as_str().into()])
            .await?;
        let issued = state
            .opt_text(1)?
            .map(|s| parse_list(&s))
            .transpose()?
            .unwrap_or_default();
        return Ok(Err(StoreError::CodeReused { issued }));
    }
    Ok(Err(StoreError::CodeExpired))
}

fn code_row(r: &Row) -> Result<CodeGrant, StoreError> {
    Ok(CodeGrant {
        client_id: r.text(0)?,
        redirect_uri: r.text(1)?,
        code_challenge: r.text(2)?,
        resource: r.text(3)?,
        scope: r.text(4)?,
        claims: r.text(5)?,
        expires_at: r.int(6)?,
    })
}

pub(super) async fn code<E: Exec>(
    x: &mut E,
    code: &TokenHash,
) -> Result<Option<CodeGrant>, StoreError> {
    one(x, sql::CODE_BY_HASH, &[code.as_str().into()])
        .await?
        .map(|r| code_row(&r))
        .transpose()
}

/// Whether a second use of the code was seen (false for an unknown code).
pub(super) async fn code_reused<E: Exec>(x: &mut E, code: &TokenHash) -> Result<bool, StoreError> {
    match one(x, sql::CODE_REUSED, &[code.as_str().into()]).await? {
        Some(r) => Ok(r.opt_int(0)?.is_some()),
        None => Ok(false),
    }
}

/// Whether the code was used already (false for an unknown code).
pub(super) async fn code_spent<E: Exec>(x: &mut E, code: &TokenHash) -> Result<bool, StoreError> {
    match one(x, sql::CODE_STATE, &[code.as_str().into()]).await? {
        Some(r) => Ok(r.opt_int(0)?.is_some()),
        None => Ok(false),
    }
}

// ---- refresh tokens ----

/// Whether the refresh token was used (rotated) or revoked; false for an
/// unknown token.
pub(super) async fn refresh_spent<E: Exec>(
    x: &mut E,
    token: &TokenHash,
) -> Result<bool, StoreError> {
    match one(x, sql::REFRESH_STATE, &[token.as_str().into()]).await? {
        Some(r) => Ok(r.opt_int(1)?.is_some() || r.opt_int(2)?.is_some()),
        None => Ok(false),
    }
}

/// Whether the refresh token was revoked (its family ended: a reuse, an
/// RFC 7009 revocation); false for an unknown token.
pub(super) async fn refresh_revoked<E: Exec>(
    x: &mut E,
    token: &TokenHash,
) -> Result<bool, StoreError> {
    match one(x, sql::REFRESH_STATE, &[token.as_str().into()]).await? {
        Some(r) => Ok(r.opt_int(2)?.is_some()),
        None => Ok(false),
    }
}

pub(super) async fn refresh_family<E: Exec>(
    x: &mut E,
    token: &TokenHash,
) -> Result<Option<RefreshFamily>, StoreError> {
    let row = one(x, sql::REFRESH_BY_HASH, &[token.as_str().into()]).await?;
    family_of_row(x, row).await
}

pub(super) async fn refresh_family_of<E: Exec>(
    x: &mut E,
    passport_jti: &str,
) -> Result<Option<RefreshFamily>, StoreError> {
    let row = one(x, sql::REFRESH_BY_PASSPORT, &[passport_jti.into()]).await?;
    family_of_row(x, row).await
}

/// A row of `family_id, client_id, passport_jti, scope, claims,
/// expires_at`, with the first passport of its family (one row read,
/// however long the family: this runs at every refresh).
async fn family_of_row<E: Exec>(
    x: &mut E,
    row: Option<Row>,
) -> Result<Option<RefreshFamily>, StoreError> {
    let Some(r) = row else {
        return Ok(None);
    };
    let family_id = r.text(0)?;
    let first_passport = one(x, sql::FIRST_FAMILY_PASSPORT, &[family_id.as_str().into()])
        .await?
        .map(|r| r.text(0))
        .transpose()?;
    Ok(Some(RefreshFamily {
        family_id,
        client_id: r.text(1)?,
        passport_jti: r.text(2)?,
        scope: r.text(3)?,
        claims: r.text(4)?,
        expires_at: r.int(5)?,
        first_passport,
    }))
}

pub(super) async fn insert_refresh<E: Exec>(
    x: &mut E,
    t: &NewRefreshToken,
) -> Result<(), StoreError> {
    let changed = x
        .exec(
            sql::INSERT_REFRESH,
            &[
                t.token.as_str().into(),
                t.family_id.as_str().into(),
                t.client_id.as_str().into(),
                t.passport_jti.as_str().into(),
                t.scope.as_str().into(),
                t.claims.as_str().into(),
                t.expires_at.into(),
                t.created_at.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::Corrupt("a refresh token hash collided".into()));
    }
    Ok(())
}

/// Ends the refresh family `family` at `now`, in one transaction: its
/// refresh tokens, and every passport it issued with their descendants
/// (set-based: the newest passports of a long family are revoked at once,
/// not after every older one). The passports revoked. A passport still
/// being minted (not recorded yet) is revoked by its own rotation, which
/// reads its token revoked once it has recorded it.
pub(super) async fn end_family<E: Exec>(
    x: &mut E,
    family: &str,
    now: i64,
) -> Result<Vec<Revoked>, StoreError> {
    // the family's lock first, then the revocation lock, as every other
    // path takes them (a rotation holds the first): no deadlock between
    lock_family(x, family).await?;
    if x.dialect() == Dialect::Postgres {
        x.exec(&pg_lock("pg_advisory_xact_lock", REVOCATION_LOCK), &[])
            .await?;
    }
    x.exec(sql::REVOKE_FAMILY, &[now.into(), family.into()])
        .await?;
    let rows = x
        .query(
            &sql::revoke_family_passports(),
            &[family.into(), now.into()],
        )
        .await?;
    if !rows.is_empty() {
        // in the same transaction: whoever reads the new epoch sees these
        x.exec(sql::BUMP_REVOCATION_EPOCH, &[now.into()]).await?;
    }
    revoked_rows(&rows)
}

/// As [`consume_code`]: a reuse revokes the family and is committed.
pub(super) async fn rotate_refresh<E: Exec>(
    x: &mut E,
    presented: &TokenHash,
    next: &RefreshSuccessor,
    now: i64,
) -> Result<Result<RefreshGrant, StoreError>, StoreError> {
    // the family first (PostgreSQL): the statements below then see every
    // rotation and revocation of it committed before, and none runs meanwhile
    if x.dialect() == Dialect::Postgres
        && let Some(r) = one(x, sql::REFRESH_STATE, &[presented.as_str().into()]).await?
    {
        lock_family(x, &r.text(0)?).await?;
    }
    let used = one(
        x,
        sql::USE_REFRESH,
        &[now.into(), presented.as_str().into()],
    )
    .await?;
    if let Some(r) = used {
        let grant = RefreshGrant {
            family_id: r.text(0)?,
            client_id: r.text(1)?,
            previous_passport_jti: r.text(2)?,
            scope: r.text(3)?,
            claims: r.text(4)?,
        };
        insert_refresh(
            x,
            &NewRefreshToken {
                token: next.token.clone(),
                family_id: grant.family_id.clone(),
                client_id: grant.client_id.clone(),
                passport_jti: next.passport_jti.clone(),
                scope: grant.scope.clone(),
                claims: next.claims.clone().unwrap_or_else(|| grant.claims.clone()),
                expires_at: next.expires_at,
                created_at: now,
            },
        )
        .await?;
        return Ok(Ok(grant));
    }
    let Some(state) = one(x, sql::REFRESH_STATE, &[presented.as_str().into()]).await? else {
        return Ok(Err(StoreError::UnknownRefreshToken));
    };
    let family = state.text(0)?;
    if state.opt_int(1)?.is_some() {
        let revoked = end_family(x, &family, now).await?;
        return Ok(Err(StoreError::RefreshReused { family, revoked }));
    }
    if state.opt_int(2)?.is_some() {
        return Ok(Err(StoreError::RefreshRevoked));
    }
    Ok(Err(StoreError::RefreshExpired))
}

// ---- DPoP replay ----

/// The replay table's first column for a client assertion's `jti`: a
/// prefix no JWK thumbprint has (those are bare base64url), then the
/// client id's hash (bounded, whatever the client id's length).
pub(super) fn assertion_replay_key(client_id: &str) -> String {
    format!("client-assertion:{}", TokenHash::of(client_id).as_str())
}

pub(super) async fn remember_dpop<E: Exec>(
    x: &mut E,
    jkt: &str,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    // the proof's jti is attacker-chosen and unbounded: store its hash
    let jti_hash = TokenHash::of(jti);
    let changed = x
        .exec(
            sql::REMEMBER_DPOP,
            &[
                jkt.into(),
                jti_hash.as_str().into(),
                expires_at.into(),
                now.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::DpopReplayed);
    }
    Ok(())
}

pub(super) async fn purge_expired<E: Exec>(x: &mut E, now: i64) -> Result<u64, StoreError> {
    let mut total = 0;
    for statement in sql::PURGE {
        total += x.exec(statement, &[now.into()]).await?;
    }
    Ok(total)
}

// ---- signing keys ----

fn key_row(r: &Row) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: r.text(0)?,
        alg: r.text(1)?,
        private_key: super::types::KeyMaterial::new(r.text(2)?),
        state: KeyState::parse(&r.text(3)?)?,
        not_before: r.int(4)?,
        retired_at: r.opt_int(5)?,
        max_exp: r.int(6)?,
        created_at: r.int(7)?,
    })
}

/// [`KEYS_LOCK`], on PostgreSQL, until the caller's transaction ends.
async fn lock_keys<E: Exec>(x: &mut E) -> Result<(), StoreError> {
    if x.dialect() == Dialect::Postgres {
        x.exec(&pg_lock("pg_advisory_xact_lock", KEYS_LOCK), &[])
            .await?;
    }
    Ok(())
}

pub(super) async fn add_next_key<E: Exec>(x: &mut E, k: &NewSigningKey) -> Result<(), StoreError> {
    lock_keys(x).await?;
    let changed = x
        .exec(
            sql::INSERT_KEY,
            &[
                k.kid.as_str().into(),
                k.alg.as_str().into(),
                k.private_key.expose().into(),
                k.not_before.into(),
                k.created_at.into(),
            ],
        )
        .await?;
    if changed == 0 {
        // the same kid, or another key is already next
        return Err(StoreError::DuplicateKey(shorten(&k.kid)));
    }
    Ok(())
}

pub(super) async fn add_first_key<E: Exec>(
    x: &mut E,
    k: &NewSigningKey,
) -> Result<bool, StoreError> {
    lock_keys(x).await?;
    let changed = x
        .exec(
            sql::INSERT_FIRST_KEY,
            &[
                k.kid.as_str().into(),
                k.alg.as_str().into(),
                k.private_key.expose().into(),
                k.not_before.into(),
                k.created_at.into(),
            ],
        )
        .await?;
    Ok(changed == 1)
}

pub(super) async fn signing_keys<E: Exec>(x: &mut E) -> Result<Vec<SigningKeyRecord>, StoreError> {
    x.query(&sql::keys(), &[])
        .await?
        .iter()
        .map(key_row)
        .collect()
}

pub(super) async fn promote_next_key<E: Exec>(
    x: &mut E,
    now: i64,
) -> Result<SigningKeyRecord, StoreError> {
    lock_keys(x).await?;
    // only a key whose time has come (a caller's view of the keys may be
    // stale: the next key it saw promoted and another scheduled since), or
    // any on the first start (nothing signed before it)
    let next = match x.dialect() {
        Dialect::Sqlite => sql::DUE_NEXT_KEY.to_owned(),
        // two instances promoting at once: the second waits, then finds none
        Dialect::Postgres => format!("{} FOR UPDATE", sql::DUE_NEXT_KEY),
    };
    let kid = one(x, &next, &[now.into()])
        .await?
        .ok_or(StoreError::NoNextKey)?
        .text(0)?;
    x.exec(sql::RETIRE_CURRENT, &[now.into()]).await?;
    x.exec(sql::MAKE_CURRENT, &[kid.as_str().into()]).await?;
    signing_keys(x)
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or(StoreError::UnknownKey(shorten(&kid)))
}

pub(super) async fn delete_retired_keys<E: Exec>(
    x: &mut E,
    before: i64,
) -> Result<u64, StoreError> {
    x.exec(sql::DELETE_RETIRED_KEYS, &[before.into()]).await
}

// ---- status lists ----

/// The registry's revocation epoch: a counter every revocation of a
/// passport increments in its own transaction.
pub(super) async fn revocation_epoch<E: Exec>(x: &mut E) -> Result<i64, StoreError> {
    one(x, sql::REVOCATION_EPOCH, &[])
        .await?
        .ok_or_else(|| StoreError::Corrupt("the revocation epoch is missing".into()))?
        .int(0)
}

/// `n` indices of the list `uri`, each drawn as [`allocate_status_index`]
/// draws one, in one transaction.
pub(super) async fn allocate_status_indices<E: Exec>(
    x: &mut E,
    uri: &str,
    n: usize,
) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(allocate_status_index(x, uri).await?);
    }
    Ok(out)
}

pub(super) async fn allocate_status_index<E: Exec>(
    x: &mut E,
    uri: &str,
) -> Result<u64, StoreError> {
    let count = one(x, sql::COUNT_ALLOCATION, &[uri.into()])
        .await?
        .ok_or_else(|| StoreError::Corrupt("the allocation returned no count".into()))?
        .int(0)?;
    let count =
        u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("status count {count}")))?;
    let allocated = count.saturating_sub(1);
    // a random index, so that an index tells nothing of how many came before
    let space = crate::status::space_for(count, crate::INITIAL_INDEX_SPACE)
        .ok_or(StoreError::IndexSpaceExhausted { allocated })?;
    // At most half the space is taken: 64 misses have probability ≤ 2^-64.
    for _ in 0..64 {
        let idx = crate::status::random_below(space)?;
        let as_int =
            i64::try_from(idx).map_err(|_| StoreError::Corrupt(format!("status index {idx}")))?;
        if x.exec(sql::TAKE_INDEX, &[uri.into(), as_int.into()])
            .await?
            == 1
        {
            return Ok(idx);
        }
    }
    Err(StoreError::IndexSpaceExhausted { allocated })
}

// ---- shared secrets ----

/// The secret stored under `name`, storing `candidate` first if there is none.
pub(super) async fn shared_secret<E: Exec>(
    x: &mut E,
    name: &str,
    candidate: &str,
    now: i64,
) -> Result<String, StoreError> {
    x.exec(
        sql::INSERT_SECRET,
        &[name.into(), candidate.into(), now.into()],
    )
    .await?;
    one(x, sql::SECRET, &[name.into()])
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("the secret {name} vanished")))?
        .text(0)
}
