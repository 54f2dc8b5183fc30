-- harepay on PostgreSQL, version 1: the same tables as SQLite's migrations 1 to 17 arrive at.
-- Integers are BIGINT (so no value is ever anything but an integer: SQLite's typeof() checks and
-- its ledger quarantine have no counterpart here), flags are BOOLEAN, secrets BYTEA. Sequence
-- numbers (`seq`) order rows within one table; across transactions of several processes they
-- may commit out of order, which the event fan-out accounts for (`events.xid`).

CREATE TABLE merchants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id                TEXT PRIMARY KEY,
    merchant_id       TEXT NOT NULL REFERENCES merchants(id),
    mode              TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    role              TEXT NOT NULL CHECK (role IN ('admin', 'maker', 'approver', 'read_only')),
    owner             TEXT NOT NULL,
    key_sha256_hex    TEXT NOT NULL UNIQUE,
    key_last4         TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    revoked_at_ms     BIGINT,
    owner_skeleton    TEXT,
    expires_at_ms     BIGINT,
    created_by_key_id TEXT,
    accountable_owner TEXT,
    -- Insertion order, for pages of keys newest first (SQLite's rowid).
    seq               BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX api_keys_by_owner ON api_keys (merchant_id, mode, owner_skeleton);
CREATE INDEX api_keys_by_merchant_created ON api_keys (merchant_id, created_at_ms);

CREATE TABLE api_key_limits (
    key_id               TEXT NOT NULL REFERENCES api_keys(id),
    asset                TEXT NOT NULL,
    max_per_payout_minor BIGINT CHECK (max_per_payout_minor > 0),
    max_per_day_minor    BIGINT CHECK (max_per_day_minor > 0),
    PRIMARY KEY (key_id, asset)
);

CREATE TABLE payment_intents (
    seq                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                    TEXT NOT NULL UNIQUE,
    merchant_id           TEXT NOT NULL,
    mode                  TEXT NOT NULL,
    amount_minor          BIGINT NOT NULL CHECK (amount_minor > 0),
    asset                 TEXT NOT NULL,
    network               TEXT,
    method                TEXT NOT NULL,
    rail                  TEXT NOT NULL,
    settle_asset          TEXT,
    settle_amount_minor   BIGINT,
    settle_rate           TEXT,
    customer              TEXT,
    description           TEXT,
    metadata_json         TEXT NOT NULL,
    status                TEXT NOT NULL,
    next_action_json      TEXT,
    fee_minor             BIGINT NOT NULL CHECK (fee_minor >= 0),
    amount_refunded_minor BIGINT NOT NULL CHECK (amount_refunded_minor >= 0),
    failure_reason        TEXT,
    auto_settle_at_ms     BIGINT,
    created_at_ms         BIGINT NOT NULL,
    updated_at_ms         BIGINT NOT NULL,
    amount_received_minor BIGINT NOT NULL DEFAULT 0 CHECK (amount_received_minor >= 0),
    expires_at_ms         BIGINT
);
CREATE INDEX payment_intents_by_scope ON payment_intents (merchant_id, mode, seq);
CREATE INDEX payment_intents_due ON payment_intents (auto_settle_at_ms) WHERE auto_settle_at_ms IS NOT NULL;
CREATE INDEX payment_intents_expiring ON payment_intents (expires_at_ms)
    WHERE expires_at_ms IS NOT NULL AND status IN ('requires_action', 'partially_paid');

CREATE TABLE refunds (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    mode              TEXT NOT NULL,
    payment_intent_id TEXT NOT NULL REFERENCES payment_intents(id),
    amount_minor      BIGINT NOT NULL CHECK (amount_minor > 0),
    asset             TEXT NOT NULL,
    reason            TEXT,
    status            TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL
);
CREATE INDEX refunds_by_payment ON refunds (payment_intent_id);

CREATE TABLE ledger_transactions (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    merchant_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    reference_id  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE ledger_postings (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions(id),
    merchant_id    TEXT NOT NULL,
    mode           TEXT NOT NULL,
    account        TEXT NOT NULL,
    asset          TEXT NOT NULL,
    amount_minor   BIGINT NOT NULL
);
CREATE INDEX ledger_postings_by_transaction ON ledger_postings (transaction_id);

CREATE TABLE account_balances (
    merchant_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    account       TEXT NOT NULL,
    asset         TEXT NOT NULL,
    balance_minor BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, mode, account, asset)
);

CREATE TABLE idempotency_records (
    merchant_id        TEXT NOT NULL,
    mode               TEXT NOT NULL,
    key                TEXT NOT NULL,
    operation          TEXT NOT NULL,
    request_sha256_hex TEXT NOT NULL,
    object_id          TEXT,
    response_json      TEXT NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, mode, key)
);
CREATE INDEX idempotency_records_by_age ON idempotency_records (created_at_ms);

CREATE TABLE audit_log (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    created_at_ms   BIGINT NOT NULL,
    request_id      TEXT CHECK (request_id IS NULL OR char_length(request_id) <= 64)
);
CREATE INDEX audit_log_by_scope ON audit_log (merchant_id, mode, seq);

-- `xid` is the writing transaction: the fan-out takes only events whose transaction is older than
-- every transaction still running, so an event with a smaller seq that commits later is never
-- skipped past.
CREATE TABLE events (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    merchant_id     TEXT NOT NULL,
    mode            TEXT NOT NULL,
    type            TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    delivered_at_ms BIGINT,
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX events_by_scope ON events (merchant_id, mode, seq);
-- The webhook fan-out reads events in (xid, seq) order after its cursor (postgres/webhooks.rs).
CREATE INDEX events_by_xid ON events (xid, seq);

CREATE TABLE payouts (
    seq                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                         TEXT NOT NULL UNIQUE,
    merchant_id                TEXT NOT NULL,
    mode                       TEXT NOT NULL,
    amount_minor               BIGINT NOT NULL CHECK (amount_minor > 0),
    asset                      TEXT NOT NULL,
    rail                       TEXT NOT NULL,
    destination_json           TEXT NOT NULL,
    description                TEXT,
    metadata_json              TEXT NOT NULL,
    status                     TEXT NOT NULL,
    created_by_key_id          TEXT NOT NULL,
    created_by_owner           TEXT NOT NULL,
    approval_threshold_minor   BIGINT,
    approval_expires_at_ms     BIGINT,
    approval_decision          TEXT,
    approval_decided_by_key_id TEXT,
    approval_decided_by_owner  TEXT,
    approval_decided_at_ms     BIGINT,
    approval_reason            TEXT,
    failure_reason             TEXT,
    cancellation_reason        TEXT,
    simulate_at_ms             BIGINT,
    created_at_ms              BIGINT NOT NULL,
    updated_at_ms              BIGINT NOT NULL,
    approval_trigger           TEXT
);
CREATE INDEX payouts_by_scope ON payouts (merchant_id, mode, seq);
CREATE INDEX payouts_due ON payouts (simulate_at_ms) WHERE simulate_at_ms IS NOT NULL;
CREATE INDEX payouts_awaiting_approval ON payouts (approval_expires_at_ms) WHERE status = 'pending_approval';
CREATE INDEX payouts_by_key ON payouts (created_by_key_id, asset, created_at_ms, status, amount_minor);
CREATE INDEX payouts_by_scope_asset ON payouts (merchant_id, mode, asset, created_at_ms, status, amount_minor);
CREATE INDEX payouts_by_decision ON payouts (merchant_id, mode, asset, approval_decided_at_ms, status, amount_minor)
    WHERE approval_decided_at_ms IS NOT NULL;

CREATE TABLE scheduled_step_retries (
    step               TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    merchant_id        TEXT NOT NULL,
    mode               TEXT NOT NULL,
    attempts           BIGINT NOT NULL CHECK (attempts > 0),
    last_error         TEXT NOT NULL,
    last_attempt_at_ms BIGINT NOT NULL,
    next_attempt_at_ms BIGINT,
    PRIMARY KEY (step, object_id)
);
CREATE INDEX scheduled_step_retries_parked ON scheduled_step_retries (last_attempt_at_ms)
    WHERE next_attempt_at_ms IS NULL;

CREATE TABLE customers (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL,
    mode           TEXT NOT NULL,
    email          TEXT NOT NULL,
    -- The address with ASCII letters lowercased: what list_customers filters by.
    email_lookup   TEXT NOT NULL,
    name           TEXT,
    phone          TEXT,
    metadata_json  TEXT NOT NULL,
    archived_at_ms BIGINT,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
CREATE INDEX customers_by_scope ON customers (merchant_id, mode, seq);
CREATE INDEX customers_by_email ON customers (merchant_id, mode, email_lookup, seq);

CREATE TABLE products (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    merchant_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT,
    unit_label    TEXT,
    metadata_json TEXT NOT NULL,
    active        BOOLEAN NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX products_by_scope ON products (merchant_id, mode, seq);

CREATE TABLE prices (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    mode              TEXT NOT NULL,
    product_id        TEXT REFERENCES products(id),
    model             TEXT NOT NULL CHECK (model IN ('recurring', 'usage')),
    currency          TEXT NOT NULL,
    unit_amount_minor BIGINT NOT NULL CHECK (unit_amount_minor >= 0),
    included_units    BIGINT NOT NULL CHECK (included_units >= 0),
    auto_charge       BOOLEAN NOT NULL,
    interval_unit     TEXT NOT NULL CHECK (interval_unit IN ('day', 'week', 'month', 'year')),
    interval_count    BIGINT NOT NULL CHECK (interval_count > 0),
    trial_period_days BIGINT NOT NULL CHECK (trial_period_days >= 0),
    active            BOOLEAN NOT NULL,
    used              BOOLEAN NOT NULL,
    created_at_ms     BIGINT NOT NULL
);
CREATE INDEX prices_by_scope ON prices (merchant_id, mode, seq);
CREATE INDEX prices_by_product ON prices (merchant_id, mode, product_id, seq);

CREATE FUNCTION prices_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'prices are immutable: a price is never deleted' USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.id, NEW.merchant_id, NEW.mode, NEW.product_id, NEW.model, NEW.currency, NEW.unit_amount_minor,
        NEW.included_units, NEW.auto_charge, NEW.interval_unit, NEW.interval_count, NEW.trial_period_days,
        NEW.active, NEW.created_at_ms)
       IS DISTINCT FROM
       (OLD.id, OLD.merchant_id, OLD.mode, OLD.product_id, OLD.model, OLD.currency, OLD.unit_amount_minor,
        OLD.included_units, OLD.auto_charge, OLD.interval_unit, OLD.interval_count, OLD.trial_period_days,
        OLD.active, OLD.created_at_ms)
       OR (OLD.used AND NOT NEW.used) THEN
        RAISE EXCEPTION 'prices are immutable: only used may change, from false to true'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER prices_are_immutable BEFORE UPDATE OR DELETE ON prices
    FOR EACH ROW EXECUTE FUNCTION prices_are_immutable();

CREATE TABLE invoices (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    mode              TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    subscription_id   TEXT,
    currency          TEXT NOT NULL,
    subtotal_minor    BIGINT NOT NULL CHECK (subtotal_minor >= 0),
    total_minor       BIGINT NOT NULL CHECK (total_minor >= 0),
    amount_paid_minor BIGINT NOT NULL CHECK (amount_paid_minor >= 0),
    status            TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible', 'expired')),
    due_date_ms       BIGINT NOT NULL,
    expires_in_ms     BIGINT CHECK (expires_in_ms IS NULL OR expires_in_ms > 0),
    expires_at_ms     BIGINT,
    payment_intent_id TEXT REFERENCES payment_intents(id),
    metadata_json     TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    finalized_at_ms   BIGINT,
    paid_at_ms        BIGINT,
    closed_at_ms      BIGINT,
    updated_at_ms     BIGINT NOT NULL
);
CREATE INDEX invoices_by_scope ON invoices (merchant_id, mode, seq);
CREATE INDEX invoices_by_status ON invoices (merchant_id, mode, status, seq);
CREATE INDEX invoices_by_customer ON invoices (merchant_id, mode, customer_id, seq);
CREATE UNIQUE INDEX invoices_by_payment_intent ON invoices (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
CREATE INDEX invoices_expiring ON invoices (expires_at_ms) WHERE expires_at_ms IS NOT NULL AND status = 'open';
CREATE INDEX invoices_open_by_subscription ON invoices (subscription_id, due_date_ms)
    WHERE status = 'open' AND subscription_id IS NOT NULL;

CREATE TABLE invoice_lines (
    invoice_id        TEXT NOT NULL REFERENCES invoices(id),
    position          BIGINT NOT NULL CHECK (position >= 0),
    description       TEXT NOT NULL,
    quantity          BIGINT NOT NULL CHECK (quantity >= 1),
    unit_amount_minor BIGINT NOT NULL CHECK (unit_amount_minor >= 0),
    price_id          TEXT REFERENCES prices(id),
    -- numeric: the product of two BIGINTs is checked without overflowing first.
    amount_minor      BIGINT NOT NULL
        CHECK (amount_minor >= 0 AND amount_minor::numeric = quantity::numeric * unit_amount_minor::numeric),
    PRIMARY KEY (invoice_id, position)
);

CREATE FUNCTION invoice_lines_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice lines are immutable and never deleted' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER invoice_lines_are_immutable BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_are_immutable();

CREATE TABLE subscriptions (
    seq                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                      TEXT NOT NULL UNIQUE,
    merchant_id             TEXT NOT NULL,
    mode                    TEXT NOT NULL,
    customer_id             TEXT NOT NULL REFERENCES customers(id),
    price_id                TEXT NOT NULL REFERENCES prices(id),
    status                  TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    billing_anchor_ms       BIGINT NOT NULL,
    trial_end_ms            BIGINT,
    current_period_index    BIGINT CHECK (current_period_index IS NULL OR current_period_index >= 0),
    current_period_start_ms BIGINT NOT NULL,
    current_period_end_ms   BIGINT NOT NULL CHECK (current_period_end_ms > current_period_start_ms),
    due_at_ms               BIGINT CHECK ((due_at_ms IS NULL) = (status = 'canceled')),
    cancel_at_period_end    BOOLEAN NOT NULL,
    collection_check_at_ms  BIGINT,
    canceled_at_ms          BIGINT,
    ended_at_ms             BIGINT,
    metadata_json           TEXT NOT NULL,
    created_at_ms           BIGINT NOT NULL,
    updated_at_ms           BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_scope ON subscriptions (merchant_id, mode, seq);
CREATE INDEX subscriptions_by_customer ON subscriptions (merchant_id, mode, customer_id, seq);
CREATE INDEX subscriptions_due ON subscriptions (due_at_ms) WHERE due_at_ms IS NOT NULL;
CREATE INDEX subscriptions_due_by_scope ON subscriptions (merchant_id, mode, due_at_ms) WHERE due_at_ms IS NOT NULL;

CREATE TABLE usage_events (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    event_id        TEXT NOT NULL,
    quantity        BIGINT NOT NULL CHECK (quantity > 0),
    period_start_ms BIGINT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
);

CREATE TABLE usage_periods (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    period_start_ms BIGINT NOT NULL,
    period_end_ms   BIGINT NOT NULL,
    used_units      BIGINT NOT NULL CHECK (used_units >= 0),
    billed_units    BIGINT NOT NULL CHECK (billed_units >= 0 AND billed_units <= used_units),
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, period_start_ms)
);

CREATE TABLE subscription_period_closes (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    period_start_ms BIGINT NOT NULL,
    period_end_ms   BIGINT NOT NULL,
    invoice_id      TEXT,
    closed_at_ms    BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, period_start_ms)
);

CREATE TABLE test_clocks (
    merchant_id   TEXT PRIMARY KEY,
    offset_ms     BIGINT NOT NULL CHECK (offset_ms >= 0),
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,
    merchant_id          TEXT NOT NULL,
    mode                 TEXT NOT NULL,
    url                  TEXT NOT NULL,
    -- Comma-separated event types, or '*'.
    event_types          TEXT NOT NULL,
    secret_sealed        BYTEA NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('enabled', 'disabled', 'deleted')),
    disabled_reason      TEXT,
    consecutive_failures BIGINT NOT NULL CHECK (consecutive_failures >= 0),
    -- Events with a larger outbox seq are delivered to it; older ones are not.
    after_event_seq      BIGINT NOT NULL,
    created_at_ms        BIGINT NOT NULL,
    updated_at_ms        BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_scope ON webhook_endpoints (merchant_id, mode, status);

CREATE TABLE webhook_deliveries (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    endpoint_id        TEXT NOT NULL REFERENCES webhook_endpoints (id),
    merchant_id        TEXT NOT NULL,
    mode               TEXT NOT NULL,
    event_id           TEXT NOT NULL REFERENCES events (id),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts           BIGINT NOT NULL CHECK (attempts >= 0),
    next_attempt_at_ms BIGINT,
    last_status_code   BIGINT,
    last_error         TEXT,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX webhook_deliveries_by_scope ON webhook_deliveries (merchant_id, mode, seq);

CREATE TABLE webhook_delivery_attempts (
    delivery_id      TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt          BIGINT NOT NULL,
    started_at_ms    BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    status_code      BIGINT,
    error            TEXT,
    response_excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE webhook_fanout_cursor (
    singleton      BIGINT PRIMARY KEY CHECK (singleton = 1),
    last_event_seq BIGINT NOT NULL
);
INSERT INTO webhook_fanout_cursor (singleton, last_event_seq) VALUES (1, 0);

CREATE TABLE disputes (
    seq                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                       TEXT NOT NULL UNIQUE,
    merchant_id              TEXT NOT NULL,
    mode                     TEXT NOT NULL,
    payment_intent_id        TEXT NOT NULL,
    amount_minor             BIGINT NOT NULL CHECK (amount_minor > 0),
    asset                    TEXT NOT NULL,
    amount_owed_minor        BIGINT NOT NULL CHECK (amount_owed_minor >= 0 AND amount_owed_minor <= amount_minor),
    reason                   TEXT NOT NULL,
    status                   TEXT NOT NULL,
    evidence_json            TEXT NOT NULL,
    evidence_submitted_at_ms BIGINT,
    evidence_due_by_ms       BIGINT NOT NULL,
    simulated_outcome        TEXT,
    created_at_ms            BIGINT NOT NULL,
    updated_at_ms            BIGINT NOT NULL,
    closed_at_ms             BIGINT
);
CREATE UNIQUE INDEX disputes_one_per_payment ON disputes (merchant_id, mode, payment_intent_id);
CREATE INDEX disputes_by_scope ON disputes (merchant_id, mode, seq);
CREATE INDEX disputes_awaiting_response ON disputes (evidence_due_by_ms) WHERE status = 'needs_response';
