-- 0004: runs. One row per job execution by the daemon or `ozgsync sync`, so operators
-- can see what ran, when, why and how it ended, and the daemon can catch up a run it
-- missed while it was down. Timestamps are UTC RFC 3339 text.
CREATE TABLE runs (
    run_id      INTEGER PRIMARY KEY,
    -- a source name, or `export:<name>` for an export job
    job         TEXT NOT NULL,
    -- why it ran: the schedule fired, a missed run caught up on start, a human ran
    -- `ozgsync sync`, or a retry after a failure
    trigger     TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'manual', 'retry')),
    started     TEXT NOT NULL,
    -- NULL while running, or when the process died mid-run
    finished    TEXT,
    outcome     TEXT CHECK (outcome IN ('applied', 'unchanged', 'failed')),
    release_id  INTEGER REFERENCES releases(release_id),
    added       INTEGER NOT NULL DEFAULT 0,
    changed     INTEGER NOT NULL DEFAULT 0,
    retired     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    warnings    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    -- the process that ran it, to tell an interrupted run from a running one
    pid         INTEGER NOT NULL
) STRICT;
-- "last run and last success of each job" is asked by `status` and on daemon start.
CREATE INDEX runs_by_job ON runs(job, run_id);
