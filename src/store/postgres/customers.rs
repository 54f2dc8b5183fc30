//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::customer::Customer;
use crate::engine::principal::{Mode, Scope};
use crate::store::{CustomerFilter, CustomersRead, CustomersWrite, Page, PageRequest, StoreError, StoreResult};

use crate::store::postgres::session::PgSession;

impl CustomersRead for PgSession<'_> {
    fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        todo!("postgres: customers")
    }
    fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Customer>> {
        todo!("postgres: customers")
    }
}

impl CustomersWrite for PgSession<'_> {
    fn get_customer_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        todo!("postgres: customers")
    }
    fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        todo!("postgres: customers")
    }
    fn update_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        todo!("postgres: customers")
    }
}
