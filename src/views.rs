//! The public JSON representation of harepay's objects. One definition serves MCP tool results,
//! the snapshots idempotent replays return, and event payloads, so the three cannot drift.
//! Engine types are converted here, at the boundary; the engine itself knows no JSON.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::money::AssetRef;
use crate::engine::payment::{NextAction, PaymentIntent, Refund};

/// An amount of money: an integer count of the currency's minor unit, never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MoneyView {
    /// Integer amount in the currency's minor unit (kobo, cents, USDC base units).
    pub amount: i64,
    /// Currency or asset code, e.g. "NGN", "USDC".
    pub currency: String,
    /// The amount formatted for people, e.g. "₦10,000.00". Never parse this.
    pub display: String,
}

impl MoneyView {
    pub fn new(asset: AssetRef, amount_minor: i64) -> MoneyView {
        MoneyView { amount: amount_minor, currency: asset.code.to_owned(), display: asset.display(amount_minor) }
    }
}

/// What the payer must do to complete the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextActionView {
    /// Transfer the exact amount to this virtual bank account.
    BankTransfer { bank_name: String, account_number: String, account_name: String },
    /// Send the exact crypto amount to this address on this network.
    CryptoDeposit { address: String, network: String },
    /// Send the payer to this hosted card checkout page.
    CardCheckout { url: String },
}

/// Crypto received, credited in another currency at a rate locked at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementView {
    /// The gross amount credited, floor(amount × rate).
    pub amount: MoneyView,
    /// The locked rate: units of the settlement currency per one unit of the paid asset.
    pub rate: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentIntentView {
    /// Payment intent id, `pi_…`.
    pub id: String,
    pub object: String,
    /// "test" or "live".
    pub mode: String,
    pub amount: MoneyView,
    /// Blockchain network for crypto payments.
    pub network: Option<String>,
    /// card, bank_transfer or crypto.
    pub method: String,
    /// rubies, partna or card.
    pub rail: String,
    /// requires_action, processing, succeeded, failed or canceled.
    pub status: String,
    pub next_action: Option<NextActionView>,
    pub settlement: Option<SettlementView>,
    /// Fee deducted on success, in the credited currency.
    pub fee: MoneyView,
    /// What the merchant is credited on success: credited amount less fee.
    pub net: MoneyView,
    /// Total refunded so far, in the credited currency.
    pub amount_refunded: MoneyView,
    /// What can still be refunded (zero unless succeeded).
    pub amount_refundable: MoneyView,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub failure_reason: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl PaymentIntentView {
    pub fn from_engine(payment: &PaymentIntent) -> PaymentIntentView {
        let credit_asset = payment.credit_asset();
        PaymentIntentView {
            id: payment.id.clone(),
            object: "payment_intent".to_owned(),
            mode: payment.scope.mode.code().to_owned(),
            amount: MoneyView::new(payment.amount.asset, payment.amount.amount_minor),
            network: payment.network.map(|network| network.code().to_owned()),
            method: payment.method.code().to_owned(),
            rail: payment.rail.code().to_owned(),
            status: payment.status.code().to_owned(),
            next_action: payment.next_action.as_ref().map(|action| match action {
                NextAction::BankTransfer { bank_name, account_number, account_name } => NextActionView::BankTransfer {
                    bank_name: bank_name.clone(),
                    account_number: account_number.clone(),
                    account_name: account_name.clone(),
                },
                NextAction::CryptoDeposit { address, network } => {
                    NextActionView::CryptoDeposit { address: address.clone(), network: network.code().to_owned() }
                }
                NextAction::CardCheckout { url } => NextActionView::CardCheckout { url: url.clone() },
            }),
            settlement: payment.settlement.as_ref().map(|settlement| SettlementView {
                amount: MoneyView::new(settlement.asset, settlement.amount_minor),
                rate: settlement.rate_text.clone(),
            }),
            fee: MoneyView::new(credit_asset, payment.fee_minor),
            net: MoneyView::new(credit_asset, payment.net_minor()),
            amount_refunded: MoneyView::new(credit_asset, payment.amount_refunded_minor),
            amount_refundable: MoneyView::new(credit_asset, payment.refundable_minor()),
            customer: payment.customer.clone(),
            description: payment.description.clone(),
            metadata: payment.metadata.clone(),
            failure_reason: payment.failure_reason.clone(),
            created_at_ms: payment.created_at_ms,
            updated_at_ms: payment.updated_at_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundView {
    /// Refund id, `re_…`.
    pub id: String,
    pub object: String,
    pub payment_intent: String,
    /// In the payment's credited currency.
    pub amount: MoneyView,
    /// succeeded.
    pub status: String,
    pub reason: Option<String>,
    pub created_at_ms: i64,
}

impl RefundView {
    pub fn from_engine(refund: &Refund) -> RefundView {
        RefundView {
            id: refund.id.clone(),
            object: "refund".to_owned(),
            payment_intent: refund.payment_intent_id.clone(),
            amount: MoneyView::new(refund.amount.asset, refund.amount.amount_minor),
            status: refund.status.code().to_owned(),
            reason: refund.reason.clone(),
            created_at_ms: refund.created_at_ms,
        }
    }
}

/// A refund together with the payment it was taken from, as it stands afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundResultView {
    pub refund: RefundView,
    pub payment_intent: PaymentIntentView,
}
