-- Status indices are drawn at random from the list's space (third review,
-- finding 7: the counter 0, 1, 2, ... told anyone holding a passport how
-- many were issued before it). status_allocation.next_idx now counts the
-- indices handed out; this table holds them, and a drawn index already
-- here is drawn again.
CREATE TABLE status_index (
    uri TEXT    NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (uri, idx)
) STRICT;

-- The indices the counter handed out before: 0 .. next_idx - 1.
WITH RECURSIVE taken (uri, idx) AS (
    SELECT uri, 0 FROM status_allocation WHERE next_idx > 0
    UNION ALL
    SELECT t.uri, t.idx + 1
    FROM taken t JOIN status_allocation a ON a.uri = t.uri
    WHERE t.idx + 1 < a.next_idx
)
INSERT INTO status_index (uri, idx) SELECT uri, idx FROM taken;
