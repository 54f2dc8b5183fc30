//! Disputes.
//!
//! Across processes: a decision reads its dispute `FOR UPDATE` (by id, or by payment when one
//! exists); two processes opening a dispute on the same payment at once are settled by the
//! `disputes_one_per_payment` unique index: the second insert waits for the first to commit,
//! then inserts nothing and answers `Conflict`, without aborting its transaction.

use postgres::Row;

use crate::engine::dispute::{Dispute, DisputeOutcome, DisputeReason, DisputeStatus};
use crate::engine::money::{Asset, Money};
use crate::engine::principal::Scope;
use crate::store::codecs::{evidence_from_json, evidence_to_json};
use crate::store::postgres::rows::{get, inserted_or_conflict, into_page, parsed, scope_from_row};
use crate::store::postgres::session::{Params, PgSession, PooledConnection};
use crate::store::{DisputeFilter, DisputesRead, DisputesWrite, Page, PageRequest, StoreError, StoreResult};

const DISPUTE_COLUMNS: &str = "id, merchant_id, mode, payment_intent_id, amount_minor, asset, amount_owed_minor, \
     reason, status, evidence_json, evidence_submitted_at_ms, evidence_due_by_ms, simulated_outcome, created_at_ms, \
     updated_at_ms, closed_at_ms";

fn dispute_from_row(row: &Row) -> StoreResult<Dispute> {
    let text = |column: &str| get::<String>(row, column);
    let (asset, reason, status, evidence_json) =
        (text("asset")?, text("reason")?, text("status")?, text("evidence_json")?);
    let simulated_outcome = match get::<Option<String>>(row, "simulated_outcome")? {
        Some(code) => Some(parsed(DisputeOutcome::parse(&code), "dispute outcome", &code)?),
        None => None,
    };
    Ok(Dispute {
        id: text("id")?,
        scope: scope_from_row(row)?,
        payment_intent_id: text("payment_intent_id")?,
        amount: Money {
            asset: parsed(Asset::lookup(&asset), "asset", &asset)?,
            amount_minor: get(row, "amount_minor")?,
        },
        amount_owed_minor: get(row, "amount_owed_minor")?,
        reason: parsed(DisputeReason::parse(&reason), "dispute reason", &reason)?,
        status: parsed(DisputeStatus::parse(&status), "dispute status", &status)?,
        evidence: parsed(evidence_from_json(&evidence_json), "dispute evidence", &evidence_json)?,
        evidence_submitted_at_ms: get(row, "evidence_submitted_at_ms")?,
        evidence_due_by_ms: get(row, "evidence_due_by_ms")?,
        simulated_outcome,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
        closed_at_ms: get(row, "closed_at_ms")?,
    })
}

/// The disputes matching `where_sql` (which may end in `FOR UPDATE`).
fn query_disputes(db: &PooledConnection, where_sql: &str, params: Params<'_>) -> StoreResult<Vec<Dispute>> {
    let sql = format!("SELECT {DISPUTE_COLUMNS} FROM disputes WHERE {where_sql}");
    db.query(&sql, params)?.iter().map(dispute_from_row).collect()
}

impl DisputesRead for PgSession<'_> {
    fn get_dispute(&self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>> {
        let mode = scope.mode.code();
        let mut found =
            query_disputes(self.db(), "merchant_id = $1 AND mode = $2 AND id = $3", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.pop())
    }

    fn get_dispute_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Dispute>> {
        let mode = scope.mode.code();
        let mut found = query_disputes(
            self.db(),
            "merchant_id = $1 AND mode = $2 AND payment_intent_id = $3",
            &[&scope.merchant_id, &mode, &payment_intent_id],
        )?;
        Ok(found.pop())
    }

    fn list_disputes(&self, scope: &Scope, filter: &DisputeFilter, page: &PageRequest) -> StoreResult<Page<Dispute>> {
        let mode = scope.mode.code();
        let status = filter.status.map(|status| status.code());
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_disputes(
            self.db(),
            "merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR status = $3) \
             AND ($4::text IS NULL OR payment_intent_id = $4) \
             AND ($5::bigint IS NULL OR created_at_ms >= $5) \
             AND ($6::bigint IS NULL OR created_at_ms < $6) \
             AND ($7::text IS NULL OR seq < (SELECT seq FROM disputes WHERE id = $7)) \
             ORDER BY seq DESC LIMIT $8",
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

impl DisputesWrite for PgSession<'_> {
    fn get_dispute_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Dispute>> {
        let mode = scope.mode.code();
        let mut found = query_disputes(
            self.db(),
            "merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn get_dispute_for_payment_for_update(
        &mut self,
        scope: &Scope,
        payment_intent_id: &str,
    ) -> StoreResult<Option<Dispute>> {
        let mode = scope.mode.code();
        let mut found = query_disputes(
            self.db(),
            "merchant_id = $1 AND mode = $2 AND payment_intent_id = $3 FOR UPDATE",
            &[&scope.merchant_id, &mode, &payment_intent_id],
        )?;
        Ok(found.pop())
    }

    fn insert_dispute(&mut self, dispute: &Dispute) -> StoreResult<()> {
        // A second dispute of the payment is an outcome the caller handles: it must not abort
        // the transaction, so the unique index is met with DO NOTHING rather than an error.
        let inserted = self.db().execute(
            &format!(
                "INSERT INTO disputes ({DISPUTE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING"
            ),
            &[
                &dispute.id,
                &dispute.scope.merchant_id,
                &dispute.scope.mode.code(),
                &dispute.payment_intent_id,
                &dispute.amount.amount_minor,
                &dispute.amount.asset.code,
                &dispute.amount_owed_minor,
                &dispute.reason.code(),
                &dispute.status.code(),
                &evidence_to_json(&dispute.evidence),
                &dispute.evidence_submitted_at_ms,
                &dispute.evidence_due_by_ms,
                &dispute.simulated_outcome.map(DisputeOutcome::code),
                &dispute.created_at_ms,
                &dispute.updated_at_ms,
                &dispute.closed_at_ms,
            ],
        )?;
        inserted_or_conflict(inserted, "disputes")
    }

    /// Only what a dispute's life changes: its status, evidence and times.
    fn update_dispute(&mut self, dispute: &Dispute) -> StoreResult<()> {
        let changed = self.db().execute(
            "UPDATE disputes SET status = $2, evidence_json = $3, evidence_submitted_at_ms = $4, \
             updated_at_ms = $5, closed_at_ms = $6 WHERE id = $1 AND merchant_id = $7 AND mode = $8",
            &[
                &dispute.id,
                &dispute.status.code(),
                &evidence_to_json(&dispute.evidence),
                &dispute.evidence_submitted_at_ms,
                &dispute.updated_at_ms,
                &dispute.closed_at_ms,
                &dispute.scope.merchant_id,
                &dispute.scope.mode.code(),
            ],
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("dispute {} to update does not exist", dispute.id)));
        }
        Ok(())
    }
}
