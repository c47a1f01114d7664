-- 0020: `status_current_rows.cell` refused when it does not pack the row's own columns.

-- `cell` (0019) packs each current cell's date, status and previous event,
-- `((effective_on * 16 + status) << 31) | coalesce(prev_event, 0)`, and the
-- dashboards and the XLSX report read only `cell`. ozgsync's writers keep it, but a
-- write to the table by another program (Datasette, `sqlite3` by hand) that set
-- `status` alone made the exports show the old status while `v_status_current`
-- showed the new one, silently (RELIABILITY.md, fifteenth and sixteenth rounds).
-- The CHECK below refuses such a write, naming what to do; the supported way to
-- record a status by SQL is an INSERT into the view `status_events`, whose trigger
-- keeps every derived table.
--
-- Chosen by the numbers (BENCHMARKS.md, "Status import", session 18): `cell` as a generated
-- column (VIRTUAL, or STORED) would keep itself in step, but SQLite counts every
-- column of the table as read when a query names a generated one, so the
-- dashboards' Gemeinde read would no longer be covered by `status_current_by_scope`
-- and would look each index row up in the table; a trigger refusing the write
-- costs about nine times this CHECK a row on ozgsync's own bulk writes.
--
-- A CHECK needs the table rebuilt (same columns, rows and index). `cell` is written
-- from the row's columns here, so a row another program changed before this
-- migration gets the `cell` its `status` says, as `v_status_current` showed it. The
-- views and the `status_events` trigger name the table; SQLite's legacy rename
-- leaves them pointing at the rebuilt one by name (as 0014).
-- The index goes first, so the copy reuses its pages: the file grows by the
-- table's size less the index's, not by both (rebuilt the other way round, a
-- database of 2.8 M current cells grew from 259 to 357 MB).
DROP INDEX status_current_by_scope;
PRAGMA legacy_alter_table = ON;
CREATE TABLE status_current_rows_0020 (
    subject_id   INTEGER NOT NULL,
    scope_id     INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    effective_on INTEGER NOT NULL,
    event_id     INTEGER NOT NULL,
    prev_event   INTEGER,
    cell         INTEGER,
    PRIMARY KEY (subject_id, scope_id),
    CONSTRAINT "cell must be ((effective_on * 16 + status) << 31) | coalesce(prev_event, 0); record a status by an INSERT into the view status_events, which keeps cell"
        CHECK (cell IS (((effective_on * 16 + status) << 31) | coalesce(prev_event, 0)))
) STRICT, WITHOUT ROWID;
INSERT INTO status_current_rows_0020 (subject_id, scope_id, status, effective_on, event_id,
                                      prev_event, cell)
SELECT subject_id, scope_id, status, effective_on, event_id, prev_event,
       ((effective_on * 16 + status) << 31) | coalesce(prev_event, 0)
FROM status_current_rows
ORDER BY subject_id, scope_id;
DROP TABLE status_current_rows;
ALTER TABLE status_current_rows_0020 RENAME TO status_current_rows;
PRAGMA legacy_alter_table = OFF;

-- 0019's scope-first index, as it was: the dashboards read each Gemeinde's cells
-- from it alone (subject, `cell`, event id), the table not visited.
CREATE INDEX status_current_by_scope
    ON status_current_rows (scope_id, subject_id, cell, event_id)
    WHERE scope_id > 0;
