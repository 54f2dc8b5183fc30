//! SQLite sessions: a read session is a pooled read-only connection inside `BEGIN` (a snapshot);
//! a write session is the one writer connection inside `BEGIN IMMEDIATE` (the database's write
//! lock, held until commit or rollback), with nested savepoints.

use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::store::{SavepointAction, SavepointStep, StoreError, StoreResult, StoreWrite};

/// Both session kinds read through the same code: every read trait is implemented for any
/// `HasConnection`.
pub trait HasConnection {
    fn connection(&self) -> &Connection;
}

pub struct SqliteRead<'s> {
    /// Where the connection goes back when the session ends.
    pub idle_readers: &'s Mutex<Vec<Connection>>,
    pub connection: Option<Connection>,
}

impl Drop for SqliteRead<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && connection.execute_batch("COMMIT").is_ok()
        {
            self.idle_readers.lock().expect("reader pool lock").push(connection);
        }
    }
}

impl HasConnection for SqliteRead<'_> {
    fn connection(&self) -> &Connection {
        self.connection.as_ref().expect("connection present until drop")
    }
}

pub struct SqliteWrite<'s> {
    pub connection: MutexGuard<'s, Connection>,
    pub finished: bool,
    pub savepoint_depth: u32,
    /// A savepoint could not be released or undone: the session's state is unknown, so it
    /// must not commit.
    pub broken: Option<String>,
}

impl SqliteWrite<'_> {
    pub fn new(connection: MutexGuard<'_, Connection>) -> SqliteWrite<'_> {
        SqliteWrite { connection, finished: false, savepoint_depth: 0, broken: None }
    }

    fn end_savepoint(&mut self, sql: &str) -> StoreResult<()> {
        assert!(self.savepoint_depth > 0, "no savepoint to end");
        self.savepoint_depth -= 1;
        self.connection.execute_batch(sql).map_err(|error| {
            let error = StoreError::from(error);
            self.broken = Some(error.to_string());
            error
        })
    }
}

impl Drop for SqliteWrite<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Not committed: nothing of this session may persist.
            let _ = self.connection.execute_batch("ROLLBACK");
        }
    }
}

impl HasConnection for SqliteWrite<'_> {
    fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl StoreWrite for SqliteWrite<'_> {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        if let Some(reason) = &self.broken {
            return Err(StoreError::Backend(format!("a savepoint failed, so nothing was committed: {reason}")));
        }
        if self.savepoint_depth != 0 {
            return Err(StoreError::Backend("commit with an open savepoint; nothing was committed".to_owned()));
        }
        self.connection.execute_batch("COMMIT")?;
        self.finished = true;
        Ok(())
    }

    fn savepoint(&mut self, step: SavepointStep) -> StoreResult<()> {
        // Every savepoint has the same name: SQLite releases or rolls back the innermost one.
        match step.0 {
            SavepointAction::Begin => {
                self.connection.execute_batch("SAVEPOINT command")?;
                self.savepoint_depth += 1;
                Ok(())
            }
            SavepointAction::Release => self.end_savepoint("RELEASE command"),
            SavepointAction::RollBack => self.end_savepoint("ROLLBACK TO command; RELEASE command"),
        }
    }
}
