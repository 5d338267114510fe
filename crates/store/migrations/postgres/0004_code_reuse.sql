-- A second use of an authorization code marks it (in the transaction that
-- refuses that use), so that a first use still minting sees the reuse after
-- recording its passport and revokes it itself. Kept in lockstep with
-- ../sqlite/0004_code_reuse.sql.
ALTER TABLE auth_codes ADD COLUMN reused_at BIGINT;
