//! Toolset `payments`: payment intents and refunds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::payment::{PaymentMethod, PaymentStatus};
use crate::engine::rail::Rail;
use crate::limits;

crate::ops::operations!(
    cancel_payment_intent,
    create_payment_intent,
    get_payment,
    list_payments,
    list_refunds,
    refund_payment,
    simulate_payment,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodInput {
    Card,
    BankTransfer,
    Crypto,
}

impl MethodInput {
    pub fn to_engine(self) -> PaymentMethod {
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
    pub fn to_engine(self) -> Rail {
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
    PartiallyPaid,
    Processing,
    Succeeded,
    Failed,
    Canceled,
    Expired,
}

impl PaymentStatusInput {
    pub fn to_engine(self) -> PaymentStatus {
        match self {
            PaymentStatusInput::RequiresAction => PaymentStatus::RequiresAction,
            PaymentStatusInput::PartiallyPaid => PaymentStatus::PartiallyPaid,
            PaymentStatusInput::Processing => PaymentStatus::Processing,
            PaymentStatusInput::Succeeded => PaymentStatus::Succeeded,
            PaymentStatusInput::Failed => PaymentStatus::Failed,
            PaymentStatusInput::Canceled => PaymentStatus::Canceled,
            PaymentStatusInput::Expired => PaymentStatus::Expired,
        }
    }
}

/// Crypto in, fiat credited at a rate locked now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = r#"an object like {"currency": "NGN"}"#)]
pub struct SettleAsInput {
    /// The currency to credit, e.g. "NGN".
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub currency: String,
    /// Omit it, or 0 as the REST SDK sends: the locked rate sets the credited amount.
    #[serde(default)]
    pub amount: Option<i64>,
}
