-- Kill-switches and rotation lineage (issue 14). Kept in lockstep with
-- ../postgres/0008_lifecycle_kill.sql.
--
-- A kill-switch blocks issuance for an agent identity, a principal or a
-- client until an administrator lifts it; engaging one also revokes what
-- it holds. Lifted switches stay, as history.
CREATE TABLE kill_switches (
    id         TEXT    PRIMARY KEY NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('agent', 'principal', 'client')),
    subject    TEXT    NOT NULL,
    engaged_at INTEGER NOT NULL,
    engaged_by TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    lifted_at  INTEGER,
    lifted_by  TEXT
) STRICT;
-- At most one engaged switch per subject; the issuance check reads it.
CREATE UNIQUE INDEX kill_switches_engaged ON kill_switches (kind, subject)
    WHERE lifted_at IS NULL;

-- A passport's successor, once one names it (`replaces`, or the refresh
-- grant): the passport is then ROTATED. The index finds a passport's
-- predecessor (only rotated rows are indexed).
ALTER TABLE registry ADD COLUMN successor_jti TEXT;
CREATE INDEX registry_successor ON registry (successor_jti) WHERE successor_jti IS NOT NULL;
