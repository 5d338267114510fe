-- Governance (issue 14): agent identities, approvals, and the registry's
-- environment and approval of each passport. Kept in lockstep with
-- ../postgres/0007_governance.sql.

-- Agent identities, registered by an identity administrator.
CREATE TABLE agent_identities (
    agent_id   TEXT    PRIMARY KEY NOT NULL,
    owner      TEXT    NOT NULL, -- the principal answerable for the agent
    team       TEXT    NOT NULL,
    roles      TEXT    NOT NULL, -- JSON array of strings
    state      TEXT    NOT NULL CHECK (state IN ('active', 'disabled')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL  -- the administrator of the last change
) STRICT;

-- Requests for an environment that needs approval, and their decisions.
CREATE TABLE approvals (
    id           TEXT    PRIMARY KEY NOT NULL,
    agent_id     TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    audience     TEXT    NOT NULL,
    scopes       TEXT    NOT NULL, -- space-separated, canonical order
    requested_by TEXT    NOT NULL, -- the principal of the request
    requested_at INTEGER NOT NULL,
    state        TEXT    NOT NULL
        CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
    decided_by   TEXT,
    decided_at   INTEGER,
    expires_at   INTEGER            -- an approval admits until then
) STRICT;
-- one pending request per (agent, environment, audience, scopes)
CREATE UNIQUE INDEX approvals_one_pending ON approvals (agent_id, environment, audience, scopes)
    WHERE state = 'pending';
CREATE INDEX approvals_request ON approvals (agent_id, environment, audience, state);
CREATE INDEX approvals_state ON approvals (state, requested_at);

ALTER TABLE registry ADD COLUMN environment TEXT;
ALTER TABLE registry ADD COLUMN approval_id TEXT;
