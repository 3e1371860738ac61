-- The versions of Telemetry Tracker that opened this database, so that an older
-- binary refusing a newer schema can say which version wrote it.

CREATE TABLE app_versions (
    version       TEXT PRIMARY KEY,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
