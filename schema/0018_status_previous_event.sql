-- 0018: each current cell keeps the event before it, for the dashboards' change window.

-- The dashboards list each Gemeinde's changes of the last CHANGE_WINDOW_DAYS with the
-- status each one replaced. A cell whose current event lies in the window needed one
-- seek into `status_event_rows` for the status before it (124,000 seeks for Lower
-- Saxony, a tenth of the cold export's instructions). `prev_event` is the cell's
-- event just before the current one (by date, then event id; NULL when the
-- current event is the cell's first) as one integer, its date (YYYYMMDD) × 16 +
-- its status ordinal, so a cell with one change in the window is known from its
-- current row alone; only a cell whose previous event is in the window too still
-- reads its events. One column, not two: the dashboards' read hands every one of
-- the 2.8 M index rows' columns to its aggregate, and a second column cost SQLite
-- about 86 instructions a row (BENCHMARKS.md, session 10).
--
-- Kept true by every writer: `store::status::record_sorted` (including a
-- backdated event, which becomes the previous one when it is newer than that) and
-- the `status_events` view's INSTEAD OF trigger below. Filled here from the events
-- (the second-latest of each cell); only cells with more than one event get a row
-- rewritten.
ALTER TABLE status_current_rows ADD COLUMN prev_event INTEGER;

UPDATE status_current_rows AS c
   SET prev_event = p.prev_event
  FROM (SELECT subject_id, scope_id, event_id,
               lag(effective_on * 16 + status) OVER cell AS prev_event
          FROM status_event_rows
        WINDOW cell AS (PARTITION BY subject_id, scope_id ORDER BY effective_on, event_id)) AS p
 WHERE p.prev_event IS NOT NULL
   AND c.subject_id = p.subject_id AND c.scope_id = p.scope_id AND c.event_id = p.event_id;

-- The scope-first index of 0017 with the new column, so the dashboards' read
-- stays covered (the table is not visited).
DROP INDEX status_current_by_scope;
CREATE INDEX status_current_by_scope
    ON status_current_rows (scope_id, subject_id, status, effective_on, event_id,
                            prev_event)
    WHERE scope_id > 0;

-- The view's writer keeps the previous event too (0013's trigger otherwise).
DROP TRIGGER status_events_current;
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
        SET prev_event = CASE WHEN excluded.effective_on >= status_current_rows.effective_on
                              THEN status_current_rows.effective_on * 16 + status_current_rows.status
                              ELSE excluded.effective_on * 16 + excluded.status END,
            status = CASE WHEN excluded.effective_on >= status_current_rows.effective_on
                          THEN excluded.status ELSE status_current_rows.status END,
            event_id = CASE WHEN excluded.effective_on >= status_current_rows.effective_on
                            THEN excluded.event_id ELSE status_current_rows.event_id END,
            effective_on = max(excluded.effective_on, status_current_rows.effective_on)
        -- A backdated event replaces only an older previous one.
        WHERE excluded.effective_on >= status_current_rows.effective_on
           OR status_current_rows.prev_event IS NULL
           OR excluded.effective_on >= status_current_rows.prev_event / 16;
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
