-- harepay schema, version 9: customers, products and prices.
--
-- A customer's prepaid balance is a ledger account like any other: rows of account_balances and
-- ledger_postings whose account is 'customer_prepaid:<customer id>', in the customer's merchant
-- and mode. No table of its own, so the ledger's checks (integer CHECKs, verification) cover it.
CREATE TABLE customers (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL,
    mode           TEXT NOT NULL,
    email          TEXT NOT NULL,
    -- The address with ASCII letters lowercased: what list_customers filters by.
    email_lookup   TEXT NOT NULL,
    name           TEXT,
    phone          TEXT,
    metadata_json  TEXT NOT NULL,
    archived_at_ms INTEGER,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX customers_by_scope ON customers (merchant_id, mode, seq);
CREATE INDEX customers_by_email ON customers (merchant_id, mode, email_lookup, seq);

CREATE TABLE products (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    merchant_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT,
    unit_label    TEXT,
    metadata_json TEXT NOT NULL,
    active        INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX products_by_scope ON products (merchant_id, mode, seq);

CREATE TABLE prices (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    mode              TEXT NOT NULL,
    product_id        TEXT REFERENCES products(id),
    model             TEXT NOT NULL CHECK (model IN ('recurring', 'usage')),
    currency          TEXT NOT NULL,
    unit_amount_minor INTEGER NOT NULL CHECK (typeof(unit_amount_minor) = 'integer' AND unit_amount_minor >= 0),
    included_units    INTEGER NOT NULL CHECK (typeof(included_units) = 'integer' AND included_units >= 0),
    auto_charge       INTEGER NOT NULL CHECK (auto_charge IN (0, 1)),
    interval_unit     TEXT NOT NULL CHECK (interval_unit IN ('day', 'week', 'month', 'year')),
    interval_count    INTEGER NOT NULL CHECK (interval_count > 0),
    trial_period_days INTEGER NOT NULL CHECK (trial_period_days >= 0),
    active            INTEGER NOT NULL CHECK (active IN (0, 1)),
    used              INTEGER NOT NULL CHECK (used IN (0, 1)),
    created_at_ms     INTEGER NOT NULL
);
CREATE INDEX prices_by_scope ON prices (merchant_id, mode, seq);
CREATE INDEX prices_by_product ON prices (merchant_id, mode, product_id, seq);

-- Prices are immutable: what a price bills never changes under the subscriptions that use it.
-- The one change allowed is marking it used, once.
CREATE TRIGGER prices_are_immutable BEFORE UPDATE ON prices
WHEN NEW.id IS NOT OLD.id OR NEW.merchant_id IS NOT OLD.merchant_id OR NEW.mode IS NOT OLD.mode
  OR NEW.product_id IS NOT OLD.product_id OR NEW.model IS NOT OLD.model OR NEW.currency IS NOT OLD.currency
  OR NEW.unit_amount_minor IS NOT OLD.unit_amount_minor OR NEW.included_units IS NOT OLD.included_units
  OR NEW.auto_charge IS NOT OLD.auto_charge OR NEW.interval_unit IS NOT OLD.interval_unit
  OR NEW.interval_count IS NOT OLD.interval_count OR NEW.trial_period_days IS NOT OLD.trial_period_days
  OR NEW.active IS NOT OLD.active OR NEW.created_at_ms IS NOT OLD.created_at_ms OR NEW.used < OLD.used
BEGIN
    SELECT RAISE(ABORT, 'prices are immutable: only used may change, from 0 to 1');
END;
CREATE TRIGGER prices_are_kept BEFORE DELETE ON prices
BEGIN
    SELECT RAISE(ABORT, 'prices are immutable: a price is never deleted');
END;
