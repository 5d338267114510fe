//! The statements both backends run, written once. Parameters are `$N`,
//! which PostgreSQL numbers and SQLite treats as named parameters indexed
//! in order of first appearance: in every statement here `$1`, `$2`, …
//! first appear in that order, so both bind the same positional values.

/// The registry's columns, in the order `registry_row` reads them.
pub(super) const REGISTRY_COLUMNS: &str = "jti, parent_jti, client_id, agent_id, principal, \
     audience, scopes, iat, exp, kid, status_uri, status_idx, created_at, state, revoked_at, \
     revoked_reason, environment, approval_id, actor_jti";

pub(super) const INSERT_PASSPORT: &str = "INSERT INTO registry (jti, parent_jti, client_id, \
     agent_id, principal, audience, scopes, iat, exp, kid, status_uri, status_idx, created_at, \
     environment, approval_id, actor_jti) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
     ON CONFLICT DO NOTHING";

/// PostgreSQL's [`INSERT_PASSPORT`], [`LINK_STATE`] (of the parent and of
/// the actor passport) and [`NOTE_KEY_EXP`] in one statement (one round
/// trip where four were; SQLite has no writable CTEs and no round trips):
/// the row is inserted only if its parent (`$2`) and its actor passport
/// (`$16`) are each absent (NULL) or active, and the key's `max_exp`
/// follows only a row inserted. Its row: the parent's state (NULL for a
/// root or an unknown parent), the rows inserted (0 or 1), and the actor
/// passport's state (NULL without an actor or for an unknown one). Run
/// after the revocation lock, in a statement of its own, so that its
/// snapshot sees every revocation committed before the lock was granted.
/// (`$16` first appears after `$15`: the numbering rule above holds.)
pub(super) const RECORD_PASSPORT_POSTGRES: &str = "WITH parent AS ( \
       SELECT state FROM registry WHERE jti = $2::text), \
     inserted AS ( \
       INSERT INTO registry (jti, parent_jti, client_id, agent_id, principal, audience, \
         scopes, iat, exp, kid, status_uri, status_idx, created_at, environment, approval_id, \
         actor_jti) \
       SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, \
         $8::bigint, $9::bigint, $10::text, $11::text, $12::bigint, $13::bigint, $14::text, \
         $15::text, $16::text \
       WHERE ($2::text IS NULL OR (SELECT state FROM parent) = 'active') \
         AND ($16::text IS NULL \
           OR (SELECT state FROM registry WHERE jti = $16::text) = 'active') \
       ON CONFLICT DO NOTHING RETURNING exp, kid), \
     noted AS ( \
       UPDATE signing_keys SET max_exp = inserted.exp FROM inserted \
       WHERE signing_keys.kid = inserted.kid AND signing_keys.max_exp < inserted.exp) \
     SELECT (SELECT state FROM parent), (SELECT count(*) FROM inserted), \
       (SELECT state FROM registry WHERE jti = $16::text)";

/// The state of the passport `$1`: a delegated passport's parent, or the
/// actor passport a passport is minted for.
pub(super) const LINK_STATE: &str = "SELECT state FROM registry WHERE jti = $1";

pub(super) const NOTE_KEY_EXP: &str =
    "UPDATE signing_keys SET max_exp = $1 WHERE max_exp < $1 AND kid = $2";

pub(super) const PASSPORT_EXISTS: &str = "SELECT 1 FROM registry WHERE jti = $1";

/// What a revoking statement returns of each passport it revoked: what
/// the status list must show, and the holder its audit record names (read
/// in the same statement, not once per passport afterwards).
pub(super) const REVOKED_COLUMNS: &str = "jti, status_uri, status_idx, revoked_reason, \
     agent_id, principal, client_id, audience, parent_jti, actor_jti";

/// Revokes, at `$2`, every passport `roots` selects (a condition on a
/// `registry` row, naming `$1`) and every passport that depends on one:
/// those delegated from it (`parent_jti`) and those minted for it as the
/// actor passport (`actor_jti`: bound to its key, expiring with it), and
/// theirs, by either link, at any depth — in one statement, however many
/// there are. `UNION`, not `UNION ALL`: each passport enters the walk
/// once, so a passport reached by two links (its parent and its actor,
/// even the same one) is revoked once and a cyclic row (never written by
/// the server: a link names a passport recorded before) ends the walk. No
/// depth bound: the walk is finite, and a bound would leave what lies
/// beyond it active. The roots are `direct`, the rest `cascaded`.
pub(super) fn revoke_tree(roots: &str) -> String {
    format!(
        "WITH RECURSIVE chain(jti) AS ( \
           SELECT jti FROM registry WHERE {roots} \
           UNION \
           SELECT r.jti FROM registry r JOIN chain c \
             ON r.parent_jti = c.jti OR r.actor_jti = c.jti) \
         UPDATE registry SET state = 'revoked', revoked_at = $2, \
           revoked_reason = CASE WHEN {roots} THEN 'direct' ELSE 'cascaded' END \
         WHERE jti IN (SELECT jti FROM chain) AND state = 'active' \
         RETURNING {REVOKED_COLUMNS}"
    )
}

/// [`revoke_tree`] of the passport `$1`.
pub(super) fn revoke_cascade() -> String {
    revoke_tree("jti = $1")
}

/// [`revoke_tree`] of every active passport the refresh family `$1`
/// issued (the code grant's and every rotation's). A revoked one is no
/// root: its revocation revoked what depended on it, and nothing is
/// recorded under a revoked passport since, so a family ended already is
/// not walked again (a kill-switch's roots are its active passports too).
pub(super) fn revoke_family_passports() -> String {
    revoke_tree(
        "jti IN (SELECT passport_jti FROM refresh_tokens WHERE family_id = $1) \
         AND state = 'active'",
    )
}

/// Moves the revocation epoch and records `$1` as the latest revocation's
/// time (never moved backwards: an instance whose clock is behind does not
/// make a later list look older), in one statement: whoever reads the new
/// epoch reads that time with it.
pub(super) const BUMP_REVOCATION_EPOCH: &str = "UPDATE registry_epoch \
     SET revocations = revocations + 1, \
       revoked_at = CASE WHEN revoked_at > $1 THEN revoked_at ELSE $1 END \
     WHERE id = 1";

pub(super) const REVOCATION_EPOCH: &str = "SELECT revocations FROM registry_epoch WHERE id = 1";

pub(super) const REVOKED_INDICES: &str = "SELECT status_idx FROM registry \
     WHERE status_uri = $1 AND state = 'revoked' AND status_idx IS NOT NULL ORDER BY status_idx";

pub(super) fn passport_by_jti() -> String {
    format!("SELECT {REGISTRY_COLUMNS} FROM registry WHERE jti = $1")
}

/// The passport and its ancestors, root first (bounded: a chain is never
/// that deep, a corrupt cycle does not loop).
pub(super) fn chain() -> String {
    let columns = qualified(REGISTRY_COLUMNS, "r");
    format!(
        "WITH RECURSIVE up(jti, parent_jti, depth) AS ( \
           SELECT jti, parent_jti, 0 FROM registry WHERE jti = $1 \
           UNION ALL \
           SELECT r.jti, r.parent_jti, up.depth + 1 FROM registry r \
             JOIN up ON r.jti = up.parent_jti WHERE up.depth < 64) \
         SELECT {columns} FROM registry r JOIN up ON r.jti = up.jti ORDER BY up.depth DESC"
    )
}

pub(super) const CLIENT_COLUMNS: &str = "client_id, kind, secret_hash, auth_method, \
     redirect_uris, grant_types, scopes, owner, jwks, metadata, created_at";

pub(super) const INSERT_CLIENT: &str = "INSERT INTO clients (client_id, kind, secret_hash, \
     auth_method, redirect_uris, grant_types, scopes, owner, jwks, metadata, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";

pub(super) fn client_by_id() -> String {
    format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1")
}

/// `columns` (comma-separated), each prefixed with the table alias `alias`.
pub(super) fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The client `$1` (NULLs when unknown) and the revocation epoch after
/// its columns, in one read: one round trip on PostgreSQL where two were.
pub(super) fn client_and_epoch() -> String {
    let columns = qualified(CLIENT_COLUMNS, "c");
    format!(
        "SELECT {columns}, e.revocations FROM registry_epoch e \
         LEFT JOIN clients c ON c.client_id = $1 WHERE e.id = 1"
    )
}

pub(super) const DELETE_CLIENT: &str = "DELETE FROM clients WHERE client_id = $1";

pub(super) const INSERT_CODE: &str = "INSERT INTO auth_codes (code_hash, client_id, \
     redirect_uri, code_challenge, resource, scope, claims, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";

pub(super) const CONSUME_CODE: &str = "UPDATE auth_codes SET used_at = $1, issued_jtis = $2 \
     WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $1 \
     RETURNING client_id, redirect_uri, code_challenge, resource, scope, claims, expires_at";

pub(super) const CODE_BY_HASH: &str = "SELECT client_id, redirect_uri, code_challenge, \
     resource, scope, claims, expires_at FROM auth_codes WHERE code_hash = $1";

pub(super) const REFRESH_BY_HASH: &str = "SELECT family_id, client_id, passport_jti, scope, \
     claims, expires_at FROM refresh_tokens WHERE token_hash = $1";

pub(super) const REFRESH_BY_PASSPORT: &str = "SELECT family_id, client_id, passport_jti, \
     scope, claims, expires_at FROM refresh_tokens WHERE passport_jti = $1 LIMIT 1";

pub(super) const MARK_CODE_REUSED: &str =
    "UPDATE auth_codes SET reused_at = $1 WHERE code_hash = $2 AND reused_at IS NULL";

pub(super) const CODE_REUSED: &str = "SELECT reused_at FROM auth_codes WHERE code_hash = $1";

pub(super) const CODE_STATE: &str =
    "SELECT used_at, issued_jtis FROM auth_codes WHERE code_hash = $1";

pub(super) const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, family_id, \
     client_id, passport_jti, scope, claims, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";

pub(super) const USE_REFRESH: &str = "UPDATE refresh_tokens SET used_at = $1 \
     WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
     RETURNING family_id, client_id, passport_jti, scope, claims, expires_at";

pub(super) const REFRESH_STATE: &str =
    "SELECT family_id, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1";

pub(super) const REVOKE_FAMILY: &str =
    "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL";

/// The passport the family `$1` issued first (the code grant's): one row,
/// not the family's every passport at every refresh.
pub(super) const FIRST_FAMILY_PASSPORT: &str = "SELECT passport_jti FROM refresh_tokens \
     WHERE family_id = $1 ORDER BY created_at LIMIT 1";

pub(super) const REMEMBER_DPOP: &str = "INSERT INTO dpop_replay (jkt, jti_hash, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (jkt, jti_hash) DO UPDATE \
     SET expires_at = excluded.expires_at WHERE dpop_replay.expires_at <= $4";

pub(super) const PURGE: [&str; 3] = [
    "DELETE FROM dpop_replay WHERE expires_at <= $1",
    "DELETE FROM auth_codes WHERE expires_at <= $1",
    "DELETE FROM refresh_tokens WHERE expires_at <= $1",
];

pub(super) const KEY_COLUMNS: &str =
    "kid, alg, private_key, state, not_before, retired_at, max_exp, created_at";

pub(super) const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_key, state, \
     not_before, created_at) VALUES ($1, $2, $3, 'next', $4, $5) ON CONFLICT DO NOTHING";

/// [`INSERT_KEY`], only while no key is current or next.
pub(super) const INSERT_FIRST_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_key, \
     state, not_before, created_at) SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), \
     CAST($3 AS TEXT), 'next', CAST($4 AS BIGINT), CAST($5 AS BIGINT) \
     WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE state IN ('current', 'next')) \
     ON CONFLICT DO NOTHING";

pub(super) fn keys() -> String {
    format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid")
}

pub(super) const RETIRE_CURRENT: &str =
    "UPDATE signing_keys SET state = 'retired', retired_at = $1 WHERE state = 'current'";

/// The next key if it is due at `$1`, or if no key is current yet.
pub(super) const DUE_NEXT_KEY: &str = "SELECT kid FROM signing_keys WHERE state = 'next' \
     AND (not_before <= $1 OR NOT EXISTS (SELECT 1 FROM signing_keys WHERE state = 'current'))";

pub(super) const MAKE_CURRENT: &str = "UPDATE signing_keys SET state = 'current' WHERE kid = $1";

pub(super) const DELETE_RETIRED_KEYS: &str =
    "DELETE FROM signing_keys WHERE state = 'retired' AND max_exp < $1";

/// Counts an allocation of the list `$1` (`next_idx` is the number handed
/// out); on PostgreSQL the row lock queues the list's other allocations.
pub(super) const COUNT_ALLOCATION: &str = "INSERT INTO status_allocation (uri, next_idx) \
     VALUES ($1, 1) ON CONFLICT (uri) DO UPDATE SET next_idx = status_allocation.next_idx + 1 \
     RETURNING next_idx";

/// Takes the index `$2` of the list `$1`: one row changed, or none if taken.
pub(super) const TAKE_INDEX: &str =
    "INSERT INTO status_index (uri, idx) VALUES ($1, $2) ON CONFLICT (uri, idx) DO NOTHING";

pub(super) const INSERT_SECRET: &str = "INSERT INTO server_secrets (name, value, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

pub(super) const SECRET: &str = "SELECT value FROM server_secrets WHERE name = $1";

pub(super) const MIGRATIONS_TABLE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations ( \
       version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL \
     ) STRICT";

pub(super) const MIGRATIONS_TABLE_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS \
     schema_migrations (version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, \
     applied_at BIGINT NOT NULL)";

/// How many `schema_migrations` tables the search path shows (PostgreSQL).
#[cfg(feature = "postgres")]
pub(super) const MIGRATIONS_TABLE_EXISTS: &str = "SELECT count(*) FROM pg_catalog.pg_tables \
     WHERE tablename = 'schema_migrations' AND schemaname = ANY(current_schemas(false))";

pub(super) const APPLIED_VERSIONS: &str = "SELECT version FROM schema_migrations ORDER BY version";

pub(super) const RECORD_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)";
