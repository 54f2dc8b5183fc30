-- harepay schema, version 8: a payout counts against rolling-day limits from its creation until a
-- day after its release (approval), so the spend sums also find payouts approved within the day,
-- by the time of their decision.
CREATE INDEX payouts_by_decision ON payouts (merchant_id, mode, asset, approval_decided_at_ms, status, amount_minor)
    WHERE approval_decided_at_ms IS NOT NULL;
