-- 0003: views over the EfA and OZG catalogues (versioned records, entities
-- 'efa_service', 'ozg_leistung', 'leika_ozg'), the annotations and the Ressorts.
-- Views only: the data lives in record_versions (0001) and the tables of 0002.
-- Documented in the README ("Views"); column names are part of the query contract.

-- One row per EfA id ever seen, with its latest version; retired = not in the last
-- full EfA release. Lists are comma-joined, sorted.
CREATE VIEW v_efa_services AS
SELECT
    v.key                                          AS efa_id,
    json_extract(v.data, '$.name')                 AS name,
    (SELECT group_concat(t.value, ', ') FROM json_each(v.data, '$.ozg_ids') t) AS ozg_ids,
    (SELECT group_concat(t.value, ', ') FROM json_each(v.data, '$.leistungsschluessel') t)
                                                   AS leistungsschluessel,
    json_extract(v.data, '$.themenfeld')           AS themenfeld,
    json_extract(v.data, '$.federfuehrendes_land') AS federfuehrendes_land,
    json_extract(v.data, '$.betreiber')            AS betreiber,
    json_extract(v.data, '$.marktplatz_status')    AS marktplatz_status,
    json_extract(v.data, '$.reifegrad.modell')     AS reifegrad_modell,
    json_extract(v.data, '$.reifegrad.stufe')      AS reifegrad_stufe,
    json_extract(v.data, '$.kostenmodell')         AS kostenmodell,
    json_extract(v.data, '$.fit_connect')          AS fit_connect,  -- 1, 0 or NULL (unknown)
    json_extract(v.data, '$.url')                  AS url,
    json_extract(v.data, '$.stand')                AS stand,
    (SELECT min(f.valid_from) FROM record_versions f
      WHERE f.entity = v.entity AND f.key = v.key) AS first_release,
    v.valid_from                                   AS last_changed_release,
    v.valid_to IS NOT NULL                         AS retired
FROM record_versions v
WHERE v.entity = 'efa_service'
  AND v.valid_from = (SELECT max(l.valid_from) FROM record_versions l
                       WHERE l.entity = v.entity AND l.key = v.key);

-- Which LeiKa keys each current EfA service covers, one row per pair (for joins
-- with annotations and status).
CREATE VIEW v_efa_leika AS
SELECT v.key AS efa_id, k.value AS leistungsschluessel
FROM record_versions v, json_each(v.data, '$.leistungsschluessel') k
WHERE v.entity = 'efa_service' AND v.valid_to IS NULL;

CREATE VIEW v_ozg_leistungen AS
SELECT
    v.key                                   AS ozg_id,
    json_extract(v.data, '$.bezeichnung')   AS bezeichnung,
    json_extract(v.data, '$.lebenslage')    AS lebenslage,
    json_extract(v.data, '$.themenfeld')    AS themenfeld,
    (SELECT min(f.valid_from) FROM record_versions f
      WHERE f.entity = v.entity AND f.key = v.key) AS first_release,
    v.valid_from                            AS last_changed_release,
    v.valid_to IS NOT NULL                  AS retired
FROM record_versions v
WHERE v.entity = 'ozg_leistung'
  AND v.valid_from = (SELECT max(l.valid_from) FROM record_versions l
                       WHERE l.entity = v.entity AND l.key = v.key);

-- The many-to-many LeiKa ↔ OZG map: the union of the current map file ('ozg-map')
-- and the OZG-IDs that current service records carry (FIM API `ozg`; origin is the
-- kind of the release that wrote the version, e.g. 'fim-api'). A pair known from
-- both appears once per origin.
CREATE VIEW v_leika_ozg AS
SELECT json_extract(m.data, '$.leistungsschluessel') AS leistungsschluessel,
       json_extract(m.data, '$.ozg_id')              AS ozg_id,
       r.kind                                        AS origin
FROM record_versions m JOIN releases r ON r.release_id = m.valid_from
WHERE m.entity = 'leika_ozg' AND m.valid_to IS NULL
UNION
SELECT s.key, o.value, r.kind
FROM record_versions s JOIN releases r ON r.release_id = s.valid_from,
     json_each(s.data, '$.ozg_ids') o
WHERE s.entity = 'service' AND s.valid_to IS NULL;

-- Ressorts with their current name; `frueher` lists earlier Kürzel/names.
CREATE VIEW v_ressorts AS
SELECT
    n.ressort_id,
    n.kuerzel,
    n.name,
    n.valid_from  AS name_seit,
    r.dissolved_on,
    (SELECT group_concat(p.kuerzel || ' ' || p.name || ' (bis ' || p.valid_to || ')', '; ')
       FROM ressort_names p
      WHERE p.ressort_id = n.ressort_id AND p.valid_to IS NOT NULL) AS frueher
FROM ressort_names n JOIN ressorts r USING (ressort_id)
WHERE n.valid_to IS NULL;

-- Annotations with what they point at. The service name comes from the key's latest
-- version (also for retired keys); orphaned = the key is not current in LeiKa.
CREATE VIEW v_annotations AS
SELECT
    a.leistungsschluessel,
    (SELECT json_extract(s.data, '$.bezeichnung') FROM record_versions s
      WHERE s.entity = 'service' AND s.key = a.leistungsschluessel
      ORDER BY s.valid_from DESC LIMIT 1)          AS bezeichnung,
    n.kuerzel                                      AS ressort,
    n.name                                         AS ressort_name,
    a.vollzug,
    a.umsetzungsweg,
    a.efa_id,
    (SELECT json_extract(e.data, '$.name') FROM record_versions e
      WHERE e.entity = 'efa_service' AND e.key = a.efa_id
      ORDER BY e.valid_from DESC LIMIT 1)          AS efa_name,
    a.depriorisierung_grund,
    a.prioritaet,
    a.zieldatum,
    a.bemerkung,
    NOT EXISTS (SELECT 1 FROM record_versions c
                 WHERE c.entity = 'service' AND c.key = a.leistungsschluessel
                   AND c.valid_to IS NULL)         AS orphaned,
    a.updated_at,
    a.updated_by
FROM annotations a
LEFT JOIN ressort_names n ON n.ressort_id = a.ressort_id AND n.valid_to IS NULL;
