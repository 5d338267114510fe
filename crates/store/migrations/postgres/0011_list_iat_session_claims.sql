-- Session 5, second review. Kept in lockstep with
-- ../sqlite/0011_list_iat_session_claims.sql.
--
-- The time of the latest revocation, set by the UPDATE that moves the
-- revocation counter (never backwards): a status list signed after a
-- revocation names at least this time as its `iat`, so the list from
-- before the revocation is older and a verifier refuses it as a rollback.
ALTER TABLE registry_epoch ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;

-- The upstream claim values an administrator's session was opened with
-- (JSON {"claim": NAME, "values": [...]}: the mapping's claim and its values): the
-- session's roles are mapped from them on every request with the mapping
-- in force, so a changed or reloaded mapping applies at once. A session
-- opened before this migration has none, and so no role.
ALTER TABLE admin_sessions ADD COLUMN claim_values TEXT NOT NULL DEFAULT '{}';
