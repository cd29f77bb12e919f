-- Cairn catalog, version 14: bounding boxes.
-- A box label is one person's set of boxes for an item, appended like a class label: the current
-- boxes of an (item, annotator) are their latest row in the label order (stamp), a reviewer's latest
-- row (verdict = 1) wins over annotators (BoxPolicy). `boxes` is the set as CairnCatalog's BoxCoding
-- writes it: per box a class id (classes.id), x, y, width, height in pixels of the stored image and
-- flags (crowd, occluded). The catalog checks the boxes before it writes them.
CREATE TABLE box_labels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id     INTEGER NOT NULL REFERENCES items(id),
    person_id   INTEGER NOT NULL REFERENCES annotators(id),
    verdict     INTEGER NOT NULL CHECK (verdict IN (0, 1)),
    created_at  REAL    NOT NULL,
    stamp       BLOB    NOT NULL CHECK (length(stamp) = 16),
    boxes       BLOB    NOT NULL
);
CREATE INDEX box_labels_latest ON box_labels(verdict, item_id, person_id, stamp);
CREATE INDEX box_labels_item ON box_labels(item_id, stamp);

CREATE TRIGGER box_labels_append_only_update BEFORE UPDATE ON box_labels
BEGIN SELECT RAISE(ABORT, 'box labels are append-only'); END;
CREATE TRIGGER box_labels_append_only_delete BEFORE DELETE ON box_labels
BEGIN SELECT RAISE(ABORT, 'box labels are append-only'); END;

CREATE TRIGGER dirty_on_box_label AFTER INSERT ON box_labels BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT NEW.item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;

-- Renaming a class renames it in every box set; the class ids are inside the sets, so every item with
-- boxes is marked (renames are rare, and the next snapshot re-reads only these items).
CREATE TRIGGER dirty_on_class_rename_boxes AFTER UPDATE OF name ON classes WHEN OLD.name IS NOT NEW.name BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT DISTINCT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) FROM box_labels
    WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;
