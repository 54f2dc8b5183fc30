//! The single writer and its group commit.
//!
//! Every state change goes through one thread that owns the write connection. It takes all the
//! commands waiting (up to `GROUP_COMMIT_MAX_COMMANDS`), runs each inside its own savepoint so
//! that one refused command cannot undo its neighbours, commits once (one fsync for the group),
//! and only then answers the callers. A caller is never told "done" before its effect is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use tokio::sync::oneshot;

use crate::app::error::AppError;
use crate::app::write::{WriteOutcome, WriteRequest};
use crate::app::{Clock, UuidIds};
use crate::app::{commands, keys, scheduler};
use crate::engine::rules::PaymentRules;
use crate::limits::GROUP_COMMIT_MAX_COMMANDS;
use crate::store::{Store, StoreWrite};

/// What the writer has committed since start, for `system_status` and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Durable commits (one fsync each).
    pub groups_committed: AtomicU64,
    /// Commands those commits carried.
    pub commands_committed: AtomicU64,
    pub largest_group: AtomicU64,
}

impl WriterStats {
    fn record(&self, commands: u64) {
        self.groups_committed.fetch_add(1, Ordering::Relaxed);
        self.commands_committed.fetch_add(commands, Ordering::Relaxed);
        self.largest_group.fetch_max(commands, Ordering::Relaxed);
    }
}

pub(crate) struct WriteJob {
    pub request: WriteRequest,
    pub reply: oneshot::Sender<Result<WriteOutcome, AppError>>,
}

pub(crate) fn run_writer(
    store: Arc<dyn Store>,
    rules: Arc<PaymentRules>,
    clock: Arc<dyn Clock>,
    jobs: Receiver<WriteJob>,
    stats: Arc<WriterStats>,
) {
    let mut ids = UuidIds;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX_COMMANDS {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let size = batch.len() as u64;
        if commit_batch(&*store, &rules, &*clock, &mut ids, batch) {
            stats.record(size);
        }
    }
    tracing::debug!("writer stopped: every App handle is gone");
}

/// Applies and commits one group; true when it committed.
fn commit_batch(
    store: &dyn Store,
    rules: &PaymentRules,
    clock: &dyn Clock,
    ids: &mut UuidIds,
    batch: Vec<WriteJob>,
) -> bool {
    let mut session = match store.begin_write() {
        Ok(session) => session,
        Err(error) => {
            tracing::error!(%error, "cannot begin a write transaction");
            for job in batch {
                let _ = job.reply.send(Err(AppError::Internal { detail: error.to_string() }));
            }
            return false;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        let now_ms = clock.now_ms();
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            apply_job(&mut *session, rules, ids, now_ms, job.request)
        }));
        match applied {
            Ok(outcome) => answers.push((job.reply, outcome)),
            Err(_) => {
                // A broken invariant (an engine assertion) in one command. Nothing of this group
                // may commit: drop the session (rollback) and tell every caller, who may retry
                // with the same idempotency key. The writer itself stays up.
                tracing::error!("a command panicked; the whole group was rolled back");
                drop(session);
                let detail = "a command hit an internal invariant; its group was rolled back".to_owned();
                let replies = answers.into_iter().map(|(reply, _)| reply).chain(std::iter::once(job.reply));
                for reply in replies.chain(jobs.map(|job| job.reply)) {
                    let _ = reply.send(Err(AppError::Internal { detail: detail.clone() }));
                }
                return false;
            }
        }
    }
    match session.commit() {
        Ok(()) => {
            for (reply, outcome) in answers {
                let _ = reply.send(outcome);
            }
            true
        }
        Err(error) => {
            tracing::error!(%error, "group commit failed; no command of the group was applied");
            for (reply, _) in answers {
                let _ = reply.send(Err(AppError::Internal { detail: error.to_string() }));
            }
            false
        }
    }
}

/// Carries out one job inside the group's transaction: a tool's command, the audit record of a
/// refused attempt, a scheduler batch or an operator's key command.
fn apply_job(
    session: &mut dyn StoreWrite,
    rules: &PaymentRules,
    ids: &mut UuidIds,
    now_ms: i64,
    request: WriteRequest,
) -> Result<WriteOutcome, AppError> {
    match request {
        WriteRequest::Tool(write) => commands::apply_tool_write(session, rules, ids, now_ms, write),
        WriteRequest::RecordRefusal { actor, tool, idempotency_key, error_type, message } => {
            let record = commands::audit_record(
                ids,
                &actor,
                &tool,
                "refused",
                Some(&error_type),
                None,
                idempotency_key,
                message,
                now_ms,
            );
            session.append_audit(&record)?;
            Ok(WriteOutcome::Done { detail: "refusal recorded".to_owned() })
        }
        WriteRequest::Scheduled { work, policy } => {
            scheduler::run_scheduled_work(session, rules, ids, now_ms, work, &policy)
        }
        WriteRequest::Admin(command) => {
            keys::apply_admin(session, ids, now_ms, command).map(|detail| WriteOutcome::Done { detail })
        }
    }
}
