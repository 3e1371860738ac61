-- Instance administration: disabled accounts, when each user last signed in, and the
-- instance-level audit log of the administrators' changes (registration policy,
-- users made administrators, disabled, enabled or deleted).

ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN last_login_at INTEGER;

CREATE TABLE instance_audit_log (
    id         TEXT PRIMARY KEY,
    actor_id   TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    details    TEXT,
    ip         TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX instance_audit_log_time ON instance_audit_log (created_at);
