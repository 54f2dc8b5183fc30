//! Toolset `payments`: payment intents and refunds.

use std::collections::BTreeMap;

use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};

use crate::engine::principal::Principal;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::write::{Command, SimulatedOutcome};
use crate::engine::payment::{NewPaymentIntent, PaymentMethod, PaymentStatus};
use crate::engine::rail::Rail;
use crate::limits;
use crate::mcp::HarepayServer;
use crate::mcp::common::{
    KeyRule, ListResult, MoneyInput, StrictInteger, ToolFailure, WriteCall, WriteResult, check_metadata,
    check_object_id, optional_text, page_request, parse_asset,
};
use crate::store::{PageRequest, PaymentFilter};
use crate::views::{PaymentIntentView, RefundResultView, RefundView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodInput {
    Card,
    BankTransfer,
    Crypto,
}

impl MethodInput {
    fn to_engine(self) -> PaymentMethod {
        match self {
            MethodInput::Card => PaymentMethod::Card,
            MethodInput::BankTransfer => PaymentMethod::BankTransfer,
            MethodInput::Crypto => PaymentMethod::Crypto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RailInput {
    Rubies,
    Partna,
    Card,
}

impl RailInput {
    fn to_engine(self) -> Rail {
        match self {
            RailInput::Rubies => Rail::Rubies,
            RailInput::Partna => Rail::Partna,
            RailInput::Card => Rail::Card,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatusInput {
    RequiresAction,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

impl PaymentStatusInput {
    fn to_engine(self) -> PaymentStatus {
        match self {
            PaymentStatusInput::RequiresAction => PaymentStatus::RequiresAction,
            PaymentStatusInput::Processing => PaymentStatus::Processing,
            PaymentStatusInput::Succeeded => PaymentStatus::Succeeded,
            PaymentStatusInput::Failed => PaymentStatus::Failed,
            PaymentStatusInput::Canceled => PaymentStatus::Canceled,
        }
    }
}

/// Crypto in, fiat credited at a rate locked now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleAsInput {
    /// The currency to credit, e.g. "NGN".
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub currency: String,
    /// Accepted for compatibility with the REST SDK, which sends 0; the credited amount always
    /// comes from the locked rate. Any other value is refused.
    #[serde(default)]
    pub amount: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPaymentsArgs {
    /// Only payments in this status.
    #[serde(default)]
    pub status: Option<PaymentStatusInput>,
    /// Only payments of this customer reference.
    #[serde(default)]
    #[schemars(length(max = limits::CUSTOMER_MAX_CHARS))]
    pub customer: Option<String>,
    /// Only payments created at or after this time (Unix milliseconds).
    #[serde(default)]
    pub created_gte_ms: Option<i64>,
    /// Only payments created before this time (Unix milliseconds).
    #[serde(default)]
    pub created_lt_ms: Option<i64>,
    /// Page size, 1 to 100 (default 10).
    #[serde(default)]
    pub limit: Option<StrictInteger>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ListPaymentsArgs {
    pub(crate) fn query(&self) -> Result<(PaymentFilter, PageRequest), ToolFailure> {
        let page = page_request(&self.limit, &self.starting_after)?;
        let filter = PaymentFilter {
            status: self.status.map(PaymentStatusInput::to_engine),
            customer: optional_text(self.customer.clone(), "customer", limits::CUSTOMER_MAX_CHARS)?,
            created_gte_ms: self.created_gte_ms,
            created_lt_ms: self.created_lt_ms,
        };
        Ok((filter, page))
    }
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentIntentArgs {
    /// What the payer pays, e.g. {"amount": 1000000, "currency": "NGN"} for ₦10,000.00, or
    /// {"amount": 100000000, "currency": "USDC", "network": "TRON"} for 100 USDC.
    pub amount: MoneyInput,
    /// card (rail card), bank_transfer (rail rubies or partna) or crypto (rail partna).
    pub method: MethodInput,
    /// The processor: rubies, partna or card.
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
    #[schemars(schema_with = "crate::mcp::common::metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// false (default): preview only, nothing is saved. true: create it.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true. A unique string per operation (e.g. "order-1001"); retrying
    /// with the same key and arguments returns the first result instead of a second payment.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}

impl CreatePaymentIntentArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        let (amount, network) = self.amount.parse("amount")?;
        let settle_as = match &self.settle_as {
            None => None,
            Some(settle_as) => {
                if settle_as.amount.is_some_and(|amount| amount != 0) {
                    return Err(ToolFailure::invalid(
                        "settle_as.amount",
                        "settle_as.amount must be omitted or 0: the credited amount comes from the locked rate",
                    ));
                }
                Some(parse_asset(&settle_as.currency, "settle_as.currency")?)
            }
        };
        Ok(Command::CreatePaymentIntent(NewPaymentIntent {
            amount,
            network,
            method: self.method.to_engine(),
            rail: self.rail.to_engine(),
            settle_as,
            customer: optional_text(self.customer.clone(), "customer", limits::CUSTOMER_MAX_CHARS)?,
            description: optional_text(self.description.clone(), "description", limits::DESCRIPTION_MAX_CHARS)?,
            metadata: check_metadata(self.metadata.clone())?,
        }))
    }
}

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

impl RefundPaymentArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        let amount_minor = match &self.amount {
            None => None,
            Some(amount) => Some(amount.amount_minor("amount")?),
        };
        Ok(Command::RefundPayment {
            payment_intent_id: check_object_id(&self.id, "pi_", "id")?,
            amount_minor,
            reason: optional_text(self.reason.clone(), "reason", limits::REASON_MAX_CHARS)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPaymentIntentArgs {
    /// The payment intent to cancel, `pi_…`; it must still be requires_action.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: cancel.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: canceling moves no money, but a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}

impl CancelPaymentIntentArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        Ok(Command::CancelPaymentIntent { payment_intent_id: check_object_id(&self.id, "pi_", "id")? })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedOutcomeInput {
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
    pub outcome: SimulatedOutcomeInput,
    /// false (default): preview only. true: apply.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}

impl SimulatePaymentArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        let outcome = match self.outcome {
            SimulatedOutcomeInput::Succeeded => SimulatedOutcome::Succeeded,
            SimulatedOutcomeInput::Failed => SimulatedOutcome::Failed,
        };
        Ok(Command::SimulatePayment { payment_intent_id: check_object_id(&self.id, "pi_", "id")?, outcome })
    }
}

fn describe_payment(payment: &PaymentIntentView, outcome: &str) -> String {
    let verb = if outcome == "preview" { "Would create" } else { "Created" };
    let credited = match &payment.settlement {
        Some(settlement) => {
            format!("{} credited as {} at {}", payment.amount.display, settlement.amount.display, settlement.rate)
        }
        None => payment.amount.display.clone(),
    };
    format!(
        "{verb} a {} payment of {credited} on {} ({}). On success the merchant receives {} after a {} fee.",
        payment.method, payment.rail, payment.status, payment.net.display, payment.fee.display
    )
}

#[tool_router(router = payments_tools, vis = "pub(crate)")]
impl HarepayServer {
    /// List payment intents, newest first. Filter by status, customer or creation time; page
    /// with limit and starting_after.
    #[tool(
        title = "List payments",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_payments(
        &self,
        Parameters(args): Parameters<ListPaymentsArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<ListResult<PaymentIntentView>>, ToolFailure> {
        let (filter, page) = args.query()?;
        let payments = self.app().list_payments(&principal, filter, page).await?;
        let data = payments.items.iter().map(PaymentIntentView::from_engine).collect();
        Ok(Json(ListResult::new(data, payments.has_more, |payment: &PaymentIntentView| payment.id.clone())))
    }

    /// Retrieve one payment intent with its refunds.
    #[tool(
        title = "Get payment",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_payment(
        &self,
        Parameters(args): Parameters<GetPaymentArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<PaymentDetails>, ToolFailure> {
        let id = check_object_id(&args.id, "pi_", "id")?;
        let (payment, refunds) = self.app().get_payment(&principal, id).await?;
        Ok(Json(PaymentDetails {
            payment_intent: PaymentIntentView::from_engine(&payment),
            refunds: refunds.iter().map(RefundView::from_engine).collect(),
        }))
    }

    /// Create a payment intent: the payer gets next_action (a virtual bank account, a crypto
    /// deposit address, or a card checkout URL). Without confirm: true this only previews the
    /// fee and what the merchant would receive. With confirm: true an idempotency_key is
    /// required. To accept crypto and credit naira, send a crypto amount with a network,
    /// method crypto, rail partna and settle_as {"currency": "NGN"}.
    #[tool(
        title = "Create payment intent",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn create_payment_intent(
        &self,
        Parameters(args): Parameters<CreatePaymentIntentArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<PaymentIntentView>>, ToolFailure> {
        let rule = KeyRule::Required;
        WriteCall::new(self, principal, "create_payment_intent", &args, args.confirm, &args.idempotency_key, rule)
            .run(|_| args.command(), describe_payment)
            .await
    }

    /// Refund a succeeded payment, fully or partly, from the merchant's available balance.
    /// Repeated partial refunds never exceed what was credited; insufficient available balance
    /// is refused with insufficient_funds and changes nothing. Fees are not returned. Without
    /// confirm: true this previews the balance change; with it an idempotency_key is required.
    #[tool(
        title = "Refund payment",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
    )]
    async fn refund_payment(
        &self,
        Parameters(args): Parameters<RefundPaymentArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<RefundResultView>>, ToolFailure> {
        let rule = KeyRule::Required;
        WriteCall::new(self, principal, "refund_payment", &args, args.confirm, &args.idempotency_key, rule)
            .run(
                |_| args.command(),
                |result: &RefundResultView, outcome| {
                    let verb = if outcome == "preview" { "Would refund" } else { "Refunded" };
                    format!(
                        "{verb} {} of {}; {} remains refundable.",
                        result.refund.amount.display,
                        result.payment_intent.id,
                        result.payment_intent.amount_refundable.display
                    )
                },
            )
            .await
    }

    /// Cancel a payment intent that is still waiting for the payer (requires_action). No money
    /// has moved, so nothing is reversed. Without confirm: true this only previews.
    #[tool(
        title = "Cancel payment intent",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn cancel_payment_intent(
        &self,
        Parameters(args): Parameters<CancelPaymentIntentArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<PaymentIntentView>>, ToolFailure> {
        let rule = KeyRule::Optional;
        WriteCall::new(self, principal, "cancel_payment_intent", &args, args.confirm, &args.idempotency_key, rule)
            .run(
                |_| args.command(),
                |payment: &PaymentIntentView, outcome| {
                    let verb = if outcome == "preview" { "Would cancel" } else { "Canceled" };
                    format!("{verb} {} ({}).", payment.id, payment.amount.display)
                },
            )
            .await
    }

    /// Test mode only: force a payment to succeed or fail now instead of waiting for the
    /// simulator. succeeded credits the merchant (available, less fees); failed returns any
    /// pending funds. Without confirm: true this previews the balance change.
    #[tool(
        title = "Simulate payment outcome (test mode)",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn simulate_payment(
        &self,
        Parameters(args): Parameters<SimulatePaymentArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<PaymentIntentView>>, ToolFailure> {
        let rule = KeyRule::Required;
        WriteCall::new(self, principal, "simulate_payment", &args, args.confirm, &args.idempotency_key, rule)
            .run(
                |_| args.command(),
                |payment: &PaymentIntentView, outcome| {
                    let verb = if outcome == "preview" { "Would mark" } else { "Marked" };
                    format!("{verb} {} as {}.", payment.id, payment.status)
                },
            )
            .await
    }
}
