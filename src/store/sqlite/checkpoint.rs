//! WAL checkpoints on a thread of their own. SQLite's default is for the connection that commits
//! to copy the WAL back into the database file whenever it passes 1,000 pages, which put that
//! copy, and its two fsyncs, on harepay's one writer thread: about a quarter of the writer's CPU
//! per payout under load, and a pause for every command waiting behind it.
//!
//! Every [`CHECKPOINT_INTERVAL_MS`] this thread:
//! 1. copies the WAL into the database file from a connection of its own (a PASSIVE checkpoint:
//!    it never blocks the writer or a reader), which is the bulk of the work;
//! 2. when the WAL has reached [`WAL_RESTART_FRAMES`], asks the writer to copy, before its next
//!    group, the few frames appended meanwhile ([`CheckpointRequest`]). Only a checkpoint that
//!    has caught up lets the next write start the WAL file from its beginning again; without
//!    this step a writer that never pauses keeps the WAL growing (measured: to the backstop,
//!    64 MiB, in a few seconds), and every commit then appends to fresh blocks of the file. The
//!    writer does it itself because it never waits for its connection: a thread that had to
//!    take the writer's lock between two groups would seldom get it.
//!
//! The writer keeps SQLite's automatic checkpoint only as a backstop at
//! [`WRITER_BACKSTOP_PAGES`], for when this thread cannot keep up. Durability is unaffected: a
//! commit is durable once its WAL frames are synced, before any checkpoint; a checkpoint only
//! moves committed pages into the main file.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// How often the checkpoint thread copies the WAL into the database file.
pub const CHECKPOINT_INTERVAL_MS: u64 = 100;

/// The WAL size (in frames, one page each) from which the thread finishes its checkpoint on the
/// writer connection, so that the WAL starts over: about 8 MiB of 4 KiB pages.
pub const WAL_RESTART_FRAMES: i64 = 2_000;

/// The WAL size (in pages) at which the writer checkpoints by itself: reaching it means this
/// thread is stuck or starved. 16,384 pages of 4 KiB = 64 MiB.
pub const WRITER_BACKSTOP_PAGES: u32 = 16_384;

/// Set by the checkpoint thread when the WAL is due to start over; taken by the writer before
/// its next group.
#[derive(Default)]
pub(super) struct CheckpointRequest(AtomicBool);

impl CheckpointRequest {
    /// Before a group, on the writer connection: copies what the checkpoint thread left, so that
    /// this group's commit starts the WAL over.
    pub(super) fn finish_if_requested(&self, writer: &Connection) {
        if self.0.swap(false, Ordering::AcqRel)
            && let Err(error) = passive_checkpoint(writer)
        {
            tracing::warn!(%error, "WAL checkpoint on the writer connection failed; the next interval tries again");
        }
    }
}

/// Short enough for Linux's 15-byte thread names, so that `top -H` shows it whole.
const THREAD_NAME: &str = "harepay-ckpt";

/// The running checkpoint thread; stopped and joined when dropped.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to the database at `path`; it asks the writer
    /// through `request` for step 2.
    pub(super) fn start(
        path: &Path,
        request: Arc<CheckpointRequest>,
        busy_timeout: Duration,
    ) -> StoreResult<Checkpointer> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(busy_timeout)?;
        // FULL: the database file is synced after a checkpoint, before the WAL may be reused.
        connection.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || run_checkpoints(&connection, &request, &stopped))
            .map_err(|error| StoreError::Backend(format!("cannot start the checkpoint thread: {error}")))?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_checkpoints(connection: &Connection, request: &CheckpointRequest, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(Duration::from_millis(CHECKPOINT_INTERVAL_MS)) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let wal_frames = match passive_checkpoint(connection) {
            Ok(wal_frames) => wal_frames,
            Err(error) => {
                tracing::warn!(%error, "WAL checkpoint failed; the next interval tries again");
                continue;
            }
        };
        if wal_frames >= WAL_RESTART_FRAMES {
            request.0.store(true, Ordering::Release);
        }
    }
}

/// A PASSIVE checkpoint; returns the WAL's size in frames when it began. A busy or partial
/// checkpoint is finished by a later one.
fn passive_checkpoint(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::principal::{Mode, Scope};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{AuditRecord, MerchantRecord, Store};

    fn wal_bytes(database: &Path) -> u64 {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|metadata| metadata.len()).unwrap_or(0)
    }

    fn checkpoint_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                    .filter(|name| name.trim() == THREAD_NAME)
                    .count()
            })
            .unwrap_or(0)
    }

    /// A writer that never pauses: one commit after another, each a few pages. Without the
    /// writer finishing the thread's checkpoints the WAL only ever grows, up to the backstop
    /// (16,384 pages); with it, the WAL starts over every interval or so.
    #[test]
    fn a_writer_that_never_pauses_keeps_the_wal_small() {
        let directory = tempfile::tempdir().unwrap();
        let database = directory.path().join("harepay.db");
        let store = SqliteStore::open(&database).unwrap();
        let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
        let mut session = store.begin_write().unwrap();
        session.insert_merchant(&MerchantRecord { id: "mch_1".into(), name: "One".into(), created_at_ms: 0 }).unwrap();
        session.commit().unwrap();
        let commits = 3_000;
        let mut largest_wal_bytes = 0;
        for index in 0..commits {
            let mut session = store.begin_write().unwrap();
            session
                .append_audit(&AuditRecord {
                    id: format!("aud_{index}"),
                    scope: scope.clone(),
                    key_id: "key_1".into(),
                    actor_owner: "alice".into(),
                    tool: "create_payout".into(),
                    outcome: "executed".into(),
                    error_type: None,
                    object_id: None,
                    idempotency_key: None,
                    detail: "x".repeat(3_000),
                    created_at_ms: index,
                    request_id: None,
                })
                .unwrap();
            session.commit().unwrap();
            largest_wal_bytes = largest_wal_bytes.max(wal_bytes(&database));
        }
        // Each commit appends at least four pages (a row of 3 KB fills a page of its own; its two
        // index entries; the sequence), so a WAL that never started over would hold 12,000+
        // pages (48 MiB) by now.
        let page_bytes = 4_096;
        let never_restarted_bytes = commits as u64 * 4 * page_bytes;
        assert!(
            largest_wal_bytes < never_restarted_bytes / 2,
            "the WAL reached {largest_wal_bytes} bytes in {commits} commits"
        );
        eprintln!("largest WAL: {largest_wal_bytes} bytes over {commits} commits");
    }

    #[test]
    fn closing_a_store_stops_its_checkpoint_thread() {
        let directory = tempfile::tempdir().unwrap();
        for index in 0..20 {
            let store = SqliteStore::open(&directory.path().join(format!("store-{index}.db"))).unwrap();
            // A new thread takes its name once it runs.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while checkpoint_threads() == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(checkpoint_threads() >= 1, "a store has its checkpoint thread while open");
            drop(store);
        }
        // Other tests of this binary may hold stores open at the same time; this one's are gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while checkpoint_threads() > 8 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(checkpoint_threads() <= 8, "{} checkpoint threads still running", checkpoint_threads());
    }
}
