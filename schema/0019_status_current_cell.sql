-- 0019: each municipal current cell's date, status and previous event as one integer.

-- The dashboards read every municipal cell (2.8 M for Lower Saxony) Gemeinde by
-- Gemeinde through `status_current_by_scope`, handing each index row's columns to
-- an aggregate. SQLite's cost a row is mostly a column's: its `Column` opcode and
-- the aggregate's argument (about 150 instructions each; BENCHMARKS.md, session
-- 16). The read needs the date, the status and the previous event of a cell, and
-- `cell` holds all three: `(effective_on * 16 + status) << 31 | prev_event` (0 for
-- a cell's first event). A date is at most 99991231, so `effective_on * 16 +
-- status` and `prev_event` (the same packing, 0018) each fit in 31 bits, and the
-- two in one positive 64-bit integer. The index now covers the subject, `cell`
-- and the event id (the tie-break between a key's and its EfA service's cells):
-- three columns a row where there were five. `status`, `effective_on` and
-- `prev_event` stay as they are for every other reader and the views.
--
-- Kept true by every writer, as `prev_event` is (0018): `store::status` (its single
-- rows, its copies of whole subjects and their upserts) and the `status_events`
-- view's INSTEAD OF trigger below. Filled here from the row's own columns.
ALTER TABLE status_current_rows ADD COLUMN cell INTEGER;

UPDATE status_current_rows
   SET cell = ((effective_on * 16 + status) << 31) | coalesce(prev_event, 0);

-- 0018's scope-first index with `cell` in place of the three columns it packs, so
-- the dashboards' read stays covered (the table is not visited).
DROP INDEX status_current_by_scope;
CREATE INDEX status_current_by_scope
    ON status_current_rows (scope_id, subject_id, cell, event_id)
    WHERE scope_id > 0;

-- The view's writer keeps `cell` too (0018's trigger otherwise, the same but for it).
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
    INSERT INTO status_current_rows (subject_id, scope_id, status, effective_on, event_id, cell)
    SELECT e.subject_id, e.scope_id, e.status, e.effective_on, e.event_id,
           (e.effective_on * 16 + e.status) << 31
    FROM status_event_rows e
    WHERE e.subject_id = (SELECT subject_id FROM status_subjects
                           WHERE subject_kind = new.subject_kind AND subject = new.subject)
      AND e.scope_id = (SELECT scope_id FROM status_scopes
                         WHERE scope_kind = new.scope_kind AND scope = new.scope)
      AND e.effective_on = CAST(replace(new.effective_on, '-', '') AS INTEGER)
      AND e.event_id = new.event_id
    ON CONFLICT (subject_id, scope_id) DO UPDATE
        SET cell = CASE WHEN excluded.effective_on >= status_current_rows.effective_on
                        THEN ((excluded.effective_on * 16 + excluded.status) << 31)
                             | (status_current_rows.effective_on * 16 + status_current_rows.status)
                        ELSE ((status_current_rows.effective_on * 16 + status_current_rows.status) << 31)
                             | (excluded.effective_on * 16 + excluded.status) END,
            prev_event = CASE WHEN excluded.effective_on >= status_current_rows.effective_on
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
