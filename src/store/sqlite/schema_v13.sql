-- harepay schema, version 13: an audit record names the HTTP request it came from (X-Request-Id),
-- so that an operator can join it with the server's log lines and the caller's own logs.
ALTER TABLE audit_log ADD COLUMN request_id TEXT CHECK (request_id IS NULL OR length(request_id) <= 64);
