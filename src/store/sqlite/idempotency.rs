//! Idempotency records: what a key produced the first time, unique per scope and key, kept for
//! the retention and then purged oldest first.

use rusqlite::{OptionalExtension, params};

use crate::engine::principal::Scope;
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{IdempotencyRead, IdempotencyRecord, IdempotencyWrite, StoreResult};

impl<T: HasConnection> IdempotencyRead for T {
    fn get_idempotency(&self, scope: &Scope, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let found = self
            .connection()
            .prepare_cached(
                "SELECT operation, request_sha256_hex, object_id, response_json, created_at_ms FROM idempotency_records \
                 WHERE merchant_id = ?1 AND mode = ?2 AND key = ?3",
            )?
            .query_row(params![scope.merchant_id, scope.mode.code(), key], |row| {
                Ok(IdempotencyRecord {
                    scope: scope.clone(),
                    key: key.to_owned(),
                    operation: row.get(0)?,
                    request_sha256_hex: row.get(1)?,
                    object_id: row.get(2)?,
                    response_json: row.get(3)?,
                    created_at_ms: row.get(4)?,
                })
            })
            .optional()?;
        Ok(found)
    }

    fn idempotency_records_created_before_exist(&self, created_before_ms: i64) -> StoreResult<bool> {
        Ok(self
            .connection()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM idempotency_records WHERE created_at_ms < ?1)")?
            .query_row([created_before_ms], |row| row.get(0))?)
    }
}

impl IdempotencyWrite for SqliteWrite<'_> {
    fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO idempotency_records (merchant_id, mode, key, operation, request_sha256_hex, object_id, \
                 response_json, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                record.scope.merchant_id,
                record.scope.mode.code(),
                record.key,
                record.operation,
                record.request_sha256_hex,
                record.object_id,
                record.response_json,
                record.created_at_ms
            ])?;
        Ok(())
    }

    fn purge_idempotency_records_created_before(&mut self, created_before_ms: i64, limit: u32) -> StoreResult<u32> {
        let deleted = self
            .connection
            .prepare_cached(
                "DELETE FROM idempotency_records WHERE (merchant_id, mode, key) IN ( \
                   SELECT merchant_id, mode, key FROM idempotency_records WHERE created_at_ms < ?1 \
                   ORDER BY created_at_ms LIMIT ?2)",
            )?
            .execute(params![created_before_ms, i64::from(limit)])?;
        Ok(u32::try_from(deleted).expect("at most `limit` rows are deleted"))
    }
}
