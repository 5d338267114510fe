-- The tamper-evident audit trail (issue 14): one hash chain per server
-- process, each record stored as the exact JSON line it was hashed as
-- (passport-audit's chain). audit_heads keeps each chain's last seq and
-- hash, updated in the transaction that appends, so that a verifier
-- detects records cut off the end (which the chain alone cannot show).
-- Kept in lockstep with ../postgres/0009_audit.sql.
CREATE TABLE audit_log (
    chain_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (chain_id, seq)
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TABLE audit_heads (
    chain_id TEXT NOT NULL PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
