//! How both backends store the engine's structured values as JSON text (a payment's next action,
//! a payout's destination, a dispute's evidence) and name a ledger account in a report: one
//! encoding, so that a row means the same thing whichever backend wrote it.

use crate::engine::dispute::DisputeEvidence;
use crate::engine::money::Network;
use crate::engine::payment::NextAction;
use crate::engine::payout::Destination;

pub fn next_action_to_json(action: &NextAction) -> String {
    let value = match action {
        NextAction::BankTransfer { bank_name, account_number, account_name } => serde_json::json!({
            "type": "bank_transfer", "bank_name": bank_name, "account_number": account_number, "account_name": account_name,
        }),
        NextAction::CryptoDeposit { address, network } => {
            serde_json::json!({ "type": "crypto_deposit", "address": address, "network": network.code() })
        }
        NextAction::CardCheckout { url } => serde_json::json!({ "type": "card_checkout", "url": url }),
    };
    value.to_string()
}

pub fn next_action_from_json(json: &str) -> Option<NextAction> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    match field("type")?.as_str() {
        "bank_transfer" => Some(NextAction::BankTransfer {
            bank_name: field("bank_name")?,
            account_number: field("account_number")?,
            account_name: field("account_name")?,
        }),
        "crypto_deposit" => {
            Some(NextAction::CryptoDeposit { address: field("address")?, network: Network::parse(&field("network")?)? })
        }
        "card_checkout" => Some(NextAction::CardCheckout { url: field("url")? }),
        _ => None,
    }
}

pub fn destination_to_json(destination: &Destination) -> String {
    let value = match destination {
        Destination::Bank { account_no, bank_code, account_name } => serde_json::json!({
            "kind": "bank", "account_no": account_no, "bank_code": bank_code, "account_name": account_name,
        }),
        Destination::CryptoWallet { address, network } => {
            serde_json::json!({ "kind": "crypto_wallet", "address": address, "network": network.code() })
        }
    };
    value.to_string()
}

/// A stored destination, or what did not parse in it (what it is, and the text), for the
/// backend to report as corruption in its own way.
pub fn destination_from_json(json: &str) -> Result<Destination, (&'static str, String)> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| ("destination", json.to_owned()))?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    match field("kind").as_deref() {
        Some("bank") => Ok(Destination::Bank {
            account_no: field("account_no").unwrap_or_default(),
            bank_code: field("bank_code").unwrap_or_default(),
            account_name: field("account_name"),
        }),
        Some("crypto_wallet") => {
            let code = field("network").unwrap_or_default();
            Ok(Destination::CryptoWallet {
                address: field("address").unwrap_or_default(),
                network: Network::parse(&code).ok_or(("network", code))?,
            })
        }
        _ => Err(("destination", json.to_owned())),
    }
}

pub fn evidence_to_json(evidence: &DisputeEvidence) -> String {
    serde_json::json!({
        "explanation": evidence.explanation,
        "customer_communication": evidence.customer_communication,
        "refund_policy": evidence.refund_policy,
        "shipping_tracking_number": evidence.shipping_tracking_number,
        "file_references": evidence.file_references,
    })
    .to_string()
}

pub fn evidence_from_json(json: &str) -> Option<DisputeEvidence> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |name: &str| -> Option<Option<String>> {
        match value.get(name)? {
            serde_json::Value::Null => Some(None),
            serde_json::Value::String(text) => Some(Some(text.clone())),
            _ => None,
        }
    };
    let references = value.get("file_references")?.as_array()?;
    Some(DisputeEvidence {
        explanation: text("explanation")?,
        customer_communication: text("customer_communication")?,
        refund_policy: text("refund_policy")?,
        shipping_tracking_number: text("shipping_tracking_number")?,
        file_references: references.iter().map(|r| r.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()?,
    })
}

pub fn account_label(merchant_id: &str, mode: &str, account: &str, asset: &str) -> String {
    format!("{merchant_id} {mode} {account} {asset}")
}
