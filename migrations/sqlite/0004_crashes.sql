-- Crashed versus errored: a session *errored* when any error occurred in it and
-- *crashed* when an unhandled one did (the SDKs' global handlers mark those in
-- `context.source`). `has_error` and the roll-ups' old `crashed` column meant
-- "errored"; the roll-up column is renamed to say so and `crashed` starts again
-- with its new meaning, backfilled from the rows still kept.

ALTER TABLE error_occurrences ADD COLUMN unhandled INTEGER NOT NULL DEFAULT 0;
UPDATE error_occurrences SET unhandled = 1
WHERE context IS NOT NULL AND json_valid(context)
  AND json_extract(context, '$.source') IN
      ('window.onerror', 'unhandledrejection', 'unhandledRejection', 'uncaughtException');

ALTER TABLE sessions ADD COLUMN has_crash INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET has_crash = 1 WHERE EXISTS (
    SELECT 1 FROM error_occurrences o
    WHERE o.project_id = sessions.project_id AND o.session_id = sessions.session_id
      AND o.unhandled = 1);

ALTER TABLE rollup_sessions_hourly RENAME COLUMN crashed TO errored;
ALTER TABLE rollup_sessions_hourly ADD COLUMN crashed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_sessions_daily RENAME COLUMN crashed TO errored;
ALTER TABLE rollup_sessions_daily ADD COLUMN crashed INTEGER NOT NULL DEFAULT 0;
UPDATE rollup_sessions_hourly SET crashed = (
    SELECT COUNT(*) FROM sessions s
    WHERE s.has_crash = 1 AND s.project_id = rollup_sessions_hourly.project_id
      AND s.started_at >= rollup_sessions_hourly.bucket
      AND s.started_at < rollup_sessions_hourly.bucket + 3600000
      AND s.app = rollup_sessions_hourly.app
      AND COALESCE(s.environment, '') = rollup_sessions_hourly.environment
      AND COALESCE(s.release, '') = rollup_sessions_hourly.release)
WHERE errored > 0;
UPDATE rollup_sessions_daily SET crashed = (
    SELECT COUNT(*) FROM sessions s
    WHERE s.has_crash = 1 AND s.project_id = rollup_sessions_daily.project_id
      AND s.started_at >= rollup_sessions_daily.bucket
      AND s.started_at < rollup_sessions_daily.bucket + 86400000
      AND s.app = rollup_sessions_daily.app
      AND COALESCE(s.environment, '') = rollup_sessions_daily.environment
      AND COALESCE(s.release, '') = rollup_sessions_daily.release)
WHERE errored > 0;
