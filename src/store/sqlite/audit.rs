//! The audit log.

use rusqlite::{Row, params};

use crate::engine::principal::Scope;
use crate::store::sqlite::rows::into_page;
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{AuditRead, AuditRecord, AuditWrite, Page, PageRequest, StoreResult};

/// Audit records are always read within one scope, so the scope comes from the query.
fn audit_from_row(row: &Row<'_>, scope: &Scope) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.get(0)?,
        scope: scope.clone(),
        key_id: row.get(1)?,
        actor_owner: row.get(2)?,
        tool: row.get(3)?,
        outcome: row.get(4)?,
        error_type: row.get(5)?,
        object_id: row.get(6)?,
        idempotency_key: row.get(7)?,
        detail: row.get(8)?,
        created_at_ms: row.get(9)?,
        request_id: row.get(10)?,
    })
}

impl<T: HasConnection> AuditRead for T {
    fn audit_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        Ok(self
            .connection()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM audit_log WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3)")?
            .query_row(params![scope.merchant_id, scope.mode.code(), id], |row| row.get(0))?)
    }

    fn list_audit(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<AuditRecord>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT id, key_id, actor_owner, tool, outcome, error_type, object_id, idempotency_key, \
             detail, created_at_ms, request_id FROM audit_log WHERE merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR seq < (SELECT seq FROM audit_log WHERE id = ?3)) ORDER BY seq DESC LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![scope.merchant_id, scope.mode.code(), page.starting_after, i64::from(page.limit) + 1],
            |row| audit_from_row(row, scope),
        )?;
        Ok(into_page(rows.collect::<rusqlite::Result<Vec<_>>>()?, page.limit))
    }
}

impl AuditWrite for SqliteWrite<'_> {
    fn append_audit(&mut self, record: &AuditRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO audit_log (id, merchant_id, mode, key_id, actor_owner, tool, outcome, error_type, object_id, \
                 idempotency_key, detail, created_at_ms, request_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                record.id,
                record.scope.merchant_id,
                record.scope.mode.code(),
                record.key_id,
                record.actor_owner,
                record.tool,
                record.outcome,
                record.error_type,
                record.object_id,
                record.idempotency_key,
                record.detail,
                record.created_at_ms,
                record.request_id
            ])?;
        Ok(())
    }
}
