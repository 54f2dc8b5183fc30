-- Migration 14: signed webhook delivery. Endpoints (their signing secrets sealed by a key the
-- operator holds, never stored in the clear), one delivery per event and endpoint (a redelivery
-- adds another), every attempt, and the fan-out cursor over the event outbox: the worker turns
-- events after it into deliveries and moves it in the same transaction, so an event is fanned
-- out exactly once and none is ever re-created.
CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,
    merchant_id          TEXT NOT NULL,
    mode                 TEXT NOT NULL,
    url                  TEXT NOT NULL,
    -- Comma-separated event types, or '*'.
    event_types          TEXT NOT NULL,
    secret_sealed        BLOB NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('enabled', 'disabled', 'deleted')),
    disabled_reason      TEXT,
    consecutive_failures INTEGER NOT NULL CHECK (consecutive_failures >= 0),
    -- Events with a larger outbox seq are delivered to it; older ones are not.
    after_event_seq      INTEGER NOT NULL,
    created_at_ms        INTEGER NOT NULL,
    updated_at_ms        INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_scope ON webhook_endpoints (merchant_id, mode, status);

CREATE TABLE webhook_deliveries (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    endpoint_id         TEXT NOT NULL REFERENCES webhook_endpoints (id),
    merchant_id         TEXT NOT NULL,
    mode                TEXT NOT NULL,
    event_id            TEXT NOT NULL REFERENCES events (id),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts            INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at_ms  INTEGER,
    last_status_code    INTEGER,
    last_error          TEXT,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX webhook_deliveries_by_scope ON webhook_deliveries (merchant_id, mode, seq);

CREATE TABLE webhook_delivery_attempts (
    delivery_id      TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt          INTEGER NOT NULL,
    started_at_ms    INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status_code      INTEGER,
    error            TEXT,
    response_excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE webhook_fanout_cursor (
    singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_event_seq INTEGER NOT NULL
);
INSERT INTO webhook_fanout_cursor (singleton, last_event_seq) VALUES (1, (SELECT COALESCE(MAX(seq), 0) FROM events));
