//! Payout and spend-limit SQL for the SQLite backend.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rusqlite::{Connection, Row, params};

use crate::engine::money::{Asset, AssetRef, Money};
use crate::engine::payout::{Approval, ApprovalDecision, ApprovalTrigger, Payout, PayoutStatus, SpendLimit};
use crate::engine::principal::{Mode, Scope};
use crate::store::codecs::{destination_from_json, destination_to_json};
use crate::store::sqlite::rows::{into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{Page, PageRequest, PayoutFilter, PayoutsRead, PayoutsWrite, StoreError, StoreResult};

impl<T: HasConnection> PayoutsRead for T {
    fn get_payout(&self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
        get_payout(self.connection(), scope, id)
    }

    fn list_payouts(&self, scope: &Scope, filter: &PayoutFilter, page: &PageRequest) -> StoreResult<Page<Payout>> {
        Ok(into_page(list_payouts(self.connection(), scope, filter, page)?, page.limit))
    }

    fn owner_payout_spend_since(
        &self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)> {
        owner_payout_spend_since(self.connection(), scope, owner_skeleton, asset, since_ms, amount_range_minor)
    }

    fn merchant_payout_spend_since(&self, scope: &Scope, asset: AssetRef, since_ms: i64) -> StoreResult<i64> {
        merchant_payout_spend_since(self.connection(), scope, asset, since_ms)
    }

    fn owner_spend_limits(&self, scope: &Scope, owner_skeleton: &str) -> StoreResult<Vec<(AssetRef, SpendLimit)>> {
        owner_spend_limits(self.connection(), scope, owner_skeleton)
    }
}

/// The `…_for_update` reads are the plain ones: the write transaction holds SQLite's only write
/// lock, so nothing they read can change until it ends.
impl PayoutsWrite for SqliteWrite<'_> {
    fn get_payout_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
        get_payout(&self.connection, scope, id)
    }

    fn owner_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)> {
        owner_payout_spend_since(&self.connection, scope, owner_skeleton, asset, since_ms, amount_range_minor)
    }

    fn merchant_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        asset: AssetRef,
        since_ms: i64,
    ) -> StoreResult<i64> {
        merchant_payout_spend_since(&self.connection, scope, asset, since_ms)
    }

    fn insert_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        insert_payout(&self.connection, payout)
    }

    fn update_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        update_payout(&self.connection, payout)
    }

    fn set_spend_limit(&mut self, key_id: &str, asset: AssetRef, limit: SpendLimit) -> StoreResult<()> {
        set_spend_limit(&self.connection, key_id, asset, limit)
    }
}
use crate::engine::rail::Rail;

const COLUMNS: &str = "id, merchant_id, mode, amount_minor, asset, rail, destination_json, description, metadata_json, \
     status, created_by_key_id, created_by_owner, approval_threshold_minor, approval_expires_at_ms, approval_decision, \
     approval_decided_by_key_id, approval_decided_by_owner, approval_decided_at_ms, approval_reason, failure_reason, \
     cancellation_reason, simulate_at_ms, created_at_ms, updated_at_ms, approval_trigger";

fn payout_from_row(row: &Row<'_>) -> rusqlite::Result<Payout> {
    let mode: String = row.get("mode")?;
    let asset: String = row.get("asset")?;
    let rail: String = row.get("rail")?;
    let status: String = row.get("status")?;
    let metadata_json: String = row.get("metadata_json")?;
    let threshold_minor: Option<i64> = row.get("approval_threshold_minor")?;
    let approval = match threshold_minor {
        None => None,
        Some(threshold_minor) => {
            let decision: Option<String> = row.get("approval_decision")?;
            let decision = match decision {
                Some(code) => Some(parsed(ApprovalDecision::parse(&code), "approval decision", &code)?),
                None => None,
            };
            // Payouts stored before version 6 waited for approval only by threshold.
            let trigger: Option<String> = row.get("approval_trigger")?;
            let trigger = match trigger {
                Some(code) => parsed(ApprovalTrigger::parse(&code), "approval trigger", &code)?,
                None => ApprovalTrigger::Threshold,
            };
            Some(Approval {
                threshold_minor,
                trigger,
                expires_at_ms: row.get("approval_expires_at_ms")?,
                decision,
                decided_by_key_id: row.get("approval_decided_by_key_id")?,
                decided_by_owner: row.get("approval_decided_by_owner")?,
                decided_at_ms: row.get("approval_decided_at_ms")?,
                reason: row.get("approval_reason")?,
            })
        }
    };
    let metadata: BTreeMap<String, String> =
        parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?;
    Ok(Payout {
        id: row.get("id")?,
        scope: Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        amount: Money {
            asset: parsed(Asset::lookup(&asset), "asset", &asset)?,
            amount_minor: row.get("amount_minor")?,
        },
        rail: parsed(Rail::parse(&rail), "rail", &rail)?,
        destination: {
            let json: String = row.get("destination_json")?;
            destination_from_json(&json).or_else(|(what, raw)| parsed(None, what, &raw))?
        },
        description: row.get("description")?,
        metadata,
        status: parsed(PayoutStatus::parse(&status), "payout status", &status)?,
        created_by_key_id: row.get("created_by_key_id")?,
        created_by_owner: row.get("created_by_owner")?,
        approval,
        failure_reason: row.get("failure_reason")?,
        cancellation_reason: row.get("cancellation_reason")?,
        simulate_at_ms: row.get("simulate_at_ms")?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

fn query(connection: &Connection, where_sql: &str, values: &[&dyn rusqlite::ToSql]) -> StoreResult<Vec<Payout>> {
    let sql = format!("SELECT {COLUMNS} FROM payouts WHERE {where_sql}");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(values, payout_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn get_payout(connection: &Connection, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
    let mode = scope.mode.code();
    Ok(query(connection, "merchant_id = ?1 AND mode = ?2 AND id = ?3", &[&scope.merchant_id, &mode, &id])?.pop())
}

fn list_payouts(
    connection: &Connection,
    scope: &Scope,
    filter: &PayoutFilter,
    page: &PageRequest,
) -> StoreResult<Vec<Payout>> {
    let mode = scope.mode.code();
    let status = filter.status.map(PayoutStatus::code);
    let limit_plus_one = i64::from(page.limit) + 1;
    query(
        connection,
        "merchant_id = ?1 AND mode = ?2 AND (?3 IS NULL OR status = ?3) \
         AND (?4 IS NULL OR seq < (SELECT seq FROM payouts WHERE id = ?4)) ORDER BY seq DESC LIMIT ?5",
        &[&scope.merchant_id, &mode, &status, &page.starting_after, &limit_plus_one],
    )
}

/// `SUM(amount_minor)` that cannot overflow: SQLite's SUM fails past i64, and payouts that
/// cycle through a balance can add up to more than i64 in a day. Summing the high and low 20 bits
/// apart keeps each partial sum far inside i64 (2^30 maximal payouts would be needed); the
/// total is joined in 128 bits and saturates, which no limit (at most 2^53) can miss.
const SPLIT_SUM_SQL: &str = "COALESCE(SUM(amount_minor >> 20), 0), COALESCE(SUM(amount_minor & 1048575), 0)";

fn joined_sum(high_minor: i64, low_minor: i64) -> i64 {
    let total = (i128::from(high_minor) << 20) + i128::from(low_minor);
    i64::try_from(total).unwrap_or(i64::MAX)
}

/// The payouts of `filter` that count against a rolling-day limit whose window starts at
/// `since` (a parameter): those created in the window; those still waiting for approval, however
/// old (they may be released at any moment); and those approved in the window, by their
/// decision. So approving several days' worth of waiting payouts at once cannot exceed a day's
/// limit. Three index-friendly parts, failed and canceled payouts excluded.
fn counted_payouts_sql(filter: &str, since: &str) -> String {
    let live = "status NOT IN ('failed', 'canceled')";
    format!(
        "SELECT amount_minor FROM payouts WHERE {filter} AND created_at_ms >= {since} AND {live} \
         UNION ALL SELECT amount_minor FROM payouts WHERE {filter} AND created_at_ms < {since} \
           AND status = 'pending_approval' \
         UNION ALL SELECT amount_minor FROM payouts WHERE {filter} AND created_at_ms < {since} \
           AND approval_decided_at_ms >= {since} AND {live}"
    )
}

/// The owner's keys in a scope, for the queries below.
const OWNER_KEYS_SQL: &str = "SELECT id FROM api_keys WHERE merchant_id = ?1 AND mode = ?2 AND owner_skeleton = ?3";

fn owner_payout_spend_since(
    connection: &Connection,
    scope: &Scope,
    owner_skeleton: &str,
    asset: AssetRef,
    since_ms: i64,
    amount_range_minor: std::ops::Range<i64>,
) -> StoreResult<(u32, i64)> {
    let filter =
        format!("created_by_key_id IN ({OWNER_KEYS_SQL}) AND asset = ?4 AND amount_minor >= ?6 AND amount_minor < ?7");
    let sql = format!("SELECT COUNT(*), {SPLIT_SUM_SQL} FROM ({})", counted_payouts_sql(&filter, "?5"));
    let (count, high_minor, low_minor): (i64, i64, i64) = connection.prepare_cached(&sql)?.query_row(
        params![
            scope.merchant_id,
            scope.mode.code(),
            owner_skeleton,
            asset.code,
            since_ms,
            amount_range_minor.start,
            amount_range_minor.end
        ],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok((u32::try_from(count).unwrap_or(u32::MAX), joined_sum(high_minor, low_minor)))
}

fn merchant_payout_spend_since(
    connection: &Connection,
    scope: &Scope,
    asset: AssetRef,
    since_ms: i64,
) -> StoreResult<i64> {
    let filter = "merchant_id = ?1 AND mode = ?2 AND asset = ?3";
    let sql = format!("SELECT {SPLIT_SUM_SQL} FROM ({})", counted_payouts_sql(filter, "?4"));
    let (high_minor, low_minor): (i64, i64) = connection
        .prepare_cached(&sql)?
        .query_row(params![scope.merchant_id, scope.mode.code(), asset.code, since_ms], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(joined_sum(high_minor, low_minor))
}

fn owner_spend_limits(
    connection: &Connection,
    scope: &Scope,
    owner_skeleton: &str,
) -> StoreResult<Vec<(AssetRef, SpendLimit)>> {
    let mut statement = connection.prepare_cached(
        "SELECT l.asset, MIN(l.max_per_payout_minor), MIN(l.max_per_day_minor) FROM api_key_limits l \
         JOIN api_keys k ON k.id = l.key_id \
         WHERE k.merchant_id = ?1 AND k.mode = ?2 AND k.owner_skeleton = ?3 \
         GROUP BY l.asset ORDER BY l.asset",
    )?;
    let rows = statement.query_map(params![scope.merchant_id, scope.mode.code(), owner_skeleton], |row| {
        let asset: String = row.get(0)?;
        Ok((
            parsed(Asset::lookup(&asset), "asset", &asset)?,
            SpendLimit { max_per_payout_minor: row.get(1)?, max_per_day_minor: row.get(2)? },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn values(payout: &Payout) -> Vec<Box<dyn rusqlite::ToSql>> {
    let approval = payout.approval.as_ref();
    vec![
        Box::new(payout.id.clone()),
        Box::new(payout.scope.merchant_id.clone()),
        Box::new(payout.scope.mode.code()),
        Box::new(payout.amount.amount_minor),
        Box::new(payout.amount.asset.code),
        Box::new(payout.rail.code()),
        Box::new(destination_to_json(&payout.destination)),
        Box::new(payout.description.clone()),
        Box::new(serde_json::to_string(&payout.metadata).expect("string map serializes")),
        Box::new(payout.status.code()),
        Box::new(payout.created_by_key_id.clone()),
        Box::new(payout.created_by_owner.clone()),
        Box::new(approval.map(|a| a.threshold_minor)),
        Box::new(approval.map(|a| a.expires_at_ms)),
        Box::new(approval.and_then(|a| a.decision).map(ApprovalDecision::code)),
        Box::new(approval.and_then(|a| a.decided_by_key_id.clone())),
        Box::new(approval.and_then(|a| a.decided_by_owner.clone())),
        Box::new(approval.and_then(|a| a.decided_at_ms)),
        Box::new(approval.and_then(|a| a.reason.clone())),
        Box::new(payout.failure_reason.clone()),
        Box::new(payout.cancellation_reason.clone()),
        Box::new(payout.simulate_at_ms),
        Box::new(payout.created_at_ms),
        Box::new(payout.updated_at_ms),
        Box::new(approval.map(|a| a.trigger.code())),
    ]
}

/// `INSERT INTO payouts (COLUMNS) VALUES (?1, …)`, built once.
static INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=COLUMNS.split(", ").count()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO payouts ({COLUMNS}) VALUES ({})", placeholders.join(", "))
});

/// `UPDATE payouts SET column = ?n, … WHERE id = ?1`, built once.
static UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    let assignments: Vec<String> =
        COLUMNS.split(", ").enumerate().skip(1).map(|(i, column)| format!("{column} = ?{}", i + 1)).collect();
    format!("UPDATE payouts SET {} WHERE id = ?1", assignments.join(", "))
});

fn insert_payout(connection: &Connection, payout: &Payout) -> StoreResult<()> {
    let values = values(payout);
    connection.prepare_cached(&INSERT_SQL)?.execute(rusqlite::params_from_iter(values.iter()))?;
    Ok(())
}

fn update_payout(connection: &Connection, payout: &Payout) -> StoreResult<()> {
    let values = values(payout);
    let changed = connection.prepare_cached(&UPDATE_SQL)?.execute(rusqlite::params_from_iter(values.iter()))?;
    if changed != 1 {
        return Err(StoreError::Corrupt(format!("payout {} to update does not exist", payout.id)));
    }
    Ok(())
}

fn set_spend_limit(connection: &Connection, key_id: &str, asset: AssetRef, limit: SpendLimit) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO api_key_limits (key_id, asset, max_per_payout_minor, max_per_day_minor) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key_id, asset) DO UPDATE SET max_per_payout_minor = excluded.max_per_payout_minor, \
             max_per_day_minor = excluded.max_per_day_minor",
        )?
        .execute(params![key_id, asset.code, limit.max_per_payout_minor, limit.max_per_day_minor])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_sums_join_exactly_and_saturate() {
        let amounts = [1_i64, (1 << 53) - 1, 1_048_575, 1_048_576, 123_456_789_012];
        let high: i64 = amounts.iter().map(|a| a >> 20).sum();
        let low: i64 = amounts.iter().map(|a| a & 1_048_575).sum();
        assert_eq!(super::joined_sum(high, low), amounts.iter().sum::<i64>());
        let maximal = (1_i64 << 53) - 1;
        let count = 2_000_i64;
        assert_eq!(super::joined_sum((maximal >> 20) * count, (maximal & 1_048_575) * count), i64::MAX);
    }
}
