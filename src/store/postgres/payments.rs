//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::money::{Asset, Money, Network};
use crate::engine::payment::{
    NextAction, PaymentIntent, PaymentMethod, PaymentStatus, Refund, RefundStatus, Settlement,
};
use crate::engine::principal::{Mode, Scope};
use crate::engine::rail::Rail;
use crate::store::{Page, PageRequest, PaymentFilter, PaymentsRead, PaymentsWrite, StoreError, StoreResult};
use std::sync::LazyLock;

use crate::store::postgres::session::PgSession;

impl PaymentsRead for PgSession<'_> {
    fn get_payment(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        todo!("postgres: payments")
    }
    fn list_payments(
        &self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<PaymentIntent>> {
        todo!("postgres: payments")
    }
    fn list_refunds_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Vec<Refund>> {
        todo!("postgres: payments")
    }
}

impl PaymentsWrite for PgSession<'_> {
    fn get_payment_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        todo!("postgres: payments")
    }
    fn insert_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        todo!("postgres: payments")
    }
    fn update_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        todo!("postgres: payments")
    }
    fn insert_refund(&mut self, refund: &Refund) -> StoreResult<()> {
        todo!("postgres: payments")
    }
}
