//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::principal::Scope;
use crate::store::{IdempotencyRead, IdempotencyRecord, IdempotencyWrite, StoreResult};

use crate::store::postgres::session::PgSession;

impl IdempotencyRead for PgSession<'_> {
    fn get_idempotency(&self, scope: &Scope, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        todo!("postgres: idempotency")
    }
    fn idempotency_records_created_before_exist(&self, created_before_ms: i64) -> StoreResult<bool> {
        todo!("postgres: idempotency")
    }
}

impl IdempotencyWrite for PgSession<'_> {
    fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> StoreResult<()> {
        todo!("postgres: idempotency")
    }
    fn purge_idempotency_records_created_before(&mut self, created_before_ms: i64, limit: u32) -> StoreResult<u32> {
        todo!("postgres: idempotency")
    }
}
