//! `pay_invoice`: the payment intent that collects an invoice, and its payment instructions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::invoices::collect_invoice;
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::invoice_payment::InvoicePaymentRequest;
use crate::engine::money::Network;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id, parse_asset};
use crate::ops::payments::{MethodInput, RailInput};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::{InvoicePaymentView, InvoiceView, PaymentIntentView};

pub const ENTRY: Entry = Entry::write::<PayInvoice>();

pub struct PayInvoice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayInvoiceArgs {
    /// The open invoice, `inv_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// card (rail card), bank_transfer (rail rubies or partna) or crypto (rail partna).
    pub method: MethodInput,
    pub rail: RailInput,
    /// Crypto for a fiat invoice: USDC, USDT or BTC, credited at a rate locked now.
    #[serde(default)]
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub pay_currency: Option<String>,
    /// Crypto: TRON, ETHEREUM, SOLANA, BASE or BITCOIN.
    #[serde(default)]
    #[schemars(length(max = limits::NETWORK_CODE_MAX_CHARS))]
    pub network: Option<String>,
    /// false (default): preview only. true: create (or return) the payment intent.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(PayInvoiceArgs);

pub struct PayInvoiceCommand {
    pub invoice_id: String,
    pub request: InvoicePaymentRequest,
}

impl WriteOperation for PayInvoice {
    const SPEC: Spec = Spec {
        name: "pay_invoice",
        toolset: Toolset::Invoices,
        title: "Pay invoice",
        description: "Collect an open invoice: a payment intent for amount_remaining (any method/rail of create_payment_intent; crypto for a naira invoice: method crypto, rail partna, pay_currency, network) whose next_action you hand the payer. A live intent is returned, never a second. Receipts leave the invoice partly paid, paid or overpaid (excess credited to prepaid). Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: false, idempotent: true, open_world: true },
        examples: &[
            r#"{"id": "inv_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "method": "bank_transfer", "rail": "rubies", "confirm": true, "idempotency_key": "pay-inv-1001"}"#,
            r#"{"id": "inv_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "method": "crypto", "rail": "partna", "pay_currency": "USDC", "network": "TRON"}"#,
        ],
    };
    type Args = PayInvoiceArgs;
    type Command = PayInvoiceCommand;

    const PREVIEW_OMITS: &'static [&'static str] =
        &["/payment_intent_id", "/next_action", "/invoice/payment_intent_id"];

    fn command(args: &PayInvoiceArgs) -> Result<PayInvoiceCommand, Failure> {
        let pay_currency = match &args.pay_currency {
            Some(code) => Some(parse_asset(code, "pay_currency")?),
            None => None,
        };
        let network = match &args.network {
            Some(code) => Some(Network::parse(code).ok_or_else(|| {
                Failure::invalid(
                    "network",
                    format!("unknown network {}; use TRON, ETHEREUM, SOLANA, BASE or BITCOIN", limits::echo(code)),
                )
            })?),
            None => None,
        };
        Ok(PayInvoiceCommand {
            invoice_id: check_object_id(&args.id, "inv_", "id")?,
            request: InvoicePaymentRequest {
                method: args.method.to_engine(),
                rail: args.rail.to_engine(),
                pay_currency,
                network,
            },
        })
    }

    fn describe(command: &PayInvoiceCommand) -> String {
        let request = &command.request;
        let paid_in = request.pay_currency.map(|asset| format!(" in {}", asset.code)).unwrap_or_default();
        format!("collect {} by {} on {}{paid_in}", command.invoice_id, request.method.code(), request.rail.code())
    }

    fn message(payment: &InvoicePaymentView, outcome: Outcome) -> String {
        let verb = match (outcome, payment.existing_intent) {
            (Outcome::Preview, false) => "Would create",
            (Outcome::Preview, true) | (_, true) => "Returning the live",
            (_, false) => "Created",
        };
        let credited = match &payment.settlement {
            Some(settlement) => format!(", credited as {}", settlement.amount.display),
            None => String::new(),
        };
        format!(
            "{verb} payment intent for invoice {}: the payer sends {}{credited} ({}); hand them next_action. The invoice is paid when it is received; a smaller receipt leaves it open with amount_remaining.",
            payment.invoice.id, payment.amount.display, payment.payment_status
        )
    }
}

impl WriteCommand for PayInvoiceCommand {
    type View = InvoicePaymentView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<InvoicePaymentView>, AppError> {
        let (invoice, intent, existing_intent) =
            collect_invoice(session, context, &actor.scope, &self.invoice_id, self.request.clone())?;
        let intent_view = PaymentIntentView::from_engine(&intent);
        let view = InvoicePaymentView {
            invoice: InvoiceView::at(&invoice, context.now_ms),
            payment_intent_id: intent_view.id,
            payment_status: intent_view.status,
            amount: intent_view.amount,
            settlement: intent_view.settlement,
            next_action: intent_view.next_action,
            existing_intent,
        };
        Ok(Applied::new(view, &invoice.id, vec![intent.credit_asset()]))
    }
}
