//! Subscriptions, usage events and counters, period closes and test clocks.
//!
//! Across processes: a decision reads its subscription with `get_subscription_for_update`
//! (`FOR UPDATE`), and usage is counted and periods closed under that lock, so the counters'
//! read-modify-write (`save_usage_period`) is never interleaved. A usage event or a period close
//! already recorded is an outcome the caller handles: the insert meets the primary key with DO
//! NOTHING (a concurrent twin waits for the first to commit, then inserts nothing) and answers
//! `Conflict` without aborting the transaction. In a write session the test clock is read
//! `FOR SHARE`: billing at the merchant's time and an advance of that clock (whose upsert needs
//! the row exclusively) never interleave, and two advances in two processes cannot both build
//! on the same offset (one waits, or deadlocks and is tried again).

use postgres::Row;

use crate::engine::principal::{Mode, Scope};
use crate::engine::subscription::{Subscription, SubscriptionStatus};
use crate::engine::usage::UsagePeriod;
use crate::store::billing::{
    DueSubscription, PeriodCloseRecord, SubscriptionFilter, SubscriptionsRead, SubscriptionsWrite, UsageEventRecord,
};
use crate::store::postgres::rows::{get, inserted_or_conflict, into_page, parsed, scope_from_row};
use crate::store::postgres::session::{Params, PgSession, PooledConnection};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const SUBSCRIPTION_COLUMNS: &str = "id, merchant_id, mode, customer_id, price_id, status, billing_anchor_ms, \
     trial_end_ms, current_period_index, current_period_start_ms, current_period_end_ms, cancel_at_period_end, \
     collection_check_at_ms, canceled_at_ms, ended_at_ms, metadata_json, created_at_ms, updated_at_ms";

fn subscription_from_row(row: &Row) -> StoreResult<Subscription> {
    let (status, metadata_json): (String, String) = (get(row, "status")?, get(row, "metadata_json")?);
    let index: Option<i64> = get(row, "current_period_index")?;
    Ok(Subscription {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        customer_id: get(row, "customer_id")?,
        price_id: get(row, "price_id")?,
        status: parsed(SubscriptionStatus::parse(&status), "subscription status", &status)?,
        billing_anchor_ms: get(row, "billing_anchor_ms")?,
        trial_end_ms: get(row, "trial_end_ms")?,
        current_period_index: match index {
            None => None,
            Some(index) => Some(parsed(u64::try_from(index).ok(), "period index", &index.to_string())?),
        },
        current_period_start_ms: get(row, "current_period_start_ms")?,
        current_period_end_ms: get(row, "current_period_end_ms")?,
        cancel_at_period_end: get(row, "cancel_at_period_end")?,
        collection_check_at_ms: get(row, "collection_check_at_ms")?,
        canceled_at_ms: get(row, "canceled_at_ms")?,
        ended_at_ms: get(row, "ended_at_ms")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

/// The subscriptions matching `where_sql` (which may end in `FOR UPDATE`).
fn query_subscriptions(db: &PooledConnection, where_sql: &str, params: Params<'_>) -> StoreResult<Vec<Subscription>> {
    let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {where_sql}");
    db.query(&sql, params)?.iter().map(subscription_from_row).collect()
}

fn due_from_row(row: &Row) -> StoreResult<DueSubscription> {
    let failed_attempts: i64 = get(row, "failed_attempts")?;
    Ok(DueSubscription {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        due_at_ms: get(row, "due_at_ms")?,
        failed_attempts: parsed(u32::try_from(failed_attempts).ok(), "attempt count", &failed_attempts.to_string())?,
    })
}

impl SubscriptionsRead for PgSession<'_> {
    fn get_subscription(&self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>> {
        let mode = scope.mode.code();
        let mut found = query_subscriptions(
            self.db(),
            "merchant_id = $1 AND mode = $2 AND id = $3",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn list_subscriptions(
        &self,
        scope: &Scope,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        let mode = scope.mode.code();
        let status = filter.status.map(SubscriptionStatus::code);
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_subscriptions(
            self.db(),
            "merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR customer_id = $4) \
             AND ($5::text IS NULL OR price_id = $5) \
             AND ($6::text IS NULL OR seq < (SELECT seq FROM subscriptions WHERE id = $6)) \
             ORDER BY seq DESC LIMIT $7",
            &[
                &scope.merchant_id,
                &mode,
                &status,
                &filter.customer_id,
                &filter.price_id,
                &page.starting_after,
                &limit_plus_one,
            ],
        )?;
        Ok(into_page(items, page.limit))
    }

    fn get_usage_period(&self, subscription_id: &str, period_start_ms: i64) -> StoreResult<Option<UsagePeriod>> {
        let row = self.db().query_opt(
            "SELECT subscription_id, period_start_ms, period_end_ms, used_units, billed_units FROM usage_periods \
             WHERE subscription_id = $1 AND period_start_ms = $2",
            &[&subscription_id, &period_start_ms],
        )?;
        row.map(|row| {
            Ok(UsagePeriod {
                subscription_id: get(&row, "subscription_id")?,
                start_ms: get(&row, "period_start_ms")?,
                end_ms: get(&row, "period_end_ms")?,
                used_units: get(&row, "used_units")?,
                billed_units: get(&row, "billed_units")?,
            })
        })
        .transpose()
    }

    fn get_usage_event(&self, subscription_id: &str, event_id: &str) -> StoreResult<Option<UsageEventRecord>> {
        let row = self.db().query_opt(
            "SELECT quantity, period_start_ms, created_at_ms FROM usage_events \
             WHERE subscription_id = $1 AND event_id = $2",
            &[&subscription_id, &event_id],
        )?;
        row.map(|row| {
            Ok(UsageEventRecord {
                subscription_id: subscription_id.to_owned(),
                event_id: event_id.to_owned(),
                quantity: get(&row, "quantity")?,
                period_start_ms: get(&row, "period_start_ms")?,
                created_at_ms: get(&row, "created_at_ms")?,
            })
        })
        .transpose()
    }

    fn list_period_closes(&self, subscription_id: &str, limit: u32) -> StoreResult<Vec<PeriodCloseRecord>> {
        let rows = self.db().query(
            "SELECT period_start_ms, period_end_ms, invoice_id, closed_at_ms FROM subscription_period_closes \
             WHERE subscription_id = $1 ORDER BY period_start_ms DESC LIMIT $2",
            &[&subscription_id, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| {
                Ok(PeriodCloseRecord {
                    subscription_id: subscription_id.to_owned(),
                    period_start_ms: get(row, "period_start_ms")?,
                    period_end_ms: get(row, "period_end_ms")?,
                    invoice_id: get(row, "invoice_id")?,
                    closed_at_ms: get(row, "closed_at_ms")?,
                })
            })
            .collect()
    }

    fn test_clock_offset_ms(&self, merchant_id: &str) -> StoreResult<i64> {
        let sql = if self.is_write {
            "SELECT offset_ms FROM test_clocks WHERE merchant_id = $1 FOR SHARE"
        } else {
            "SELECT offset_ms FROM test_clocks WHERE merchant_id = $1"
        };
        match self.db().query_opt(sql, &[&merchant_id])? {
            Some(row) => get(&row, "offset_ms"),
            None => Ok(0),
        }
    }

    fn due_subscriptions(
        &self,
        real_now_ms: i64,
        scope: Option<&Scope>,
        until_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DueSubscription>> {
        let rows = match scope {
            Some(scope) => {
                let offset_ms =
                    if scope.mode == Mode::Test { self.test_clock_offset_ms(&scope.merchant_id)? } else { 0 };
                let billing_now_ms = crate::engine::test_clock::billing_now_ms(scope.mode, real_now_ms, offset_ms);
                let until_ms = until_ms.map_or(billing_now_ms, |until_ms| until_ms.min(billing_now_ms));
                due_in_scope(self.db(), real_now_ms, scope, until_ms, limit)?
            }
            None => due_everywhere(self.db(), real_now_ms, limit)?,
        };
        rows.iter().map(due_from_row).collect()
    }

    fn subscription_has_past_due_invoice(&self, subscription_id: &str, now_ms: i64) -> StoreResult<bool> {
        let row = self.db().query_one(
            "SELECT EXISTS (SELECT 1 FROM invoices WHERE subscription_id = $1 AND status = 'open' \
             AND due_date_ms < $2) AS past_due",
            &[&subscription_id, &now_ms],
        )?;
        get(&row, "past_due")
    }
}

/// What every due query selects: the subscription, its due time and its close's failed tries
/// (retry records of step `close_subscription_period`); a close waiting for its retry (or
/// parked) is left out, so a failing one cannot hold up others.
const DUE_SELECT: &str = "SELECT s.id, s.merchant_id, s.mode, s.due_at_ms, s.seq, \
     COALESCE(r.attempts, 0) AS failed_attempts \
     FROM subscriptions s LEFT JOIN scheduled_step_retries r ON r.step = 'close_subscription_period' AND r.object_id = s.id";

fn due_in_scope(
    db: &PooledConnection,
    real_now_ms: i64,
    scope: &Scope,
    until_ms: i64,
    limit: u32,
) -> StoreResult<Vec<Row>> {
    let sql = format!(
        "{DUE_SELECT} WHERE s.merchant_id = $1 AND s.mode = $2 AND s.due_at_ms IS NOT NULL AND s.due_at_ms <= $3 \
         AND (r.object_id IS NULL OR r.next_attempt_at_ms <= $4) ORDER BY s.due_at_ms, s.seq LIMIT $5"
    );
    db.query(&sql, &[&scope.merchant_id, &scope.mode.code(), &until_ms, &real_now_ms, &i64::from(limit)])
}

/// Every merchant's, each on its own billing time: subscriptions on real time (live mode, and
/// test mode of merchants without a clock) through the `subscriptions_due` index, and each
/// clocked merchant's through `subscriptions_due_by_scope` with its offset.
fn due_everywhere(db: &PooledConnection, real_now_ms: i64, limit: u32) -> StoreResult<Vec<Row>> {
    let sql = format!(
        "SELECT * FROM ( \
           {DUE_SELECT} WHERE s.due_at_ms IS NOT NULL AND s.due_at_ms <= $1 \
             AND NOT (s.mode = 'test' AND s.merchant_id IN (SELECT merchant_id FROM test_clocks)) \
             AND (r.object_id IS NULL OR r.next_attempt_at_ms <= $1) \
           UNION ALL \
           {DUE_SELECT} JOIN test_clocks c ON c.merchant_id = s.merchant_id \
             WHERE s.mode = 'test' AND s.due_at_ms IS NOT NULL AND s.due_at_ms <= $1 + c.offset_ms \
             AND (r.object_id IS NULL OR r.next_attempt_at_ms <= $1) \
         ) AS due ORDER BY due_at_ms, seq LIMIT $2"
    );
    db.query(&sql, &[&real_now_ms, &i64::from(limit)])
}

/// A subscription's columns as `$1`…`$19`, in the order the insert names them.
struct SubscriptionValues<'s> {
    subscription: &'s Subscription,
    mode: &'static str,
    status: &'static str,
    index: Option<i64>,
    due_at_ms: Option<i64>,
    metadata_json: String,
}

impl<'s> SubscriptionValues<'s> {
    fn new(subscription: &'s Subscription) -> SubscriptionValues<'s> {
        SubscriptionValues {
            subscription,
            mode: subscription.scope.mode.code(),
            status: subscription.status.code(),
            index: subscription.current_period_index.map(|index| i64::try_from(index).unwrap_or(i64::MAX)),
            due_at_ms: subscription.due_at_ms(),
            metadata_json: serde_json::to_string(&subscription.metadata).expect("string map serializes"),
        }
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 19] {
        let subscription = self.subscription;
        [
            &subscription.id,
            &subscription.scope.merchant_id,
            &self.mode,
            &subscription.customer_id,
            &subscription.price_id,
            &self.status,
            &subscription.billing_anchor_ms,
            &subscription.trial_end_ms,
            &self.index,
            &subscription.current_period_start_ms,
            &subscription.current_period_end_ms,
            &self.due_at_ms,
            &subscription.cancel_at_period_end,
            &subscription.canceled_at_ms,
            &subscription.ended_at_ms,
            &self.metadata_json,
            &subscription.created_at_ms,
            &subscription.updated_at_ms,
            &subscription.collection_check_at_ms,
        ]
    }
}

impl SubscriptionsWrite for PgSession<'_> {
    fn get_subscription_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>> {
        let mode = scope.mode.code();
        let mut found = query_subscriptions(
            self.db(),
            "merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn insert_subscription(&mut self, subscription: &Subscription) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO subscriptions (id, merchant_id, mode, customer_id, price_id, status, billing_anchor_ms, \
             trial_end_ms, current_period_index, current_period_start_ms, current_period_end_ms, due_at_ms, \
             cancel_at_period_end, canceled_at_ms, ended_at_ms, metadata_json, created_at_ms, updated_at_ms, \
             collection_check_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            &SubscriptionValues::new(subscription).params(),
        )?;
        Ok(())
    }

    fn update_subscription(&mut self, subscription: &Subscription) -> StoreResult<()> {
        // What never changes is part of the WHERE: an update never moves a subscription to
        // another merchant, mode, customer or price.
        let changed = self.db().execute(
            "UPDATE subscriptions SET status = $6, billing_anchor_ms = $7, trial_end_ms = $8, \
             current_period_index = $9, current_period_start_ms = $10, current_period_end_ms = $11, \
             due_at_ms = $12, cancel_at_period_end = $13, canceled_at_ms = $14, ended_at_ms = $15, \
             metadata_json = $16, updated_at_ms = $18, collection_check_at_ms = $19 \
             WHERE id = $1 AND merchant_id = $2 AND mode = $3 AND customer_id = $4 AND price_id = $5 \
             AND created_at_ms = $17",
            &SubscriptionValues::new(subscription).params(),
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("subscription {} to update does not exist", subscription.id)));
        }
        Ok(())
    }

    fn insert_usage_event(&mut self, event: &UsageEventRecord) -> StoreResult<()> {
        let inserted = self.db().execute(
            "INSERT INTO usage_events (subscription_id, event_id, quantity, period_start_ms, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&event.subscription_id, &event.event_id, &event.quantity, &event.period_start_ms, &event.created_at_ms],
        )?;
        inserted_or_conflict(inserted, "usage_events")
    }

    fn save_usage_period(&mut self, period: &UsagePeriod, now_ms: i64) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO usage_periods (subscription_id, period_start_ms, period_end_ms, used_units, billed_units, \
             updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (subscription_id, period_start_ms) DO UPDATE SET period_end_ms = excluded.period_end_ms, \
             used_units = excluded.used_units, billed_units = excluded.billed_units, \
             updated_at_ms = excluded.updated_at_ms",
            &[
                &period.subscription_id,
                &period.start_ms,
                &period.end_ms,
                &period.used_units,
                &period.billed_units,
                &now_ms,
            ],
        )?;
        Ok(())
    }

    fn insert_period_close(&mut self, close: &PeriodCloseRecord) -> StoreResult<()> {
        let inserted = self.db().execute(
            "INSERT INTO subscription_period_closes (subscription_id, period_start_ms, period_end_ms, invoice_id, \
             closed_at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &close.subscription_id,
                &close.period_start_ms,
                &close.period_end_ms,
                &close.invoice_id,
                &close.closed_at_ms,
            ],
        )?;
        inserted_or_conflict(inserted, "subscription_period_closes")
    }

    fn set_test_clock_offset(&mut self, merchant_id: &str, offset_ms: i64, now_ms: i64) -> StoreResult<()> {
        let changed = self.db().execute(
            "INSERT INTO test_clocks (merchant_id, offset_ms, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (merchant_id) DO UPDATE SET offset_ms = excluded.offset_ms, \
             updated_at_ms = excluded.updated_at_ms WHERE excluded.offset_ms >= test_clocks.offset_ms",
            &[&merchant_id, &offset_ms, &now_ms],
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("the test clock of {merchant_id} would move back")));
        }
        Ok(())
    }
}
