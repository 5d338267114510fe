-- passport-store schema, version 1.
-- Applied on open, inside one BEGIN IMMEDIATE transaction, when
-- `PRAGMA user_version` is below 1. Never edit an applied migration: add
-- the next file instead.

-- The local issuer's signing keys (public halves and lifecycle; the private
-- halves stay in 0600 key files named by `kid`).
CREATE TABLE keys (
    kid        TEXT    PRIMARY KEY NOT NULL,
    alg        TEXT    NOT NULL,
    public_jwk TEXT    NOT NULL,
    created    INTEGER NOT NULL,
    -- when the key stopped signing; NULL for the current key
    retired    INTEGER,
    -- when the key was withdrawn (compromised): never published again
    revoked    INTEGER,
    -- the latest `exp` of any passport the key signed
    max_exp    INTEGER NOT NULL DEFAULT 0,
    -- the latest `iat` of any passport the key signed: a retirement time is
    -- never before it, whatever the clocks of concurrent processes say
    last_iat   INTEGER NOT NULL DEFAULT 0,
    CHECK (revoked IS NULL OR retired IS NOT NULL)
) STRICT;
-- At most one current key.
CREATE UNIQUE INDEX keys_one_current ON keys ((retired IS NULL)) WHERE retired IS NULL;

-- One row per status list this issuer publishes.
CREATE TABLE status_lists (
    id        INTEGER PRIMARY KEY,
    uri       TEXT    NOT NULL UNIQUE,
    -- the index space (a power of two); doubles when half of it is used
    space     INTEGER NOT NULL,
    -- indices ever handed out (pruned ones included: none is reused)
    allocated INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One row per index ever handed out. Pruning an expired record clears its
-- `jti` and `agent_id` but keeps the row, so the index is never reused.
CREATE TABLE status (
    list       INTEGER NOT NULL REFERENCES status_lists (id),
    idx        INTEGER NOT NULL,
    jti        TEXT    UNIQUE,
    agent_id   TEXT,
    exp        INTEGER NOT NULL,
    status     INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    changed_at INTEGER,
    PRIMARY KEY (list, idx)
) STRICT, WITHOUT ROWID;
-- Pruning finds expired live records without a scan.
CREATE INDEX status_live_by_exp ON status (exp) WHERE jti IS NOT NULL;
-- The published list and `passport revocations` read only the non-valid ones.
CREATE INDEX status_not_valid ON status (list, status) WHERE status != 0;
