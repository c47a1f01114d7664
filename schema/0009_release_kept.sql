-- 0009: a release counts the keys it kept. A rejected record whose key is valid
-- (the key is still published, only its new data is bad) leaves the key's current
-- version current instead of retiring it; `kept` counts those keys so that
-- `releases` and `v_releases` show them next to added/changed/retired. Earlier
-- releases kept nothing (they retired such keys), so 0 is their true value.
ALTER TABLE releases ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;

DROP VIEW v_releases;
CREATE VIEW v_releases AS
SELECT release_id, source, fetched_at, sha256, added, changed, retired, unchanged,
       rejected, status, kept
FROM releases;
