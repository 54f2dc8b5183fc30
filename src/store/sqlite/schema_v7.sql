-- harepay schema, version 7: idempotency records are purged once older than their retention,
-- oldest first, found from an index instead of a scan.
CREATE INDEX idempotency_records_by_age ON idempotency_records (created_at_ms);
