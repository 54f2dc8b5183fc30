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
