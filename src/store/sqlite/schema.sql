-- harepay schema, version 1. Amounts are INTEGER minor units; times are INTEGER Unix milliseconds.
CREATE TABLE merchants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants(id),
    mode           TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    role           TEXT NOT NULL CHECK (role IN ('admin', 'maker', 'approver', 'read_only')),
    owner          TEXT NOT NULL,
    key_sha256_hex TEXT NOT NULL UNIQUE,
    key_last4      TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    revoked_at_ms  INTEGER
);

CREATE TABLE payment_intents (
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    id                    TEXT NOT NULL UNIQUE,
    merchant_id           TEXT NOT NULL,
    mode                  TEXT NOT NULL,
    amount_minor          INTEGER NOT NULL CHECK (amount_minor > 0),
    asset                 TEXT NOT NULL,
    network               TEXT,
    method                TEXT NOT NULL,
    rail                  TEXT NOT NULL,
    settle_asset          TEXT,
    settle_amount_minor   INTEGER,
    settle_rate           TEXT,
    customer              TEXT,
    description           TEXT,
    metadata_json         TEXT NOT NULL,
    status                TEXT NOT NULL,
    next_action_json      TEXT,
    fee_minor             INTEGER NOT NULL CHECK (fee_minor >= 0),
    amount_refunded_minor INTEGER NOT NULL CHECK (amount_refunded_minor >= 0),
    failure_reason        TEXT,
    auto_settle_at_ms     INTEGER,
    created_at_ms         INTEGER NOT NULL,
    updated_at_ms         INTEGER NOT NULL
);
CREATE INDEX payment_intents_by_scope ON payment_intents (merchant_id, mode, seq);
CREATE INDEX payment_intents_due ON payment_intents (auto_settle_at_ms) WHERE auto_settle_at_ms IS NOT NULL;

CREATE TABLE refunds (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    mode              TEXT NOT NULL,
    payment_intent_id TEXT NOT NULL REFERENCES payment_intents(id),
    amount_minor      INTEGER NOT NULL CHECK (amount_minor > 0),
    asset             TEXT NOT NULL,
    reason            TEXT,
    status            TEXT NOT NULL,
    created_at_ms     INTEGER NOT NULL
);
CREATE INDEX refunds_by_payment ON refunds (payment_intent_id);

CREATE TABLE ledger_transactions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    merchant_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    reference_id  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE ledger_postings (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions(id),
    merchant_id    TEXT NOT NULL,
    mode           TEXT NOT NULL,
    account        TEXT NOT NULL,
    asset          TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL
);
CREATE INDEX ledger_postings_by_transaction ON ledger_postings (transaction_id);

-- Running balances, kept in step with ledger_postings in the same transaction.
CREATE TABLE account_balances (
    merchant_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    account       TEXT NOT NULL,
    asset         TEXT NOT NULL,
    balance_minor INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, mode, account, asset)
) WITHOUT ROWID;

CREATE TABLE idempotency_records (
    merchant_id        TEXT NOT NULL,
    mode               TEXT NOT NULL,
    key                TEXT NOT NULL,
    operation          TEXT NOT NULL,
    request_sha256_hex TEXT NOT NULL,
    object_id          TEXT,
    response_json      TEXT NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, mode, key)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    merchant_id     TEXT NOT NULL,
    mode            TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    actor_owner     TEXT NOT NULL,
    tool            TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    error_type      TEXT,
    object_id       TEXT,
    idempotency_key TEXT,
    detail          TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX audit_log_by_scope ON audit_log (merchant_id, mode, seq);

-- The outbox: webhook delivery reads from here.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    merchant_id     TEXT NOT NULL,
    mode            TEXT NOT NULL,
    type            TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    delivered_at_ms INTEGER
);
CREATE INDEX events_by_scope ON events (merchant_id, mode, seq);
