-- Cairn catalog, version 4: leases, so annotators labeling at once get different items.
-- A lease is held by one labeling process (host and pid) until it expires; a process that dies
-- simply stops renewing, and its items return to the queue when the lease runs out.
CREATE TABLE leases (
    item_id      INTEGER NOT NULL REFERENCES items(id),
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    expires_at   REAL    NOT NULL,
    PRIMARY KEY (item_id, annotator_id)
) WITHOUT ROWID;
CREATE INDEX leases_expiry ON leases(item_id, expires_at);
