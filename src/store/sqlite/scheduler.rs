//! The scheduler's SQL for the SQLite backend: what is due, fairly across merchants, and the
//! retry records of steps that failed.

use rusqlite::{Connection, Row, params};

use crate::engine::principal::{Mode, Scope};
use crate::store::sqlite::rows::parsed;
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{DueStep, ScheduledStep, SchedulerRead, SchedulerWrite, StepRetry, StoreResult};

impl<T: HasConnection> SchedulerRead for T {
    fn due_test_payments(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        due_steps(self.connection(), ScheduledStep::SettleTestPayment, now_ms, limit)
    }

    fn due_test_payouts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        due_steps(self.connection(), ScheduledStep::AdvanceTestPayout, now_ms, limit)
    }

    fn expired_approvals(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        due_steps(self.connection(), ScheduledStep::ExpireApproval, now_ms, limit)
    }

    fn expired_payment_intents(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        due_steps(self.connection(), ScheduledStep::ExpirePayment, now_ms, limit)
    }

    fn expired_invoices(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        expired_invoices_on_merchant_clocks(self.connection(), now_ms, limit)
    }

    fn overdue_disputes(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        due_steps(self.connection(), ScheduledStep::CloseOverdueDispute, now_ms, limit)
    }

    fn expired_invoices_in_scope(
        &self,
        scope: &Scope,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DueStep>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT o.id AS object_id, o.merchant_id, o.mode, COALESCE(r.attempts, 0) AS failed_attempts \
             FROM invoices o LEFT JOIN scheduled_step_retries r ON r.step = 'expire_invoice' AND r.object_id = o.id \
             WHERE o.merchant_id = ?1 AND o.mode = ?2 AND o.status = 'open' AND o.expires_at_ms IS NOT NULL \
             AND o.expires_at_ms <= ?3 AND (r.object_id IS NULL OR r.next_attempt_at_ms <= ?4) \
             ORDER BY o.expires_at_ms, o.seq LIMIT ?5",
        )?;
        let rows = statement.query_map(
            params![scope.merchant_id, scope.mode.code(), until_ms, now_ms, i64::from(limit)],
            due_step_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn parked_steps(&self, limit: u32) -> StoreResult<(Vec<StepRetry>, i64)> {
        parked_steps(self.connection(), limit)
    }
}

impl SchedulerWrite for SqliteWrite<'_> {
    fn record_step_failure(&mut self, retry: &StepRetry) -> StoreResult<()> {
        record_step_failure(&self.connection, retry)
    }

    fn clear_step_retry(&mut self, step: ScheduledStep, object_id: &str) -> StoreResult<()> {
        clear_step_retry(&self.connection, step, object_id)
    }
}

/// Where each kind of step finds its work: the table, the column holding the time it falls
/// due, and what else makes a row due.
fn due_source(step: ScheduledStep) -> (&'static str, &'static str, &'static str) {
    match step {
        ScheduledStep::ExpireApproval => ("payouts", "approval_expires_at_ms", "status = 'pending_approval'"),
        ScheduledStep::SettleTestPayment => ("payment_intents", "auto_settle_at_ms", "mode = 'test'"),
        ScheduledStep::AdvanceTestPayout => ("payouts", "simulate_at_ms", "mode = 'test'"),
        // Written as the partial index `payment_intents_expiring` is, so that SQLite uses it.
        ScheduledStep::ExpirePayment => {
            ("payment_intents", "expires_at_ms", "status IN ('requires_action', 'partially_paid')")
        }
        // Written as the partial index `invoices_expiring` is.
        ScheduledStep::ExpireInvoice => ("invoices", "expires_at_ms", "status = 'open'"),
        // On real time; the billing run reads `due_subscriptions`, which adds test clocks.
        ScheduledStep::CloseSubscriptionPeriod => ("subscriptions", "due_at_ms", "due_at_ms IS NOT NULL"),
        // Written as the partial index `disputes_awaiting_response` is (migration 17).
        ScheduledStep::CloseOverdueDispute => ("disputes", "evidence_due_by_ms", "status = 'needs_response'"),
    }
}

/// The due steps of one kind, at most `limit`. A step waiting for its retry, or parked, is left
/// out, so a step that keeps failing cannot take the place of others. `ROW_NUMBER` per merchant
/// and mode numbers each merchant's steps by due time, and the batch takes every merchant's
/// first before any merchant's second (round robin), so one merchant's backlog, however old,
/// cannot delay another merchant's steps; a merchant alone still gets the whole batch.
fn due_steps(connection: &Connection, step: ScheduledStep, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
    let mut statement = connection.prepare_cached(&due_steps_sql(step))?;
    let rows = statement.query_map(params![step.code(), now_ms, i64::from(limit)], due_step_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn due_steps_sql(step: ScheduledStep) -> String {
    let (table, due_column, condition) = due_source(step);
    format!(
        "SELECT object_id, merchant_id, mode, failed_attempts FROM ( \
           SELECT o.id AS object_id, o.merchant_id, o.mode, o.{due_column} AS due_at_ms, o.seq, \
                  COALESCE(r.attempts, 0) AS failed_attempts, \
                  ROW_NUMBER() OVER (PARTITION BY o.merchant_id, o.mode ORDER BY o.{due_column}, o.seq) AS turn \
           FROM {table} o LEFT JOIN scheduled_step_retries r ON r.step = ?1 AND r.object_id = o.id \
           WHERE o.{due_column} <= ?2 AND o.{condition} AND (r.object_id IS NULL OR r.next_attempt_at_ms <= ?2) \
         ) ORDER BY turn, due_at_ms, seq LIMIT ?3"
    )
}

fn due_step_from_row(row: &Row<'_>) -> rusqlite::Result<DueStep> {
    let mode: String = row.get("mode")?;
    Ok(DueStep {
        object_id: row.get("object_id")?,
        scope: Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        failed_attempts: row.get("failed_attempts")?,
    })
}

/// Open invoices past their expiry in their merchant's billing time: real time `now_ms`, plus
/// the merchant's test clock for test-mode invoices (a test-mode invoice is finalized on that
/// clock). Taken as `due_steps` takes them (round robin over merchants): those due in real time
/// through the `invoices_expiring` range, and those only due on a clock from each clocked
/// merchant's invoices beyond it.
fn expired_invoices_on_merchant_clocks(connection: &Connection, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
    let mut statement = connection.prepare_cached(
        "WITH due AS ( \
           SELECT o.id, o.merchant_id, o.mode, o.expires_at_ms, o.seq FROM invoices o \
             WHERE o.expires_at_ms <= ?2 AND o.expires_at_ms IS NOT NULL AND o.status = 'open' \
           UNION ALL \
           SELECT o.id, o.merchant_id, o.mode, o.expires_at_ms, o.seq FROM test_clocks c \
             JOIN invoices o ON o.merchant_id = c.merchant_id AND o.mode = 'test' \
             WHERE o.expires_at_ms > ?2 AND o.expires_at_ms <= ?2 + c.offset_ms AND o.status = 'open' \
         ) \
         SELECT object_id, merchant_id, mode, failed_attempts FROM ( \
           SELECT d.id AS object_id, d.merchant_id, d.mode, d.expires_at_ms AS due_at_ms, d.seq, \
                  COALESCE(r.attempts, 0) AS failed_attempts, \
                  ROW_NUMBER() OVER (PARTITION BY d.merchant_id, d.mode ORDER BY d.expires_at_ms, d.seq) AS turn \
           FROM due d LEFT JOIN scheduled_step_retries r ON r.step = ?1 AND r.object_id = d.id \
           WHERE r.object_id IS NULL OR r.next_attempt_at_ms <= ?2 \
         ) ORDER BY turn, due_at_ms, seq LIMIT ?3",
    )?;
    let step = ScheduledStep::ExpireInvoice.code();
    let rows = statement.query_map(params![step, now_ms, i64::from(limit)], due_step_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn retry_from_row(row: &Row<'_>) -> rusqlite::Result<StepRetry> {
    let (step, mode): (String, String) = (row.get("step")?, row.get("mode")?);
    Ok(StepRetry {
        step: parsed(ScheduledStep::parse(&step), "scheduled step", &step)?,
        object_id: row.get("object_id")?,
        scope: Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        attempts: row.get("attempts")?,
        last_error: row.get("last_error")?,
        last_attempt_at_ms: row.get("last_attempt_at_ms")?,
        next_attempt_at_ms: row.get("next_attempt_at_ms")?,
    })
}

fn parked_steps(connection: &Connection, limit: u32) -> StoreResult<(Vec<StepRetry>, i64)> {
    let mut statement = connection.prepare_cached(
        "SELECT step, object_id, merchant_id, mode, attempts, last_error, last_attempt_at_ms, next_attempt_at_ms \
         FROM scheduled_step_retries WHERE next_attempt_at_ms IS NULL ORDER BY last_attempt_at_ms, step, object_id LIMIT ?1",
    )?;
    let parked = statement.query_map([i64::from(limit)], retry_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    let count = connection
        .prepare_cached("SELECT COUNT(*) FROM scheduled_step_retries WHERE next_attempt_at_ms IS NULL")?
        .query_row([], |row| row.get(0))?;
    Ok((parked, count))
}

fn record_step_failure(connection: &Connection, retry: &StepRetry) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO scheduled_step_retries (step, object_id, merchant_id, mode, attempts, last_error, \
             last_attempt_at_ms, next_attempt_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            retry.step.code(),
            retry.object_id,
            retry.scope.merchant_id,
            retry.scope.mode.code(),
            retry.attempts,
            retry.last_error,
            retry.last_attempt_at_ms,
            retry.next_attempt_at_ms
        ])?;
    Ok(())
}

fn clear_step_retry(connection: &Connection, step: ScheduledStep, object_id: &str) -> StoreResult<()> {
    connection
        .prepare_cached("DELETE FROM scheduled_step_retries WHERE step = ?1 AND object_id = ?2")?
        .execute(params![step.code(), object_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overdue-dispute query reads the partial index of disputes awaiting a response, not
    /// every dispute ever opened.
    #[test]
    fn overdue_disputes_are_found_through_their_partial_index() {
        let connection = Connection::open_in_memory().unwrap();
        crate::store::sqlite::apply_migrations(&connection).unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", due_steps_sql(ScheduledStep::CloseOverdueDispute));
        let mut statement = connection.prepare(&sql).unwrap();
        let plan: Vec<String> = statement
            .query_map(params!["close_overdue_dispute", 0, 10], |row| row.get::<_, String>("detail"))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(plan.iter().any(|step| step.contains("USING INDEX disputes_awaiting_response")), "{plan:?}");
    }
}
