-- Cairn catalog, version 7: runs of any program, and predictions.
--
-- A run (built-in or `cairn run`) may keep files its program wrote as blobs: they are gc and fsck
-- roots like checkpoints, and travel with the run on push and pull.
CREATE TABLE run_artifacts (
    run_id  TEXT NOT NULL REFERENCES runs(id),
    blob_id TEXT NOT NULL CHECK (length(blob_id) = 64),
    PRIMARY KEY (run_id, blob_id)
) WITHOUT ROWID;

-- A model's class probabilities for an item, keyed by (run, item): never a label. `probs` holds
-- one little-endian float32 per class, in the order of the run's classes.
CREATE TABLE predictions (
    run_id  TEXT    NOT NULL REFERENCES runs(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    probs   BLOB    NOT NULL CHECK (length(probs) % 4 = 0 AND length(probs) > 0),
    PRIMARY KEY (run_id, item_id)
) WITHOUT ROWID;
CREATE INDEX predictions_item ON predictions(item_id);
