//! PostgreSQL sessions. A read session is a pooled connection inside `BEGIN ISOLATION LEVEL
//! REPEATABLE READ, READ ONLY` (one snapshot, as SQLite's read transaction). A write session is a
//! pooled connection inside `BEGIN` (READ COMMITTED): unlike SQLite's single write lock, several
//! processes write at once, so a decision locks what it reads (`…_for_update`: `SELECT … FOR
//! UPDATE`) and a unique constraint settles what two writers insert at once.
//!
//! Every statement goes through `PooledConnection`, which prepares each distinct SQL text once
//! per connection and remembers when a statement failed: PostgreSQL then refuses everything but a
//! rollback, so a session whose failure was not undone by a savepoint refuses to commit (a plain
//! `COMMIT` would silently roll back and be taken for success).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};

use crate::store::postgres::PostgresStore;
use crate::store::{SavepointAction, SavepointStep, StoreError, StoreResult, StoreWrite};

/// Past this many distinct SQL texts on one connection, the statement cache starts over (list
/// queries build their SQL from their filters, so the set is finite, but a bound costs nothing).
const STATEMENT_CACHE_MAX_ENTRIES: usize = 512;

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// One connection of the pool, with its prepared statements.
pub struct PgConnection {
    pub client: Client,
    statements: HashMap<String, Statement>,
}

impl PgConnection {
    pub fn new(client: Client) -> PgConnection {
        PgConnection { client, statements: HashMap::new() }
    }

    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        if self.statements.len() >= STATEMENT_CACHE_MAX_ENTRIES {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// A session's connection: borrowed mutably per statement, so that the read traits (`&self`)
/// can run queries.
pub struct PooledConnection {
    connection: RefCell<PgConnection>,
    /// A statement failed and no savepoint has undone it yet.
    failed: Cell<bool>,
}

impl PooledConnection {
    pub fn new(connection: PgConnection) -> PooledConnection {
        PooledConnection { connection: RefCell::new(connection), failed: Cell::new(false) }
    }

    pub fn into_inner(self) -> PgConnection {
        self.connection.into_inner()
    }

    fn note<T>(&self, result: Result<T, postgres::Error>) -> StoreResult<T> {
        result.map_err(|error| {
            self.failed.set(true);
            StoreError::from(error)
        })
    }

    pub fn query(&self, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
        let mut connection = self.connection.borrow_mut();
        let result = connection.prepared(sql).and_then(|statement| connection.client.query(&statement, params));
        self.note(result)
    }

    pub fn query_opt(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        let mut connection = self.connection.borrow_mut();
        let result = connection.prepared(sql).and_then(|statement| connection.client.query_opt(&statement, params));
        self.note(result)
    }

    pub fn query_one(&self, sql: &str, params: Params<'_>) -> StoreResult<Row> {
        let mut connection = self.connection.borrow_mut();
        let result = connection.prepared(sql).and_then(|statement| connection.client.query_one(&statement, params));
        self.note(result)
    }

    /// Runs a statement; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: Params<'_>) -> StoreResult<u64> {
        let mut connection = self.connection.borrow_mut();
        let result = connection.prepared(sql).and_then(|statement| connection.client.execute(&statement, params));
        self.note(result)
    }

    /// Statements without parameters, sent as one simple query (transaction control).
    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        let result = self.connection.borrow_mut().client.batch_execute(sql);
        self.note(result)
    }

    fn is_usable(&self) -> bool {
        !self.failed.get() && !self.connection.borrow().client.is_closed()
    }
}

/// A balance row by its key: merchant, mode, account, asset.
pub type BalanceKey = (String, String, String, String);

/// A read or write session: one type, so that every object file implements its read traits and
/// its write traits for it once. A read session is only ever handed out as `dyn StoreRead`, so
/// its write methods cannot be reached.
pub struct PgSession<'s> {
    pub store: &'s PostgresStore,
    pub connection: Option<PooledConnection>,
    pub is_write: bool,
    pub savepoint_depth: u32,
    /// Savepoints released by the caller whose `RELEASE` is not sent yet: it goes in the same
    /// round trip as the next savepoint statement (a group of commands is one savepoint each, so
    /// this saves one round trip per command). Until then the statements at the outer level run
    /// inside it, which changes nothing: releasing merges it into its parent, and `COMMIT`
    /// commits it with the rest.
    pub releases_unsent: u32,
    /// The balance rows this write session holds locked (`FOR UPDATE`, or written by it), with
    /// their balance as it is now: no other session can change them until this one ends, so the
    /// ledger reads them from here instead of asking again. Emptied when a savepoint is rolled
    /// back (which also releases the locks taken inside it).
    pub locked_balances: RefCell<HashMap<BalanceKey, i64>>,
    /// A savepoint could not be released or undone: the session's state is unknown, so it
    /// must not commit.
    pub broken: Option<String>,
}

impl<'s> PgSession<'s> {
    pub fn new(store: &'s PostgresStore, connection: PooledConnection, is_write: bool) -> PgSession<'s> {
        PgSession {
            store,
            connection: Some(connection),
            is_write,
            savepoint_depth: 0,
            releases_unsent: 0,
            locked_balances: RefCell::new(HashMap::new()),
            broken: None,
        }
    }

    pub fn db(&self) -> &PooledConnection {
        self.connection.as_ref().expect("connection present until commit or drop")
    }
}

impl Drop for PgSession<'_> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else { return };
        // A read ends its snapshot; a write not committed keeps nothing.
        let end = if self.is_write { "ROLLBACK" } else { "COMMIT" };
        connection.failed.set(false);
        if connection.batch(end).is_ok() && connection.is_usable() {
            self.store.give_back(connection.into_inner());
        } else {
            self.store.forget_one();
        }
    }
}

impl PgSession<'_> {
    fn begin_savepoint(&mut self) -> StoreResult<()> {
        let releases = self.releases_unsent;
        let was_failed = self.db().failed.get();
        let batch = format!("{}SAVEPOINT command", "RELEASE SAVEPOINT command; ".repeat(releases as usize));
        match self.db().batch(&batch) {
            Ok(()) => {
                self.releases_unsent = 0;
                self.savepoint_depth += 1;
                Ok(())
            }
            // In a transaction a failed statement aborted, PostgreSQL runs none of the batch:
            // the releases are still to be sent (or undone by a rollback), as before.
            Err(error) if was_failed => Err(error),
            Err(error) => {
                if releases > 0 {
                    self.broken = Some(error.to_string());
                }
                Err(error)
            }
        }
    }

    fn roll_back_savepoint(&mut self) -> StoreResult<()> {
        assert!(self.savepoint_depth > 0, "no savepoint to end");
        self.savepoint_depth -= 1;
        // Its locks are released and its writes undone: what the session knew of them is gone.
        self.locked_balances.borrow_mut().clear();
        // The savepoints released but not yet sent lie inside this one: each is rolled back
        // and removed first (a rollback works in an aborted transaction, a release would not).
        // Undoing the innermost savepoint also undoes the failed statement inside it.
        let steps = std::mem::take(&mut self.releases_unsent) as usize + 1;
        let batch = vec!["ROLLBACK TO SAVEPOINT command; RELEASE SAVEPOINT command"; steps].join("; ");
        let result = self.db().batch(&batch);
        match &result {
            Ok(()) => self.db().failed.set(false),
            Err(error) => self.broken = Some(error.to_string()),
        }
        result
    }
}

impl StoreWrite for PgSession<'_> {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        if let Some(reason) = &self.broken {
            return Err(StoreError::Backend(format!("a savepoint failed, so nothing was committed: {reason}")));
        }
        if self.savepoint_depth != 0 {
            return Err(StoreError::Backend("commit with an open savepoint; nothing was committed".to_owned()));
        }
        if self.db().failed.get() {
            return Err(StoreError::Backend("a statement failed and was not undone; nothing was committed".to_owned()));
        }
        let connection = self.connection.take().expect("connection present until commit");
        match connection.batch("COMMIT") {
            Ok(()) => {
                self.store.give_back(connection.into_inner());
                Ok(())
            }
            Err(error) => {
                // The outcome of a COMMIT whose answer was lost is unknown; the connection is
                // not reused.
                self.store.forget_one();
                Err(error)
            }
        }
    }

    fn savepoint(&mut self, step: SavepointStep) -> StoreResult<()> {
        // Every savepoint has the same name: PostgreSQL releases or rolls back the most recent.
        match step.0 {
            SavepointAction::Begin => self.begin_savepoint(),
            SavepointAction::Release => {
                assert!(self.savepoint_depth > 0, "no savepoint to end");
                self.savepoint_depth -= 1;
                self.releases_unsent += 1;
                if self.db().failed.get() {
                    // A failed statement inside it was not undone: sent now, the release fails
                    // and the session refuses to commit, as a release sent at once always did.
                    let releases = std::mem::take(&mut self.releases_unsent) as usize;
                    let batch = vec!["RELEASE SAVEPOINT command"; releases].join("; ");
                    return self.db().batch(&batch).inspect_err(|error| self.broken = Some(error.to_string()));
                }
                // Otherwise sent with the next savepoint statement (`releases_unsent`).
                Ok(())
            }
            SavepointAction::RollBack => self.roll_back_savepoint(),
        }
    }
}
