//! Disputes.

use rusqlite::{Connection, Row, params};

use crate::engine::dispute::{Dispute, DisputeOutcome, DisputeReason, DisputeStatus};
use crate::engine::money::{Asset, Money};
use crate::engine::principal::{Mode, Scope};
use crate::store::codecs::{evidence_from_json, evidence_to_json};
use crate::store::sqlite::rows::{into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{DisputeFilter, DisputesRead, DisputesWrite, Page, PageRequest, StoreError, StoreResult};

const DISPUTE_COLUMNS: &str = "id, merchant_id, mode, payment_intent_id, amount_minor, asset, amount_owed_minor, \
     reason, status, evidence_json, evidence_submitted_at_ms, evidence_due_by_ms, simulated_outcome, created_at_ms, \
     updated_at_ms, closed_at_ms";

fn dispute_from_row(row: &Row<'_>) -> rusqlite::Result<Dispute> {
    let text = |column: &str| row.get::<_, String>(column);
    let (mode, asset, reason, status, evidence_json) =
        (text("mode")?, text("asset")?, text("reason")?, text("status")?, text("evidence_json")?);
    let simulated_outcome = match row.get::<_, Option<String>>("simulated_outcome")? {
        Some(code) => Some(parsed(DisputeOutcome::parse(&code), "dispute outcome", &code)?),
        None => None,
    };
    Ok(Dispute {
        id: text("id")?,
        scope: Scope { merchant_id: text("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        payment_intent_id: text("payment_intent_id")?,
        amount: Money {
            asset: parsed(Asset::lookup(&asset), "asset", &asset)?,
            amount_minor: row.get("amount_minor")?,
        },
        amount_owed_minor: row.get("amount_owed_minor")?,
        reason: parsed(DisputeReason::parse(&reason), "dispute reason", &reason)?,
        status: parsed(DisputeStatus::parse(&status), "dispute status", &status)?,
        evidence: parsed(evidence_from_json(&evidence_json), "dispute evidence", &evidence_json)?,
        evidence_submitted_at_ms: row.get("evidence_submitted_at_ms")?,
        evidence_due_by_ms: row.get("evidence_due_by_ms")?,
        simulated_outcome,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
        closed_at_ms: row.get("closed_at_ms")?,
    })
}

fn query_disputes(
    connection: &Connection,
    where_sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<Dispute>> {
    let sql = format!("SELECT {DISPUTE_COLUMNS} FROM disputes WHERE {where_sql}");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(values, dispute_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl<T: HasConnection> DisputesRead for T {
    fn get_dispute(&self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>> {
        let mode = scope.mode.code();
        let mut found = query_disputes(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 AND id = ?3",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn get_dispute_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Dispute>> {
        let mode = scope.mode.code();
        let mut found = query_disputes(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 AND payment_intent_id = ?3",
            &[&scope.merchant_id, &mode, &payment_intent_id],
        )?;
        Ok(found.pop())
    }

    fn list_disputes(&self, scope: &Scope, filter: &DisputeFilter, page: &PageRequest) -> StoreResult<Page<Dispute>> {
        let mode = scope.mode.code();
        let status = filter.status.map(|status| status.code());
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_disputes(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR status = ?3) \
             AND (?4 IS NULL OR payment_intent_id = ?4) \
             AND (?5 IS NULL OR created_at_ms >= ?5) \
             AND (?6 IS NULL OR created_at_ms < ?6) \
             AND (?7 IS NULL OR seq < (SELECT seq FROM disputes WHERE id = ?7)) \
             ORDER BY seq DESC LIMIT ?8",
            &[
                &scope.merchant_id,
                &mode,
                &status,
                &filter.payment_intent_id,
                &filter.created_gte_ms,
                &filter.created_lt_ms,
                &page.starting_after,
                &limit_plus_one,
            ],
        )?;
        Ok(into_page(items, page.limit))
    }
}

impl DisputesWrite for SqliteWrite<'_> {
    fn get_dispute_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>> {
        // The write transaction holds SQLite's only write lock: nothing else can change the row.
        self.get_dispute(scope, id)
    }

    fn get_dispute_for_payment_for_update(
        &mut self,
        scope: &Scope,
        payment_intent_id: &str,
    ) -> StoreResult<Option<Dispute>> {
        self.get_dispute_for_payment(scope, payment_intent_id)
    }

    fn insert_dispute(&mut self, dispute: &Dispute) -> StoreResult<()> {
        self.connection
            .prepare_cached(&format!(
                "INSERT INTO disputes ({DISPUTE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ))?
            .execute(params![
                dispute.id,
                dispute.scope.merchant_id,
                dispute.scope.mode.code(),
                dispute.payment_intent_id,
                dispute.amount.amount_minor,
                dispute.amount.asset.code,
                dispute.amount_owed_minor,
                dispute.reason.code(),
                dispute.status.code(),
                evidence_to_json(&dispute.evidence),
                dispute.evidence_submitted_at_ms,
                dispute.evidence_due_by_ms,
                dispute.simulated_outcome.map(DisputeOutcome::code),
                dispute.created_at_ms,
                dispute.updated_at_ms,
                dispute.closed_at_ms,
            ])?;
        Ok(())
    }

    /// Only what a dispute's life changes: its status, evidence and times.
    fn update_dispute(&mut self, dispute: &Dispute) -> StoreResult<()> {
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE disputes SET status = ?2, evidence_json = ?3, evidence_submitted_at_ms = ?4, \
                 updated_at_ms = ?5, closed_at_ms = ?6 WHERE id = ?1 AND merchant_id = ?7 AND mode = ?8",
            )?
            .execute(params![
                dispute.id,
                dispute.status.code(),
                evidence_to_json(&dispute.evidence),
                dispute.evidence_submitted_at_ms,
                dispute.updated_at_ms,
                dispute.closed_at_ms,
                dispute.scope.merchant_id,
                dispute.scope.mode.code(),
            ])?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("dispute {} to update does not exist", dispute.id)));
        }
        Ok(())
    }
}
