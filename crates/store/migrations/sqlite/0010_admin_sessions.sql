-- Administrators' dashboard sessions (issue 14): one row per browser
-- session, shared by every instance on the database. The session id never
-- is stored, only its SHA-256 (base64url): a copy of the table opens no
-- session. Kept in lockstep with ../postgres/0010_admin_sessions.sql.
CREATE TABLE admin_sessions (
    id_hash      TEXT    PRIMARY KEY NOT NULL,
    principal    TEXT    NOT NULL,
    -- the roles the mapping gave at login, a JSON list of role names
    roles        TEXT    NOT NULL,
    -- the secret the session's CSRF tokens are checked against
    csrf_secret  TEXT    NOT NULL,
    created_at   INTEGER  NOT NULL,
    expires_at   INTEGER  NOT NULL,
    last_seen    INTEGER  NOT NULL,
    idle_timeout INTEGER  NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
