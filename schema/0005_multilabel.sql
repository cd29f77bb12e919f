-- Cairn catalog, version 5: multi-label annotations and verdicts.
-- A label is a set of classes. A set of one class stays where it always was, in class_id; any
-- other set (multi-label mode, where "none of the classes applies" is an answer too) is a row
-- with multi = 1 and class_id NULL, listing its classes in annotation_classes or review_classes.
-- class_id NULL with multi = 0 is still a skip. One set has one encoding, so equal labels are
-- equal rows.

ALTER TABLE annotations ADD COLUMN multi INTEGER NOT NULL DEFAULT 0 CHECK (multi IN (0, 1));

CREATE TABLE annotation_classes (
    annotation_id INTEGER NOT NULL REFERENCES annotations(id),
    class_id      INTEGER NOT NULL REFERENCES classes(id),
    PRIMARY KEY (annotation_id, class_id)
) WITHOUT ROWID;
CREATE INDEX annotation_classes_class ON annotation_classes(class_id);
CREATE TRIGGER annotation_classes_append_only_update BEFORE UPDATE ON annotation_classes
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
CREATE TRIGGER annotation_classes_append_only_delete BEFORE DELETE ON annotation_classes
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;

-- reviews.class_id becomes nullable (a multi-label verdict has none), which SQLite can only do by
-- rebuilding the table. The rename trigger names reviews, so it goes first and comes back below.
DROP TRIGGER dirty_on_class_rename;
CREATE TABLE reviews_v5 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id     INTEGER NOT NULL REFERENCES items(id),
    reviewer_id INTEGER NOT NULL REFERENCES annotators(id),
    class_id    INTEGER REFERENCES classes(id),
    created_at  REAL    NOT NULL,
    multi       INTEGER NOT NULL DEFAULT 0 CHECK (multi IN (0, 1)),
    CHECK ((class_id IS NULL) = (multi = 1))
);
INSERT INTO reviews_v5 (id, item_id, reviewer_id, class_id, created_at, multi)
SELECT id, item_id, reviewer_id, class_id, created_at, 0 FROM reviews;
DROP TABLE reviews;
ALTER TABLE reviews_v5 RENAME TO reviews;
CREATE INDEX reviews_item ON reviews(item_id, id);
CREATE TRIGGER reviews_append_only_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER reviews_append_only_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER dirty_on_review AFTER INSERT ON reviews BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT NEW.item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;

CREATE TABLE review_classes (
    review_id   INTEGER NOT NULL REFERENCES reviews(id),
    class_id    INTEGER NOT NULL REFERENCES classes(id),
    PRIMARY KEY (review_id, class_id)
) WITHOUT ROWID;
CREATE INDEX review_classes_class ON review_classes(class_id);
CREATE TRIGGER review_classes_append_only_update BEFORE UPDATE ON review_classes
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER review_classes_append_only_delete BEFORE DELETE ON review_classes
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;

-- Renaming a class changes the label of every item that carries it anywhere in its history,
-- in a set or alone.
CREATE TRIGGER dirty_on_class_rename AFTER UPDATE OF name ON classes BEGIN
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT DISTINCT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty)
    FROM (SELECT item_id FROM annotations WHERE class_id = NEW.id
          UNION SELECT a.item_id FROM annotation_classes x JOIN annotations a ON a.id = x.annotation_id WHERE x.class_id = NEW.id
          UNION SELECT item_id FROM reviews WHERE class_id = NEW.id
          UNION SELECT r.item_id FROM review_classes x JOIN reviews r ON r.id = x.review_id WHERE x.class_id = NEW.id)
    WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
END;
