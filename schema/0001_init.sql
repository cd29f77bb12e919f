-- Cairn catalog, version 1: items, classes, annotators, append-only annotations, import state.
-- Applied once, in a transaction, by CairnCatalog's migrator; never edit a released migration,
-- add the next numbered file instead.

-- One row per distinct image. blob_id is the lowercase hex SHA-256 of the image's exact bytes.
CREATE TABLE items (
    id          INTEGER PRIMARY KEY,
    blob_id     TEXT    NOT NULL UNIQUE CHECK (length(blob_id) = 64),
    path        TEXT    NOT NULL,          -- relative path where the image was first imported
    format      TEXT    NOT NULL CHECK (format IN ('png', 'jpeg')),
    width       INTEGER NOT NULL CHECK (width > 0),
    height      INTEGER NOT NULL CHECK (height > 0),
    byte_size   INTEGER NOT NULL CHECK (byte_size >= 0),
    split       TEXT    NOT NULL CHECK (split IN ('train', 'val', 'test')),
    added_at    REAL    NOT NULL           -- seconds since 1970, UTC
);
CREATE INDEX items_path ON items(path);

-- Label classes; ordinal fixes their order everywhere (lists, hotkeys, exports).
CREATE TABLE classes (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
    hotkey      TEXT    UNIQUE,
    ordinal     INTEGER NOT NULL UNIQUE
);

CREATE TABLE annotators (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
    role        TEXT    NOT NULL CHECK (role IN ('annotator', 'reviewer', 'admin')),
    created_at  REAL    NOT NULL
);

-- Append-only label history: the current label of an (item, annotator) is its latest row.
-- class_id NULL means the annotator skipped the item.
CREATE TABLE annotations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id      INTEGER NOT NULL REFERENCES items(id),
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    class_id     INTEGER REFERENCES classes(id),
    created_at   REAL    NOT NULL
);
CREATE INDEX annotations_item ON annotations(item_id, annotator_id, id);

CREATE TRIGGER annotations_append_only_update BEFORE UPDATE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
CREATE TRIGGER annotations_append_only_delete BEFORE DELETE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;

-- What import last saw at a file path, so an unchanged file is skipped without reading it
-- (the same idea as DVC's state database). Derived data: deleting rows only costs a re-hash.
CREATE TABLE import_state (
    path        TEXT    PRIMARY KEY,       -- absolute path as walked
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    inode       INTEGER NOT NULL,
    blob_id     TEXT    NOT NULL,
    label       TEXT                       -- the label import applied from this file, if any
) WITHOUT ROWID;
