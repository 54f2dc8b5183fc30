//! Payment intents and refunds.

use std::sync::LazyLock;

use rusqlite::{Connection, Row, params};

use crate::engine::money::{Asset, Money, Network};
use crate::engine::payment::{PaymentIntent, PaymentMethod, PaymentStatus, Refund, RefundStatus, Settlement};
use crate::engine::principal::{Mode, Scope};
use crate::engine::rail::Rail;
use crate::store::codecs::{next_action_from_json, next_action_to_json};
use crate::store::sqlite::rows::{asset_of, corrupt, into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{Page, PageRequest, PaymentFilter, PaymentsRead, PaymentsWrite, StoreError, StoreResult};

const PAYMENT_COLUMNS: &str = "id, merchant_id, mode, amount_minor, asset, network, method, rail, settle_asset, \
     settle_amount_minor, settle_rate, customer, description, metadata_json, status, next_action_json, fee_minor, \
     amount_refunded_minor, failure_reason, auto_settle_at_ms, created_at_ms, updated_at_ms, amount_received_minor, \
     expires_at_ms";

/// `INSERT INTO payment_intents (PAYMENT_COLUMNS) VALUES (?1, …)`, built once.
static INSERT_PAYMENT_SQL: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=PAYMENT_COLUMNS.split(", ").count()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO payment_intents ({PAYMENT_COLUMNS}) VALUES ({})", placeholders.join(", "))
});

/// `UPDATE payment_intents SET column = ?n, … WHERE id = ?1`, built once.
static UPDATE_PAYMENT_SQL: LazyLock<String> = LazyLock::new(|| {
    let assignments: Vec<String> =
        PAYMENT_COLUMNS.split(", ").enumerate().skip(1).map(|(i, column)| format!("{column} = ?{}", i + 1)).collect();
    format!("UPDATE payment_intents SET {} WHERE id = ?1", assignments.join(", "))
});

fn payment_from_row(row: &Row<'_>) -> rusqlite::Result<PaymentIntent> {
    let text = |column: &str| row.get::<_, String>(column);
    let optional_text = |column: &str| row.get::<_, Option<String>>(column);
    let (mode, asset, method, rail, status) =
        (text("mode")?, text("asset")?, text("method")?, text("rail")?, text("status")?);
    let network = match optional_text("network")? {
        Some(code) => Some(parsed(Network::parse(&code), "network", &code)?),
        None => None,
    };
    let settlement = match (optional_text("settle_asset")?, row.get::<_, Option<i64>>("settle_amount_minor")?) {
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
        scope: Scope { merchant_id: text("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        amount: Money {
            asset: parsed(Asset::lookup(&asset), "asset", &asset)?,
            amount_minor: row.get("amount_minor")?,
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
        fee_minor: row.get("fee_minor")?,
        amount_refunded_minor: row.get("amount_refunded_minor")?,
        failure_reason: optional_text("failure_reason")?,
        auto_settle_at_ms: row.get("auto_settle_at_ms")?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
        amount_received_minor: row.get("amount_received_minor")?,
        expires_at_ms: row.get("expires_at_ms")?,
    })
}

fn query_payments(
    connection: &Connection,
    where_sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<PaymentIntent>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payment_intents WHERE {where_sql}");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(values, payment_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl<T: HasConnection> PaymentsRead for T {
    fn get_payment(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let mode = scope.mode.code();
        let mut found = query_payments(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 AND id = ?3",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn list_payments(
        &self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<PaymentIntent>> {
        let mode = scope.mode.code();
        let status = filter.status.map(|status| status.code());
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_payments(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR status = ?3) \
             AND (?4 IS NULL OR customer = ?4) \
             AND (?5 IS NULL OR created_at_ms >= ?5) \
             AND (?6 IS NULL OR created_at_ms < ?6) \
             AND (?7 IS NULL OR seq < (SELECT seq FROM payment_intents WHERE id = ?7)) \
             ORDER BY seq DESC LIMIT ?8",
            &[
                &scope.merchant_id,
                &mode,
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
        let mut statement = self.connection().prepare_cached(
            "SELECT id, amount_minor, asset, reason, status, created_at_ms FROM refunds \
             WHERE merchant_id = ?1 AND mode = ?2 AND payment_intent_id = ?3 ORDER BY seq",
        )?;
        let rows = statement.query_map(params![scope.merchant_id, scope.mode.code(), payment_intent_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })?;
        let mut refunds = Vec::new();
        for row in rows {
            let (id, amount_minor, asset, reason, status, created_at_ms) = row?;
            refunds.push(Refund {
                id,
                scope: scope.clone(),
                payment_intent_id: payment_intent_id.to_owned(),
                amount: Money { asset: asset_of(&asset)?, amount_minor },
                reason,
                status: RefundStatus::parse(&status).ok_or_else(|| corrupt("refund status", &status))?,
                created_at_ms,
            });
        }
        Ok(refunds)
    }
}

fn payment_params(payment: &PaymentIntent) -> Vec<Box<dyn rusqlite::ToSql>> {
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

impl PaymentsWrite for SqliteWrite<'_> {
    fn get_payment_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        // The write transaction holds SQLite's only write lock: nothing else can change the row.
        self.get_payment(scope, id)
    }

    fn insert_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        let values = payment_params(payment);
        self.connection.prepare_cached(&INSERT_PAYMENT_SQL)?.execute(rusqlite::params_from_iter(values.iter()))?;
        Ok(())
    }

    fn update_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        let values = payment_params(payment);
        let changed =
            self.connection.prepare_cached(&UPDATE_PAYMENT_SQL)?.execute(rusqlite::params_from_iter(values.iter()))?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("payment {} to update does not exist", payment.id)));
        }
        Ok(())
    }

    fn insert_refund(&mut self, refund: &Refund) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO refunds (id, merchant_id, mode, payment_intent_id, amount_minor, asset, reason, status, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                refund.id,
                refund.scope.merchant_id,
                refund.scope.mode.code(),
                refund.payment_intent_id,
                refund.amount.amount_minor,
                refund.amount.asset.code,
                refund.reason,
                refund.status.code(),
                refund.created_at_ms
            ])?;
        Ok(())
    }
}
