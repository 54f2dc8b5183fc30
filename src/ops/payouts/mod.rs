//! Toolset `payouts`: money out, with maker-checker approval and spend limits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::error::AppError;
use crate::app::write::Applied;
use crate::engine::payout::{Payout, PayoutStatus};
use crate::engine::principal::Scope;
use crate::ops::args::check_cursor;
use crate::ops::{Failure, ListResult};
use crate::store::{PageRequest, PayoutFilter, StoreRead};
use crate::views::PayoutView;

crate::ops::operations!(
    approve_payout,
    cancel_payout,
    create_payout,
    get_payout,
    list_payouts,
    list_pending_approvals,
    reject_payout,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatusInput {
    PendingApproval,
    Pending,
    Processing,
    Paid,
    Failed,
    Canceled,
}

impl PayoutStatusInput {
    fn to_engine(self) -> PayoutStatus {
        match self {
            PayoutStatusInput::PendingApproval => PayoutStatus::PendingApproval,
            PayoutStatusInput::Pending => PayoutStatus::Pending,
            PayoutStatusInput::Processing => PayoutStatus::Processing,
            PayoutStatusInput::Paid => PayoutStatus::Paid,
            PayoutStatusInput::Failed => PayoutStatus::Failed,
            PayoutStatusInput::Canceled => PayoutStatus::Canceled,
        }
    }
}

/// The two list operations' shared query: a page of payouts, by status when asked.
fn list_payouts_page(
    store: &dyn StoreRead,
    scope: &Scope,
    status: Option<PayoutStatus>,
    page: &PageRequest,
) -> Result<ListResult<PayoutView>, AppError> {
    check_cursor(page, |cursor| Ok(store.get_payout(scope, cursor)?.is_some()))?;
    let payouts = store.list_payouts(scope, &PayoutFilter { status }, page)?;
    let data = payouts.items.iter().map(PayoutView::from_engine).collect();
    Ok(ListResult::new(data, payouts.has_more, |payout: &PayoutView| payout.id.clone()))
}

/// A changed payout as a write's result: its view, made once for the result and its events.
fn payout_applied(payout: &Payout) -> Applied<PayoutView> {
    Applied::new(PayoutView::from_engine(payout), &payout.id, vec![payout.amount.asset])
}

/// Payout ids handed to tools.
fn payout_id(id: &str) -> Result<String, Failure> {
    crate::ops::args::check_object_id(id, "po_", "id")
}
