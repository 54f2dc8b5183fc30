//! Invoices and their line items.

use rusqlite::{Connection, Row, params};

use crate::engine::invoice::{Invoice, InvoiceLine, InvoiceStatus};
use crate::engine::principal::{Mode, Scope};
use crate::store::sqlite::rows::{asset_of, into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{
    InvoiceFilter, InvoiceTotalsFilter, InvoiceTotalsRow, InvoicesRead, InvoicesWrite, Page, PageRequest, StoreError,
    StoreResult,
};

const INVOICE_COLUMNS: &str = "id, merchant_id, mode, customer_id, subscription_id, currency, subtotal_minor, \
     total_minor, amount_paid_minor, status, due_date_ms, expires_in_ms, expires_at_ms, payment_intent_id, \
     metadata_json, created_at_ms, finalized_at_ms, paid_at_ms, closed_at_ms, updated_at_ms";

/// An invoice's row, its lines still to be read.
fn invoice_from_row(row: &Row<'_>) -> rusqlite::Result<Invoice> {
    let (mode, currency, status): (String, String, String) =
        (row.get("mode")?, row.get("currency")?, row.get("status")?);
    let metadata_json: String = row.get("metadata_json")?;
    Ok(Invoice {
        id: row.get("id")?,
        scope: Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        customer_id: row.get("customer_id")?,
        subscription_id: row.get("subscription_id")?,
        currency: parsed(crate::engine::money::Asset::lookup(&currency), "asset", &currency)?,
        lines: Vec::new(),
        subtotal_minor: row.get("subtotal_minor")?,
        total_minor: row.get("total_minor")?,
        amount_paid_minor: row.get("amount_paid_minor")?,
        status: parsed(InvoiceStatus::parse(&status), "invoice status", &status)?,
        due_date_ms: row.get("due_date_ms")?,
        expires_in_ms: row.get("expires_in_ms")?,
        expires_at_ms: row.get("expires_at_ms")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        created_at_ms: row.get("created_at_ms")?,
        finalized_at_ms: row.get("finalized_at_ms")?,
        paid_at_ms: row.get("paid_at_ms")?,
        closed_at_ms: row.get("closed_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
        payment_intent_id: row.get("payment_intent_id")?,
    })
}

fn lines_of(connection: &Connection, invoice_id: &str) -> StoreResult<Vec<InvoiceLine>> {
    let mut statement = connection.prepare_cached(
        "SELECT description, quantity, unit_amount_minor, price_id, amount_minor FROM invoice_lines \
         WHERE invoice_id = ?1 ORDER BY position",
    )?;
    let rows = statement.query_map([invoice_id], |row| {
        Ok(InvoiceLine {
            description: row.get(0)?,
            quantity: row.get(1)?,
            unit_amount_minor: row.get(2)?,
            price_id: row.get(3)?,
            amount_minor: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The invoices matching `where_sql`, each with its lines (at most a page of them: lists are
/// bounded by `LIST_LIMIT_MAX`, each invoice by `INVOICE_MAX_LINE_ITEMS`).
fn query_invoices(
    connection: &Connection,
    where_sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<Invoice>> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE {where_sql}");
    let mut statement = connection.prepare_cached(&sql)?;
    let mut invoices = statement.query_map(values, invoice_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    for invoice in &mut invoices {
        invoice.lines = lines_of(connection, &invoice.id)?;
    }
    Ok(invoices)
}

/// `SUM(column)` as SQLite computes it raises on i64 overflow, and `TOTAL` is a float; so each
/// amount is summed in two parts (its high bits and its low 26 bits), each far from overflow
/// for any number of rows a database can hold, and joined in i128 in Rust.
const SPLIT_BITS: u32 = 26;

fn split_sum_sql(expression: &str) -> String {
    format!("SUM(({expression}) >> {SPLIT_BITS}), SUM(({expression}) & {})", (1_i64 << SPLIT_BITS) - 1)
}

fn joined_sum(row: &Row<'_>, first_column: usize) -> rusqlite::Result<i128> {
    let high: i64 = row.get(first_column)?;
    let low: i64 = row.get(first_column + 1)?;
    Ok((i128::from(high) << SPLIT_BITS) + i128::from(low))
}

impl<T: HasConnection> InvoicesRead for T {
    fn get_invoice(&self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>> {
        let mode = scope.mode.code();
        let mut found = query_invoices(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 AND id = ?3",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn get_invoice_by_payment_intent(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Invoice>> {
        let mode = scope.mode.code();
        let mut found = query_invoices(
            self.connection(),
            "payment_intent_id = ?3 AND merchant_id = ?1 AND mode = ?2",
            &[&scope.merchant_id, &mode, &payment_intent_id],
        )?;
        Ok(found.pop())
    }

    fn list_invoices(&self, scope: &Scope, filter: &InvoiceFilter, page: &PageRequest) -> StoreResult<Page<Invoice>> {
        let mode = scope.mode.code();
        let status = filter.status.map(InvoiceStatus::code);
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_invoices(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR status = ?3) \
             AND (?4 IS NULL OR customer_id = ?4) \
             AND (?5 IS NULL OR seq < (SELECT seq FROM invoices WHERE id = ?5)) \
             ORDER BY seq DESC LIMIT ?6",
            &[&scope.merchant_id, &mode, &status, &filter.customer_id, &page.starting_after, &limit_plus_one],
        )?;
        Ok(into_page(items, page.limit))
    }

    fn invoice_totals(&self, scope: &Scope, filter: &InvoiceTotalsFilter) -> StoreResult<Vec<InvoiceTotalsRow>> {
        let sql = format!(
            "SELECT status, currency, COUNT(*), {}, {}, {} FROM invoices \
             WHERE merchant_id = ?1 AND mode = ?2 AND (?3 IS NULL OR customer_id = ?3) \
             GROUP BY status, currency ORDER BY status, currency",
            split_sum_sql("total_minor"),
            split_sum_sql("amount_paid_minor"),
            split_sum_sql("MAX(total_minor - amount_paid_minor, 0)"),
        );
        let mut statement = self.connection().prepare_cached(&sql)?;
        let rows = statement.query_map(params![scope.merchant_id, scope.mode.code(), filter.customer_id], |row| {
            let (status, currency): (String, String) = (row.get(0)?, row.get(1)?);
            Ok((
                parsed(InvoiceStatus::parse(&status), "invoice status", &status)?,
                currency,
                row.get::<_, i64>(2)?,
                joined_sum(row, 3)?,
                joined_sum(row, 5)?,
                joined_sum(row, 7)?,
            ))
        })?;
        let mut totals = Vec::new();
        for row in rows {
            let (status, currency, count, total_minor, amount_paid_minor, amount_remaining_minor) = row?;
            totals.push(InvoiceTotalsRow {
                status,
                currency: asset_of(&currency)?,
                count,
                total_minor,
                amount_paid_minor,
                amount_remaining_minor,
            });
        }
        Ok(totals)
    }
}

fn invoice_params(invoice: &Invoice) -> [Box<dyn rusqlite::ToSql>; 20] {
    let metadata_json = serde_json::to_string(&invoice.metadata).expect("string map serializes");
    [
        Box::new(invoice.id.clone()),
        Box::new(invoice.scope.merchant_id.clone()),
        Box::new(invoice.scope.mode.code()),
        Box::new(invoice.customer_id.clone()),
        Box::new(invoice.subscription_id.clone()),
        Box::new(invoice.currency.code),
        Box::new(invoice.subtotal_minor),
        Box::new(invoice.total_minor),
        Box::new(invoice.amount_paid_minor),
        Box::new(invoice.status.code()),
        Box::new(invoice.due_date_ms),
        Box::new(invoice.expires_in_ms),
        Box::new(invoice.expires_at_ms),
        Box::new(invoice.payment_intent_id.clone()),
        Box::new(metadata_json),
        Box::new(invoice.created_at_ms),
        Box::new(invoice.finalized_at_ms),
        Box::new(invoice.paid_at_ms),
        Box::new(invoice.closed_at_ms),
        Box::new(invoice.updated_at_ms),
    ]
}

impl InvoicesWrite for SqliteWrite<'_> {
    fn get_invoice_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>> {
        // The write transaction holds SQLite's only write lock: nothing else can change the row.
        self.get_invoice(scope, id)
    }

    fn insert_invoice(&mut self, invoice: &Invoice) -> StoreResult<()> {
        let placeholders: Vec<String> = (1..=20).map(|index| format!("?{index}")).collect();
        let sql = format!("INSERT INTO invoices ({INVOICE_COLUMNS}) VALUES ({})", placeholders.join(", "));
        self.connection.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(invoice_params(invoice).iter()))?;
        let mut insert_line = self.connection.prepare_cached(
            "INSERT INTO invoice_lines (invoice_id, position, description, quantity, unit_amount_minor, price_id, \
             amount_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (position, line) in invoice.lines.iter().enumerate() {
            insert_line.execute(params![
                invoice.id,
                position as i64,
                line.description,
                line.quantity,
                line.unit_amount_minor,
                line.price_id,
                line.amount_minor
            ])?;
        }
        Ok(())
    }

    fn update_invoice(&mut self, invoice: &Invoice) -> StoreResult<()> {
        // The scope, customer, currency, totals and creation time are part of the WHERE: an
        // update never moves an invoice or changes what it bills.
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE invoices SET subscription_id = ?5, amount_paid_minor = ?9, status = ?10, due_date_ms = ?11, \
                 expires_in_ms = ?12, expires_at_ms = ?13, payment_intent_id = ?14, metadata_json = ?15, \
                 finalized_at_ms = ?17, paid_at_ms = ?18, closed_at_ms = ?19, updated_at_ms = ?20 \
                 WHERE id = ?1 AND merchant_id = ?2 AND mode = ?3 AND customer_id = ?4 AND currency = ?6 \
                 AND subtotal_minor = ?7 AND total_minor = ?8 AND created_at_ms = ?16",
            )?
            .execute(rusqlite::params_from_iter(invoice_params(invoice).iter()))?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("invoice {} to update does not exist as stored", invoice.id)));
        }
        Ok(())
    }
}
