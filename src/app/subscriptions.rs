//! A subscription's record as the other parts of billing share it: loading it for update, the
//! merchant's billing time, its view and events, and its way back from `past_due` when its last
//! overdue invoice is settled. A leaf of `app`: billing, invoices and the scheduler all use it,
//! and it uses none of them.

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::write::{AuditEntry, emit_json};
use crate::engine::principal::Scope;
use crate::engine::subscription::{self, Subscription, SubscriptionStatus};
use crate::engine::test_clock;
use crate::store::{StoreRead, StoreWrite};
use crate::views::billing::SubscriptionView;

pub(crate) fn load_subscription_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<Subscription, AppError> {
    session.get_subscription_for_update(scope, id)?.ok_or_else(|| AppError::not_found("subscription", id))
}

/// The merchant's billing time in `scope` at real time `real_now_ms`.
pub(crate) fn billing_now_ms(session: &dyn StoreRead, scope: &Scope, real_now_ms: i64) -> Result<i64, AppError> {
    let offset_ms = match scope.mode {
        crate::engine::principal::Mode::Live => 0,
        crate::engine::principal::Mode::Test => session.test_clock_offset_ms(&scope.merchant_id)?,
    };
    Ok(test_clock::billing_now_ms(scope.mode, real_now_ms, offset_ms))
}

pub(crate) fn subscription_view(subscription: &Subscription) -> SubscriptionView {
    SubscriptionView::from_engine(subscription)
}

/// The event a subscription's change is: `.deleted` once it is canceled (ended), else `.updated`.
pub(crate) fn subscription_event_type(subscription: &Subscription) -> &'static str {
    if subscription.status == SubscriptionStatus::Canceled {
        "customer.subscription.deleted"
    } else {
        "customer.subscription.updated"
    }
}

pub(crate) fn emit_subscription(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    subscription: &Subscription,
    event_type: &str,
) -> Result<String, AppError> {
    let payload_json = serde_json::to_string(&subscription_view(subscription)).expect("views serialize");
    emit_json(session, context, &subscription.scope, event_type, &subscription.id, payload_json.clone())?;
    Ok(payload_json)
}

/// A subscription's invoice was just paid or closed (in the caller's transaction): a `past_due`
/// subscription with no open invoice past its due date any more is `active` again, with the
/// event `customer.subscription.updated` and an audit record by harepay, in the same transaction
/// as the payment. A pending collection check stays: a later unpaid invoice still needs it.
pub(crate) fn reactivate_when_collected(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    scope: &Scope,
    subscription_id: &str,
) -> Result<(), AppError> {
    let current = load_subscription_for_update(session, scope, subscription_id)?;
    if current.status != SubscriptionStatus::PastDue {
        return Ok(());
    }
    let billing_now_ms = billing_now_ms(session, scope, context.now_ms)?;
    let past_due = session.subscription_has_past_due_invoice(&current.id, billing_now_ms)?;
    let Some(status) = subscription::collection_status(&current, past_due) else { return Ok(()) };
    let mut next = current.clone();
    next.status = status;
    next.updated_at_ms = context.now_ms;
    session.update_subscription(&next)?;
    let detail = format!("{} is {}: its last overdue invoice is settled", next.id, next.status.code());
    let entry = AuditEntry::system(scope, "check_subscription_collection", &next.id, "executed", detail);
    session.append_audit(&entry.into_record(context))?;
    emit_subscription(session, context, &next, "customer.subscription.updated")?;
    Ok(())
}
