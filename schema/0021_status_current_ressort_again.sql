-- 0021: the Ressort cells' index, which 0020 lost.
--
-- 0020 rebuilt `status_current_rows` to add its CHECK; dropping the old table
-- dropped both of its indexes, and 0020 made only `status_current_by_scope` again.
-- Without `status_current_ressort` every read of the Land's Ressort cells (the
-- report's per-Ressort status, `status show` of a Ressort) scans the 2.8 M
-- municipal cells: the XLSX report of the bench took 0.32 s instead of 0.23 s
-- (session 18, benches/HISTORY.md). The same index as 0013 made.
CREATE INDEX IF NOT EXISTS status_current_ressort
    ON status_current_rows (subject_id, scope_id, status, effective_on)
    WHERE scope_id < 0;
