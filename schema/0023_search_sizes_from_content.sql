-- 0023: the search index reads its documents' sizes from their text, no longer
-- from a row per document.
--
-- `search` ranks by `bm25`, which needs each matched document's length in tokens
-- per column. A contentless FTS5 table (0014) can only keep those lengths in
-- `search_fts_docsize`, one row written per indexed document and deleted with
-- it: a tenth of the wall time of a first LeiKa release of 100k rows (session 22:
-- 344 -> 314 ms, alternated runs), where SQLite's one writer is the critical
-- path. With `columnsize = 0` FTS5 keeps no such row and, when a query asks for
-- a length, tokenizes the document's text again; an external content table is
-- where it finds that text. The view below
-- gives the very text the index was made with (`search_text`, the SQL function of
-- `store::search::document`, registered on every ozgsync connection), so the
-- lengths, and every `bm25` value, are the ones the size rows held. The index
-- itself (terms, positions) is written as before.
--
-- The view has exactly the documents the index holds, those of the current
-- versions of the searchable entities, so FTS5 can now check the index against
-- them: `INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)`.
-- FTS5 reads it only by a rowid the index gave it. Outside ozgsync (the sqlite3
-- shell, Datasette) `search_text` is unknown: a `MATCH` for rowids still answers
-- there, `bm25` and the view's columns do not.
DROP TABLE search_fts;
CREATE VIEW search_content AS
SELECT version_id,
       search_text(data, 'name') AS name,
       search_text(data, 'synonyms') AS synonyms
FROM record_versions
WHERE entity IN ('service', 'efa_service') AND valid_to IS NULL;
CREATE VIRTUAL TABLE search_fts USING fts5(
    name, synonyms, content = 'search_content', content_rowid = 'version_id',
    columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search_fts (rowid, name, synonyms)
SELECT version_id, name, synonyms FROM search_content;
UPDATE search_state SET indexed_release = (SELECT coalesce(max(release_id), 0) FROM releases);
