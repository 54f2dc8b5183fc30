//! What every SQLite object file shares: parsing stored codes, list pages, and turning SQLite's
//! errors into the store's backend-neutral ones. A leaf: it imports no other SQLite file.

use rusqlite::ffi;

use crate::store::StoreError;

/// SQLite's errors in the store's words. A unique constraint is a `Conflict` naming the object;
/// data that does not read back as harepay wrote it, or that the schema refuses, is `Corrupt`;
/// everything else (IO, a lock not granted in time, a full disk) is `Backend`.
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        match &error {
            rusqlite::Error::SqliteFailure(failure, message) => match failure.code {
                ffi::ErrorCode::ConstraintViolation
                    if matches!(
                        failure.extended_code,
                        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    StoreError::Conflict { what: conflicting_object(message.as_deref().unwrap_or_default()) }
                }
                ffi::ErrorCode::ConstraintViolation
                | ffi::ErrorCode::DatabaseCorrupt
                | ffi::ErrorCode::NotADatabase
                | ffi::ErrorCode::TypeMismatch => StoreError::Corrupt(error.to_string()),
                _ => StoreError::Backend(error.to_string()),
            },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::Utf8Error(..)
            | rusqlite::Error::QueryReturnedNoRows => StoreError::Corrupt(error.to_string()),
            _ => StoreError::Backend(error.to_string()),
        }
    }
}

/// The object a unique constraint protects, from SQLite's message ("UNIQUE constraint failed:
/// idempotency_records.merchant_id, …").
fn conflicting_object(message: &str) -> &'static str {
    let table = message.split_once(": ").map_or("", |(_, columns)| columns.split('.').next().unwrap_or_default());
    StoreError::object_of_table(table)
}

pub use crate::store::rows::{asset_of, corrupt, into_page};

/// A stored value that does not parse is corruption; report it from inside a row mapping.
pub fn parsed<T>(value: Option<T>, what: &str, raw: &str) -> rusqlite::Result<T> {
    value.ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown {what} {raw:?}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::principal::Mode;

    #[test]
    fn unique_violations_are_conflicts_naming_the_object_and_other_failures_are_not() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE idempotency_records (key TEXT PRIMARY KEY, n INTEGER CHECK (typeof(n) = 'integer')); \
                 CREATE TABLE events (id TEXT NOT NULL UNIQUE); \
                 INSERT INTO idempotency_records VALUES ('k', 1); INSERT INTO events VALUES ('evt_1');",
            )
            .unwrap();
        let error = |sql: &str| StoreError::from(connection.execute_batch(sql).unwrap_err());
        let duplicate_key = error("INSERT INTO idempotency_records VALUES ('k', 2)");
        assert!(matches!(duplicate_key, StoreError::Conflict { what: "idempotency key" }), "{duplicate_key:?}");
        let duplicate_event = error("INSERT INTO events VALUES ('evt_1')");
        assert!(matches!(duplicate_event, StoreError::Conflict { what: "event" }), "{duplicate_event:?}");
        let not_an_integer = error("INSERT INTO idempotency_records VALUES ('j', 1.5)");
        assert!(matches!(not_an_integer, StoreError::Corrupt(_)), "{not_an_integer:?}");
        let no_table = error("SELECT * FROM nowhere");
        assert!(matches!(no_table, StoreError::Backend(_)), "{no_table:?}");
        let unknown_code = StoreError::from(parsed::<Mode>(None, "mode", "sandbox").unwrap_err());
        assert!(matches!(unknown_code, StoreError::Corrupt(ref message) if message.contains("sandbox")));
    }
}
