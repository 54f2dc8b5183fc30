-- harepay schema, version 4: scheduled steps that failed. A failed step waits until
-- next_attempt_at_ms before it is tried again; once parked (next_attempt_at_ms NULL) it is not
-- picked again. The row goes when the step succeeds.
CREATE TABLE scheduled_step_retries (
    step               TEXT NOT NULL,
    object_id          TEXT NOT NULL,
    merchant_id        TEXT NOT NULL,
    mode               TEXT NOT NULL,
    attempts           INTEGER NOT NULL CHECK (attempts > 0),
    last_error         TEXT NOT NULL,
    last_attempt_at_ms INTEGER NOT NULL,
    next_attempt_at_ms INTEGER,
    PRIMARY KEY (step, object_id)
) WITHOUT ROWID;
CREATE INDEX scheduled_step_retries_parked ON scheduled_step_retries (last_attempt_at_ms)
    WHERE next_attempt_at_ms IS NULL;
