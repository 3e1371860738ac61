-- Optional Stripe billing: each organization's customer and subscription as the
-- last applied Stripe events left them, and the ids of the events processed (a
-- replayed event changes nothing; one that arrived before its organization was
-- known waits for it).

CREATE TABLE org_billing (
    org_id               TEXT PRIMARY KEY,
    customer_id          TEXT UNIQUE,
    subscription_id      TEXT,
    subscription_status  TEXT,
    price_id             TEXT,
    current_period_end   INTEGER,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    -- created time (seconds) and order of the subscription event applied last:
    -- an older one arriving later changes nothing.
    subscription_event_at   INTEGER,
    subscription_event_rank INTEGER,
    -- set by invoice.payment_failed, cleared by invoice.paid
    past_due_since       INTEGER,
    invoice_event_at     INTEGER,
    invoice_event_rank   INTEGER,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    created     INTEGER NOT NULL,
    org_id      TEXT,
    outcome     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    -- An event no organization was linked to yet waits here, whole, until checkout
    -- links its customer or subscription (outcome 'no organization').
    customer_id     TEXT,
    subscription_id TEXT,
    payload         TEXT
);
CREATE INDEX stripe_events_waiting ON stripe_events (outcome);
