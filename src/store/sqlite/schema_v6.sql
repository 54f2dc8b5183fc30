-- harepay schema, version 6: owners are identities. Keys carry the confusable skeleton of their
-- owner (filled in by harepay for keys made before), so a person's spend and limits are found
-- across all their keys; payouts say why they wait for approval; merchant-wide daily spend is
-- summed from an index.
ALTER TABLE api_keys ADD COLUMN owner_skeleton TEXT;
CREATE INDEX api_keys_by_owner ON api_keys (merchant_id, mode, owner_skeleton);
ALTER TABLE payouts ADD COLUMN approval_trigger TEXT;
CREATE INDEX payouts_by_scope_asset ON payouts (merchant_id, mode, asset, created_at_ms, status, amount_minor);
