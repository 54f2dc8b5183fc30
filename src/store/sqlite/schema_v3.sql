-- harepay schema, version 3: the rolling-day spend of a key is summed from the index alone.
DROP INDEX payouts_by_key;
CREATE INDEX payouts_by_key ON payouts (created_by_key_id, asset, created_at_ms, status, amount_minor);
