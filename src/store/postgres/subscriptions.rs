//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::principal::{Mode, Scope};
use crate::engine::subscription::{Subscription, SubscriptionStatus};
use crate::engine::usage::UsagePeriod;
use crate::store::billing::{
    DueSubscription, PeriodCloseRecord, SubscriptionFilter, SubscriptionsRead, SubscriptionsWrite, UsageEventRecord,
};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

use crate::store::postgres::session::PgSession;

impl SubscriptionsRead for PgSession<'_> {
    fn get_subscription(&self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>> {
        todo!("postgres: subscriptions")
    }
    fn list_subscriptions(
        &self,
        scope: &Scope,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        todo!("postgres: subscriptions")
    }
    fn get_usage_period(&self, subscription_id: &str, period_start_ms: i64) -> StoreResult<Option<UsagePeriod>> {
        todo!("postgres: subscriptions")
    }
    fn get_usage_event(&self, subscription_id: &str, event_id: &str) -> StoreResult<Option<UsageEventRecord>> {
        todo!("postgres: subscriptions")
    }
    fn list_period_closes(&self, subscription_id: &str, limit: u32) -> StoreResult<Vec<PeriodCloseRecord>> {
        todo!("postgres: subscriptions")
    }
    fn test_clock_offset_ms(&self, merchant_id: &str) -> StoreResult<i64> {
        todo!("postgres: subscriptions")
    }
    fn due_subscriptions(
        &self,
        real_now_ms: i64,
        scope: Option<&Scope>,
        until_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DueSubscription>> {
        todo!("postgres: subscriptions")
    }
    fn subscription_has_past_due_invoice(&self, subscription_id: &str, now_ms: i64) -> StoreResult<bool> {
        todo!("postgres: subscriptions")
    }
}

impl SubscriptionsWrite for PgSession<'_> {
    fn get_subscription_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>> {
        todo!("postgres: subscriptions")
    }
    fn insert_subscription(&mut self, subscription: &Subscription) -> StoreResult<()> {
        todo!("postgres: subscriptions")
    }
    fn update_subscription(&mut self, subscription: &Subscription) -> StoreResult<()> {
        todo!("postgres: subscriptions")
    }
    fn insert_usage_event(&mut self, event: &UsageEventRecord) -> StoreResult<()> {
        todo!("postgres: subscriptions")
    }
    fn save_usage_period(&mut self, period: &UsagePeriod, now_ms: i64) -> StoreResult<()> {
        todo!("postgres: subscriptions")
    }
    fn insert_period_close(&mut self, close: &PeriodCloseRecord) -> StoreResult<()> {
        todo!("postgres: subscriptions")
    }
    fn set_test_clock_offset(&mut self, merchant_id: &str, offset_ms: i64, now_ms: i64) -> StoreResult<()> {
        todo!("postgres: subscriptions")
    }
}
