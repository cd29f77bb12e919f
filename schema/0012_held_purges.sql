-- Cairn catalog, version 12: purges a pull brought that are not applied yet.
--
-- A purge deletes bytes for good, so a remote's word is not enough: a pulled purge is applied only
-- when it was recorded by someone this catalog already knew as a reviewer or admin before the pull.
-- Any other is held here, its images untouched, until someone here applies it
-- (`cairn purge --apply-pulled`, which moves it to purges) or dismisses it (`--dismiss-pulled`).
CREATE TABLE held_purges (
    blob_id      TEXT    NOT NULL PRIMARY KEY CHECK (length(blob_id) = 64),
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    reason       TEXT    NOT NULL DEFAULT '',
    created_at   REAL    NOT NULL,
    held_at      REAL    NOT NULL
);

-- People a pulled bundle added carry the role the remote claimed for them, which this repository never
-- granted: their purges are held too. 1 for them; 0 for everyone added here.
ALTER TABLE annotators ADD COLUMN pulled INTEGER NOT NULL DEFAULT 0;
