//! Payment intents and refunds.
//!
//! Across processes: a decision on a payment reads it with `get_payment_for_update` (`SELECT …
//! FOR UPDATE`), so a second process deciding on the same payment waits for the first to commit
//! and then sees its state. Ids are unique, so an insert raced by two writers is stored once.
//! Descriptions and metadata are stored as TEXT, which refuses a NUL character (`Corrupt`).

use std::sync::LazyLock;

use postgres::Row;
use postgres::types::ToSql;

use crate::engine::money::{Asset, Money, Network};
use crate::engine::payment::{PaymentIntent, PaymentMethod, PaymentStatus, Refund, RefundStatus, Settlement};
use crate::engine::principal::Scope;
use crate::engine::rail::Rail;
use crate::store::codecs::{next_action_from_json, next_action_to_json};
use crate::store::postgres::rows::{asset_of, corrupt, get, inserted_or_conflict, into_page, parsed, scope_from_row};
use crate::store::postgres::session::{Params, PgSession};
use crate::store::{Page, PageRequest, PaymentFilter, PaymentsRead, PaymentsWrite, StoreError, StoreResult};

const PAYMENT_COLUMNS: &str = "id, merchant_id, mode, amount_minor, asset, network, method, rail, settle_asset, \
     settle_amount_minor, settle_rate, customer, description, metadata_json, status, next_action_json, fee_minor, \
     amount_refunded_minor, failure_reason, auto_settle_at_ms, created_at_ms, updated_at_ms, amount_received_minor, \
     expires_at_ms";

/// `INSERT INTO payment_intents (PAYMENT_COLUMNS) VALUES ($1, …)`, built once.
static INSERT_PAYMENT_SQL: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=PAYMENT_COLUMNS.split(", ").count()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO payment_intents ({PAYMENT_COLUMNS}) VALUES ({}) ON CONFLICT DO NOTHING",
        placeholders.join(", ")
    )
});

/// `UPDATE payment_intents SET column = $n, … WHERE id = $1`, built once.
static UPDATE_PAYMENT_SQL: LazyLock<String> = LazyLock::new(|| {
    let assignments: Vec<String> =
        PAYMENT_COLUMNS.split(", ").enumerate().skip(1).map(|(i, column)| format!("{column} = ${}", i + 1)).collect();
    format!("UPDATE payment_intents SET {} WHERE id = $1", assignments.join(", "))
});

fn payment_from_row(row: &Row) -> StoreResult<PaymentIntent> {
    let text = |column: &str| get::<String>(row, column);
    let optional_text = |column: &str| get::<Option<String>>(row, column);
    let (asset, method, rail, status) = (text("asset")?, text("method")?, text("rail")?, text("status")?);
    let network = match optional_text("network")? {
        Some(code) => Some(parsed(Network::parse(&code), "network", &code)?),
        None => None,
    };
    let settlement = match (optional_text("settle_asset")?, get::<Option<i64>>(row, "settle_amount_minor")?) {
        (Some(code), Some(amount_minor)) => Some(Settlement {
            asset: parsed(Asset::lookup(&code), "asset", &code)?,
            amount_minor,
            rate_text: optional_text("settle_rate")?.unwrap_or_default(),
        }),
        _ => None,
    };
    let metadata_json = text("metadata_json")?;
    let next_action = match optional_text("next_action_json")? {
        Some(json) => Some(parsed(next_action_from_json(&json), "next_action", &json)?),
        None => None,
    };
    Ok(PaymentIntent {
        id: text("id")?,
        scope: scope_from_row(row)?,
        amount: Money {
            asset: parsed(Asset::lookup(&asset), "asset", &asset)?,
            amount_minor: get(row, "amount_minor")?,
        },
        network,
        method: parsed(PaymentMethod::parse(&method), "method", &method)?,
        rail: parsed(Rail::parse(&rail), "rail", &rail)?,
        settlement,
        customer: optional_text("customer")?,
        description: optional_text("description")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        status: parsed(PaymentStatus::parse(&status), "payment status", &status)?,
        next_action,
        fee_minor: get(row, "fee_minor")?,
        amount_refunded_minor: get(row, "amount_refunded_minor")?,
        failure_reason: optional_text("failure_reason")?,
        auto_settle_at_ms: get(row, "auto_settle_at_ms")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
        amount_received_minor: get(row, "amount_received_minor")?,
        expires_at_ms: get(row, "expires_at_ms")?,
    })
}

impl PgSession<'_> {
    /// Payments matching `where_sql` (and what follows it: order, limit, locking).
    fn query_payments(&self, where_sql: &str, values: Params<'_>) -> StoreResult<Vec<PaymentIntent>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payment_intents WHERE {where_sql}");
        self.db().query(&sql, values)?.iter().map(payment_from_row).collect()
    }
}

impl PaymentsRead for PgSession<'_> {
    fn get_payment(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let mut found = self.query_payments(
            "merchant_id = $1 AND mode = $2 AND id = $3",
            &[&scope.merchant_id, &scope.mode.code(), &id],
        )?;
        Ok(found.pop())
    }

    fn list_payments(
        &self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<PaymentIntent>> {
        let status = filter.status.map(|status| status.code());
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = self.query_payments(
            "merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR status = $3::text) \
             AND ($4::text IS NULL OR customer = $4::text) \
             AND ($5::bigint IS NULL OR created_at_ms >= $5::bigint) \
             AND ($6::bigint IS NULL OR created_at_ms < $6::bigint) \
             AND ($7::text IS NULL OR seq < (SELECT seq FROM payment_intents WHERE id = $7::text)) \
             ORDER BY seq DESC LIMIT $8",
            &[
                &scope.merchant_id,
                &scope.mode.code(),
                &status,
                &filter.customer,
                &filter.created_gte_ms,
                &filter.created_lt_ms,
                &page.starting_after,
                &limit_plus_one,
            ],
        )?;
        Ok(into_page(items, page.limit))
    }

    fn list_refunds_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Vec<Refund>> {
        let rows = self.db().query(
            "SELECT id, amount_minor, asset, reason, status, created_at_ms FROM refunds \
             WHERE merchant_id = $1 AND mode = $2 AND payment_intent_id = $3 ORDER BY seq",
            &[&scope.merchant_id, &scope.mode.code(), &payment_intent_id],
        )?;
        rows.iter()
            .map(|row| {
                let (asset, status): (String, String) = (get(row, "asset")?, get(row, "status")?);
                Ok(Refund {
                    id: get(row, "id")?,
                    scope: scope.clone(),
                    payment_intent_id: payment_intent_id.to_owned(),
                    amount: Money { asset: asset_of(&asset)?, amount_minor: get(row, "amount_minor")? },
                    reason: get(row, "reason")?,
                    status: RefundStatus::parse(&status).ok_or_else(|| corrupt("refund status", &status))?,
                    created_at_ms: get(row, "created_at_ms")?,
                })
            })
            .collect()
    }
}

/// The payment's columns, in `PAYMENT_COLUMNS` order.
fn payment_params(payment: &PaymentIntent) -> Vec<Box<dyn ToSql + Sync>> {
    let metadata_json = serde_json::to_string(&payment.metadata).expect("string map serializes");
    vec![
        Box::new(payment.id.clone()),
        Box::new(payment.scope.merchant_id.clone()),
        Box::new(payment.scope.mode.code()),
        Box::new(payment.amount.amount_minor),
        Box::new(payment.amount.asset.code),
        Box::new(payment.network.map(|n| n.code())),
        Box::new(payment.method.code()),
        Box::new(payment.rail.code()),
        Box::new(payment.settlement.as_ref().map(|s| s.asset.code)),
        Box::new(payment.settlement.as_ref().map(|s| s.amount_minor)),
        Box::new(payment.settlement.as_ref().map(|s| s.rate_text.clone())),
        Box::new(payment.customer.clone()),
        Box::new(payment.description.clone()),
        Box::new(metadata_json),
        Box::new(payment.status.code()),
        Box::new(payment.next_action.as_ref().map(next_action_to_json)),
        Box::new(payment.fee_minor),
        Box::new(payment.amount_refunded_minor),
        Box::new(payment.failure_reason.clone()),
        Box::new(payment.auto_settle_at_ms),
        Box::new(payment.created_at_ms),
        Box::new(payment.updated_at_ms),
        Box::new(payment.amount_received_minor),
        Box::new(payment.expires_at_ms),
    ]
}

/// Runs `sql` with the payment's columns as its parameters; returns the rows it changed.
fn execute_with_payment(session: &PgSession<'_>, sql: &str, payment: &PaymentIntent) -> StoreResult<u64> {
    let values = payment_params(payment);
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|value| value.as_ref()).collect();
    session.db().execute(sql, &params)
}

impl PaymentsWrite for PgSession<'_> {
    fn get_payment_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let mut found = self.query_payments(
            "merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE",
            &[&scope.merchant_id, &scope.mode.code(), &id],
        )?;
        Ok(found.pop())
    }

    fn insert_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        inserted_or_conflict(execute_with_payment(self, &INSERT_PAYMENT_SQL, payment)?, "payment_intents")
    }

    fn update_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        if execute_with_payment(self, &UPDATE_PAYMENT_SQL, payment)? != 1 {
            return Err(StoreError::Corrupt(format!("payment {} to update does not exist", payment.id)));
        }
        Ok(())
    }

    fn insert_refund(&mut self, refund: &Refund) -> StoreResult<()> {
        let inserted = self.db().execute(
            "INSERT INTO refunds (id, merchant_id, mode, payment_intent_id, amount_minor, asset, reason, status, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            &[
                &refund.id,
                &refund.scope.merchant_id,
                &refund.scope.mode.code(),
                &refund.payment_intent_id,
                &refund.amount.amount_minor,
                &refund.amount.asset.code,
                &refund.reason,
                &refund.status.code(),
                &refund.created_at_ms,
            ],
        )?;
        inserted_or_conflict(inserted, "refunds")
    }
}
