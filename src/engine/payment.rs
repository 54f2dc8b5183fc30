//! Payment intents and refunds: what may happen to a payment, and what each step posts.
//!
//! ```text
//! requires_action ──► processing ──► succeeded ──► (refunds, partial or full)
//!        │                 └──────► failed
//!        └──► canceled
//! ```
//! `processing` moves the gross amount from `external` into the merchant's `pending`;
//! `succeeded` splits it into `available` (net) and `fees`; `failed` sends it back.
//! A crypto payment settled as fiat passes through `fx_clearing`, one leg per asset.

use std::collections::BTreeMap;

use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction, LedgerTransactionBuilder};
use crate::engine::money::{AssetRef, Money, Network, checked_add_minor, checked_sub_minor};
use crate::engine::principal::Scope;
use crate::engine::rail::{Rail, simulated_step_at_ms};
use crate::engine::rules::PaymentRules;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaymentMethod {
    Card,
    BankTransfer,
    Crypto,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 3] = [PaymentMethod::Card, PaymentMethod::BankTransfer, PaymentMethod::Crypto];

    pub fn code(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::Crypto => "crypto",
        }
    }

    pub fn parse(code: &str) -> Option<PaymentMethod> {
        PaymentMethod::ALL.into_iter().find(|method| method.code() == code)
    }

    /// The rails that can carry this method.
    pub fn rails(self) -> &'static [Rail] {
        match self {
            PaymentMethod::Card => &[Rail::Card],
            PaymentMethod::BankTransfer => &[Rail::Rubies, Rail::Partna],
            PaymentMethod::Crypto => &[Rail::Partna],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaymentStatus {
    RequiresAction,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 5] = [
        PaymentStatus::RequiresAction,
        PaymentStatus::Processing,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::Canceled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
        }
    }

    pub fn parse(code: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|status| status.code() == code)
    }
}

/// What the payer has to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAction {
    /// Pay by bank transfer into a virtual account made for this payment.
    BankTransfer { bank_name: String, account_number: String, account_name: String },
    /// Send the crypto amount to this deposit address on this network.
    CryptoDeposit { address: String, network: Network },
    /// Open the hosted card checkout.
    CardCheckout { url: String },
}

/// A crypto payment credited in another asset at a rate locked when the intent was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub asset: AssetRef,
    /// The credited gross amount: `floor(amount × rate)`.
    pub amount_minor: i64,
    pub rate_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntent {
    pub id: String,
    pub scope: Scope,
    pub amount: Money,
    pub network: Option<Network>,
    pub method: PaymentMethod,
    pub rail: Rail,
    pub settlement: Option<Settlement>,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub status: PaymentStatus,
    pub next_action: Option<NextAction>,
    /// Fee charged on success, in the credited asset, fixed when the intent is created.
    pub fee_minor: i64,
    /// Sum of refunds so far, in the credited asset.
    pub amount_refunded_minor: i64,
    pub failure_reason: Option<String>,
    /// Test mode only: when the simulator settles this payment if nobody acts first.
    pub auto_settle_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl PaymentIntent {
    /// The asset the merchant is credited in: the settlement asset, or the paid asset.
    pub fn credit_asset(&self) -> AssetRef {
        self.settlement.as_ref().map_or(self.amount.asset, |s| s.asset)
    }

    /// The gross amount credited to the merchant, in `credit_asset`.
    pub fn credit_amount_minor(&self) -> i64 {
        self.settlement.as_ref().map_or(self.amount.amount_minor, |s| s.amount_minor)
    }

    pub fn net_minor(&self) -> i64 {
        self.credit_amount_minor() - self.fee_minor
    }

    pub fn refundable_minor(&self) -> i64 {
        match self.status {
            PaymentStatus::Succeeded => self.credit_amount_minor() - self.amount_refunded_minor,
            _ => 0,
        }
    }

    fn refuse(&self, action: &'static str) -> EngineError {
        EngineError::InvalidState { object: "payment_intent", id: self.id.clone(), status: self.status.code(), action }
    }
}

/// A validated request to create a payment intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentIntent {
    pub amount: Money,
    pub network: Option<Network>,
    pub method: PaymentMethod,
    pub rail: Rail,
    pub settle_as: Option<AssetRef>,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

pub fn create_payment_intent(
    scope: &Scope,
    request: NewPaymentIntent,
    rules: &PaymentRules,
    id: String,
    now_ms: i64,
) -> Result<PaymentIntent, EngineError> {
    let asset = request.amount.asset;
    if !request.method.rails().contains(&request.rail) {
        let allowed: Vec<&str> = request.method.rails().iter().map(|rail| rail.code()).collect();
        return Err(EngineError::invalid(
            "rail",
            format!(
                "rail {} cannot carry {} payments; use {}",
                request.rail.code(),
                request.method.code(),
                allowed.join(" or ")
            ),
        ));
    }
    match (request.method, asset.is_crypto()) {
        (PaymentMethod::Crypto, false) => {
            return Err(EngineError::invalid(
                "amount.currency",
                format!("crypto payments need a crypto asset (USDC, USDT, BTC), not {}", asset.code),
            ));
        }
        (PaymentMethod::Card | PaymentMethod::BankTransfer, true) => {
            return Err(EngineError::invalid(
                "method",
                format!("{} is a crypto asset: use method crypto on rail partna", asset.code),
            ));
        }
        _ => {}
    }
    match (asset.is_crypto(), request.network) {
        (true, None) => {
            let networks: Vec<&str> = asset.networks.iter().map(|network| network.code()).collect();
            return Err(EngineError::invalid(
                "amount.network",
                format!("{} needs a network: one of {}", asset.code, networks.join(", ")),
            ));
        }
        (true, Some(network)) if !asset.supports_network(network) => {
            let networks: Vec<&str> = asset.networks.iter().map(|network| network.code()).collect();
            return Err(EngineError::invalid(
                "amount.network",
                format!("{} is not carried on {}; use one of {}", asset.code, network.code(), networks.join(", ")),
            ));
        }
        (false, Some(_)) => {
            return Err(EngineError::invalid(
                "amount.network",
                format!("{} is not on-chain: omit network", asset.code),
            ));
        }
        _ => {}
    }
    let settlement = match request.settle_as {
        None => None,
        Some(target) => Some(lock_settlement(request.amount, target, rules)?),
    };
    let credit_asset = settlement.as_ref().map_or(asset, |s| s.asset);
    let credit_amount_minor = settlement.as_ref().map_or(request.amount.amount_minor, |s| s.amount_minor);
    let fee_minor = rules.fees.fee_minor(request.rail, credit_asset, credit_amount_minor);
    let next_action = next_action_for(&id, request.method, request.network);
    let auto_settle_at_ms = simulated_step_at_ms(scope.mode, rules.test_auto_settle_after_ms, now_ms);
    Ok(PaymentIntent {
        id,
        scope: scope.clone(),
        amount: request.amount,
        network: request.network,
        method: request.method,
        rail: request.rail,
        settlement,
        customer: request.customer,
        description: request.description,
        metadata: request.metadata,
        status: PaymentStatus::RequiresAction,
        next_action: Some(next_action),
        fee_minor,
        amount_refunded_minor: 0,
        failure_reason: None,
        auto_settle_at_ms,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    })
}

fn lock_settlement(amount: Money, target: AssetRef, rules: &PaymentRules) -> Result<Settlement, EngineError> {
    if !amount.asset.is_crypto() {
        return Err(EngineError::invalid(
            "settle_as",
            "settle_as converts crypto payments; this payment is already fiat",
        ));
    }
    if target.code == amount.asset.code {
        return Err(EngineError::invalid(
            "settle_as.currency",
            "settle_as must name a different currency than the payment",
        ));
    }
    let rate = rules.fx.get(amount.asset, target).ok_or_else(|| {
        EngineError::invalid(
            "settle_as.currency",
            format!("no {}/{} rate is configured", amount.asset.code, target.code),
        )
    })?;
    let settled_minor = rate.convert_minor(amount.amount_minor)?;
    if settled_minor < 1 {
        return Err(EngineError::invalid(
            "amount.amount",
            format!(
                "{} converts to less than one minor unit of {} at rate {}",
                amount.display(),
                target.code,
                rate.text
            ),
        ));
    }
    Money::new(target, settled_minor)?;
    Ok(Settlement { asset: target, amount_minor: settled_minor, rate_text: rate.text.clone() })
}

/// Payment instructions, derived from the intent id so that they are stable and need no IO.
/// They are simulated: no real bank account or wallet stands behind them.
fn next_action_for(id: &str, method: PaymentMethod, network: Option<Network>) -> NextAction {
    let digest = fnv1a_64(id.as_bytes());
    match method {
        PaymentMethod::BankTransfer => NextAction::BankTransfer {
            bank_name: "Harepay Virtual Bank".to_owned(),
            account_number: format!("{:010}", digest % 10_000_000_000),
            account_name: format!("HAREPAY/{}", &id[id.len().saturating_sub(8)..]).to_uppercase(),
        },
        PaymentMethod::Card => NextAction::CardCheckout { url: format!("https://checkout.harepay.click/pay/{id}") },
        PaymentMethod::Crypto => {
            let network = network.expect("crypto payments are validated to carry a network");
            NextAction::CryptoDeposit { address: deposit_address(network, id), network }
        }
    }
}

fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// An address of the right shape for `network`, derived from `seed`.
pub fn deposit_address(network: Network, seed: &str) -> String {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    const HEX: &[u8] = b"0123456789abcdef";
    const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let chars = |alphabet: &[u8], count: usize| -> String {
        (0..count)
            .map(|index| {
                let digest = fnv1a_64(format!("{seed}:{index}").as_bytes());
                alphabet[(digest % alphabet.len() as u64) as usize] as char
            })
            .collect()
    };
    match network {
        Network::Tron => format!("T{}", chars(BASE58, 33)),
        Network::Ethereum | Network::Base => format!("0x{}", chars(HEX, 40)),
        Network::Solana => chars(BASE58, 44),
        Network::Bitcoin => format!("bc1q{}", chars(BECH32, 38)),
    }
}

/// Funds seen: the gross amount enters the merchant's `pending` balance.
pub fn mark_processing(
    payment: &PaymentIntent,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, LedgerTransaction), EngineError> {
    if payment.status != PaymentStatus::RequiresAction {
        return Err(payment.refuse("processing"));
    }
    let builder = match &payment.settlement {
        None => LedgerTransactionBuilder::new().transfer(
            AccountKind::External,
            AccountKind::Pending,
            payment.amount.asset,
            payment.amount.amount_minor,
        ),
        Some(settlement) => LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::FxClearing, payment.amount.asset, payment.amount.amount_minor)
            .transfer(AccountKind::FxClearing, AccountKind::Pending, settlement.asset, settlement.amount_minor),
    };
    let transaction = builder.finish(ids.next_id("ltx"), &payment.id, "payment_intent.processing");
    balances.apply(&transaction)?;
    let mut next = payment.clone();
    next.status = PaymentStatus::Processing;
    next.next_action = None;
    next.updated_at_ms = now_ms;
    Ok((next, transaction))
}

/// Settled: pending becomes available, less the fee.
pub fn mark_succeeded(
    payment: &PaymentIntent,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, LedgerTransaction), EngineError> {
    if payment.status != PaymentStatus::Processing {
        return Err(payment.refuse("success"));
    }
    let asset = payment.credit_asset();
    let transaction = LedgerTransactionBuilder::new()
        .transfer(AccountKind::Pending, AccountKind::Available, asset, payment.net_minor())
        .transfer(AccountKind::Pending, AccountKind::Fees, asset, payment.fee_minor)
        .finish(ids.next_id("ltx"), &payment.id, "payment_intent.succeeded");
    balances.apply(&transaction)?;
    let mut next = payment.clone();
    next.status = PaymentStatus::Succeeded;
    next.auto_settle_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok((next, transaction))
}

/// The payment did not complete. Funds already in `pending` go back to the payer.
pub fn mark_failed(
    payment: &PaymentIntent,
    reason: &str,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, Option<LedgerTransaction>), EngineError> {
    let reversal = match payment.status {
        PaymentStatus::RequiresAction => None,
        PaymentStatus::Processing => {
            let builder = match &payment.settlement {
                None => LedgerTransactionBuilder::new().transfer(
                    AccountKind::Pending,
                    AccountKind::External,
                    payment.amount.asset,
                    payment.amount.amount_minor,
                ),
                Some(settlement) => LedgerTransactionBuilder::new()
                    .transfer(AccountKind::Pending, AccountKind::FxClearing, settlement.asset, settlement.amount_minor)
                    .transfer(
                        AccountKind::FxClearing,
                        AccountKind::External,
                        payment.amount.asset,
                        payment.amount.amount_minor,
                    ),
            };
            let transaction = builder.finish(ids.next_id("ltx"), &payment.id, "payment_intent.payment_failed");
            balances.apply(&transaction)?;
            Some(transaction)
        }
        _ => return Err(payment.refuse("failure")),
    };
    let mut next = payment.clone();
    next.status = PaymentStatus::Failed;
    next.next_action = None;
    next.auto_settle_at_ms = None;
    next.failure_reason = Some(reason.to_owned());
    next.updated_at_ms = now_ms;
    Ok((next, reversal))
}

/// Only a payment still waiting for the payer can be canceled; no money has moved yet.
pub fn cancel_payment_intent(payment: &PaymentIntent, now_ms: i64) -> Result<PaymentIntent, EngineError> {
    if payment.status != PaymentStatus::RequiresAction {
        return Err(payment.refuse("cancel"));
    }
    let mut next = payment.clone();
    next.status = PaymentStatus::Canceled;
    next.next_action = None;
    next.auto_settle_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok(next)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Succeeded,
}

impl RefundStatus {
    pub fn code(self) -> &'static str {
        match self {
            RefundStatus::Succeeded => "succeeded",
        }
    }

    pub fn parse(code: &str) -> Option<RefundStatus> {
        (code == "succeeded").then_some(RefundStatus::Succeeded)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub scope: Scope,
    pub payment_intent_id: String,
    /// In the payment's credited asset.
    pub amount: Money,
    pub reason: Option<String>,
    pub status: RefundStatus,
    pub created_at_ms: i64,
}

/// Refunds `amount_minor` (all that remains when `None`) of a succeeded payment from the
/// merchant's available balance.
pub fn refund_payment(
    payment: &PaymentIntent,
    amount_minor: Option<i64>,
    reason: Option<String>,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, Refund, LedgerTransaction), EngineError> {
    if payment.status != PaymentStatus::Succeeded {
        return Err(payment.refuse("refund"));
    }
    let asset = payment.credit_asset();
    let remaining_minor = payment.refundable_minor();
    let requested_minor = amount_minor.unwrap_or(remaining_minor);
    if remaining_minor == 0 {
        return Err(EngineError::RefundExceedsRemaining {
            payment_intent_id: payment.id.clone(),
            remaining_minor,
            requested_display: asset.display(requested_minor),
            remaining_display: asset.display(remaining_minor),
        });
    }
    let amount = Money::new(asset, requested_minor)?;
    if requested_minor > remaining_minor {
        return Err(EngineError::RefundExceedsRemaining {
            payment_intent_id: payment.id.clone(),
            remaining_minor,
            requested_display: amount.display(),
            remaining_display: asset.display(remaining_minor),
        });
    }
    let refund_id = ids.next_id("re");
    let transaction = LedgerTransactionBuilder::new()
        .transfer(AccountKind::Available, AccountKind::External, asset, requested_minor)
        .finish(ids.next_id("ltx"), &refund_id, "charge.refunded");
    balances.apply(&transaction)?;
    let mut next = payment.clone();
    next.amount_refunded_minor = checked_add_minor(next.amount_refunded_minor, requested_minor)?;
    assert!(next.amount_refunded_minor <= next.credit_amount_minor(), "refunds never exceed the credited amount");
    checked_sub_minor(next.credit_amount_minor(), next.amount_refunded_minor)?;
    next.updated_at_ms = now_ms;
    let refund = Refund {
        id: refund_id,
        scope: payment.scope.clone(),
        payment_intent_id: payment.id.clone(),
        amount,
        reason,
        status: RefundStatus::Succeeded,
        created_at_ms: now_ms,
    };
    Ok((next, refund, transaction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SequentialIds;
    use crate::engine::money::Asset;
    use crate::engine::principal::Mode;

    fn scope() -> Scope {
        Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
    }

    fn request(code: &str, amount_minor: i64, method: PaymentMethod, rail: Rail) -> NewPaymentIntent {
        NewPaymentIntent {
            amount: Money::new(Asset::lookup(code).unwrap(), amount_minor).unwrap(),
            network: None,
            method,
            rail,
            settle_as: None,
            customer: None,
            description: None,
            metadata: BTreeMap::new(),
        }
    }

    fn check_refused(request: NewPaymentIntent, expected_param: &str) {
        let error = create_payment_intent(&scope(), request, &PaymentRules::default(), "pi_1".into(), 0).unwrap_err();
        assert_eq!(error.param(), Some(expected_param), "{error}");
    }

    #[test]
    fn method_rail_asset_and_network_must_agree() {
        check_refused(request("NGN", 100, PaymentMethod::BankTransfer, Rail::Card), "rail");
        check_refused(request("NGN", 100, PaymentMethod::Crypto, Rail::Partna), "amount.currency");
        check_refused(request("USDC", 100, PaymentMethod::BankTransfer, Rail::Rubies), "method");
        check_refused(request("USDC", 100, PaymentMethod::Crypto, Rail::Partna), "amount.network");
        let mut wrong_network = request("BTC", 100, PaymentMethod::Crypto, Rail::Partna);
        wrong_network.network = Some(Network::Tron);
        check_refused(wrong_network, "amount.network");
        let mut fiat_with_network = request("NGN", 100, PaymentMethod::BankTransfer, Rail::Rubies);
        fiat_with_network.network = Some(Network::Tron);
        check_refused(fiat_with_network, "amount.network");
    }

    #[test]
    fn a_payment_settles_through_pending_into_available_less_fees() {
        let mut ids = SequentialIds::default();
        let mut balances = Balances::default();
        let ngn = Asset::lookup("NGN").unwrap();
        let rules = PaymentRules::default();
        let created = create_payment_intent(
            &scope(),
            request("NGN", 1_000_000, PaymentMethod::BankTransfer, Rail::Rubies),
            &rules,
            "pi_1".into(),
            0,
        )
        .unwrap();
        assert!(matches!(created.next_action, Some(NextAction::BankTransfer { .. })));
        let (processing, _) = mark_processing(&created, &mut balances, &mut ids, 1).unwrap();
        assert_eq!(balances.get(AccountKind::Pending, ngn), 1_000_000);
        let (succeeded, _) = mark_succeeded(&processing, &mut balances, &mut ids, 2).unwrap();
        assert_eq!(succeeded.status, PaymentStatus::Succeeded);
        assert_eq!(balances.get(AccountKind::Pending, ngn), 0);
        assert_eq!(balances.get(AccountKind::Available, ngn), 1_000_000 - 5_000);

        let (after_partial, refund, _) =
            refund_payment(&succeeded, Some(400_000), None, &mut balances, &mut ids, 3).unwrap();
        assert_eq!(refund.amount.amount_minor, 400_000);
        // The fee is not returned, so the merchant cannot refund the whole gross amount.
        let error = refund_payment(&after_partial, None, None, &mut balances, &mut ids, 4).unwrap_err();
        assert_eq!(error.code(), "insufficient_funds");
        let error = refund_payment(&after_partial, Some(600_001), None, &mut balances, &mut ids, 4).unwrap_err();
        assert_eq!(error.code(), "refund_exceeds_remaining");
    }

    #[test]
    fn crypto_settled_as_naira_posts_each_asset_through_fx_clearing() {
        let mut ids = SequentialIds::default();
        let mut balances = Balances::default();
        let mut crypto = request("USDC", 100_000_000, PaymentMethod::Crypto, Rail::Partna);
        crypto.network = Some(Network::Tron);
        crypto.settle_as = Some(Asset::lookup("NGN").unwrap());
        let created = create_payment_intent(&scope(), crypto, &PaymentRules::default(), "pi_2".into(), 0).unwrap();
        let settlement = created.settlement.clone().unwrap();
        assert_eq!(settlement.amount_minor, 15_500_000);
        match &created.next_action {
            Some(NextAction::CryptoDeposit { address, network }) => {
                assert_eq!(*network, Network::Tron);
                assert!(address.starts_with('T') && address.len() == 34);
            }
            other => panic!("expected a deposit address, got {other:?}"),
        }
        let (_, transaction) = mark_processing(&created, &mut balances, &mut ids, 1).unwrap();
        assert_eq!(transaction.postings.len(), 4);
        assert_eq!(balances.get(AccountKind::Pending, Asset::lookup("NGN").unwrap()), 15_500_000);
    }

    #[test]
    fn only_waiting_payments_can_be_canceled() {
        let created = create_payment_intent(
            &scope(),
            request("NGN", 100, PaymentMethod::Card, Rail::Card),
            &PaymentRules::default(),
            "pi_3".into(),
            0,
        )
        .unwrap();
        let canceled = cancel_payment_intent(&created, 1).unwrap();
        assert_eq!(canceled.status, PaymentStatus::Canceled);
        assert_eq!(cancel_payment_intent(&canceled, 2).unwrap_err().code(), "invalid_state");
    }
}
