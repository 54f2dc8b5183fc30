//! The audit log.
//!
//! Across processes: appends only, so writers never wait for each other here; each record's id is
//! unique, and `seq` orders the records as they were written.

use postgres::Row;

use crate::engine::principal::Scope;
use crate::store::postgres::rows::{get, into_page};
use crate::store::postgres::session::PgSession;
use crate::store::{AuditRead, AuditRecord, AuditWrite, Page, PageRequest, StoreResult};

/// Audit records are always read within one scope, so the scope comes from the query.
fn audit_from_row(row: &Row, scope: &Scope) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: get(row, "id")?,
        scope: scope.clone(),
        key_id: get(row, "key_id")?,
        actor_owner: get(row, "actor_owner")?,
        tool: get(row, "tool")?,
        outcome: get(row, "outcome")?,
        error_type: get(row, "error_type")?,
        object_id: get(row, "object_id")?,
        idempotency_key: get(row, "idempotency_key")?,
        detail: get(row, "detail")?,
        created_at_ms: get(row, "created_at_ms")?,
        request_id: get(row, "request_id")?,
    })
}

impl AuditRead for PgSession<'_> {
    fn audit_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let row = self.db().query_one(
            "SELECT EXISTS (SELECT 1 FROM audit_log WHERE merchant_id = $1 AND mode = $2 AND id = $3) AS found",
            &[&scope.merchant_id, &scope.mode.code(), &id],
        )?;
        get(&row, "found")
    }

    fn list_audit(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<AuditRecord>> {
        let rows = self.db().query(
            "SELECT id, key_id, actor_owner, tool, outcome, error_type, object_id, idempotency_key, \
             detail, created_at_ms, request_id FROM audit_log WHERE merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR seq < (SELECT seq FROM audit_log WHERE id = $3::text)) \
             ORDER BY seq DESC LIMIT $4",
            &[&scope.merchant_id, &scope.mode.code(), &page.starting_after, &(i64::from(page.limit) + 1)],
        )?;
        let records = rows.iter().map(|row| audit_from_row(row, scope)).collect::<StoreResult<Vec<_>>>()?;
        Ok(into_page(records, page.limit))
    }
}

impl AuditWrite for PgSession<'_> {
    fn append_audit(&mut self, record: &AuditRecord) -> StoreResult<()> {
        self.insert_ahead(
            "INSERT INTO audit_log (id, merchant_id, mode, key_id, actor_owner, tool, outcome, error_type, object_id, \
             idempotency_key, detail, created_at_ms, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &record.id,
                &record.scope.merchant_id,
                &record.scope.mode.code(),
                &record.key_id,
                &record.actor_owner,
                &record.tool,
                &record.outcome,
                &record.error_type,
                &record.object_id,
                &record.idempotency_key,
                &record.detail,
                &record.created_at_ms,
                &record.request_id,
            ],
            "audit_log",
        )
    }
}
