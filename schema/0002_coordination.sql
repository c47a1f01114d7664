-- 0002: the coordinators' own data: ministries (Ressorts) as data, Lower Saxony's
-- annotations per LeiKa key with an audit trail, and Onlinedienst status events.
-- EfA services, OZG-Leistungen and observed availability are versioned records in
-- record_versions (entities 'efa_service', 'ozg_leistung', 'availability').

-- A Ressort keeps its id across renames and re-cuts; names are dated.
CREATE TABLE ressorts (
    ressort_id   INTEGER PRIMARY KEY,
    dissolved_on TEXT              -- date (YYYY-MM-DD) the Ressort ceased to exist
) STRICT;

CREATE TABLE ressort_names (
    ressort_id INTEGER NOT NULL REFERENCES ressorts(ressort_id),
    kuerzel    TEXT NOT NULL,      -- MI, MF, ...
    name       TEXT NOT NULL,
    valid_from TEXT NOT NULL,      -- date
    valid_to   TEXT,               -- date of the next name, NULL while current
    PRIMARY KEY (ressort_id, valid_from)
) STRICT, WITHOUT ROWID;
-- Ressorts are looked up by their current Kürzel in every annotation and status import.
CREATE UNIQUE INDEX ressort_names_current ON ressort_names(kuerzel) WHERE valid_to IS NULL;

-- Lower Saxony's ministries as of the cabinet of 8 November 2022 (DOMAIN.md).
INSERT INTO ressorts (ressort_id) VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10),(11);
INSERT INTO ressort_names (ressort_id, kuerzel, name, valid_from) VALUES
    (1,  'StK', 'Staatskanzlei', '2022-11-08'),
    (2,  'MI',  'Ministerium für Inneres und Sport', '2022-11-08'),
    (3,  'MF',  'Finanzministerium', '2022-11-08'),
    (4,  'MS',  'Ministerium für Soziales, Arbeit, Gesundheit und Gleichstellung', '2022-11-08'),
    (5,  'MK',  'Kultusministerium', '2022-11-08'),
    (6,  'MW',  'Ministerium für Wirtschaft, Verkehr, Bauen und Digitalisierung', '2022-11-08'),
    (7,  'MWK', 'Ministerium für Wissenschaft und Kultur', '2022-11-08'),
    (8,  'ML',  'Ministerium für Ernährung, Landwirtschaft und Verbraucherschutz', '2022-11-08'),
    (9,  'MJ',  'Justizministerium', '2022-11-08'),
    (10, 'MU',  'Ministerium für Umwelt, Energie und Klimaschutz', '2022-11-08'),
    (11, 'MB',  'Ministerium für Bundes- und Europaangelegenheiten und Regionale Entwicklung', '2022-11-08');

-- Lower Saxony's information per LeiKa key. Not versioned by release: the history
-- is annotation_audit. Kept when the key is retired (then listed as orphaned).
CREATE TABLE annotations (
    leistungsschluessel   TEXT PRIMARY KEY CHECK (length(leistungsschluessel) = 14),
    ressort_id            INTEGER REFERENCES ressorts(ressort_id),
    vollzug               TEXT CHECK (vollzug IN ('land', 'kommune', 'beide')),
    umsetzungsweg         TEXT CHECK (umsetzungsweg IN
                              ('efa', 'wfu_navo', 'eigenloesung', 'keine', 'depriorisiert')),
    efa_id                TEXT,    -- the EfA service, when umsetzungsweg = 'efa'
    depriorisierung_grund TEXT,    -- required when umsetzungsweg = 'depriorisiert'
    prioritaet            INTEGER CHECK (prioritaet BETWEEN 1 AND 3),
    zieldatum             TEXT,    -- date
    bemerkung             TEXT,
    updated_at            TEXT NOT NULL,
    updated_by            TEXT NOT NULL,
    CHECK (umsetzungsweg IS NOT 'depriorisiert' OR depriorisierung_grund IS NOT NULL),
    CHECK (umsetzungsweg IS NOT 'efa' OR efa_id IS NOT NULL)
) STRICT;

-- Every change of an annotation field: who, when, old → new.
CREATE TABLE annotation_audit (
    audit_id            INTEGER PRIMARY KEY,
    leistungsschluessel TEXT NOT NULL,
    field               TEXT NOT NULL,
    old_value           TEXT,
    new_value           TEXT,
    changed_by          TEXT NOT NULL,
    changed_at          TEXT NOT NULL,
    origin              TEXT NOT NULL    -- file name or command
) STRICT;
-- `annotations show KEY` reads one key's audit trail.
CREATE INDEX annotation_audit_key ON annotation_audit(leistungsschluessel, audit_id);

-- Onlinedienst status, append-only. The subject is a LeiKa key or an EfA service;
-- the scope a Ressort (Land services) or a municipality's ARS (municipal services).
CREATE TABLE status_events (
    event_id     INTEGER PRIMARY KEY,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('leika', 'efa')),
    subject      TEXT NOT NULL,
    scope_kind   TEXT NOT NULL CHECK (scope_kind IN ('ressort', 'ars')),
    scope        TEXT NOT NULL,    -- ressort_id as text, or 12-digit ARS
    status       TEXT NOT NULL CHECK (status IN ('nicht_begonnen', 'geplant', 'beauftragt',
                     'in_umsetzung', 'pilot', 'produktiv', 'eingestellt', 'abgelehnt')),
    effective_on TEXT NOT NULL,    -- date the status took effect
    origin       TEXT NOT NULL,    -- file name, or 'status set'
    note         TEXT,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL
) STRICT;
-- Status as of a date: the latest event per subject and scope with effective_on <= date.
CREATE INDEX status_events_asof
    ON status_events(subject_kind, subject, scope_kind, scope, effective_on, event_id);
