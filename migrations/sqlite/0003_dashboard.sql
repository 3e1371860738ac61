-- The dashboard: roll-ups maintained at ingest (hourly and daily buckets, UTC), per-session
-- error flags, device labels on error occurrences, label dictionaries, notification
-- preferences. Empty labels are stored as '' in roll-up keys so that they stay unique.

CREATE INDEX events_project_name_time ON events (project_id, name, timestamp);
-- A session's timeline reads its events and errors in time order.
DROP INDEX events_project_session;
CREATE INDEX events_project_session_time ON events (project_id, session_id, timestamp);
DROP INDEX error_occurrences_project_session;
CREATE INDEX error_occurrences_project_session_time ON error_occurrences (project_id, session_id, timestamp);

ALTER TABLE sessions ADD COLUMN has_error INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET has_error = 1 WHERE EXISTS (
    SELECT 1 FROM error_occurrences o
    WHERE o.project_id = sessions.project_id AND o.session_id = sessions.session_id);

ALTER TABLE error_occurrences ADD COLUMN device_browser TEXT;
ALTER TABLE error_occurrences ADD COLUMN device_os TEXT;

ALTER TABLE users ADD COLUMN notification_prefs TEXT;
ALTER TABLE notifications ADD COLUMN body TEXT;
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE rollup_events_hourly (
    project_id  TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    name        TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (project_id, bucket, app, environment, release, name)
) WITHOUT ROWID;
CREATE TABLE rollup_events_daily (
    project_id  TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    name        TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (project_id, bucket, app, environment, release, name)
) WITHOUT ROWID;

CREATE TABLE rollup_errors_hourly (
    group_id    TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (group_id, bucket, app, environment, release)
) WITHOUT ROWID;
CREATE TABLE rollup_errors_daily (
    group_id    TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (group_id, bucket, app, environment, release)
) WITHOUT ROWID;

-- Who was affected: one row per (group, bucket, user, labels), the user as a 64-bit key
-- of the user id (else anonymous id); counted DISTINCT on read.
CREATE TABLE rollup_error_users_hourly (
    group_id    TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    identity    INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    PRIMARY KEY (group_id, bucket, identity, app, environment, release)
) WITHOUT ROWID;
CREATE TABLE rollup_error_users_daily (
    group_id    TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    identity    INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    PRIMARY KEY (group_id, bucket, identity, app, environment, release)
) WITHOUT ROWID;

CREATE TABLE rollup_error_devices_hourly (
    group_id TEXT NOT NULL,
    bucket   INTEGER NOT NULL,
    browser  TEXT NOT NULL,
    os       TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (group_id, bucket, browser, os)
) WITHOUT ROWID;
CREATE TABLE rollup_error_devices_daily (
    group_id TEXT NOT NULL,
    bucket   INTEGER NOT NULL,
    browser  TEXT NOT NULL,
    os       TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (group_id, bucket, browser, os)
) WITHOUT ROWID;

-- Sessions by the bucket they started in; `crashed` counts those with an error.
CREATE TABLE rollup_sessions_hourly (
    project_id  TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    sessions    INTEGER NOT NULL,
    crashed     INTEGER NOT NULL,
    PRIMARY KEY (project_id, bucket, app, environment, release)
) WITHOUT ROWID;
CREATE TABLE rollup_sessions_daily (
    project_id  TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    sessions    INTEGER NOT NULL,
    crashed     INTEGER NOT NULL,
    PRIMARY KEY (project_id, bucket, app, environment, release)
) WITHOUT ROWID;

-- Web vitals as log-scale histograms (see src/domain/vitals.rs for the bins).
CREATE TABLE rollup_vitals_hourly (
    project_id  TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    metric      TEXT NOT NULL,
    rating      TEXT NOT NULL,
    bin         INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (project_id, bucket, app, environment, release, metric, rating, bin)
) WITHOUT ROWID;
CREATE TABLE rollup_vitals_daily (
    project_id  TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    metric      TEXT NOT NULL,
    rating      TEXT NOT NULL,
    bin         INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (project_id, bucket, app, environment, release, metric, rating, bin)
) WITHOUT ROWID;

-- Values of top-level event properties, per event name (values beyond a per-day cap
-- are counted under one "other" value).
CREATE TABLE rollup_props_hourly (
    project_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    prop        TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    value       TEXT NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (project_id, name, prop, bucket, value, app, environment, release)
) WITHOUT ROWID;
CREATE TABLE rollup_props_daily (
    project_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    prop        TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    value       TEXT NOT NULL,
    app         TEXT NOT NULL,
    environment TEXT NOT NULL,
    release     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (project_id, name, prop, bucket, value, app, environment, release)
) WITHOUT ROWID;

-- Labels ever seen per project, for the filter pickers: kind is app, environment,
-- release or event (an event name); and property names per event name.
CREATE TABLE project_labels (
    project_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, value)
) WITHOUT ROWID;
CREATE TABLE event_property_keys (
    project_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    prop       TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (project_id, name, prop)
) WITHOUT ROWID;

-- Counts of what is already stored.
INSERT INTO rollup_events_hourly
SELECT project_id, timestamp - timestamp % 3600000, app, COALESCE(environment, ''),
       COALESCE(release, ''), name, COUNT(*)
FROM events GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO rollup_events_daily
SELECT project_id, timestamp - timestamp % 86400000, app, COALESCE(environment, ''),
       COALESCE(release, ''), name, COUNT(*)
FROM events GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO rollup_errors_hourly
SELECT group_id, timestamp - timestamp % 3600000, app, COALESCE(environment, ''),
       COALESCE(release, ''), COUNT(*)
FROM error_occurrences GROUP BY 1, 2, 3, 4, 5;
INSERT INTO rollup_errors_daily
SELECT group_id, timestamp - timestamp % 86400000, app, COALESCE(environment, ''),
       COALESCE(release, ''), COUNT(*)
FROM error_occurrences GROUP BY 1, 2, 3, 4, 5;
UPDATE error_occurrences SET
    device_browser = (SELECT s.device_browser FROM sessions s
                      WHERE s.project_id = error_occurrences.project_id AND s.session_id = error_occurrences.session_id),
    device_os = (SELECT s.device_os FROM sessions s
                 WHERE s.project_id = error_occurrences.project_id AND s.session_id = error_occurrences.session_id)
WHERE session_id IS NOT NULL;
INSERT INTO rollup_error_devices_hourly
SELECT group_id, timestamp - timestamp % 3600000, COALESCE(device_browser, ''), COALESCE(device_os, ''), COUNT(*)
FROM error_occurrences GROUP BY 1, 2, 3, 4;
INSERT INTO rollup_error_devices_daily
SELECT group_id, timestamp - timestamp % 86400000, COALESCE(device_browser, ''), COALESCE(device_os, ''), COUNT(*)
FROM error_occurrences GROUP BY 1, 2, 3, 4;
INSERT INTO rollup_sessions_hourly
SELECT project_id, started_at - started_at % 3600000, app, COALESCE(environment, ''),
       COALESCE(release, ''), COUNT(*), SUM(has_error)
FROM sessions GROUP BY 1, 2, 3, 4, 5;
INSERT INTO rollup_sessions_daily
SELECT project_id, started_at - started_at % 86400000, app, COALESCE(environment, ''),
       COALESCE(release, ''), COUNT(*), SUM(has_error)
FROM sessions GROUP BY 1, 2, 3, 4, 5;
INSERT INTO project_labels SELECT project_id, 'app', app, MIN(timestamp) FROM events GROUP BY 1, 3;
INSERT INTO project_labels SELECT project_id, 'environment', environment, MIN(timestamp) FROM events
WHERE environment IS NOT NULL GROUP BY 1, 3;
INSERT INTO project_labels SELECT project_id, 'release', release, MIN(timestamp) FROM events
WHERE release IS NOT NULL GROUP BY 1, 3;
INSERT INTO project_labels SELECT project_id, 'event', name, MIN(timestamp) FROM events GROUP BY 1, 3;
INSERT INTO project_labels SELECT project_id, 'app', app, MIN(timestamp) FROM error_occurrences GROUP BY 1, 3
ON CONFLICT DO NOTHING;
INSERT INTO project_labels SELECT project_id, 'environment', environment, MIN(timestamp) FROM error_occurrences
WHERE environment IS NOT NULL GROUP BY 1, 3 ON CONFLICT DO NOTHING;
INSERT INTO project_labels SELECT project_id, 'release', release, MIN(timestamp) FROM error_occurrences
WHERE release IS NOT NULL GROUP BY 1, 3 ON CONFLICT DO NOTHING;
INSERT INTO project_labels SELECT project_id, 'app', app, MIN(started_at) FROM sessions WHERE app <> ''
GROUP BY 1, 3 ON CONFLICT DO NOTHING;
INSERT INTO project_labels SELECT project_id, 'environment', environment, MIN(started_at) FROM sessions
WHERE environment IS NOT NULL GROUP BY 1, 3 ON CONFLICT DO NOTHING;
INSERT INTO project_labels SELECT project_id, 'release', release, MIN(started_at) FROM sessions
WHERE release IS NOT NULL GROUP BY 1, 3 ON CONFLICT DO NOTHING;
