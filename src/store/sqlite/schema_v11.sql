-- harepay schema, version 11: invoices and their line items.
--
-- An invoice belongs to a customer of its merchant and mode; its lines never change once written
-- (the totals are the engine's sum of them, kept beside them for lists and totals). Amounts are
-- integers in the invoice currency's minor unit, checked here as in the ledger. One payment
-- intent collects at most one invoice (the unique partial index), so a receipt finds its invoice
-- by the intent. The scheduler finds open invoices to expire from a partial index.
CREATE TABLE invoices (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    mode              TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    subscription_id   TEXT,
    currency          TEXT NOT NULL,
    subtotal_minor    INTEGER NOT NULL CHECK (typeof(subtotal_minor) = 'integer' AND subtotal_minor >= 0),
    total_minor       INTEGER NOT NULL CHECK (typeof(total_minor) = 'integer' AND total_minor >= 0),
    amount_paid_minor INTEGER NOT NULL CHECK (typeof(amount_paid_minor) = 'integer' AND amount_paid_minor >= 0),
    status            TEXT NOT NULL
        CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible', 'expired')),
    due_date_ms       INTEGER NOT NULL CHECK (typeof(due_date_ms) = 'integer'),
    expires_in_ms     INTEGER CHECK (expires_in_ms IS NULL OR (typeof(expires_in_ms) = 'integer' AND expires_in_ms > 0)),
    expires_at_ms     INTEGER CHECK (expires_at_ms IS NULL OR typeof(expires_at_ms) = 'integer'),
    payment_intent_id TEXT REFERENCES payment_intents(id),
    metadata_json     TEXT NOT NULL,
    created_at_ms     INTEGER NOT NULL,
    finalized_at_ms   INTEGER,
    paid_at_ms        INTEGER,
    closed_at_ms      INTEGER,
    updated_at_ms     INTEGER NOT NULL
);
CREATE INDEX invoices_by_scope ON invoices (merchant_id, mode, seq);
CREATE INDEX invoices_by_status ON invoices (merchant_id, mode, status, seq);
CREATE INDEX invoices_by_customer ON invoices (merchant_id, mode, customer_id, seq);
CREATE UNIQUE INDEX invoices_by_payment_intent ON invoices (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
CREATE INDEX invoices_expiring ON invoices (expires_at_ms) WHERE expires_at_ms IS NOT NULL AND status = 'open';

CREATE TABLE invoice_lines (
    invoice_id        TEXT NOT NULL REFERENCES invoices(id),
    position          INTEGER NOT NULL CHECK (typeof(position) = 'integer' AND position >= 0),
    description       TEXT NOT NULL,
    quantity          INTEGER NOT NULL CHECK (typeof(quantity) = 'integer' AND quantity >= 1),
    unit_amount_minor INTEGER NOT NULL CHECK (typeof(unit_amount_minor) = 'integer' AND unit_amount_minor >= 0),
    price_id          TEXT REFERENCES prices(id),
    amount_minor      INTEGER NOT NULL
        CHECK (typeof(amount_minor) = 'integer' AND amount_minor >= 0 AND amount_minor = quantity * unit_amount_minor),
    PRIMARY KEY (invoice_id, position)
) WITHOUT ROWID;

-- What an invoice bills never changes: its lines are written once.
CREATE TRIGGER invoice_lines_are_immutable BEFORE UPDATE ON invoice_lines
BEGIN
    SELECT RAISE(ABORT, 'invoice lines are immutable');
END;
CREATE TRIGGER invoice_lines_are_kept BEFORE DELETE ON invoice_lines
BEGIN
    SELECT RAISE(ABORT, 'invoice lines are never deleted');
END;
