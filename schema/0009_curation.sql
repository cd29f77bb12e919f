-- Cairn catalog, version 9: curation — moving items between splits, and removing classes.
--
-- An item's split is the one its latest split change gives (greatest stamp: microseconds, then
-- SHA-256 of "split:NAME", as LabelOrder stamps labels), else the split it was imported with.
-- items.split holds that result and is kept up to date where changes are written and merged; the
-- events travel in catalog bundles, so replicas that exchanged the same changes agree.
CREATE TABLE split_changes (
    id           INTEGER PRIMARY KEY,
    item_id      INTEGER NOT NULL REFERENCES items(id),
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    split        TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    created_at   REAL NOT NULL,
    stamp        BLOB NOT NULL
);
CREATE INDEX split_changes_item ON split_changes(item_id, stamp);
CREATE TRIGGER split_changes_no_update BEFORE UPDATE ON split_changes
BEGIN SELECT RAISE(ABORT, 'split changes are append-only'); END;
CREATE TRIGGER split_changes_no_delete BEFORE DELETE ON split_changes
BEGIN SELECT RAISE(ABORT, 'split changes are append-only'); END;

-- A removed class (`classes remove`, `classes merge`) stays for the history that names it, out of
-- every list, its key freed; removal travels in bundles and is never undone (a tombstone).
ALTER TABLE classes ADD COLUMN removed_at REAL;
