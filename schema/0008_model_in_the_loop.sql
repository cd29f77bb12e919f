-- Cairn catalog, version 8: what a model showed an annotator, and analyses kept per snapshot.
--
-- An annotation made while the labeling UI showed a model's suggestions records them (JSON: the
-- run and the top classes with probabilities) and whether a suggestion key made the label, so the
-- influence of suggestions (automation bias) can be measured. Neither changes what the label is.
ALTER TABLE annotations ADD COLUMN suggestion TEXT;
ALTER TABLE annotations ADD COLUMN accepted_suggestion INTEGER NOT NULL DEFAULT 0;

-- Results computed for a snapshot (`cairn suspects`, `cairn check`), one per kind, as JSON.
CREATE TABLE snapshot_reports (
    snapshot_id TEXT NOT NULL REFERENCES snapshots(id),
    kind        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    report      TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, kind)
) WITHOUT ROWID;
