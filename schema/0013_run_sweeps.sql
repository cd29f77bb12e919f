-- Cairn catalog, version 13: a run's sweep as an indexed column, so a sweep's trials (read by the
-- median stopping rule on every epoch, and by `sweep show`) are found without decoding every run.
-- It is derived from the record (`sweep.id` in CairnTraining's RunRecord), so every way a run is
-- written, a pulled bundle included, fills it; a record that is not JSON has none.
ALTER TABLE runs ADD COLUMN sweep_id TEXT
    GENERATED ALWAYS AS (CASE WHEN json_valid(record) THEN json_extract(record, '$.sweep.id') END) VIRTUAL;
CREATE INDEX runs_sweep ON runs(sweep_id);
