//! `refund_payment`: give money back from a succeeded payment.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::transitions::load_payment_for_update;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::dispute::{refund_beside_dispute, refundable_beside_dispute_minor};
use crate::engine::invoice_payment;
use crate::engine::ledger::AccountKind;
use crate::engine::payment;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, StrictInteger, check_object_id, optional_text};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::{PaymentIntentView, RefundResultView, RefundView};

pub const ENTRY: Entry = Entry::write::<RefundPayment>();

pub struct RefundPayment;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundPaymentArgs {
    /// The succeeded payment intent to refund, `pi_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// Minor units of the credited currency to refund; omit to refund all that remains.
    #[serde(default)]
    pub amount: Option<StrictInteger>,
    /// Why, for the audit log and the payer.
    #[serde(default)]
    #[schemars(length(max = limits::REASON_MAX_CHARS))]
    pub reason: Option<String>,
    /// false (default): preview only. true: refund.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true; unique per refund.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(RefundPaymentArgs);

pub struct RefundPaymentCommand {
    pub payment_intent_id: String,
    /// `None`: all that remains refundable.
    pub amount_minor: Option<i64>,
    pub reason: Option<String>,
}

impl WriteOperation for RefundPayment {
    const SPEC: Spec = Spec {
        name: "refund_payment",
        toolset: Toolset::Payments,
        title: "Refund payment",
        description: "Refund a succeeded payment, fully or partly, from the available balance (or fail with insufficient_funds, changing nothing). Refunds never exceed what was credited less what a dispute or invoice prepaid credit holds (amount_refundable); fees are not returned. Previews the balance change unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: true },
        examples: &[r#"{"id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "amount": 500, "reason": "damaged", "confirm": true, "idempotency_key": "refund-1001"}"#],
    };
    type Args = RefundPaymentArgs;
    type Command = RefundPaymentCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/refund/id"];

    fn command(args: &RefundPaymentArgs) -> Result<RefundPaymentCommand, Failure> {
        let amount_minor = match &args.amount {
            None => None,
            Some(amount) => Some(amount.amount_minor("amount")?),
        };
        Ok(RefundPaymentCommand {
            payment_intent_id: check_object_id(&args.id, "pi_", "id")?,
            amount_minor,
            reason: optional_text(args.reason.clone(), "reason", limits::REASON_MAX_CHARS)?,
        })
    }

    fn describe(command: &RefundPaymentCommand) -> String {
        match command.amount_minor {
            Some(amount_minor) => format!("refund {amount_minor} minor units of {}", command.payment_intent_id),
            None => format!("refund the rest of {}", command.payment_intent_id),
        }
    }

    fn message(result: &RefundResultView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would refund" } else { "Refunded" };
        format!(
            "{verb} {} of {}; {} remains refundable.",
            result.refund.amount.display, result.payment_intent.id, result.payment_intent.amount_refundable.display
        )
    }
}

impl WriteCommand for RefundPaymentCommand {
    type View = RefundResultView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<RefundResultView>, AppError> {
        let scope = &actor.scope;
        let payment = load_payment_for_update(session, scope, &self.payment_intent_id)?;
        // A disputed amount is the payer's bank's to give back, never a refund's as well.
        let dispute = session.get_dispute_for_payment_for_update(scope, &payment.id)?;
        let invoice = session.get_invoice_by_payment_intent(scope, &payment.id)?;
        let passed_to_prepaid_minor = invoice_payment::credit_passed_to_prepaid_minor(&payment, invoice.as_ref());
        let amount_minor =
            refund_beside_dispute(&payment, dispute.as_ref(), passed_to_prepaid_minor, self.amount_minor)?;
        let mut balances = session.balances_for_update(scope, &[payment.credit_asset()])?;
        let (payment, refund, transaction) = payment::refund_payment(
            &payment,
            amount_minor,
            self.reason.clone(),
            &mut balances,
            context.ids,
            context.now_ms,
        )?;
        session.insert_refund(&refund)?;
        session.update_payment(&payment)?;
        session.post_ledger_transaction(scope, &transaction, context.now_ms)?;
        let available_minor = balances.get(AccountKind::Available, payment.credit_asset());
        let refundable_minor = refundable_beside_dispute_minor(&payment, dispute.as_ref(), passed_to_prepaid_minor);
        let result = RefundResultView {
            refund: RefundView::from_engine(&refund),
            payment_intent: PaymentIntentView::now(&payment, refundable_minor, available_minor),
        };
        let payload = serde_json::to_string(&result.refund).expect("views serialize");
        emit_json(session, context, scope, "charge.refunded", &refund.id, payload)?;
        Ok(Applied::new(result, &refund.id, vec![payment.credit_asset()]))
    }
}
