//! The single writer and its group commit.
//!
//! Every state change goes through one thread that owns the write connection. It takes all the
//! commands waiting (up to `Store::group_commands_max`), runs each inside its own savepoint so
//! that one refused command cannot undo its neighbours, commits once (one fsync for the group),
//! and only then answers the callers. A caller is never told "done" before its effect is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use crate::app::Clock;
use crate::app::error::AppError;
use crate::engine::IdSource;
use crate::engine::rules::PaymentRules;
use crate::store::{Store, StoreWrite};

/// What the writer has committed since start, for `system_status` and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Durable commits (one fsync each).
    pub groups_committed: AtomicU64,
    /// Commands those commits carried.
    pub commands_committed: AtomicU64,
    pub largest_group: AtomicU64,
    /// CPU time the writer thread spent on its groups (running the commands, committing), in
    /// nanoseconds: what `harepay-tools bench` divides by the commands to judge the write path.
    pub busy_cpu_ns: AtomicU64,
}

impl WriterStats {
    fn record(&self, commands: u64) {
        self.groups_committed.fetch_add(1, Ordering::Relaxed);
        self.commands_committed.fetch_add(commands, Ordering::Relaxed);
        self.largest_group.fetch_max(commands, Ordering::Relaxed);
    }
}

/// What a write sees besides its transaction: the rules, the id source and the time, read once
/// per command from the injected clock.
pub struct WriteContext<'a> {
    pub rules: &'a PaymentRules,
    pub ids: &'a mut dyn IdSource,
    pub now_ms: i64,
}

/// Called once the group a job ran in is durable (`Ok`) or undone (`Err`): it sends the job's
/// answer to its caller, so nobody hears "done" before the commit.
pub(crate) type Reply = Box<dyn FnOnce(Result<(), AppError>) + Send>;

/// One write: runs inside the group's transaction and returns what to answer after the commit.
/// Type-erased, so that each operation's typed result travels to its caller as it is.
pub(crate) type WriteJob = Box<dyn FnOnce(&mut dyn StoreWrite, &mut WriteContext<'_>) -> Reply + Send>;

pub(crate) fn run_writer(
    store: Arc<dyn Store>,
    rules: Arc<PaymentRules>,
    clock: Arc<dyn Clock>,
    mut ids: Box<dyn IdSource + Send>,
    jobs: Receiver<WriteJob>,
    stats: Arc<WriterStats>,
) {
    let group_commands_max = store.group_commands_max();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < group_commands_max {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let size = batch.len() as u64;
        let cpu_before = crate::cpu::thread_cpu_time();
        let committed = commit_batch(&*store, &rules, &*clock, &mut *ids, batch);
        let cpu_ns = crate::cpu::thread_cpu_time().saturating_sub(cpu_before).as_nanos();
        stats.busy_cpu_ns.fetch_add(u64::try_from(cpu_ns).unwrap_or(u64::MAX), Ordering::Relaxed);
        if committed {
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
    ids: &mut dyn IdSource,
    batch: Vec<WriteJob>,
) -> bool {
    let mut session = match store.begin_write() {
        Ok(session) => session,
        Err(error) => {
            tracing::error!(%error, "cannot begin a write transaction");
            // Dropping the jobs drops their answer channels: each caller hears that the writer
            // dropped its request, and nothing was applied.
            drop(batch);
            return false;
        }
    };
    let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
    for job in batch.into_iter() {
        let mut context = WriteContext { rules, ids: &mut *ids, now_ms: clock.now_ms() };
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut *session, &mut context)));
        match applied {
            Ok(reply) => replies.push(reply),
            Err(_) => {
                // A broken invariant (an engine assertion) in one command. Nothing of this group
                // may commit: drop the session (rollback) and tell every caller, who may retry
                // with the same idempotency key. The writer itself stays up; the jobs not yet run
                // are dropped with the batch, which answers their callers the same way.
                tracing::error!("a command panicked; the whole group was rolled back");
                drop(session);
                for reply in replies {
                    reply(Err(group_rolled_back()));
                }
                return false;
            }
        }
    }
    match session.commit() {
        Ok(()) => {
            for reply in replies {
                reply(Ok(()));
            }
            true
        }
        Err(error) => {
            tracing::error!(%error, "group commit failed; no command of the group was applied");
            for reply in replies {
                reply(Err(AppError::Internal { detail: error.to_string() }));
            }
            false
        }
    }
}

fn group_rolled_back() -> AppError {
    AppError::Internal { detail: "a command hit an internal invariant; its group was rolled back".to_owned() }
}
