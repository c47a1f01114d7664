-- 0010: which GV100AD type-60 records are Gemeinden, said once, and the Land of
-- every municipality row, so that a national directory can be kept whole while
-- exports and coverage counts are scoped to one Land.
--
-- * `gemeinde_textkennzeichen` is the one place in SQL that lists the
--   Textkennzeichen of Gemeinden proper: 60 Markt, 61 kreisfreie Stadt,
--   62 Stadtkreis, 63 Stadt, 64 kreisangehörige Gemeinde and 67 große Kreisstadt
--   (Destatis, Datensatzbeschreibung GV100AD 2018 and 2021, record type 60). 65 and
--   66 are gemeindefreie Gebiete. Its Rust twin is `model::GEMEINDE_TEXTKENNZEICHEN`;
--   a unit test in `store` keeps the two equal. Views join it instead of repeating
--   the codes.
-- * `v_municipalities` gains `land` (the first two digits of the ARS) and
--   `is_gemeinde` (1 for a Gemeinde proper, 0 otherwise), at the end so that
--   existing column positions stay.
-- * `v_municipality_coverage` counted every type-60 record, gemeindefreie Gebiete
--   included, of every Land. It now counts Gemeinden proper only and carries `land`;
--   it stays national (a coordinator filters `WHERE land = '03'`), as the exports
--   are scoped by the `land` setting instead.

CREATE TABLE gemeinde_textkennzeichen (
    textkennzeichen TEXT PRIMARY KEY,
    bezeichnung     TEXT NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO gemeinde_textkennzeichen (textkennzeichen, bezeichnung) VALUES
    ('60', 'Markt'),
    ('61', 'kreisfreie Stadt'),
    ('62', 'Stadtkreis'),
    ('63', 'Stadt'),
    ('64', 'kreisangehörige Gemeinde'),
    ('67', 'große Kreisstadt');

DROP VIEW v_municipalities;
CREATE VIEW v_municipalities AS
SELECT
    json_extract(v.data, '$.ars')             AS ars,
    json_extract(v.data, '$.ags')             AS ags,
    json_extract(v.data, '$.name')            AS name,
    json_extract(v.data, '$.level')           AS level,
    json_extract(v.data, '$.textkennzeichen') AS textkennzeichen,
    json_extract(v.data, '$.kreis_ars')       AS kreis_ars,
    json_extract(v.data, '$.verband_ars')     AS verband_ars,
    json_extract(v.data, '$.gebietsstand')    AS gebietsstand,
    v.valid_to IS NOT NULL                    AS retired,
    substr(json_extract(v.data, '$.ars'), 1, 2) AS land,
    (json_extract(v.data, '$.level') = 'gemeinde'
     AND json_extract(v.data, '$.textkennzeichen') IN
         (SELECT textkennzeichen FROM gemeinde_textkennzeichen)) AS is_gemeinde
FROM record_versions v
WHERE v.entity = 'municipality'
  AND v.valid_from = (SELECT max(l.valid_from) FROM record_versions l
                       WHERE l.entity = v.entity AND l.key = v.key);

-- Per current Gemeinde proper (see above) of every Land: the relevant LeiKa
-- services are those annotated as executed by municipalities (vollzug kommune or
-- beide) plus those with a status reported for this ARS; produktiv counts relevant
-- services whose current status for this ARS is produktiv; share = produktiv/relevant.
-- Read from the tally: cells of non-municipal services are the "plus" part.
DROP VIEW v_municipality_coverage;
CREATE VIEW v_municipality_coverage AS
WITH kommunal AS (
    SELECT count(*) AS n FROM annotations WHERE vollzug IN ('kommune', 'beide')
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
