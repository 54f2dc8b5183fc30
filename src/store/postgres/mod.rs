//! The PostgreSQL backend, for several harepay processes on one shared database (`--db
//! postgres://…`). The same tables as SQLite (`schema.sql`), the same traits, the same guarantees
//! (ARCHITECTURE.md, "What the store guarantees"), across processes: a decision locks the rows it
//! reads (`…_for_update`), unique constraints settle concurrent inserts, and the scheduler's
//! items are taken by one process at a time.
//!
//! One file per object area, as in `sqlite/`; each implements its read traits for any
//! session (`PgSession`). Object files import only `session` and `rows`.
//!
//! Connections come from a small pool: a process holds at most `POSTGRES_MAX_CONNECTIONS`, and a
//! session that cannot get one within `POSTGRES_CONNECTION_WAIT_MS` fails as `Backend` instead of
//! queueing without bound.

mod audit;
mod catalog;
mod client;
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
mod tls;
mod webhooks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::limits::{
    POSTGRES_CONNECT_TIMEOUT_MS, POSTGRES_CONNECTION_WAIT_MS, POSTGRES_GROUP_COMMIT_MAX_COMMANDS,
    POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS, POSTGRES_LOCK_TIMEOUT_MS, POSTGRES_MAX_CONNECTIONS,
};
use crate::store::postgres::client::PgClient;
use crate::store::postgres::session::{PgConnection, PgSession, PooledConnection};
pub use crate::store::postgres::tls::connect;
use crate::store::{BackgroundJob, Store, StoreError, StoreRead, StoreResult, StoreWrite};

/// Versioned like SQLite's; version 1 is everything SQLite's migrations 1 to 17 built. A new
/// migration is added to both backends, each in its own dialect.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("schema.sql"))];

/// The advisory lock that makes migrations run once when several processes start together.
const MIGRATION_LOCK_KEY: i64 = 0x6861_7265_7061_7901;

/// Whether `--db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

pub struct PostgresStore {
    config: tokio_postgres::Config,
    tls: tls::TlsConnector,
    pool: Mutex<Pool>,
    connection_returned: Condvar,
    /// Per background job, the connection that holds (or keeps asking for) its advisory lock.
    leases: Mutex<HashMap<BackgroundJob, Lease>>,
    /// Round trips to the server on the pool's connections, for the benchmark and the tests.
    round_trips: Arc<AtomicU64>,
}

struct Lease {
    client: postgres::Client,
    held: bool,
}

/// How long checking that a held lease's connection is alive may take.
const LEASE_CHECK_TIMEOUT_MS: u64 = 2_000;

fn lease_lock_key(job: BackgroundJob) -> i64 {
    match job {
        BackgroundJob::Scheduler => 0x6861_7265_7061_7902,
        BackgroundJob::WebhookDelivery => 0x6861_7265_7061_7903,
    }
}

#[derive(Default)]
struct Pool {
    idle: Vec<PgConnection>,
    /// Connections in use or idle.
    open: usize,
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL) and applies pending migrations
    /// under an advisory lock.
    pub fn open(url: &str) -> StoreResult<PostgresStore> {
        outside_async(|| PostgresStore::open_here(url))
    }

    fn open_here(url: &str) -> StoreResult<PostgresStore> {
        let (mut config, tls) = tls::config_of::<tokio_postgres::Config>(url)?;
        config.connect_timeout(Duration::from_millis(POSTGRES_CONNECT_TIMEOUT_MS));
        config.application_name("harepay");
        let store = PostgresStore {
            config,
            tls,
            pool: Mutex::new(Pool::default()),
            connection_returned: Condvar::new(),
            leases: Mutex::new(HashMap::new()),
            round_trips: Arc::default(),
        };
        let mut client = store.connect_plain()?;
        apply_migrations(&mut client)?;
        keys::fill_owner_skeletons(&mut client)?;
        // One connection of the pool now: a setting that the pool's driver refuses fails at
        // start-up, not at the first request.
        let pooled = store.connect()?;
        store.pool.lock().expect("pool lock").open += 1;
        store.give_back(pooled);
        Ok(store)
    }

    /// A new pooled connection with harepay's session settings (`SESSION_SETTINGS_SQL`).
    fn connect(&self) -> StoreResult<PgConnection> {
        let mut client = PgClient::connect(&self.config, self.tls.clone(), self.round_trips.clone())?;
        client.batch_execute(&session_settings_sql())?;
        Ok(PgConnection::new(client))
    }

    /// A connection of the synchronous driver with the same settings, for what needs no
    /// pipelining: migrations at start-up, and each background job's lease.
    fn connect_plain(&self) -> StoreResult<postgres::Client> {
        let mut client = postgres::Config::from(self.config.clone()).connect(self.tls.clone())?;
        client.batch_execute(&session_settings_sql())?;
        Ok(client)
    }

    /// How many round trips the pool's connections have made: each sends what it carries (a
    /// statement, and the writes sent ahead with it) and waits for the answers.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// An idle connection, or a new one while the pool has room, or the first one returned within
    /// the wait.
    fn take(&self) -> StoreResult<PgConnection> {
        let deadline = Instant::now() + Duration::from_millis(POSTGRES_CONNECTION_WAIT_MS);
        let mut pool = self.pool.lock().expect("pool lock");
        loop {
            if let Some(connection) = pool.idle.pop() {
                return Ok(connection);
            }
            if pool.open < POSTGRES_MAX_CONNECTIONS {
                pool.open += 1;
                drop(pool);
                return self.connect().inspect_err(|_| self.forget_one());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Backend(format!(
                    "all {POSTGRES_MAX_CONNECTIONS} database connections stayed busy for \
                     {POSTGRES_CONNECTION_WAIT_MS} ms"
                )));
            }
            pool = self.connection_returned.wait_timeout(pool, deadline - now).expect("pool lock").0;
        }
    }

    pub(crate) fn give_back(&self, connection: PgConnection) {
        self.pool.lock().expect("pool lock").idle.push(connection);
        self.connection_returned.notify_one();
    }

    /// A connection that was closed or is in an unknown state, not returned to the pool.
    pub(crate) fn forget_one(&self) {
        let mut pool = self.pool.lock().expect("pool lock");
        pool.open = pool.open.saturating_sub(1);
        drop(pool);
        self.connection_returned.notify_one();
    }

    fn begin(&self, sql: &str) -> StoreResult<PooledConnection> {
        let connection = PooledConnection::new(self.take()?);
        if let Err(error) = connection.batch(sql) {
            self.forget_one();
            return Err(error);
        }
        Ok(connection)
    }
}

/// Closing a connection of the synchronous driver runs its runtime, which must not start on a
/// thread that drives async tasks; the last holder of a store may be one (an `App` dropped at the
/// end of an async task or test), so the connections are closed on a thread of their own there.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.pool.get_mut().unwrap_or_else(PoisonError::into_inner).idle);
        let leases = std::mem::take(self.leases.get_mut().unwrap_or_else(PoisonError::into_inner));
        if tokio::runtime::Handle::try_current().is_ok() {
            outside_async(move || drop((idle, leases)));
        }
    }
}

/// A lock is waited for a bounded time (then `Contention`), and a session left idle inside a
/// transaction by a stuck process is ended by the server, releasing its locks.
fn session_settings_sql() -> String {
    format!(
        "SET lock_timeout = {POSTGRES_LOCK_TIMEOUT_MS}; \
         SET idle_in_transaction_session_timeout = {POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS}; \
         SET TIME ZONE 'UTC'"
    )
}

/// The synchronous driver runs a small runtime of its own for each call, which must not start on
/// a thread that drives async tasks: what may be called from async code (opening the store at
/// start-up, the tests' and the benchmark's database set-up) runs on a thread of its own. Sessions
/// need no such care: the app opens them on blocking threads and on its writer thread.
fn outside_async<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
}

fn apply_migrations(client: &mut postgres::Client) -> StoreResult<()> {
    // Session-level: held until unlocked or the connection ends (a process killed while
    // migrating releases it), so a second process waits here and then finds nothing to do.
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    let result = apply_pending(client);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]);
    result?;
    unlocked?;
    Ok(())
}

fn apply_pending(client: &mut postgres::Client) -> StoreResult<()> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let applied: bool =
            client.query_one("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", &[version])?.get(0);
        if !applied {
            let mut transaction = client.transaction()?;
            transaction.batch_execute(sql)?;
            transaction.execute(
                "INSERT INTO schema_migrations (version, applied_at_ms) \
                 VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                &[version],
            )?;
            transaction.commit()?;
        }
    }
    Ok(())
}

impl Store for PostgresStore {
    fn begin_read(&self) -> StoreResult<Box<dyn StoreRead + '_>> {
        let connection = self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        Ok(Box::new(PgSession::new(self, connection, false)))
    }

    fn begin_write(&self) -> StoreResult<Box<dyn StoreWrite + '_>> {
        let connection = self.begin("BEGIN ISOLATION LEVEL READ COMMITTED")?;
        Ok(Box::new(PgSession::new(self, connection, true)))
    }

    fn group_commands_max(&self) -> usize {
        POSTGRES_GROUP_COMMIT_MAX_COMMANDS
    }

    fn holds_lease(&self, job: BackgroundJob) -> StoreResult<bool> {
        let mut leases = self.leases.lock().expect("lease lock");
        if let Some(lease) = leases.get_mut(&job) {
            if lease.client.is_valid(Duration::from_millis(LEASE_CHECK_TIMEOUT_MS)).is_err() {
                // The connection is gone, and with it the lock (if it was held): ask again on a
                // new one. Until then another process may have taken over.
                leases.remove(&job);
            } else if lease.held {
                return Ok(true);
            }
        }
        let lease = match leases.entry(job) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(Lease { client: self.connect_plain()?, held: false })
            }
        };
        let held: bool = lease.client.query_one("SELECT pg_try_advisory_lock($1)", &[&lease_lock_key(job)])?.get(0);
        lease.held = held;
        Ok(held)
    }

    /// Every commit is already durable on the server; closing returns the pool's connections and
    /// gives up this process's leases, so another server takes over its background jobs at once.
    fn close(&self) -> StoreResult<()> {
        self.leases.lock().expect("lease lock").clear();
        let mut pool = self.pool.lock().expect("pool lock");
        let idle = std::mem::take(&mut pool.idle);
        pool.open = pool.open.saturating_sub(idle.len());
        drop(pool);
        // Each says goodbye to the server as it goes.
        drop(idle);
        Ok(())
    }
}

/// The commit rate of the server behind `url`, for the benchmark: one-row INSERTs into a bare
/// table, each in its own transaction, `commits` times, one connection. Returns the time the
/// commits took (table creation excluded).
pub fn measure_bare_commits(url: &str, commits: usize) -> StoreResult<Duration> {
    let mut client = tls::connect(url)?;
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS bare_commits (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, value BIGINT NOT NULL)",
    )?;
    let insert = client.prepare("INSERT INTO bare_commits (value) VALUES ($1)")?;
    let started = Instant::now();
    for value in 0..commits {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        let mut transaction = client.transaction()?;
        transaction.execute(&insert, &[&value])?;
        transaction.commit()?;
    }
    Ok(started.elapsed())
}

/// A new empty database on the server behind `url` (whose own database is only used to connect),
/// for the benchmark and the tests; returns its URL.
pub fn create_database(url: &str, name: &str) -> StoreResult<String> {
    outside_async(|| create_database_here(url, name))
}

fn create_database_here(url: &str, name: &str) -> StoreResult<String> {
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::Backend(format!("not a plain database name: {name:?}")));
    }
    let mut admin = tls::connect(url)?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let mut parsed =
        url::Url::parse(url).map_err(|error| StoreError::Backend(format!("not a PostgreSQL URL: {error}")))?;
    parsed.set_path(&format!("/{name}"));
    Ok(parsed.to_string())
}

/// Drops a database `create_database` made (every connection to it must be closed).
pub fn drop_database(url: &str, name: &str) -> StoreResult<()> {
    outside_async(|| drop_database_here(url, name))
}

fn drop_database_here(url: &str, name: &str) -> StoreResult<()> {
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::Backend(format!("not a plain database name: {name:?}")));
    }
    let mut admin = tls::connect(url)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}
