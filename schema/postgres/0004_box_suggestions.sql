-- Cairn catalog on PostgreSQL, version 4: provenance of box sets, as SQLite's
-- 0015_box_suggestions.sql (where the column's meaning is written down).
ALTER TABLE box_labels ADD COLUMN suggestion text;
