-- harepay schema, version 16: key lifecycle. A key may expire; a key made through a tool names
-- the key that made it, and the owner accountable for it (its creator's), whose skeleton is what
-- maker-checker and spend limits compare. The index serves the active-key count and the
-- creation rate, both per merchant.
ALTER TABLE api_keys ADD COLUMN expires_at_ms INTEGER CHECK (expires_at_ms IS NULL OR typeof(expires_at_ms) = 'integer');
ALTER TABLE api_keys ADD COLUMN created_by_key_id TEXT;
ALTER TABLE api_keys ADD COLUMN accountable_owner TEXT;
CREATE INDEX api_keys_by_merchant_created ON api_keys (merchant_id, created_at_ms);
