//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::principal::{Mode, Scope};
use crate::store::{DueStep, ScheduledStep, SchedulerRead, SchedulerWrite, StepRetry, StoreResult};

use crate::store::postgres::session::PgSession;

impl SchedulerRead for PgSession<'_> {
    fn due_test_payments(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        todo!("postgres: scheduler")
    }
    fn due_test_payouts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        todo!("postgres: scheduler")
    }
    fn expired_approvals(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        todo!("postgres: scheduler")
    }
    fn expired_payment_intents(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        todo!("postgres: scheduler")
    }
    fn expired_invoices(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        todo!("postgres: scheduler")
    }
    fn overdue_disputes(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        todo!("postgres: scheduler")
    }
    fn expired_invoices_in_scope(
        &self,
        scope: &Scope,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DueStep>> {
        todo!("postgres: scheduler")
    }
    fn parked_steps(&self, limit: u32) -> StoreResult<(Vec<StepRetry>, i64)> {
        todo!("postgres: scheduler")
    }
}

impl SchedulerWrite for PgSession<'_> {
    fn record_step_failure(&mut self, retry: &StepRetry) -> StoreResult<()> {
        todo!("postgres: scheduler")
    }
    fn clear_step_retry(&mut self, step: ScheduledStep, object_id: &str) -> StoreResult<()> {
        todo!("postgres: scheduler")
    }
}
