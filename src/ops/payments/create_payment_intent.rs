//! `create_payment_intent`: a payment the payer completes through `next_action`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit};
use crate::app::WriteContext;
use crate::engine::payment::{self, NewPaymentIntent};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, MoneyInput, check_metadata, optional_text, parse_asset};
use crate::ops::payments::{MethodInput, RailInput, SettleAsInput};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::PaymentIntentView;

pub const ENTRY: Entry = Entry::write::<CreatePaymentIntent>();

pub struct CreatePaymentIntent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentIntentArgs {
    /// What the payer pays, e.g. {"amount": 1000000, "currency": "NGN"} for ₦10,000.00, or
    /// {"amount": 100000000, "currency": "USDC", "network": "TRON"} for 100 USDC.
    pub amount: MoneyInput,
    /// card (rail card), bank_transfer (rail rubies or partna) or crypto (rail partna).
    pub method: MethodInput,
    /// The processor.
    pub rail: RailInput,
    /// Crypto only: credit this fiat currency instead, at a rate locked now.
    #[serde(default)]
    pub settle_as: Option<SettleAsInput>,
    /// Your reference for the payer.
    #[serde(default)]
    #[schemars(length(max = limits::CUSTOMER_MAX_CHARS))]
    pub customer: Option<String>,
    /// Shown on statements and in lists.
    #[serde(default)]
    #[schemars(length(max = limits::DESCRIPTION_MAX_CHARS))]
    pub description: Option<String>,
    /// String key-value pairs of your own.
    #[serde(default)]
    #[schemars(schema_with = "crate::ops::args::metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// Expires unless paid in full within this many ms; omit: never.
    #[serde(default)]
    #[schemars(range(min = limits::PAYMENT_INTENT_EXPIRY_MIN_MS, max = limits::PAYMENT_INTENT_EXPIRY_MAX_MS))]
    pub expires_in_ms: Option<i64>,
    /// false (default): preview only, nothing is saved. true: create it.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true; unique per payment, e.g. "order-1001". A retry with the
    /// same key and arguments returns the first result, not a second payment.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreatePaymentIntentArgs);

pub struct CreatePaymentIntentCommand(pub NewPaymentIntent);

impl WriteOperation for CreatePaymentIntent {
    const SPEC: Spec = Spec {
        name: "create_payment_intent",
        toolset: Toolset::Payments,
        title: "Create payment intent",
        description: "Create a payment intent; the payer gets next_action (a virtual bank account, a crypto deposit address or a card checkout URL). To take crypto and credit naira: a crypto amount with its network, method crypto, rail partna, settle_as {\"currency\": \"NGN\"}. Previews the fee and what the merchant would receive unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: false, idempotent: true, open_world: true },
        examples: &[r#"{"amount": {"amount": 1000000, "currency": "NGN"}, "method": "bank_transfer", "rail": "rubies", "customer": "cus_1", "description": "Order 1001", "metadata": {"order": "1001"}, "confirm": true, "idempotency_key": "order-1001"}"#, r#"{"amount": {"amount": 100000000, "currency": "USDC", "network": "TRON"}, "method": "crypto", "rail": "partna", "settle_as": {"currency": "NGN"}}"#],
    };
    type Args = CreatePaymentIntentArgs;
    type Command = CreatePaymentIntentCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id", "/next_action"];

    fn command(args: &CreatePaymentIntentArgs) -> Result<CreatePaymentIntentCommand, Failure> {
        let (amount, network) = args.amount.parse("amount")?;
        let settle_as = match &args.settle_as {
            None => None,
            Some(settle_as) => {
                if settle_as.amount.is_some_and(|amount| amount != 0) {
                    return Err(Failure::invalid(
                        "settle_as.amount",
                        "settle_as.amount must be omitted or 0: the credited amount comes from the locked rate",
                    ));
                }
                Some(parse_asset(&settle_as.currency, "settle_as.currency")?)
            }
        };
        Ok(CreatePaymentIntentCommand(NewPaymentIntent {
            amount,
            network,
            method: args.method.to_engine(),
            rail: args.rail.to_engine(),
            settle_as,
            customer: optional_text(args.customer.clone(), "customer", limits::CUSTOMER_MAX_CHARS)?,
            description: optional_text(args.description.clone(), "description", limits::DESCRIPTION_MAX_CHARS)?,
            metadata: check_metadata(args.metadata.clone())?,
            expires_in_ms: check_expires_in_ms(args.expires_in_ms)?,
        }))
    }

    fn describe(command: &CreatePaymentIntentCommand) -> String {
        let expiry = match command.0.expires_in_ms {
            Some(expires_in_ms) => format!(", expiring after {expires_in_ms} ms"),
            None => String::new(),
        };
        let request = &command.0;
        format!(
            "create {} {} payment of {} on {}{expiry}",
            request.amount.asset.code,
            request.method.code(),
            request.amount.display(),
            request.rail.code()
        )
    }

    fn message(payment: &PaymentIntentView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would create" } else { "Created" };
        let credited = match &payment.settlement {
            Some(settlement) => {
                format!("{} credited as {} at {}", payment.amount.display, settlement.amount.display, settlement.rate)
            }
            None => payment.amount.display.clone(),
        };
        let expiry = match payment.expires_at_ms {
            Some(expires_at_ms) => format!(" Unless paid in full it expires at {expires_at_ms} (Unix ms)."),
            None => String::new(),
        };
        format!(
            "{verb} a {} payment of {credited} on {} ({}). On success the merchant receives {} after a {} fee.{expiry}",
            payment.method, payment.rail, payment.status, payment.net.display, payment.fee.display
        )
    }
}

/// The engine checks the range too; checking it here refuses a bad value before the writer.
fn check_expires_in_ms(expires_in_ms: Option<i64>) -> Result<Option<i64>, Failure> {
    let allowed = limits::PAYMENT_INTENT_EXPIRY_MIN_MS..=limits::PAYMENT_INTENT_EXPIRY_MAX_MS;
    match expires_in_ms {
        Some(value) if !allowed.contains(&value) => Err(Failure::invalid(
            "expires_in_ms",
            format!(
                "expires_in_ms must be from {} (1 second) to {} (30 days), got {value}",
                allowed.start(),
                allowed.end()
            ),
        )),
        other => Ok(other),
    }
}

impl WriteCommand for CreatePaymentIntentCommand {
    type View = PaymentIntentView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PaymentIntentView>, AppError> {
        let id = context.ids.next_id("pi");
        let payment = payment::create_payment_intent(&actor.scope, self.0.clone(), context.rules, id, context.now_ms)?;
        session.insert_payment(&payment)?;
        emit(session, context, &payment, "payment_intent.created")?;
        Ok(Applied::new(PaymentIntentView::from_engine(&payment), &payment.id, vec![payment.credit_asset()]))
    }
}
