-- 0001: catalog core. Sources, kept payloads, releases with their rejects, and
-- versioned records (LeiKa services, municipalities) with the query-contract views.
-- Timestamps are UTC RFC 3339 text (`2026-11-27T03:40:00Z`).

-- One row per configured or CLI-named source; remembers HTTP validators so the next
-- fetch can be conditional.
CREATE TABLE sources (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    location      TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    updated_at    TEXT NOT NULL
) STRICT;

-- Every applied payload, content-addressed and gzip-compressed, so a release can be
-- re-imported or audited offline.
CREATE TABLE payloads (
    sha256     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    codec      TEXT NOT NULL CHECK (codec IN ('gzip')),
    data       BLOB NOT NULL,
    stored_at  TEXT NOT NULL
) STRICT;

CREATE TABLE releases (
    release_id    INTEGER PRIMARY KEY,
    source        TEXT NOT NULL REFERENCES sources(name),
    kind          TEXT NOT NULL,
    entity        TEXT NOT NULL,
    -- full: keys missing from the payload are retired; incremental: upserts only
    mode          TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
    location      TEXT NOT NULL,
    fetched_at    TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    sha256        TEXT,
    added         INTEGER NOT NULL DEFAULT 0,
    changed       INTEGER NOT NULL DEFAULT 0,
    retired       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    rejected      INTEGER NOT NULL DEFAULT 0,
    warnings      INTEGER NOT NULL DEFAULT 0,
    -- applied: records written; unchanged: identical payload or HTTP 304, nothing written
    status        TEXT NOT NULL CHECK (status IN ('applied', 'unchanged'))
) STRICT;
-- "last release of a source" is asked on every sync and by `releases --source`.
CREATE INDEX releases_by_source ON releases(source, release_id);

CREATE TABLE rejects (
    release_id INTEGER NOT NULL REFERENCES releases(release_id),
    seq        INTEGER NOT NULL,
    severity   TEXT NOT NULL CHECK (severity IN ('reject', 'warning')),
    position   TEXT NOT NULL,
    key        TEXT,
    reason     TEXT NOT NULL,
    raw        TEXT,
    PRIMARY KEY (release_id, seq)
) STRICT, WITHOUT ROWID;

-- One row per version of a record. A version is valid from the release that wrote it
-- up to (excluding) `valid_to`, the release that replaced or retired it; NULL while
-- current. Rows are never deleted: a retired key keeps its last version, closed.
-- A rowid table: versions are appended in release order, so bulk imports write
-- sequential pages; the unique index below is the narrow, randomly-ordered part.
CREATE TABLE record_versions (
    version_id INTEGER PRIMARY KEY,
    entity     TEXT NOT NULL,
    key        TEXT NOT NULL,
    valid_from INTEGER NOT NULL REFERENCES releases(release_id),
    valid_to   INTEGER REFERENCES releases(release_id),
    hash       TEXT NOT NULL,
    data       TEXT NOT NULL CHECK (json_valid(data))
) STRICT;
-- Identity of a version; also serves "all versions of a key" (history, closing the
-- current version of a key on change).
CREATE UNIQUE INDEX record_versions_key ON record_versions(entity, key, valid_from);
-- `diff` reads the versions a range of releases wrote or closed.
CREATE INDEX record_versions_from ON record_versions(valid_from);
CREATE INDEX record_versions_to ON record_versions(valid_to) WHERE valid_to IS NOT NULL;

-- Query contract (README): one row per key ever seen, with its latest version.
CREATE VIEW v_services AS
SELECT
    v.key                                   AS leistungsschluessel,
    json_extract(v.data, '$.bezeichnung')   AS bezeichnung,
    (SELECT group_concat(t.value, ', ') FROM json_each(v.data, '$.typisierung') t) AS typisierung,
    json_extract(v.data, '$.leistungstyp')  AS leistungstyp,
    (SELECT min(f.valid_from) FROM record_versions f
      WHERE f.entity = v.entity AND f.key = v.key) AS first_release,
    v.valid_from                            AS last_changed_release,
    v.valid_to IS NOT NULL                  AS retired
FROM record_versions v
WHERE v.entity = 'service'
  AND v.valid_from = (SELECT max(l.valid_from) FROM record_versions l
                       WHERE l.entity = v.entity AND l.key = v.key);

CREATE VIEW v_municipalities AS
SELECT
    json_extract(v.data, '$.ars')             AS ars,
    json_extract(v.data, '$.ags')             AS ags,
    json_extract(v.data, '$.name')            AS name,
    json_extract(v.data, '$.level')           AS level,
    json_extract(v.data, '$.textkennzeichen') AS textkennzeichen,
    json_extract(v.data, '$.kreis_ars')       AS kreis_ars,
    json_extract(v.data, '$.verband_ars')     AS verband_ars,
    json_extract(v.data, '$.gebietsstand')    AS gebietsstand,
    v.valid_to IS NOT NULL                    AS retired
FROM record_versions v
WHERE v.entity = 'municipality'
  AND v.valid_from = (SELECT max(l.valid_from) FROM record_versions l
                       WHERE l.entity = v.entity AND l.key = v.key);

CREATE VIEW v_releases AS
SELECT release_id, source, fetched_at, sha256, added, changed, retired, unchanged,
       rejected, status
FROM releases;
