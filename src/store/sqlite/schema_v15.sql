-- harepay schema, version 15: disputes.
--
-- One dispute per payment (the unique index is the backstop of the engine's check). The disputed
-- amount moves through the ledger (reserved, owed), so no balance is kept here.
CREATE TABLE disputes (
    seq                      INTEGER PRIMARY KEY AUTOINCREMENT,
    id                       TEXT NOT NULL UNIQUE,
    merchant_id              TEXT NOT NULL,
    mode                     TEXT NOT NULL,
    payment_intent_id        TEXT NOT NULL,
    amount_minor             INTEGER NOT NULL CHECK (typeof(amount_minor) = 'integer' AND amount_minor > 0),
    asset                    TEXT NOT NULL,
    amount_owed_minor        INTEGER NOT NULL
        CHECK (typeof(amount_owed_minor) = 'integer' AND amount_owed_minor >= 0 AND amount_owed_minor <= amount_minor),
    reason                   TEXT NOT NULL,
    status                   TEXT NOT NULL,
    evidence_json            TEXT NOT NULL,
    evidence_submitted_at_ms INTEGER,
    evidence_due_by_ms       INTEGER NOT NULL,
    simulated_outcome        TEXT,
    created_at_ms            INTEGER NOT NULL,
    updated_at_ms            INTEGER NOT NULL,
    closed_at_ms             INTEGER
);
CREATE UNIQUE INDEX disputes_one_per_payment ON disputes (merchant_id, mode, payment_intent_id);
CREATE INDEX disputes_by_scope ON disputes (merchant_id, mode, seq);
