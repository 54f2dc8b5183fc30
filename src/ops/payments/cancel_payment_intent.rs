//! `cancel_payment_intent`: stop waiting for a payer who has not paid.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::transitions::{cancel_payment, load_payment_for_update};
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::PaymentIntentView;

pub const ENTRY: Entry = Entry::write::<CancelPaymentIntent>();

pub struct CancelPaymentIntent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPaymentIntentArgs {
    /// The payment intent to cancel, `pi_…`; it must still be requires_action or partially_paid.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: cancel.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CancelPaymentIntentArgs);

pub struct CancelPaymentIntentCommand {
    pub payment_intent_id: String,
}

impl WriteOperation for CancelPaymentIntent {
    const SPEC: Spec = Spec {
        name: "cancel_payment_intent",
        toolset: Toolset::Payments,
        title: "Cancel payment intent",
        description: "Cancel a payment intent still waiting for the payer (requires_action or partially_paid; what it received goes back). Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true}"#],
    };
    type Args = CancelPaymentIntentArgs;
    type Command = CancelPaymentIntentCommand;

    fn command(args: &CancelPaymentIntentArgs) -> Result<CancelPaymentIntentCommand, Failure> {
        Ok(CancelPaymentIntentCommand { payment_intent_id: check_object_id(&args.id, "pi_", "id")? })
    }

    fn describe(command: &CancelPaymentIntentCommand) -> String {
        format!("cancel {}", command.payment_intent_id)
    }

    fn message(payment: &PaymentIntentView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would cancel" } else { "Canceled" };
        format!("{verb} {} ({}).", payment.id, payment.amount.display)
    }
}

impl WriteCommand for CancelPaymentIntentCommand {
    type View = PaymentIntentView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PaymentIntentView>, AppError> {
        let payment = load_payment_for_update(session, &actor.scope, &self.payment_intent_id)?;
        let canceled = cancel_payment(session, context, &payment)?;
        Ok(Applied::new(PaymentIntentView::from_engine(&canceled), &canceled.id, vec![canceled.credit_asset()]))
    }
}
