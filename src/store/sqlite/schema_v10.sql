-- harepay schema, version 10: a payment intent records what the payer sent, which may be less or
-- more than its amount, and may expire. The scheduler finds the intents to expire from a partial
-- index of those still waiting for the payer.
ALTER TABLE payment_intents ADD COLUMN amount_received_minor INTEGER NOT NULL DEFAULT 0
    CHECK (typeof(amount_received_minor) = 'integer' AND amount_received_minor >= 0);
ALTER TABLE payment_intents ADD COLUMN expires_at_ms INTEGER;
-- Payments that reached processing before this version received exactly their amount.
UPDATE payment_intents SET amount_received_minor = amount_minor WHERE status IN ('processing', 'succeeded');
CREATE INDEX payment_intents_expiring ON payment_intents (expires_at_ms)
    WHERE expires_at_ms IS NOT NULL AND status IN ('requires_action', 'partially_paid');
