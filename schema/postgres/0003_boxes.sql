-- Cairn catalog on PostgreSQL, version 3: bounding boxes, as SQLite's 0014_boxes.sql (where the
-- table's meaning is written down), in PostgreSQL's types.
CREATE TABLE box_labels (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     bigint  NOT NULL REFERENCES items(id),
    person_id   bigint  NOT NULL REFERENCES annotators(id),
    verdict     boolean NOT NULL,
    created_at  double precision NOT NULL,
    stamp       bytea   NOT NULL CHECK (length(stamp) = 16),
    boxes       bytea   NOT NULL
);
CREATE INDEX box_labels_latest ON box_labels(verdict, item_id, person_id, stamp);
CREATE INDEX box_labels_item ON box_labels(item_id, stamp);
CREATE TRIGGER box_labels_append_only BEFORE UPDATE OR DELETE ON box_labels
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('box labels are append-only');
CREATE TRIGGER dirty_on_box_label AFTER INSERT ON box_labels FOR EACH ROW EXECUTE FUNCTION cairn_dirty_label();

CREATE FUNCTION cairn_dirty_class_boxes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM snapshot_head) THEN RETURN NULL; END IF;
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT DISTINCT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) FROM box_labels
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
    RETURN NULL;
END $$;
CREATE TRIGGER dirty_on_class_rename_boxes AFTER UPDATE OF name ON classes
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION cairn_dirty_class_boxes();
