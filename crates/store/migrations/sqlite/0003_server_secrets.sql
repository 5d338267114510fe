-- Secrets every instance on one database shares, by name (first: the key of
-- the stateless DPoP nonces, "dpop_nonce"). Written once, by whichever
-- instance starts first; read at every start. Kept in lockstep with
-- ../postgres/0003_server_secrets.sql.
CREATE TABLE server_secrets (
    name       TEXT    PRIMARY KEY NOT NULL,
    value      TEXT    NOT NULL, -- base64url
    created_at INTEGER NOT NULL
) STRICT;
