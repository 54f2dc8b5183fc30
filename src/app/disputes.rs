//! What dispute operations share: loading a dispute in the caller's scope (another merchant's or
//! mode's is `not_found`, like one that does not exist), its events, and the end of a review.

use crate::app::error::AppError;
use crate::app::write::{EventSubject, emit};
use crate::app::writer::WriteContext;
use crate::engine::dispute::{self, Dispute, DisputeOutcome};
use crate::engine::error::EngineError;
use crate::engine::principal::Scope;
use crate::store::{StoreRead, StoreWrite};
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

fn not_found(id: &str) -> AppError {
    EngineError::NotFound { object: "dispute", id: id.to_owned() }.into()
}

pub(crate) fn load_dispute(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<Dispute, AppError> {
    session.get_dispute(scope, id)?.ok_or_else(|| not_found(id))
}

pub(crate) fn load_dispute_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<Dispute, AppError> {
    session.get_dispute_for_update(scope, id)?.ok_or_else(|| not_found(id))
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
