-- 0016: the search index keyed by version id; `search_docs` dropped.

-- Since 0014 the index holds exactly the current versions of the searchable
-- entities (a release removes a closed version's document and adds the new one's),
-- so the current version's own `version_id` can be the document's rowid. The
-- separate registration of each (entity, key) in `search_docs` (a table and its
-- unique index, one more B-tree insert per indexed version; 6.6 of 59.8 MB for
-- 100k LeiKa rows) goes. `search` joins the index to `record_versions` by
-- `version_id`. The index is rebuilt here from the current versions with the same
-- text as before (`store::search::document`, SQL function `search_text`), and
-- covers every release.
DROP TABLE search_fts;
DROP TABLE search_docs;
CREATE VIRTUAL TABLE search_fts USING fts5(
    name, synonyms, content = '', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search_fts (rowid, name, synonyms)
SELECT version_id, search_text(data, 'name'), search_text(data, 'synonyms')
FROM record_versions
WHERE entity IN ('service', 'efa_service') AND valid_to IS NULL;
UPDATE search_state SET indexed_release = (SELECT coalesce(max(release_id), 0) FROM releases);
