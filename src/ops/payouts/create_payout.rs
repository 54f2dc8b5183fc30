//! `create_payout`: money out to a bank account or a wallet, reserved at once; maker-checker
//! approval at or above the threshold (and for a payout split just under it), spend limits per
//! person and per merchant.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::money::{Money, Network};
use crate::engine::rail::Rail;
use crate::engine::rules::PaymentRules;
use crate::engine::payout::{self, Destination, NewPayout, Payout, SpendLimit, SpendSoFar};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, MoneyInput, check_metadata, optional_text};
use crate::ops::payouts::payout_applied;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::{DestinationView, PayoutView};

pub const ENTRY: Entry = Entry::write::<CreatePayout>();

pub struct CreatePayout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutRailInput {
    Rubies,
    Partna,
}

/// A bank account or a crypto wallet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    expecting = r#"an object with a kind, "bank" or "crypto_wallet""#
)]
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
    /// How much, e.g. {"amount": 485000, "currency": "NGN"} for ₦4,850.00; a crypto amount
    /// names its network in destination, not here.
    pub amount: MoneyInput,
    /// rubies or partna for bank payouts; partna for crypto.
    pub rail: PayoutRailInput,
    /// A bank account, e.g. {"kind": "bank", "account_no": "0123456789", "bank_code": "058"}, or a
    /// crypto wallet.
    pub destination: DestinationInput,
    /// Shown to the recipient where the rail allows.
    #[serde(default)]
    #[schemars(length(max = limits::DESCRIPTION_MAX_CHARS))]
    pub description: Option<String>,
    /// String key-value pairs of your own.
    #[serde(default)]
    #[schemars(schema_with = "crate::ops::args::metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// true: create it. Otherwise a preview: approval needed? balances after?
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true; unique per payout. Retrying with it never pays twice.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreatePayoutArgs);

pub struct CreatePayoutCommand(pub NewPayout);

fn parse_destination(input: &DestinationInput) -> Result<Destination, Failure> {
    Ok(match input {
        DestinationInput::Bank { account_no, bank_code, account_name } => Destination::Bank {
            account_no: account_no.clone(),
            bank_code: bank_code.clone(),
            account_name: account_name.clone(),
        },
        DestinationInput::CryptoWallet { address, network } => Destination::CryptoWallet {
            address: address.clone(),
            network: Network::parse(network).ok_or_else(|| {
                Failure::invalid(
                    "destination.network",
                    format!("unknown network {}; use TRON, ETHEREUM, SOLANA, BASE or BITCOIN", limits::echo(network)),
                )
            })?,
        },
    })
}

impl WriteOperation for CreatePayout {
    const SPEC: Spec = Spec {
        name: "create_payout",
        toolset: Toolset::Payouts,
        title: "Create payout",
        description: "Send money from the available balance to a bank account or crypto wallet. The amount is reserved at once, or the call fails with insufficient_funds and changes nothing. A payout at or above its currency's approval threshold (whoami), or one that reaches it with the same person's payouts of the last 24 hours, waits in pending_approval for another person's approver key. Spend limits apply (limit_exceeded). Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: true },
        examples: &[r#"{"amount": {"amount": 485000, "currency": "NGN"}, "rail": "rubies", "destination": {"kind": "bank", "account_no": "0123456789", "bank_code": "058", "account_name": "Ada Obi"}, "description": "Rent", "metadata": {"month": "May"}, "confirm": true, "idempotency_key": "payout-2001"}"#, r#"{"amount": {"amount": 5000000, "currency": "USDC"}, "rail": "partna", "destination": {"kind": "crypto_wallet", "address": "TAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "network": "TRON"}}"#],
    };
    type Args = CreatePayoutArgs;
    type Command = CreatePayoutCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &CreatePayoutArgs) -> Result<CreatePayoutCommand, Failure> {
        let (amount, network) = args.amount.parse("amount")?;
        if network.is_some() {
            return Err(Failure::invalid("amount.network", "payouts name the network in destination.network"));
        }
        let rail = match args.rail {
            PayoutRailInput::Rubies => Rail::Rubies,
            PayoutRailInput::Partna => Rail::Partna,
        };
        Ok(CreatePayoutCommand(NewPayout {
            amount,
            rail,
            destination: parse_destination(&args.destination)?,
            description: optional_text(args.description.clone(), "description", limits::DESCRIPTION_MAX_CHARS)?,
            metadata: check_metadata(args.metadata.clone())?,
        }))
    }

    fn describe(command: &CreatePayoutCommand) -> String {
        let request = &command.0;
        format!(
            "pay out {} over {} to {}",
            request.amount.display(),
            request.rail.code(),
            request.destination.describe()
        )
    }

    fn message(payout: &PayoutView, outcome: Outcome) -> String {
        let destination = match &payout.destination {
            DestinationView::Bank { account_no, bank_code, .. } => format!("bank {bank_code} account {account_no}"),
            DestinationView::CryptoWallet { address, network } => format!("{network} wallet {address}"),
        };
        let verb = if outcome == Outcome::Preview { "Would pay out" } else { "Payout of" };
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
}

impl WriteCommand for CreatePayoutCommand {
    type View = PayoutView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PayoutView>, AppError> {
        let request = &self.0;
        let scope = &actor.scope;
        // The balance lock first: on a shared backend it is what keeps the spend sums below from
        // changing under this decision.
        let mut balances = session.balances_for_update(scope, &[request.amount.asset])?;
        let (limit, spent) = load_payout_history(session, context.rules, actor, request.amount, context.now_ms)?;
        let created = payout::create_payout(
            actor,
            request.clone(),
            &context.rules.approvals,
            limit,
            spent,
            &mut balances,
            context.ids,
            context.now_ms,
            context.rules.test_auto_settle_after_ms,
        )?;
        session.insert_payout(&created.payout)?;
        session.post_ledger_transaction(scope, &created.reservation, context.now_ms)?;
        // The events carry the payout exactly as the caller gets it: serialized once.
        let mut applied = payout_applied(&created.payout);
        applied.audit_note = structuring_note(&created.payout, actor, spent);
        let payout_id = &created.payout.id;
        emit_json(session, context, scope, "payout.created", payout_id, applied.view_json.clone())?;
        if created.approval_required {
            emit_json(session, context, scope, "payout.pending_approval", payout_id, applied.view_json.clone())?;
        }
        Ok(applied)
    }
}

/// What the payout rules need to know about recent payouts, loading only what applies: a
/// person's spend only under a daily limit, the merchant's only under a merchant limit, the
/// person's payouts just under the threshold only when this one is too.
fn load_payout_history(
    session: &mut dyn StoreWrite,
    rules: &PaymentRules,
    actor: &Principal,
    amount: Money,
    now_ms: i64,
) -> Result<(SpendLimit, SpendSoFar), AppError> {
    let asset = amount.asset;
    let scope = &actor.scope;
    let owner_skeleton = &actor.owner_skeleton;
    let since_ms = now_ms - crate::limits::SPEND_LIMIT_WINDOW_MS;
    let limit = session
        .owner_spend_limits(scope, owner_skeleton)?
        .into_iter()
        .find(|(limited_asset, _)| limited_asset.code == asset.code)
        .map(|(_, limit)| limit)
        .unwrap_or_default();
    let mut spent = SpendSoFar::default();
    if limit.max_per_day_minor.is_some() {
        let (_, total_minor) =
            session.owner_payout_spend_since_for_update(scope, owner_skeleton, asset, since_ms, 1..i64::MAX)?;
        spent.owner_last_24h_minor = total_minor;
    }
    if rules.approvals.merchant_max_per_day_minor(asset).is_some() {
        spent.merchant_last_24h_minor = session.merchant_payout_spend_since_for_update(scope, asset, since_ms)?;
    }
    if let Some(threshold_minor) = rules.approvals.threshold_minor(asset)
        && rules.approvals.is_just_under_threshold(amount)
    {
        let band_floor_minor =
            i64::try_from(i128::from(threshold_minor) * i128::from(crate::limits::STRUCTURING_BAND_PERCENT) / 100)
                .unwrap_or(threshold_minor);
        let (count, total_minor) = session.owner_payout_spend_since_for_update(
            scope,
            owner_skeleton,
            asset,
            since_ms,
            band_floor_minor..threshold_minor,
        )?;
        spent.owner_just_under_count = count;
        spent.owner_just_under_minor = total_minor;
    }
    Ok((limit, spent))
}

/// The audit log's words for a payout held because it completes a split just under the
/// threshold, so that the checker sees the parts, not only this one.
fn structuring_note(payout: &Payout, actor: &Principal, spent: SpendSoFar) -> Option<String> {
    let approval = payout.approval.as_ref().filter(|a| a.trigger == payout::ApprovalTrigger::Structuring)?;
    let asset = payout.amount.asset;
    let total_minor = spent.owner_just_under_minor.saturating_add(payout.amount.amount_minor);
    Some(format!(
        "structuring suspected: {} payouts just under the {} approval threshold by {} in 24 hours total {}; this one waits for approval",
        spent.owner_just_under_count.saturating_add(1),
        asset.display(approval.threshold_minor),
        actor.owner,
        asset.display(total_minor)
    ))
}

