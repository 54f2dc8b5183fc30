//! `simulate_dispute`: test mode only, a payer's bank disputes a succeeded payment now.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::transitions::load_payment_for_update;
use crate::app::write::{Applied, Outcome, WriteCommand, emit};
use crate::engine::dispute::{self, NewDispute};
use crate::engine::error::EngineError;
use crate::engine::invoice_payment;
use crate::engine::permission::Action;
use crate::engine::principal::{Mode, Principal};
use crate::limits;
use crate::ops::args::{KeyRule, StrictInteger, check_object_id};
use crate::ops::disputes::{DisputeOutcomeInput, DisputeReasonInput};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::{StoreError, StoreWrite};
use crate::views::DisputeView;

pub const ENTRY: Entry = Entry::write::<SimulateDispute>();

pub struct SimulateDispute;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateDisputeArgs {
    /// The succeeded test-mode payment intent to dispute, `pi_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub payment_intent_id: String,
    pub reason: DisputeReasonInput,
    /// How the review ends once evidence is submitted (default won).
    #[serde(default)]
    pub outcome: Option<DisputeOutcomeInput>,
    /// Minor units of the credited currency; omit for all that remains (captured less refunded).
    #[serde(default)]
    pub amount: Option<StrictInteger>,
    /// Evidence is due this long after opening (default 7 days; 1000 to 2592000000).
    #[serde(default)]
    pub evidence_due_in_ms: Option<i64>,
    /// false (default): preview only. true: open the dispute.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(SimulateDisputeArgs);

pub struct SimulateDisputeCommand {
    pub payment_intent_id: String,
    pub request: NewDispute,
}

impl WriteOperation for SimulateDispute {
    const SPEC: Spec = Spec {
        name: "simulate_dispute",
        toolset: Toolset::Disputes,
        title: "Simulate a dispute (test mode)",
        description: "Test mode only: the payer's bank disputes a succeeded payment now. The amount moves from available \
                      to reserved (what available cannot cover becomes owed). outcome (won by default) decides the \
                      review, which completes when evidence is submitted. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[
            r#"{"payment_intent_id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "reason": "fraudulent", "confirm": true, "idempotency_key": "dispute-1001"}"#,
            r#"{"payment_intent_id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "reason": "product_not_received", "outcome": "lost", "amount": 50000, "evidence_due_in_ms": 60000}"#,
        ],
    };
    type Args = SimulateDisputeArgs;
    type Command = SimulateDisputeCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &SimulateDisputeArgs) -> Result<SimulateDisputeCommand, Failure> {
        let amount_minor = match &args.amount {
            None => None,
            Some(amount) => Some(amount.amount_minor("amount")?),
        };
        Ok(SimulateDisputeCommand {
            payment_intent_id: check_object_id(&args.payment_intent_id, "pi_", "payment_intent_id")?,
            request: NewDispute {
                reason: args.reason.to_engine(),
                amount_minor,
                evidence_due_in_ms: args.evidence_due_in_ms.unwrap_or(limits::DISPUTE_EVIDENCE_DUE_DEFAULT_MS),
                simulated_outcome: Some(args.outcome.unwrap_or(DisputeOutcomeInput::Won).to_engine()),
            },
        })
    }

    fn describe(command: &SimulateDisputeCommand) -> String {
        format!("simulate a {} dispute of {}", command.request.reason.code(), command.payment_intent_id)
    }

    fn message(dispute: &DisputeView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would open" } else { "Opened" };
        let owed = if dispute.amount_owed.amount > 0 {
            format!(" ({} of it owed: available could not cover it)", dispute.amount_owed.display)
        } else {
            String::new()
        };
        format!(
            "{verb} a dispute of {} on {}, held in reserved{owed}; evidence is due by {} ms.",
            dispute.amount.display, dispute.payment_intent_id, dispute.evidence_due_by_ms
        )
    }
}

impl WriteCommand for SimulateDisputeCommand {
    type View = DisputeView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<DisputeView>, AppError> {
        if actor.scope.mode != Mode::Test {
            return Err(EngineError::TestModeOnly { action: "simulate_dispute" }.into());
        }
        let scope = &actor.scope;
        let payment = load_payment_for_update(session, scope, &self.payment_intent_id)?;
        let existing = session.get_dispute_for_payment_for_update(scope, &payment.id)?;
        let invoice = session.get_invoice_by_payment_intent(scope, &payment.id)?;
        let passed_to_prepaid_minor = invoice_payment::credit_passed_to_prepaid_minor(&payment, invoice.as_ref());
        let asset = payment.credit_asset();
        let mut balances = session.balances_for_update(scope, &[asset])?;
        let (dispute, transaction) = dispute::open_dispute(
            &payment,
            existing.as_ref(),
            passed_to_prepaid_minor,
            &self.request,
            &mut balances,
            context.ids,
            context.now_ms,
        )?;
        match session.insert_dispute(&dispute) {
            // Another writer opened one meanwhile (a backend without SQLite's single writer).
            Err(StoreError::Conflict { .. }) => {
                return Err(EngineError::PaymentAlreadyDisputed {
                    payment_intent_id: payment.id.clone(),
                    dispute_id: "opened meanwhile".to_owned(),
                }
                .into());
            }
            other => other?,
        }
        session.post_ledger_transaction(scope, &transaction, context.now_ms)?;
        emit(session, context, &dispute, "charge.dispute.created")?;
        Ok(Applied::new(DisputeView::from_engine(&dispute), &dispute.id, vec![asset]))
    }
}
