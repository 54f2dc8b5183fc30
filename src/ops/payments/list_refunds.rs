//! `list_refunds`: the refunds taken from one payment, oldest first.
//!
//! Added as one file plus its line in `payments/mod.rs` and its regenerated catalog entry, the
//! way every operation is (see ARCHITECTURE.md, "How to add an operation").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::transitions::load_payment;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::{MoneyView, RefundView};

pub const ENTRY: Entry = Entry::read::<ListRefunds>();

pub struct ListRefunds;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRefundsArgs {
    /// The payment intent whose refunds to list, `pi_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub payment_intent: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RefundList {
    /// Oldest first.
    pub data: Vec<RefundView>,
    /// Their sum, in the payment's credited currency.
    pub total_refunded: MoneyView,
}

impl ReadOperation for ListRefunds {
    const SPEC: Spec = Spec {
        name: "list_refunds",
        toolset: Toolset::Payments,
        title: "List refunds",
        description: "The refunds taken from one payment intent, oldest first, with their total.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"payment_intent": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = ListRefundsArgs;
    type Output = RefundList;

    fn validate(args: &ListRefundsArgs) -> Result<(), Failure> {
        check_object_id(&args.payment_intent, "pi_", "payment_intent").map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: ListRefundsArgs) -> Result<RefundList, Failure> {
        let id = check_object_id(&args.payment_intent, "pi_", "payment_intent")?;
        let scope = principal.scope.clone();
        let (payment, refunds) = context
            .app
            .read(move |store| {
                let payment = load_payment(store, &scope, &id)?;
                Ok((payment, store.list_refunds_for_payment(&scope, &id)?))
            })
            .await?;
        Ok(RefundList {
            data: refunds.iter().map(RefundView::from_engine).collect(),
            total_refunded: MoneyView::new(payment.credit_asset(), payment.amount_refunded_minor),
        })
    }
}
