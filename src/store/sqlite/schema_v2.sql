-- harepay schema, version 2: payouts with maker-checker approval, and per-key spend limits.
CREATE TABLE payouts (
    seq                         INTEGER PRIMARY KEY AUTOINCREMENT,
    id                          TEXT NOT NULL UNIQUE,
    merchant_id                 TEXT NOT NULL,
    mode                        TEXT NOT NULL,
    amount_minor                INTEGER NOT NULL CHECK (amount_minor > 0),
    asset                       TEXT NOT NULL,
    rail                        TEXT NOT NULL,
    destination_json            TEXT NOT NULL,
    description                 TEXT,
    metadata_json               TEXT NOT NULL,
    status                      TEXT NOT NULL,
    created_by_key_id           TEXT NOT NULL,
    created_by_owner            TEXT NOT NULL,
    approval_threshold_minor    INTEGER,
    approval_expires_at_ms      INTEGER,
    approval_decision           TEXT,
    approval_decided_by_key_id  TEXT,
    approval_decided_by_owner   TEXT,
    approval_decided_at_ms      INTEGER,
    approval_reason             TEXT,
    failure_reason              TEXT,
    cancellation_reason         TEXT,
    simulate_at_ms              INTEGER,
    created_at_ms               INTEGER NOT NULL,
    updated_at_ms               INTEGER NOT NULL
);
CREATE INDEX payouts_by_scope ON payouts (merchant_id, mode, seq);
CREATE INDEX payouts_by_key ON payouts (created_by_key_id, asset, created_at_ms);
CREATE INDEX payouts_due ON payouts (simulate_at_ms) WHERE simulate_at_ms IS NOT NULL;
CREATE INDEX payouts_awaiting_approval ON payouts (approval_expires_at_ms) WHERE status = 'pending_approval';

CREATE TABLE api_key_limits (
    key_id               TEXT NOT NULL REFERENCES api_keys(id),
    asset                TEXT NOT NULL,
    max_per_payout_minor INTEGER CHECK (max_per_payout_minor > 0),
    max_per_day_minor    INTEGER CHECK (max_per_day_minor > 0),
    PRIMARY KEY (key_id, asset)
) WITHOUT ROWID;
