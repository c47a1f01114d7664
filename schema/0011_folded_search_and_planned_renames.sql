-- 0011: search index folded by `fold`; Ressort renames planned for a later date.

-- The search index holds names folded by ozgsync's one folding of names (SQL function
-- `fold`, registered on every connection: lower case, ä ö ü as ae oe ue, ß as ss), so
-- `Goettingen`, `GÖTTINGEN` and `Strasse` match as people type them. Before, only ß
-- was folded. Emptying the index and its state makes the lazy refresh
-- (`store::search::refresh`) rebuild it release by release with the new folding; the
-- index is derived data, nothing else is touched.
DELETE FROM search_fts;
DELETE FROM search_docs;
UPDATE search_state SET indexed_release = 0;

-- Ressort renames dated after today (`ressort rename … --from` in the future) wait
-- here, so that everything reading "the current name" (`ressort_names` with
-- valid_to NULL: views, sheets, imports, exports) keeps the name in effect today.
-- `store::ressort::apply_due` moves a due rename into `ressort_names` (with its
-- planned date as valid_from) on the first read-write open on or after that date and
-- stamps `applied_at`; rows are never deleted, so the plan stays on record.
CREATE TABLE ressort_renames_planned (
    ressort_id INTEGER NOT NULL REFERENCES ressorts (ressort_id),
    kuerzel    TEXT NOT NULL,
    name       TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    planned_at TEXT NOT NULL,
    applied_at TEXT,
    PRIMARY KEY (ressort_id, valid_from)
) STRICT;
