-- When each status list was last published: the next publication gets a
-- strictly later `iat`, so two lists of one second are never ambiguous.
CREATE TABLE published_lists (
    uri TEXT PRIMARY KEY NOT NULL,
    last_iat INTEGER NOT NULL
);
