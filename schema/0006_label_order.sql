-- Cairn catalog, version 6: one order of labels that every replica computes the same way.
--
-- An annotator's current label is their latest annotation, and the current verdict the latest
-- review. "Latest" used to be the highest row id, which is insertion order: two repositories that
-- merged the same rows in different orders disagreed. Now each row carries `stamp`, 16 bytes:
-- the recorded time in microseconds since 1970 (8 bytes, big-endian) then the first 8 bytes of
-- SHA-256 of the label's canonical text (Docs/LABELS.md). Compared as a BLOB (memcmp), that is
-- time first, then a tie-break that depends only on the label, so equal timestamps order the same
-- everywhere. The stamp is computed once, when a row is first written, and travels with the row.
--
-- cairn_label_stamp(created_at, multi, class name, JSON list of member names) is a function the
-- catalog registers on every connection (CairnCatalog/LabelOrder.swift).

-- Existing rows get their stamps here; the append-only triggers refuse UPDATE, so they step aside.
DROP TRIGGER annotations_append_only_update;
DROP TRIGGER reviews_append_only_update;

ALTER TABLE annotations ADD COLUMN stamp BLOB NOT NULL DEFAULT x'';
ALTER TABLE reviews ADD COLUMN stamp BLOB NOT NULL DEFAULT x'';

UPDATE annotations SET stamp = cairn_label_stamp(
    created_at, multi,
    (SELECT name FROM classes WHERE id = annotations.class_id),
    (SELECT json_group_array(c.name) FROM annotation_classes x JOIN classes c ON c.id = x.class_id
      WHERE x.annotation_id = annotations.id));
UPDATE reviews SET stamp = cairn_label_stamp(
    created_at, multi,
    (SELECT name FROM classes WHERE id = reviews.class_id),
    (SELECT json_group_array(c.name) FROM review_classes x JOIN classes c ON c.id = x.class_id
      WHERE x.review_id = reviews.id));

CREATE TRIGGER annotations_append_only_update BEFORE UPDATE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
CREATE TRIGGER reviews_append_only_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;

-- "Latest per (item, annotator)" and "latest per item" walk these in order.
DROP INDEX annotations_item;
CREATE INDEX annotations_item ON annotations(item_id, annotator_id, stamp);
DROP INDEX reviews_item;
CREATE INDEX reviews_item ON reviews(item_id, stamp);
