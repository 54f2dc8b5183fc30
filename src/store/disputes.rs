//! The store's contract for disputes: a file of its own so that the area stays one place.

use crate::engine::dispute::{Dispute, DisputeStatus};
use crate::engine::principal::Scope;
use crate::store::{Page, PageRequest, StoreResult};

/// What `list_disputes` filters by; `None` is any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisputeFilter {
    pub status: Option<DisputeStatus>,
    pub payment_intent_id: Option<String>,
    pub created_gte_ms: Option<i64>,
    pub created_lt_ms: Option<i64>,
}

/// Disputes of a merchant's payments in one mode.
pub trait DisputesRead {
    fn get_dispute(&self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>>;
    /// The payment's dispute (a payment has at most one).
    fn get_dispute_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Dispute>>;
    /// Newest first.
    fn list_disputes(&self, scope: &Scope, filter: &DisputeFilter, page: &PageRequest) -> StoreResult<Page<Dispute>>;
}

pub trait DisputesWrite {
    /// `get_dispute` for a decision that changes the dispute.
    fn get_dispute_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>>;
    /// `get_dispute_for_payment` for a decision (opening one, a refund beside it).
    fn get_dispute_for_payment_for_update(
        &mut self,
        scope: &Scope,
        payment_intent_id: &str,
    ) -> StoreResult<Option<Dispute>>;
    /// Refuses a second dispute of the same payment with `Conflict { what: "dispute" }`.
    fn insert_dispute(&mut self, dispute: &Dispute) -> StoreResult<()>;
    fn update_dispute(&mut self, dispute: &Dispute) -> StoreResult<()>;
}
