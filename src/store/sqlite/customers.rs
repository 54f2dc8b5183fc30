//! Customers. Their prepaid balances are ledger accounts (`ledger.rs`).

use rusqlite::{Connection, Row};

use crate::engine::customer::Customer;
use crate::engine::principal::{Mode, Scope};
use crate::store::sqlite::rows::{into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{CustomerFilter, CustomersRead, CustomersWrite, Page, PageRequest, StoreError, StoreResult};

const CUSTOMER_COLUMNS: &str =
    "id, merchant_id, mode, email, name, phone, metadata_json, archived_at_ms, created_at_ms, updated_at_ms";

fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<Customer> {
    let mode: String = row.get("mode")?;
    let metadata_json: String = row.get("metadata_json")?;
    Ok(Customer {
        id: row.get("id")?,
        scope: Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        email: row.get("email")?,
        name: row.get("name")?,
        phone: row.get("phone")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        archived_at_ms: row.get("archived_at_ms")?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

fn query_customers(
    connection: &Connection,
    where_sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<Customer>> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE {where_sql}");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(values, customer_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl<T: HasConnection> CustomersRead for T {
    fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        let mode = scope.mode.code();
        let mut found = query_customers(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 AND id = ?3",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Customer>> {
        let mode = scope.mode.code();
        let email_lookup = filter.email.as_deref().map(crate::engine::customer::email_lookup);
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_customers(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR email_lookup = ?3) \
             AND (?4 IS NULL OR (archived_at_ms IS NOT NULL) = ?4) \
             AND (?5 IS NULL OR seq < (SELECT seq FROM customers WHERE id = ?5)) \
             ORDER BY seq DESC LIMIT ?6",
            &[&scope.merchant_id, &mode, &email_lookup, &filter.archived, &page.starting_after, &limit_plus_one],
        )?;
        Ok(into_page(items, page.limit))
    }
}

fn customer_params(customer: &Customer) -> [Box<dyn rusqlite::ToSql>; 11] {
    let metadata_json = serde_json::to_string(&customer.metadata).expect("string map serializes");
    [
        Box::new(customer.id.clone()),
        Box::new(customer.scope.merchant_id.clone()),
        Box::new(customer.scope.mode.code()),
        Box::new(customer.email.clone()),
        Box::new(customer.email_lookup()),
        Box::new(customer.name.clone()),
        Box::new(customer.phone.clone()),
        Box::new(metadata_json),
        Box::new(customer.archived_at_ms),
        Box::new(customer.created_at_ms),
        Box::new(customer.updated_at_ms),
    ]
}

impl CustomersWrite for SqliteWrite<'_> {
    fn get_customer_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        // The write transaction holds SQLite's only write lock: nothing else can change the row.
        self.get_customer(scope, id)
    }

    fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO customers (id, merchant_id, mode, email, email_lookup, name, phone, metadata_json, \
                 archived_at_ms, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(rusqlite::params_from_iter(customer_params(customer).iter()))?;
        Ok(())
    }

    fn update_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        // The scope and the creation time are part of the WHERE: an update never moves a
        // customer to another merchant or mode.
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE customers SET email = ?4, email_lookup = ?5, name = ?6, phone = ?7, metadata_json = ?8, \
                 archived_at_ms = ?9, updated_at_ms = ?11 \
                 WHERE id = ?1 AND merchant_id = ?2 AND mode = ?3 AND created_at_ms = ?10",
            )?
            .execute(rusqlite::params_from_iter(customer_params(customer).iter()))?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("customer {} to update does not exist", customer.id)));
        }
        Ok(())
    }
}
