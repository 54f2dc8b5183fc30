//! Invoices: line items, integer totals, and what may happen to an invoice.
//!
//! ```text
//! from           action                              to
//! draft          finalize                            open (paid at once when the total is 0)
//! draft          void                                void
//! open           payment ≥ amount remaining          paid
//! open           payment < amount remaining          open (a partial payment)
//! open           expire, at or past expires_at       expired
//! open           mark_uncollectible                  uncollectible
//! open           void                                void
//! uncollectible  payment ≥ amount remaining          paid (less: stays uncollectible)
//! uncollectible  void                                void
//! paid, void, expired: final
//! ```
//!
//! The rules:
//! - A line's amount is `quantity × unit_amount`, computed with checked arithmetic; the subtotal is
//!   the sum of the lines and the total equals the subtotal (harepay has no tax or discount yet, so
//!   the two differ only once one exists). A line or total above `AMOUNT_MAX_MINOR` is refused with
//!   `amount_too_large`. Quantities are whole units from 1; a unit amount may be 0 (a free line).
//! - `finalize` opens a draft for payment. A draft whose total is 0 has nothing to collect: it is
//!   `paid` at once (Stripe's rule), and the caller emits `invoice.paid` with `invoice.finalized`.
//! - The payment window (`expires_in`, Pepay's) starts at `finalize`, because a draft cannot be
//!   paid: `expires_at = finalized_at + expires_in`. An open invoice to be paid in crypto that has
//!   no expiry gets `INVOICE_CRYPTO_EXPIRES_IN_DEFAULT_MS` (12 hours) from `open_crypto_payment_window`.
//! - Payments are accepted while `open` or `uncollectible` (a written-off invoice the customer pays
//!   after all becomes `paid`, as in Stripe) and not past `expires_at`. `amount_paid` counts all
//!   received; `amount_remaining = max(0, total − amount_paid)`; `amount_overpaid =
//!   max(0, amount_paid − total)`. Below the amount remaining the invoice stays as it was (a
//!   `PaymentApplication::Partial`, event `invoice.partial_payment`); at or above it the invoice is
//!   `paid` and the excess is recorded (`PaymentApplication::Overpaid`, event `invoice.overpaid`).
//!   Every other status refuses a payment with `invoice_not_payable` and changes nothing: the
//!   caller decides whether to refund or credit the money.
//! - `void` applies to a draft, an open or an uncollectible invoice; `expire` only to an open one
//!   at or past its `expires_at`. Neither moves money: a partial payment already received stays
//!   recorded in `amount_paid` for the caller to refund or credit.
//! - `paid`, `void` and `expired` are final. Every other refused transition is `invalid_state`.
//! - `is_past_due(now)`: open and `now > due_date` (what makes a subscription `past_due`).

use std::collections::BTreeMap;

use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::money::{AssetRef, Money, check_amount_range, checked_add_minor};
use crate::engine::principal::Scope;
use crate::limits::{
    AMOUNT_MAX_MINOR, INVOICE_CRYPTO_EXPIRES_IN_DEFAULT_MS, INVOICE_DUE_DATE_MAX_AHEAD_MS, INVOICE_EXPIRES_IN_MAX_MS,
    INVOICE_EXPIRES_IN_MIN_MS, INVOICE_LINE_DESCRIPTION_MAX_CHARS, INVOICE_LINE_QUANTITY_MAX_UNITS,
    INVOICE_MAX_LINE_ITEMS, OBJECT_ID_MAX_CHARS,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
    Expired,
}

impl InvoiceStatus {
    pub const ALL: [InvoiceStatus; 6] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Open,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
        InvoiceStatus::Uncollectible,
        InvoiceStatus::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
            InvoiceStatus::Expired => "expired",
        }
    }

    pub fn parse(code: &str) -> Option<InvoiceStatus> {
        InvoiceStatus::ALL.into_iter().find(|status| status.code() == code)
    }

    /// Nothing happens to an invoice in a final status.
    pub fn is_final(self) -> bool {
        matches!(self, InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::Expired)
    }

    /// Whether money received may be applied to an invoice in this status.
    pub fn accepts_payment(self) -> bool {
        matches!(self, InvoiceStatus::Open | InvoiceStatus::Uncollectible)
    }
}

/// A line as requested: validated and priced by `create_invoice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoiceLine {
    pub description: String,
    /// Whole units, from 1 to `INVOICE_LINE_QUANTITY_MAX_UNITS`.
    pub quantity: i64,
    /// Minor units of the invoice's currency per unit; 0 for a free line.
    pub unit_amount_minor: i64,
    pub price_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: i64,
    pub unit_amount_minor: i64,
    pub price_id: Option<String>,
    /// `quantity × unit_amount_minor`.
    pub amount_minor: i64,
}

/// A validated request to create an invoice. It starts as a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    pub customer_id: String,
    pub currency: AssetRef,
    pub lines: Vec<NewInvoiceLine>,
    pub due_date_ms: i64,
    /// How long the invoice stays payable once finalized; `None` for no expiry (until a crypto
    /// payment window gives it the default).
    pub expires_in_ms: Option<i64>,
    /// The subscription whose period or overage raised it; `None` for a one-off invoice.
    pub subscription_id: Option<String>,
    /// Validated by the caller, as for payments.
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub scope: Scope,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub currency: AssetRef,
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines' amounts.
    pub subtotal_minor: i64,
    /// What the customer owes: the subtotal (no tax or discount exists yet).
    pub total_minor: i64,
    /// Everything received, the excess of an overpayment included.
    pub amount_paid_minor: i64,
    pub status: InvoiceStatus,
    pub due_date_ms: i64,
    pub expires_in_ms: Option<i64>,
    /// Set when the payment window opens: at `finalize`, or by `open_crypto_payment_window`.
    pub expires_at_ms: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub finalized_at_ms: Option<i64>,
    pub paid_at_ms: Option<i64>,
    /// When the invoice became void, uncollectible or expired.
    pub closed_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    /// The payment intent collecting it (`pay_invoice`), the latest when there were several;
    /// `None` until one is made. See `invoice_payment`.
    pub payment_intent_id: Option<String>,
}

impl Invoice {
    /// What is still owed: `max(0, total − amount_paid)`.
    pub fn amount_remaining_minor(&self) -> i64 {
        (self.total_minor - self.amount_paid_minor).max(0)
    }

    /// What was received beyond the total: `max(0, amount_paid − total)`.
    pub fn amount_overpaid_minor(&self) -> i64 {
        (self.amount_paid_minor - self.total_minor).max(0)
    }

    /// The status a reader should see at `now_ms`: an open invoice past its `expires_at` is
    /// `expired` even before the scheduler's sweep has recorded it.
    pub fn status_at(&self, now_ms: i64) -> InvoiceStatus {
        if self.is_expired_at(now_ms) { InvoiceStatus::Expired } else { self.status }
    }

    /// Open, with an expiry, and at or past it: `expire` will succeed.
    pub fn is_expired_at(&self, now_ms: i64) -> bool {
        self.status == InvoiceStatus::Open && self.expires_at_ms.is_some_and(|expires_at_ms| now_ms >= expires_at_ms)
    }

    /// Open and past its due date: the subscription it bills is `past_due`.
    pub fn is_past_due(&self, now_ms: i64) -> bool {
        self.status == InvoiceStatus::Open && now_ms > self.due_date_ms
    }

    fn refuse(&self, action: &'static str) -> EngineError {
        EngineError::InvalidState { object: "invoice", id: self.id.clone(), status: self.status.code(), action }
    }
}

/// What one payment did to an invoice; the caller turns it into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentApplication {
    /// Less than was owed: the invoice keeps its status and still owes `amount_remaining_minor`.
    Partial { amount_remaining_minor: i64 },
    /// Exactly what was owed: the invoice is paid.
    Paid,
    /// More than was owed: the invoice is paid and `excess_minor` of this payment is recorded as
    /// overpaid.
    Overpaid { excess_minor: i64 },
}

impl PaymentApplication {
    /// The events the caller emits, in order.
    pub fn event_types(self) -> &'static [&'static str] {
        match self {
            PaymentApplication::Partial { .. } => &["invoice.partial_payment"],
            PaymentApplication::Paid => &["invoice.paid"],
            PaymentApplication::Overpaid { .. } => &["invoice.paid", "invoice.overpaid"],
        }
    }
}

/// A line's amount, `quantity × unit_amount_minor`, or `amount_too_large`.
pub fn line_amount_minor(currency: AssetRef, quantity: i64, unit_amount_minor: i64) -> Result<i64, EngineError> {
    quantity
        .checked_mul(unit_amount_minor)
        .filter(|amount_minor| *amount_minor <= AMOUNT_MAX_MINOR)
        .ok_or_else(|| too_large(currency, "line_items", "line amount (quantity × unit_amount)"))
}

/// The sum of the lines' amounts, or `amount_too_large`.
pub fn sum_of_lines_minor(currency: AssetRef, lines: &[InvoiceLine]) -> Result<i64, EngineError> {
    let mut sum_minor = 0_i64;
    for line in lines {
        sum_minor = sum_minor
            .checked_add(line.amount_minor)
            .filter(|sum_minor| *sum_minor <= AMOUNT_MAX_MINOR)
            .ok_or_else(|| too_large(currency, "line_items", "invoice total"))?;
    }
    Ok(sum_minor)
}

pub(crate) fn too_large(currency: AssetRef, param: &'static str, what: &'static str) -> EngineError {
    EngineError::AmountTooLarge { param, what, limit_display: currency.display(AMOUNT_MAX_MINOR) }
}

fn price_line(currency: AssetRef, index: usize, line: NewInvoiceLine) -> Result<InvoiceLine, EngineError> {
    let position = index + 1;
    let description_chars = line.description.chars().count();
    if line.description.trim().is_empty() || description_chars > INVOICE_LINE_DESCRIPTION_MAX_CHARS {
        return Err(EngineError::invalid(
            "line_items.description",
            format!(
                "line item {position}: description must be 1 to {INVOICE_LINE_DESCRIPTION_MAX_CHARS} characters, got {description_chars}"
            ),
        ));
    }
    // A NUL is no part of any description, and PostgreSQL's text type cannot hold one.
    if line.description.contains('\0') {
        return Err(EngineError::invalid(
            "line_items.description",
            format!("line item {position}: description must not contain a NUL character (U+0000)"),
        ));
    }
    if !(1..=INVOICE_LINE_QUANTITY_MAX_UNITS).contains(&line.quantity) {
        return Err(EngineError::invalid(
            "line_items.quantity",
            format!(
                "line item {position}: quantity must be a whole number of units from 1 to {INVOICE_LINE_QUANTITY_MAX_UNITS}, got {}",
                line.quantity
            ),
        ));
    }
    if !(0..=AMOUNT_MAX_MINOR).contains(&line.unit_amount_minor) {
        return Err(EngineError::invalid(
            "line_items.unit_amount",
            format!(
                "line item {position}: unit_amount must be an integer from 0 to {AMOUNT_MAX_MINOR} minor units, got {}",
                line.unit_amount_minor
            ),
        ));
    }
    if let Some(price_id) = &line.price_id
        && (price_id.is_empty() || price_id.chars().count() > OBJECT_ID_MAX_CHARS)
    {
        return Err(EngineError::invalid(
            "line_items.price_id",
            format!("line item {position}: price_id {} is not a price id", crate::limits::echo(price_id)),
        ));
    }
    let amount_minor = line_amount_minor(currency, line.quantity, line.unit_amount_minor)?;
    Ok(InvoiceLine {
        description: line.description,
        quantity: line.quantity,
        unit_amount_minor: line.unit_amount_minor,
        price_id: line.price_id,
        amount_minor,
    })
}

fn check_new_invoice_dates(request: &NewInvoice, now_ms: i64) -> Result<(), EngineError> {
    let latest_due_ms = now_ms.saturating_add(INVOICE_DUE_DATE_MAX_AHEAD_MS);
    if request.due_date_ms < now_ms || request.due_date_ms > latest_due_ms {
        return Err(EngineError::invalid(
            "due_date",
            format!(
                "due_date must lie between now ({now_ms}) and {INVOICE_DUE_DATE_MAX_AHEAD_MS} ms ahead, in ms since the epoch; got {}",
                request.due_date_ms
            ),
        ));
    }
    if let Some(expires_in_ms) = request.expires_in_ms
        && !(INVOICE_EXPIRES_IN_MIN_MS..=INVOICE_EXPIRES_IN_MAX_MS).contains(&expires_in_ms)
    {
        return Err(EngineError::invalid(
            "expires_in",
            format!(
                "expires_in must be from {INVOICE_EXPIRES_IN_MIN_MS} to {INVOICE_EXPIRES_IN_MAX_MS} ms, got {expires_in_ms}"
            ),
        ));
    }
    Ok(())
}

/// A draft invoice with its lines priced and totalled.
pub fn create_invoice(
    scope: &Scope,
    request: NewInvoice,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<Invoice, EngineError> {
    if request.customer_id.is_empty() || request.customer_id.chars().count() > OBJECT_ID_MAX_CHARS {
        return Err(EngineError::invalid("customer_id", "customer_id must name a customer"));
    }
    if request.lines.is_empty() || request.lines.len() > INVOICE_MAX_LINE_ITEMS {
        return Err(EngineError::invalid(
            "line_items",
            format!("an invoice has 1 to {INVOICE_MAX_LINE_ITEMS} line items, got {}", request.lines.len()),
        ));
    }
    check_new_invoice_dates(&request, now_ms)?;
    let lines = request
        .lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| price_line(request.currency, index, line))
        .collect::<Result<Vec<_>, _>>()?;
    let subtotal_minor = sum_of_lines_minor(request.currency, &lines)?;
    Ok(Invoice {
        id: ids.next_id("inv"),
        scope: scope.clone(),
        customer_id: request.customer_id,
        subscription_id: request.subscription_id,
        currency: request.currency,
        lines,
        subtotal_minor,
        total_minor: subtotal_minor,
        amount_paid_minor: 0,
        status: InvoiceStatus::Draft,
        due_date_ms: request.due_date_ms,
        expires_in_ms: request.expires_in_ms,
        expires_at_ms: None,
        metadata: request.metadata,
        created_at_ms: now_ms,
        finalized_at_ms: None,
        paid_at_ms: None,
        closed_at_ms: None,
        updated_at_ms: now_ms,
        payment_intent_id: None,
    })
}

/// Draft → open, its payment window starting now. A zero total is paid at once.
pub fn finalize_invoice(invoice: &Invoice, now_ms: i64) -> Result<Invoice, EngineError> {
    if invoice.status != InvoiceStatus::Draft {
        return Err(invoice.refuse("finalize"));
    }
    let mut next = invoice.clone();
    next.finalized_at_ms = Some(now_ms);
    next.updated_at_ms = now_ms;
    if invoice.total_minor == 0 {
        next.status = InvoiceStatus::Paid;
        next.paid_at_ms = Some(now_ms);
    } else {
        next.status = InvoiceStatus::Open;
        next.expires_at_ms = invoice.expires_in_ms.map(|expires_in_ms| now_ms.saturating_add(expires_in_ms));
    }
    Ok(next)
}

/// An open invoice about to be paid in crypto: without an expiry of its own it gets the default
/// 12 hours from now (Pepay's), so that a quoted deposit does not stay payable for ever. An
/// expiry already set is kept.
pub fn open_crypto_payment_window(invoice: &Invoice, now_ms: i64) -> Result<Invoice, EngineError> {
    if invoice.status != InvoiceStatus::Open {
        return Err(invoice.refuse("crypto payment"));
    }
    let mut next = invoice.clone();
    if next.expires_at_ms.is_none() {
        next.expires_at_ms = Some(now_ms.saturating_add(INVOICE_CRYPTO_EXPIRES_IN_DEFAULT_MS));
        next.updated_at_ms = now_ms;
    }
    Ok(next)
}

/// Applies `amount` received to the invoice: see the module doc for the rules. Refused whole,
/// with nothing changed, when the invoice takes no payment or the currency differs.
pub fn apply_payment(
    invoice: &Invoice,
    amount: Money,
    now_ms: i64,
) -> Result<(Invoice, PaymentApplication), EngineError> {
    let status = invoice.status_at(now_ms);
    if !status.accepts_payment() {
        return Err(EngineError::InvoiceNotPayable {
            invoice_id: invoice.id.clone(),
            status: status.code(),
            amount_display: amount.display(),
        });
    }
    if amount.asset.code != invoice.currency.code {
        return Err(EngineError::invalid(
            "amount.currency",
            format!(
                "invoice {} is in {}; a payment in {} cannot be applied to it",
                invoice.id, invoice.currency.code, amount.asset.code
            ),
        ));
    }
    check_amount_range(amount.amount_minor)?;
    let remaining_before_minor = invoice.amount_remaining_minor();
    let mut next = invoice.clone();
    next.amount_paid_minor = checked_add_minor(invoice.amount_paid_minor, amount.amount_minor)?;
    next.updated_at_ms = now_ms;
    let application = if amount.amount_minor < remaining_before_minor {
        PaymentApplication::Partial { amount_remaining_minor: next.amount_remaining_minor() }
    } else {
        next.status = InvoiceStatus::Paid;
        next.paid_at_ms = Some(now_ms);
        match amount.amount_minor - remaining_before_minor {
            0 => PaymentApplication::Paid,
            excess_minor => PaymentApplication::Overpaid { excess_minor },
        }
    };
    assert_eq!(
        next.amount_paid_minor - next.amount_overpaid_minor() + next.amount_remaining_minor(),
        next.total_minor,
        "what was paid towards the total and what remains make up the total"
    );
    Ok((next, application))
}

/// Draft, open or uncollectible → void: nothing is owed any more. Money already received stays
/// in `amount_paid` for the caller to refund or credit.
pub fn void_invoice(invoice: &Invoice, now_ms: i64) -> Result<Invoice, EngineError> {
    if !matches!(invoice.status, InvoiceStatus::Draft | InvoiceStatus::Open | InvoiceStatus::Uncollectible) {
        return Err(invoice.refuse("void"));
    }
    Ok(close(invoice, InvoiceStatus::Void, now_ms))
}

/// Open → uncollectible: written off, though the customer may still pay it.
pub fn mark_uncollectible(invoice: &Invoice, now_ms: i64) -> Result<Invoice, EngineError> {
    if invoice.status != InvoiceStatus::Open {
        return Err(invoice.refuse("mark uncollectible"));
    }
    Ok(close(invoice, InvoiceStatus::Uncollectible, now_ms))
}

/// Open and at or past `expires_at` → expired (event `invoice.expired`). Refused before then,
/// for an invoice without an expiry, and in any other status.
pub fn expire_invoice(invoice: &Invoice, now_ms: i64) -> Result<Invoice, EngineError> {
    if !invoice.is_expired_at(now_ms) {
        return Err(invoice.refuse("expiry"));
    }
    Ok(close(invoice, InvoiceStatus::Expired, now_ms))
}

fn close(invoice: &Invoice, status: InvoiceStatus, now_ms: i64) -> Invoice {
    let mut next = invoice.clone();
    next.status = status;
    next.closed_at_ms = Some(now_ms);
    next.updated_at_ms = now_ms;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SequentialIds;
    use crate::engine::money::Asset;
    use crate::engine::principal::Mode;

    const HOUR_MS: i64 = 60 * 60 * 1000;
    const DAY_MS: i64 = 24 * HOUR_MS;

    fn ngn() -> AssetRef {
        Asset::lookup("NGN").unwrap()
    }

    fn naira(amount_minor: i64) -> Money {
        Money::new(ngn(), amount_minor).unwrap()
    }

    fn line(quantity: i64, unit_amount_minor: i64) -> NewInvoiceLine {
        NewInvoiceLine { description: "Consulting".into(), quantity, unit_amount_minor, price_id: None }
    }

    fn request(lines: Vec<NewInvoiceLine>) -> NewInvoice {
        NewInvoice {
            customer_id: "cus_1".into(),
            currency: ngn(),
            lines,
            due_date_ms: 30 * DAY_MS,
            expires_in_ms: None,
            subscription_id: None,
            metadata: BTreeMap::new(),
        }
    }

    fn create(request: NewInvoice) -> Result<Invoice, EngineError> {
        let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
        create_invoice(&scope, request, &mut SequentialIds::default(), 0)
    }

    /// An open invoice of `total_minor`, expiring `expires_in_ms` after its finalization at 0.
    fn open_invoice(total_minor: i64, expires_in_ms: Option<i64>) -> Invoice {
        let mut request = request(vec![line(1, total_minor)]);
        request.expires_in_ms = expires_in_ms;
        finalize_invoice(&create(request).unwrap(), 0).unwrap()
    }

    fn check_refused(request: NewInvoice, expected_code: &str, expected_param: &str) {
        let error = create(request).unwrap_err();
        assert_eq!((error.code(), error.param()), (expected_code, Some(expected_param)), "{error}");
    }

    #[test]
    fn totals_are_the_sum_of_quantity_times_unit_amount() {
        let invoice = create(request(vec![line(3, 2_500), line(1, 0), line(10, 100)])).unwrap();
        assert_eq!(invoice.id, "inv_000001");
        assert_eq!(invoice.status, InvoiceStatus::Draft);
        let amounts: Vec<i64> = invoice.lines.iter().map(|line| line.amount_minor).collect();
        assert_eq!(amounts, vec![7_500, 0, 1_000]);
        assert_eq!((invoice.subtotal_minor, invoice.total_minor), (8_500, 8_500));
        assert_eq!(invoice.amount_remaining_minor(), 8_500);
    }

    #[test]
    fn lines_and_totals_beyond_the_largest_amount_are_refused() {
        check_refused(
            request(vec![line(INVOICE_LINE_QUANTITY_MAX_UNITS, i64::MAX)]),
            "invalid_request",
            "line_items.unit_amount",
        );
        check_refused(
            request(vec![line(INVOICE_LINE_QUANTITY_MAX_UNITS, AMOUNT_MAX_MINOR)]),
            "amount_too_large",
            "line_items",
        );
        check_refused(request(vec![line(1, AMOUNT_MAX_MINOR), line(1, 1)]), "amount_too_large", "line_items");
        let at_the_limit = create(request(vec![line(1, AMOUNT_MAX_MINOR - 1), line(1, 1)])).unwrap();
        assert_eq!(at_the_limit.total_minor, AMOUNT_MAX_MINOR);
        let error = line_amount_minor(ngn(), i64::MAX, 2).unwrap_err();
        assert_eq!(error.code(), "amount_too_large");
        assert!(error.to_string().contains("₦90,071,992,547,409.91"), "{error}");
        assert_eq!(line_amount_minor(ngn(), -1, i64::MIN).unwrap_err().code(), "amount_too_large");
    }

    #[test]
    fn malformed_lines_and_dates_are_refused_with_their_param() {
        check_refused(request(vec![]), "invalid_request", "line_items");
        check_refused(request(vec![line(1, 1); INVOICE_MAX_LINE_ITEMS + 1]), "invalid_request", "line_items");
        assert!(create(request(vec![line(1, 1); INVOICE_MAX_LINE_ITEMS])).is_ok());
        check_refused(request(vec![line(0, 1)]), "invalid_request", "line_items.quantity");
        check_refused(request(vec![line(-5, 1)]), "invalid_request", "line_items.quantity");
        check_refused(
            request(vec![line(INVOICE_LINE_QUANTITY_MAX_UNITS + 1, 1)]),
            "invalid_request",
            "line_items.quantity",
        );
        check_refused(request(vec![line(1, -1)]), "invalid_request", "line_items.unit_amount");
        let mut blank = line(1, 1);
        blank.description = "   ".into();
        check_refused(request(vec![blank]), "invalid_request", "line_items.description");
        let mut long = line(1, 1);
        long.description = "₦".repeat(INVOICE_LINE_DESCRIPTION_MAX_CHARS + 1);
        check_refused(request(vec![long]), "invalid_request", "line_items.description");
        let mut nul = line(1, 100);
        nul.description = "Design\0work".into();
        check_refused(request(vec![nul]), "invalid_request", "line_items.description");
        let mut oversized_price = line(1, 1);
        oversized_price.price_id = Some("p".repeat(100_000));
        check_refused(request(vec![oversized_price]), "invalid_request", "line_items.price_id");
        let mut past_due = request(vec![line(1, 1)]);
        past_due.due_date_ms = -1;
        check_refused(past_due, "invalid_request", "due_date");
        let mut far_due = request(vec![line(1, 1)]);
        far_due.due_date_ms = i64::MAX;
        check_refused(far_due, "invalid_request", "due_date");
        for expires_in_ms in [0, -1, INVOICE_EXPIRES_IN_MIN_MS - 1, INVOICE_EXPIRES_IN_MAX_MS + 1, i64::MAX] {
            let mut expiring = request(vec![line(1, 1)]);
            expiring.expires_in_ms = Some(expires_in_ms);
            check_refused(expiring, "invalid_request", "expires_in");
        }
        let mut nobody = request(vec![line(1, 1)]);
        nobody.customer_id = String::new();
        check_refused(nobody, "invalid_request", "customer_id");
    }

    #[test]
    fn finalize_opens_the_payment_window_and_a_zero_total_is_paid_at_once() {
        let draft = create({
            let mut request = request(vec![line(1, 5_000)]);
            request.expires_in_ms = Some(HOUR_MS);
            request
        })
        .unwrap();
        let open = finalize_invoice(&draft, 10).unwrap();
        assert_eq!(open.status, InvoiceStatus::Open);
        assert_eq!((open.finalized_at_ms, open.expires_at_ms), (Some(10), Some(10 + HOUR_MS)));
        assert_eq!(finalize_invoice(&open, 11).unwrap_err().code(), "invalid_state");

        let free = finalize_invoice(&create(request(vec![line(2, 0)])).unwrap(), 10).unwrap();
        assert_eq!((free.status, free.paid_at_ms, free.amount_remaining_minor()), (InvoiceStatus::Paid, Some(10), 0));
    }

    #[test]
    fn partial_payments_accumulate_until_the_invoice_is_paid() {
        let open = open_invoice(10_000, None);
        let (after_first, first) = apply_payment(&open, naira(3_000), 1).unwrap();
        assert_eq!(first, PaymentApplication::Partial { amount_remaining_minor: 7_000 });
        assert_eq!(first.event_types(), ["invoice.partial_payment"]);
        assert_eq!((after_first.status, after_first.amount_paid_minor), (InvoiceStatus::Open, 3_000));
        let (after_second, second) = apply_payment(&after_first, naira(6_999), 2).unwrap();
        assert_eq!(second, PaymentApplication::Partial { amount_remaining_minor: 1 });
        let (paid, last) = apply_payment(&after_second, naira(1), 3).unwrap();
        assert_eq!(last, PaymentApplication::Paid);
        assert_eq!(last.event_types(), ["invoice.paid"]);
        assert_eq!((paid.status, paid.paid_at_ms, paid.amount_paid_minor), (InvoiceStatus::Paid, Some(3), 10_000));
        assert_eq!((paid.amount_remaining_minor(), paid.amount_overpaid_minor()), (0, 0));
    }

    #[test]
    fn an_overpayment_pays_the_invoice_and_records_the_excess() {
        let (partly, _) = apply_payment(&open_invoice(10_000, None), naira(4_000), 1).unwrap();
        let (paid, application) = apply_payment(&partly, naira(8_000), 2).unwrap();
        assert_eq!(application, PaymentApplication::Overpaid { excess_minor: 2_000 });
        assert_eq!(application.event_types(), ["invoice.paid", "invoice.overpaid"]);
        assert_eq!(paid.status, InvoiceStatus::Paid);
        assert_eq!(
            (paid.amount_paid_minor, paid.amount_overpaid_minor(), paid.amount_remaining_minor()),
            (12_000, 2_000, 0)
        );
    }

    #[test]
    fn invoices_that_take_no_payment_refuse_it_and_change_nothing() {
        let open = open_invoice(10_000, Some(HOUR_MS));
        let draft = create(request(vec![line(1, 10_000)])).unwrap();
        let (paid, _) = apply_payment(&open, naira(10_000), 1).unwrap();
        let void = void_invoice(&open, 1).unwrap();
        let expired = expire_invoice(&open, HOUR_MS).unwrap();
        for (invoice, status) in [(&draft, "draft"), (&paid, "paid"), (&void, "void"), (&expired, "expired")] {
            let error = apply_payment(invoice, naira(10_000), HOUR_MS).unwrap_err();
            assert_eq!(
                error,
                EngineError::InvoiceNotPayable {
                    invoice_id: invoice.id.clone(),
                    status,
                    amount_display: "₦100.00".into()
                }
            );
            assert_eq!(error.code(), "invoice_not_payable");
        }
        // Open by its record, but past its expiry before the sweep ran: expired to a payment.
        let error = apply_payment(&open, naira(10_000), HOUR_MS).unwrap_err();
        assert!(matches!(error, EngineError::InvoiceNotPayable { status: "expired", .. }), "{error}");
        assert_eq!(open.status_at(HOUR_MS - 1), InvoiceStatus::Open);
        assert_eq!(open.status_at(HOUR_MS), InvoiceStatus::Expired);
        let usd = Money::new(Asset::lookup("USD").unwrap(), 10_000).unwrap();
        assert_eq!(apply_payment(&open, usd, 1).unwrap_err().param(), Some("amount.currency"));
    }

    #[test]
    fn an_uncollectible_invoice_can_still_be_paid_or_voided() {
        let uncollectible = mark_uncollectible(&open_invoice(10_000, None), 5).unwrap();
        assert_eq!((uncollectible.status, uncollectible.closed_at_ms), (InvoiceStatus::Uncollectible, Some(5)));
        let (partly, partial) = apply_payment(&uncollectible, naira(1_000), 6).unwrap();
        assert_eq!(
            (partly.status, partial),
            (InvoiceStatus::Uncollectible, PaymentApplication::Partial { amount_remaining_minor: 9_000 })
        );
        let (paid, _) = apply_payment(&partly, naira(9_000), 7).unwrap();
        assert_eq!(paid.status, InvoiceStatus::Paid);
        assert_eq!(void_invoice(&uncollectible, 8).unwrap().status, InvoiceStatus::Void);
        assert_eq!(mark_uncollectible(&uncollectible, 8).unwrap_err().code(), "invalid_state");
    }

    #[test]
    fn expiry_comes_only_at_expires_at_and_only_to_an_open_invoice() {
        let open = open_invoice(10_000, Some(HOUR_MS));
        assert_eq!(expire_invoice(&open, HOUR_MS - 1).unwrap_err().code(), "invalid_state");
        let (partly, _) = apply_payment(&open, naira(2_500), 1).unwrap();
        let expired = expire_invoice(&partly, HOUR_MS).unwrap();
        assert_eq!((expired.status, expired.closed_at_ms), (InvoiceStatus::Expired, Some(HOUR_MS)));
        assert_eq!(expired.amount_paid_minor, 2_500, "a partial payment stays recorded for the caller to refund");
        assert_eq!(expire_invoice(&expired, HOUR_MS + 1).unwrap_err().code(), "invalid_state");
        let never = open_invoice(10_000, None);
        assert_eq!(expire_invoice(&never, i64::MAX).unwrap_err().code(), "invalid_state");
        let (paid, _) = apply_payment(&open, naira(10_000), 1).unwrap();
        assert_eq!(expire_invoice(&paid, HOUR_MS).unwrap_err().code(), "invalid_state");
    }

    #[test]
    fn a_crypto_payment_window_defaults_to_twelve_hours_and_keeps_an_expiry_already_set() {
        let without = open_invoice(10_000, None);
        let windowed = open_crypto_payment_window(&without, 100).unwrap();
        assert_eq!(windowed.expires_at_ms, Some(100 + INVOICE_CRYPTO_EXPIRES_IN_DEFAULT_MS));
        assert_eq!(INVOICE_CRYPTO_EXPIRES_IN_DEFAULT_MS, 12 * HOUR_MS);
        let with = open_invoice(10_000, Some(HOUR_MS));
        assert_eq!(open_crypto_payment_window(&with, 100).unwrap().expires_at_ms, Some(HOUR_MS));
        let draft = create(request(vec![line(1, 1)])).unwrap();
        assert_eq!(open_crypto_payment_window(&draft, 100).unwrap_err().code(), "invalid_state");
    }

    #[test]
    fn void_is_refused_once_an_invoice_is_final() {
        let draft = create(request(vec![line(1, 10_000)])).unwrap();
        assert_eq!(void_invoice(&draft, 1).unwrap().status, InvoiceStatus::Void);
        let open = open_invoice(10_000, Some(HOUR_MS));
        let (paid, _) = apply_payment(&open, naira(10_000), 1).unwrap();
        let void = void_invoice(&open, 1).unwrap();
        let expired = expire_invoice(&open, HOUR_MS).unwrap();
        for final_invoice in [&paid, &void, &expired] {
            assert!(final_invoice.status.is_final());
            assert_eq!(void_invoice(final_invoice, 2).unwrap_err().code(), "invalid_state");
            assert_eq!(mark_uncollectible(final_invoice, 2).unwrap_err().code(), "invalid_state");
            assert_eq!(finalize_invoice(final_invoice, 2).unwrap_err().code(), "invalid_state");
        }
        assert_eq!(mark_uncollectible(&draft, 1).unwrap_err().code(), "invalid_state");
    }

    #[test]
    fn past_due_means_open_after_the_due_date() {
        let open = open_invoice(10_000, None);
        assert!(!open.is_past_due(open.due_date_ms));
        assert!(open.is_past_due(open.due_date_ms + 1));
        let (paid, _) = apply_payment(&open, naira(10_000), 1).unwrap();
        assert!(!paid.is_past_due(i64::MAX));
        let draft = create(request(vec![line(1, 1)])).unwrap();
        assert!(!draft.is_past_due(i64::MAX));
    }

    #[test]
    fn status_codes_round_trip() {
        for status in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(status.code()), Some(status));
        }
        assert_eq!(InvoiceStatus::parse("unpaid"), None);
    }
}
