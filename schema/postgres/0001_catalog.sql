-- Cairn catalog on PostgreSQL, version 1: the same tables, meanings and rules as the SQLite catalog
-- after its migrations 0001-0013 (schema/*.sql, where each table's purpose is written down), in
-- PostgreSQL's types. Applied once, in a transaction, by CairnPostgres's migrator; never edit a
-- released migration, add the next numbered file instead.
--
-- Differences from SQLite, all of storage only: ids are identity columns; text compares and sorts
-- byte by byte (COLLATE "C", as SQLite's BINARY), whatever the database's locale; times stay seconds since
-- 1970 as double precision (so they round-trip exactly like SQLite's REAL); stamps are bytea
-- (compared byte by byte, as SQLite compares BLOBs); flags are booleans; append-only rules and the
-- change log are trigger functions; runs.sweep_id is written by the catalog from the record.

CREATE TABLE items (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    blob_id     text COLLATE "C" NOT NULL UNIQUE CHECK (length(blob_id) = 64),
    path        text COLLATE "C" NOT NULL,
    format      text COLLATE "C" NOT NULL CHECK (format IN ('png', 'jpeg')),
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    byte_size   bigint  NOT NULL CHECK (byte_size >= 0),
    split       text COLLATE "C" NOT NULL CHECK (split IN ('train', 'val', 'test')),
    added_at    double precision NOT NULL,
    removed     boolean NOT NULL DEFAULT false
);
CREATE INDEX items_path ON items(path);

CREATE TABLE classes (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text COLLATE "C" NOT NULL UNIQUE CHECK (length(name) > 0),
    hotkey      text COLLATE "C" UNIQUE,
    ordinal     integer NOT NULL UNIQUE,
    removed_at  double precision
);

CREATE TABLE annotators (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text COLLATE "C" NOT NULL UNIQUE CHECK (length(name) > 0),
    role        text COLLATE "C" NOT NULL CHECK (role IN ('annotator', 'reviewer', 'admin')),
    created_at  double precision NOT NULL,
    pulled      boolean NOT NULL DEFAULT false
);

CREATE TABLE annotations (
    id           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id      bigint  NOT NULL REFERENCES items(id),
    annotator_id bigint  NOT NULL REFERENCES annotators(id),
    class_id     bigint  REFERENCES classes(id),
    created_at   double precision NOT NULL,
    multi        boolean NOT NULL DEFAULT false,
    stamp        bytea   NOT NULL,
    suggestion   text COLLATE "C",
    accepted_suggestion boolean NOT NULL DEFAULT false
);
CREATE INDEX annotations_item ON annotations(item_id, annotator_id, stamp);

CREATE TABLE annotation_classes (
    annotation_id bigint NOT NULL REFERENCES annotations(id),
    class_id      bigint NOT NULL REFERENCES classes(id),
    PRIMARY KEY (annotation_id, class_id)
);
CREATE INDEX annotation_classes_class ON annotation_classes(class_id);

CREATE TABLE reviews (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     bigint  NOT NULL REFERENCES items(id),
    reviewer_id bigint  NOT NULL REFERENCES annotators(id),
    class_id    bigint  REFERENCES classes(id),
    created_at  double precision NOT NULL,
    multi       boolean NOT NULL DEFAULT false,
    stamp       bytea   NOT NULL,
    CHECK ((class_id IS NULL) = multi)
);
CREATE INDEX reviews_item ON reviews(item_id, stamp);

CREATE TABLE review_classes (
    review_id   bigint NOT NULL REFERENCES reviews(id),
    class_id    bigint NOT NULL REFERENCES classes(id),
    PRIMARY KEY (review_id, class_id)
);
CREATE INDEX review_classes_class ON review_classes(class_id);

CREATE TABLE import_state (
    path        text COLLATE "C" PRIMARY KEY,
    size        bigint  NOT NULL,
    mtime_ns    bigint  NOT NULL,
    inode       bigint  NOT NULL,
    blob_id     text COLLATE "C" NOT NULL,
    label       text COLLATE "C"
);

CREATE TABLE snapshots (
    seq         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text COLLATE "C" NOT NULL UNIQUE CHECK (length(id) = 64),
    parent_id   text COLLATE "C" REFERENCES snapshots(id),
    message     text COLLATE "C" NOT NULL,
    author      text COLLATE "C" NOT NULL,
    created_at  double precision NOT NULL,
    item_count  bigint  NOT NULL,
    counts      text COLLATE "C" NOT NULL
);

CREATE TABLE snapshot_head (
    one         integer PRIMARY KEY CHECK (one = 1),
    snapshot_id text COLLATE "C" NOT NULL REFERENCES snapshots(id)
);

CREATE TABLE tags (
    name        text COLLATE "C" PRIMARY KEY,
    snapshot_id text COLLATE "C" NOT NULL REFERENCES snapshots(id),
    created_at  double precision NOT NULL,
    author      text COLLATE "C" NOT NULL
);

CREATE TABLE tag_history (
    id          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text COLLATE "C" NOT NULL,
    snapshot_id text COLLATE "C" NOT NULL,
    action      text COLLATE "C" NOT NULL CHECK (action IN ('create', 'move', 'delete')),
    at          double precision NOT NULL,
    author      text COLLATE "C" NOT NULL
);

CREATE TABLE snapshot_dirty (
    item_id     bigint  PRIMARY KEY,
    seq         bigint  NOT NULL
);
CREATE INDEX snapshot_dirty_seq ON snapshot_dirty(seq);

CREATE TABLE runs (
    seq           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            text COLLATE "C" NOT NULL UNIQUE CHECK (length(id) = 12),
    name          text COLLATE "C" NOT NULL,
    data_ref      text COLLATE "C" NOT NULL,
    snapshot_id   text COLLATE "C" NOT NULL REFERENCES snapshots(id),
    model         text COLLATE "C" NOT NULL,
    status        text COLLATE "C" NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'pruned')),
    started_at    double precision NOT NULL,
    ended_at      double precision,
    checkpoint_id text COLLATE "C" CHECK (checkpoint_id IS NULL OR length(checkpoint_id) = 64),
    record        text COLLATE "C" NOT NULL,
    sweep_id      text COLLATE "C"
);
CREATE INDEX runs_name ON runs(name);
CREATE INDEX runs_sweep ON runs(sweep_id);

CREATE TABLE run_artifacts (
    run_id  text COLLATE "C" NOT NULL REFERENCES runs(id),
    blob_id text COLLATE "C" NOT NULL CHECK (length(blob_id) = 64),
    PRIMARY KEY (run_id, blob_id)
);

CREATE TABLE predictions (
    run_id  text COLLATE "C"   NOT NULL REFERENCES runs(id),
    item_id bigint NOT NULL REFERENCES items(id),
    probs   bytea  NOT NULL CHECK (length(probs) % 4 = 0 AND length(probs) > 0),
    PRIMARY KEY (run_id, item_id)
);
CREATE INDEX predictions_item ON predictions(item_id);

CREATE TABLE leases (
    item_id      bigint  NOT NULL REFERENCES items(id),
    annotator_id bigint  NOT NULL REFERENCES annotators(id),
    host         text COLLATE "C" NOT NULL,
    pid          bigint  NOT NULL,
    expires_at   double precision NOT NULL,
    PRIMARY KEY (item_id, annotator_id)
);
CREATE INDEX leases_expiry ON leases(item_id, expires_at);
CREATE INDEX leases_holder ON leases(host, pid);

CREATE TABLE snapshot_reports (
    snapshot_id text COLLATE "C" NOT NULL REFERENCES snapshots(id),
    kind        text COLLATE "C" NOT NULL,
    created_at  double precision NOT NULL,
    report      text COLLATE "C" NOT NULL,
    PRIMARY KEY (snapshot_id, kind)
);

CREATE TABLE split_changes (
    id           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id      bigint  NOT NULL REFERENCES items(id),
    annotator_id bigint  NOT NULL REFERENCES annotators(id),
    split        text COLLATE "C" NOT NULL CHECK (split IN ('train', 'val', 'test')),
    created_at   double precision NOT NULL,
    stamp        bytea   NOT NULL
);
CREATE INDEX split_changes_item ON split_changes(item_id, stamp);

CREATE TABLE item_removals (
    id           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id      bigint  NOT NULL REFERENCES items(id),
    annotator_id bigint  NOT NULL REFERENCES annotators(id),
    removed      boolean NOT NULL,
    created_at   double precision NOT NULL,
    stamp        bytea   NOT NULL
);
CREATE INDEX item_removals_item ON item_removals(item_id, stamp);

CREATE TABLE purges (
    blob_id      text COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(blob_id) = 64),
    annotator_id bigint  NOT NULL REFERENCES annotators(id),
    reason       text COLLATE "C" NOT NULL DEFAULT '',
    created_at   double precision NOT NULL
);

CREATE TABLE held_purges (
    blob_id      text COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(blob_id) = 64),
    annotator_id bigint  NOT NULL REFERENCES annotators(id),
    reason       text COLLATE "C" NOT NULL DEFAULT '',
    created_at   double precision NOT NULL,
    held_at      double precision NOT NULL
);

CREATE TABLE sweeps (
    seq         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text COLLATE "C" NOT NULL UNIQUE CHECK (length(id) = 12),
    data_ref    text COLLATE "C" NOT NULL,
    snapshot_id text COLLATE "C" NOT NULL REFERENCES snapshots(id),
    created_at  double precision NOT NULL,
    record      text COLLATE "C" NOT NULL
);

-- History tables refuse UPDATE and DELETE, as SQLite's RAISE(ABORT) triggers do.
CREATE FUNCTION cairn_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
END $$;
CREATE TRIGGER annotations_append_only BEFORE UPDATE OR DELETE ON annotations
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('annotations are append-only');
CREATE TRIGGER annotation_classes_append_only BEFORE UPDATE OR DELETE ON annotation_classes
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('annotations are append-only');
CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('reviews are append-only');
CREATE TRIGGER review_classes_append_only BEFORE UPDATE OR DELETE ON review_classes
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('reviews are append-only');
CREATE TRIGGER split_changes_append_only BEFORE UPDATE OR DELETE ON split_changes
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('split changes are append-only');
CREATE TRIGGER item_removals_append_only BEFORE UPDATE OR DELETE ON item_removals
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('item removals are append-only');
CREATE TRIGGER purges_permanent BEFORE UPDATE OR DELETE ON purges
    FOR EACH ROW EXECUTE FUNCTION cairn_refuse('purges are permanent');
CREATE TRIGGER runs_snapshot_fixed BEFORE UPDATE OF snapshot_id, data_ref, started_at ON runs
    FOR EACH ROW WHEN (OLD.snapshot_id IS DISTINCT FROM NEW.snapshot_id OR OLD.data_ref IS DISTINCT FROM NEW.data_ref
                       OR OLD.started_at IS DISTINCT FROM NEW.started_at)
    EXECUTE FUNCTION cairn_refuse('a run''s snapshot is fixed when it starts');
CREATE TRIGGER sweeps_snapshot_fixed BEFORE UPDATE OF snapshot_id, data_ref, created_at ON sweeps
    FOR EACH ROW WHEN (OLD.snapshot_id IS DISTINCT FROM NEW.snapshot_id OR OLD.data_ref IS DISTINCT FROM NEW.data_ref
                       OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION cairn_refuse('a sweep''s snapshot is fixed when it starts');

-- The change log a snapshot reads (see SQLite's 0002): every changed item, once a head exists, with
-- a rising seq. Writers hold the catalog's write lock, so max(seq) + 1 rises without gaps or races.
CREATE FUNCTION cairn_mark_dirty(item bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT item, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) WHERE EXISTS (SELECT 1 FROM snapshot_head)
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
$$;
CREATE FUNCTION cairn_dirty_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cairn_mark_dirty(NEW.id);
    RETURN NULL;
END $$;
CREATE FUNCTION cairn_dirty_label() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cairn_mark_dirty(NEW.item_id);
    RETURN NULL;
END $$;
CREATE TRIGGER dirty_on_item AFTER INSERT OR UPDATE ON items FOR EACH ROW EXECUTE FUNCTION cairn_dirty_item();
CREATE TRIGGER dirty_on_annotation AFTER INSERT ON annotations FOR EACH ROW EXECUTE FUNCTION cairn_dirty_label();
CREATE TRIGGER dirty_on_review AFTER INSERT ON reviews FOR EACH ROW EXECUTE FUNCTION cairn_dirty_label();
-- Renaming a class changes the label of every item that carries it anywhere in its history.
CREATE FUNCTION cairn_dirty_class() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM snapshot_head) THEN RETURN NULL; END IF;
    INSERT INTO snapshot_dirty (item_id, seq)
    SELECT DISTINCT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty)
    FROM (SELECT item_id FROM annotations WHERE class_id = NEW.id
          UNION SELECT a.item_id FROM annotation_classes x JOIN annotations a ON a.id = x.annotation_id WHERE x.class_id = NEW.id
          UNION SELECT item_id FROM reviews WHERE class_id = NEW.id
          UNION SELECT r.item_id FROM review_classes x JOIN reviews r ON r.id = x.review_id WHERE x.class_id = NEW.id) AS carrying
    ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq;
    RETURN NULL;
END $$;
CREATE TRIGGER dirty_on_class_rename AFTER UPDATE OF name ON classes
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION cairn_dirty_class();
