//! `list_payouts`: payouts, newest first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, page_request};
use crate::ops::payouts::{PayoutStatusInput, list_payouts_page};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::views::PayoutView;

pub const ENTRY: Entry = Entry::read::<ListPayouts>();

pub struct ListPayouts;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPayoutsArgs {
    /// Only payouts in this status.
    #[serde(default)]
    pub status: Option<PayoutStatusInput>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ReadOperation for ListPayouts {
    const SPEC: Spec = Spec {
        name: "list_payouts",
        toolset: Toolset::Payouts,
        title: "List payouts",
        description: "List payouts, newest first, optionally by status; page with limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"status": "pending_approval", "limit": 100}"#],
    };
    type Args = ListPayoutsArgs;
    type Output = ListResult<PayoutView>;

    fn validate(args: &ListPayoutsArgs) -> Result<(), Failure> {
        page_request(&args.limit, &args.starting_after).map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListPayoutsArgs,
    ) -> Result<ListResult<PayoutView>, Failure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let status = args.status.map(PayoutStatusInput::to_engine);
        let scope = principal.scope.clone();
        Ok(context.app.read(move |store| list_payouts_page(store, &scope, status, &page)).await?)
    }
}
