//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::catalog::{Price, PriceModel, Product};
use crate::engine::interval::{Interval, IntervalUnit};
use crate::engine::money::Asset;
use crate::engine::principal::{Mode, Scope};
use crate::store::{CatalogRead, CatalogWrite, Page, PageRequest, PriceFilter, ProductFilter, StoreError, StoreResult};

use crate::store::postgres::session::PgSession;

impl CatalogRead for PgSession<'_> {
    fn get_product(&self, scope: &Scope, id: &str) -> StoreResult<Option<Product>> {
        todo!("postgres: catalog")
    }
    fn list_products(&self, scope: &Scope, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Page<Product>> {
        todo!("postgres: catalog")
    }
    fn get_price(&self, scope: &Scope, id: &str) -> StoreResult<Option<Price>> {
        todo!("postgres: catalog")
    }
    fn list_prices(&self, scope: &Scope, filter: &PriceFilter, page: &PageRequest) -> StoreResult<Page<Price>> {
        todo!("postgres: catalog")
    }
}

impl CatalogWrite for PgSession<'_> {
    fn get_product_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Product>> {
        todo!("postgres: catalog")
    }
    fn get_price_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Price>> {
        todo!("postgres: catalog")
    }
    fn insert_product(&mut self, product: &Product) -> StoreResult<()> {
        todo!("postgres: catalog")
    }
    fn insert_price(&mut self, price: &Price) -> StoreResult<()> {
        todo!("postgres: catalog")
    }
    fn mark_price_used(&mut self, scope: &Scope, id: &str) -> StoreResult<()> {
        todo!("postgres: catalog")
    }
}
