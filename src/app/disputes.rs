//! What dispute operations share: loading a dispute in the caller's scope (another merchant's or
//! mode's is `not_found`, like one that does not exist), its events, and the end of a review.

use crate::app::error::AppError;
use crate::app::write::{AuditEntry, EventSubject, emit};
use crate::app::writer::WriteContext;
use crate::engine::dispute::{self, Dispute, DisputeOutcome};
use crate::engine::invoice_payment;
use crate::engine::payment::PaymentIntent;
use crate::engine::principal::Scope;
use crate::store::{StoreRead, StoreResult, StoreWrite};
use crate::views::DisputeView;

impl EventSubject for Dispute {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn payload_json(&self) -> String {
        serde_json::to_string(&DisputeView::from_engine(self)).expect("views serialize")
    }
}

pub(crate) fn load_dispute(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<Dispute, AppError> {
    session.get_dispute(scope, id)?.ok_or_else(|| AppError::not_found("dispute", id))
}

pub(crate) fn load_dispute_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<Dispute, AppError> {
    session.get_dispute_for_update(scope, id)?.ok_or_else(|| AppError::not_found("dispute", id))
}

/// The review of a dispute under review ends with `outcome`: its postings, the dispute saved,
/// and `charge.dispute.closed`.
pub(crate) fn close_dispute(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    dispute: &Dispute,
    outcome: DisputeOutcome,
) -> Result<Dispute, AppError> {
    let scope = &dispute.scope;
    let mut balances = session.balances_for_update(scope, &[dispute.amount.asset])?;
    let (closed, transaction) = dispute::close_dispute(dispute, outcome, &mut balances, context.ids, context.now_ms)?;
    session.update_dispute(&closed)?;
    session.post_ledger_transaction(scope, &transaction, context.now_ms)?;
    emit(session, context, &closed, "charge.dispute.closed")?;
    Ok(closed)
}

/// What refunds of `payment` may still take, as `refund_payment` decides it, before the available
/// balance is counted: less what its open or lost dispute holds and what its invoice passed on to
/// the customer's prepaid balance. Only a payment with something left to refund is looked up.
pub(crate) fn refundable_beside_holds_minor(session: &dyn StoreRead, payment: &PaymentIntent) -> StoreResult<i64> {
    if payment.refundable_minor() == 0 {
        return Ok(0);
    }
    let dispute = session.get_dispute_for_payment(&payment.scope, &payment.id)?;
    let invoice = session.get_invoice_by_payment_intent(&payment.scope, &payment.id)?;
    let passed_to_prepaid_minor = invoice_payment::credit_passed_to_prepaid_minor(payment, invoice.as_ref());
    Ok(dispute::refundable_beside_dispute_minor(payment, dispute.as_ref(), passed_to_prepaid_minor))
}

/// The scheduler's step for a dispute found overdue: loaded for update, and closed as lost if it
/// still needs a response at its due date (evidence submitted meanwhile leaves it as it is):
/// its postings, `charge.dispute.updated` and `charge.dispute.closed`, and an audit record by
/// harepay, since nobody called a tool.
pub(crate) fn close_overdue_dispute(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    scope: &Scope,
    id: &str,
) -> Result<(), AppError> {
    let current = load_dispute_for_update(session, scope, id)?;
    if !dispute::is_overdue(&current, context.now_ms) {
        return Ok(());
    }
    let mut balances = session.balances_for_update(scope, &[current.amount.asset])?;
    let (lost, transaction) = dispute::close_overdue_dispute(&current, &mut balances, context.ids, context.now_ms)?;
    session.update_dispute(&lost)?;
    session.post_ledger_transaction(scope, &transaction, context.now_ms)?;
    let detail = format!(
        "closed {} as lost: no evidence submitted by its due date {} ms; {} went back to the payer",
        lost.id,
        lost.evidence_due_by_ms,
        lost.amount.display()
    );
    let entry = AuditEntry::system(scope, "close_overdue_dispute", &lost.id, "executed", detail);
    session.append_audit(&entry.into_record(context))?;
    emit(session, context, &lost, "charge.dispute.updated")?;
    emit(session, context, &lost, "charge.dispute.closed")?;
    Ok(())
}
