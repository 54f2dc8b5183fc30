//! The embedded SQLite backend: one file, WAL, `synchronous=FULL` (a commit survives power loss).
//! One writer connection behind a mutex; readers get their own connections and see a snapshot;
//! WAL checkpoints run on their own thread (`checkpoint`).
//!
//! One file per object area (`keys`, `payments`, `payouts`, `customers`, `catalog`, `invoices`, `ledger`,
//! `idempotency`, `audit`, `events`, `scheduler`), each implementing its read and write traits for the sessions in
//! `session`; `rows` holds what they share. Object files import only `session` and `rows`,
//! never each other or this file.

mod audit;
mod catalog;
mod checkpoint;
mod customers;
mod disputes;
mod events;
mod idempotency;
mod invoices;
mod keys;
mod ledger;
mod payments;
mod payouts;
mod rows;
mod scheduler;
mod session;
mod subscriptions;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};

use crate::store::sqlite::session::{SqliteRead, SqliteWrite};
use crate::store::{Store, StoreError, StoreRead, StoreResult, StoreWrite};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_v2.sql")),
    (3, include_str!("schema_v3.sql")),
    (4, include_str!("schema_v4.sql")),
    (5, include_str!("schema_v5.sql")),
    (6, include_str!("schema_v6.sql")),
    (7, include_str!("schema_v7.sql")),
    (8, include_str!("schema_v8.sql")),
    (9, include_str!("schema_v9.sql")),
    (10, include_str!("schema_v10.sql")),
    (11, include_str!("schema_v11.sql")),
    (12, include_str!("schema_v12.sql")),
    (13, include_str!("schema_v13.sql")),
    (14, include_str!("schema_v14.sql")),
    (15, include_str!("schema_v15.sql")),
    (16, include_str!("schema_v16.sql")),
    (17, include_str!("schema_v17.sql")),
];

/// At shutdown, how often and how far apart the final checkpoint is tried (2 s in all).
const CLOSE_CHECKPOINT_TRIES: u32 = 100;
const CLOSE_CHECKPOINT_RETRY_MS: u64 = 20;

/// How long a connection waits for another process's lock (the CLI and a server on one file).
const BUSY_TIMEOUT_MS: u64 = 5_000;

pub use checkpoint::{CHECKPOINT_INTERVAL_MS, WAL_RESTART_FRAMES, WRITER_BACKSTOP_PAGES};

pub struct SqliteStore {
    /// First, so that it stops before the connections close.
    _checkpointer: checkpoint::Checkpointer,
    path: PathBuf,
    checkpoint_request: Arc<checkpoint::CheckpointRequest>,
    writer: Mutex<Connection>,
    idle_readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", parent.display())))?;
        }
        let writer = Connection::open(path)?;
        writer.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        // The savepoint journal in memory. The writer opens a savepoint per command, and SQLite
        // copies every page a savepoint touches into that journal; by default it spills to a
        // temporary file past 64 KiB (a few commands), written for every command after that
        // and deleted at the end of every group. Durability is unaffected: the journal only
        // undoes a savepoint inside a transaction that has not committed.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoints belong to their own thread (checkpoint.rs); the writer's is a backstop.
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)?;
        apply_migrations(&writer)?;
        let checkpoint_request = Arc::new(checkpoint::CheckpointRequest::default());
        let checkpointer = checkpoint::Checkpointer::start(
            path,
            checkpoint_request.clone(),
            std::time::Duration::from_millis(BUSY_TIMEOUT_MS),
        )?;
        Ok(SqliteStore {
            _checkpointer: checkpointer,
            checkpoint_request,
            path: path.to_owned(),
            writer: Mutex::new(writer),
            idle_readers: Mutex::new(Vec::new()),
        })
    }

    fn open_reader(&self) -> StoreResult<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        connection.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        Ok(connection)
    }
}

fn apply_migrations(connection: &Connection) -> StoreResult<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |row| row.get(0),
        )?;
        if !applied {
            connection.execute_batch(&format!(
                "BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations (version, applied_at_ms) VALUES ({version}, CAST(unixepoch('subsec') * 1000 AS INTEGER)); COMMIT;"
            ))?;
        }
    }
    fill_owner_skeletons(connection)
}

/// Every key carries its owner's skeleton as this build computes it: keys made before version 6
/// get theirs, and a build whose skeleton changed (it learned a new look-alike) updates them. A
/// few rows per key on each start; nothing is written when nothing changed. A key made through a
/// tool is compared as the owner accountable for it (version 16), not the name it was given.
fn fill_owner_skeletons(connection: &Connection) -> StoreResult<()> {
    let keys: Vec<(String, String, Option<String>)> = connection
        .prepare("SELECT id, COALESCE(accountable_owner, owner), owner_skeleton FROM api_keys")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (key_id, owner, stored) in keys {
        let skeleton = crate::engine::identity::owner_skeleton(&owner);
        if stored.as_deref() != Some(skeleton.as_str()) {
            connection.execute("UPDATE api_keys SET owner_skeleton = ?2 WHERE id = ?1", params![key_id, skeleton])?;
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn group_commands_max(&self) -> usize {
        crate::limits::GROUP_COMMIT_MAX_COMMANDS
    }

    fn begin_read(&self) -> StoreResult<Box<dyn StoreRead + '_>> {
        let pooled = self.idle_readers.lock().expect("reader pool lock").pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => self.open_reader()?,
        };
        connection.execute_batch("BEGIN")?;
        Ok(Box::new(SqliteRead { idle_readers: &self.idle_readers, connection: Some(connection) }))
    }

    fn begin_write(&self) -> StoreResult<Box<dyn StoreWrite + '_>> {
        let guard = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.checkpoint_request.finish_if_requested(&guard);
        guard.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteWrite::new(guard)))
    }

    fn close(&self) -> StoreResult<()> {
        let guard = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // TRUNCATE: every frame copied into the database and the log emptied, so the file alone
        // holds every commit (a copy of harepay.db taken now misses nothing).
        // The checkpoint thread may be in the middle of its own (passive) checkpoint, which makes
        // this one answer "busy" at once: try again for a while.
        for _ in 0..CLOSE_CHECKPOINT_TRIES {
            let busy: i64 = guard.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(CLOSE_CHECKPOINT_RETRY_MS));
        }
        tracing::warn!("the write-ahead log stayed busy at shutdown; it is folded in at the next start");
        Ok(())
    }
}

/// The physical limit of durable commits on this disk, for the benchmark: opens a fresh database
/// at `path` with harepay's settings (WAL, `synchronous=FULL`), creates one bare table and
/// commits `commits` one-row INSERTs, each in its own transaction. Returns the time the commits
/// took (table creation excluded).
pub fn measure_bare_commits(path: &Path, commits: usize) -> StoreResult<std::time::Duration> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS bare_commits (seq INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?;
    let mut insert = connection.prepare("INSERT INTO bare_commits (value) VALUES (?1)")?;
    let started = std::time::Instant::now();
    for value in 0..commits {
        connection.execute_batch("BEGIN IMMEDIATE")?;
        insert.execute([value as i64])?;
        connection.execute_batch("COMMIT")?;
    }
    Ok(started.elapsed())
}

/// The floor of a payout's writes, for the benchmark: on a fresh harepay database at `path`, the
/// rows one confirmed payout writes (the payout, its ledger transaction with two postings and
/// two balance updates, its idempotency record, its audit record and its event), `payouts`
/// times, by prepared statements in one transaction without fsync. Returns the thread's CPU
/// time for the inserts.
pub fn measure_reference_payout_rows(path: &Path, payouts: usize) -> StoreResult<std::time::Duration> {
    drop(SqliteStore::open(path)?);
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "OFF")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    let mut payout = connection.prepare(
        "INSERT INTO payouts (id, merchant_id, mode, amount_minor, asset, rail, destination_json, description, \
         metadata_json, status, created_by_key_id, created_by_owner, created_at_ms, updated_at_ms) \
         VALUES (?1, 'mch_demo', 'test', 100, 'NGN', 'rubies', ?2, 'benchmark payout', '{}', 'pending', 'key_1', \
         'demo-maker', ?3, ?3)",
    )?;
    let mut transaction = connection.prepare(
        "INSERT INTO ledger_transactions (id, merchant_id, mode, reference_id, reason, created_at_ms) \
         VALUES (?1, 'mch_demo', 'test', ?2, 'payout.created', ?3)",
    )?;
    let mut posting = connection.prepare(
        "INSERT INTO ledger_postings (transaction_id, merchant_id, mode, account, asset, amount_minor) \
         VALUES (?1, 'mch_demo', 'test', ?2, 'NGN', ?3)",
    )?;
    let mut balance = connection.prepare(
        "INSERT INTO account_balances (merchant_id, mode, account, asset, balance_minor) \
         VALUES ('mch_demo', 'test', ?1, 'NGN', ?2) \
         ON CONFLICT (merchant_id, mode, account, asset) DO UPDATE SET balance_minor = excluded.balance_minor",
    )?;
    let mut idempotency = connection.prepare(
        "INSERT INTO idempotency_records (merchant_id, mode, key, operation, request_sha256_hex, object_id, \
         response_json, created_at_ms) VALUES ('mch_demo', 'test', ?1, 'create_payout', ?2, ?3, ?4, ?5)",
    )?;
    let mut audit = connection.prepare(
        "INSERT INTO audit_log (id, merchant_id, mode, key_id, actor_owner, tool, outcome, object_id, \
         idempotency_key, detail, created_at_ms) VALUES (?1, 'mch_demo', 'test', 'key_1', 'demo-maker', \
         'create_payout', 'executed', ?2, ?3, 'pay out ₦1.00 over rubies to bank 058 account …6789', ?4)",
    )?;
    let mut event = connection.prepare(
        "INSERT INTO events (id, merchant_id, mode, type, object_id, payload_json, created_at_ms) \
         VALUES (?1, 'mch_demo', 'test', 'payout.created', ?2, ?3, ?4)",
    )?;
    // A payout's JSON is about this long; the idempotency record and the event each keep it.
    let payload = format!("{{\"object\":\"payout\",\"padding\":\"{}\"}}", "x".repeat(900));
    let destination = r#"{"kind":"bank","account_no":"0123456789","bank_code":"058","account_name":"Ada Obi"}"#;
    let started = crate::cpu::thread_cpu_time();
    connection.execute_batch("BEGIN IMMEDIATE")?;
    for index in 0..payouts {
        let now_ms = i64::try_from(index).unwrap_or(i64::MAX);
        let payout_id = format!("po_{index:032}");
        let transaction_id = format!("ltx_{index:032}");
        payout.execute(params![payout_id, destination, now_ms])?;
        transaction.execute(params![transaction_id, payout_id, now_ms])?;
        posting.execute(params![transaction_id, "available", -100])?;
        posting.execute(params![transaction_id, "reserved", 100])?;
        balance.execute(params!["available", -100 * (now_ms + 1)])?;
        balance.execute(params!["reserved", 100 * (now_ms + 1)])?;
        let key = format!("bench-{index}");
        idempotency.execute(params![key, "0".repeat(64), payout_id, payload, now_ms])?;
        audit.execute(params![format!("aud_{index:032}"), payout_id, key, now_ms])?;
        event.execute(params![format!("evt_{index:032}"), payout_id, payload, now_ms])?;
    }
    connection.execute_batch("COMMIT")?;
    Ok(crate::cpu::thread_cpu_time().saturating_sub(started))
}
