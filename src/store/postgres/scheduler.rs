//! The scheduler's SQL for the PostgreSQL backend: what is due, fairly across merchants, and the
//! retry records of steps that failed.
//!
//! Exactly once across processes. One process at a time per database runs the scheduler
//! (`Store::holds_lease`), but two batches can still meet on one step: tools run scheduled work
//! in any process (`advance_test_clock` expires its scope's invoices), and a lease can pass to
//! another process while its old holder's batch is still running (the lease's connection lost,
//! the batch's not). Two things keep a step from being done twice:
//!
//! 1. A batch takes its steps. In a write session the due queries return only the steps whose
//!    object row this session could lock (`FOR UPDATE SKIP LOCKED`), re-checked on the row as it
//!    is now: still due, and neither waiting for a retry nor parked. The lock lasts until the
//!    batch's transaction ends, so while one batch works on a step, another leaves it out instead
//!    of waiting; once the first has committed, the step is no longer due (each step moves its
//!    object out of the due set, or records a retry time); a process killed mid-batch loses its
//!    connection and with it the locks, and the step is due again for the others. A step skipped
//!    because an agent's write holds its row is taken at the next tick.
//! 2. Each step re-loads its object with `…_for_update` and decides again on what it finds
//!    (src/app/scheduler.rs, src/app/transitions.rs): invoice expiry, overdue-dispute close and
//!    the billing close do nothing when the object is no longer due; approval expiry, payment
//!    expiry and the simulated payer are refused by the engine (the status moved on), so nothing
//!    is written twice, but the refusal is recorded as a failed try. The simulated payout rail
//!    does not re-check the due time: finding the payout already advanced, it does the *next*
//!    step, so without (1) a payout taken by two batches at once would go pending → processing →
//!    paid in one tick. (1) makes each step happen once and on time; (2) keeps money right even so.
//!
//! Read sessions (the scheduler's cheap "anything due?" check) lock nothing. A retry record is
//! written by the batch holding the step's row, so two batches do not both count one failure.

use std::collections::HashSet;

use postgres::Row;

use crate::engine::principal::Scope;
use crate::store::postgres::rows::{get, parsed, scope_from_row};
use crate::store::postgres::session::PgSession;
use crate::store::{DueStep, ScheduledStep, SchedulerRead, SchedulerWrite, StepRetry, StoreError, StoreResult};

impl SchedulerRead for PgSession<'_> {
    fn due_test_payments(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        self.due_steps(ScheduledStep::SettleTestPayment, now_ms, limit)
    }

    fn due_test_payouts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        self.due_steps(ScheduledStep::AdvanceTestPayout, now_ms, limit)
    }

    fn expired_approvals(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        self.due_steps(ScheduledStep::ExpireApproval, now_ms, limit)
    }

    fn expired_payment_intents(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        self.due_steps(ScheduledStep::ExpirePayment, now_ms, limit)
    }

    fn expired_invoices(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        let step = ScheduledStep::ExpireInvoice;
        let rows =
            self.db().query(EXPIRED_INVOICES_ON_MERCHANT_CLOCKS_SQL, &[&step.code(), &now_ms, &i64::from(limit)])?;
        self.taken(step, due_steps_from_rows(&rows)?, now_ms)
    }

    fn overdue_disputes(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        self.due_steps(ScheduledStep::CloseOverdueDispute, now_ms, limit)
    }

    fn expired_invoices_in_scope(
        &self,
        scope: &Scope,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DueStep>> {
        let rows = self.db().query(
            "SELECT o.id AS object_id, o.merchant_id, o.mode, COALESCE(r.attempts, 0) AS failed_attempts \
             FROM invoices o LEFT JOIN scheduled_step_retries r ON r.step = 'expire_invoice' AND r.object_id = o.id \
             WHERE o.merchant_id = $1 AND o.mode = $2 AND o.status = 'open' AND o.expires_at_ms IS NOT NULL \
             AND o.expires_at_ms <= $3 AND (r.object_id IS NULL OR r.next_attempt_at_ms <= $4) \
             ORDER BY o.expires_at_ms, o.seq LIMIT $5",
            &[&scope.merchant_id, &scope.mode.code(), &until_ms, &now_ms, &i64::from(limit)],
        )?;
        self.taken(ScheduledStep::ExpireInvoice, due_steps_from_rows(&rows)?, now_ms)
    }

    fn parked_steps(&self, limit: u32) -> StoreResult<(Vec<StepRetry>, i64)> {
        let rows = self.db().query(
            "SELECT step, object_id, merchant_id, mode, attempts, last_error, last_attempt_at_ms, next_attempt_at_ms \
             FROM scheduled_step_retries WHERE next_attempt_at_ms IS NULL \
             ORDER BY last_attempt_at_ms, step, object_id LIMIT $1",
            &[&i64::from(limit)],
        )?;
        let parked = rows.iter().map(retry_from_row).collect::<StoreResult<Vec<_>>>()?;
        let count = self
            .db()
            .query_one("SELECT COUNT(*) AS parked FROM scheduled_step_retries WHERE next_attempt_at_ms IS NULL", &[])?;
        Ok((parked, get(&count, "parked")?))
    }
}

impl SchedulerWrite for PgSession<'_> {
    fn record_step_failure(&mut self, retry: &StepRetry) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO scheduled_step_retries (step, object_id, merchant_id, mode, attempts, last_error, \
             last_attempt_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (step, object_id) DO UPDATE SET merchant_id = EXCLUDED.merchant_id, mode = EXCLUDED.mode, \
             attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, \
             last_attempt_at_ms = EXCLUDED.last_attempt_at_ms, next_attempt_at_ms = EXCLUDED.next_attempt_at_ms",
            &[
                &retry.step.code(),
                &retry.object_id,
                &retry.scope.merchant_id,
                &retry.scope.mode.code(),
                &i64::from(retry.attempts),
                &retry.last_error,
                &retry.last_attempt_at_ms,
                &retry.next_attempt_at_ms,
            ],
        )?;
        Ok(())
    }

    fn clear_step_retry(&mut self, step: ScheduledStep, object_id: &str) -> StoreResult<()> {
        self.db().execute(
            "DELETE FROM scheduled_step_retries WHERE step = $1 AND object_id = $2",
            &[&step.code(), &object_id],
        )?;
        Ok(())
    }
}

/// Where each kind of step finds its work: the table, the column holding the time it falls
/// due, and what else makes a row due.
fn due_source(step: ScheduledStep) -> (&'static str, &'static str, &'static str) {
    match step {
        ScheduledStep::ExpireApproval => ("payouts", "approval_expires_at_ms", "status = 'pending_approval'"),
        ScheduledStep::SettleTestPayment => ("payment_intents", "auto_settle_at_ms", "mode = 'test'"),
        ScheduledStep::AdvanceTestPayout => ("payouts", "simulate_at_ms", "mode = 'test'"),
        // Written as the partial index `payment_intents_expiring` is, so that the planner uses it.
        ScheduledStep::ExpirePayment => {
            ("payment_intents", "expires_at_ms", "status IN ('requires_action', 'partially_paid')")
        }
        // Written as the partial index `invoices_expiring` is.
        ScheduledStep::ExpireInvoice => ("invoices", "expires_at_ms", "status = 'open'"),
        // On real time; the billing run reads `due_subscriptions`, which adds test clocks.
        ScheduledStep::CloseSubscriptionPeriod => ("subscriptions", "due_at_ms", "due_at_ms IS NOT NULL"),
        // Written as the partial index `disputes_awaiting_response` is.
        ScheduledStep::CloseOverdueDispute => ("disputes", "evidence_due_by_ms", "status = 'needs_response'"),
    }
}

/// The due steps of one kind, at most `limit`. A step waiting for its retry, or parked, is left
/// out, so a step that keeps failing cannot take the place of others. `ROW_NUMBER` per merchant
/// and mode numbers each merchant's steps by due time, and the batch takes every merchant's
/// first before any merchant's second (round robin), so one merchant's backlog, however old,
/// cannot delay another merchant's steps; a merchant alone still gets the whole batch.
fn due_steps_sql(step: ScheduledStep) -> String {
    let (table, due_column, condition) = due_source(step);
    format!(
        "SELECT object_id, merchant_id, mode, failed_attempts FROM ( \
           SELECT o.id AS object_id, o.merchant_id, o.mode, o.{due_column} AS due_at_ms, o.seq, \
                  COALESCE(r.attempts, 0) AS failed_attempts, \
                  ROW_NUMBER() OVER (PARTITION BY o.merchant_id, o.mode ORDER BY o.{due_column}, o.seq) AS turn \
           FROM {table} o LEFT JOIN scheduled_step_retries r ON r.step = $1 AND r.object_id = o.id \
           WHERE o.{due_column} <= $2 AND o.{condition} AND (r.object_id IS NULL OR r.next_attempt_at_ms <= $2) \
         ) AS due ORDER BY turn, due_at_ms, seq LIMIT $3"
    )
}

/// Open invoices past their expiry in their merchant's billing time: real time `now_ms`, plus
/// the merchant's test clock for test-mode invoices (a test-mode invoice is finalized on that
/// clock). Taken as `due_steps_sql` takes them (round robin over merchants): those due in real
/// time through the `invoices_expiring` range, and those only due on a clock from each clocked
/// merchant's invoices beyond it.
const EXPIRED_INVOICES_ON_MERCHANT_CLOCKS_SQL: &str = "WITH due AS ( \
       SELECT o.id, o.merchant_id, o.mode, o.expires_at_ms, o.seq FROM invoices o \
         WHERE o.expires_at_ms <= $2 AND o.expires_at_ms IS NOT NULL AND o.status = 'open' \
       UNION ALL \
       SELECT o.id, o.merchant_id, o.mode, o.expires_at_ms, o.seq FROM test_clocks c \
         JOIN invoices o ON o.merchant_id = c.merchant_id AND o.mode = 'test' \
         WHERE o.expires_at_ms > $2 AND o.expires_at_ms <= $2 + c.offset_ms AND o.status = 'open' \
     ) \
     SELECT object_id, merchant_id, mode, failed_attempts FROM ( \
       SELECT d.id AS object_id, d.merchant_id, d.mode, d.expires_at_ms AS due_at_ms, d.seq, \
              COALESCE(r.attempts, 0) AS failed_attempts, \
              ROW_NUMBER() OVER (PARTITION BY d.merchant_id, d.mode ORDER BY d.expires_at_ms, d.seq) AS turn \
       FROM due d LEFT JOIN scheduled_step_retries r ON r.step = $1 AND r.object_id = d.id \
       WHERE r.object_id IS NULL OR r.next_attempt_at_ms <= $2 \
     ) AS due_steps ORDER BY turn, due_at_ms, seq LIMIT $3";

/// What a row must still be, when it is locked, for its step to be taken: the due condition
/// on the row as it is now, and no retry record that makes it wait or parks it. (An invoice's
/// expiry is checked on its merchant's clock by the query that found it, and never moves once
/// the invoice is open: only its status is checked again.)
fn take_steps_sql(step: ScheduledStep) -> String {
    let (table, due_column, condition) = due_source(step);
    let still_due = match step {
        ScheduledStep::ExpireInvoice => format!("o.{condition}"),
        _ => format!("o.{due_column} <= $3 AND o.{condition}"),
    };
    format!(
        "SELECT o.id FROM {table} o WHERE o.id = ANY($1) AND {still_due} \
         AND NOT EXISTS (SELECT 1 FROM scheduled_step_retries r WHERE r.step = $2 AND r.object_id = o.id \
           AND (r.next_attempt_at_ms IS NULL OR r.next_attempt_at_ms > $3)) \
         FOR UPDATE OF o SKIP LOCKED"
    )
}

impl PgSession<'_> {
    fn due_steps(&self, step: ScheduledStep, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        let rows = self.db().query(&due_steps_sql(step), &[&step.code(), &now_ms, &i64::from(limit)])?;
        self.taken(step, due_steps_from_rows(&rows)?, now_ms)
    }

    /// In a write session (a scheduler batch), the `candidates` this session takes, in their
    /// order: those whose rows it could lock and that are still due (module comment, 1). A read
    /// session only looks.
    fn taken(&self, step: ScheduledStep, candidates: Vec<DueStep>, now_ms: i64) -> StoreResult<Vec<DueStep>> {
        if !self.is_write || candidates.is_empty() {
            return Ok(candidates);
        }
        let ids: Vec<&str> = candidates.iter().map(|due| due.object_id.as_str()).collect();
        let rows = self.db().query(&take_steps_sql(step), &[&ids, &step.code(), &now_ms])?;
        let locked = rows.iter().map(|row| get::<String>(row, "id")).collect::<StoreResult<HashSet<String>>>()?;
        Ok(candidates.into_iter().filter(|due| locked.contains(&due.object_id)).collect())
    }
}

fn due_steps_from_rows(rows: &[Row]) -> StoreResult<Vec<DueStep>> {
    rows.iter()
        .map(|row| {
            Ok(DueStep {
                object_id: get(row, "object_id")?,
                scope: scope_from_row(row)?,
                failed_attempts: attempts(row, "failed_attempts")?,
            })
        })
        .collect()
}

fn retry_from_row(row: &Row) -> StoreResult<StepRetry> {
    let step: String = get(row, "step")?;
    Ok(StepRetry {
        step: parsed(ScheduledStep::parse(&step), "scheduled step", &step)?,
        object_id: get(row, "object_id")?,
        scope: scope_from_row(row)?,
        attempts: attempts(row, "attempts")?,
        last_error: get(row, "last_error")?,
        last_attempt_at_ms: get(row, "last_attempt_at_ms")?,
        next_attempt_at_ms: get(row, "next_attempt_at_ms")?,
    })
}

/// A count of tries, stored as BIGINT and held as `u32`; anything beyond is corruption.
fn attempts(row: &Row, column: &str) -> StoreResult<u32> {
    let value: i64 = get(row, column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("column {column}: {value} tries is out of range")))
}
