//! Billing: subscriptions loaded in the caller's scope, the merchant's billing time (real time,
//! or in test mode real time plus the merchant's test clock), and the close of a due period,
//! which the billing run (the scheduler, `run_billing`, `advance_test_clock`) and `report_usage`
//! share.
//!
//! A period close is one step: load the subscription for update; if its period has not ended in
//! billing time it was closed already and nothing happens; else record the close under the unique
//! key (subscription, period start), issue the period invoice when there is something to bill,
//! move the subscription to its next period (or cancel it), and write its events and audit
//! record, all in the step's savepoint. So a period is closed exactly once whatever runs the
//! billing, how often, and however it is interrupted: a crash undoes the whole uncommitted group.

use crate::app::WriteContext;
use crate::app::error::AppError;
pub(crate) use crate::app::subscriptions::{
    billing_now_ms, emit_subscription, load_subscription_for_update, subscription_event_type, subscription_view,
};
use crate::app::write::AuditEntry;
use crate::engine::catalog::Price;
use crate::engine::error::EngineError;
use crate::engine::invoice::{self, Invoice, NewInvoice};
use crate::engine::principal::Scope;
use crate::engine::subscription::{self, Subscription, SubscriptionStatus};
use crate::store::{DueSubscription, PeriodCloseRecord, StoreRead, StoreWrite};
use crate::views::billing::PeriodInvoiceView;

pub(crate) fn load_subscription(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<Subscription, AppError> {
    session.get_subscription(scope, id)?.ok_or_else(|| AppError::not_found("subscription", id))
}

/// The price a subscription bills on. Prices are immutable, so a plain read is as good as a
/// locked one.
pub(crate) fn load_price(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<Price, AppError> {
    session.get_price(scope, id)?.ok_or_else(|| AppError::not_found("price", id))
}

/// A period's usage as results show it, against `terms` (a trial's terms make every unit free).
pub(crate) fn usage_period_view(
    period: &crate::engine::usage::UsagePeriod,
    terms: &crate::engine::usage::UsageTerms,
) -> crate::views::billing::UsagePeriodView {
    crate::views::billing::UsagePeriodView {
        period_start_ms: period.start_ms,
        period_end_ms: period.end_ms,
        used_units: period.used_units,
        included_units: terms.included_units,
        allowance_left_units: period.allowance_left_units(terms),
        billed_units: period.billed_units,
        billed: crate::views::MoneyView::new(
            terms.currency,
            period.billed_units.saturating_mul(terms.unit_amount_minor),
        ),
    }
}

/// What one billing step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BillingStep {
    /// Nothing was due any more (closed already).
    NothingDue,
    /// A period closed, with the invoice it issued (none when it billed nothing).
    PeriodClosed { invoice: Option<PeriodInvoiceView> },
    /// A check whether an open invoice went past due.
    CollectionChecked,
}

/// Closes the due subscription's current period at its end (the billing time it fell due at):
/// see the module doc. Nothing happens when it was closed already.
pub(crate) fn close_due_period(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    due: &DueSubscription,
) -> Result<BillingStep, AppError> {
    let current = load_subscription_for_update(session, &due.scope, &due.id)?;
    let billing_now_ms = billing_now_ms(session, &due.scope, context.now_ms)?;
    match current.due_at_ms() {
        Some(due_at_ms) if due_at_ms <= billing_now_ms => {}
        _ => return Ok(BillingStep::NothingDue),
    }
    // Everything a step writes is dated when it fell due: invoices, events and audit records
    // come in billing-time order however late the run.
    let due_at_ms = current.due_at_ms().unwrap_or(billing_now_ms);
    let mut when_due = WriteContext { rules: context.rules, ids: &mut *context.ids, now_ms: due_at_ms };
    if current.period_ended_at(billing_now_ms) && current.current_period_end_ms == due_at_ms {
        let invoice = close_period(session, &mut when_due, &current)?;
        return Ok(BillingStep::PeriodClosed { invoice });
    }
    check_collection(session, &mut when_due, &current)?;
    Ok(BillingStep::CollectionChecked)
}

/// Just after an unpaid invoice's due date: past due when it (or another) is still open.
fn check_collection(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    current: &Subscription,
) -> Result<(), AppError> {
    let past_due = session.subscription_has_past_due_invoice(&current.id, context.now_ms)?;
    let next = subscription::check_collection(current, past_due, context.now_ms);
    session.update_subscription(&next)?;
    if next.status != current.status {
        let detail = format!("{} is {}: an open invoice is past its due date", next.id, next.status.code());
        let entry = AuditEntry::system(&next.scope, "check_subscription_collection", &next.id, "executed", detail);
        session.append_audit(&entry.into_record(context))?;
        emit_subscription(session, context, &next, "customer.subscription.updated")?;
    }
    Ok(())
}

fn close_period(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    current: &Subscription,
) -> Result<Option<PeriodInvoiceView>, AppError> {
    let scope = current.scope.clone();
    let price = load_price(session, &scope, &current.price_id)?;
    let usage = session.get_usage_period(&current.id, current.current_period_start_ms)?;
    let customer = crate::app::customers::load_customer(session, &scope, &current.customer_id)?;
    let mut close = subscription::close_period(current, &price, usage.as_ref(), context.now_ms)?;
    if customer.is_archived() {
        // An archived customer is invoiced no more: the subscription ends with the period.
        close.lines.clear();
        close.usage_units_billed_at_close = 0;
        close.next.status = SubscriptionStatus::Canceled;
        close.next.ended_at_ms = Some(close.period_end_ms);
    }
    let issued = if close.lines.is_empty() {
        None
    } else {
        let request = NewInvoice {
            customer_id: current.customer_id.clone(),
            currency: price.currency,
            lines: close.lines.clone(),
            due_date_ms: close.due_date_ms,
            expires_in_ms: None,
            subscription_id: Some(current.id.clone()),
            metadata: Default::default(),
        };
        let draft = invoice::create_invoice(&scope, request, context.ids, context.now_ms)?;
        let open = invoice::finalize_invoice(&draft, context.now_ms)?;
        save_issued_invoice(session, context, &open)?;
        Some(open)
    };
    session.insert_period_close(&PeriodCloseRecord {
        subscription_id: current.id.clone(),
        period_start_ms: close.period_start_ms,
        period_end_ms: close.period_end_ms,
        invoice_id: issued.as_ref().map(|invoice| invoice.id.clone()),
        closed_at_ms: context.now_ms,
    })?;
    if close.usage_units_billed_at_close > 0
        && let Some(mut usage) = usage
    {
        usage.billed_units += close.usage_units_billed_at_close;
        session.save_usage_period(&usage, context.now_ms)?;
    }
    let mut next = close.next;
    let past_due = session.subscription_has_past_due_invoice(&next.id, context.now_ms)?;
    if let Some(status) = subscription::collection_status(&next, past_due) {
        next.status = status;
    }
    // The close looked at collection now; a check still pending before now is done.
    if next.collection_check_at_ms.is_some_and(|check_ms| check_ms <= context.now_ms) {
        next.collection_check_at_ms = None;
    }
    if let Some(invoice) = issued.as_ref().filter(|invoice| invoice.status == invoice::InvoiceStatus::Open) {
        next = subscription::schedule_collection_check(&next, invoice.due_date_ms);
    }
    session.update_subscription(&next)?;
    let what = match (&issued, close.was_trial) {
        (_, true) => "ended the trial".to_owned(),
        (Some(invoice), _) => format!("invoiced {} as {}", price.currency.display(invoice.total_minor), invoice.id),
        (None, false) => "nothing to bill".to_owned(),
    };
    let detail =
        format!("closed the period {} to {} of {}: {what}", close.period_start_ms, close.period_end_ms, current.id);
    let entry = AuditEntry::system(&scope, "close_subscription_period", &current.id, "executed", detail);
    session.append_audit(&entry.into_record(context))?;
    emit_subscription(session, context, &next, subscription_event_type(&next))?;
    Ok(issued.map(|invoice| PeriodInvoiceView {
        subscription_id: current.id.clone(),
        period_start_ms: close.period_start_ms,
        period_end_ms: close.period_end_ms,
        invoice_id: Some(invoice.id.clone()),
        amount: crate::views::MoneyView::new(invoice.currency, invoice.total_minor),
    }))
}

/// Saves an invoice billing issued (open, or paid when its total is 0) with its events, through
/// the invoices app.
pub(crate) fn save_issued_invoice(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    invoice: &Invoice,
) -> Result<(), AppError> {
    crate::app::invoices::save_new_invoice(session, context, invoice)
}

/// Closes what is due of one subscription before a change to it (a usage report, a cancel), so
/// that the change applies to the period running in billing time; at most
/// `USAGE_REPORT_CATCH_UP_MAX_PERIODS` steps (normally none or one: the billing run keeps up),
/// beyond which the caller is asked to wait for the billing run. Returns it as it is then.
pub(crate) fn catch_up_subscription(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    scope: &Scope,
    id: &str,
) -> Result<Subscription, AppError> {
    let billing_now_ms = billing_now_ms(session, scope, context.now_ms)?;
    for _ in 0..crate::limits::USAGE_REPORT_CATCH_UP_MAX_PERIODS {
        let current = load_subscription_for_update(session, scope, id)?;
        let Some(due_at_ms) = current.due_at_ms().filter(|due_at_ms| *due_at_ms <= billing_now_ms) else {
            return Ok(current);
        };
        let due = DueSubscription { id: current.id.clone(), scope: scope.clone(), due_at_ms, failed_attempts: 0 };
        close_due_period(session, context, &due)?;
    }
    Err(EngineError::InvalidState {
        object: "subscription",
        id: id.to_owned(),
        status: "behind_its_billing",
        action: "changing it before the billing run closes its past periods (try again in a moment)",
    }
    .into())
}
