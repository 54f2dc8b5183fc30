//! `simulate_payment`: test mode only, the payer pays (or does not) now.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::transitions::{fail_payment, load_payment_for_update, settle_payment};
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::error::EngineError;
use crate::engine::ledger::AccountKind;
use crate::engine::permission::Action;
use crate::engine::principal::{Mode, Principal};
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::PaymentIntentView;

pub const ENTRY: Entry = Entry::write::<SimulatePayment>();

pub struct SimulatePayment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedOutcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatePaymentArgs {
    /// The test-mode payment intent, `pi_…`, in requires_action or processing.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// succeeded: the payer paid (funds reach available, less fees). failed: they did not.
    pub outcome: SimulatedOutcome,
    /// false (default): preview only. true: apply.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(SimulatePaymentArgs);

pub struct SimulatePaymentCommand {
    pub payment_intent_id: String,
    pub outcome: SimulatedOutcome,
}

impl WriteOperation for SimulatePayment {
    const SPEC: Spec = Spec {
        name: "simulate_payment",
        toolset: Toolset::Payments,
        title: "Simulate payment outcome (test mode)",
        description: "Test mode only: make a payment succeed (credits available, less fees) or fail (releases pending funds) now. Previews the balance change unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "outcome": "succeeded", "confirm": true, "idempotency_key": "settle-1001"}"#],
    };
    type Args = SimulatePaymentArgs;
    type Command = SimulatePaymentCommand;

    fn command(args: &SimulatePaymentArgs) -> Result<SimulatePaymentCommand, Failure> {
        Ok(SimulatePaymentCommand { payment_intent_id: check_object_id(&args.id, "pi_", "id")?, outcome: args.outcome })
    }

    fn describe(command: &SimulatePaymentCommand) -> String {
        format!("simulate {:?} for {}", command.outcome, command.payment_intent_id)
    }

    fn message(payment: &PaymentIntentView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would mark" } else { "Marked" };
        format!("{verb} {} as {}.", payment.id, payment.status)
    }
}

impl WriteCommand for SimulatePaymentCommand {
    type View = PaymentIntentView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PaymentIntentView>, AppError> {
        let payment = load_payment_for_update(session, &actor.scope, &self.payment_intent_id)?;
        if actor.scope.mode != Mode::Test {
            return Err(EngineError::TestModeOnly { action: "simulate_payment" }.into());
        }
        let settled = match self.outcome {
            SimulatedOutcome::Succeeded => settle_payment(session, context, &payment)?,
            SimulatedOutcome::Failed => fail_payment(session, context, &payment, "simulated failure")?,
        };
        let asset = settled.credit_asset();
        let available_minor = session.balances(&actor.scope, &[asset])?.get(AccountKind::Available, asset);
        Ok(Applied::new(PaymentIntentView::now(&settled, available_minor), &settled.id, vec![asset]))
    }
}
