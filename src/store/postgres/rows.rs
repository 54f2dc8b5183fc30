//! What every PostgreSQL object file shares: turning PostgreSQL's errors into the store's
//! backend-neutral ones, and reading typed columns. A leaf: it imports no other PostgreSQL file.

use postgres::Row;
use postgres::error::SqlState;
use postgres::types::FromSql;

use crate::engine::principal::{Mode, Scope};
use crate::store::{StoreError, StoreResult};

pub use crate::store::rows::{asset_of, corrupt, into_page};

/// PostgreSQL's errors in the store's words. A unique violation is a `Conflict` naming the object;
/// a value or row the schema refuses is `Corrupt`; a deadlock, a serialization failure or a lock
/// not granted in time is `Contention` (another process held what this one needed: nothing was
/// kept, and trying again may succeed); everything else (a lost connection, a full disk) is
/// `Backend`.
impl From<postgres::Error> for StoreError {
    fn from(error: postgres::Error) -> StoreError {
        let Some(database_error) = error.as_db_error() else {
            // The driver's own words ("error connecting to server") leave out why: the cause
            // (connection refused, a timeout) follows them.
            return match std::error::Error::source(&error) {
                Some(cause) => StoreError::Backend(format!("{error}: {cause}")),
                None => StoreError::Backend(error.to_string()),
            };
        };
        let code = database_error.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            StoreError::Conflict { what: StoreError::object_of_table(database_error.table().unwrap_or_default()) }
        } else if [SqlState::T_R_DEADLOCK_DETECTED, SqlState::T_R_SERIALIZATION_FAILURE, SqlState::LOCK_NOT_AVAILABLE]
            .contains(code)
        {
            StoreError::Contention(database_error.message().to_owned())
        } else if *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE {
            StoreError::BalanceOverflow(database_error.message().to_owned())
        } else if code.code().starts_with("22") || code.code().starts_with("23") {
            // Class 22 (data exception: a NUL in text, a value out of range) and 23 (integrity
            // constraint violation: a CHECK, NOT NULL or foreign key).
            StoreError::Corrupt(format!("{}: {}", code.code(), database_error.message()))
        } else {
            StoreError::Backend(format!("{}: {}", code.code(), database_error.message()))
        }
    }
}

/// A column, read as the type harepay wrote it; anything else is corruption.
pub fn get<'r, T: FromSql<'r>>(row: &'r Row, column: &str) -> StoreResult<T> {
    row.try_get(column).map_err(|error| StoreError::Corrupt(format!("column {column}: {error}")))
}

/// The scope (`merchant_id`, `mode`) a row belongs to.
pub fn scope_from_row(row: &Row) -> StoreResult<Scope> {
    let mode: String = get(row, "mode")?;
    Ok(Scope { merchant_id: get(row, "merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? })
}

/// A stored value that does not parse is corruption.
pub fn parsed<T>(value: Option<T>, what: &str, raw: &str) -> StoreResult<T> {
    value.ok_or_else(|| corrupt(what, raw))
}

/// The outcome of an `INSERT … ON CONFLICT DO NOTHING`: nothing inserted means a row with the same
/// unique key exists, a `Conflict` as a unique violation would be, but without the failed
/// statement after which PostgreSQL refuses the rest of the transaction (SQLite goes on after
/// one, and callers that expect a conflict go on too).
pub fn inserted_or_conflict(inserted: u64, table: &str) -> StoreResult<()> {
    if inserted == 0 {
        return Err(StoreError::Conflict { what: StoreError::object_of_table(table) });
    }
    Ok(())
}
