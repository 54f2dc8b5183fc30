//! Subscriptions, usage events and counters, period closes and test clocks (migration 12).

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::engine::principal::{Mode, Scope};
use crate::engine::subscription::{Subscription, SubscriptionStatus};
use crate::engine::usage::UsagePeriod;
use crate::store::billing::{
    DueSubscription, PeriodCloseRecord, SubscriptionFilter, SubscriptionsRead, SubscriptionsWrite, UsageEventRecord,
};
use crate::store::sqlite::rows::{into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const SUBSCRIPTION_COLUMNS: &str = "id, merchant_id, mode, customer_id, price_id, status, billing_anchor_ms, \
     trial_end_ms, current_period_index, current_period_start_ms, current_period_end_ms, cancel_at_period_end, \
     collection_check_at_ms, canceled_at_ms, ended_at_ms, metadata_json, created_at_ms, updated_at_ms";

fn subscription_from_row(row: &Row<'_>) -> rusqlite::Result<Subscription> {
    let (mode, status, metadata_json): (String, String, String) =
        (row.get("mode")?, row.get("status")?, row.get("metadata_json")?);
    let index: Option<i64> = row.get("current_period_index")?;
    Ok(Subscription {
        id: row.get("id")?,
        scope: Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        customer_id: row.get("customer_id")?,
        price_id: row.get("price_id")?,
        status: parsed(SubscriptionStatus::parse(&status), "subscription status", &status)?,
        billing_anchor_ms: row.get("billing_anchor_ms")?,
        trial_end_ms: row.get("trial_end_ms")?,
        current_period_index: match index {
            None => None,
            Some(index) => Some(parsed(u64::try_from(index).ok(), "period index", &index.to_string())?),
        },
        current_period_start_ms: row.get("current_period_start_ms")?,
        current_period_end_ms: row.get("current_period_end_ms")?,
        cancel_at_period_end: row.get("cancel_at_period_end")?,
        collection_check_at_ms: row.get("collection_check_at_ms")?,
        canceled_at_ms: row.get("canceled_at_ms")?,
        ended_at_ms: row.get("ended_at_ms")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

fn query_subscriptions(
    connection: &Connection,
    where_sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<Subscription>> {
    let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {where_sql}");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(values, subscription_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn usage_period_from_row(row: &Row<'_>) -> rusqlite::Result<UsagePeriod> {
    Ok(UsagePeriod {
        subscription_id: row.get("subscription_id")?,
        start_ms: row.get("period_start_ms")?,
        end_ms: row.get("period_end_ms")?,
        used_units: row.get("used_units")?,
        billed_units: row.get("billed_units")?,
    })
}

fn due_from_row(row: &Row<'_>) -> rusqlite::Result<DueSubscription> {
    let mode: String = row.get("mode")?;
    Ok(DueSubscription {
        id: row.get("id")?,
        scope: Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        due_at_ms: row.get("due_at_ms")?,
        failed_attempts: row.get("failed_attempts")?,
    })
}

impl<T: HasConnection> SubscriptionsRead for T {
    fn get_subscription(&self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>> {
        let mode = scope.mode.code();
        let mut found = query_subscriptions(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 AND id = ?3",
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
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR customer_id = ?4) AND (?5 IS NULL OR price_id = ?5) \
             AND (?6 IS NULL OR seq < (SELECT seq FROM subscriptions WHERE id = ?6)) \
             ORDER BY seq DESC LIMIT ?7",
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
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT subscription_id, period_start_ms, period_end_ms, used_units, billed_units FROM usage_periods \
                 WHERE subscription_id = ?1 AND period_start_ms = ?2",
            )?
            .query_row(params![subscription_id, period_start_ms], usage_period_from_row)
            .optional()?)
    }

    fn get_usage_event(&self, subscription_id: &str, event_id: &str) -> StoreResult<Option<UsageEventRecord>> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT quantity, period_start_ms, created_at_ms FROM usage_events \
                 WHERE subscription_id = ?1 AND event_id = ?2",
            )?
            .query_row(params![subscription_id, event_id], |row| {
                Ok(UsageEventRecord {
                    subscription_id: subscription_id.to_owned(),
                    event_id: event_id.to_owned(),
                    quantity: row.get(0)?,
                    period_start_ms: row.get(1)?,
                    created_at_ms: row.get(2)?,
                })
            })
            .optional()?)
    }

    fn list_period_closes(&self, subscription_id: &str, limit: u32) -> StoreResult<Vec<PeriodCloseRecord>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT period_start_ms, period_end_ms, invoice_id, closed_at_ms FROM subscription_period_closes \
             WHERE subscription_id = ?1 ORDER BY period_start_ms DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![subscription_id, i64::from(limit)], |row| {
            Ok(PeriodCloseRecord {
                subscription_id: subscription_id.to_owned(),
                period_start_ms: row.get(0)?,
                period_end_ms: row.get(1)?,
                invoice_id: row.get(2)?,
                closed_at_ms: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn test_clock_offset_ms(&self, merchant_id: &str) -> StoreResult<i64> {
        test_clock_offset_ms(self.connection(), merchant_id)
    }

    fn due_subscriptions(
        &self,
        real_now_ms: i64,
        scope: Option<&Scope>,
        until_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DueSubscription>> {
        match scope {
            Some(scope) => due_in_scope(self.connection(), real_now_ms, scope, until_ms, limit),
            None => due_everywhere(self.connection(), real_now_ms, limit),
        }
    }

    fn subscription_has_past_due_invoice(&self, subscription_id: &str, now_ms: i64) -> StoreResult<bool> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM invoices WHERE subscription_id = ?1 AND status = 'open' \
                 AND due_date_ms < ?2)",
            )?
            .query_row(params![subscription_id, now_ms], |row| row.get(0))?)
    }
}

fn test_clock_offset_ms(connection: &Connection, merchant_id: &str) -> StoreResult<i64> {
    let offset: Option<i64> = connection
        .prepare_cached("SELECT offset_ms FROM test_clocks WHERE merchant_id = ?1")?
        .query_row([merchant_id], |row| row.get(0))
        .optional()?;
    Ok(offset.unwrap_or(0))
}

/// What every due query selects: the subscription, its due time and its close's failed tries
/// (retry records of step `close_subscription_period`); a close waiting for its retry (or
/// parked) is left out, so a failing one cannot hold up others.
const DUE_SELECT: &str = "SELECT s.id, s.merchant_id, s.mode, s.due_at_ms, COALESCE(r.attempts, 0) AS failed_attempts \
     FROM subscriptions s LEFT JOIN scheduled_step_retries r ON r.step = 'close_subscription_period' AND r.object_id = s.id";

fn due_in_scope(
    connection: &Connection,
    real_now_ms: i64,
    scope: &Scope,
    until_ms: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<DueSubscription>> {
    let offset_ms = if scope.mode == Mode::Test { test_clock_offset_ms(connection, &scope.merchant_id)? } else { 0 };
    let billing_now_ms = crate::engine::test_clock::billing_now_ms(scope.mode, real_now_ms, offset_ms);
    let until_ms = until_ms.map_or(billing_now_ms, |until_ms| until_ms.min(billing_now_ms));
    let sql = format!(
        "{DUE_SELECT} WHERE s.merchant_id = ?1 AND s.mode = ?2 AND s.due_at_ms IS NOT NULL AND s.due_at_ms <= ?3 \
         AND (r.object_id IS NULL OR r.next_attempt_at_ms <= ?4) ORDER BY s.due_at_ms, s.seq LIMIT ?5"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(
        params![scope.merchant_id, scope.mode.code(), until_ms, real_now_ms, i64::from(limit)],
        due_from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Every merchant's, each on its own billing time: subscriptions on real time (live mode, and
/// test mode of merchants without a clock) through the `subscriptions_due` index, and each
/// clocked merchant's through `subscriptions_due_by_scope` with its offset.
fn due_everywhere(connection: &Connection, real_now_ms: i64, limit: u32) -> StoreResult<Vec<DueSubscription>> {
    let sql = format!(
        "SELECT * FROM ( \
           {DUE_SELECT} WHERE s.due_at_ms IS NOT NULL AND s.due_at_ms <= ?1 \
             AND NOT (s.mode = 'test' AND s.merchant_id IN (SELECT merchant_id FROM test_clocks)) \
             AND (r.object_id IS NULL OR r.next_attempt_at_ms <= ?1) \
           UNION ALL \
           {DUE_SELECT} JOIN test_clocks c ON c.merchant_id = s.merchant_id \
             WHERE s.mode = 'test' AND s.due_at_ms IS NOT NULL AND s.due_at_ms <= ?1 + c.offset_ms \
             AND (r.object_id IS NULL OR r.next_attempt_at_ms <= ?1) \
         ) ORDER BY due_at_ms LIMIT ?2"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params![real_now_ms, i64::from(limit)], due_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn subscription_params(subscription: &Subscription) -> [Box<dyn rusqlite::ToSql>; 19] {
    let metadata_json = serde_json::to_string(&subscription.metadata).expect("string map serializes");
    let index = subscription.current_period_index.map(|index| i64::try_from(index).unwrap_or(i64::MAX));
    [
        Box::new(subscription.id.clone()),
        Box::new(subscription.scope.merchant_id.clone()),
        Box::new(subscription.scope.mode.code()),
        Box::new(subscription.customer_id.clone()),
        Box::new(subscription.price_id.clone()),
        Box::new(subscription.status.code()),
        Box::new(subscription.billing_anchor_ms),
        Box::new(subscription.trial_end_ms),
        Box::new(index),
        Box::new(subscription.current_period_start_ms),
        Box::new(subscription.current_period_end_ms),
        Box::new(subscription.due_at_ms()),
        Box::new(subscription.cancel_at_period_end),
        Box::new(subscription.canceled_at_ms),
        Box::new(subscription.ended_at_ms),
        Box::new(metadata_json),
        Box::new(subscription.created_at_ms),
        Box::new(subscription.updated_at_ms),
        Box::new(subscription.collection_check_at_ms),
    ]
}

impl SubscriptionsWrite for SqliteWrite<'_> {
    fn get_subscription_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Subscription>> {
        // The write transaction holds SQLite's only write lock: nothing else can change the row.
        self.get_subscription(scope, id)
    }

    fn insert_subscription(&mut self, subscription: &Subscription) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO subscriptions (id, merchant_id, mode, customer_id, price_id, status, billing_anchor_ms, \
                 trial_end_ms, current_period_index, current_period_start_ms, current_period_end_ms, due_at_ms, \
                 cancel_at_period_end, canceled_at_ms, ended_at_ms, metadata_json, created_at_ms, updated_at_ms, \
                 collection_check_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )?
            .execute(rusqlite::params_from_iter(subscription_params(subscription).iter()))?;
        Ok(())
    }

    fn update_subscription(&mut self, subscription: &Subscription) -> StoreResult<()> {
        // What never changes is part of the WHERE: an update never moves a subscription to
        // another merchant, mode, customer or price.
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE subscriptions SET status = ?6, billing_anchor_ms = ?7, trial_end_ms = ?8, \
                 current_period_index = ?9, current_period_start_ms = ?10, current_period_end_ms = ?11, \
                 due_at_ms = ?12, cancel_at_period_end = ?13, canceled_at_ms = ?14, ended_at_ms = ?15, \
                 metadata_json = ?16, updated_at_ms = ?18, collection_check_at_ms = ?19 \
                 WHERE id = ?1 AND merchant_id = ?2 AND mode = ?3 AND customer_id = ?4 AND price_id = ?5 \
                 AND created_at_ms = ?17",
            )?
            .execute(rusqlite::params_from_iter(subscription_params(subscription).iter()))?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("subscription {} to update does not exist", subscription.id)));
        }
        Ok(())
    }

    fn insert_usage_event(&mut self, event: &UsageEventRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO usage_events (subscription_id, event_id, quantity, period_start_ms, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                event.subscription_id,
                event.event_id,
                event.quantity,
                event.period_start_ms,
                event.created_at_ms
            ])?;
        Ok(())
    }

    fn save_usage_period(&mut self, period: &UsagePeriod, now_ms: i64) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO usage_periods (subscription_id, period_start_ms, period_end_ms, used_units, billed_units, \
                 updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (subscription_id, period_start_ms) DO UPDATE SET period_end_ms = excluded.period_end_ms, \
                 used_units = excluded.used_units, billed_units = excluded.billed_units, \
                 updated_at_ms = excluded.updated_at_ms",
            )?
            .execute(params![
                period.subscription_id,
                period.start_ms,
                period.end_ms,
                period.used_units,
                period.billed_units,
                now_ms
            ])?;
        Ok(())
    }

    fn insert_period_close(&mut self, close: &PeriodCloseRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO subscription_period_closes (subscription_id, period_start_ms, period_end_ms, invoice_id, \
                 closed_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                close.subscription_id,
                close.period_start_ms,
                close.period_end_ms,
                close.invoice_id,
                close.closed_at_ms
            ])?;
        Ok(())
    }

    fn set_test_clock_offset(&mut self, merchant_id: &str, offset_ms: i64, now_ms: i64) -> StoreResult<()> {
        let changed = self
            .connection
            .prepare_cached(
                "INSERT INTO test_clocks (merchant_id, offset_ms, updated_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (merchant_id) DO UPDATE SET offset_ms = excluded.offset_ms, \
                 updated_at_ms = excluded.updated_at_ms WHERE excluded.offset_ms >= test_clocks.offset_ms",
            )?
            .execute(params![merchant_id, offset_ms, now_ms])?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("the test clock of {merchant_id} would move back")));
        }
        Ok(())
    }
}
