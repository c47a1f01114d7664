-- 0007: status storage tuned for reading and writing whole rollout matrices.
--
-- 1. The same `status_events` table, its CHECK constraints written as OR chains.
--    SQLite evaluates a CHECK of the form `x IN ('a', 'b', ...)` by building a small
--    ephemeral index each time a statement runs. With the 50-row INSERTs of a status
--    report that made the three CHECKs cost more than the insert itself: writing
--    2.8 million events took 58 G instructions with them and 25 G without; as OR
--    chains (the same constraint: every column is NOT NULL) 28 G. Measured with
--    `perf stat -e instructions`; see BENCHMARKS.md.
--
--    The table is rebuilt (SQLite cannot alter a CHECK); rows are copied in key
--    order. Its triggers go with the old table and are created again below,
--    unchanged from 0006. With legacy_alter_table the rename leaves the views alone:
--    they name `status_events`, which is again the table's name after the swap.
--
-- 2. A partial index of the Ressort cells of `status_current`. The table is keyed
--    subject first, so "every Ressort cell" (the Land part of a report) was a scan
--    of all 2.8 million municipal cells; the index holds only the few Ressort rows
--    and is not touched when municipal cells are written.

PRAGMA legacy_alter_table = ON;

CREATE TABLE status_events_0007 (
    subject_kind TEXT NOT NULL CHECK (subject_kind = 'leika' OR subject_kind = 'efa'),
    subject      TEXT NOT NULL,
    scope_kind   TEXT NOT NULL CHECK (scope_kind = 'ars' OR scope_kind = 'ressort'),
    scope        TEXT NOT NULL,    -- ressort_id as text, or 12-digit ARS
    effective_on TEXT NOT NULL,    -- date the status took effect
    event_id     INTEGER NOT NULL, -- unique and growing: decides same-day events
    status       TEXT NOT NULL CHECK (
                     status = 'nicht_begonnen' OR status = 'geplant' OR status = 'beauftragt'
                  OR status = 'in_umsetzung' OR status = 'pilot' OR status = 'produktiv'
                  OR status = 'eingestellt' OR status = 'abgelehnt'),
    note         TEXT,
    -- status_batches.batch_id; checked by trigger status_events_id for other
    -- writers instead of a foreign key.
    batch_id     INTEGER NOT NULL,
    PRIMARY KEY (subject_kind, subject, scope_kind, scope, effective_on, event_id)
) STRICT, WITHOUT ROWID;

INSERT INTO status_events_0007 (subject_kind, subject, scope_kind, scope, effective_on,
                                event_id, status, note, batch_id)
SELECT subject_kind, subject, scope_kind, scope, effective_on, event_id, status, note, batch_id
FROM status_events
ORDER BY subject_kind, subject, scope_kind, scope, effective_on, event_id;

DROP TABLE status_events;
ALTER TABLE status_events_0007 RENAME TO status_events;

PRAGMA legacy_alter_table = OFF;

-- The triggers of 0006, unchanged.

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

CREATE INDEX status_current_ressort
    ON status_current (subject_kind, subject, scope, status, effective_on)
    WHERE scope_kind = 'ressort';
