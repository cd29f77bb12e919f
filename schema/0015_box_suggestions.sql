-- Cairn catalog, version 15: provenance of box sets. `suggestion` is what a model suggested on the
-- image while the set was drawn (`cairn label --boxes --suggest`, the box suspects queue): the run,
-- the changes shown and which of them the annotator took, as JSON (CairnCatalog's
-- BoxSuggestionShown); NULL when nothing was suggested. It is provenance, never part of the set:
-- snapshots and the label order do not read it.
ALTER TABLE box_labels ADD COLUMN suggestion TEXT;
