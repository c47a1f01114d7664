-- 0014: record_versions without the per-row json_valid CHECK; search index without its own copy of the text.

-- `record_versions` is rebuilt with the same columns, rows and indexes, but without
-- `CHECK (json_valid(data))`: `data` is only ever written by `store::release`, from
-- serde_json's own serialisation of a record, so the CHECK re-parsed text that is
-- valid by construction, once per version (measured: a third of the version table's
-- insert CPU). The views that read the table are left as they are; SQLite's legacy
-- rename keeps them pointing at the rebuilt table by name.
PRAGMA legacy_alter_table = ON;
CREATE TABLE record_versions_0014 (
    version_id INTEGER PRIMARY KEY,
    entity     TEXT NOT NULL,
    key        TEXT NOT NULL,
    valid_from INTEGER NOT NULL REFERENCES releases(release_id),
    valid_to   INTEGER REFERENCES releases(release_id),
    hash       TEXT NOT NULL,
    data       TEXT NOT NULL
) STRICT;
INSERT INTO record_versions_0014 (version_id, entity, key, valid_from, valid_to, hash, data)
SELECT version_id, entity, key, valid_from, valid_to, hash, data FROM record_versions
ORDER BY version_id;
DROP TABLE record_versions;
ALTER TABLE record_versions_0014 RENAME TO record_versions;
PRAGMA legacy_alter_table = OFF;
CREATE UNIQUE INDEX record_versions_key ON record_versions(entity, key, valid_from);
CREATE INDEX record_versions_from ON record_versions(valid_from);
CREATE INDEX record_versions_to ON record_versions(valid_to) WHERE valid_to IS NOT NULL;

-- The search index becomes contentless (`content=''`): FTS5 kept a second copy of
-- every indexed text (`search_fts_content`, 15 of the 26 MB of the index for 100k
-- LeiKa rows) that nothing reads; `search` shows names from `record_versions`.
-- A closed version's document is removed with FTS5's 'delete' command, given the
-- text it was indexed with, which `store::search` derives again from the closed
-- version (the same `fold` and the same fields). Plain contentless tables (no
-- `contentless_delete`) are read by every SQLite with FTS5, Debian 12's 3.40 too.
-- `search_docs` keeps its docids; the index is rebuilt here from the current
-- versions with the text `store::search::document` gives them (registered as the
-- SQL function `search_text` on ozgsync's connections), and covers every release.
DROP TABLE search_fts;
CREATE VIRTUAL TABLE search_fts USING fts5(
    name, synonyms, content = '', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT OR IGNORE INTO search_docs (entity, key)
SELECT entity, key FROM record_versions
WHERE entity IN ('service', 'efa_service') AND valid_to IS NULL;
INSERT INTO search_fts (rowid, name, synonyms)
SELECT d.docid, search_text(v.data, 'name'), search_text(v.data, 'synonyms')
FROM record_versions v JOIN search_docs d ON d.entity = v.entity AND d.key = v.key
WHERE v.entity IN ('service', 'efa_service') AND v.valid_to IS NULL;
UPDATE search_state SET indexed_release = (SELECT coalesce(max(release_id), 0) FROM releases);
