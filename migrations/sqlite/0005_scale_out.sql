-- Several processes on one database behave as one server.
--
-- Each scheduled run of a job is claimed by exactly one process: the one whose
-- insert of (job, tick) wins. The row records which instance ran it and how it
-- ended, for /metrics and for operators.
CREATE TABLE job_claims (
    job         TEXT NOT NULL,
    tick        INTEGER NOT NULL,
    instance    TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    ok          INTEGER,
    PRIMARY KEY (job, tick)
);
CREATE INDEX job_claims_job_started ON job_claims (job, started_at);

ALTER TABLE job_runs ADD COLUMN instance TEXT;

-- Bumped by every change that cached credentials depend on (a key revoked, a
-- project or organization deleted, a plan changed); each process polls it and
-- drops its caches when it moves.
CREATE TABLE cache_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO cache_generation (id, generation) VALUES (1, 0);
