//! `get_payout`: one payout, with its approval.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::transitions::load_payout;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::payouts::payout_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::PayoutView;

pub const ENTRY: Entry = Entry::read::<GetPayout>();

pub struct GetPayout;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutIdArgs {
    /// The payout id, `po_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
}

impl ReadOperation for GetPayout {
    const SPEC: Spec = Spec {
        name: "get_payout",
        toolset: Toolset::Payouts,
        title: "Get payout",
        description: "Retrieve one payout: status, destination, who created it and, for large payouts, the approval \
                      (threshold, expiry, who decided and why).",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"id": "po_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = PayoutIdArgs;
    type Output = PayoutView;

    fn validate(args: &PayoutIdArgs) -> Result<(), Failure> {
        payout_id(&args.id).map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: PayoutIdArgs) -> Result<PayoutView, Failure> {
        let id = payout_id(&args.id)?;
        let scope = principal.scope.clone();
        let payout = context.app.read(move |store| load_payout(store, &scope, &id)).await?;
        Ok(PayoutView::from_engine(&payout))
    }
}
