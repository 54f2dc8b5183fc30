//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::invoice::{Invoice, InvoiceLine, InvoiceStatus};
use crate::engine::principal::{Mode, Scope};
use crate::store::{
    InvoiceFilter, InvoiceTotalsFilter, InvoiceTotalsRow, InvoicesRead, InvoicesWrite, Page, PageRequest, StoreError,
    StoreResult,
};

use crate::store::postgres::session::PgSession;

impl InvoicesRead for PgSession<'_> {
    fn get_invoice(&self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>> {
        todo!("postgres: invoices")
    }
    fn get_invoice_by_payment_intent(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Invoice>> {
        todo!("postgres: invoices")
    }
    fn list_invoices(&self, scope: &Scope, filter: &InvoiceFilter, page: &PageRequest) -> StoreResult<Page<Invoice>> {
        todo!("postgres: invoices")
    }
    fn invoice_totals(&self, scope: &Scope, filter: &InvoiceTotalsFilter) -> StoreResult<Vec<InvoiceTotalsRow>> {
        todo!("postgres: invoices")
    }
}

impl InvoicesWrite for PgSession<'_> {
    fn get_invoice_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>> {
        todo!("postgres: invoices")
    }
    fn insert_invoice(&mut self, invoice: &Invoice) -> StoreResult<()> {
        todo!("postgres: invoices")
    }
    fn update_invoice(&mut self, invoice: &Invoice) -> StoreResult<()> {
        todo!("postgres: invoices")
    }
}
