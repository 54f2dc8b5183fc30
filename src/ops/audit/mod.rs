//! Toolset `audit`: the event outbox and the audit log.

crate::ops::operations!(list_audit_log, list_events);
