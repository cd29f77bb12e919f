-- Cairn catalog, version 11: hyper-parameter sweeps.
--
-- A trial a sweep's early-stopping rule ends is `pruned`: the runs table is rebuilt so its status
-- may say so (SQLite cannot change a CHECK in place); its index and trigger come back as they were.
CREATE TABLE runs_new (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE CHECK (length(id) = 12),
    name          TEXT    NOT NULL,
    data_ref      TEXT    NOT NULL,
    snapshot_id   TEXT    NOT NULL REFERENCES snapshots(id),
    model         TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'pruned')),
    started_at    REAL    NOT NULL,
    ended_at      REAL,
    checkpoint_id TEXT    CHECK (checkpoint_id IS NULL OR length(checkpoint_id) = 64),
    record        TEXT    NOT NULL
);
INSERT INTO runs_new SELECT seq, id, name, data_ref, snapshot_id, model, status, started_at, ended_at, checkpoint_id, record FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_name ON runs(name);
CREATE TRIGGER runs_snapshot_fixed BEFORE UPDATE OF snapshot_id, data_ref, started_at ON runs
BEGIN SELECT RAISE(ABORT, 'a run''s snapshot is fixed when it starts'); END;

-- One row per sweep: the snapshot every trial is pinned to (resolved once, before any trial) and
-- the sweep's record as JSON (its spec, the command, the planned trials and how the sweep ended;
-- CairnTraining's SweepRecord). Each trial is an ordinary run whose record names the sweep.
CREATE TABLE sweeps (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE CHECK (length(id) = 12),
    data_ref    TEXT    NOT NULL,
    snapshot_id TEXT    NOT NULL REFERENCES snapshots(id),
    created_at  REAL    NOT NULL,
    record      TEXT    NOT NULL
);
CREATE TRIGGER sweeps_snapshot_fixed BEFORE UPDATE OF snapshot_id, data_ref, created_at ON sweeps
BEGIN SELECT RAISE(ABORT, 'a sweep''s snapshot is fixed when it starts'); END;
