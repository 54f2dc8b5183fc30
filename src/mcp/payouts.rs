//! Toolset `payouts`: money out, with maker-checker approval and spend limits.

use std::collections::BTreeMap;

use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};

use crate::engine::principal::Principal;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::write::Command;
use crate::engine::money::Network;
use crate::engine::payout::{Destination, NewPayout, PayoutStatus};
use crate::engine::rail::Rail;
use crate::limits;
use crate::mcp::HarepayServer;
use crate::mcp::common::{
    KeyRule, ListResult, MoneyInput, StrictInteger, ToolFailure, WriteCall, WriteResult, check_metadata,
    check_object_id, optional_text, page_request,
};
use crate::store::PayoutFilter;
use crate::views::PayoutView;

/// Tools only a checker (approver or admin key) may call.
pub const CHECKER_TOOLS: &[&str] = &["approve_payout", "reject_payout"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutRailInput {
    Rubies,
    Partna,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatusInput {
    PendingApproval,
    Pending,
    Processing,
    Paid,
    Failed,
    Canceled,
}

impl PayoutStatusInput {
    fn to_engine(self) -> PayoutStatus {
        match self {
            PayoutStatusInput::PendingApproval => PayoutStatus::PendingApproval,
            PayoutStatusInput::Pending => PayoutStatus::Pending,
            PayoutStatusInput::Processing => PayoutStatus::Processing,
            PayoutStatusInput::Paid => PayoutStatus::Paid,
            PayoutStatusInput::Failed => PayoutStatus::Failed,
            PayoutStatusInput::Canceled => PayoutStatus::Canceled,
        }
    }
}

/// A bank account or a crypto wallet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DestinationInput {
    /// A bank account: for NGN a 10-digit NUBAN and a 3–6 digit bank code.
    Bank {
        #[schemars(length(max = limits::BANK_ACCOUNT_NO_MAX_CHARS))]
        account_no: String,
        #[schemars(length(max = limits::BANK_CODE_MAX_CHARS))]
        bank_code: String,
        #[serde(default)]
        #[schemars(length(max = limits::BANK_ACCOUNT_NAME_MAX_CHARS))]
        account_name: Option<String>,
    },
    /// A wallet: TRON (T…), ETHEREUM or BASE (0x…), SOLANA (base58) or BITCOIN (bc1…).
    CryptoWallet {
        #[schemars(length(max = limits::CRYPTO_ADDRESS_MAX_CHARS))]
        address: String,
        #[schemars(length(max = limits::NETWORK_CODE_MAX_CHARS))]
        network: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayoutArgs {
    /// How much to send, e.g. {"amount": 485000, "currency": "NGN"} is ₦4,850.00; crypto
    /// amounts name no network here (the destination does).
    pub amount: MoneyInput,
    /// rubies or partna for bank payouts; partna for crypto.
    pub rail: PayoutRailInput,
    /// {"kind": "bank", "account_no": "0123456789", "bank_code": "058"} or
    /// {"kind": "crypto_wallet", "address": "T…", "network": "TRON"}.
    pub destination: DestinationInput,
    /// Shown to the recipient where the rail allows.
    #[serde(default)]
    #[schemars(length(max = limits::DESCRIPTION_MAX_CHARS))]
    pub description: Option<String>,
    /// String key-value pairs of your own.
    #[serde(default)]
    #[schemars(schema_with = "crate::mcp::common::metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// false (default): preview only (approval needed? balances after?). true: create it.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true; unique per payout. Retrying with it never pays twice.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}

impl CreatePayoutArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        let (amount, network) = self.amount.parse("amount")?;
        if network.is_some() {
            return Err(ToolFailure::invalid("amount.network", "payouts name the network in destination.network"));
        }
        let rail = match self.rail {
            PayoutRailInput::Rubies => Rail::Rubies,
            PayoutRailInput::Partna => Rail::Partna,
        };
        Ok(Command::CreatePayout(NewPayout {
            amount,
            rail,
            destination: parse_destination(&self.destination)?,
            description: optional_text(self.description.clone(), "description", limits::DESCRIPTION_MAX_CHARS)?,
            metadata: check_metadata(self.metadata.clone())?,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutIdArgs {
    /// The payout id, `po_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPayoutArgs {
    /// The payout to cancel, `po_…`; it must be pending or pending_approval.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: cancel and release the funds.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}

impl CancelPayoutArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        Ok(Command::CancelPayout { payout_id: check_object_id(&self.id, "po_", "id")? })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovePayoutArgs {
    /// The payout awaiting approval, `po_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// Why it is approved, for the audit log.
    #[serde(default)]
    #[schemars(length(max = limits::REASON_MAX_CHARS))]
    pub reason: Option<String>,
    /// false (default): preview only. true: approve; the payout goes to the rail.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}

impl ApprovePayoutArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        Ok(Command::ApprovePayout {
            payout_id: check_object_id(&self.id, "po_", "id")?,
            reason: optional_text(self.reason.clone(), "reason", limits::REASON_MAX_CHARS)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectPayoutArgs {
    /// The payout awaiting approval, `po_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// Why it is rejected (required; recorded and shown to the maker).
    #[schemars(length(max = limits::REASON_MAX_CHARS))]
    pub reason: String,
    /// false (default): preview only. true: reject; the payout is canceled, funds released.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}

impl RejectPayoutArgs {
    pub(crate) fn command(&self) -> Result<Command, ToolFailure> {
        let reason = optional_text(Some(self.reason.clone()), "reason", limits::REASON_MAX_CHARS)?
            .ok_or_else(|| ToolFailure::invalid("reason", "a rejection needs a reason"))?;
        Ok(Command::RejectPayout { payout_id: check_object_id(&self.id, "po_", "id")?, reason })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPayoutsArgs {
    /// Only payouts in this status.
    #[serde(default)]
    pub status: Option<PayoutStatusInput>,
    /// Page size, 1 to 100 (default 10).
    #[serde(default)]
    pub limit: Option<StrictInteger>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPendingApprovalsArgs {
    /// Page size, 1 to 100 (default 10).
    #[serde(default)]
    pub limit: Option<StrictInteger>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

fn parse_destination(input: &DestinationInput) -> Result<Destination, ToolFailure> {
    Ok(match input {
        DestinationInput::Bank { account_no, bank_code, account_name } => Destination::Bank {
            account_no: account_no.clone(),
            bank_code: bank_code.clone(),
            account_name: account_name.clone(),
        },
        DestinationInput::CryptoWallet { address, network } => Destination::CryptoWallet {
            address: address.clone(),
            network: Network::parse(network).ok_or_else(|| {
                ToolFailure::invalid(
                    "destination.network",
                    format!("unknown network {}; use TRON, ETHEREUM, SOLANA, BASE or BITCOIN", limits::echo(network)),
                )
            })?,
        },
    })
}

fn describe_payout(payout: &PayoutView, outcome: &str) -> String {
    let destination = match &payout.destination {
        crate::views::DestinationView::Bank { account_no, bank_code, .. } => {
            format!("bank {bank_code} account {account_no}")
        }
        crate::views::DestinationView::CryptoWallet { address, network } => format!("{network} wallet {address}"),
    };
    let verb = if outcome == "preview" { "Would pay out" } else { "Payout of" };
    let mut message =
        format!("{verb} {} to {destination} over {}: {}.", payout.amount.display, payout.rail, payout.status);
    if let Some(approval) = &payout.approval {
        let why = if approval.trigger == "structuring" {
            format!(
                "with your other payouts just under the {} threshold in the last 24 hours it reaches the threshold (a split payout)",
                approval.threshold.display
            )
        } else {
            format!("it meets the {} threshold", approval.threshold.display)
        };
        message.push_str(&format!(
            " approval_required: {why}, so another person with an approver key must approve it (approve_payout) before it is sent; the funds stay reserved until then or until it expires."
        ));
    }
    message
}

#[tool_router(router = payouts_tools, vis = "pub(crate)")]
impl HarepayServer {
    /// List payouts, newest first, optionally by status; page with limit and starting_after.
    #[tool(
        title = "List payouts",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_payouts(
        &self,
        Parameters(args): Parameters<ListPayoutsArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<ListResult<PayoutView>>, ToolFailure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let filter = PayoutFilter { status: args.status.map(PayoutStatusInput::to_engine) };
        let payouts = self.app().list_payouts(&principal, filter, page).await?;
        let data = payouts.items.iter().map(PayoutView::from_engine).collect();
        Ok(Json(ListResult::new(data, payouts.has_more, |payout: &PayoutView| payout.id.clone())))
    }

    /// Retrieve one payout: status, destination, who created it and, for large payouts, the
    /// approval (threshold, expiry, who decided and why).
    #[tool(
        title = "Get payout",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_payout(
        &self,
        Parameters(args): Parameters<PayoutIdArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<PayoutView>, ToolFailure> {
        let id = check_object_id(&args.id, "po_", "id")?;
        let payout = self.app().get_payout(&principal, id).await?;
        Ok(Json(PayoutView::from_engine(&payout)))
    }

    /// Payouts waiting for a second person's approval, newest first. Approver keys decide them
    /// with approve_payout or reject_payout.
    #[tool(
        title = "List pending approvals",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_pending_approvals(
        &self,
        Parameters(args): Parameters<ListPendingApprovalsArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<ListResult<PayoutView>>, ToolFailure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let filter = PayoutFilter { status: Some(PayoutStatus::PendingApproval) };
        let payouts = self.app().list_payouts(&principal, filter, page).await?;
        let data = payouts.items.iter().map(PayoutView::from_engine).collect();
        Ok(Json(ListResult::new(data, payouts.has_more, |payout: &PayoutView| payout.id.clone())))
    }

    /// Send money to a bank account or crypto wallet from the available balance. The amount is
    /// reserved at once, or the call fails with insufficient_funds and changes nothing. At or
    /// above its currency's approval threshold the payout waits in pending_approval for another
    /// person's approver key, as does a payout just under it that with the same person's other
    /// such payouts in 24 hours reaches it (a split); spend limits (per payout, per rolling day
    /// for the key's owner across their keys, per rolling day for the merchant) are enforced
    /// (limit_exceeded). Without confirm: true this previews whether approval is needed and the
    /// balances after; with it an idempotency_key is required.
    #[tool(
        title = "Create payout",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
    )]
    async fn create_payout(
        &self,
        Parameters(args): Parameters<CreatePayoutArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<PayoutView>>, ToolFailure> {
        let rule = KeyRule::Required;
        WriteCall::new(self, principal, "create_payout", &args, args.confirm, &args.idempotency_key, rule)
            .run(|_| args.command(), describe_payout)
            .await
    }

    /// Cancel a payout that the rail has not picked up yet (pending or pending_approval); its
    /// funds return to available. Without confirm: true this only previews.
    #[tool(
        title = "Cancel payout",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn cancel_payout(
        &self,
        Parameters(args): Parameters<CancelPayoutArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<PayoutView>>, ToolFailure> {
        let rule = KeyRule::Optional;
        WriteCall::new(self, principal, "cancel_payout", &args, args.confirm, &args.idempotency_key, rule)
            .run(
                |_| args.command(),
                |payout: &PayoutView, outcome| {
                    let verb = if outcome == "preview" { "Would cancel" } else { "Canceled" };
                    format!("{verb} {} ({}); the funds return to available.", payout.id, payout.amount.display)
                },
            )
            .await
    }

    /// Approver keys only: approve a payout awaiting approval; it goes to the rail. The approver
    /// must be a different person (key owner) than the maker. Without confirm: true this only
    /// previews; with it an idempotency_key is required.
    #[tool(
        title = "Approve payout",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
    )]
    async fn approve_payout(
        &self,
        Parameters(args): Parameters<ApprovePayoutArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<PayoutView>>, ToolFailure> {
        let rule = KeyRule::Required;
        WriteCall::new(self, principal, "approve_payout", &args, args.confirm, &args.idempotency_key, rule)
            .run(
                |_| args.command(),
                |payout: &PayoutView, outcome| {
                    let verb = if outcome == "preview" { "Would approve" } else { "Approved" };
                    format!(
                        "{verb} {} ({}, created by {}); it goes to the rail.",
                        payout.id, payout.amount.display, payout.created_by
                    )
                },
            )
            .await
    }

    /// Approver keys only: reject a payout awaiting approval, with a reason; it is canceled and
    /// its funds return to available. Without confirm: true this only previews; with it an
    /// idempotency_key is required.
    #[tool(
        title = "Reject payout",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn reject_payout(
        &self,
        Parameters(args): Parameters<RejectPayoutArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WriteResult<PayoutView>>, ToolFailure> {
        let rule = KeyRule::Required;
        WriteCall::new(self, principal, "reject_payout", &args, args.confirm, &args.idempotency_key, rule)
            .run(
                |_| args.command(),
                |payout: &PayoutView, outcome| {
                    let verb = if outcome == "preview" { "Would reject" } else { "Rejected" };
                    format!("{verb} {} ({}); the funds return to available.", payout.id, payout.amount.display)
                },
            )
            .await
    }
}
