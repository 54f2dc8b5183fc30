//! Invoices and their line items.
//!
//! Across processes: a decision reads its invoice with `get_invoice_for_update` (`FOR UPDATE`: a
//! second process's decision waits for the commit, then reads what the first wrote). A write
//! session's `get_invoice_by_payment_intent` locks the same way, because a receipt reads the
//! intent's invoice that way and then updates it: without the lock, a receipt and a void of the
//! same invoice in two processes would each write over the other. Lines are written once with
//! their invoice and never change (a trigger refuses it), so they are read without a lock.
//! `invoice_totals` is one aggregate statement, so one snapshot.

use std::collections::HashMap;

use postgres::Row;

use crate::engine::invoice::{Invoice, InvoiceLine, InvoiceStatus};
use crate::engine::money::Asset;
use crate::engine::principal::Scope;
use crate::store::postgres::rows::{asset_of, corrupt, get, into_page, parsed, scope_from_row};
use crate::store::postgres::session::{Params, PgSession, PooledConnection};
use crate::store::{
    InvoiceFilter, InvoiceTotalsFilter, InvoiceTotalsRow, InvoicesRead, InvoicesWrite, Page, PageRequest, StoreError,
    StoreResult,
};

const INVOICE_COLUMNS: &str = "id, merchant_id, mode, customer_id, subscription_id, currency, subtotal_minor, \
     total_minor, amount_paid_minor, status, due_date_ms, expires_in_ms, expires_at_ms, payment_intent_id, \
     metadata_json, created_at_ms, finalized_at_ms, paid_at_ms, closed_at_ms, updated_at_ms";

/// An invoice's row, its lines still to be read.
fn invoice_from_row(row: &Row) -> StoreResult<Invoice> {
    let (currency, status): (String, String) = (get(row, "currency")?, get(row, "status")?);
    let metadata_json: String = get(row, "metadata_json")?;
    Ok(Invoice {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        customer_id: get(row, "customer_id")?,
        subscription_id: get(row, "subscription_id")?,
        currency: parsed(Asset::lookup(&currency), "asset", &currency)?,
        lines: Vec::new(),
        subtotal_minor: get(row, "subtotal_minor")?,
        total_minor: get(row, "total_minor")?,
        amount_paid_minor: get(row, "amount_paid_minor")?,
        status: parsed(InvoiceStatus::parse(&status), "invoice status", &status)?,
        due_date_ms: get(row, "due_date_ms")?,
        expires_in_ms: get(row, "expires_in_ms")?,
        expires_at_ms: get(row, "expires_at_ms")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        created_at_ms: get(row, "created_at_ms")?,
        finalized_at_ms: get(row, "finalized_at_ms")?,
        paid_at_ms: get(row, "paid_at_ms")?,
        closed_at_ms: get(row, "closed_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
        payment_intent_id: get(row, "payment_intent_id")?,
    })
}

/// Fills every invoice's lines with one query (a page holds at most `LIST_LIMIT_MAX` invoices,
/// each at most `INVOICE_MAX_LINE_ITEMS` lines).
fn attach_lines(db: &PooledConnection, invoices: &mut [Invoice]) -> StoreResult<()> {
    if invoices.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = invoices.iter().map(|invoice| invoice.id.as_str()).collect();
    let rows = db.query(
        "SELECT invoice_id, description, quantity, unit_amount_minor, price_id, amount_minor FROM invoice_lines \
         WHERE invoice_id = ANY($1) ORDER BY invoice_id, position",
        &[&ids],
    )?;
    let mut lines_by_invoice: HashMap<String, Vec<InvoiceLine>> = HashMap::new();
    for row in &rows {
        lines_by_invoice.entry(get(row, "invoice_id")?).or_default().push(InvoiceLine {
            description: get(row, "description")?,
            quantity: get(row, "quantity")?,
            unit_amount_minor: get(row, "unit_amount_minor")?,
            price_id: get(row, "price_id")?,
            amount_minor: get(row, "amount_minor")?,
        });
    }
    for invoice in invoices {
        invoice.lines = lines_by_invoice.remove(&invoice.id).unwrap_or_default();
    }
    Ok(())
}

/// The invoices matching `where_sql` (which may end in `FOR UPDATE`), each with its lines.
fn query_invoices(db: &PooledConnection, where_sql: &str, params: Params<'_>) -> StoreResult<Vec<Invoice>> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE {where_sql}");
    let mut invoices = db.query(&sql, params)?.iter().map(invoice_from_row).collect::<StoreResult<Vec<_>>>()?;
    attach_lines(db, &mut invoices)?;
    Ok(invoices)
}

/// `SUM(bigint)` is NUMERIC in PostgreSQL: exact however many rows, read as text into i128
/// (never through a float).
fn exact_sum(row: &Row, column: &str) -> StoreResult<i128> {
    let text: String = get(row, column)?;
    text.parse::<i128>().map_err(|_| corrupt("sum", &text))
}

impl InvoicesRead for PgSession<'_> {
    fn get_invoice(&self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>> {
        let mode = scope.mode.code();
        let mut found =
            query_invoices(self.db(), "merchant_id = $1 AND mode = $2 AND id = $3", &[&scope.merchant_id, &mode, &id])?;
        Ok(found.pop())
    }

    fn get_invoice_by_payment_intent(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Invoice>> {
        let mode = scope.mode.code();
        let where_sql = if self.is_write {
            "payment_intent_id = $3 AND merchant_id = $1 AND mode = $2 FOR UPDATE"
        } else {
            "payment_intent_id = $3 AND merchant_id = $1 AND mode = $2"
        };
        let mut found = query_invoices(self.db(), where_sql, &[&scope.merchant_id, &mode, &payment_intent_id])?;
        Ok(found.pop())
    }

    fn list_invoices(&self, scope: &Scope, filter: &InvoiceFilter, page: &PageRequest) -> StoreResult<Page<Invoice>> {
        let mode = scope.mode.code();
        let status = filter.status.map(InvoiceStatus::code);
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_invoices(
            self.db(),
            "merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR status = $3) \
             AND ($4::text IS NULL OR customer_id = $4) \
             AND ($5::text IS NULL OR seq < (SELECT seq FROM invoices WHERE id = $5)) \
             ORDER BY seq DESC LIMIT $6",
            &[&scope.merchant_id, &mode, &status, &filter.customer_id, &page.starting_after, &limit_plus_one],
        )?;
        Ok(into_page(items, page.limit))
    }

    fn invoice_totals(&self, scope: &Scope, filter: &InvoiceTotalsFilter) -> StoreResult<Vec<InvoiceTotalsRow>> {
        // Byte order of the codes, as SQLite sorts them, whatever the database's collation.
        let rows = self.db().query(
            "SELECT status, currency, COUNT(*) AS count, SUM(total_minor)::text AS total_minor, \
             SUM(amount_paid_minor)::text AS amount_paid_minor, \
             SUM(GREATEST(total_minor - amount_paid_minor, 0))::text AS amount_remaining_minor \
             FROM invoices WHERE merchant_id = $1 AND mode = $2 AND ($3::text IS NULL OR customer_id = $3) \
             GROUP BY status, currency ORDER BY status COLLATE \"C\", currency COLLATE \"C\"",
            &[&scope.merchant_id, &scope.mode.code(), &filter.customer_id],
        )?;
        rows.iter()
            .map(|row| {
                let (status, currency): (String, String) = (get(row, "status")?, get(row, "currency")?);
                Ok(InvoiceTotalsRow {
                    status: parsed(InvoiceStatus::parse(&status), "invoice status", &status)?,
                    currency: asset_of(&currency)?,
                    count: get(row, "count")?,
                    total_minor: exact_sum(row, "total_minor")?,
                    amount_paid_minor: exact_sum(row, "amount_paid_minor")?,
                    amount_remaining_minor: exact_sum(row, "amount_remaining_minor")?,
                })
            })
            .collect()
    }
}

/// An invoice's columns in `INVOICE_COLUMNS` order, as `$1`…`$20`.
struct InvoiceValues<'i> {
    invoice: &'i Invoice,
    mode: &'static str,
    currency: &'static str,
    status: &'static str,
    metadata_json: String,
}

impl<'i> InvoiceValues<'i> {
    fn new(invoice: &'i Invoice) -> InvoiceValues<'i> {
        InvoiceValues {
            invoice,
            mode: invoice.scope.mode.code(),
            currency: invoice.currency.code,
            status: invoice.status.code(),
            metadata_json: serde_json::to_string(&invoice.metadata).expect("string map serializes"),
        }
    }

    fn params(&self) -> [&(dyn postgres::types::ToSql + Sync); 20] {
        let invoice = self.invoice;
        [
            &invoice.id,
            &invoice.scope.merchant_id,
            &self.mode,
            &invoice.customer_id,
            &invoice.subscription_id,
            &self.currency,
            &invoice.subtotal_minor,
            &invoice.total_minor,
            &invoice.amount_paid_minor,
            &self.status,
            &invoice.due_date_ms,
            &invoice.expires_in_ms,
            &invoice.expires_at_ms,
            &invoice.payment_intent_id,
            &self.metadata_json,
            &invoice.created_at_ms,
            &invoice.finalized_at_ms,
            &invoice.paid_at_ms,
            &invoice.closed_at_ms,
            &invoice.updated_at_ms,
        ]
    }
}

impl InvoicesWrite for PgSession<'_> {
    fn get_invoice_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>> {
        let mode = scope.mode.code();
        let mut found = query_invoices(
            self.db(),
            "merchant_id = $1 AND mode = $2 AND id = $3 FOR UPDATE",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn insert_invoice(&mut self, invoice: &Invoice) -> StoreResult<()> {
        let placeholders: Vec<String> = (1..=20).map(|index| format!("${index}")).collect();
        let sql = format!("INSERT INTO invoices ({INVOICE_COLUMNS}) VALUES ({})", placeholders.join(", "));
        self.db().execute(&sql, &InvoiceValues::new(invoice).params())?;
        if invoice.lines.is_empty() {
            return Ok(());
        }
        // All lines in one statement: one round trip whatever their number.
        let positions: Vec<i64> = (0..invoice.lines.len() as i64).collect();
        let descriptions: Vec<&str> = invoice.lines.iter().map(|line| line.description.as_str()).collect();
        let quantities: Vec<i64> = invoice.lines.iter().map(|line| line.quantity).collect();
        let unit_amounts: Vec<i64> = invoice.lines.iter().map(|line| line.unit_amount_minor).collect();
        let price_ids: Vec<Option<&str>> = invoice.lines.iter().map(|line| line.price_id.as_deref()).collect();
        let amounts: Vec<i64> = invoice.lines.iter().map(|line| line.amount_minor).collect();
        self.db().execute(
            "INSERT INTO invoice_lines (invoice_id, position, description, quantity, unit_amount_minor, price_id, \
             amount_minor) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[])",
            &[&invoice.id, &positions, &descriptions, &quantities, &unit_amounts, &price_ids, &amounts],
        )?;
        Ok(())
    }

    fn update_invoice(&mut self, invoice: &Invoice) -> StoreResult<()> {
        // The scope, customer, currency, totals and creation time are part of the WHERE: an
        // update never moves an invoice or changes what it bills.
        let changed = self.db().execute(
            "UPDATE invoices SET subscription_id = $5, amount_paid_minor = $9, status = $10, due_date_ms = $11, \
             expires_in_ms = $12, expires_at_ms = $13, payment_intent_id = $14, metadata_json = $15, \
             finalized_at_ms = $17, paid_at_ms = $18, closed_at_ms = $19, updated_at_ms = $20 \
             WHERE id = $1 AND merchant_id = $2 AND mode = $3 AND customer_id = $4 AND currency = $6 \
             AND subtotal_minor = $7 AND total_minor = $8 AND created_at_ms = $16",
            &InvoiceValues::new(invoice).params(),
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("invoice {} to update does not exist as stored", invoice.id)));
        }
        Ok(())
    }
}
