//! `simulate_payment`: test mode only, the payer pays (or does not) now.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::disputes::refundable_beside_holds_minor;
use crate::app::error::AppError;
use crate::app::transitions::{fail_payment, load_payment_for_update, pay_payment};
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::error::EngineError;
use crate::engine::ledger::AccountKind;
use crate::engine::money::Money;
use crate::engine::permission::Action;
use crate::engine::principal::{Mode, Principal};
use crate::limits;
use crate::ops::args::{KeyRule, StrictInteger, check_object_id, parse_asset};
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
    /// The test-mode payment intent, `pi_…`, in requires_action, partially_paid or processing.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// succeeded: the payer paid (funds reach available, less fees). failed: they did not.
    pub outcome: SimulatedOutcome,
    /// succeeded only: what the payer sends (default: what remains). Less: partially_paid; more:
    /// an over-payment, credited whole.
    #[serde(default)]
    pub amount: Option<ReceivedAmountInput>,
    /// false (default): preview only. true: apply.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(SimulatePaymentArgs);

/// An amount in the payment's own currency, e.g. {"amount": 400000, "currency": "NGN"}.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedAmountInput {
    /// Minor units.
    pub amount: StrictInteger,
    /// The payment's currency (for crypto settled as fiat, the crypto asset).
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub currency: String,
}

pub struct SimulatePaymentCommand {
    pub payment_intent_id: String,
    pub outcome: SimulatedOutcome,
    /// What the payer sends, checked against the payment's currency when it runs; `None`:
    /// exactly what remains.
    pub received: Option<Money>,
}

impl WriteOperation for SimulatePayment {
    const SPEC: Spec = Spec {
        name: "simulate_payment",
        toolset: Toolset::Payments,
        title: "Simulate payment outcome (test mode)",
        description: "Test mode only: the payer pays now (succeeded; amount may pay part, or more than asked) or fails (what was received goes back). Previews the balance change unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[
            r#"{"id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "outcome": "succeeded", "confirm": true, "idempotency_key": "settle-1001"}"#,
            r#"{"id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "outcome": "succeeded", "amount": {"amount": 400000, "currency": "NGN"}}"#,
        ],
    };
    type Args = SimulatePaymentArgs;
    type Command = SimulatePaymentCommand;

    fn command(args: &SimulatePaymentArgs) -> Result<SimulatePaymentCommand, Failure> {
        let received = match (&args.amount, args.outcome) {
            (None, _) => None,
            (Some(_), SimulatedOutcome::Failed) => {
                return Err(Failure::invalid("amount", "amount goes with outcome succeeded: a failed payer sends nothing"));
            }
            (Some(amount), SimulatedOutcome::Succeeded) => {
                let asset = parse_asset(&amount.currency, "amount.currency")?;
                Some(Money { asset, amount_minor: amount.amount.amount_minor("amount.amount")? })
            }
        };
        Ok(SimulatePaymentCommand {
            payment_intent_id: check_object_id(&args.id, "pi_", "id")?,
            outcome: args.outcome,
            received,
        })
    }

    fn describe(command: &SimulatePaymentCommand) -> String {
        match &command.received {
            Some(received) => format!("simulate a payment of {} for {}", received.display(), command.payment_intent_id),
            None => format!("simulate {:?} for {}", command.outcome, command.payment_intent_id),
        }
    }

    fn message(payment: &PaymentIntentView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would mark" } else { "Marked" };
        let received = &payment.amount_received;
        let detail = match payment.status.as_str() {
            "partially_paid" => format!(
                ": {} received of {}, the rest still due",
                received.display, payment.amount.display
            ),
            "succeeded" if received.amount > payment.amount.amount => {
                format!(": {} received for {}, an over-payment credited whole", received.display, payment.amount.display)
            }
            _ => String::new(),
        };
        format!("{verb} {} as {}{detail}.", payment.id, payment.status)
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
            SimulatedOutcome::Succeeded => pay_payment(session, context, &payment, self.received)?,
            SimulatedOutcome::Failed => fail_payment(session, context, &payment, "simulated failure")?,
        };
        let asset = settled.credit_asset();
        let available_minor = session.balances(&actor.scope, &[asset])?.get(AccountKind::Available, asset);
        let refundable_minor = refundable_beside_holds_minor(&*session, &settled)?;
        Ok(Applied::new(PaymentIntentView::now(&settled, refundable_minor, available_minor), &settled.id, vec![asset]))
    }
}

