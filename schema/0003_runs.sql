-- Cairn catalog, version 3: training runs. A run names the snapshot it trained on (recorded
-- before any data is read) and the checkpoint blob it produced; gc and fsck treat both as roots.

CREATE TABLE runs (
    seq           INTEGER PRIMARY KEY,    -- creation order
    id            TEXT    NOT NULL UNIQUE CHECK (length(id) = 12),
    name          TEXT    NOT NULL,
    data_ref      TEXT    NOT NULL,       -- the ref as the user typed it
    snapshot_id   TEXT    NOT NULL REFERENCES snapshots(id),
    model         TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
    started_at    REAL    NOT NULL,
    ended_at      REAL,
    checkpoint_id TEXT    CHECK (checkpoint_id IS NULL OR length(checkpoint_id) = 64),
    record        TEXT    NOT NULL        -- JSON: parameters, environment, metrics (CairnTraining's RunRecord)
);
CREATE INDEX runs_name ON runs(name);

-- A run's snapshot is part of its identity: it never changes once recorded.
CREATE TRIGGER runs_snapshot_fixed BEFORE UPDATE OF snapshot_id, data_ref, started_at ON runs
BEGIN SELECT RAISE(ABORT, 'a run''s snapshot is fixed when it starts'); END;
