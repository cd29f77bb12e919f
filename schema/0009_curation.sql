-- Cairn catalog, version 9: curation — moving items between splits, removing items and classes.
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

-- Removing items from the working state (`cairn rm`; a re-import of a changed file replaces the
-- item at its path) and bringing them back (re-importing the same bytes), as events ordered like
-- labels (stamp over "removed" or "present"). items.removed holds the latest event's answer; a
-- removed item is in no list, queue or later snapshot, and its history stays.
ALTER TABLE items ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE item_removals (
    id           INTEGER PRIMARY KEY,
    item_id      INTEGER NOT NULL REFERENCES items(id),
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    removed      INTEGER NOT NULL CHECK (removed IN (0, 1)),
    created_at   REAL NOT NULL,
    stamp        BLOB NOT NULL
);
CREATE INDEX item_removals_item ON item_removals(item_id, stamp);
CREATE TRIGGER item_removals_no_update BEFORE UPDATE ON item_removals
BEGIN SELECT RAISE(ABORT, 'item removals are append-only'); END;
CREATE TRIGGER item_removals_no_delete BEFORE DELETE ON item_removals
BEGIN SELECT RAISE(ABORT, 'item removals are append-only'); END;
