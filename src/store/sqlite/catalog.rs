//! Products and prices. A stored price never changes but for `used` (a trigger of migration 9
//! refuses anything else, and any delete).

use rusqlite::{Connection, Row, params};

use crate::engine::catalog::{Price, PriceModel, Product};
use crate::engine::interval::{Interval, IntervalUnit};
use crate::engine::money::Asset;
use crate::engine::principal::{Mode, Scope};
use crate::store::sqlite::rows::{into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{CatalogRead, CatalogWrite, Page, PageRequest, PriceFilter, ProductFilter, StoreError, StoreResult};

const PRODUCT_COLUMNS: &str =
    "id, merchant_id, mode, name, description, unit_label, metadata_json, active, created_at_ms, updated_at_ms";

const PRICE_COLUMNS: &str = "id, merchant_id, mode, product_id, model, currency, unit_amount_minor, included_units, \
     auto_charge, interval_unit, interval_count, trial_period_days, active, used, created_at_ms";

fn scope_from_row(row: &Row<'_>) -> rusqlite::Result<Scope> {
    let mode: String = row.get("mode")?;
    Ok(Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? })
}

fn product_from_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    let metadata_json: String = row.get("metadata_json")?;
    Ok(Product {
        id: row.get("id")?,
        scope: scope_from_row(row)?,
        name: row.get("name")?,
        description: row.get("description")?,
        unit_label: row.get("unit_label")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        active: row.get("active")?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

fn price_from_row(row: &Row<'_>) -> rusqlite::Result<Price> {
    let (model, currency, unit): (String, String, String) =
        (row.get("model")?, row.get("currency")?, row.get("interval_unit")?);
    let count: i64 = row.get("interval_count")?;
    let interval = IntervalUnit::parse(&unit).ok().and_then(|unit| Interval::new(unit, count).ok());
    Ok(Price {
        id: row.get("id")?,
        scope: scope_from_row(row)?,
        product_id: row.get("product_id")?,
        model: parsed(PriceModel::parse(&model), "price model", &model)?,
        currency: parsed(Asset::lookup(&currency), "asset", &currency)?,
        unit_amount_minor: row.get("unit_amount_minor")?,
        included_units: row.get("included_units")?,
        auto_charge: row.get("auto_charge")?,
        interval: parsed(interval, "interval", &format!("{count} {unit}"))?,
        trial_period_days: row.get("trial_period_days")?,
        active: row.get("active")?,
        used: row.get("used")?,
        created_at_ms: row.get("created_at_ms")?,
    })
}

fn query<T>(
    connection: &Connection,
    sql: &str,
    values: &[&dyn rusqlite::ToSql],
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    let rows = statement.query_map(values, from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl<T: HasConnection> CatalogRead for T {
    fn get_product(&self, scope: &Scope, id: &str) -> StoreResult<Option<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3");
        let mode = scope.mode.code();
        Ok(query(self.connection(), &sql, &[&scope.merchant_id, &mode, &id], product_from_row)?.pop())
    }

    fn list_products(&self, scope: &Scope, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Page<Product>> {
        let sql = format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR active = ?3) \
             AND (?4 IS NULL OR seq < (SELECT seq FROM products WHERE id = ?4)) \
             ORDER BY seq DESC LIMIT ?5"
        );
        let (mode, limit_plus_one) = (scope.mode.code(), i64::from(page.limit) + 1);
        let values: [&dyn rusqlite::ToSql; 5] =
            [&scope.merchant_id, &mode, &filter.active, &page.starting_after, &limit_plus_one];
        Ok(into_page(query(self.connection(), &sql, &values, product_from_row)?, page.limit))
    }

    fn get_price(&self, scope: &Scope, id: &str) -> StoreResult<Option<Price>> {
        let sql = format!("SELECT {PRICE_COLUMNS} FROM prices WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3");
        let mode = scope.mode.code();
        Ok(query(self.connection(), &sql, &[&scope.merchant_id, &mode, &id], price_from_row)?.pop())
    }

    fn list_prices(&self, scope: &Scope, filter: &PriceFilter, page: &PageRequest) -> StoreResult<Page<Price>> {
        let sql = format!(
            "SELECT {PRICE_COLUMNS} FROM prices WHERE merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR product_id = ?3) \
             AND (?4 IS NULL OR active = ?4) \
             AND (?5 IS NULL OR seq < (SELECT seq FROM prices WHERE id = ?5)) \
             ORDER BY seq DESC LIMIT ?6"
        );
        let (mode, limit_plus_one) = (scope.mode.code(), i64::from(page.limit) + 1);
        let values: [&dyn rusqlite::ToSql; 6] =
            [&scope.merchant_id, &mode, &filter.product_id, &filter.active, &page.starting_after, &limit_plus_one];
        Ok(into_page(query(self.connection(), &sql, &values, price_from_row)?, page.limit))
    }
}

impl CatalogWrite for SqliteWrite<'_> {
    fn get_product_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Product>> {
        // The write transaction holds SQLite's only write lock: nothing else can change the row.
        self.get_product(scope, id)
    }

    fn get_price_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Price>> {
        self.get_price(scope, id)
    }

    fn insert_product(&mut self, product: &Product) -> StoreResult<()> {
        let metadata_json = serde_json::to_string(&product.metadata).expect("string map serializes");
        self.connection
            .prepare_cached(&format!(
                "INSERT INTO products ({PRODUCT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                product.id,
                product.scope.merchant_id,
                product.scope.mode.code(),
                product.name,
                product.description,
                product.unit_label,
                metadata_json,
                product.active,
                product.created_at_ms,
                product.updated_at_ms
            ])?;
        Ok(())
    }

    fn insert_price(&mut self, price: &Price) -> StoreResult<()> {
        self.connection
            .prepare_cached(&format!(
                "INSERT INTO prices ({PRICE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
            ))?
            .execute(params![
                price.id,
                price.scope.merchant_id,
                price.scope.mode.code(),
                price.product_id,
                price.model.code(),
                price.currency.code,
                price.unit_amount_minor,
                price.included_units,
                price.auto_charge,
                price.interval.unit().code(),
                price.interval.count(),
                price.trial_period_days,
                price.active,
                price.used,
                price.created_at_ms
            ])?;
        Ok(())
    }

    fn mark_price_used(&mut self, scope: &Scope, id: &str) -> StoreResult<()> {
        let changed = self
            .connection
            .prepare_cached("UPDATE prices SET used = 1 WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3")?
            .execute(params![scope.merchant_id, scope.mode.code(), id])?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("price {id} to mark used does not exist")));
        }
        Ok(())
    }
}
