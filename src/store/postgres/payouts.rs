//! Payout and spend-limit SQL for the PostgreSQL backend.
//!
//! What keeps each decision safe across processes:
//! - a payout's own decisions (approve, reject, cancel, the rails) read it with
//!   `get_payout_for_update` (`SELECT … FOR UPDATE`), so two processes deciding about one payout
//!   take turns, and the second sees what the first committed;
//! - the spend sums behind daily limits and split-payout detection are aggregates, which lock no
//!   row: their `…_for_update` forms first lock the merchant's balance rows of the asset with
//!   `balances_for_update` (the same rows, in the same order, as every balance decision). Every
//!   payout that adds to the spend reserves its amount, which changes those rows in the same
//!   transaction, so a second decision waits for the first to end and then, its sums being a new
//!   statement under READ COMMITTED, counts the first one's payout. Where the merchant has no
//!   balance row there is nothing to reserve from, so no payout can be created to race with.
//!   A session that holds the available balance's row locked already (the payout locked it
//!   before loading its spend) does not lock again: every payout reserves from that row, so
//!   none can be created elsewhere while the lock is held.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use postgres::Row;
use postgres::types::ToSql;

use crate::engine::money::{Asset, AssetRef, Money};
use crate::engine::payout::{Approval, ApprovalDecision, ApprovalTrigger, Payout, PayoutStatus, SpendLimit};
use crate::engine::principal::Scope;
use crate::engine::rail::Rail;
use crate::store::codecs::{destination_from_json, destination_to_json};
use crate::store::postgres::rows::{asset_of, get, into_page, parsed, scope_from_row};
use crate::store::postgres::session::{Params, PgSession};
use crate::store::{LedgerWrite, Page, PageRequest, PayoutFilter, PayoutsRead, PayoutsWrite, StoreError, StoreResult};

impl PayoutsRead for PgSession<'_> {
    fn get_payout(&self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
        let mode = scope.mode.code();
        Ok(self.payouts("merchant_id = $1 AND mode = $2 AND id = $3", &[&scope.merchant_id, &mode, &id])?.pop())
    }

    fn list_payouts(&self, scope: &Scope, filter: &PayoutFilter, page: &PageRequest) -> StoreResult<Page<Payout>> {
        let mode = scope.mode.code();
        let status = filter.status.map(PayoutStatus::code);
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = self.payouts(
            "merchant_id = $1 AND mode = $2 AND ($3::text IS NULL OR status = $3) \
             AND ($4::text IS NULL OR seq < (SELECT seq FROM payouts WHERE id = $4)) ORDER BY seq DESC LIMIT $5",
            &[&scope.merchant_id, &mode, &status, &page.starting_after, &limit_plus_one],
        )?;
        Ok(into_page(items, page.limit))
    }

    fn owner_payout_spend_since(
        &self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)> {
        let row = self.db().query_one(
            &OWNER_SPEND_SQL,
            &[
                &scope.merchant_id,
                &scope.mode.code(),
                &owner_skeleton,
                &asset.code,
                &since_ms,
                &amount_range_minor.start,
                &amount_range_minor.end,
            ],
        )?;
        let count: i64 = get(&row, "payouts")?;
        Ok((u32::try_from(count).unwrap_or(u32::MAX), get(&row, "total_minor")?))
    }

    fn merchant_payout_spend_since(&self, scope: &Scope, asset: AssetRef, since_ms: i64) -> StoreResult<i64> {
        let row = self
            .db()
            .query_one(&MERCHANT_SPEND_SQL, &[&scope.merchant_id, &scope.mode.code(), &asset.code, &since_ms])?;
        get(&row, "total_minor")
    }

    /// Read once per write transaction, then from the session: the writer forms a group from the
    /// commands waiting before it begins, so each command of it was sent before the first read,
    /// and a limit changed before that command was sent is seen. The session forgets them when it
    /// changes limits or keys, and when a savepoint is rolled back.
    fn owner_spend_limits(&self, scope: &Scope, owner_skeleton: &str) -> StoreResult<Vec<(AssetRef, SpendLimit)>> {
        let key = (scope.merchant_id.clone(), scope.mode.code().to_owned(), owner_skeleton.to_owned());
        if let Some(limits) = self.spend_limits.borrow().get(&key) {
            return Ok(limits.clone());
        }
        let limits = self.read_owner_spend_limits(scope, owner_skeleton)?;
        if self.is_write {
            self.spend_limits.borrow_mut().insert(key, limits.clone());
        }
        Ok(limits)
    }
}

impl PayoutsWrite for PgSession<'_> {
    fn get_payout_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
        let mode = scope.mode.code();
        let found =
            self.payouts("merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.into_iter().next())
    }

    fn owner_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)> {
        self.lock_balances_for_spend(scope, asset)?;
        self.owner_payout_spend_since(scope, owner_skeleton, asset, since_ms, amount_range_minor)
    }

    fn merchant_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        asset: AssetRef,
        since_ms: i64,
    ) -> StoreResult<i64> {
        self.lock_balances_for_spend(scope, asset)?;
        self.merchant_payout_spend_since(scope, asset, since_ms)
    }

    fn insert_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        let values = values(payout);
        self.insert_ahead(&INSERT_SQL, &as_params(&values), "payouts")
    }

    fn update_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        let values = values(payout);
        let changed = self.db().execute(&UPDATE_SQL, &as_params(&values))?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("payout {} to update does not exist", payout.id)));
        }
        Ok(())
    }

    fn set_spend_limit(&mut self, key_id: &str, asset: AssetRef, limit: SpendLimit) -> StoreResult<()> {
        self.spend_limits.borrow_mut().clear();
        self.db().execute(
            "INSERT INTO api_key_limits (key_id, asset, max_per_payout_minor, max_per_day_minor) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key_id, asset) DO UPDATE SET max_per_payout_minor = EXCLUDED.max_per_payout_minor, \
             max_per_day_minor = EXCLUDED.max_per_day_minor",
            &[&key_id, &asset.code, &limit.max_per_payout_minor, &limit.max_per_day_minor],
        )?;
        Ok(())
    }
}

impl PgSession<'_> {
    /// The lock that stands in for a spend sum (module comment), unless this session holds it
    /// already (a payout locks the balance before it loads its spend).
    fn lock_balances_for_spend(&mut self, scope: &Scope, asset: AssetRef) -> StoreResult<()> {
        if !self.holds_available_balance_lock(scope, asset) {
            self.balances_for_update(scope, &[asset])?;
        }
        Ok(())
    }

    fn payouts(&self, where_sql: &str, values: Params<'_>) -> StoreResult<Vec<Payout>> {
        let sql = format!("SELECT {COLUMNS} FROM payouts WHERE {where_sql}");
        self.db().query(&sql, values)?.iter().map(payout_from_row).collect()
    }
}

const COLUMNS: &str = "id, merchant_id, mode, amount_minor, asset, rail, destination_json, description, metadata_json, \
     status, created_by_key_id, created_by_owner, approval_threshold_minor, approval_expires_at_ms, approval_decision, \
     approval_decided_by_key_id, approval_decided_by_owner, approval_decided_at_ms, approval_reason, failure_reason, \
     cancellation_reason, simulate_at_ms, created_at_ms, updated_at_ms, approval_trigger";

fn approval_from_row(row: &Row) -> StoreResult<Option<Approval>> {
    let Some(threshold_minor) = get::<Option<i64>>(row, "approval_threshold_minor")? else {
        return Ok(None);
    };
    let decision = match get::<Option<String>>(row, "approval_decision")? {
        Some(code) => Some(parsed(ApprovalDecision::parse(&code), "approval decision", &code)?),
        None => None,
    };
    // Payouts stored before SQLite's version 6 waited for approval only by threshold; a database
    // moved over keeps them as they were.
    let trigger = match get::<Option<String>>(row, "approval_trigger")? {
        Some(code) => parsed(ApprovalTrigger::parse(&code), "approval trigger", &code)?,
        None => ApprovalTrigger::Threshold,
    };
    Ok(Some(Approval {
        threshold_minor,
        trigger,
        expires_at_ms: get(row, "approval_expires_at_ms")?,
        decision,
        decided_by_key_id: get(row, "approval_decided_by_key_id")?,
        decided_by_owner: get(row, "approval_decided_by_owner")?,
        decided_at_ms: get(row, "approval_decided_at_ms")?,
        reason: get(row, "approval_reason")?,
    }))
}

fn payout_from_row(row: &Row) -> StoreResult<Payout> {
    let asset: String = get(row, "asset")?;
    let rail: String = get(row, "rail")?;
    let status: String = get(row, "status")?;
    let metadata_json: String = get(row, "metadata_json")?;
    let metadata: BTreeMap<String, String> =
        parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?;
    Ok(Payout {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        amount: Money {
            asset: parsed(Asset::lookup(&asset), "asset", &asset)?,
            amount_minor: get(row, "amount_minor")?,
        },
        rail: parsed(Rail::parse(&rail), "rail", &rail)?,
        destination: {
            let json: String = get(row, "destination_json")?;
            destination_from_json(&json).or_else(|(what, raw)| parsed(None, what, &raw))?
        },
        description: get(row, "description")?,
        metadata,
        status: parsed(PayoutStatus::parse(&status), "payout status", &status)?,
        created_by_key_id: get(row, "created_by_key_id")?,
        created_by_owner: get(row, "created_by_owner")?,
        approval: approval_from_row(row)?,
        failure_reason: get(row, "failure_reason")?,
        cancellation_reason: get(row, "cancellation_reason")?,
        simulate_at_ms: get(row, "simulate_at_ms")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
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

/// `SUM` over BIGINT is NUMERIC in PostgreSQL: exact however many payouts it adds (payouts that
/// cycle through a balance can add up to more than i64 in a day). Capped at i64's largest value
/// in NUMERIC, then cast, as SQLite's backend saturates its sum: no limit (at most 2^53) can miss
/// a total beyond it, and no float is ever involved.
const SATURATED_SUM_SQL: &str = "LEAST(COALESCE(SUM(amount_minor), 0), 9223372036854775807)::bigint AS total_minor";

/// The owner's keys in a scope ($1 merchant, $2 mode, $3 owner skeleton).
const OWNER_KEYS_SQL: &str = "SELECT id FROM api_keys WHERE merchant_id = $1 AND mode = $2 AND owner_skeleton = $3";

static OWNER_SPEND_SQL: LazyLock<String> = LazyLock::new(|| {
    let filter =
        format!("created_by_key_id IN ({OWNER_KEYS_SQL}) AND asset = $4 AND amount_minor >= $6 AND amount_minor < $7");
    format!("SELECT COUNT(*) AS payouts, {SATURATED_SUM_SQL} FROM ({}) AS counted", counted_payouts_sql(&filter, "$5"))
});

static MERCHANT_SPEND_SQL: LazyLock<String> = LazyLock::new(|| {
    let filter = "merchant_id = $1 AND mode = $2 AND asset = $3";
    format!("SELECT {SATURATED_SUM_SQL} FROM ({}) AS counted", counted_payouts_sql(filter, "$4"))
});

type Value = Box<dyn ToSql + Sync>;

fn values(payout: &Payout) -> Vec<Value> {
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

fn as_params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|value| value.as_ref()).collect()
}

/// `INSERT INTO payouts (COLUMNS) VALUES ($1, …)`, built once.
static INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=COLUMNS.split(", ").count()).map(|i| format!("${i}")).collect();
    format!("INSERT INTO payouts ({COLUMNS}) VALUES ({})", placeholders.join(", "))
});

/// `UPDATE payouts SET column = $n, … WHERE id = $1`, built once.
static UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    let assignments: Vec<String> =
        COLUMNS.split(", ").enumerate().skip(1).map(|(i, column)| format!("{column} = ${}", i + 1)).collect();
    format!("UPDATE payouts SET {} WHERE id = $1", assignments.join(", "))
});

impl PgSession<'_> {
    fn read_owner_spend_limits(&self, scope: &Scope, owner_skeleton: &str) -> StoreResult<Vec<(AssetRef, SpendLimit)>> {
        let rows = self.db().query(
            "SELECT l.asset, MIN(l.max_per_payout_minor) AS max_per_payout_minor, \
             MIN(l.max_per_day_minor) AS max_per_day_minor FROM api_key_limits l \
             JOIN api_keys k ON k.id = l.key_id \
             WHERE k.merchant_id = $1 AND k.mode = $2 AND k.owner_skeleton = $3 \
             GROUP BY l.asset ORDER BY l.asset",
            &[&scope.merchant_id, &scope.mode.code(), &owner_skeleton],
        )?;
        rows.iter()
            .map(|row| {
                let limit = SpendLimit {
                    max_per_payout_minor: get(row, "max_per_payout_minor")?,
                    max_per_day_minor: get(row, "max_per_day_minor")?,
                };
                Ok((asset_of(&get::<String>(row, "asset")?)?, limit))
            })
            .collect()
    }
}
