-- harepay schema, version 12: subscriptions, metered usage, period closes and test clocks.
--
-- A subscription's current period is in its row; `due_at_ms` is when the billing run must look at
-- it next (its period's end, or before that a check whether an invoice went past due; NULL once
-- canceled), what the billing run's due queries read through partial indexes.
CREATE TABLE subscriptions (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      TEXT NOT NULL UNIQUE,
    merchant_id             TEXT NOT NULL,
    mode                    TEXT NOT NULL,
    customer_id             TEXT NOT NULL REFERENCES customers(id),
    price_id                TEXT NOT NULL REFERENCES prices(id),
    status                  TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    billing_anchor_ms       INTEGER NOT NULL,
    trial_end_ms            INTEGER,
    current_period_index    INTEGER CHECK (current_period_index IS NULL OR current_period_index >= 0),
    current_period_start_ms INTEGER NOT NULL,
    current_period_end_ms   INTEGER NOT NULL CHECK (current_period_end_ms > current_period_start_ms),
    due_at_ms               INTEGER CHECK ((due_at_ms IS NULL) = (status = 'canceled')),
    cancel_at_period_end    INTEGER NOT NULL CHECK (cancel_at_period_end IN (0, 1)),
    collection_check_at_ms  INTEGER,
    canceled_at_ms          INTEGER,
    ended_at_ms             INTEGER,
    metadata_json           TEXT NOT NULL,
    created_at_ms           INTEGER NOT NULL,
    updated_at_ms           INTEGER NOT NULL
);
CREATE INDEX subscriptions_by_scope ON subscriptions (merchant_id, mode, seq);
CREATE INDEX subscriptions_by_customer ON subscriptions (merchant_id, mode, customer_id, seq);
CREATE INDEX subscriptions_due ON subscriptions (due_at_ms) WHERE due_at_ms IS NOT NULL;
CREATE INDEX subscriptions_due_by_scope ON subscriptions (merchant_id, mode, due_at_ms) WHERE due_at_ms IS NOT NULL;

-- Every usage report counted, by its event id: a repeat finds its row and counts nothing.
CREATE TABLE usage_events (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    event_id        TEXT NOT NULL,
    quantity        INTEGER NOT NULL CHECK (typeof(quantity) = 'integer' AND quantity > 0),
    period_start_ms INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
) WITHOUT ROWID;

-- Per subscription period: units reported and overage units already on an invoice.
CREATE TABLE usage_periods (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    period_start_ms INTEGER NOT NULL,
    period_end_ms   INTEGER NOT NULL,
    used_units      INTEGER NOT NULL CHECK (typeof(used_units) = 'integer' AND used_units >= 0),
    billed_units    INTEGER NOT NULL
        CHECK (typeof(billed_units) = 'integer' AND billed_units >= 0 AND billed_units <= used_units),
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, period_start_ms)
) WITHOUT ROWID;

-- Each period closed, once: the key makes a second close of the same period a conflict whatever
-- runs it (a repeated or concurrent billing run, a run after a crash). invoice_id is NULL when
-- the period billed nothing (a trial, a free period).
CREATE TABLE subscription_period_closes (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    period_start_ms INTEGER NOT NULL,
    period_end_ms   INTEGER NOT NULL,
    invoice_id      TEXT,
    closed_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, period_start_ms)
) WITHOUT ROWID;

-- A merchant's test-mode clock: billing time = real time + offset_ms, which only grows.
CREATE TABLE test_clocks (
    merchant_id   TEXT PRIMARY KEY,
    offset_ms     INTEGER NOT NULL CHECK (typeof(offset_ms) = 'integer' AND offset_ms >= 0),
    updated_at_ms INTEGER NOT NULL
);

-- What a collection check asks: the open invoices of a subscription by due date.
CREATE INDEX invoices_open_by_subscription ON invoices (subscription_id, due_date_ms)
    WHERE status = 'open' AND subscription_id IS NOT NULL;
