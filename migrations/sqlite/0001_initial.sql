-- Portable schema: text ids (UUIDv7), Unix-millisecond integer timestamps, JSON as text.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    theme         TEXT NOT NULL DEFAULT 'system',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    plan       TEXT NOT NULL DEFAULT 'SELF_HOSTED',
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE UNIQUE INDEX organizations_name_live ON organizations (name) WHERE deleted_at IS NULL;

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('OWNER', 'EDITOR', 'VIEWER')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE UNIQUE INDEX projects_org_slug ON projects (org_id, slug);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    public_id    TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    label        TEXT,
    allowed_app  TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    deleted_at   INTEGER
);
CREATE INDEX api_keys_project ON api_keys (project_id);

CREATE TABLE personal_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX personal_tokens_user ON personal_tokens (user_id);

CREATE TABLE user_sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('OWNER', 'EDITOR', 'VIEWER')),
    token_hash  TEXT NOT NULL UNIQUE,
    invited_by  TEXT REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX invites_org ON invites (org_id);

CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id),
    actor_id   TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    details    TEXT,
    ip         TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_log_org_time ON audit_log (org_id, created_at);

CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL,
    app          TEXT NOT NULL,
    name         TEXT NOT NULL,
    platform     TEXT,
    environment  TEXT,
    release      TEXT,
    user_id      TEXT,
    session_id   TEXT,
    anonymous_id TEXT,
    sdk_version  TEXT,
    properties   TEXT,
    timestamp    INTEGER NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX events_project_time ON events (project_id, timestamp);
CREATE INDEX events_project_session ON events (project_id, session_id);

CREATE TABLE error_groups (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    fingerprint       TEXT NOT NULL,
    app               TEXT NOT NULL,
    error_type        TEXT,
    message           TEXT NOT NULL,
    top_frame         TEXT,
    status            TEXT NOT NULL DEFAULT 'unresolved' CHECK (status IN ('unresolved', 'resolved', 'ignored')),
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    occurrences       INTEGER NOT NULL DEFAULT 0,
    last_environment  TEXT,
    last_release      TEXT,
    last_platform     TEXT,
    resolved_at       INTEGER,
    regressed_at      INTEGER
);
CREATE UNIQUE INDEX error_groups_fingerprint ON error_groups (project_id, fingerprint);
CREATE INDEX error_groups_project_last_seen ON error_groups (project_id, last_seen);

CREATE TABLE error_occurrences (
    id           TEXT PRIMARY KEY,
    group_id     TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    app          TEXT NOT NULL,
    message      TEXT NOT NULL,
    stack        TEXT,
    context      TEXT,
    platform     TEXT,
    environment  TEXT,
    release      TEXT,
    session_id   TEXT,
    user_id      TEXT,
    anonymous_id TEXT,
    sdk_version  TEXT,
    timestamp    INTEGER NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX error_occurrences_group_time ON error_occurrences (group_id, timestamp);
CREATE INDEX error_occurrences_project_time ON error_occurrences (project_id, timestamp);
CREATE INDEX error_occurrences_project_session ON error_occurrences (project_id, session_id);

CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    app              TEXT NOT NULL,
    platform         TEXT,
    environment      TEXT,
    release          TEXT,
    user_id          TEXT,
    user_email       TEXT,
    anonymous_id     TEXT,
    country          TEXT,
    device_browser   TEXT,
    device_os        TEXT,
    sdk_version      TEXT,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    last_activity_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX sessions_key ON sessions (project_id, session_id);
CREATE INDEX sessions_project_started ON sessions (project_id, started_at);
CREATE INDEX sessions_open ON sessions (last_activity_at) WHERE ended_at IS NULL;

CREATE TABLE project_apps (
    project_id TEXT NOT NULL,
    app        TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (project_id, app)
);

CREATE TABLE usage_monthly (
    project_id TEXT NOT NULL,
    month      TEXT NOT NULL,
    units      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, month)
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    project_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    target     TEXT,
    created_at INTEGER NOT NULL,
    read_at    INTEGER
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);

CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    rows_deleted INTEGER NOT NULL DEFAULT 0,
    dry_run      INTEGER NOT NULL DEFAULT 0,
    details      TEXT
);
CREATE INDEX job_runs_job_time ON job_runs (job, started_at);
