-- 0013: status tables stored as integers, and the "municipal service" rule said once.
--
-- 1. The municipal-service rule (a LeiKa key annotated with vollzug kommune or beide)
--    is the VIRTUAL generated column `annotations.kommunal` (0 or 1). Triggers and
--    views read that column instead of spelling the rule out. Its Rust twin is
--    `model::Vollzug::is_municipal`; a unit test in `store` keeps the two equal.
--
-- 2. Status events and current statuses are stored keyed by integers: a subject
--    (kind + key) and a scope (kind + ARS or Ressort id) are small ids from the
--    lookup tables `status_subjects` and `status_scopes`, a date is the integer
--    YYYYMMDD, a status is its ordinal in `status_codes` (the order of
--    `status::Status::ALL`, kept equal by a unit test). Rows are a third of the
--    bytes of the text rows and compare as integers (measured in BENCHMARKS.md).
--    Ressort scopes get negative ids and ARS scopes positive ones, so the few
--    Ressort cells keep a partial index that municipal writes never touch.
--
--    Readers see what they saw before: `status_events` and `status_current` are now
--    VIEWS with the old names and columns (text keys, ISO dates, status names).
--    Inserting into the view `status_events` (the sqlite3 shell, a test fixture)
--    goes through INSTEAD OF triggers that keep the integer tables,
--    `status_current` and `status_tally` right and refuse what is not vocabulary,
--    as the 0006/0007 triggers did. `store::status::record` writes the integer
--    tables directly and keeps the derived tables itself. Events stay append-only
--    in the view and in the table under it. `status_tally` is unchanged (text keys,
--    939 × a few rows).

ALTER TABLE annotations ADD COLUMN kommunal INTEGER
    GENERATED ALWAYS AS (coalesce(vollzug IN ('kommune', 'beide'), 0)) VIRTUAL;

CREATE TABLE status_codes (
    code   INTEGER PRIMARY KEY,
    status TEXT NOT NULL UNIQUE
) STRICT;
INSERT INTO status_codes (code, status) VALUES
    (1, 'nicht_begonnen'), (2, 'geplant'), (3, 'beauftragt'), (4, 'in_umsetzung'),
    (5, 'pilot'), (6, 'produktiv'), (7, 'eingestellt'), (8, 'abgelehnt');

CREATE TABLE status_subjects (
    subject_id   INTEGER PRIMARY KEY,
    subject_kind TEXT NOT NULL CHECK (subject_kind = 'leika' OR subject_kind = 'efa'),
    subject      TEXT NOT NULL,
    UNIQUE (subject_kind, subject)
) STRICT;

CREATE TABLE status_scopes (
    scope_id   INTEGER PRIMARY KEY CHECK (scope_id <> 0),
    scope_kind TEXT NOT NULL CHECK (scope_kind = 'ars' OR scope_kind = 'ressort'),
    scope      TEXT NOT NULL,    -- ressort_id as text, or 12-digit ARS
    UNIQUE (scope_kind, scope),
    CHECK ((scope_kind = 'ressort') = (scope_id < 0))
) STRICT;

CREATE TABLE status_event_rows (
    subject_id   INTEGER NOT NULL,  -- status_subjects
    scope_id     INTEGER NOT NULL,  -- status_scopes
    effective_on INTEGER NOT NULL CHECK (effective_on BETWEEN 10000101 AND 99991231),
    event_id     INTEGER NOT NULL,  -- unique and growing: decides same-day events
    status       INTEGER NOT NULL CHECK (status BETWEEN 1 AND 8),  -- status_codes
    note         TEXT,
    batch_id     INTEGER NOT NULL,  -- status_batches
    PRIMARY KEY (subject_id, scope_id, effective_on, event_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE status_current_rows (
    subject_id   INTEGER NOT NULL,
    scope_id     INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    effective_on INTEGER NOT NULL,
    event_id     INTEGER NOT NULL,
    PRIMARY KEY (subject_id, scope_id)
) STRICT, WITHOUT ROWID;

-- The events and current statuses recorded so far, ids in key order.
INSERT INTO status_subjects (subject_kind, subject)
SELECT DISTINCT subject_kind, subject FROM status_events ORDER BY 1, 2;
INSERT INTO status_scopes (scope_id, scope_kind, scope)
SELECT row_number() OVER (ORDER BY scope), 'ars', scope
FROM (SELECT DISTINCT scope FROM status_events WHERE scope_kind = 'ars');
INSERT INTO status_scopes (scope_id, scope_kind, scope)
SELECT -row_number() OVER (ORDER BY scope), 'ressort', scope
FROM (SELECT DISTINCT scope FROM status_events WHERE scope_kind = 'ressort');

INSERT INTO status_event_rows (subject_id, scope_id, effective_on, event_id, status, note, batch_id)
SELECT s.subject_id, p.scope_id, CAST(replace(e.effective_on, '-', '') AS INTEGER), e.event_id,
       k.code, e.note, e.batch_id
FROM status_events e
JOIN status_subjects s ON s.subject_kind = e.subject_kind AND s.subject = e.subject
JOIN status_scopes p ON p.scope_kind = e.scope_kind AND p.scope = e.scope
JOIN status_codes k ON k.status = e.status
ORDER BY 1, 2, 3, 4;

INSERT INTO status_current_rows (subject_id, scope_id, status, effective_on, event_id)
SELECT s.subject_id, p.scope_id, k.code, CAST(replace(c.effective_on, '-', '') AS INTEGER),
       c.event_id
FROM status_current c
JOIN status_subjects s ON s.subject_kind = c.subject_kind AND s.subject = c.subject
JOIN status_scopes p ON p.scope_kind = c.scope_kind AND p.scope = c.scope
JOIN status_codes k ON k.status = c.status
ORDER BY 1, 2;

-- The old tables go (their triggers and the partial index with them); the views
-- that read them are created again below.
DROP VIEW v_status_current;
DROP VIEW v_status_history;
DROP VIEW v_municipality_coverage;
DROP TRIGGER annotations_tally_insert;
DROP TRIGGER annotations_tally_update;
DROP TRIGGER annotations_tally_delete;
DROP TABLE status_current;
DROP TABLE status_events;

-- Only the Ressort cells (negative scope ids): the Land part of a report reads them
-- without a scan past the municipal cells, and municipal writes never touch it.
CREATE INDEX status_current_ressort
    ON status_current_rows (subject_id, scope_id, status, effective_on)
    WHERE scope_id < 0;

-- Events are history, in the table as in the view below.
CREATE TRIGGER status_event_rows_no_update BEFORE UPDATE ON status_event_rows
BEGIN
    SELECT RAISE(ABORT, 'status_events is append-only: record a new event instead');
END;
CREATE TRIGGER status_event_rows_no_delete BEFORE DELETE ON status_event_rows
BEGIN
    SELECT RAISE(ABORT, 'status_events is append-only: record a new event instead');
END;

-- ---------------------------------------------------------------------------------
-- The old tables as views: the same names, columns and values as before.

CREATE VIEW status_events AS
SELECT s.subject_kind, s.subject, p.scope_kind, p.scope,
       printf('%04d-%02d-%02d', e.effective_on / 10000, e.effective_on / 100 % 100,
              e.effective_on % 100) AS effective_on,
       e.event_id,
       (SELECT k.status FROM status_codes k WHERE k.code = e.status) AS status,
       e.note, e.batch_id
FROM status_event_rows e
JOIN status_subjects s ON s.subject_id = e.subject_id
JOIN status_scopes p ON p.scope_id = e.scope_id;

-- Two branches by the sign of the scope id, so a reader's `scope_kind = 'ressort'`
-- leaves the municipal branch out and reads the partial index.
CREATE VIEW status_current AS
SELECT s.subject_kind, s.subject, 'ars' AS scope_kind, p.scope,
       (SELECT k.status FROM status_codes k WHERE k.code = c.status) AS status,
       printf('%04d-%02d-%02d', c.effective_on / 10000, c.effective_on / 100 % 100,
              c.effective_on % 100) AS effective_on,
       c.event_id
FROM status_current_rows c
JOIN status_subjects s ON s.subject_id = c.subject_id
JOIN status_scopes p ON p.scope_id = c.scope_id
WHERE c.scope_id > 0
UNION ALL
SELECT s.subject_kind, s.subject, 'ressort' AS scope_kind, p.scope,
       (SELECT k.status FROM status_codes k WHERE k.code = c.status) AS status,
       printf('%04d-%02d-%02d', c.effective_on / 10000, c.effective_on / 100 % 100,
              c.effective_on % 100) AS effective_on,
       c.event_id
FROM status_current_rows c
JOIN status_subjects s ON s.subject_id = c.subject_id
JOIN status_scopes p ON p.scope_id = c.scope_id
WHERE c.scope_id < 0;

-- Writers other than `record` name an existing batch and give each event an id
-- inside its batch's range: after every earlier batch's last_event_id and at most
-- its own, so ids keep growing. (A RAISE undoes the whole statement, whichever of
-- the two INSTEAD OF triggers runs first.)
CREATE TRIGGER status_events_id INSTEAD OF INSERT ON status_events
WHEN new.event_id > coalesce((SELECT b.last_event_id FROM status_batches b
                               WHERE b.batch_id = new.batch_id), -1)
  OR new.event_id <= coalesce((SELECT max(b.last_event_id) FROM status_batches b
                                WHERE b.batch_id < new.batch_id), 0)
BEGIN
    SELECT RAISE(ABORT, 'status_events: the batch must exist, and event_id must be greater than every earlier batch''s last_event_id and at most its own batch''s');
END;

-- An event inserted into the view: its subject and scope get ids if new, the event
-- row is written, and the cell's current status and the tally follow. A backdated
-- event (earlier effective date, recorded later) does not replace a newer status;
-- a same-day correction does (event ids grow).
CREATE TRIGGER status_events_current INSTEAD OF INSERT ON status_events
BEGIN
    SELECT RAISE(ABORT, 'status_events: effective_on must be a date written YYYY-MM-DD')
     WHERE new.effective_on IS NOT date(new.effective_on)
        OR length(new.effective_on) IS NOT 10;
    INSERT INTO status_subjects (subject_kind, subject)
    SELECT new.subject_kind, new.subject
     WHERE NOT EXISTS (SELECT 1 FROM status_subjects
                        WHERE subject_kind = new.subject_kind AND subject = new.subject);
    INSERT INTO status_scopes (scope_id, scope_kind, scope)
    SELECT CASE WHEN new.scope_kind = 'ressort'
                THEN (SELECT min(0, coalesce(min(scope_id), 0)) - 1 FROM status_scopes)
                ELSE (SELECT max(0, coalesce(max(scope_id), 0)) + 1 FROM status_scopes) END,
           new.scope_kind, new.scope
     WHERE NOT EXISTS (SELECT 1 FROM status_scopes
                        WHERE scope_kind = new.scope_kind AND scope = new.scope);
    INSERT INTO status_event_rows (subject_id, scope_id, effective_on, event_id, status, note, batch_id)
    VALUES ((SELECT subject_id FROM status_subjects
              WHERE subject_kind = new.subject_kind AND subject = new.subject),
            (SELECT scope_id FROM status_scopes
              WHERE scope_kind = new.scope_kind AND scope = new.scope),
            CAST(replace(new.effective_on, '-', '') AS INTEGER),
            new.event_id,
            coalesce((SELECT code FROM status_codes WHERE status = new.status), 0),
            new.note, new.batch_id);
    -- The cell's old status leaves the tally if this event replaces it.
    UPDATE status_tally SET cells = cells - 1
     WHERE (scope_kind, scope, subject_kind, status) IN (
               SELECT c.scope_kind, c.scope, c.subject_kind, c.status FROM status_current c
                WHERE c.subject_kind = new.subject_kind AND c.subject = new.subject
                  AND c.scope_kind = new.scope_kind AND c.scope = new.scope
                  AND new.effective_on >= c.effective_on)
       AND kommunal = (new.subject_kind = 'leika' AND EXISTS (
               SELECT 1 FROM annotations a
                WHERE a.leistungsschluessel = new.subject AND a.kommunal));
    INSERT INTO status_current_rows (subject_id, scope_id, status, effective_on, event_id)
    SELECT e.subject_id, e.scope_id, e.status, e.effective_on, e.event_id
    FROM status_event_rows e
    WHERE e.subject_id = (SELECT subject_id FROM status_subjects
                           WHERE subject_kind = new.subject_kind AND subject = new.subject)
      AND e.scope_id = (SELECT scope_id FROM status_scopes
                         WHERE scope_kind = new.scope_kind AND scope = new.scope)
      AND e.effective_on = CAST(replace(new.effective_on, '-', '') AS INTEGER)
      AND e.event_id = new.event_id
    ON CONFLICT (subject_id, scope_id) DO UPDATE
        SET status = excluded.status, effective_on = excluded.effective_on, event_id = excluded.event_id
        WHERE excluded.effective_on >= status_current_rows.effective_on;
    -- The new status enters the tally if it is now the cell's current one.
    INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
    SELECT new.scope_kind, new.scope, new.subject_kind, new.status,
           new.subject_kind = 'leika' AND EXISTS (
               SELECT 1 FROM annotations a
                WHERE a.leistungsschluessel = new.subject AND a.kommunal),
           1
    FROM status_current c
    WHERE c.subject_kind = new.subject_kind AND c.subject = new.subject
      AND c.scope_kind = new.scope_kind AND c.scope = new.scope AND c.event_id = new.event_id
    ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
        SET cells = cells + 1;
END;

CREATE TRIGGER status_events_no_update INSTEAD OF UPDATE ON status_events
BEGIN
    SELECT RAISE(ABORT, 'status_events is append-only: record a new event instead');
END;
CREATE TRIGGER status_events_no_delete INSTEAD OF DELETE ON status_events
BEGIN
    SELECT RAISE(ABORT, 'status_events is append-only: record a new event instead');
END;

-- A service becoming municipal (or no longer) moves its current cells between the
-- tally's classes (as 0006, with the rule read from `annotations.kommunal`).
CREATE TRIGGER annotations_tally_insert AFTER INSERT ON annotations
WHEN new.kommunal
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
WHEN old.kommunal <> new.kommunal
BEGIN
    UPDATE status_tally SET cells = cells - 1
     WHERE kommunal = old.kommunal
       AND subject_kind = 'leika'
       AND (scope_kind, scope, status) IN (
               SELECT c.scope_kind, c.scope, c.status FROM status_current c
                WHERE c.subject_kind = 'leika' AND c.subject = new.leistungsschluessel);
    INSERT INTO status_tally (scope_kind, scope, subject_kind, status, kommunal, cells)
    SELECT c.scope_kind, c.scope, 'leika', c.status, new.kommunal, 1
    FROM status_current c
     WHERE c.subject_kind = 'leika' AND c.subject = new.leistungsschluessel
    ON CONFLICT (scope_kind, scope, subject_kind, status, kommunal) DO UPDATE
        SET cells = cells + 1;
END;
CREATE TRIGGER annotations_tally_delete AFTER DELETE ON annotations
WHEN old.kommunal
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
-- Views (query contract, documented in docs/views.md): the same columns as before,
-- read from the integer tables. v_ministry_progress and v_reconciliation read
-- `status_current`, now the view above, and stay as 0006 defined them.

CREATE VIEW v_status_current AS
SELECT s.subject_kind, s.subject, p.scope_kind, p.scope,
       CASE WHEN p.scope_kind = 'ressort' THEN
           (SELECT n.kuerzel FROM ressort_names n
             WHERE n.ressort_id = CAST(p.scope AS INTEGER) AND n.valid_to IS NULL)
       END AS ressort,
       (SELECT k.status FROM status_codes k WHERE k.code = c.status) AS status,
       printf('%04d-%02d-%02d', c.effective_on / 10000, c.effective_on / 100 % 100,
              c.effective_on % 100) AS effective_on,
       e.note, b.origin, b.recorded_at, b.recorded_by, c.event_id
FROM status_current_rows c
JOIN status_subjects s ON s.subject_id = c.subject_id
JOIN status_scopes p ON p.scope_id = c.scope_id
JOIN status_event_rows e
  ON e.subject_id = c.subject_id AND e.scope_id = c.scope_id
 AND e.effective_on = c.effective_on AND e.event_id = c.event_id
JOIN status_batches b ON b.batch_id = e.batch_id;

-- Every event with the interval it was in effect: [effective_on, valid_until).
-- valid_until is the next event's date for the cell (NULL while in effect); an event
-- replaced on its own date by a later-recorded one has an empty interval. So the
-- status as of D is: WHERE effective_on <= D AND (valid_until IS NULL OR valid_until > D).
CREATE VIEW v_status_history AS
SELECT event_id, subject_kind, subject, scope_kind, scope, ressort, status,
       printf('%04d-%02d-%02d', on_ / 10000, on_ / 100 % 100, on_ % 100) AS effective_on,
       CASE WHEN next_on IS NOT NULL THEN
           printf('%04d-%02d-%02d', next_on / 10000, next_on / 100 % 100, next_on % 100)
       END AS valid_until,
       note, origin, recorded_at, recorded_by
FROM (
    SELECT e.event_id, s.subject_kind, s.subject, p.scope_kind, p.scope,
           CASE WHEN p.scope_kind = 'ressort' THEN
               (SELECT n.kuerzel FROM ressort_names n
                 WHERE n.ressort_id = CAST(p.scope AS INTEGER) AND n.valid_to IS NULL)
           END AS ressort,
           (SELECT k.status FROM status_codes k WHERE k.code = e.status) AS status,
           e.effective_on AS on_,
           lead(e.effective_on) OVER (PARTITION BY e.subject_id, e.scope_id
                                      ORDER BY e.effective_on, e.event_id) AS next_on,
           e.note, b.origin, b.recorded_at, b.recorded_by
    FROM status_event_rows e
    JOIN status_subjects s ON s.subject_id = e.subject_id
    JOIN status_scopes p ON p.scope_id = e.scope_id
    JOIN status_batches b ON b.batch_id = e.batch_id
);

-- Per current Gemeinde proper of every Land (as 0010): the relevant LeiKa services
-- are the municipal ones (`annotations.kommunal`) plus those with a status reported
-- for this ARS; produktiv counts relevant services whose current status for this
-- ARS is produktiv; share = produktiv/relevant. Read from the tally: cells of
-- non-municipal services are the "plus" part.
CREATE VIEW v_municipality_coverage AS
WITH kommunal AS (
    SELECT count(*) AS n FROM annotations WHERE kommunal
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
      AND json_extract(v.data, '$.textkennzeichen') IN
          (SELECT textkennzeichen FROM gemeinde_textkennzeichen)
),
counted AS (
    SELECT g.ars, g.name,
           (SELECT n FROM kommunal) + coalesce(r.other, 0) AS relevant,
           coalesce(r.produktiv, 0) AS produktiv
    FROM gemeinden g LEFT JOIN reported r ON r.ars = g.ars
)
SELECT ars, name, relevant, produktiv,
       CASE WHEN relevant > 0 THEN round(1.0 * produktiv / relevant, 4) END AS share,
       substr(ars, 1, 2) AS land
FROM counted;
