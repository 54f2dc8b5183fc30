//! `list_pending_approvals`: what waits for a checker.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::payout::PayoutStatus;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, page_request};
use crate::ops::payouts::list_payouts_page;
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::views::PayoutView;

pub const ENTRY: Entry = Entry::read::<ListPendingApprovals>();

pub struct ListPendingApprovals;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPendingApprovalsArgs {
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ReadOperation for ListPendingApprovals {
    const SPEC: Spec = Spec {
        name: "list_pending_approvals",
        toolset: Toolset::Payouts,
        title: "List pending approvals",
        description: "Payouts waiting for a second person's approval, newest first. Approver keys decide them with \
                      approve_payout or reject_payout.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"limit": 1}"#],
    };
    type Args = ListPendingApprovalsArgs;
    type Output = ListResult<PayoutView>;

    fn validate(args: &ListPendingApprovalsArgs) -> Result<(), Failure> {
        page_request(&args.limit, &args.starting_after).map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListPendingApprovalsArgs,
    ) -> Result<ListResult<PayoutView>, Failure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let scope = principal.scope.clone();
        let status = Some(PayoutStatus::PendingApproval);
        Ok(context.app.read(move |store| list_payouts_page(store, &scope, status, &page)).await?)
    }
}
