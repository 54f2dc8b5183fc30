//! The scheduler: approval expiries in every mode and, in test mode, the simulated rails (a payer
//! who pays promptly, a bank that moves payouts along). It ticks every `SIMULATOR_TICK_MS`, and
//! nothing one merchant's objects do can stop it for the others:
//!
//! - approval expiries (a safety rule: the reserved funds come back) run first, as a write of
//!   their own with their own batch, never queued behind test-mode work; payment intents past
//!   their expiry are expired next, in every mode, in a write and batch of their own (what a
//!   half-paid one received goes back to the payer), then open invoices past theirs, likewise
//!   (their intents are canceled, and what they received is credited to the customer), then
//!   disputes left unanswered past their evidence due date, closed as lost;
//! - a batch takes merchants in turns (round robin in the due queries), so one merchant's
//!   backlog, however old, waits behind every other merchant's oldest step;
//! - each step runs in its own savepoint with panics caught, so a failing step undoes only
//!   itself. It is retried after an exponential backoff (`RetryPolicy`), and after its last try
//!   it is parked: not picked again, with an audit record (actor `harepay`) and a
//!   `scheduler.step_parked` event committed with its retry record;
//! - idempotency records past their retention (`IdempotencyRetention`, at least a day) are
//!   purged after the other work, in bounded batches, each a write of its own;
//! - warnings are rate-limited per kind (`LogRateLimiter`), and a caught panic is reported
//!   through them instead of the panic hook.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::app::billing::BillingStep;
use crate::app::error::AppError;
use crate::app::invoices::{expire_invoice, load_invoice_for_update};
use crate::app::transitions::{
    advance_test_payout, expire_approval, expire_payment, load_payment_for_update, load_payout_for_update,
    settle_payment,
};
use crate::app::write::{AuditEntry, emit_json};
use crate::app::{App, WriteContext};
use crate::engine::principal::Scope;
use crate::engine::retry::{RetryDecision, RetryPolicy};
use crate::limits::{
    BILLING_BATCH_MAX_PERIODS, IDEMPOTENCY_PURGE_BATCH_MAX_RECORDS, IDEMPOTENCY_RETENTION_DEFAULT_HOURS,
    IDEMPOTENCY_RETENTION_MAX_HOURS, IDEMPOTENCY_RETENTION_MIN_HOURS, SCHEDULER_ERROR_DETAIL_MAX_CHARS,
    SCHEDULER_EXPIRY_BATCH_MAX_STEPS, SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS, SCHEDULER_LOG_INTERVAL_MS,
    SCHEDULER_OVERDUE_DISPUTE_BATCH_MAX_STEPS, SCHEDULER_PAYMENT_EXPIRY_BATCH_MAX_STEPS,
    SCHEDULER_TEST_RAIL_BATCH_MAX_STEPS, SIMULATOR_TICK_MS,
};
use crate::store::{BackgroundJob, DueStep, ScheduledStep, StepRetry, StoreWrite};
use crate::views::ParkedStepView;

/// One write of the scheduler's. Expiries and the test rails are separate writes, so that
/// expiries never wait for simulation work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduledWork {
    /// Payouts whose approval window closed unanswered.
    ApprovalExpiries,
    /// Payment intents still waiting for the payer past their `expires_at_ms`.
    PaymentExpiries,
    /// Open invoices past their `expires_at_ms` (their payment intents are canceled with them),
    /// test-mode ones on their merchant's test clock.
    InvoiceExpiries,
    /// Disputes still `needs_response` past their evidence due date, closed as lost.
    OverdueDisputes,
    /// One scope's open invoices past their expiry in its billing time (`advance_test_clock`).
    InvoiceExpiriesInScope { scope: Scope },
    /// Test-mode settlements, then test-mode payout steps.
    TestRails,
    /// Idempotency records created before `created_before_ms` (past their retention), oldest
    /// first, at most `IDEMPOTENCY_PURGE_BATCH_MAX_RECORDS`; each deleted record is a step done.
    IdempotencyPurge { created_before_ms: i64 },
    /// Up to `BILLING_BATCH_MAX_PERIODS` subscription periods that ended in their merchant's
    /// billing time, oldest first, each closed once (`app::billing`): `scope`'s, or everyone's.
    Billing { scope: Option<Scope> },
}

/// How long idempotency records are kept before the scheduler purges them: at least
/// `IDEMPOTENCY_RETENTION_MIN_HOURS`, so that a client retrying within a day always gets its
/// first result back and never a second execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyRetention {
    hours: u32,
}

impl IdempotencyRetention {
    pub fn from_hours(hours: u32) -> Result<IdempotencyRetention, String> {
        let allowed = IDEMPOTENCY_RETENTION_MIN_HOURS..=IDEMPOTENCY_RETENTION_MAX_HOURS;
        if !allowed.contains(&hours) {
            return Err(format!(
                "idempotency records are kept {} to {} hours, not {hours}",
                allowed.start(),
                allowed.end()
            ));
        }
        Ok(IdempotencyRetention { hours })
    }

    pub fn hours(self) -> u32 {
        self.hours
    }

    pub fn ms(self) -> i64 {
        i64::from(self.hours) * 60 * 60 * 1000
    }
}

impl Default for IdempotencyRetention {
    fn default() -> IdempotencyRetention {
        IdempotencyRetention { hours: IDEMPOTENCY_RETENTION_DEFAULT_HOURS }
    }
}

/// A step that failed in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub step: ScheduledStep,
    pub object_id: String,
    pub scope: Scope,
    /// Failed tries in a row, this one included.
    pub attempts: u32,
    /// The error as the retry record keeps it (bounded).
    pub error: String,
    /// When it is tried again; `None` when this failure parked it.
    pub next_attempt_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledWorkReport {
    pub steps_done: u32,
    pub failures: Vec<StepFailure>,
    /// Billing: periods closed (the other billing steps are collection checks).
    pub periods_closed: u32,
    /// Billing: the period invoices issued.
    pub billed: Vec<crate::views::billing::PeriodInvoiceView>,
}

impl ScheduledWorkReport {
    fn absorb(&mut self, other: ScheduledWorkReport) {
        self.steps_done += other.steps_done;
        self.failures.extend(other.failures);
        self.periods_closed += other.periods_closed;
        self.billed.extend(other.billed);
    }
}

impl App {
    /// One scheduler tick: expiries first, then the test rails, each as its own write. A cheap
    /// read first, so that an idle server does not queue empty writes.
    pub async fn run_scheduled_work(&self, policy: &RetryPolicy) -> Result<ScheduledWorkReport, AppError> {
        let now_ms = self.now_ms();
        let (
            expiries_due,
            payment_expiries_due,
            invoice_expiries_due,
            overdue_disputes_due,
            test_rails_due,
            billing_due,
        ) = self
            .read(move |store| {
                Ok((
                    !store.expired_approvals(now_ms, 1)?.is_empty(),
                    !store.expired_payment_intents(now_ms, 1)?.is_empty(),
                    !store.expired_invoices(now_ms, 1)?.is_empty(),
                    !store.overdue_disputes(now_ms, 1)?.is_empty(),
                    !store.due_test_payments(now_ms, 1)?.is_empty() || !store.due_test_payouts(now_ms, 1)?.is_empty(),
                    !store.due_subscriptions(now_ms, None, None, 1)?.is_empty(),
                ))
            })
            .await?;
        let mut report = ScheduledWorkReport::default();
        let expiries = if expiries_due {
            self.run_scheduled_batch(ScheduledWork::ApprovalExpiries, policy).await.map(|batch| report.absorb(batch))
        } else {
            Ok(())
        };
        let payment_expiries = if payment_expiries_due {
            self.run_scheduled_batch(ScheduledWork::PaymentExpiries, policy).await.map(|batch| report.absorb(batch))
        } else {
            Ok(())
        };
        let invoice_expiries = if invoice_expiries_due {
            self.run_scheduled_batch(ScheduledWork::InvoiceExpiries, policy).await.map(|batch| report.absorb(batch))
        } else {
            Ok(())
        };
        let overdue_disputes = if overdue_disputes_due {
            self.run_scheduled_batch(ScheduledWork::OverdueDisputes, policy).await.map(|batch| report.absorb(batch))
        } else {
            Ok(())
        };
        if test_rails_due {
            // Runs even when the expiries' write failed: the two do not depend on each other.
            report.absorb(self.run_scheduled_batch(ScheduledWork::TestRails, policy).await?);
        }
        if billing_due {
            let mut run = crate::views::billing::BillingRunView::default();
            // Bounded, so that a backlog cannot hold up the expiries and rails of the next ticks.
            let max_batches = crate::limits::SCHEDULER_BILLING_MAX_BATCHES_PER_TICK;
            self.run_billing_batches_at_most(None, &mut run, max_batches).await?;
            report.steps_done += u32::try_from(run.periods_closed).unwrap_or(u32::MAX);
        }
        expiries?;
        payment_expiries?;
        invoice_expiries?;
        overdue_disputes?;
        Ok(report)
    }

    async fn run_scheduled_batch(
        &self,
        work: ScheduledWork,
        policy: &RetryPolicy,
    ) -> Result<ScheduledWorkReport, AppError> {
        let policy = *policy;
        self.submit(move |session, context| run_scheduled_work(session, context, work, &policy)).await
    }

    /// Deletes idempotency records older than `retention`, oldest first, at most
    /// `IDEMPOTENCY_PURGE_BATCH_MAX_RECORDS` of them, in a write of its own (none when nothing is
    /// that old). Returns how many it deleted. A key whose record is gone is new again.
    pub async fn purge_idempotency_records(&self, retention: IdempotencyRetention) -> Result<u32, AppError> {
        let created_before_ms = self.now_ms().saturating_sub(retention.ms());
        let due =
            self.read(move |store| Ok(store.idempotency_records_created_before_exist(created_before_ms)?)).await?;
        if !due {
            return Ok(0);
        }
        // A purge has no steps to retry: the policy is not used.
        let work = ScheduledWork::IdempotencyPurge { created_before_ms };
        Ok(self.run_scheduled_batch(work, &RetryPolicy::default()).await?.steps_done)
    }

    /// Parked scheduled steps, oldest first (at most `limit`), and how many there are in all.
    pub async fn parked_steps(&self, limit: u32) -> Result<(Vec<StepRetry>, i64), AppError> {
        self.read(move |store| Ok(store.parked_steps(limit)?)).await
    }
}

/// Runs until the process ends. Each tick also purges idempotency records past `retention`.
pub fn spawn_scheduler(app: App, policy: RetryPolicy, retention: IdempotencyRetention) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(SIMULATOR_TICK_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut log = LogRateLimiter::new(SCHEDULER_LOG_INTERVAL_MS);
        loop {
            tick.tick().await;
            if !app.holds_lease(BackgroundJob::Scheduler).await {
                continue;
            }
            let outcome = app.run_scheduled_work(&policy).await;
            let purged = app.purge_idempotency_records(retention).await;
            let now_ms = app.now_ms();
            match outcome {
                Ok(report) => log_failures(&mut log, now_ms, &report),
                Err(error) => {
                    if let Some(suppressed) = log.admit("tick_failed", now_ms) {
                        // Debug, not Display: the operator needs the internal detail an agent never sees.
                        tracing::warn!(?error, suppressed_since_last = suppressed, "scheduler tick failed");
                    }
                }
            }
            match purged {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "purged idempotency records past their retention"),
                Err(error) => {
                    if let Some(suppressed) = log.admit("purge_failed", now_ms) {
                        tracing::warn!(?error, suppressed_since_last = suppressed, "idempotency purge failed");
                    }
                }
            }
            for (kind, suppressed) in log.take_overdue_suppressed(now_ms) {
                tracing::warn!(kind, suppressed, "scheduler log lines suppressed in the last interval");
            }
        }
    })
}

fn log_failures(log: &mut LogRateLimiter, now_ms: i64, report: &ScheduledWorkReport) {
    for failure in &report.failures {
        let (step, object, merchant) = (failure.step.code(), &failure.object_id, &failure.scope.merchant_id);
        match failure.next_attempt_at_ms {
            Some(next_attempt_at_ms) => {
                if let Some(suppressed) = log.admit("step_failed", now_ms) {
                    tracing::warn!(
                        step, %object, %merchant, attempts = failure.attempts, error = %failure.error,
                        retry_in_ms = next_attempt_at_ms - now_ms, suppressed_since_last = suppressed,
                        "a scheduled step failed; it will be retried after a backoff"
                    );
                }
            }
            None => {
                if let Some(suppressed) = log.admit("step_parked", now_ms) {
                    tracing::error!(
                        step, %object, %merchant, attempts = failure.attempts, error = %failure.error,
                        suppressed_since_last = suppressed,
                        "a scheduled step failed every try and is parked; `harepay verify` lists parked steps"
                    );
                }
            }
        }
    }
}

/// Runs one batch inside the writer's transaction.
pub(crate) fn run_scheduled_work(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    work: ScheduledWork,
    policy: &RetryPolicy,
) -> Result<ScheduledWorkReport, AppError> {
    let now_ms = context.now_ms;
    let mut runner = StepRunner { policy, now_ms, report: ScheduledWorkReport::default() };
    match work {
        ScheduledWork::ApprovalExpiries => {
            for due in session.expired_approvals(now_ms, SCHEDULER_EXPIRY_BATCH_MAX_STEPS)? {
                runner.run(session, context, ScheduledStep::ExpireApproval, &due, |session, context| {
                    let payout = load_payout_for_update(session, &due.scope, &due.object_id)?;
                    expire_approval(session, context, &payout)
                })?;
            }
        }
        ScheduledWork::PaymentExpiries => {
            for due in session.expired_payment_intents(now_ms, SCHEDULER_PAYMENT_EXPIRY_BATCH_MAX_STEPS)? {
                runner.run(session, context, ScheduledStep::ExpirePayment, &due, |session, context| {
                    let payment = load_payment_for_update(session, &due.scope, &due.object_id)?;
                    expire_payment(session, context, &payment).map(|_| ())
                })?;
            }
        }
        ScheduledWork::InvoiceExpiries => {
            for due in session.expired_invoices(now_ms, SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS)? {
                runner.run(session, context, ScheduledStep::ExpireInvoice, &due, |session, context| {
                    expire_invoice_on_its_clock(session, context, &due)
                })?;
            }
        }
        ScheduledWork::OverdueDisputes => {
            for due in session.overdue_disputes(now_ms, SCHEDULER_OVERDUE_DISPUTE_BATCH_MAX_STEPS)? {
                runner.run(session, context, ScheduledStep::CloseOverdueDispute, &due, |session, context| {
                    crate::app::disputes::close_overdue_dispute(session, context, &due.scope, &due.object_id)
                })?;
            }
        }
        ScheduledWork::InvoiceExpiriesInScope { scope } => {
            let until_ms = crate::app::subscriptions::billing_now_ms(session, &scope, now_ms)?;
            let limit = SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS;
            for due in session.expired_invoices_in_scope(&scope, until_ms, now_ms, limit)? {
                runner.run(session, context, ScheduledStep::ExpireInvoice, &due, |session, context| {
                    expire_invoice_on_its_clock(session, context, &due)
                })?;
            }
        }
        ScheduledWork::TestRails => {
            for due in session.due_test_payments(now_ms, SCHEDULER_TEST_RAIL_BATCH_MAX_STEPS)? {
                runner.run(session, context, ScheduledStep::SettleTestPayment, &due, |session, context| {
                    let payment = load_payment_for_update(session, &due.scope, &due.object_id)?;
                    // The simulated payer came after the intent's expiry: it expires instead.
                    if payment.lapsed_at(context.now_ms) {
                        return expire_payment(session, context, &payment).map(|_| ());
                    }
                    settle_payment(session, context, &payment).map(|_| ())
                })?;
            }
            for due in session.due_test_payouts(now_ms, SCHEDULER_TEST_RAIL_BATCH_MAX_STEPS)? {
                runner.run(session, context, ScheduledStep::AdvanceTestPayout, &due, |session, context| {
                    let payout = load_payout_for_update(session, &due.scope, &due.object_id)?;
                    // Re-decided under the row lock: a step another batch already took (the
                    // payout moved on and its next step is not due yet) is not taken again.
                    if payout.simulate_at_ms.is_none_or(|at_ms| at_ms > context.now_ms) {
                        return Ok(());
                    }
                    advance_test_payout(session, context, &payout)
                })?;
            }
        }
        ScheduledWork::Billing { scope } => {
            for due in session.due_subscriptions(now_ms, scope.as_ref(), None, BILLING_BATCH_MAX_PERIODS)? {
                let step = DueStep {
                    object_id: due.id.clone(),
                    scope: due.scope.clone(),
                    failed_attempts: due.failed_attempts,
                };
                let mut done = BillingStep::NothingDue;
                runner.run(session, context, ScheduledStep::CloseSubscriptionPeriod, &step, |session, context| {
                    done = crate::app::billing::close_due_period(session, context, &due)?;
                    Ok(())
                })?;
                if let BillingStep::PeriodClosed { invoice } = done {
                    runner.report.periods_closed += 1;
                    runner.report.billed.extend(invoice);
                }
            }
        }
        ScheduledWork::IdempotencyPurge { created_before_ms } => {
            // One statement: it deletes its whole batch or nothing, and the next tick tries again.
            runner.report.steps_done = session
                .purge_idempotency_records_created_before(created_before_ms, IDEMPOTENCY_PURGE_BATCH_MAX_RECORDS)?;
        }
    }
    Ok(runner.report)
}

/// Expires a due invoice at its merchant's billing time (real time, or in test mode real time
/// plus the test clock, on which a test-mode invoice is finalized): its events and audit record
/// are dated on that clock.
fn expire_invoice_on_its_clock(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    due: &DueStep,
) -> Result<(), AppError> {
    let invoice = load_invoice_for_update(session, &due.scope, &due.object_id)?;
    let now_ms = crate::app::subscriptions::billing_now_ms(session, &due.scope, context.now_ms)?;
    let mut on_its_clock = WriteContext { rules: context.rules, ids: &mut *context.ids, now_ms };
    expire_invoice(session, &mut on_its_clock, &invoice).map(|_| ())
}

struct StepRunner<'p> {
    policy: &'p RetryPolicy,
    now_ms: i64,
    report: ScheduledWorkReport,
}

/// Why a step failed: what its merchant may read (the error type and message an agent would
/// get), and what the operator reads (internal details and panic messages included).
struct StepError {
    error_type: &'static str,
    public_message: String,
    operator_detail: String,
}

impl StepRunner<'_> {
    /// Runs one step in its own savepoint, panics caught: a step that fails undoes only itself,
    /// and its failure is recorded for the retry.
    fn run(
        &mut self,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
        step: ScheduledStep,
        due: &DueStep,
        body: impl FnOnce(&mut dyn StoreWrite, &mut WriteContext<'_>) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let error = match catch_step_panic(|| session.in_savepoint(|tx| body(tx, &mut *context))) {
            Ok(Ok(())) => {
                if due.failed_attempts > 0 {
                    session.clear_step_retry(step, &due.object_id)?;
                }
                self.report.steps_done += 1;
                return Ok(());
            }
            Ok(Err(error)) => StepError {
                error_type: error.code(),
                public_message: error.to_string(),
                operator_detail: match &error {
                    AppError::Internal { detail } => detail.clone(),
                    other => other.to_string(),
                },
            },
            Err(panic_message) => StepError {
                error_type: "internal_error",
                public_message: "the step hit an internal invariant (a bug or damaged data)".to_owned(),
                operator_detail: format!("panicked: {panic_message}"),
            },
        };
        self.record_failure(session, context, step, due, error)
    }

    /// Saves the retry record, and when this was the last try the audit record and the event,
    /// all or nothing.
    fn record_failure(
        &mut self,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
        step: ScheduledStep,
        due: &DueStep,
        error: StepError,
    ) -> Result<(), AppError> {
        let attempts = due.failed_attempts.saturating_add(1);
        let next_attempt_at_ms = match self.policy.after_failure(attempts, self.now_ms) {
            RetryDecision::RetryAt { at_ms } => Some(at_ms),
            RetryDecision::Park => None,
        };
        let retry = StepRetry {
            step,
            object_id: due.object_id.clone(),
            scope: due.scope.clone(),
            attempts,
            last_error: bounded(&error.operator_detail),
            last_attempt_at_ms: self.now_ms,
            next_attempt_at_ms,
        };
        session.in_savepoint(|tx| save_failure(tx, context, &retry, &error))?;
        self.report.failures.push(StepFailure {
            step,
            object_id: retry.object_id,
            scope: retry.scope,
            attempts,
            error: retry.last_error,
            next_attempt_at_ms,
        });
        Ok(())
    }
}

fn save_failure(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    retry: &StepRetry,
    error: &StepError,
) -> Result<(), AppError> {
    session.record_step_failure(retry)?;
    if retry.next_attempt_at_ms.is_some() {
        return Ok(());
    }
    let (step, object_id, now_ms) = (retry.step.code(), &retry.object_id, retry.last_attempt_at_ms);
    let public_message = bounded(&error.public_message);
    let detail = format!(
        "parked {step} of {object_id} after {} failed tries; it is not tried again. Last error: {public_message}",
        retry.attempts
    );
    let mut entry = AuditEntry::system(&retry.scope, step, object_id, "parked", detail);
    entry.error_type = Some(error.error_type.to_owned());
    session.append_audit(&entry.into_record(context))?;
    let payload = ParkedStepView {
        object: "scheduled_step".to_owned(),
        object_id: object_id.clone(),
        step: step.to_owned(),
        attempts: retry.attempts,
        error_type: error.error_type.to_owned(),
        last_error: public_message,
        parked_at_ms: now_ms,
    };
    let payload_json = serde_json::to_string(&payload).expect("views serialize");
    emit_json(session, context, &retry.scope, "scheduler.step_parked", object_id, payload_json)
}

/// At most `SCHEDULER_ERROR_DETAIL_MAX_CHARS` characters of an error on one line (a panic
/// message may span several), marked when cut.
fn bounded(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match one_line.char_indices().nth(SCHEDULER_ERROR_DETAIL_MAX_CHARS) {
        None => one_line,
        Some((cut_at, _)) => format!("{}…", &one_line[..cut_at]),
    }
}

thread_local! {
    /// True while a scheduled step runs on this thread: a panic is then kept in `STEP_PANIC`
    /// instead of printed, and reported through the rate-limited log with the step's failure.
    static CAPTURING_STEP_PANIC: Cell<bool> = const { Cell::new(false) };
    static STEP_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `body`, turning a panic into its message and location.
fn catch_step_panic<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK_INSTALLED: std::sync::Once = std::sync::Once::new();
    HOOK_INSTALLED.call_once(|| {
        let previous_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CAPTURING_STEP_PANIC.get() {
                return previous_hook(info);
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a panic without a message");
            let location = info.location().map(|at| format!(" at {}:{}", at.file(), at.line())).unwrap_or_default();
            STEP_PANIC.set(Some(format!("{message}{location}")));
        }));
    });
    CAPTURING_STEP_PANIC.set(true);
    let outcome = catch_unwind(AssertUnwindSafe(body));
    CAPTURING_STEP_PANIC.set(false);
    outcome.map_err(|_| STEP_PANIC.take().unwrap_or_else(|| "a panic".to_owned()))
}

/// At most one log line per kind and interval; the next line let through says how many were
/// suppressed in between. A step failing thousands of times a second is one line, not thousands.
#[derive(Debug)]
pub struct LogRateLimiter {
    interval_ms: i64,
    kinds: HashMap<&'static str, RateLimitedKind>,
}

#[derive(Debug, Default)]
struct RateLimitedKind {
    last_logged_at_ms: Option<i64>,
    suppressed: u64,
}

impl LogRateLimiter {
    pub fn new(interval_ms: i64) -> LogRateLimiter {
        LogRateLimiter { interval_ms, kinds: HashMap::new() }
    }

    /// `Some(lines suppressed since the last one)` when a line of `kind` may be logged at `now_ms`.
    pub fn admit(&mut self, kind: &'static str, now_ms: i64) -> Option<u64> {
        let state = self.kinds.entry(kind).or_default();
        match state.last_logged_at_ms {
            Some(last_logged_at_ms) if now_ms.saturating_sub(last_logged_at_ms) < self.interval_ms => {
                state.suppressed += 1;
                None
            }
            _ => {
                state.last_logged_at_ms = Some(now_ms);
                Some(std::mem::take(&mut state.suppressed))
            }
        }
    }
}

impl LogRateLimiter {
    /// Kinds with lines suppressed and no line for a whole interval since, with their counts,
    /// so that the last burst of a kind is not silently lost; each counts as that kind's line.
    pub fn take_overdue_suppressed(&mut self, now_ms: i64) -> Vec<(&'static str, u64)> {
        let mut overdue = Vec::new();
        for (kind, state) in &mut self.kinds {
            let quiet_for_an_interval =
                state.last_logged_at_ms.is_none_or(|last| now_ms.saturating_sub(last) >= self.interval_ms);
            if state.suppressed > 0 && quiet_for_an_interval {
                state.last_logged_at_ms = Some(now_ms);
                overdue.push((*kind, std::mem::take(&mut state.suppressed)));
            }
        }
        overdue.sort();
        overdue
    }
}

/// Adds one batch's outcome to a run's.
pub(crate) fn absorb_batch(run: &mut crate::views::billing::BillingRunView, batch: &ScheduledWorkReport) {
    run.periods_closed += u64::from(batch.periods_closed);
    run.failures += batch.failures.len() as u64;
    run.invoices_issued += batch.billed.len() as u64;
    let room = (crate::limits::BILLING_BATCH_MAX_PERIODS as usize).saturating_sub(run.invoices.len());
    run.invoices.extend(batch.billed.iter().take(room).cloned());
}

impl App {
    /// Runs billing batches, each a write of its own, until no period of `scope` (every merchant's
    /// when `None`) is due in billing time; adds what they did to `run`.
    pub async fn run_billing_batches(
        &self,
        scope: Option<Scope>,
        run: &mut crate::views::billing::BillingRunView,
    ) -> Result<(), AppError> {
        self.run_billing_batches_at_most(scope, run, u32::MAX).await
    }

    /// `run_billing_batches`, stopping after `max_batches` batches with `run.more_due` true when
    /// periods may still be due: the scheduler's tick, which must come round to its other work.
    pub(crate) async fn run_billing_batches_at_most(
        &self,
        scope: Option<Scope>,
        run: &mut crate::views::billing::BillingRunView,
        max_batches: u32,
    ) -> Result<(), AppError> {
        let policy = RetryPolicy::default();
        for _ in 0..max_batches {
            let work = ScheduledWork::Billing { scope: scope.clone() };
            let batch = self
                .submit(move |session, context| {
                    crate::app::scheduler::run_scheduled_work(session, context, work, &policy)
                })
                .await?;
            absorb_batch(run, &batch);
            // A batch takes each due subscription once (oldest due first), so one that is many
            // periods behind is caught up batch after batch. Every step moves its subscription's
            // due time forward, and a close that failed waits for its retry and is not picked
            // again, so a batch that did nothing means nothing is due: the loop ends.
            if batch.steps_done == 0 && batch.failures.is_empty() {
                run.more_due = false;
                return Ok(());
            }
        }
        run.more_due = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_and_interval_then_the_suppressed_count() {
        let mut log = LogRateLimiter::new(1_000);
        assert_eq!(log.admit("step_failed", 0), Some(0));
        assert_eq!((1..=999).filter_map(|now_ms| log.admit("step_failed", now_ms)).count(), 0);
        assert_eq!(log.admit("step_parked", 500), Some(0), "kinds are limited separately");
        assert_eq!(log.admit("step_failed", 1_000), Some(999));
        assert_eq!(log.admit("step_failed", 1_001), None);
        assert_eq!(log.admit("step_failed", 5_000), Some(1));
    }

    #[test]
    fn a_last_burst_is_reported_once_its_interval_is_over() {
        let mut log = LogRateLimiter::new(1_000);
        assert_eq!(log.admit("step_parked", 0), Some(0));
        for now_ms in 1..=549 {
            assert_eq!(log.admit("step_parked", now_ms), None);
        }
        assert_eq!(log.take_overdue_suppressed(999), vec![], "not before the interval is over");
        assert_eq!(log.take_overdue_suppressed(1_000), vec![("step_parked", 549)]);
        assert_eq!(log.take_overdue_suppressed(5_000), vec![], "reported once");
        assert_eq!(log.admit("step_parked", 5_000), Some(0));
    }

    #[test]
    fn a_caught_panic_becomes_its_message_and_other_threads_still_panic_normally() {
        let message = catch_step_panic(|| panic!("reserved would go negative")).unwrap_err();
        assert!(message.starts_with("reserved would go negative at src/app/scheduler.rs:"), "{message}");
        assert_eq!(catch_step_panic(|| 7), Ok(7));
        let elsewhere = std::thread::spawn(|| panic!("not a step")).join();
        assert!(elsewhere.is_err());
    }

    #[test]
    fn errors_are_bounded_by_characters() {
        assert_eq!(bounded("short"), "short");
        assert_eq!(bounded("left: 1\n right: 2"), "left: 1  right: 2");
        let long = "é".repeat(SCHEDULER_ERROR_DETAIL_MAX_CHARS + 50);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), SCHEDULER_ERROR_DETAIL_MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
