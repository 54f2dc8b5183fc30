//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::dispute::{Dispute, DisputeEvidence, DisputeOutcome, DisputeReason, DisputeStatus};
use crate::engine::money::{Asset, Money};
use crate::engine::principal::{Mode, Scope};
use crate::store::{DisputeFilter, DisputesRead, DisputesWrite, Page, PageRequest, StoreError, StoreResult};

use crate::store::postgres::session::PgSession;

impl DisputesRead for PgSession<'_> {
    fn get_dispute(&self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>> {
        todo!("postgres: disputes")
    }
    fn get_dispute_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Dispute>> {
        todo!("postgres: disputes")
    }
    fn list_disputes(&self, scope: &Scope, filter: &DisputeFilter, page: &PageRequest) -> StoreResult<Page<Dispute>> {
        todo!("postgres: disputes")
    }
}

impl DisputesWrite for PgSession<'_> {
    fn get_dispute_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>> {
        todo!("postgres: disputes")
    }
    fn get_dispute_for_payment_for_update(
        &mut self,
        scope: &Scope,
        payment_intent_id: &str,
    ) -> StoreResult<Option<Dispute>> {
        todo!("postgres: disputes")
    }
    fn insert_dispute(&mut self, dispute: &Dispute) -> StoreResult<()> {
        todo!("postgres: disputes")
    }
    fn update_dispute(&mut self, dispute: &Dispute) -> StoreResult<()> {
        todo!("postgres: disputes")
    }
}
