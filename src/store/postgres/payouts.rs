//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::money::{Asset, AssetRef, Money, Network};
use crate::engine::payout::{
    Approval, ApprovalDecision, ApprovalTrigger, Destination, Payout, PayoutStatus, SpendLimit,
};
use crate::engine::principal::{Mode, Scope};
use crate::engine::rail::Rail;
use crate::store::{Page, PageRequest, PayoutFilter, PayoutsRead, PayoutsWrite, StoreError, StoreResult};
use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::store::postgres::session::PgSession;

impl PayoutsRead for PgSession<'_> {
    fn get_payout(&self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
        todo!("postgres: payouts")
    }
    fn list_payouts(&self, scope: &Scope, filter: &PayoutFilter, page: &PageRequest) -> StoreResult<Page<Payout>> {
        todo!("postgres: payouts")
    }
    fn owner_payout_spend_since(
        &self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)> {
        todo!("postgres: payouts")
    }
    fn merchant_payout_spend_since(&self, scope: &Scope, asset: AssetRef, since_ms: i64) -> StoreResult<i64> {
        todo!("postgres: payouts")
    }
    fn owner_spend_limits(&self, scope: &Scope, owner_skeleton: &str) -> StoreResult<Vec<(AssetRef, SpendLimit)>> {
        todo!("postgres: payouts")
    }
}

impl PayoutsWrite for PgSession<'_> {
    fn get_payout_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
        todo!("postgres: payouts")
    }
    fn owner_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)> {
        todo!("postgres: payouts")
    }
    fn merchant_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        asset: AssetRef,
        since_ms: i64,
    ) -> StoreResult<i64> {
        todo!("postgres: payouts")
    }
    fn insert_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        todo!("postgres: payouts")
    }
    fn update_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        todo!("postgres: payouts")
    }
    fn set_spend_limit(&mut self, key_id: &str, asset: AssetRef, limit: SpendLimit) -> StoreResult<()> {
        todo!("postgres: payouts")
    }
}
