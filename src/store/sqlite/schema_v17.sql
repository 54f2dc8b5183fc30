-- harepay schema, version 17: disputes past their evidence due date. The scheduler closes a
-- dispute still `needs_response` at its due date as lost; this partial index holds only those
-- disputes, so that its due query reads the few that wait for an answer, never the closed ones.
CREATE INDEX disputes_awaiting_response ON disputes (evidence_due_by_ms) WHERE status = 'needs_response';
