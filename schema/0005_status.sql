-- 0005: status over time made cheap to read, observed availability, reconciliation,
-- full-text search, and the coordinators' views over them.
--
-- Current status: `status_current` holds, per cell (scope × subject), the event with
-- the greatest (effective_on, event_id). A trigger keeps it in the same transaction as
-- every insert into the append-only `status_events`, so it can never drift.
-- Status as of a date: the index `status_events_asof` (0002) orders each cell's
-- events by date, so "the last event on or before D" is one index seek per cell.

CREATE TABLE status_current (
    scope_kind   TEXT NOT NULL,
    scope        TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    status       TEXT NOT NULL,
    effective_on TEXT NOT NULL,
    event_id     INTEGER NOT NULL REFERENCES status_events(event_id),
    -- Scope first: coverage per municipality groups by ARS and reads the rows in order.
    PRIMARY KEY (scope_kind, scope, subject_kind, subject)
) STRICT, WITHOUT ROWID;
-- No index by subject: `status show` reads status_events through the as-of index,
-- and a second index here would double the cost of every import (measured).

-- A backdated event (earlier effective date, recorded later) does not replace a
-- newer status; a same-day correction does (event ids grow).
CREATE TRIGGER status_events_current AFTER INSERT ON status_events
BEGIN
    INSERT INTO status_current (scope_kind, scope, subject_kind, subject, status, effective_on, event_id)
    VALUES (new.scope_kind, new.scope, new.subject_kind, new.subject, new.status, new.effective_on, new.event_id)
    ON CONFLICT (scope_kind, scope, subject_kind, subject) DO UPDATE
        SET status = excluded.status, effective_on = excluded.effective_on, event_id = excluded.event_id
        WHERE excluded.effective_on >= status_current.effective_on;
END;

-- Events are history: corrections are new events, never edits.
CREATE TRIGGER status_events_no_update BEFORE UPDATE ON status_events
BEGIN
    SELECT RAISE(ABORT, 'status_events is append-only: record a new event instead');
END;
CREATE TRIGGER status_events_no_delete BEFORE DELETE ON status_events
BEGIN
    SELECT RAISE(ABORT, 'status_events is append-only: record a new event instead');
END;

-- Events recorded before this migration.
INSERT INTO status_current (scope_kind, scope, subject_kind, subject, status, effective_on, event_id)
SELECT scope_kind, scope, subject_kind, subject, status, effective_on, event_id
FROM status_events WHERE true ORDER BY effective_on, event_id
ON CONFLICT (scope_kind, scope, subject_kind, subject) DO UPDATE
    SET status = excluded.status, effective_on = excluded.effective_on, event_id = excluded.event_id
    WHERE excluded.effective_on >= status_current.effective_on;

-- Full-text search over the current names and synonyms of services and EfA services.
-- FTS5 folds case and (remove_diacritics 2) umlauts; ß is folded to ss on both the
-- indexed text and the query, since unicode61 keeps ß as its own letter.
-- `search_docs` gives each (entity, key) a stable rowid, so replacing one document
-- is a rowid delete instead of a scan of the index.
CREATE TABLE search_docs (
    docid  INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    key    TEXT NOT NULL,
    UNIQUE (entity, key)
) STRICT;
CREATE VIRTUAL TABLE search_fts USING fts5(
    name, synonyms, tokenize = 'unicode61 remove_diacritics 2'
);

-- Brought up to date lazily by `store::search::refresh` before a search, one
-- set-based step per release not yet indexed: indexing costs about as much as the
-- whole rest of a 100k-row import, and most releases are never searched before the
-- next one. `search_state` remembers the last release indexed.
CREATE TABLE search_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_release INTEGER NOT NULL
) STRICT;
INSERT INTO search_state (id, indexed_release)
VALUES (1, (SELECT coalesce(max(release_id), 0) FROM releases));

-- Records imported before this migration.
INSERT OR IGNORE INTO search_docs (entity, key)
SELECT entity, key FROM record_versions
WHERE entity IN ('service', 'efa_service') AND valid_to IS NULL;
INSERT INTO search_fts (rowid, name, synonyms)
SELECT d.docid,
       replace(replace(
           coalesce(json_extract(v.data, '$.bezeichnung'), json_extract(v.data, '$.name'), '')
           || coalesce(' ' || json_extract(v.data, '$.bezeichnung2'), ''),
           'ß', 'ss'), 'ẞ', 'SS'),
       replace(replace(
           (SELECT group_concat(value, ' | ') FROM json_each(v.data, '$.synonyme')),
           'ß', 'ss'), 'ẞ', 'SS')
FROM record_versions v JOIN search_docs d ON d.entity = v.entity AND d.key = v.key
WHERE v.entity IN ('service', 'efa_service') AND v.valid_to IS NULL;

-- ---------------------------------------------------------------------------------
-- Views (query contract, documented in docs/views.md)

-- The current status of every cell, with the event that set it.
CREATE VIEW v_status_current AS
SELECT c.subject_kind, c.subject, c.scope_kind, c.scope,
       CASE WHEN c.scope_kind = 'ressort' THEN
           (SELECT n.kuerzel FROM ressort_names n
             WHERE n.ressort_id = CAST(c.scope AS INTEGER) AND n.valid_to IS NULL)
       END AS ressort,
       c.status, c.effective_on, e.note, e.origin, e.recorded_at, e.recorded_by, c.event_id
FROM status_current c JOIN status_events e ON e.event_id = c.event_id;

-- Every event with the interval it was in effect: [effective_on, valid_until).
-- valid_until is the next event's date for the cell (NULL while in effect); an event
-- replaced on its own date by a later-recorded one has an empty interval. So the
-- status as of D is: WHERE effective_on <= D AND (valid_until IS NULL OR valid_until > D)
-- (fine for a few subjects; `ozgsync status show --as-of` uses the index directly).
CREATE VIEW v_status_history AS
SELECT e.event_id, e.subject_kind, e.subject, e.scope_kind, e.scope,
       CASE WHEN e.scope_kind = 'ressort' THEN
           (SELECT n.kuerzel FROM ressort_names n
             WHERE n.ressort_id = CAST(e.scope AS INTEGER) AND n.valid_to IS NULL)
       END AS ressort,
       e.status, e.effective_on,
       lead(e.effective_on) OVER cell AS valid_until,
       e.note, e.origin, e.recorded_at, e.recorded_by
FROM status_events e
WINDOW cell AS (PARTITION BY e.subject_kind, e.subject, e.scope_kind, e.scope
                ORDER BY e.effective_on, e.event_id);

-- Per Ressort: LeiKa services by current status and implementation path. A Ressort's
-- services are those annotated with it plus those with a status reported for it;
-- 'ohne_status' counts annotated services nobody reported on, 'nicht_annotiert'
-- services with a status but no annotation.
CREATE VIEW v_ministry_progress AS
WITH subjects AS (
    SELECT a.ressort_id, a.leistungsschluessel AS subject FROM annotations a
     WHERE a.ressort_id IS NOT NULL
    UNION
    SELECT CAST(c.scope AS INTEGER), c.subject FROM status_current c
     WHERE c.scope_kind = 'ressort' AND c.subject_kind = 'leika'
)
SELECT s.ressort_id,
       n.kuerzel,
       n.name AS ressort_name,
       coalesce(c.status, 'ohne_status') AS status,
       coalesce(a.umsetzungsweg, 'nicht_annotiert') AS umsetzungsweg,
       count(*) AS services
FROM subjects s
JOIN ressort_names n ON n.ressort_id = s.ressort_id AND n.valid_to IS NULL
LEFT JOIN annotations a ON a.leistungsschluessel = s.subject
LEFT JOIN status_current c
       ON c.scope_kind = 'ressort' AND c.scope = CAST(s.ressort_id AS TEXT)
      AND c.subject_kind = 'leika' AND c.subject = s.subject
GROUP BY s.ressort_id, n.kuerzel, n.name, 4, 5;

-- Per Gemeinde (current GV100AD records of level gemeinde): the relevant LeiKa
-- services are those annotated as executed by municipalities (vollzug kommune or
-- beide) plus those with a status reported for this ARS; produktiv counts relevant
-- services whose current status for this ARS is produktiv; share = produktiv/relevant.
CREATE VIEW v_municipality_coverage AS
WITH kommunal AS (
    SELECT leistungsschluessel FROM annotations WHERE vollzug IN ('kommune', 'beide')
),
reported AS (
    SELECT c.scope AS ars,
           count(*) AS reported,
           sum(c.status = 'produktiv') AS produktiv,
           sum(c.subject IN (SELECT leistungsschluessel FROM kommunal)) AS reported_kommunal
    FROM status_current c
    WHERE c.scope_kind = 'ars' AND c.subject_kind = 'leika'
    GROUP BY c.scope
),
gemeinden AS (
    SELECT json_extract(v.data, '$.ars') AS ars, json_extract(v.data, '$.name') AS name
    FROM record_versions v
    WHERE v.entity = 'municipality' AND v.valid_to IS NULL
      AND v.key >= 'gemeinde:' AND v.key < 'gemeinde;'
)
SELECT g.ars, g.name,
       (SELECT count(*) FROM kommunal) + coalesce(r.reported - r.reported_kommunal, 0) AS relevant,
       coalesce(r.produktiv, 0) AS produktiv,
       CASE WHEN (SELECT count(*) FROM kommunal) + coalesce(r.reported - r.reported_kommunal, 0) > 0
            THEN round(1.0 * coalesce(r.produktiv, 0)
                 / ((SELECT count(*) FROM kommunal) + coalesce(r.reported - r.reported_kommunal, 0)), 4)
       END AS share
FROM gemeinden g LEFT JOIN reported r ON r.ars = g.ars;

-- Observed availability (PVOG / Dashboard Digitale Verwaltung), one row per
-- (ARS, LeiKa key) ever observed, with its latest version. first_seen is the fetch
-- time of the first release that saw it, last_seen that of the last release of the
-- same source that still saw it (an unchanged payload counts as seen).
CREATE VIEW v_availability AS
SELECT json_extract(v.data, '$.ars')                 AS ars,
       json_extract(v.data, '$.leistungsschluessel') AS leistungsschluessel,
       json_extract(v.data, '$.online_status')       AS online_status,
       json_extract(v.data, '$.url')                 AS url,
       json_extract(v.data, '$.art_flaechendeckung') AS art_flaechendeckung,
       json_extract(v.data, '$.aktiv')               AS aktiv,
       (SELECT r.fetched_at FROM releases r
         WHERE r.release_id = (SELECT min(f.valid_from) FROM record_versions f
                                WHERE f.entity = v.entity AND f.key = v.key)) AS first_seen,
       (SELECT max(r.fetched_at) FROM releases r
         WHERE r.source = src.source AND r.release_id >= v.valid_from
           AND (v.valid_to IS NULL OR r.release_id < v.valid_to)) AS last_seen,
       v.valid_to IS NULL AS current
FROM record_versions v
JOIN releases src ON src.release_id = v.valid_from
WHERE v.entity = 'availability'
  AND v.valid_from = (SELECT max(l.valid_from) FROM record_versions l
                       WHERE l.entity = v.entity AND l.key = v.key);

-- Where a reported municipal status and the observed availability disagree:
-- 'produktiv_nicht_beobachtet': reported produktiv for an ARS, but no current
--   observation with online_status ok (and not aktiv = nein) for the key at that
--   ARS, nor at its Kreis (kreisweit flächendeckend) or Land (landesweit or
--   bundesweit flächendeckend). Only once any availability has been imported.
-- 'beobachtet_nicht_produktiv': observed ok at an ARS whose reported current status
--   is something else.
CREATE VIEW v_reconciliation AS
WITH observed AS (
    SELECT v.key,
           json_extract(v.data, '$.ars')                 AS ars,
           json_extract(v.data, '$.leistungsschluessel') AS leistungsschluessel,
           json_extract(v.data, '$.online_status')       AS online_status,
           json_extract(v.data, '$.url')                 AS url,
           json_extract(v.data, '$.art_flaechendeckung') AS art_flaechendeckung,
           json_extract(v.data, '$.aktiv')               AS aktiv
    FROM record_versions v
    WHERE v.entity = 'availability' AND v.valid_to IS NULL
)
SELECT 'produktiv_nicht_beobachtet' AS kind,
       c.scope AS ars, c.subject AS leistungsschluessel,
       c.status AS reported_status, c.effective_on AS reported_on,
       o.online_status AS observed_online_status, o.url AS observed_url,
       o.art_flaechendeckung AS observed_art_flaechendeckung
FROM status_current c
LEFT JOIN observed o ON o.key = c.scope || ':' || c.subject
WHERE c.scope_kind = 'ars' AND c.subject_kind = 'leika' AND c.status = 'produktiv'
  AND EXISTS (SELECT 1 FROM releases r WHERE r.entity = 'availability' AND r.status = 'applied')
  AND NOT EXISTS (
      SELECT 1 FROM record_versions x
       WHERE x.entity = 'availability' AND x.valid_to IS NULL
         AND x.key IN (c.scope || ':' || c.subject,
                       substr(c.scope, 1, 5) || '0000000:' || c.subject,
                       substr(c.scope, 1, 2) || '0000000000:' || c.subject)
         AND json_extract(x.data, '$.online_status') = 'ok'
         AND coalesce(json_extract(x.data, '$.aktiv'), 'ja') <> 'nein'
         AND (json_extract(x.data, '$.ars') = c.scope
              OR (json_extract(x.data, '$.ars') = substr(c.scope, 1, 5) || '0000000'
                  AND json_extract(x.data, '$.art_flaechendeckung') = 'kreisweit flächendeckend')
              OR json_extract(x.data, '$.art_flaechendeckung')
                     IN ('landesweit flächendeckend', 'bundesweit flächendeckend')))
UNION ALL
SELECT 'beobachtet_nicht_produktiv',
       o.ars, o.leistungsschluessel,
       c.status, c.effective_on,
       o.online_status, o.url, o.art_flaechendeckung
FROM observed o
JOIN status_current c
  ON c.scope_kind = 'ars' AND c.scope = o.ars
 AND c.subject_kind = 'leika' AND c.subject = o.leistungsschluessel
WHERE o.online_status = 'ok' AND coalesce(o.aktiv, 'ja') <> 'nein'
  AND c.status <> 'produktiv';
