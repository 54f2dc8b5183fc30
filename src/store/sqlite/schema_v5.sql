-- harepay schema, version 5: a balance or a posting can only be an integer.
--
-- SQLite turns an integer sum that overflows i64 into a REAL without a word, and a column's
-- INTEGER affinity does not stop it; a CHECK on typeof() does. SQLite adds a CHECK only by
-- rebuilding the table, so both ledger tables are rebuilt here, with their data and indexes.
--
-- A value that is not an integer already (an overflow stored as REAL by an older harepay, or a
-- hand edit) cannot enter the rebuilt table. It is kept as found in ledger_quarantine instead:
-- `harepay verify` and `system_status` report it, and the store refuses to move money in that
-- merchant's asset until a person repairs it.
CREATE TABLE ledger_quarantine (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    source_table      TEXT NOT NULL CHECK (source_table IN ('account_balances', 'ledger_postings')),
    merchant_id       TEXT NOT NULL,
    mode              TEXT NOT NULL,
    account           TEXT NOT NULL,
    asset             TEXT NOT NULL,
    -- The posting's transaction and sequence number; null for a balance.
    transaction_id    TEXT,
    posting_seq       INTEGER,
    -- typeof() and quote() of the value as it was stored.
    stored_type       TEXT NOT NULL,
    stored_value      TEXT NOT NULL,
    quarantined_at_ms INTEGER NOT NULL
);
CREATE INDEX ledger_quarantine_by_account ON ledger_quarantine (merchant_id, mode, asset);

INSERT INTO ledger_quarantine (source_table, merchant_id, mode, account, asset, stored_type, stored_value, quarantined_at_ms)
SELECT 'account_balances', merchant_id, mode, account, asset, typeof(balance_minor), quote(balance_minor),
       CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM account_balances WHERE typeof(balance_minor) != 'integer';

INSERT INTO ledger_quarantine (source_table, merchant_id, mode, account, asset, transaction_id, posting_seq, stored_type,
                               stored_value, quarantined_at_ms)
SELECT 'ledger_postings', merchant_id, mode, account, asset, transaction_id, seq, typeof(amount_minor), quote(amount_minor),
       CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM ledger_postings WHERE typeof(amount_minor) != 'integer';

CREATE TABLE account_balances_v5 (
    merchant_id   TEXT NOT NULL,
    mode          TEXT NOT NULL,
    account       TEXT NOT NULL,
    asset         TEXT NOT NULL,
    balance_minor INTEGER NOT NULL CHECK (typeof(balance_minor) = 'integer'),
    PRIMARY KEY (merchant_id, mode, account, asset)
) WITHOUT ROWID;
INSERT INTO account_balances_v5 (merchant_id, mode, account, asset, balance_minor)
SELECT merchant_id, mode, account, asset, balance_minor FROM account_balances WHERE typeof(balance_minor) = 'integer';
DROP TABLE account_balances;
ALTER TABLE account_balances_v5 RENAME TO account_balances;

CREATE TABLE ledger_postings_v5 (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions(id),
    merchant_id    TEXT NOT NULL,
    mode           TEXT NOT NULL,
    account        TEXT NOT NULL,
    asset          TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL CHECK (typeof(amount_minor) = 'integer')
);
INSERT INTO ledger_postings_v5 (seq, transaction_id, merchant_id, mode, account, asset, amount_minor)
SELECT seq, transaction_id, merchant_id, mode, account, asset, amount_minor FROM ledger_postings
WHERE typeof(amount_minor) = 'integer';
-- Carry the AUTOINCREMENT high-water mark over (the rename takes it along), so that no seq is
-- ever handed out twice, not even one of a posting moved to the quarantine.
DELETE FROM sqlite_sequence WHERE name = 'ledger_postings_v5';
INSERT INTO sqlite_sequence (name, seq) SELECT 'ledger_postings_v5', seq FROM sqlite_sequence WHERE name = 'ledger_postings';
DROP TABLE ledger_postings;
ALTER TABLE ledger_postings_v5 RENAME TO ledger_postings;
CREATE INDEX ledger_postings_by_transaction ON ledger_postings (transaction_id);
