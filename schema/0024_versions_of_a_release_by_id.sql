-- 0024: a release records the range of version ids it created; the index of
-- versions by the release that created them goes.
--
-- `record_versions_from` (valid_from) served one reader, `diff`, which asks for
-- the versions a span of releases created. A first release built it after its
-- rows (a second read of the whole version table and a sort): 4.6 to 6.7 % of
-- the wall time of a first LeiKa release of 100k rows (session 22, alternated
-- runs), and every later release inserted an entry per new version. A release
-- writes its versions with increasing rowids, so the ones it created lie
-- between the least and the greatest id it was given; `diff` reads that range
-- by rowid, still keeping only the versions whose `valid_from` is in its span.
-- A release that created no version (unchanged, or only retiring) has neither.
-- Existing releases get theirs from the index before it is dropped.
ALTER TABLE releases ADD COLUMN first_version_id INTEGER;
ALTER TABLE releases ADD COLUMN last_version_id INTEGER;
UPDATE releases SET
    first_version_id = (SELECT min(version_id) FROM record_versions
                        WHERE valid_from = releases.release_id),
    last_version_id = (SELECT max(version_id) FROM record_versions
                       WHERE valid_from = releases.release_id);
DROP INDEX record_versions_from;
