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
//!
//! Inside a savepoint, a write whose answer decides nothing (an insert of a new object, an event,
//! an audit record, a ledger transaction) is not sent at once: it goes with the next statement that
//! needs an answer, or with the savepoint's end, in one round trip (`defer`). Such a write fails
//! only by a PostgreSQL error, which aborts everything after it: its failure is then the answer
//! of that later call or of the savepoint's end, and the savepoint is undone, as the caller undoes
//! a savepoint whose body failed. A rolled-back savepoint drops what it had not sent.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;

use futures_util::TryFutureExt;
use futures_util::future::Either;
use postgres::types::ToSql;
use postgres::{Row, Statement};
use tokio_postgres::Client;

use crate::engine::money::AssetRef;
use crate::engine::payout::SpendLimit;
use crate::limits::POSTGRES_DEFERRED_WRITES_MAX;
use crate::store::postgres::PostgresStore;
use crate::store::postgres::client::{EncodedParameter, PgClient};
use crate::store::postgres::rows::inserted_or_conflict;
use crate::store::{SavepointAction, SavepointStep, StoreError, StoreResult, StoreWrite};

/// Past this many distinct SQL texts on one connection, the statement cache starts over (list
/// queries build their SQL from their filters, so the set is finite, but a bound costs nothing).
const STATEMENT_CACHE_MAX_ENTRIES: usize = 512;

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// One connection of the pool, with its prepared statements.
pub struct PgConnection {
    pub client: PgClient,
    statements: HashMap<String, Statement>,
}

impl PgConnection {
    pub fn new(client: PgClient) -> PgConnection {
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

/// A statement sent later (`PooledConnection::defer`, `PooledConnection::defer_savepoint`).
enum DeferredWrite {
    /// A write, with its parameters encoded.
    Write { statement: Statement, parameters: Vec<EncodedParameter> },
    /// A savepoint's begin (`RELEASE` of the savepoints released before it, then `SAVEPOINT`),
    /// always first in the queue.
    Savepoint { sql: String, releases_carried: u32 },
}

/// What failed in a round trip that carried deferred writes before a statement.
enum Failure {
    /// A deferred write: PostgreSQL ran nothing after it. `savepoint_not_begun`: a deferred
    /// savepoint's begin was this one or came after it.
    Deferred { error: postgres::Error, savepoint_not_begun: bool },
    /// The statement itself.
    Own(postgres::Error),
}

/// Sends the deferred writes and then `statement` in one round trip (each is queued when first
/// polled, in this order, before any answer is awaited), and answers with the first failure.
async fn after_deferred<T>(
    client: &Client,
    deferred: &[DeferredWrite],
    statement: impl Future<Output = Result<T, postgres::Error>>,
) -> Result<T, Failure> {
    if deferred.is_empty() {
        return statement.await.map_err(Failure::Own);
    }
    let parameters: Vec<Vec<&(dyn ToSql + Sync)>> = deferred
        .iter()
        .map(|write| match write {
            DeferredWrite::Write { parameters, .. } => {
                parameters.iter().map(|parameter| parameter as &(dyn ToSql + Sync)).collect()
            }
            DeferredWrite::Savepoint { .. } => Vec::new(),
        })
        .collect();
    let writes = deferred.iter().zip(&parameters).map(|(write, parameters)| match write {
        DeferredWrite::Write { statement, .. } => Either::Left(client.execute(statement, parameters).map_ok(drop)),
        DeferredWrite::Savepoint { sql, .. } => Either::Right(client.batch_execute(sql)),
    });
    let (written, answered) = futures_util::future::join(futures_util::future::join_all(writes), statement).await;
    for (failed_at, outcome) in written.into_iter().enumerate() {
        if let Err(error) = outcome {
            let savepoint_not_begun =
                deferred[failed_at..].iter().any(|write| matches!(write, DeferredWrite::Savepoint { .. }));
            return Err(Failure::Deferred { error, savepoint_not_begun });
        }
    }
    answered.map_err(Failure::Own)
}

/// A session's connection: borrowed mutably per statement, so that the read traits (`&self`)
/// can run queries.
pub struct PooledConnection {
    connection: RefCell<PgConnection>,
    /// A statement failed and no savepoint has undone it yet.
    failed: Cell<bool>,
    /// Writes not sent yet, in the order they were made.
    deferred: RefCell<Vec<DeferredWrite>>,
    /// A deferred savepoint's begin did not run: which savepoints exist is unknown, so nothing
    /// may be rolled back to one, nor committed.
    savepoint_lost: Cell<bool>,
}

impl PooledConnection {
    pub fn new(connection: PgConnection) -> PooledConnection {
        PooledConnection {
            connection: RefCell::new(connection),
            failed: Cell::new(false),
            deferred: RefCell::default(),
            savepoint_lost: Cell::new(false),
        }
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

    /// A deferred write's failure reaches a caller that did not make it: a duplicate is then not
    /// that caller's `Conflict` (which callers may answer as their own, as an idempotency key in
    /// use), but a failure of the savepoint's work.
    fn note_failure<T>(&self, result: Result<T, Failure>) -> StoreResult<T> {
        result.map_err(|failure| {
            self.failed.set(true);
            match failure {
                Failure::Own(error) => StoreError::from(error),
                Failure::Deferred { error, savepoint_not_begun: true } => {
                    self.savepoint_lost.set(true);
                    StoreError::Backend(format!("a savepoint could not begin: {error}"))
                }
                Failure::Deferred { error, savepoint_not_begun: false } => match StoreError::from(error) {
                    StoreError::Conflict { what } => {
                        StoreError::Backend(format!("a write sent ahead failed: the {what} exists already"))
                    }
                    other => other,
                },
            }
        })
    }

    /// The statement prepared from `sql`, run after the deferred writes in one round trip.
    pub fn query(&self, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
        let mut connection = self.connection.borrow_mut();
        let prepared = connection.prepared(sql);
        let statement = self.note(prepared)?;
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        let (client, driver) = connection.client.split();
        let result = driver.block_on(after_deferred(client, &deferred, client.query(&statement, params)));
        self.note_failure(result)
    }

    pub fn query_opt(&self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        let mut rows = self.query(sql, params)?;
        if rows.len() > 1 {
            return Err(StoreError::Backend(format!("a query for at most one row found {}", rows.len())));
        }
        Ok(rows.pop())
    }

    pub fn query_one(&self, sql: &str, params: Params<'_>) -> StoreResult<Row> {
        let mut rows = self.query(sql, params)?;
        if rows.len() != 1 {
            return Err(StoreError::Backend(format!("a query for one row found {}", rows.len())));
        }
        Ok(rows.pop().expect("one row"))
    }

    /// Runs a statement (after the deferred writes, in one round trip); returns the rows it
    /// changed.
    pub fn execute(&self, sql: &str, params: Params<'_>) -> StoreResult<u64> {
        let mut connection = self.connection.borrow_mut();
        let prepared = connection.prepared(sql);
        let statement = self.note(prepared)?;
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        let (client, driver) = connection.client.split();
        let result = driver.block_on(after_deferred(client, &deferred, client.execute(&statement, params)));
        self.note_failure(result)
    }

    /// Statements without parameters, sent as one simple query (transaction control).
    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        let mut connection = self.connection.borrow_mut();
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        let (client, driver) = connection.client.split();
        let result = driver.block_on(after_deferred(client, &deferred, client.batch_execute(sql)));
        self.note_failure(result)
    }

    /// Queues a write (or a row lock) to go with the next statement (module docs). Its SQL must
    /// fail with an error whenever it does not do its work (a plain INSERT, not `ON CONFLICT DO
    /// NOTHING`): no one looks at its answer. Past `POSTGRES_DEFERRED_WRITES_MAX` queued, they are sent at once.
    pub fn defer(&self, sql: &str, params: Params<'_>) -> StoreResult<()> {
        let statement = {
            let mut connection = self.connection.borrow_mut();
            let prepared = connection.prepared(sql);
            self.note(prepared)?
        };
        if params.len() != statement.params().len() {
            return Err(StoreError::Backend(format!(
                "the statement takes {} parameters, given {}",
                statement.params().len(),
                params.len()
            )));
        }
        let parameters = params
            .iter()
            .enumerate()
            .zip(statement.params())
            .map(|((index, value), parameter_type)| EncodedParameter::encode(parameter_type, index, *value))
            .collect::<StoreResult<Vec<_>>>()?;
        let queued = {
            let mut deferred = self.deferred.borrow_mut();
            deferred.push(DeferredWrite::Write { statement, parameters });
            deferred.len()
        };
        if queued >= POSTGRES_DEFERRED_WRITES_MAX {
            return self.send_deferred();
        }
        Ok(())
    }

    /// Sends the deferred writes now, if any.
    pub fn send_deferred(&self) -> StoreResult<()> {
        if self.deferred.borrow().is_empty() {
            return Ok(());
        }
        let mut connection = self.connection.borrow_mut();
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        let (client, driver) = connection.client.split();
        let result = driver.block_on(after_deferred(client, &deferred, std::future::ready(Ok(()))));
        self.note_failure(result)
    }

    /// Forgets the deferred writes: what they would have written is being undone.
    fn drop_deferred(&self) {
        self.deferred.borrow_mut().clear();
    }

    /// Queues a savepoint's begin (`sql`: `RELEASE`s carried, then `SAVEPOINT`) to go with the
    /// next statement; only when nothing else is queued and nothing failed, so that it is first
    /// and cannot meet an aborted transaction.
    /// Gives `sql` back when it cannot be queued.
    fn defer_savepoint(&self, sql: String, releases_carried: u32) -> Result<(), String> {
        let mut deferred = self.deferred.borrow_mut();
        if !deferred.is_empty() || self.failed.get() {
            return Err(sql);
        }
        deferred.push(DeferredWrite::Savepoint { sql, releases_carried });
        Ok(())
    }

    /// When the innermost savepoint's begin is still queued (it was never sent, nor anything done
    /// in it), forgets the queue and answers how many releases its begin carried (still unsent).
    fn forget_unsent_savepoint(&self) -> Option<u32> {
        let mut deferred = self.deferred.borrow_mut();
        let releases_carried = match deferred.first() {
            Some(DeferredWrite::Savepoint { releases_carried, .. }) => *releases_carried,
            _ => return None,
        };
        deferred.clear();
        Some(releases_carried)
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
    /// Balance rows this write session found missing while it held its asset's available row
    /// locked: none can be made meanwhile (`ledger.rs`, "the available row guards"), so they read
    /// as zero without asking again. Emptied with `locked_balances`.
    pub missing_balances: RefCell<HashSet<BalanceKey>>,
    /// A savepoint could not be released or undone: the session's state is unknown, so it
    /// must not commit.
    pub broken: Option<String>,
    /// Each owner's spend limits, read once per write transaction (`SpendLimits`).
    pub spend_limits: RefCell<HashMap<SpendLimitsKey, Vec<(AssetRef, SpendLimit)>>>,
}

/// An owner's spend limits by merchant, mode and owner skeleton.
pub type SpendLimitsKey = (String, String, String);

impl<'s> PgSession<'s> {
    pub fn new(store: &'s PostgresStore, connection: PooledConnection, is_write: bool) -> PgSession<'s> {
        PgSession {
            store,
            connection: Some(connection),
            is_write,
            savepoint_depth: 0,
            releases_unsent: 0,
            locked_balances: RefCell::new(HashMap::new()),
            missing_balances: RefCell::new(HashSet::new()),
            broken: None,
            spend_limits: RefCell::new(HashMap::new()),
        }
    }

    pub fn db(&self) -> &PooledConnection {
        self.connection.as_ref().expect("connection present until commit or drop")
    }

    /// Whether writes are sent ahead (`PooledConnection::defer`): inside a savepoint, whose end
    /// reports their failure and undoes them.
    pub fn defers_writes(&self) -> bool {
        self.is_write && self.savepoint_depth > 0
    }

    /// An INSERT of a new row, whose answer decides nothing. Inside a savepoint it is sent ahead,
    /// and a row with the same key is a unique violation: an error, reported by the next
    /// statement or the savepoint's end. Outside one it is sent now, and such a row is a
    /// `Conflict` naming `table` after which the session goes on.
    pub fn insert_ahead(&self, insert_sql: &str, params: Params<'_>, table: &str) -> StoreResult<()> {
        if self.defers_writes() {
            return self.db().defer(insert_sql, params);
        }
        let inserted = self.db().execute(&format!("{insert_sql} ON CONFLICT DO NOTHING"), params)?;
        inserted_or_conflict(inserted, table)
    }
}

impl Drop for PgSession<'_> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else { return };
        // A read ends its snapshot; a write not committed keeps nothing.
        let end = if self.is_write { "ROLLBACK" } else { "COMMIT" };
        connection.drop_deferred();
        connection.failed.set(false);
        if connection.batch(end).is_ok() && connection.is_usable() {
            self.store.give_back(connection.into_inner());
        } else {
            self.store.forget_one();
        }
    }
}

impl PgSession<'_> {
    /// After a deferred savepoint's begin did not run, which savepoints exist is unknown: the
    /// session refuses every savepoint statement and the commit.
    fn refuse_if_savepoint_lost(&mut self) -> StoreResult<()> {
        if self.db().savepoint_lost.get() {
            let reason = "a savepoint's begin, sent with a later statement, did not run";
            self.broken = Some(reason.to_owned());
            return Err(StoreError::Backend(format!("{reason}; nothing will be committed")));
        }
        Ok(())
    }

    fn begin_savepoint(&mut self) -> StoreResult<()> {
        self.refuse_if_savepoint_lost()?;
        let releases = self.releases_unsent;
        let batch = format!("{}SAVEPOINT command", "RELEASE SAVEPOINT command; ".repeat(releases as usize));
        // Usually nothing is queued and nothing failed: the begin goes with the first statement
        // made in the savepoint, or with its end.
        let Err(batch) = self.db().defer_savepoint(batch, releases) else {
            self.releases_unsent = 0;
            self.savepoint_depth += 1;
            return Ok(());
        };
        // What the enclosing savepoint wrote ahead goes first, on its own: its failure is the
        // enclosing savepoint's, and no savepoint is begun.
        self.db().send_deferred()?;
        let was_failed = self.db().failed.get();
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
        // Its locks are released and its writes undone: what the session knew of them is gone,
        // and what it had not sent yet is never sent.
        self.locked_balances.borrow_mut().clear();
        self.missing_balances.borrow_mut().clear();
        self.spend_limits.borrow_mut().clear();
        self.refuse_if_savepoint_lost()?;
        if let Some(releases_carried) = self.db().forget_unsent_savepoint() {
            // Its begin was never sent, nor anything made in it (a statement sends the queue,
            // and a savepoint inside it would have too): nothing to undo on the server, and the
            // releases its begin carried are still to be sent.
            debug_assert_eq!(self.releases_unsent, 0, "no savepoint was begun inside an unsent one");
            self.releases_unsent = releases_carried;
            return Ok(());
        }
        self.db().drop_deferred();
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
        if self.db().failed.get() || self.db().savepoint_lost.get() {
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
                if let Err(error) = self.db().send_deferred() {
                    // A write made in it failed: it is undone whole, as if its body had failed.
                    self.roll_back_savepoint()?;
                    return Err(error);
                }
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
