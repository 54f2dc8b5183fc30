//! `get_payment`: one payment intent with its refunds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::disputes::refundable_beside_holds_minor;
use crate::app::transitions::load_payment;
use crate::engine::ledger::AccountKind;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::{PaymentIntentView, RefundView};

pub const ENTRY: Entry = Entry::read::<GetPayment>();

pub struct GetPayment;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPaymentArgs {
    /// The payment intent id, `pi_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentDetails {
    pub payment_intent: PaymentIntentView,
    /// Refunds taken from this payment, oldest first.
    pub refunds: Vec<RefundView>,
}

impl ReadOperation for GetPayment {
    const SPEC: Spec = Spec {
        name: "get_payment",
        toolset: Toolset::Payments,
        title: "Get payment",
        description: "Retrieve one payment intent with its refunds.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = GetPaymentArgs;
    type Output = PaymentDetails;

    fn validate(args: &GetPaymentArgs) -> Result<(), Failure> {
        check_object_id(&args.id, "pi_", "id").map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: GetPaymentArgs) -> Result<PaymentDetails, Failure> {
        let id = check_object_id(&args.id, "pi_", "id")?;
        let scope = principal.scope.clone();
        let (payment, refunds, refundable_minor, available_minor) = context
            .app
            .read(move |store| {
                let payment = load_payment(store, &scope, &id)?;
                // A balance that cannot be read (a damaged ledger, reported by system_status)
                // allows no refund now; the payment itself is still shown.
                let available_minor = store
                    .balances(&scope, &[payment.credit_asset()])
                    .map_or(0, |balances| balances.get(AccountKind::Available, payment.credit_asset()));
                let refundable_minor = refundable_beside_holds_minor(store, &payment)?;
                Ok((payment, store.list_refunds_for_payment(&scope, &id)?, refundable_minor, available_minor))
            })
            .await?;
        Ok(PaymentDetails {
            payment_intent: PaymentIntentView::now(&payment, refundable_minor, available_minor),
            refunds: refunds.iter().map(RefundView::from_engine).collect(),
        })
    }
}
