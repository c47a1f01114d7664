-- 0022: the views read the status of one service, or one municipality, without
-- reading the whole matrix.
--
-- Found by the reading commands' plan check (session 20, tests/it/plans.rs) and
-- timed on the bench's matrix of 939 Gemeinden x 3,000 keys (2.8 M cells):
--
-- * `v_efa_nachnutzung`'s `land_produktiv` and `kommunen_produktiv` asked the view
--   `status_current` for one subject's cells; SQLite could not push the subject
--   through its `UNION ALL` and built an automatic index over all 2.8 M rows for
--   each query: `ozgsync efa-nachnutzung show` of one service took 8.4 s. Now both
--   find the subjects by `status_subjects`' unique key and their cells by the
--   primary key of `status_current_rows` (a scope id above 0 is an ARS, below 0 a
--   Ressort; one scope id per ARS, so counting distinct ids counts distinct ARS).
-- * A coordinator's filter on a subject or a scope alone (Datasette's
--   `status_current?subject=...`) found no index: `status_subjects` and
--   `status_scopes` are keyed by (kind, value), so the kind had to be given too.
--   `status_current` by subject took 8.1 s, `v_status_current` 0.29 s; with the two
--   indexes below 1.8 and 2.7 ms.
-- * `v_status_history` computed `valid_until` with a window over every event, so
--   no filter reached the events (4.1 s for one subject). It now takes the next
--   event of the same cell by the events' primary key: 2.9 ms for one subject, and
--   1.3 s instead of 3.9 s for the whole history.
--
-- Same columns, same values (tests/it/status.rs and efa_nachnutzung.rs compare
-- them with the views of schema 0017's snapshot).
CREATE INDEX status_subjects_subject ON status_subjects (subject);
CREATE INDEX status_scopes_scope ON status_scopes (scope);

DROP VIEW v_status_history;
CREATE VIEW v_status_history AS
SELECT e.event_id, s.subject_kind, s.subject, p.scope_kind, p.scope,
       CASE WHEN p.scope_kind = 'ressort' THEN
           (SELECT n.kuerzel FROM ressort_names n
             WHERE n.ressort_id = CAST(p.scope AS INTEGER) AND n.valid_to IS NULL)
       END AS ressort,
       (SELECT k.status FROM status_codes k WHERE k.code = e.status) AS status,
       printf('%04d-%02d-%02d', e.effective_on / 10000, e.effective_on / 100 % 100,
              e.effective_on % 100) AS effective_on,
       -- the date of the cell's next event (same-day events in event order)
       (SELECT printf('%04d-%02d-%02d', x.effective_on / 10000,
                      x.effective_on / 100 % 100, x.effective_on % 100)
          FROM status_event_rows x
         WHERE x.subject_id = e.subject_id AND x.scope_id = e.scope_id
           AND x.effective_on >= e.effective_on
           AND (x.effective_on, x.event_id) > (e.effective_on, e.event_id)
         ORDER BY x.effective_on, x.event_id LIMIT 1) AS valid_until,
       e.note, b.origin, b.recorded_at, b.recorded_by
FROM status_event_rows e
JOIN status_subjects s ON s.subject_id = e.subject_id
JOIN status_scopes p ON p.scope_id = e.scope_id
JOIN status_batches b ON b.batch_id = e.batch_id;

DROP VIEW v_efa_nachnutzung;
CREATE VIEW v_efa_nachnutzung AS
WITH cur AS (
    SELECT n.* FROM efa_nachnutzung_versions n
     WHERE n.version_id = (SELECT max(m.version_id) FROM efa_nachnutzung_versions m
                            WHERE m.efa_id = n.efa_id)
), svc AS (
    SELECT e.efa_id, e.name, e.themenfeld, e.kostenmodell, e.url,
           c.bewertung, c.bewertungsgrund, c.bewertet_am,
           (SELECT r.kuerzel FROM ressort_names r
             WHERE r.ressort_id = c.ressort_id AND r.valid_to IS NULL) AS ressort,
           c.parametrisierung, c.parametrisiert_am, c.kanal, c.bereitgestellt_ab,
           c.kosten_land, c.kontakt, c.bemerkung, c.recorded_at, c.recorded_by,
           (c.bewertung IS NOT NULL AND c.bewertung <> 'offen') AS bewertet,
           (c.bewertung = 'geeignet' OR c.bewertung = 'geeignet_mit_anpassung') AS geeignet,
           (c.parametrisierung = 'nicht_noetig' OR c.parametrisierung = 'erledigt') AS parametrisiert,
           EXISTS (SELECT 1 FROM status_subjects s
                     JOIN status_current_rows r
                       ON r.subject_id = s.subject_id AND r.scope_id < 0
                    WHERE s.subject_kind = 'efa' AND s.subject = e.efa_id
                      AND r.status = (SELECT k.code FROM status_codes k
                                       WHERE k.status = 'produktiv')) AS land_produktiv,
           (c.kanal IN ('govconnect', 'govdigital', 'land')
             AND c.bereitgestellt_ab <= date('now')) AS bereitgestellt,
           -- municipalities where the EfA service or one of its LeiKa keys is live
           (SELECT count(DISTINCT r.scope_id) FROM status_subjects s
              JOIN status_current_rows r
                ON r.subject_id = s.subject_id AND r.scope_id > 0
             WHERE r.status = (SELECT k.code FROM status_codes k
                                WHERE k.status = 'produktiv')
               AND ((s.subject_kind = 'efa' AND s.subject = e.efa_id)
                 OR (s.subject_kind = 'leika' AND s.subject IN
                       (SELECT k.leistungsschluessel FROM v_efa_leika k
                         WHERE k.efa_id = e.efa_id)))) AS kommunen_produktiv
    FROM v_efa_services e LEFT JOIN cur c ON c.efa_id = e.efa_id
    WHERE NOT e.retired
)
SELECT efa_id, name, themenfeld, kostenmodell, url, bewertung, bewertungsgrund,
       bewertet_am, ressort, parametrisierung, parametrisiert_am, kanal,
       bereitgestellt_ab, kosten_land, kontakt, bemerkung,
       CASE WHEN NOT coalesce(bewertet, 0) THEN 1
            WHEN NOT coalesce(geeignet, 0) THEN 2
            WHEN NOT coalesce(parametrisiert, 0) THEN 3
            WHEN NOT land_produktiv THEN 4
            WHEN NOT coalesce(bereitgestellt, 0) THEN 5
            WHEN kommunen_produktiv = 0 THEN 6
            ELSE 7 END AS stufe,
       CASE WHEN NOT coalesce(bewertet, 0) THEN 'angeboten'
            WHEN NOT coalesce(geeignet, 0) THEN 'bewertet'
            WHEN NOT coalesce(parametrisiert, 0) THEN 'geeignet'
            WHEN NOT land_produktiv THEN 'parametrisiert'
            WHEN NOT coalesce(bereitgestellt, 0) THEN 'land_produktiv'
            WHEN kommunen_produktiv = 0 THEN 'bereitgestellt'
            ELSE 'kommunen_produktiv' END AS stage,
       kommunen_produktiv, recorded_at AS updated_at, recorded_by AS updated_by
FROM svc;
