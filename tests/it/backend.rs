//! Which database the integration tests run on. SQLite by default; `HAREPAY_TEST_BACKEND=postgres`
//! runs the same tests on a fresh PostgreSQL database each (`./test.sh` runs the suite both ways,
//! on a private cluster from tests/postgres/cluster.sh). The store contract suites run on
//! PostgreSQL whenever `HAREPAY_TEST_POSTGRES_URL` is set.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// A new, empty database on the cluster; returns its URL.
pub fn fresh_postgres_database() -> Option<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let url = postgres_url()?;
    let name = format!(
        "harepay_t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::now_v7().simple()
    );
    Some(harepay::store::postgres::create_database(&url, &name).expect("create a test database"))
}

/// The `--db` value for a test installation: a file in `dir`, or a fresh PostgreSQL database when
/// the suite runs on PostgreSQL.
pub fn database_arg(dir: &std::path::Path, file_name: &str) -> std::path::PathBuf {
    if on_postgres() {
        let url = fresh_postgres_database().expect("HAREPAY_TEST_BACKEND=postgres needs HAREPAY_TEST_POSTGRES_URL");
        std::path::PathBuf::from(url)
    } else {
        dir.join(file_name)
    }
}

/// A fresh PostgreSQL store for the contract suites, or None (skipped loudly) without a cluster.
pub fn open_postgres_store() -> Option<((), Box<dyn Store>)> {
    let url = fresh_postgres_database()?;
    let store = harepay::store::postgres::PostgresStore::open(&url).expect("open the PostgreSQL store");
    Some(((), Box::new(store)))
}

/// A store for tests that build an `App` themselves (a manual clock, sequential ids): SQLite at
/// `path`, or a fresh PostgreSQL database when the suite runs on PostgreSQL.
pub fn open_store(path: &std::path::Path) -> std::sync::Arc<dyn Store> {
    if on_postgres() {
        let url = fresh_postgres_database().expect("HAREPAY_TEST_BACKEND=postgres needs HAREPAY_TEST_POSTGRES_URL");
        std::sync::Arc::new(harepay::store::postgres::PostgresStore::open(&url).expect("open the PostgreSQL store"))
    } else {
        std::sync::Arc::new(harepay::store::sqlite::SqliteStore::open(path).expect("open the SQLite store"))
    }
}

/// A store on `db`, a `--db` value from `database_arg` (a file or a PostgreSQL URL): for tests that
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
