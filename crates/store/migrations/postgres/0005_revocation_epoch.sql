-- A counter every revocation of a passport increments in its own
-- transaction (issue 13, performance): an instance remembers which
-- passports it found active at a value of the counter, and reads the
-- registry again only when the counter moved, so a revocation made by any
-- instance on this database is seen by the next introspection everywhere.
-- Kept in lockstep with ../sqlite/0003_revocation_epoch.sql.
CREATE TABLE registry_epoch (
    id          BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    revocations BIGINT NOT NULL
);
INSERT INTO registry_epoch (id, revocations) VALUES (1, 0);
