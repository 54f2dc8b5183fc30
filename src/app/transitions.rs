//! State changes that operations and the scheduler share: settling and failing a payment, the
//! expiry of an approval, the simulated payout rail. Each is load → decide (engine) → save inside
//! the caller's savepoint, with its ledger postings, events and audit records.

use crate::app::error::AppError;
use crate::app::invoices;
use crate::app::write::{AuditEntry, EventSubject, emit};
use crate::app::writer::WriteContext;
use crate::engine::error::EngineError;
use crate::engine::ledger::LedgerTransaction;
use crate::engine::money::{AssetRef, Money};
use crate::engine::payment::{self, PaymentIntent, PaymentStatus};
use crate::engine::payout::{self, Payout, PayoutStatus};
use crate::engine::principal::Scope;
use crate::store::StoreRead;
use crate::store::StoreWrite;
use crate::views::{PaymentIntentView, PayoutView};

impl EventSubject for PaymentIntent {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn payload_json(&self) -> String {
        serde_json::to_string(&PaymentIntentView::from_engine(self)).expect("views serialize")
    }
}

impl EventSubject for Payout {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn payload_json(&self) -> String {
        serde_json::to_string(&PayoutView::from_engine(self)).expect("views serialize")
    }
}

pub(crate) fn load_payout(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<Payout, AppError> {
    session.get_payout(scope, id)?.ok_or_else(|| AppError::not_found("payout", id))
}

/// The object a decision changes, read for update: a decision about it cannot race another
/// write of the same object (a row lock on PostgreSQL; SQLite's single writer already excludes it).
pub(crate) fn load_payout_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<Payout, AppError> {
    let found = session.get_payout_for_update(scope, id)?;
    found.ok_or_else(|| AppError::not_found("payout", id))
}

pub(crate) fn load_payment_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<PaymentIntent, AppError> {
    let found = session.get_payment_for_update(scope, id)?;
    found.ok_or_else(|| AppError::not_found("payment_intent", id))
}

pub(crate) fn load_payment(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<PaymentIntent, AppError> {
    session.get_payment(scope, id)?.ok_or_else(|| AppError::not_found("payment_intent", id))
}

/// Takes a payment all the way to `succeeded`, through `processing` when it is still waiting.
pub(crate) fn settle_payment(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    payment: &PaymentIntent,
) -> Result<PaymentIntent, AppError> {
    pay_payment(session, context, payment, None)
}

/// The payer sends `received` (`None`: exactly what remains). Less than what remains leaves the
/// payment `partially_paid` (event `payment_intent.partially_paid`); otherwise it goes through
/// `processing` to `succeeded`, and a receipt beyond the amount adds `payment_intent.overpaid`.
/// A payment already `processing` settles only on what it received (`received` must be `None`).
pub(crate) fn pay_payment(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    payment: &PaymentIntent,
    received: Option<Money>,
) -> Result<PaymentIntent, AppError> {
    let scope = payment.scope.clone();
    let mut balances = session.balances_for_update(&scope, &payment_assets(payment))?;
    let mut current = payment.clone();
    let mut transactions: Vec<LedgerTransaction> = Vec::new();
    if current.status.awaits_payer() {
        let (next, transaction) = match received {
            None => payment::mark_processing(&current, &mut balances, context.ids, context.now_ms)?,
            Some(received) => payment::receive_payment(
                &current,
                received,
                &context.rules.fees,
                &mut balances,
                context.ids,
                context.now_ms,
            )?,
        };
        if next.status == PaymentStatus::PartiallyPaid {
            session.post_ledger_transaction(&scope, &transaction, context.now_ms)?;
            session.update_payment(&next)?;
            emit(session, context, &next, "payment_intent.partially_paid")?;
            invoices::apply_receipt(session, context, payment, &next)?;
            return Ok(next);
        }
        transactions.push(transaction);
        current = next;
        emit(session, context, &current, "payment_intent.processing")?;
    } else if received.is_some() {
        // Only a waiting payment receives money; a processing one settles on what it received.
        let status = current.status.code();
        return Err(
            EngineError::InvalidState { object: "payment_intent", id: current.id, status, action: "payment" }.into()
        );
    }
    let (succeeded, transaction) = payment::mark_succeeded(&current, &mut balances, context.ids, context.now_ms)?;
    transactions.push(transaction);
    for transaction in &transactions {
        session.post_ledger_transaction(&scope, transaction, context.now_ms)?;
    }
    session.update_payment(&succeeded)?;
    emit(session, context, &succeeded, "payment_intent.succeeded")?;
    if succeeded.excess_received_minor() > 0 {
        emit(session, context, &succeeded, "payment_intent.overpaid")?;
    }
    invoices::apply_receipt(session, context, payment, &succeeded)?;
    Ok(succeeded)
}

/// Every asset a payment's postings touch: the paid asset, and the credited one when it differs.
fn payment_assets(payment: &PaymentIntent) -> Vec<AssetRef> {
    let mut assets = vec![payment.credit_asset()];
    if payment.amount.asset.code != payment.credit_asset().code {
        assets.push(payment.amount.asset);
    }
    assets
}

pub(crate) fn fail_payment(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    payment: &PaymentIntent,
    reason: &str,
) -> Result<PaymentIntent, AppError> {
    invoices::refuse_release_of_invoice_receipts(
        session,
        payment,
        "failure while it holds part of an invoice's payment (void the invoice: what was received is credited to the customer's prepaid balance)",
    )?;
    let scope = payment.scope.clone();
    let mut balances = session.balances_for_update(&scope, &payment_assets(payment))?;
    let (failed, reversal) = payment::mark_failed(payment, reason, &mut balances, context.ids, context.now_ms)?;
    if let Some(transaction) = reversal {
        session.post_ledger_transaction(&scope, &transaction, context.now_ms)?;
    }
    session.update_payment(&failed)?;
    emit(session, context, &failed, "payment_intent.payment_failed")?;
    Ok(failed)
}

/// Cancels a payment still waiting for the payer; what part of it was received goes back. An
/// invoice's intent holding part of its payment is not canceled this way: voiding the invoice
/// cancels it and credits that part to the customer.
pub(crate) fn cancel_payment(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    payment: &PaymentIntent,
) -> Result<PaymentIntent, AppError> {
    invoices::refuse_release_of_invoice_receipts(
        session,
        payment,
        "cancel while it holds part of an invoice's payment (void the invoice: what was received is credited to the customer's prepaid balance)",
    )?;
    let scope = payment.scope.clone();
    let mut balances = session.balances_for_update(&scope, &payment_assets(payment))?;
    let (canceled, reversal) = payment::cancel_payment_intent(payment, &mut balances, context.ids, context.now_ms)?;
    if let Some(transaction) = reversal {
        session.post_ledger_transaction(&scope, &transaction, context.now_ms)?;
    }
    session.update_payment(&canceled)?;
    emit(session, context, &canceled, "payment_intent.canceled")?;
    Ok(canceled)
}

/// Expires a payment intent that waited for the payer past its `expires_at_ms`: what part of it
/// was received goes back to the payer, with an audit record by harepay and the event
/// `payment_intent.expired`, in the caller's savepoint. An invoice's intent expires with its
/// invoice (`invoices::expire_invoice`): canceled, what it received credited to the customer.
pub(crate) fn expire_payment(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    payment: &PaymentIntent,
) -> Result<PaymentIntent, AppError> {
    if let Some(invoice) = invoices::expiring_invoice_of(session, payment, context.now_ms)? {
        invoices::expire_invoice(session, context, &invoice)?;
        return load_payment_for_update(session, &payment.scope, &payment.id);
    }
    let scope = payment.scope.clone();
    let mut balances = session.balances_for_update(&scope, &payment_assets(payment))?;
    let (expired, reversal) = payment::expire_payment_intent(payment, &mut balances, context.ids, context.now_ms)?;
    if let Some(transaction) = &reversal {
        session.post_ledger_transaction(&scope, transaction, context.now_ms)?;
    }
    session.update_payment(&expired)?;
    let returned = match reversal {
        Some(_) => {
            format!("; {} received goes back to the payer", expired.amount.asset.display(expired.amount_received_minor))
        }
        None => String::new(),
    };
    let detail = format!("expired {}: not paid in full by its expiry{returned}", expired.id);
    let entry = AuditEntry::system(&scope, "expire_payment", &expired.id, "executed", detail);
    session.append_audit(&entry.into_record(context))?;
    emit(session, context, &expired, "payment_intent.expired")?;
    Ok(expired)
}

/// Cancels a payout whose approval window closed unanswered and releases its funds.
pub(crate) fn expire_approval(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    payout: &Payout,
) -> Result<(), AppError> {
    let mut balances = session.balances_for_update(&payout.scope, &[payout.amount.asset])?;
    let (expired, release) = payout::expire_approval(payout, &mut balances, context.ids, context.now_ms)?;
    session.update_payout(&expired)?;
    session.post_ledger_transaction(&payout.scope, &release, context.now_ms)?;
    let detail = format!(
        "expired {}: nobody approved or rejected it in time; {} released",
        expired.id,
        expired.amount.display()
    );
    let entry = AuditEntry::system(&expired.scope, "expire_approval", &expired.id, "executed", detail);
    session.append_audit(&entry.into_record(context))?;
    emit(session, context, &expired, "payout.expired")
}

/// The simulated payout rail: pending → processing → paid (or failed for the test account
/// 0000000000), one step each time the payout falls due.
pub(crate) fn advance_test_payout(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    current: &Payout,
) -> Result<(), AppError> {
    let scope = &current.scope;
    match current.status {
        PayoutStatus::Pending => {
            let next_step_at_ms = context
                .rules
                .test_auto_settle_after_ms
                .map(|after_ms| crate::engine::rail::later_ms(context.now_ms, after_ms));
            let processing = payout::mark_payout_processing(current, context.now_ms, next_step_at_ms)?;
            session.update_payout(&processing)?;
            emit(session, context, &processing, "payout.processing")
        }
        PayoutStatus::Processing => {
            let mut balances = session.balances_for_update(scope, &[current.amount.asset])?;
            let (finished, transaction, event_type) = if payout::simulated_rail_fails(&current.destination) {
                let (failed, release) = payout::mark_payout_failed(
                    current,
                    "the bank rejected the account (test account 0000000000)",
                    &mut balances,
                    context.ids,
                    context.now_ms,
                )?;
                let detail = format!(
                    "{} failed on rail {}: {}; {} released",
                    failed.id,
                    failed.rail.code(),
                    failed.failure_reason.as_deref().unwrap_or_default(),
                    failed.amount.display()
                );
                let entry = AuditEntry::system(scope, "payout_rail", &failed.id, "executed", detail);
                session.append_audit(&entry.into_record(context))?;
                (failed, release, "payout.failed")
            } else {
                let (paid, transaction) =
                    payout::mark_payout_paid(current, &mut balances, context.ids, context.now_ms)?;
                (paid, transaction, "payout.paid")
            };
            session.update_payout(&finished)?;
            session.post_ledger_transaction(scope, &transaction, context.now_ms)?;
            emit(session, context, &finished, event_type)
        }
        _ => {
            // Decided elsewhere since it fell due: nothing left to simulate.
            let mut settled = current.clone();
            settled.simulate_at_ms = None;
            session.update_payout(&settled)?;
            Ok(())
        }
    }
}
