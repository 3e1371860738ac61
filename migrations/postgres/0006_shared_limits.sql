-- Plan limits that hold for every process on one database.
--
-- The request rate of each project, as the theoretical arrival time of its next
-- request (microseconds, GCRA): processes take tokens from it in small leases, so
-- the plan's rate and burst hold for the whole deployment. `granted` is what the
-- last lease got, returned by the statement that took it.
CREATE TABLE rate_limits (
    project_id TEXT PRIMARY KEY,
    tat        BIGINT NOT NULL,
    granted    BIGINT NOT NULL
);

-- The property values each (project, event name, property) kept in its roll-ups
-- on each UTC day, up to the daily cap; later values count as "other". Rows of
-- past days are deleted by retention.
CREATE TABLE prop_value_days (
    project_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    prop       TEXT NOT NULL,
    day        BIGINT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (project_id, name, prop, day, value)
);
CREATE INDEX prop_value_days_day ON prop_value_days (day);
