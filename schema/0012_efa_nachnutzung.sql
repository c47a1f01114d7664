-- 0012: EfA-Nachnutzung in Lower Saxony (Handlungsplan B.1.3.3): per EfA service
-- the evaluation for reuse (Bewertung), the parametrisation to Lower Saxony's law,
-- and how the service is made available to the Kommunen (Kanal, Bereitgestellt ab,
-- Kosten Land, Kontakt). The introduction in the Land's administration is not
-- stored here: it is the Ressort status of the EfA service (status_events).
--
-- Append-only like status_events: every import that changes a service's state
-- adds a full version, so the state as recorded at any time can be read back
-- (v_efa_nachnutzung_history); triggers refuse UPDATE and DELETE. Field changes
-- are also written to efa_nachnutzung_audit (who, when, old → new), as for the
-- annotations. The rules between fields are checked by `crate::efa_nachnutzung`
-- with line and column; the CHECKs below are the last guard.
CREATE TABLE efa_nachnutzung_versions (
    version_id        INTEGER PRIMARY KEY,  -- grows: decides which version is current
    efa_id            TEXT NOT NULL,
    bewertung         TEXT CHECK (bewertung = 'offen' OR bewertung = 'geeignet'
                          OR bewertung = 'geeignet_mit_anpassung' OR bewertung = 'nicht_geeignet'),
    bewertungsgrund   TEXT,
    bewertet_am       TEXT,                 -- date
    ressort_id        INTEGER REFERENCES ressorts(ressort_id),  -- the evaluating Ressort
    parametrisierung  TEXT CHECK (parametrisierung = 'nicht_noetig' OR parametrisierung = 'offen'
                          OR parametrisierung = 'in_arbeit' OR parametrisierung = 'erledigt'),
    parametrisiert_am TEXT,                 -- date
    kanal             TEXT CHECK (kanal = 'govconnect' OR kanal = 'govdigital'
                          OR kanal = 'land' OR kanal = 'keiner'),
    bereitgestellt_ab TEXT,                 -- date
    kosten_land       TEXT CHECK (kosten_land = 'ja' OR kosten_land = 'nein'
                          OR kosten_land = 'anteilig'),
    kontakt           TEXT,                 -- a role mailbox
    bemerkung         TEXT,
    recorded_at       TEXT NOT NULL,        -- UTC RFC 3339
    recorded_by       TEXT NOT NULL,
    origin            TEXT NOT NULL,        -- file name
    CHECK (bewertung IS NOT 'nicht_geeignet' OR bewertungsgrund IS NOT NULL),
    CHECK (kanal IS NULL OR kanal = 'keiner' OR bereitgestellt_ab IS NOT NULL)
) STRICT;
-- The current version of a service is its newest: (efa_id, version_id DESC).
CREATE INDEX efa_nachnutzung_versions_key ON efa_nachnutzung_versions(efa_id, version_id);

CREATE TRIGGER efa_nachnutzung_versions_no_update BEFORE UPDATE ON efa_nachnutzung_versions
BEGIN SELECT RAISE(ABORT, 'EfA-Nachnutzung versions are append-only'); END;
CREATE TRIGGER efa_nachnutzung_versions_no_delete BEFORE DELETE ON efa_nachnutzung_versions
BEGIN SELECT RAISE(ABORT, 'EfA-Nachnutzung versions are append-only'); END;

-- Every changed field: who, when, old → new, from which file.
CREATE TABLE efa_nachnutzung_audit (
    audit_id   INTEGER PRIMARY KEY,
    efa_id     TEXT NOT NULL,
    field      TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    origin     TEXT NOT NULL
) STRICT;
-- `efa-nachnutzung show EFA-ID` reads one service's audit trail.
CREATE INDEX efa_nachnutzung_audit_key ON efa_nachnutzung_audit(efa_id, audit_id);

CREATE TRIGGER efa_nachnutzung_audit_no_update BEFORE UPDATE ON efa_nachnutzung_audit
BEGIN SELECT RAISE(ABORT, 'the EfA-Nachnutzung audit trail is append-only'); END;
CREATE TRIGGER efa_nachnutzung_audit_no_delete BEFORE DELETE ON efa_nachnutzung_audit
BEGIN SELECT RAISE(ABORT, 'the EfA-Nachnutzung audit trail is append-only'); END;

-- Every version with the interval it was the recorded state: [recorded_at,
-- valid_until). The state as recorded at T: recorded_at <= T AND (valid_until IS
-- NULL OR valid_until > T).
CREATE VIEW v_efa_nachnutzung_history AS
SELECT n.version_id, n.efa_id, n.bewertung, n.bewertungsgrund, n.bewertet_am,
       (SELECT r.kuerzel FROM ressort_names r
         WHERE r.ressort_id = n.ressort_id AND r.valid_to IS NULL) AS ressort,
       n.parametrisierung, n.parametrisiert_am, n.kanal, n.bereitgestellt_ab,
       n.kosten_land, n.kontakt, n.bemerkung, n.recorded_at,
       lead(n.recorded_at) OVER svc AS valid_until,
       n.recorded_by, n.origin
FROM efa_nachnutzung_versions n
WINDOW svc AS (PARTITION BY n.efa_id ORDER BY n.version_id);

-- One row per current EfA service with its current Nachnutzung state and the
-- derived stage (README, "EfA-Nachnutzung"): the furthest of angeboten → bewertet
-- → geeignet → parametrisiert → land_produktiv → bereitgestellt →
-- kommunen_produktiv reached in order, as of today. `stufe` numbers them 1..7.
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
           EXISTS (SELECT 1 FROM status_current s
                    WHERE s.subject_kind = 'efa' AND s.subject = e.efa_id
                      AND s.scope_kind = 'ressort' AND s.status = 'produktiv') AS land_produktiv,
           (c.kanal IN ('govconnect', 'govdigital', 'land')
             AND c.bereitgestellt_ab <= date('now')) AS bereitgestellt,
           -- municipalities where the EfA service or one of its LeiKa keys is live
           (SELECT count(DISTINCT s.scope) FROM status_current s
             WHERE s.scope_kind = 'ars' AND s.status = 'produktiv'
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

-- How many current EfA services reached each stage (a service counts at its stage
-- and every stage before it), in funnel order.
CREATE VIEW v_efa_funnel AS
WITH stages (stufe, stage, label) AS (VALUES
    (1, 'angeboten', 'angeboten'),
    (2, 'bewertet', 'bewertet'),
    (3, 'geeignet', 'geeignet'),
    (4, 'parametrisiert', 'parametrisiert'),
    (5, 'land_produktiv', 'in der Landesverwaltung produktiv'),
    (6, 'bereitgestellt', 'für Kommunen bereitgestellt'),
    (7, 'kommunen_produktiv', 'in Kommunen produktiv'))
SELECT s.stufe, s.stage, s.label,
       (SELECT count(*) FROM v_efa_nachnutzung n WHERE n.stufe >= s.stufe) AS services
FROM stages s ORDER BY s.stufe;
