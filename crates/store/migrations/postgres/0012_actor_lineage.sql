-- Review rev11-c, finding 1. Kept in lockstep with
-- ../sqlite/0012_actor_lineage.sql.
--
-- The actor passport a passport was minted for (RFC 8693 `actor_token`):
-- such a passport is bound to the actor passport's key and expires with
-- it, so it depends on that passport as a child on its parent. A
-- revocation follows this link as it follows `parent_jti` (the cascade,
-- a kill-switch's revocation), the kill-switch check walks it up as a
-- parent link, and a passport whose actor passport is revoked is not
-- recorded (`actor_revoked`). NULL for a passport minted without an
-- actor, and for every row recorded before this migration: the actor was
-- not recorded then, and cannot be recovered (such a passport still ends
-- at its `exp`, never later than its actor passport's).
ALTER TABLE registry ADD COLUMN actor_jti TEXT;
-- The cascade looks passports up by their actor as by their parent.
CREATE INDEX registry_actor ON registry (actor_jti);
