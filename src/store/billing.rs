//! What the store keeps for billing: subscriptions, usage events and per-period counters, the
//! record of each closed period, and the merchants' test clocks. Part of `StoreRead` and
//! `StoreWrite`, like every object area.

use crate::engine::principal::Scope;
use crate::engine::subscription::{Subscription, SubscriptionStatus};
use crate::engine::usage::UsagePeriod;
use crate::store::{Page, PageRequest, StoreResult};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    pub status: Option<SubscriptionStatus>,
    pub customer_id: Option<String>,
    pub price_id: Option<String>,
}

/// A usage report counted once, by its event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEventRecord {
    pub subscription_id: String,
    pub event_id: String,
    pub quantity: i64,
    pub period_start_ms: i64,
    pub created_at_ms: i64,
}

/// A closed subscription period and the invoice it issued (`None`: it billed nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodCloseRecord {
    pub subscription_id: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub invoice_id: Option<String>,
    pub closed_at_ms: i64,
}

/// A subscription whose current period has ended in its merchant's billing time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSubscription {
    pub id: String,
    pub scope: Scope,
    /// The end of its current period: the billing time the close happens at.
    pub due_at_ms: i64,
    /// Failed tries of its close so far (`scheduled_step_retries`).
    pub failed_attempts: u32,
}

pub trait SubscriptionsRead {
    fn get_subscription(&self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>>;
    /// Newest first.
    fn list_subscriptions(
        &self,
        scope: &Scope,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Subscription>>;
    /// The counters of the period starting at `period_start_ms`; `None` when nothing was reported.
    fn get_usage_period(&self, subscription_id: &str, period_start_ms: i64) -> StoreResult<Option<UsagePeriod>>;
    fn get_usage_event(&self, subscription_id: &str, event_id: &str) -> StoreResult<Option<UsageEventRecord>>;
    /// Closed periods of a subscription, newest first, at most `limit`.
    fn list_period_closes(&self, subscription_id: &str, limit: u32) -> StoreResult<Vec<PeriodCloseRecord>>;
    /// The merchant's test clock offset; 0 when it was never advanced.
    fn test_clock_offset_ms(&self, merchant_id: &str) -> StoreResult<i64>;
    /// Subscriptions whose period ended by their merchant's billing time: `real_now_ms`, plus the
    /// merchant's test clock offset in test mode. Oldest due first, at most `limit`, without
    /// closes that wait for a retry or are parked; only `scope`'s when given (with the billing
    /// time `real_now_ms` + its offset, up to `until_ms` when given).
    fn due_subscriptions(
        &self,
        real_now_ms: i64,
        scope: Option<&Scope>,
        until_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DueSubscription>>;
    /// Whether any open invoice of the subscription was due before `now_ms`.
    fn subscription_has_past_due_invoice(&self, subscription_id: &str, now_ms: i64) -> StoreResult<bool>;
}

pub trait SubscriptionsWrite {
    /// `get_subscription` for a decision that changes the subscription or its usage.
    fn get_subscription_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>>;
    fn insert_subscription(&mut self, subscription: &Subscription) -> StoreResult<()>;
    fn update_subscription(&mut self, subscription: &Subscription) -> StoreResult<()>;
    /// Refuses an event id already counted for the subscription with `Conflict`, writing nothing.
    fn insert_usage_event(&mut self, event: &UsageEventRecord) -> StoreResult<()>;
    /// Inserts or replaces the period's counters.
    fn save_usage_period(&mut self, period: &UsagePeriod, now_ms: i64) -> StoreResult<()>;
    /// Refuses a period already closed with `Conflict`, writing nothing.
    fn insert_period_close(&mut self, close: &PeriodCloseRecord) -> StoreResult<()>;
    /// Sets the merchant's test clock offset (it only grows: the backend refuses less).
    fn set_test_clock_offset(&mut self, merchant_id: &str, offset_ms: i64, now_ms: i64) -> StoreResult<()>;
}
