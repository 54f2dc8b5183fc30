//! Invoices inside the caller's transaction: loading one in the caller's scope (another
//! merchant's or mode's is `not_found`), issuing one for a customer, finalizing, collecting it
//! through a payment intent, applying what that intent receives, paying it from the customer's
//! prepaid balance, voiding and expiring it. Each function is load → decide (engine) → save with
//! its postings and events, inside the caller's savepoint; the caller writes the audit record of
//! its own operation (the expiry, harepay's decision, writes its own).
//!
//! What billing calls: `issue_invoice` (a new invoice for a customer from lines, draft or
//! finalized), `save_new_invoice` (an invoice the engine already built, such as
//! `usage::raise_overage_invoice`'s) and `pay_invoice_from_prepaid` (the auto-charge), all in
//! the caller's transaction, so that load → decide → commit is one transaction.
//!
//! Payments reach invoices through `transitions`: a receipt on an invoice's intent is applied
//! here (`apply_receipt`), in the receipt's transaction; expiring the intent expires its invoice
//! (`expire_invoice`); canceling or failing an intent that holds part of an invoice's payment is
//! refused (`refuse_release_of_invoice_receipts`): voiding the invoice credits that part to the
//! customer instead. This module imports nothing of `transitions`.

use crate::app::customers::load_customer_for_update;
use crate::app::error::AppError;
use crate::app::write::{AuditEntry, emit, emit_json};
use crate::app::writer::WriteContext;
use crate::engine::error::EngineError;
use crate::engine::invoice::{self, Invoice, InvoiceStatus, NewInvoice, PaymentApplication};
use crate::engine::invoice_payment::{self, InvoicePaymentRequest};
use crate::engine::money::{AssetRef, Money};
use crate::engine::payment::PaymentIntent;
use crate::engine::prepaid;
use crate::engine::principal::Scope;
use crate::store::{StoreRead, StoreWrite};
use crate::views::InvoiceView;

pub fn load_invoice(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<Invoice, AppError> {
    session.get_invoice(scope, id)?.ok_or_else(|| AppError::not_found("invoice", id))
}

/// The invoice a decision changes, read for update.
pub fn load_invoice_for_update(session: &mut dyn StoreWrite, scope: &Scope, id: &str) -> Result<Invoice, AppError> {
    session.get_invoice_for_update(scope, id)?.ok_or_else(|| AppError::not_found("invoice", id))
}

/// The invoice's JSON as results and events show it at `now_ms`.
pub(crate) fn invoice_json(invoice: &Invoice, now_ms: i64) -> String {
    serde_json::to_string(&InvoiceView::at(invoice, now_ms)).expect("views serialize")
}

fn emit_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
    event_type: &str,
) -> Result<(), AppError> {
    let payload_json = invoice_json(invoice, context.now_ms);
    emit_json(session, context, &invoice.scope, event_type, &invoice.id, payload_json)
}

/// The events of a status an invoice was created or finalized into.
fn emit_opening_events(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<(), AppError> {
    if invoice.finalized_at_ms.is_some() {
        emit_invoice(session, context, invoice, "invoice.finalized")?;
    }
    if invoice.status == InvoiceStatus::Paid {
        emit_invoice(session, context, invoice, "invoice.paid")?;
    }
    Ok(())
}

/// What an invoice bills must exist where it is billed: its customer in the scope and not
/// archived, and each line's price in the scope and in the invoice's currency.
fn check_references(session: &mut dyn StoreWrite, invoice: &Invoice) -> Result<(), AppError> {
    let customer = load_customer_for_update(session, &invoice.scope, &invoice.customer_id)?;
    customer.ensure_active("invoicing")?;
    for line in &invoice.lines {
        let Some(price_id) = &line.price_id else { continue };
        let price =
            session.get_price(&invoice.scope, price_id)?.ok_or_else(|| AppError::not_found("price", price_id))?;
        if price.currency.code != invoice.currency.code {
            return Err(AppError::invalid(
                "line_items.price_id",
                format!(
                    "price {} is in {}; an invoice in {} cannot bill it",
                    price.id, price.currency.code, invoice.currency.code
                ),
            ));
        }
    }
    Ok(())
}

/// Saves an invoice the engine has just built (`invoice::create_invoice`, perhaps finalized, or
/// `usage::raise_overage_invoice`): its customer and prices are checked, it is inserted, and its
/// events are emitted (`invoice.created`, then `invoice.finalized` and `invoice.paid` for the
/// status it is in), all in the caller's transaction.
pub fn save_new_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<(), AppError> {
    check_references(session, invoice)?;
    session.insert_invoice(invoice)?;
    emit_invoice(session, context, invoice, "invoice.created")?;
    emit_opening_events(session, context, invoice)
}

/// Issues an invoice for `request.customer_id` with the request's lines, in the caller's
/// transaction: a draft, or finalized (open, or paid at once when its total is 0) when
/// `finalize` is true.
pub fn issue_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    scope: &Scope,
    request: NewInvoice,
    finalize: bool,
) -> Result<Invoice, AppError> {
    let draft = invoice::create_invoice(scope, request, context.ids, context.now_ms)?;
    let issued = if finalize { invoice::finalize_invoice(&draft, context.now_ms)? } else { draft };
    save_new_invoice(session, context, &issued)?;
    Ok(issued)
}

/// Draft → open (or paid at once for a zero total).
pub fn finalize_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<Invoice, AppError> {
    // A test-mode invoice's payment window runs on the merchant's test clock, as its expiry is
    // judged (`advance_test_clock`, the expiry sweep).
    let now_ms = crate::app::subscriptions::billing_now_ms(session, &invoice.scope, context.now_ms)?;
    let finalized = invoice::finalize_invoice(invoice, now_ms)?;
    session.update_invoice(&finalized)?;
    emit_opening_events(session, context, &finalized)?;
    Ok(finalized)
}

/// Applies `payment` to the invoice: saves it and emits what the application says
/// (`invoice.partial_payment`, `invoice.paid`, `invoice.overpaid`).
fn record_payment(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
    payment: Money,
) -> Result<(Invoice, PaymentApplication), AppError> {
    let (next, application) = invoice::apply_payment(invoice, payment, context.now_ms)?;
    session.update_invoice(&next)?;
    Ok((next, application))
}

fn emit_application(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
    application: PaymentApplication,
) -> Result<(), AppError> {
    for event_type in application.event_types() {
        emit_invoice(session, context, invoice, event_type)?;
    }
    Ok(())
}

/// Pays what remains of `invoice` from its customer's prepaid balance in the invoice's currency
/// (the auto-charge): prepaid → available and the invoice `paid`, in the caller's transaction.
/// `insufficient_prepaid_balance`, changing nothing, when the balance cannot cover all of it.
pub fn pay_invoice_from_prepaid(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<Invoice, AppError> {
    let scope = invoice.scope.clone();
    let amount = Money::new(invoice.currency, invoice.amount_remaining_minor())?;
    let mut balances =
        session.balances_with_customers_for_update(&scope, &[invoice.currency], &[invoice.customer_id.as_str()])?;
    let transaction =
        prepaid::charge(&invoice.customer_id, amount, &mut balances, context.ids.next_id("ltx"), &invoice.id)?;
    let (paid, application) = record_payment(session, context, invoice, amount)?;
    session.post_ledger_transaction(&scope, &transaction, context.now_ms)?;
    emit_application(session, context, &paid, application)?;
    reactivate_subscription_of(session, context, &paid)?;
    Ok(paid)
}

/// `pay_invoice`: the invoice's live payment intent if it has one (`reused` true), else a new
/// one for what remains, saved and linked. Refused for an invoice that takes no payment now.
pub fn collect_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    scope: &Scope,
    invoice_id: &str,
    request: InvoicePaymentRequest,
) -> Result<(Invoice, PaymentIntent, bool), AppError> {
    let invoice = load_invoice_for_update(session, scope, invoice_id)?;
    if let Some(current) = current_intent(session, &invoice)?
        && invoice_payment::is_live(&current, context.now_ms)
    {
        return Ok((invoice, current, true));
    }
    // A crypto payment window opens on the merchant's billing time, as finalize's does; the intent
    // itself lives on real time (the rails' and the payer's).
    let invoice = match request.method {
        crate::engine::payment::PaymentMethod::Crypto if invoice.status == InvoiceStatus::Open => {
            let now_ms = crate::app::subscriptions::billing_now_ms(session, scope, context.now_ms)?;
            invoice::open_crypto_payment_window(&invoice, now_ms)?
        }
        _ => invoice,
    };
    let id = context.ids.next_id("pi");
    let (linked, intent) =
        invoice_payment::start_invoice_payment(&invoice, request, context.rules, id, context.now_ms)?;
    session.insert_payment(&intent)?;
    session.update_invoice(&linked)?;
    emit(session, context, &intent, "payment_intent.created")?;
    Ok((linked, intent, false))
}

fn current_intent(session: &mut dyn StoreWrite, invoice: &Invoice) -> Result<Option<PaymentIntent>, AppError> {
    let Some(payment_intent_id) = &invoice.payment_intent_id else { return Ok(None) };
    match session.get_payment_for_update(&invoice.scope, payment_intent_id)? {
        Some(intent) => Ok(Some(intent)),
        None => Err(AppError::Internal {
            detail: format!("invoice {} names payment intent {payment_intent_id}, which is missing", invoice.id),
        }),
    }
}

/// A receipt took the invoice's intent from `before` to `after` (both saved by the caller):
/// applies what it credited to the intent's invoice, if the intent collects one, in the same
/// transaction. An over-payment's excess is credited to the customer's prepaid balance (the
/// intent has settled by then, so the money is in `available`). Refused whole, with the
/// receipt, when the invoice takes no payment.
pub(crate) fn apply_receipt(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    before: &PaymentIntent,
    after: &PaymentIntent,
) -> Result<(), AppError> {
    let Some(credit) = invoice_payment::receipt_credit(before, after) else { return Ok(()) };
    let Some(invoice) = session.get_invoice_by_payment_intent(&after.scope, &after.id)? else { return Ok(()) };
    let (next, application) = record_payment(session, context, &invoice, credit)?;
    if let PaymentApplication::Overpaid { excess_minor } = application {
        let scope = &next.scope;
        let mut balances =
            session.balances_with_customers_for_update(scope, &[next.currency], &[next.customer_id.as_str()])?;
        let transaction = invoice_payment::credit_overpayment(&next, excess_minor, &mut balances, context.ids)?;
        session.post_ledger_transaction(scope, &transaction, context.now_ms)?;
    }
    emit_application(session, context, &next, application)?;
    reactivate_subscription_of(session, context, &next)
}

/// A subscription's invoice that is no longer open may have been its last overdue one: the
/// subscription leaves `past_due` in this same transaction (`subscriptions::reactivate_when_collected`).
fn reactivate_subscription_of(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<(), AppError> {
    match &invoice.subscription_id {
        Some(subscription_id) if invoice.status != InvoiceStatus::Open => {
            crate::app::subscriptions::reactivate_when_collected(session, context, &invoice.scope, subscription_id)
        }
        _ => Ok(()),
    }
}

/// Cancels the live intent of an invoice being closed; what it received goes to the customer's
/// prepaid balance (`invoice_payment::cancel_for_closed_invoice`).
fn cancel_intent_of_closed_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<(), AppError> {
    let Some(intent) = current_intent(session, invoice)? else { return Ok(()) };
    if !intent.status.awaits_payer() {
        return Ok(());
    }
    let scope = invoice.scope.clone();
    let mut assets: Vec<AssetRef> = vec![intent.credit_asset()];
    if intent.amount.asset.code != intent.credit_asset().code {
        assets.push(intent.amount.asset);
    }
    let mut balances = session.balances_with_customers_for_update(&scope, &assets, &[invoice.customer_id.as_str()])?;
    let (canceled, transaction) =
        invoice_payment::cancel_for_closed_invoice(invoice, &intent, &mut balances, context.ids, context.now_ms)?;
    if let Some(transaction) = &transaction {
        session.post_ledger_transaction(&scope, transaction, context.now_ms)?;
    }
    session.update_payment(&canceled)?;
    emit(session, context, &canceled, "payment_intent.canceled")
}

/// `void_invoice`: draft, open or uncollectible → void. Its live payment intent is canceled; a
/// part of the payment it had received is credited to the customer's prepaid balance.
pub fn void_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<Invoice, AppError> {
    let voided = invoice::void_invoice(invoice, context.now_ms)?;
    cancel_intent_of_closed_invoice(session, context, invoice)?;
    session.update_invoice(&voided)?;
    emit_invoice(session, context, &voided, "invoice.voided")?;
    reactivate_subscription_of(session, context, &voided)?;
    Ok(voided)
}

/// An open invoice at or past its `expires_at` becomes `expired` (harepay's decision: an audit
/// record by harepay and the event `invoice.expired`); its live payment intent is canceled, and
/// what that intent had received is credited to the customer's prepaid balance. An invoice that
/// is no longer open (paid or voided since it fell due) is left as it is.
pub(crate) fn expire_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<Invoice, AppError> {
    if invoice.status != InvoiceStatus::Open {
        return Ok(invoice.clone());
    }
    let expired = invoice::expire_invoice(invoice, context.now_ms)?;
    cancel_intent_of_closed_invoice(session, context, invoice)?;
    session.update_invoice(&expired)?;
    let credited_minor = invoice_payment::amount_credited_to_prepaid_minor(&expired);
    let credited = match credited_minor {
        0 => String::new(),
        _ => format!(
            "; {} received was credited to the prepaid balance of {}",
            expired.currency.display(credited_minor),
            expired.customer_id
        ),
    };
    let detail = format!("expired {}: not paid by its expiry{credited}", expired.id);
    let entry = AuditEntry::system(&expired.scope, "expire_invoice", &expired.id, "executed", detail);
    session.append_audit(&entry.into_record(context))?;
    emit_invoice(session, context, &expired, "invoice.expired")?;
    Ok(expired)
}

/// The open invoice `payment` collects when that invoice's expiry has come: expiring the intent
/// means expiring the invoice (`expire_invoice`), so that its receipts are credited, not sent
/// back while the invoice still counts them.
pub(crate) fn expiring_invoice_of(
    session: &mut dyn StoreWrite,
    payment: &PaymentIntent,
    now_ms: i64,
) -> Result<Option<Invoice>, AppError> {
    let found = session.get_invoice_by_payment_intent(&payment.scope, &payment.id)?;
    Ok(found.filter(|invoice| invoice.is_expired_at(now_ms)))
}

/// Refuses to cancel or fail an intent that holds part of an invoice's payment: the invoice
/// counts that money as paid, so it may not go back to the payer behind the invoice's back.
/// Voiding the invoice cancels the intent and credits the part to the customer instead.
pub(crate) fn refuse_release_of_invoice_receipts(
    session: &mut dyn StoreWrite,
    payment: &PaymentIntent,
    action: &'static str,
) -> Result<(), AppError> {
    if payment.amount_received_minor == 0 || !payment.status.awaits_payer() {
        return Ok(());
    }
    match session.get_invoice_by_payment_intent(&payment.scope, &payment.id)? {
        Some(_) => Err(EngineError::InvalidState {
            object: "payment_intent",
            id: payment.id.clone(),
            status: payment.status.code(),
            action,
        }
        .into()),
        None => Ok(()),
    }
}
