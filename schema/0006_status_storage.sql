-- 0006: status storage sized for whole rollout matrices (939 Gemeinden × 3,000
-- services = 2.8 million events in one report), measured in BENCHMARKS.md.
--
-- * `status_events` becomes a WITHOUT ROWID table clustered by cell and date: the
--   as-of index of 0002 *is* the table now, so an event is written once instead of
--   twice, and "the last event of a cell on or before D" is one seek in the table.
-- * Who recorded a report, when and from which file is stored once per report in
--   `status_batches` instead of on each of its events (a third of every row).
-- * `status_current` is keyed subject first, in the order events are written, so
--   keeping it up to date appends instead of inserting at random places.
-- * `status_tally` counts current cells per scope, status and whether the subject
--   is a municipal service (annotation vollzug kommune/beide), so
--   `v_municipality_coverage` reads 939 × a few rows instead of 2.8 million.
--
-- Who keeps `status_current` and `status_tally` right: `store::status::record`, the
-- one writer of reports, updates both set-wise inside the report's transaction,
-- with the two per-row triggers below set aside for that transaction (dropped and
-- re-created from their stored SQL before commit; other connections never see
-- them missing). Any other insert into `status_events` (a single `INSERT` in the
-- sqlite3 shell, a test fixture) goes through the triggers, so the derived tables
-- cannot drift either way, and an event must name an existing batch. Annotation
-- changes that make a service municipal or not move its cells between the tally's
-- classes by trigger.

CREATE TABLE status_batches (
    batch_id      INTEGER PRIMARY KEY,
    origin        TEXT NOT NULL,     -- file name, or 'status set'
    recorded_at   TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    last_event_id INTEGER NOT NULL   -- the greatest event_id of the batch; ids grow
) STRICT;

CREATE TABLE status_events_0006 (
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('leika', 'efa')),
    subject      TEXT NOT NULL,
    scope_kind   TEXT NOT NULL CHECK (scope_kind IN ('ressort', 'ars')),
    scope        TEXT NOT NULL,    -- ressort_id as text, or 12-digit ARS
    effective_on TEXT NOT NULL,    -- date the status took effect
    event_id     INTEGER NOT NULL, -- unique and growing: decides same-day events
    status       TEXT NOT NULL CHECK (status IN ('nicht_begonnen', 'geplant', 'beauftragt',
                     'in_umsetzung', 'pilot', 'produktiv', 'eingestellt', 'abgelehnt')),
    note         TEXT,
    -- status_batches.batch_id; checked by trigger status_events_id for other
    -- writers instead of a foreign key, which cost a sixth of a bulk import.
    batch_id     INTEGER NOT NULL,
    PRIMARY KEY (subject_kind, subject, scope_kind, scope, effective_on, event_id)
) STRICT, WITHOUT ROWID;

-- One batch per (origin, recorded_at, recorded_by) of the events recorded so far.
INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
SELECT origin, recorded_at, recorded_by, max(event_id)
FROM status_events
GROUP BY origin, recorded_at, recorded_by
ORDER BY min(event_id);

INSERT INTO status_events_0006 (subject_kind, subject, scope_kind, scope, effective_on,
                                event_id, status, note, batch_id)
SELECT e.subject_kind, e.subject, e.scope_kind, e.scope, e.effective_on, e.event_id,
       e.status, e.note,
       (SELECT b.batch_id FROM status_batches b
         WHERE b.origin = e.origin AND b.recorded_at = e.recorded_at
           AND b.recorded_by = e.recorded_by)
FROM status_events e
ORDER BY e.subject_kind, e.subject, e.scope_kind, e.scope, e.effective_on, e.event_id;

CREATE TABLE status_current_0006 (
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    scope_kind   TEXT NOT NULL,
    scope        TEXT NOT NULL,
    status       TEXT NOT NULL,
    effective_on TEXT NOT NULL,
    event_id     INTEGER NOT NULL,
    PRIMARY KEY (subject_kind, subject, scope_kind, scope)
) STRICT, WITHOUT ROWID;
INSERT INTO status_current_0006
SELECT subject_kind, subject, scope_kind, scope, status, effective_on, event_id
FROM status_current
ORDER BY subject_kind, subject, scope_kind, scope;

-- The views read the old tables; they are created again below. status_current goes
-- first: it referenced status_events.
DROP VIEW v_status_current;
DROP VIEW v_status_history;
DROP VIEW v_ministry_progress;
DROP VIEW v_municipality_coverage;
DROP VIEW v_reconciliation;
DROP TABLE status_current;
DROP TABLE status_events;
ALTER TABLE status_events_0006 RENAME TO status_events;
ALTER TABLE status_current_0006 RENAME TO status_current;

CREATE TABLE status_tally (
    scope_kind   TEXT NOT NULL,
    scope        TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    status       TEXT NOT NULL,
    kommunal     INTEGER NOT NULL CHECK (kommunal IN (0, 1)),
    cells        INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope, subject_kind, status, kommunal)
) STRICT, WITHOUT ROWID;

-- Whether a subject counts as a municipal service: a LeiKa key annotated with
-- vollzug kommune or beide. (Spelled out in each trigger; SQLite has no functions.)
INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
SELECT c.scope_kind, c.scope, c.subject_kind, c.status,
       c.subject_kind = 'leika' AND EXISTS (
           SELECT 1 FROM annotations a
            WHERE a.leistungsschluessel = c.subject AND a.vollzug IN ('kommune', 'beide')),
       count(*)
FROM status_current c
GROUP BY 1, 2, 3, 4, 5;

-- A backdated event (earlier effective date, recorded later) does not replace a
-- newer status; a same-day correction does (event ids grow).
CREATE TRIGGER status_events_current AFTER INSERT ON status_events
BEGIN
    -- The cell's old status leaves the tally if this event replaces it.
    UPDATE status_tally SET cells = cells - 1
     WHERE (scope_kind, scope, subject_kind, status) IN (
               SELECT c.scope_kind, c.scope, c.subject_kind, c.status FROM status_current c
                WHERE c.subject_kind = new.subject_kind AND c.subject = new.subject
                  AND c.scope_kind = new.scope_kind AND c.scope = new.scope
                  AND new.effective_on >= c.effective_on)
       AND kommunal = (new.subject_kind = 'leika' AND EXISTS (
               SELECT 1 FROM annotations a
                WHERE a.leistungsschluessel = new.subject AND a.vollzug IN ('kommune', 'beide')));
    INSERT INTO status_current (subject_kind, subject, scope_kind, scope, status, effective_on, event_id)
    VALUES (new.subject_kind, new.subject, new.scope_kind, new.scope, new.status, new.effective_on, new.event_id)
    ON CONFLICT (subject_kind, subject, scope_kind, scope) DO UPDATE
        SET status = excluded.status, effective_on = excluded.effective_on, event_id = excluded.event_id
        WHERE excluded.effective_on >= status_current.effective_on;
    -- The new status enters the tally if it is now the cell's current one.
    INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
    SELECT new.scope_kind, new.scope, new.subject_kind, new.status,
           new.subject_kind = 'leika' AND EXISTS (
               SELECT 1 FROM annotations a
                WHERE a.leistungsschluessel = new.subject AND a.vollzug IN ('kommune', 'beide')),
           1
    FROM status_current c
    WHERE c.subject_kind = new.subject_kind AND c.subject = new.subject
      AND c.scope_kind = new.scope_kind AND c.scope = new.scope AND c.event_id = new.event_id
    ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
        SET cells = cells + 1;
END;

-- Writers other than `record` name an existing batch and give each event an id
-- inside its batch's range: after every earlier batch's last_event_id and at most
-- its own, so ids keep growing.
CREATE TRIGGER status_events_id BEFORE INSERT ON status_events
WHEN new.event_id > coalesce((SELECT b.last_event_id FROM status_batches b
                               WHERE b.batch_id = new.batch_id), -1)
  OR new.event_id <= coalesce((SELECT max(b.last_event_id) FROM status_batches b
                                WHERE b.batch_id < new.batch_id), 0)
BEGIN
    SELECT RAISE(ABORT, 'status_events: the batch must exist, and event_id must be greater than every earlier batch''s last_event_id and at most its own batch''s');
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

-- A service becoming municipal (or no longer) moves its current cells between the
-- tally's classes. Keyed on the class, not the value: land → beide moves, kommune →
-- beide does not.
CREATE TRIGGER annotations_tally_insert AFTER INSERT ON annotations
WHEN new.vollzug IN ('kommune', 'beide')
BEGIN
    UPDATE status_tally SET cells = cells - 1
     WHERE kommunal = 0 AND subject_kind = 'leika'
       AND (scope_kind, scope, status) IN (
               SELECT c.scope_kind, c.scope, c.status FROM status_current c
                WHERE c.subject_kind = 'leika' AND c.subject = new.leistungsschluessel);
    INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
    SELECT c.scope_kind, c.scope, 'leika', c.status, 1, 1 FROM status_current c
     WHERE c.subject_kind = 'leika' AND c.subject = new.leistungsschluessel
    ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
        SET cells = cells + 1;
END;
CREATE TRIGGER annotations_tally_update AFTER UPDATE OF vollzug ON annotations
WHEN (coalesce(old.vollzug, '') IN ('kommune', 'beide'))
     <> (coalesce(new.vollzug, '') IN ('kommune', 'beide'))
BEGIN
    UPDATE status_tally SET cells = cells - 1
     WHERE kommunal = (coalesce(old.vollzug, '') IN ('kommune', 'beide'))
       AND subject_kind = 'leika'
       AND (scope_kind, scope, status) IN (
               SELECT c.scope_kind, c.scope, c.status FROM status_current c
                WHERE c.subject_kind = 'leika' AND c.subject = new.leistungsschluessel);
    INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
    SELECT c.scope_kind, c.scope, 'leika', c.status,
           coalesce(new.vollzug, '') IN ('kommune', 'beide'), 1
    FROM status_current c
     WHERE c.subject_kind = 'leika' AND c.subject = new.leistungsschluessel
    ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
        SET cells = cells + 1;
END;
CREATE TRIGGER annotations_tally_delete AFTER DELETE ON annotations
WHEN old.vollzug IN ('kommune', 'beide')
BEGIN
    UPDATE status_tally SET cells = cells - 1
     WHERE kommunal = 1 AND subject_kind = 'leika'
       AND (scope_kind, scope, status) IN (
               SELECT c.scope_kind, c.scope, c.status FROM status_current c
                WHERE c.subject_kind = 'leika' AND c.subject = old.leistungsschluessel);
    INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
    SELECT c.scope_kind, c.scope, 'leika', c.status, 0, 1 FROM status_current c
     WHERE c.subject_kind = 'leika' AND c.subject = old.leistungsschluessel
    ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
        SET cells = cells + 1;
END;

-- ---------------------------------------------------------------------------------
-- Views (query contract, documented in docs/views.md): the same columns as 0005.

CREATE VIEW v_status_current AS
SELECT c.subject_kind, c.subject, c.scope_kind, c.scope,
       CASE WHEN c.scope_kind = 'ressort' THEN
           (SELECT n.kuerzel FROM ressort_names n
             WHERE n.ressort_id = CAST(c.scope AS INTEGER) AND n.valid_to IS NULL)
       END AS ressort,
       c.status, c.effective_on, e.note, b.origin, b.recorded_at, b.recorded_by, c.event_id
FROM status_current c
JOIN status_events e
  ON e.subject_kind = c.subject_kind AND e.subject = c.subject
 AND e.scope_kind = c.scope_kind AND e.scope = c.scope
 AND e.effective_on = c.effective_on AND e.event_id = c.event_id
JOIN status_batches b ON b.batch_id = e.batch_id;

-- Every event with the interval it was in effect: [effective_on, valid_until).
-- valid_until is the next event's date for the cell (NULL while in effect); an event
-- replaced on its own date by a later-recorded one has an empty interval. So the
-- status as of D is: WHERE effective_on <= D AND (valid_until IS NULL OR valid_until > D).
CREATE VIEW v_status_history AS
SELECT e.event_id, e.subject_kind, e.subject, e.scope_kind, e.scope,
       CASE WHEN e.scope_kind = 'ressort' THEN
           (SELECT n.kuerzel FROM ressort_names n
             WHERE n.ressort_id = CAST(e.scope AS INTEGER) AND n.valid_to IS NULL)
       END AS ressort,
       e.status, e.effective_on,
       lead(e.effective_on) OVER cell AS valid_until,
       e.note, b.origin, b.recorded_at, b.recorded_by
FROM status_events e JOIN status_batches b ON b.batch_id = e.batch_id
WINDOW cell AS (PARTITION BY e.subject_kind, e.subject, e.scope_kind, e.scope
                ORDER BY e.effective_on, e.event_id);

-- Per Ressort: LeiKa services by current status and implementation path (as 0005).
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
       ON c.subject_kind = 'leika' AND c.subject = s.subject
      AND c.scope_kind = 'ressort' AND c.scope = CAST(s.ressort_id AS TEXT)
GROUP BY s.ressort_id, n.kuerzel, n.name, 4, 5;

-- Per Gemeinde (current GV100AD records of level gemeinde): the relevant LeiKa
-- services are those annotated as executed by municipalities (vollzug kommune or
-- beide) plus those with a status reported for this ARS; produktiv counts relevant
-- services whose current status for this ARS is produktiv; share = produktiv/relevant.
-- Read from the tally: cells of non-municipal services are the "plus" part.
CREATE VIEW v_municipality_coverage AS
WITH kommunal AS (
    SELECT count(*) AS n FROM annotations WHERE vollzug IN ('kommune', 'beide')
),
reported AS (
    SELECT t.scope AS ars,
           sum(CASE WHEN t.kommunal = 0 THEN t.cells ELSE 0 END) AS other,
           sum(CASE WHEN t.status = 'produktiv' THEN t.cells ELSE 0 END) AS produktiv
    FROM status_tally t
    WHERE t.scope_kind = 'ars' AND t.subject_kind = 'leika'
    GROUP BY t.scope
),
gemeinden AS (
    SELECT json_extract(v.data, '$.ars') AS ars, json_extract(v.data, '$.name') AS name
    FROM record_versions v
    WHERE v.entity = 'municipality' AND v.valid_to IS NULL
      AND v.key >= 'gemeinde:' AND v.key < 'gemeinde;'
),
counted AS (
    SELECT g.ars, g.name,
           (SELECT n FROM kommunal) + coalesce(r.other, 0) AS relevant,
           coalesce(r.produktiv, 0) AS produktiv
    FROM gemeinden g LEFT JOIN reported r ON r.ars = g.ars
)
SELECT ars, name, relevant, produktiv,
       CASE WHEN relevant > 0 THEN round(1.0 * produktiv / relevant, 4) END AS share
FROM counted;

-- Where a reported municipal status and the observed availability disagree (as 0005).
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
  ON c.subject_kind = 'leika' AND c.subject = o.leistungsschluessel
 AND c.scope_kind = 'ars' AND c.scope = o.ars
WHERE o.online_status = 'ok' AND coalesce(o.aktiv, 'ja') <> 'nein'
  AND c.status <> 'produktiv';
