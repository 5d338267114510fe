-- The token service's state (passport-store `server`), PostgreSQL flavour,
-- version 1. Kept in lockstep with ../sqlite/0001_server_state.sql: same
-- tables, columns and nullability; BIGINT here is INTEGER there. Applied in
-- one transaction and recorded in schema_migrations. Never edit an applied
-- migration: add the next file (with the same number on both sides).

-- Every passport minted.
CREATE TABLE registry (
    jti            TEXT    PRIMARY KEY NOT NULL,
    parent_jti     TEXT,
    client_id      TEXT    NOT NULL,
    agent_id       TEXT    NOT NULL,
    principal      TEXT    NOT NULL,
    audience       TEXT    NOT NULL,
    scopes         TEXT    NOT NULL,
    iat            BIGINT  NOT NULL,
    exp            BIGINT  NOT NULL,
    kid            TEXT    NOT NULL,
    status_uri     TEXT,
    status_idx     BIGINT,
    state          TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
    revoked_at     BIGINT,
    revoked_reason TEXT    CHECK (revoked_reason IN ('direct', 'cascaded')),
    created_at     BIGINT  NOT NULL
);
CREATE INDEX registry_parent ON registry (parent_jti);
CREATE UNIQUE INDEX registry_status ON registry (status_uri, status_idx);

-- Registered clients (operator, dynamic registration, metadata documents).
CREATE TABLE clients (
    client_id     TEXT    PRIMARY KEY NOT NULL,
    kind          TEXT    NOT NULL
        CHECK (kind IN ('public', 'confidential', 'workload', 'metadata-document', 'dynamic')),
    -- SHA-256 (base64url) of a 256-bit random secret; NULL without one
    secret_hash   TEXT,
    auth_method   TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL, -- JSON array
    grant_types   TEXT    NOT NULL, -- JSON array
    scopes        TEXT    NOT NULL, -- space-separated scope patterns it may be granted
    owner         TEXT,             -- the principal a workload acts for
    jwks          TEXT,             -- JSON, for private_key_jwt
    metadata      TEXT    NOT NULL, -- JSON, as registered
    created_at    BIGINT  NOT NULL
);

-- Authorization codes, by hash; single use.
CREATE TABLE auth_codes (
    code_hash      TEXT    PRIMARY KEY NOT NULL,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    claims         TEXT    NOT NULL, -- JSON: the principal and its claims
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT,
    issued_jtis    TEXT              -- JSON array, set by the first use
);
CREATE INDEX auth_codes_expiry ON auth_codes (expires_at);

-- Refresh tokens, by hash; rotated on use, a family revoked on reuse.
CREATE TABLE refresh_tokens (
    token_hash   TEXT    PRIMARY KEY NOT NULL,
    family_id    TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    passport_jti TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    claims       TEXT    NOT NULL,
    expires_at   BIGINT  NOT NULL,
    used_at      BIGINT,
    revoked_at   BIGINT,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- DPoP proofs seen, until they expire: a second insert is a replay.
CREATE TABLE dpop_replay (
    jkt        TEXT    NOT NULL,
    jti_hash   TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (jkt, jti_hash)
);
CREATE INDEX dpop_replay_expiry ON dpop_replay (expires_at);

-- The server's own signing keys, private halves included (the database is the trust boundary).
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY NOT NULL,
    alg         TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    not_before  BIGINT  NOT NULL,
    retired_at  BIGINT,
    max_exp     BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);
-- At most one current key and one next key.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

-- Per status list, the next index to hand out.
CREATE TABLE status_allocation (
    uri      TEXT    PRIMARY KEY NOT NULL,
    next_idx BIGINT  NOT NULL
);
