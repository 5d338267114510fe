-- Revoking a passport issued in a refresh family ends the family (issue
-- 13, review): the family is found by the passport's jti, which each
-- refresh token row names. Kept in lockstep with
-- ../sqlite/0006_refresh_by_passport.sql.
CREATE INDEX refresh_tokens_passport ON refresh_tokens (passport_jti);
