//! Which database the integration tests run on. SQLite by default; `HAREPAY_TEST_BACKEND=postgres`
//! runs the same tests on a fresh PostgreSQL database each (`./test.sh` runs the suite both ways,
//! on a private cluster from tests/postgres/cluster.sh). The store contract suites run on
//! PostgreSQL whenever `HAREPAY_TEST_POSTGRES_URL` is set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harepay::store::Store;

/// The cluster's URL (its `postgres` database). Without it, PostgreSQL tests skip loudly, unless
/// `HAREPAY_TEST_POSTGRES_REQUIRED=1` (set by ./test.sh), when a missing cluster is a failure.
pub fn postgres_url() -> Option<String> {
    match std::env::var("HAREPAY_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("HAREPAY_TEST_POSTGRES_REQUIRED").as_deref() != Ok("1"),
                "HAREPAY_TEST_POSTGRES_URL is not set but PostgreSQL tests are required"
            );
            eprintln!("SKIPPED: PostgreSQL test (HAREPAY_TEST_POSTGRES_URL is not set; ./test.sh starts a cluster)");
            None
        }
    }
}

/// True when the whole integration suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("HAREPAY_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// A new, empty database on the cluster; returns its URL. It outlives the test (a later run's
/// sweep drops it); `TestDatabase::new` makes one dropped with its owner.
pub fn fresh_postgres_database() -> Option<String> {
    TestDatabase::new().map(TestDatabase::keep)
}

/// A database made for one test on the cluster, dropped when this is (with any connection still
/// open to it): every test makes one, so a run would otherwise leave hundreds behind.
pub struct TestDatabase {
    cluster_url: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn new() -> Option<TestDatabase> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let cluster_url = postgres_url()?;
        sweep_stale_test_databases(&cluster_url);
        let name = format!(
            "harepay_t{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::now_v7().simple()
        );
        let url = harepay::store::postgres::create_database(&cluster_url, &name).expect("create a test database");
        Some(TestDatabase { cluster_url, name, url })
    }

    /// Leaves the database to a later run's sweep; returns its URL.
    fn keep(self) -> String {
        let database = std::mem::ManuallyDrop::new(self);
        database.url.clone()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Never a panic here: this may run while a failing test unwinds.
        if let Err(error) = harepay::store::postgres::drop_database(&self.cluster_url, &self.name) {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}

/// Test databases left older than this by earlier runs (a test killed, a database kept) are
/// dropped: no test runs this long.
const STALE_TEST_DATABASE_AGE_SECONDS: u64 = 60 * 60;

/// Once per test process, on a thread of its own: drops the cluster's test databases made over an
/// hour ago (their names carry a time-ordered UUID) that nobody is connected to, so that a
/// cluster kept between runs does not fill its disk.
fn sweep_stale_test_databases(cluster_url: &str) {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        let cluster_url = cluster_url.to_owned();
        std::thread::spawn(move || {
            let Ok(mut admin) = postgres::Client::connect(&cluster_url, postgres::NoTls) else { return };
            let Ok(rows) = admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'harepay\\_t%'", &[]) else {
                return;
            };
            let now_seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            for row in rows {
                let name: String = row.get(0);
                let made_seconds = name
                    .rsplit('_')
                    .next()
                    .and_then(|uuid| uuid::Uuid::parse_str(uuid).ok())
                    .and_then(|uuid| uuid.get_timestamp())
                    .map(|timestamp| timestamp.to_unix().0);
                let stale = made_seconds.is_some_and(|made| made + STALE_TEST_DATABASE_AGE_SECONDS < now_seconds);
                let plain = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if stale && plain {
                    // Without FORCE: a database someone is connected to stays.
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"));
                }
            }
        });
    });
}

/// The `--db` value for a test installation: a file in `dir`, or a fresh PostgreSQL database when
/// the suite runs on PostgreSQL, with that database, to drop when the installation ends.
pub fn installation_database(dir: &std::path::Path, file_name: &str) -> (std::path::PathBuf, Option<TestDatabase>) {
    if on_postgres() {
        let database = TestDatabase::new().expect("HAREPAY_TEST_BACKEND=postgres needs HAREPAY_TEST_POSTGRES_URL");
        (std::path::PathBuf::from(&database.url), Some(database))
    } else {
        (dir.join(file_name), None)
    }
}

/// A fresh PostgreSQL store for the contract suites, or None (skipped loudly) without a cluster.
pub fn open_postgres_store() -> Option<((), Box<dyn Store>)> {
    Some(((), Box::new(StoreOnTestDatabase::new(TestDatabase::new()?))))
}

/// A store for tests that build an `App` themselves (a manual clock, sequential ids): SQLite at
/// `path`, or a fresh PostgreSQL database when the suite runs on PostgreSQL.
pub fn open_store(path: &std::path::Path) -> std::sync::Arc<dyn Store> {
    if on_postgres() {
        let database = TestDatabase::new().expect("HAREPAY_TEST_BACKEND=postgres needs HAREPAY_TEST_POSTGRES_URL");
        std::sync::Arc::new(StoreOnTestDatabase::new(database))
    } else {
        std::sync::Arc::new(harepay::store::sqlite::SqliteStore::open(path).expect("open the SQLite store"))
    }
}

/// A PostgreSQL store on a database of its own, dropped after the store (fields drop in order).
struct StoreOnTestDatabase {
    store: harepay::store::postgres::PostgresStore,
    _database: TestDatabase,
}

impl StoreOnTestDatabase {
    fn new(database: TestDatabase) -> StoreOnTestDatabase {
        let store = harepay::store::postgres::PostgresStore::open(&database.url).expect("open the PostgreSQL store");
        StoreOnTestDatabase { store, _database: database }
    }
}

impl Store for StoreOnTestDatabase {
    fn begin_read(&self) -> harepay::store::StoreResult<Box<dyn harepay::store::StoreRead + '_>> {
        self.store.begin_read()
    }

    fn begin_write(&self) -> harepay::store::StoreResult<Box<dyn harepay::store::StoreWrite + '_>> {
        self.store.begin_write()
    }

    fn close(&self) -> harepay::store::StoreResult<()> {
        self.store.close()
    }

    fn group_commands_max(&self) -> usize {
        self.store.group_commands_max()
    }

    fn holds_lease(&self, job: harepay::store::BackgroundJob) -> harepay::store::StoreResult<bool> {
        self.store.holds_lease(job)
    }
}

/// A store on `db`, a `--db` value from `installation_database` (a file or a PostgreSQL URL): for tests that
/// also reach the database directly (`DirectConnection`).
pub fn open_store_on(db: &std::path::Path) -> std::sync::Arc<dyn Store> {
    match db.to_str() {
        Some(url) if harepay::store::postgres::is_postgres_url(url) => {
            std::sync::Arc::new(harepay::store::postgres::PostgresStore::open(url).expect("open the PostgreSQL store"))
        }
        _ => std::sync::Arc::new(harepay::store::sqlite::SqliteStore::open(db).expect("open the SQLite store")),
    }
}

/// Runs `work` on a thread of its own. PostgreSQL's synchronous driver starts a small runtime for
/// each call, which must not happen on a thread that drives async tasks: an async test that uses
/// a store directly (seeding rows, reading them back) does so inside `blocking`.
pub fn blocking<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
}

/// Returns true (after saying so) when the suite runs on PostgreSQL: for the few tests that
/// examine or damage SQLite's own file (its write-ahead log, a hand-edited row, a database from
/// before a migration), which have no PostgreSQL counterpart.
pub fn skip_on_postgres(why: &str) -> bool {
    if on_postgres() {
        eprintln!("SKIPPED on PostgreSQL: {why}");
        return true;
    }
    false
}

/// A connection to a test installation's database beside harepay, as another process (or someone
/// with access to the database) would open one: SQLite's file, or the PostgreSQL database at the
/// URL in `--db`. SQL names its parameters `$1, $2…`, which both backends read; every call may be
/// made from async code.
pub enum DirectConnection {
    Sqlite(rusqlite::Connection),
    /// `None` only while being dropped.
    Postgres(Option<postgres::Client>),
}

impl DirectConnection {
    pub fn open(db: &std::path::Path) -> DirectConnection {
        if on_postgres() {
            let url = db.to_str().expect("a PostgreSQL URL");
            let client = blocking(|| postgres::Client::connect(url, postgres::NoTls).expect("connect to the database"));
            DirectConnection::Postgres(Some(client))
        } else {
            let connection = rusqlite::Connection::open(db).expect("open the database file");
            connection.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            DirectConnection::Sqlite(connection)
        }
    }

    /// Runs `sql` (an UPDATE, an INSERT…) with text parameters; returns how many rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[&str]) -> u64 {
        match self {
            DirectConnection::Sqlite(connection) => {
                connection.execute(sql, rusqlite::params_from_iter(params)).expect("execute") as u64
            }
            DirectConnection::Postgres(client) => {
                let client = client.as_mut().unwrap();
                blocking(|| client.execute(sql, &postgres_params(params)).expect("execute"))
            }
        }
    }

    /// The integer in the first column of the one row `sql` returns (a `COUNT(*)`, a balance).
    pub fn query_i64(&mut self, sql: &str, params: &[&str]) -> i64 {
        match self {
            DirectConnection::Sqlite(connection) => {
                connection.query_row(sql, rusqlite::params_from_iter(params), |row| row.get(0)).expect("query")
            }
            DirectConnection::Postgres(client) => {
                let client = client.as_mut().unwrap();
                blocking(|| client.query_one(sql, &postgres_params(params)).expect("query").get(0))
            }
        }
    }
}

fn postgres_params<'a>(params: &'a [&'a str]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|param| param as &(dyn postgres::types::ToSql + Sync)).collect()
}

/// Closing the driver's connection runs a runtime of its own: not on a thread of async code.
impl Drop for DirectConnection {
    fn drop(&mut self) {
        if let DirectConnection::Postgres(client) = self
            && let Some(client) = client.take()
        {
            blocking(move || drop(client));
        }
    }
}

/// Everything the database keeps, as bytes in which to look for a secret that must not be
/// there: SQLite's file and its write-ahead log; on PostgreSQL, every row of every table as text
/// (BYTEA in its escape form, where printable bytes stand as themselves).
pub fn stored_bytes(db: &std::path::Path) -> Vec<Vec<u8>> {
    if !on_postgres() {
        let database = std::fs::read(db).expect("read the database file");
        let write_ahead_log = std::fs::read(format!("{}-wal", db.display())).unwrap_or_default();
        return vec![database, write_ahead_log];
    }
    let url = db.to_str().expect("a PostgreSQL URL");
    blocking(|| {
        let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect to the database");
        client.batch_execute("SET bytea_output = 'escape'").unwrap();
        let tables = client
            .query(
                "SELECT quote_ident(table_name) FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                &[],
            )
            .unwrap();
        assert!(tables.len() > 10, "the schema's tables: {}", tables.len());
        let mut text = String::new();
        for table in tables {
            let table: String = table.get(0);
            for row in client.query(&format!("SELECT t::text FROM {table} t"), &[]).unwrap() {
                text.push_str(row.get::<_, &str>(0));
                text.push('\n');
            }
        }
        vec![text.into_bytes()]
    })
}

/// Waits until some session of the database at `url` waits for a row lock (generous timeout,
/// polled: no timing assumption).
pub fn wait_for_a_lock_wait(url: &str) {
    let mut observer = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let waiting: i64 = observer
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no session of the database ever waited for a lock");
        std::thread::sleep(Duration::from_millis(10));
    }
}
