//! Idempotency records: what a key produced the first time, unique per scope and key, kept for
//! the retention and then purged oldest first.
//!
//! Across processes: the primary key settles two writers storing one key at once. The insert
//! does nothing on a conflict (waiting, under READ COMMITTED, for the other writer's transaction
//! to end) and reports `Conflict` itself, so the session is not aborted and the caller's
//! savepoint undoes only its command. Purges skip rows another purge is deleting.

use postgres::Row;

use crate::engine::principal::Scope;
use crate::store::postgres::rows::{get, inserted_or_conflict};
use crate::store::postgres::session::PgSession;
use crate::store::{IdempotencyRead, IdempotencyRecord, IdempotencyWrite, StoreResult};

fn record_from_row(row: &Row, scope: &Scope, key: &str) -> StoreResult<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        scope: scope.clone(),
        key: key.to_owned(),
        operation: get(row, "operation")?,
        request_sha256_hex: get(row, "request_sha256_hex")?,
        object_id: get(row, "object_id")?,
        response_json: get(row, "response_json")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

impl IdempotencyRead for PgSession<'_> {
    fn get_idempotency(&self, scope: &Scope, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let found = self.db().query_opt(
            "SELECT operation, request_sha256_hex, object_id, response_json, created_at_ms FROM idempotency_records \
             WHERE merchant_id = $1 AND mode = $2 AND key = $3",
            &[&scope.merchant_id, &scope.mode.code(), &key],
        )?;
        found.map(|row| record_from_row(&row, scope, key)).transpose()
    }

    fn idempotency_records_created_before_exist(&self, created_before_ms: i64) -> StoreResult<bool> {
        let row = self.db().query_one(
            "SELECT EXISTS (SELECT 1 FROM idempotency_records WHERE created_at_ms < $1) AS found",
            &[&created_before_ms],
        )?;
        get(&row, "found")
    }
}

impl IdempotencyWrite for PgSession<'_> {
    fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> StoreResult<()> {
        let inserted = self.db().execute(
            "INSERT INTO idempotency_records (merchant_id, mode, key, operation, request_sha256_hex, object_id, \
             response_json, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (merchant_id, mode, key) DO NOTHING",
            &[
                &record.scope.merchant_id,
                &record.scope.mode.code(),
                &record.key,
                &record.operation,
                &record.request_sha256_hex,
                &record.object_id,
                &record.response_json,
                &record.created_at_ms,
            ],
        )?;
        inserted_or_conflict(inserted, "idempotency_records")
    }

    fn purge_idempotency_records_created_before(&mut self, created_before_ms: i64, limit: u32) -> StoreResult<u32> {
        let deleted = self.db().execute(
            "DELETE FROM idempotency_records WHERE (merchant_id, mode, key) IN ( \
               SELECT merchant_id, mode, key FROM idempotency_records WHERE created_at_ms < $1 \
               ORDER BY created_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&created_before_ms, &i64::from(limit)],
        )?;
        Ok(u32::try_from(deleted).expect("at most `limit` rows are deleted"))
    }
}
