//! Customers on PostgreSQL. Their prepaid balances are ledger accounts (`ledger.rs`).
//!
//! Safe across processes: a decision about a customer (update, archive, top-up, a subscription
//! for it) reads it with `get_customer_for_update` (`SELECT … FOR UPDATE`), so two processes
//! changing one customer take turns and the second decides on what the first committed; ids are
//! unique, so two inserts of one customer cannot both succeed.

use postgres::Row;
use postgres::types::ToSql;

use crate::engine::customer::Customer;
use crate::engine::principal::Scope;
use crate::store::postgres::rows::{get, into_page, parsed, scope_from_row};
use crate::store::postgres::session::{Params, PgSession};
use crate::store::{CustomerFilter, CustomersRead, CustomersWrite, Page, PageRequest, StoreError, StoreResult};

const CUSTOMER_COLUMNS: &str =
    "id, merchant_id, mode, email, name, phone, metadata_json, archived_at_ms, created_at_ms, updated_at_ms";

fn customer_from_row(row: &Row) -> StoreResult<Customer> {
    let metadata_json: String = get(row, "metadata_json")?;
    Ok(Customer {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        phone: get(row, "phone")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        archived_at_ms: get(row, "archived_at_ms")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

impl PgSession<'_> {
    fn customers(&self, where_sql: &str, values: Params<'_>) -> StoreResult<Vec<Customer>> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE {where_sql}");
        self.db().query(&sql, values)?.iter().map(customer_from_row).collect()
    }
}

impl CustomersRead for PgSession<'_> {
    fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        let mode = scope.mode.code();
        let found = self.customers("merchant_id = $1 AND mode = $2 AND id = $3", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.into_iter().next())
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
        let items = self.customers(
            "merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR email_lookup = $3) \
             AND ($4::boolean IS NULL OR (archived_at_ms IS NOT NULL) = $4) \
             AND ($5::text IS NULL OR seq < (SELECT seq FROM customers WHERE id = $5)) \
             ORDER BY seq DESC LIMIT $6",
            &[&scope.merchant_id, &mode, &email_lookup, &filter.archived, &page.starting_after, &limit_plus_one],
        )?;
        Ok(into_page(items, page.limit))
    }
}

fn customer_params(customer: &Customer) -> [Box<dyn ToSql + Sync>; 11] {
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

impl CustomersWrite for PgSession<'_> {
    fn get_customer_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        let mode = scope.mode.code();
        let found =
            self.customers("merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.into_iter().next())
    }

    fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO customers (id, merchant_id, mode, email, email_lookup, name, phone, metadata_json, \
             archived_at_ms, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &customer_params(customer).iter().map(|value| value.as_ref()).collect::<Vec<_>>(),
        )?;
        Ok(())
    }

    fn update_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        // The scope and the creation time are part of the WHERE: an update never moves a
        // customer to another merchant or mode.
        let changed = self.db().execute(
            "UPDATE customers SET email = $4, email_lookup = $5, name = $6, phone = $7, metadata_json = $8, \
             archived_at_ms = $9, updated_at_ms = $11 \
             WHERE id = $1 AND merchant_id = $2 AND mode = $3 AND created_at_ms = $10",
            &customer_params(customer).iter().map(|value| value.as_ref()).collect::<Vec<_>>(),
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("customer {} to update does not exist", customer.id)));
        }
        Ok(())
    }
}
