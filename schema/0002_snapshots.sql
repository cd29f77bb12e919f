-- Cairn catalog, version 2: snapshots, tags with history, reviewer verdicts, and the change log
-- that lets a snapshot rebuild only what changed since the last one.

-- One row per snapshot. id is the SHA-256 of its root tree object (see Docs/FORMAT.md);
-- everything else is recorded beside the content, not inside it.
CREATE TABLE snapshots (
    seq         INTEGER PRIMARY KEY,    -- creation order
    id          TEXT    NOT NULL UNIQUE CHECK (length(id) = 64),
    parent_id   TEXT    REFERENCES snapshots(id),
    message     TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    item_count  INTEGER NOT NULL,
    counts      TEXT    NOT NULL        -- JSON: {"classes": {name: n}, "splits": {split: n}, "unlabeled": n, "conflicts": n}
);

-- The snapshot the working state was last frozen into; snapshot_dirty is relative to it.
CREATE TABLE snapshot_head (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    snapshot_id TEXT    NOT NULL REFERENCES snapshots(id)
);

-- Tags are immutable names for snapshots; moving one (with --force) keeps the old target in history.
CREATE TABLE tags (
    name        TEXT    PRIMARY KEY,
    snapshot_id TEXT    NOT NULL REFERENCES snapshots(id),
    created_at  REAL    NOT NULL,
    author      TEXT    NOT NULL
) WITHOUT ROWID;

CREATE TABLE tag_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    snapshot_id TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('create', 'move', 'delete')),
    at          REAL    NOT NULL,
    author      TEXT    NOT NULL
);

-- Reviewer verdicts: append-only like annotations; the latest verdict per item wins.
CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id     INTEGER NOT NULL REFERENCES items(id),
    reviewer_id INTEGER NOT NULL REFERENCES annotators(id),
    class_id    INTEGER NOT NULL REFERENCES classes(id),
    created_at  REAL    NOT NULL
);
CREATE INDEX reviews_item ON reviews(item_id, id);
CREATE TRIGGER reviews_append_only_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER reviews_append_only_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;

-- Items whose snapshot record may have changed since snapshot_head, with a rising sequence
-- number so a snapshot clears only the changes it saw. Before the first snapshot nothing is
-- recorded: the first snapshot reads every item anyway (and marks what arrived while it ran).
CREATE TABLE snapshot_dirty (
    item_id     INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL
);
CREATE INDEX snapshot_dirty_seq ON snapshot_dirty(seq);

CREATE TRIGGER dirty_on_item_insert AFTER INSERT ON items BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT NEW.id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER dirty_on_item_update AFTER UPDATE ON items BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT NEW.id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER dirty_on_annotation AFTER INSERT ON annotations BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT NEW.item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER dirty_on_review AFTER INSERT ON reviews BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT NEW.item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;
-- Renaming a class changes the label of every item that carries it anywhere in its history.
CREATE TRIGGER dirty_on_class_rename AFTER UPDATE OF name ON classes BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT DISTINCT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty)
    FROM (SELECT item_id FROM annotations WHERE class_id = NEW.id
          UNION SELECT item_id FROM reviews WHERE class_id = NEW.id) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;
