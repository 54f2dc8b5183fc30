//! Products and prices on PostgreSQL. A stored price never changes but for `used` (the trigger
//! `prices_are_immutable` in schema.sql refuses anything else, and any delete, as a check
//! violation: `Corrupt`).
//!
//! Safe across processes: a decision about a product or a price (a price created under a
//! product, a product archived) reads it with `…_for_update` (`SELECT … FOR UPDATE`), so two
//! processes take turns on it; `mark_price_used` only ever sets a flag, which two processes can
//! both set without losing anything.

use postgres::Row;

use crate::engine::catalog::{Price, PriceModel, Product};
use crate::engine::interval::{Interval, IntervalUnit};
use crate::engine::money::Asset;
use crate::engine::principal::Scope;
use crate::store::postgres::rows::{get, into_page, parsed, scope_from_row};
use crate::store::postgres::session::{Params, PgSession};
use crate::store::{CatalogRead, CatalogWrite, Page, PageRequest, PriceFilter, ProductFilter, StoreError, StoreResult};

const PRODUCT_COLUMNS: &str =
    "id, merchant_id, mode, name, description, unit_label, metadata_json, active, created_at_ms, updated_at_ms";

const PRICE_COLUMNS: &str = "id, merchant_id, mode, product_id, model, currency, unit_amount_minor, included_units, \
     auto_charge, interval_unit, interval_count, trial_period_days, active, used, created_at_ms";

fn product_from_row(row: &Row) -> StoreResult<Product> {
    let metadata_json: String = get(row, "metadata_json")?;
    Ok(Product {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        unit_label: get(row, "unit_label")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        active: get(row, "active")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

fn price_from_row(row: &Row) -> StoreResult<Price> {
    let (model, currency, unit): (String, String, String) =
        (get(row, "model")?, get(row, "currency")?, get(row, "interval_unit")?);
    let count: i64 = get(row, "interval_count")?;
    let interval = IntervalUnit::parse(&unit).ok().and_then(|unit| Interval::new(unit, count).ok());
    Ok(Price {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        product_id: get(row, "product_id")?,
        model: parsed(PriceModel::parse(&model), "price model", &model)?,
        currency: parsed(Asset::lookup(&currency), "asset", &currency)?,
        unit_amount_minor: get(row, "unit_amount_minor")?,
        included_units: get(row, "included_units")?,
        auto_charge: get(row, "auto_charge")?,
        interval: parsed(interval, "interval", &format!("{count} {unit}"))?,
        trial_period_days: small_count(row, "trial_period_days")?,
        active: get(row, "active")?,
        used: get(row, "used")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

/// A BIGINT column the engine holds as `u32`; anything beyond is corruption.
fn small_count(row: &Row, column: &str) -> StoreResult<u32> {
    let value: i64 = get(row, column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("column {column}: {value} is out of range")))
}

impl PgSession<'_> {
    fn products(&self, where_sql: &str, values: Params<'_>) -> StoreResult<Vec<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE {where_sql}");
        self.db().query(&sql, values)?.iter().map(product_from_row).collect()
    }

    fn prices(&self, where_sql: &str, values: Params<'_>) -> StoreResult<Vec<Price>> {
        let sql = format!("SELECT {PRICE_COLUMNS} FROM prices WHERE {where_sql}");
        self.db().query(&sql, values)?.iter().map(price_from_row).collect()
    }
}

impl CatalogRead for PgSession<'_> {
    fn get_product(&self, scope: &Scope, id: &str) -> StoreResult<Option<Product>> {
        let mode = scope.mode.code();
        let found = self.products("merchant_id = $1 AND mode = $2 AND id = $3", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.into_iter().next())
    }

    fn list_products(&self, scope: &Scope, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Page<Product>> {
        let (mode, limit_plus_one) = (scope.mode.code(), i64::from(page.limit) + 1);
        let items = self.products(
            "merchant_id = $1 AND mode = $2 \
             AND ($3::boolean IS NULL OR active = $3) \
             AND ($4::text IS NULL OR seq < (SELECT seq FROM products WHERE id = $4)) \
             ORDER BY seq DESC LIMIT $5",
            &[&scope.merchant_id, &mode, &filter.active, &page.starting_after, &limit_plus_one],
        )?;
        Ok(into_page(items, page.limit))
    }

    fn get_price(&self, scope: &Scope, id: &str) -> StoreResult<Option<Price>> {
        let mode = scope.mode.code();
        let found = self.prices("merchant_id = $1 AND mode = $2 AND id = $3", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.into_iter().next())
    }

    fn list_prices(&self, scope: &Scope, filter: &PriceFilter, page: &PageRequest) -> StoreResult<Page<Price>> {
        let (mode, limit_plus_one) = (scope.mode.code(), i64::from(page.limit) + 1);
        let items = self.prices(
            "merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR product_id = $3) \
             AND ($4::boolean IS NULL OR active = $4) \
             AND ($5::text IS NULL OR seq < (SELECT seq FROM prices WHERE id = $5)) \
             ORDER BY seq DESC LIMIT $6",
            &[&scope.merchant_id, &mode, &filter.product_id, &filter.active, &page.starting_after, &limit_plus_one],
        )?;
        Ok(into_page(items, page.limit))
    }
}

impl CatalogWrite for PgSession<'_> {
    fn get_product_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Product>> {
        let mode = scope.mode.code();
        let found =
            self.products("merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.into_iter().next())
    }

    fn get_price_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Price>> {
        let mode = scope.mode.code();
        let found =
            self.prices("merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.into_iter().next())
    }

    fn insert_product(&mut self, product: &Product) -> StoreResult<()> {
        let metadata_json = serde_json::to_string(&product.metadata).expect("string map serializes");
        self.db().execute(
            &format!("INSERT INTO products ({PRODUCT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
            &[
                &product.id,
                &product.scope.merchant_id,
                &product.scope.mode.code(),
                &product.name,
                &product.description,
                &product.unit_label,
                &metadata_json,
                &product.active,
                &product.created_at_ms,
                &product.updated_at_ms,
            ],
        )?;
        Ok(())
    }

    fn insert_price(&mut self, price: &Price) -> StoreResult<()> {
        self.db().execute(
            &format!(
                "INSERT INTO prices ({PRICE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            &[
                &price.id,
                &price.scope.merchant_id,
                &price.scope.mode.code(),
                &price.product_id,
                &price.model.code(),
                &price.currency.code,
                &price.unit_amount_minor,
                &price.included_units,
                &price.auto_charge,
                &price.interval.unit().code(),
                &i64::from(price.interval.count()),
                &i64::from(price.trial_period_days),
                &price.active,
                &price.used,
                &price.created_at_ms,
            ],
        )?;
        Ok(())
    }

    fn mark_price_used(&mut self, scope: &Scope, id: &str) -> StoreResult<()> {
        let changed = self.db().execute(
            "UPDATE prices SET used = TRUE WHERE merchant_id = $1 AND mode = $2 AND id = $3",
            &[&scope.merchant_id, &scope.mode.code(), &id],
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("price {id} to mark used does not exist")));
        }
        Ok(())
    }
}
