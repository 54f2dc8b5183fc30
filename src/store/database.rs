//! Which database `--db` names: a SQLite file (the default) or a PostgreSQL URL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::store::postgres::{PostgresStore, is_postgres_url};
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A `postgres://` URL, which may carry a password: shown only through `Display`, which
    /// leaves it out.
    Postgres(String),
}

impl Database {
    /// `--db` as given: a `postgres://` or `postgresql://` URL, else a SQLite file path.
    pub fn from_arg(arg: &Path) -> Database {
        match arg.to_str() {
            Some(text) if is_postgres_url(text) => Database::Postgres(text.to_owned()),
            _ => Database::Sqlite(arg.to_owned()),
        }
    }

    pub fn open(&self) -> StoreResult<Arc<dyn Store>> {
        Ok(match self {
            Database::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            Database::Postgres(url) => Arc::new(PostgresStore::open(url)?),
        })
    }

    /// The value to pass as `--db` in a hint shown to a person: an absolute path, or the URL
    /// without its password.
    pub fn hint_value(&self) -> String {
        match self {
            Database::Sqlite(path) => std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string(),
            Database::Postgres(url) => url_without_password(url, "YOUR_PASSWORD"),
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(formatter, "{}", path.display()),
            Database::Postgres(url) => formatter.write_str(&url_without_password(url, "***")),
        }
    }
}

/// `postgres://user:secret@host/db` with the secret replaced; anything else as it is, except
/// that a `password=` parameter is replaced too.
fn url_without_password(url: &str, replacement: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return "postgres://(unparsable URL)".to_owned() };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(replacement));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "password" { replacement.to_owned() } else { value.into_owned() };
            (name.into_owned(), value)
        })
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        let database = Database::from_arg(Path::new("postgres://harepay:s3cret@db.internal:5432/pay?password=other"));
        let shown = database.to_string();
        assert!(!shown.contains("s3cret") && !shown.contains("other"), "{shown}");
        assert!(shown.contains("harepay:***@db.internal:5432/pay"), "{shown}");
        assert!(database.hint_value().contains("YOUR_PASSWORD"));
        assert_eq!(Database::from_arg(Path::new("pay.db")), Database::Sqlite(PathBuf::from("pay.db")));
        assert_eq!(Database::from_arg(Path::new("postgresql:x")), Database::Sqlite(PathBuf::from("postgresql:x")));
    }
}
