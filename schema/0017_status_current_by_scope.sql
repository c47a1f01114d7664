-- 0017: the municipal current cells, scope first, for the dashboard export.

-- `status_current_rows` is keyed (subject_id, scope_id): a subject's cells lie
-- together, a Gemeinde's are spread over the whole table. The dashboards are built
-- Gemeinde by Gemeinde (Kreis by Kreis on every core), and each Gemeinde file
-- needs that Gemeinde's cells of every subject. With this index each Gemeinde's
-- cells are one contiguous range, read as its file is built, so the export no
-- longer holds the whole status matrix (16 bytes per cell, 28 M cells for all of
-- Germany) nor maps the whole table. It covers every column the read needs (the
-- table is not visited) and only the municipal cells (positive scope ids; the
-- Ressort cells have `status_current_ressort`).
CREATE INDEX status_current_by_scope
    ON status_current_rows (scope_id, subject_id, status, effective_on, event_id)
    WHERE scope_id > 0;
