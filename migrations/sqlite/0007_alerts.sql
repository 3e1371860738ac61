-- Alerts and their delivery (docs/ALERTS.md).

-- Which alert kinds a project wants, as JSON; NULL means the defaults.
ALTER TABLE projects ADD COLUMN alert_settings TEXT;

-- The outbox: an alert is written in the transaction that decides it (the ingest
-- commit that creates or reopens a group, the statement that records a spike or a
-- quota crossing) and fanned out once, by whichever process claims it first.
-- `dedupe_key` makes spike and quota alerts once per window / organization-month.
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    dedupe_key      TEXT UNIQUE,
    kind            TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    group_id        TEXT,
    count           BIGINT,
    window_minutes  BIGINT,
    follow_up       BIGINT NOT NULL DEFAULT 0,
    month           TEXT,
    occurred_at     BIGINT NOT NULL,
    claimed_until   BIGINT,
    dispatched_at   BIGINT,
    message         TEXT
);
CREATE INDEX alerts_undispatched ON alerts (occurred_at) WHERE dispatched_at IS NULL;

-- A project's webhooks. The secret signs generic bodies, so it is kept as is
-- (like an SMTP password); the API shows it once.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    format          TEXT NOT NULL,
    kinds           TEXT NOT NULL,
    secret          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    disabled_at     BIGINT,
    disabled_reason TEXT,
    deleted_at      BIGINT
);
CREATE INDEX webhooks_project ON webhooks (project_id);

-- One alert to one webhook or one user's mailbox. Claimed for a while by the
-- process sending it (`claimed_until`, `claim`), finished by a statement that
-- checks the claim is still its own.
CREATE TABLE alert_deliveries (
    id              TEXT PRIMARY KEY,
    alert_id        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    webhook_id      TEXT,
    user_id         TEXT,
    email           TEXT,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim           TEXT,
    claimed_until   BIGINT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id);

-- Every attempt, for the delivery log.
CREATE TABLE delivery_attempts (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    webhook_id   TEXT,
    attempt      BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    http_status  BIGINT,
    latency_ms   BIGINT NOT NULL,
    error        TEXT,
    response     TEXT
);
CREATE INDEX delivery_attempts_webhook ON delivery_attempts (webhook_id, attempted_at);

-- Each group's spike: since when it spikes, when it was last reported and last
-- seen at or over its threshold.
CREATE TABLE group_spikes (
    group_id        TEXT PRIMARY KEY,
    started_at      BIGINT NOT NULL,
    last_alert_at   BIGINT NOT NULL,
    last_spiking_at BIGINT NOT NULL
);
