-- Cairn catalog, version 10: purges — bytes that had to go (a removal request, leaked personal data).
--
-- A purged image's bytes are deleted from the store even though snapshots name it; snapshot ids do
-- not change. The record says who purged it, when and why; it travels in catalog bundles (a push
-- deletes the bytes on the remote too, a pull deletes them here) and is never undone. Keyed by blob
-- id, not by item: the bytes are what went, whatever path they were imported under.
CREATE TABLE purges (
    blob_id      TEXT    NOT NULL PRIMARY KEY CHECK (length(blob_id) = 64),
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    reason       TEXT    NOT NULL DEFAULT '',
    created_at   REAL    NOT NULL
);
CREATE TRIGGER purges_no_update BEFORE UPDATE ON purges
BEGIN SELECT RAISE(ABORT, 'purges are permanent'); END;
CREATE TRIGGER purges_no_delete BEFORE DELETE ON purges
BEGIN SELECT RAISE(ABORT, 'purges are permanent'); END;
