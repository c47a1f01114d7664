-- 0008: exports due, as durable state. Every transaction that changes what the
-- exports show (an applied release, a status batch, an annotation import, a Ressort
-- rename) appends one row to `data_changes` in that same transaction; an export
-- remembers in `exports_published` the newest change it had seen when it last
-- succeeded. An export is due while a newer change matches its `after` filter, so
-- a process killed between a release's commit and its exports, or an export that
-- failed, is run again by the next `sync` or daemon job, also when no source changed.
CREATE TABLE data_changes (
    generation  INTEGER PRIMARY KEY,
    cause       TEXT NOT NULL
                CHECK (cause = 'release' OR cause = 'status' OR cause = 'annotations'
                       OR cause = 'ressort'),
    -- the source of an applied release; NULL for the coordinators' writes, which
    -- make every export due
    source      TEXT,
    release_id  INTEGER REFERENCES releases(release_id),
    changed_at  TEXT NOT NULL,
    CHECK ((cause = 'release') = (source IS NOT NULL))
) STRICT;

CREATE TABLE exports_published (
    -- the `name` of an [[export]] in the config
    export        TEXT PRIMARY KEY,
    -- data_changes.generation newest when the last successful run started
    generation    INTEGER NOT NULL,
    published_at  TEXT NOT NULL
) STRICT;
