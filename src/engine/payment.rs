//! Payment intents and refunds: what may happen to a payment, and what each step posts.
//!
//! ```text
//! requires_action ──► processing ──► succeeded ──► (refunds, partial or full)
//!   │  │                ▲   └──────► failed
//!   │  └─► partially_paid ┘ (the rest arrives)
//!   │            └──► failed | canceled | expired (what it received goes back)
//!   └──► failed | canceled | expired
//! ```
//! A receipt moves what the payer sent from `external` into the merchant's `pending`: below what
//! remains, the intent is `partially_paid` and waits for the rest; at or above it, `processing`
//! (an over-payment is kept and credited whole). `succeeded` splits what was received into
//! `available` (net) and `fees`; `failed`, `canceled` and `expired` send what was received back.
//! A crypto payment settled as fiat passes through `fx_clearing`, one leg per asset.
//!
//! Receipts are held in `pending` until the intent completes rather than credited one by one, so
//! that an intent that lapses half paid can always give back what it received: nothing but its
//! own steps draws on `pending`. An intent expires only while it waits for the payer
//! (`requires_action`, `partially_paid`) and from `expires_at_ms` on; a receipt at or after that
//! moment is refused (the rail returns the funds), whether or not the scheduler has swept the
//! intent yet, so a payment racing the expiry either completes before it or moves no money.

use std::collections::BTreeMap;

use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction, LedgerTransactionBuilder};
use crate::engine::money::{AssetRef, Money, Network, checked_add_minor, checked_sub_minor};
use crate::engine::pricing::FeeSchedule;
use crate::engine::principal::Scope;
use crate::engine::rail::{Rail, simulated_step_at_ms};
use crate::engine::rules::PaymentRules;
use crate::limits::{
    AMOUNT_MAX_MINOR, PAYMENT_INTENT_EXPIRY_MAX_MS, PAYMENT_INTENT_EXPIRY_MIN_MS, PAYMENT_RECEIVED_MAX_MULTIPLE,
};

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
    /// Part of the amount was received (held in `pending`); the intent waits for the rest.
    PartiallyPaid,
    Processing,
    Succeeded,
    Failed,
    Canceled,
    /// Its `expires_at_ms` came while it still waited for the payer; what it received went back.
    Expired,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        PaymentStatus::RequiresAction,
        PaymentStatus::PartiallyPaid,
        PaymentStatus::Processing,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::Canceled,
        PaymentStatus::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::PartiallyPaid => "partially_paid",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::Expired => "expired",
        }
    }

    /// Still waiting for the payer: it can receive a payment, be canceled, and expire.
    pub fn awaits_payer(self) -> bool {
        matches!(self, PaymentStatus::RequiresAction | PaymentStatus::PartiallyPaid)
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
    /// Fee charged on success, in the credited asset: fixed at creation for the amount requested,
    /// and recomputed on what was received when the payment completes with another amount.
    pub fee_minor: i64,
    /// Sum of refunds so far, in the credited asset.
    pub amount_refunded_minor: i64,
    pub failure_reason: Option<String>,
    /// Test mode only: when the simulator settles this payment if nobody acts first.
    pub auto_settle_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// What the payer has sent, in the paid asset: 0 until a receipt, below `amount` while
    /// `partially_paid`, and from `processing` on the whole of it, which may exceed `amount` (an
    /// over-payment, credited whole). Kept as a record after it went back to the payer.
    pub amount_received_minor: i64,
    /// From this time on, an intent still waiting for the payer is expired; `None`: never.
    pub expires_at_ms: Option<i64>,
}

impl PaymentIntent {
    /// The asset the merchant is credited in: the settlement asset, or the paid asset.
    pub fn credit_asset(&self) -> AssetRef {
        self.settlement.as_ref().map_or(self.amount.asset, |s| s.asset)
    }

    /// The gross amount credited to the merchant, in `credit_asset`: what was received once the
    /// payment completed (processing, succeeded), else what the amount requested credits.
    pub fn credit_amount_minor(&self) -> i64 {
        match self.status {
            PaymentStatus::Processing | PaymentStatus::Succeeded => {
                self.credit_for_received_minor(self.amount_received_minor)
            }
            _ => self.requested_credit_minor(),
        }
    }

    /// What the amount requested credits, in `credit_asset`.
    pub fn requested_credit_minor(&self) -> i64 {
        self.settlement.as_ref().map_or(self.amount.amount_minor, |s| s.amount_minor)
    }

    /// What `received_minor` of the paid asset credits, in `credit_asset`: the same amount, or for
    /// a crypto payment settled as fiat `floor(settlement × received / amount)`, the locked rate as
    /// the intent applied it to its amount, so that receiving exactly the amount credits exactly
    /// the settlement. Receipts are credited cumulatively (the credit of the total so far, less
    /// what earlier receipts were credited), so splitting a payment never changes its credit.
    pub fn credit_for_received_minor(&self, received_minor: i64) -> i64 {
        match &self.settlement {
            None => received_minor,
            Some(settlement) => {
                let credited = i128::from(settlement.amount_minor) * i128::from(received_minor)
                    / i128::from(self.amount.amount_minor.max(1));
                // Receipts are bounded so that this fits; a stored value that does not is shown capped.
                i64::try_from(credited).unwrap_or(i64::MAX)
            }
        }
    }

    /// What the payer still has to send, in the paid asset: 0 once the amount was received.
    pub fn amount_remaining_minor(&self) -> i64 {
        self.amount.amount_minor.saturating_sub(self.amount_received_minor).max(0)
    }

    /// What the payer sent beyond the amount, in the paid asset (credited with the rest).
    pub fn excess_received_minor(&self) -> i64 {
        self.amount_received_minor.saturating_sub(self.amount.amount_minor).max(0)
    }

    /// What the payer has paid that the merchant holds or was credited, in the paid asset: the
    /// receipts while partially paid, processing or succeeded; nothing once they went back.
    pub fn amount_paid_minor(&self) -> i64 {
        match self.status {
            PaymentStatus::PartiallyPaid | PaymentStatus::Processing | PaymentStatus::Succeeded => {
                self.amount_received_minor
            }
            _ => 0,
        }
    }

    /// Whether the intent still waits for the payer and its expiry has come.
    pub fn lapsed_at(&self, now_ms: i64) -> bool {
        self.status.awaits_payer() && self.expires_at_ms.is_some_and(|expires_at_ms| now_ms >= expires_at_ms)
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

    /// The refusal of a step that needs a waiting intent whose expiry has come, before the
    /// scheduler has marked it expired: it is expired already in all but its stored status.
    fn refuse_lapsed(&self, action: &'static str) -> EngineError {
        EngineError::InvalidState { object: "payment_intent", id: self.id.clone(), status: "expired", action }
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
    /// The intent expires this long after its creation unless paid in full; `None`: never.
    pub expires_in_ms: Option<i64>,
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
    let expires_at_ms = match request.expires_in_ms {
        None => None,
        Some(expires_in_ms) => Some(expiry_at_ms(expires_in_ms, now_ms)?),
    };
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
        amount_received_minor: 0,
        expires_at_ms,
    })
}

fn expiry_at_ms(expires_in_ms: i64, now_ms: i64) -> Result<i64, EngineError> {
    let allowed = PAYMENT_INTENT_EXPIRY_MIN_MS..=PAYMENT_INTENT_EXPIRY_MAX_MS;
    if !allowed.contains(&expires_in_ms) {
        return Err(EngineError::invalid(
            "expires_in_ms",
            format!(
                "expires_in_ms must be from {} (1 second) to {} (30 days), got {expires_in_ms}",
                allowed.start(),
                allowed.end()
            ),
        ));
    }
    now_ms
        .checked_add(expires_in_ms)
        .ok_or(EngineError::invalid("expires_in_ms", "the expiry is past the clock's range"))
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

/// Funds seen in full: what remains of the amount arrives exactly and enters the merchant's
/// `pending` balance; the fee fixed at creation stands.
pub fn mark_processing(
    payment: &PaymentIntent,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, LedgerTransaction), EngineError> {
    if !payment.status.awaits_payer() {
        return Err(payment.refuse("processing"));
    }
    let remaining = Money { asset: payment.amount.asset, amount_minor: payment.amount_remaining_minor() };
    receive(payment, remaining, None, balances, ids, now_ms)
}

/// The payer sent `received`, in the paid asset, which may be less or more than what remains. It
/// is held in the merchant's `pending` balance (a crypto payment settled as fiat is credited at
/// its locked rate, through `fx_clearing`). Below what remains the intent is `partially_paid` and
/// keeps its `next_action` for the rest; otherwise it is `processing`, and when what it received
/// in all differs from the amount its fee is recomputed on that by `fees`. Refused, changing
/// nothing, when the intent no longer waits for the payer or its expiry has come, in another
/// currency, and beyond `PAYMENT_RECEIVED_MAX_MULTIPLE` times the amount in all.
pub fn receive_payment(
    payment: &PaymentIntent,
    received: Money,
    fees: &FeeSchedule,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, LedgerTransaction), EngineError> {
    receive(payment, received, Some(fees), balances, ids, now_ms)
}

/// `fees` is `None` only for a receipt of exactly what remains, which never needs a new fee.
fn receive(
    payment: &PaymentIntent,
    received: Money,
    fees: Option<&FeeSchedule>,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, LedgerTransaction), EngineError> {
    if !payment.status.awaits_payer() {
        return Err(payment.refuse("payment"));
    }
    if payment.lapsed_at(now_ms) {
        return Err(payment.refuse_lapsed("payment"));
    }
    let paid_asset = payment.amount.asset;
    if received.asset.code != paid_asset.code {
        return Err(EngineError::invalid(
            "amount.currency",
            format!(
                "{} is paid in {}, not {}; a settled currency is credited, never paid",
                payment.id, paid_asset.code, received.asset.code
            ),
        ));
    }
    if received.amount_minor < 1 {
        return Err(EngineError::invalid("amount.amount", "a payment receives at least one minor unit"));
    }
    let total_minor = checked_add_minor(payment.amount_received_minor, received.amount_minor)?;
    let most_minor = payment.amount.amount_minor.saturating_mul(PAYMENT_RECEIVED_MAX_MULTIPLE).min(AMOUNT_MAX_MINOR);
    if total_minor > most_minor {
        return Err(EngineError::invalid(
            "amount.amount",
            format!(
                "{} may receive at most {} in all ({PAYMENT_RECEIVED_MAX_MULTIPLE} times its amount); it has received {}, so {} is too much",
                payment.id,
                paid_asset.display(most_minor),
                paid_asset.display(payment.amount_received_minor),
                received.display()
            ),
        ));
    }
    let credit_before_minor = payment.credit_for_received_minor(payment.amount_received_minor);
    let credit_after_minor = payment.credit_for_received_minor(total_minor);
    if credit_after_minor > AMOUNT_MAX_MINOR {
        return Err(EngineError::invalid(
            "amount.amount",
            format!(
                "{} credited as {} would exceed the largest amount harepay credits at once",
                received.display(),
                payment.credit_asset().display(credit_after_minor)
            ),
        ));
    }
    let credit_minor = checked_sub_minor(credit_after_minor, credit_before_minor)?;
    let completes = total_minor >= payment.amount.amount_minor;
    let reason = if completes { "payment_intent.processing" } else { "payment_intent.partially_paid" };
    let builder = match &payment.settlement {
        None => LedgerTransactionBuilder::new().transfer(
            AccountKind::External,
            AccountKind::Pending,
            paid_asset,
            received.amount_minor,
        ),
        Some(settlement) => LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::FxClearing, paid_asset, received.amount_minor)
            .transfer(AccountKind::FxClearing, AccountKind::Pending, settlement.asset, credit_minor),
    };
    let transaction = builder.finish(ids.next_id("ltx"), &payment.id, reason);
    balances.apply(&transaction)?;
    let mut next = payment.clone();
    next.amount_received_minor = total_minor;
    next.updated_at_ms = now_ms;
    if completes {
        next.status = PaymentStatus::Processing;
        next.next_action = None;
        if credit_after_minor != payment.requested_credit_minor() {
            let fees = fees.expect("only a receipt of exactly what remains comes without a fee schedule");
            next.fee_minor = fees.fee_minor(payment.rail, payment.credit_asset(), credit_after_minor);
        }
    } else {
        next.status = PaymentStatus::PartiallyPaid;
        // The simulated payer pays in full or not at all: once part came, the caller drives it.
        next.auto_settle_at_ms = None;
    }
    Ok((next, transaction))
}

/// Gives back what a waiting or processing intent holds in `pending`: the credited asset to
/// `external` (through `fx_clearing` for a payment settled as fiat), `None` when it holds nothing.
fn return_received(
    payment: &PaymentIntent,
    reason: &'static str,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
) -> Result<Option<LedgerTransaction>, EngineError> {
    if payment.amount_received_minor == 0 {
        return Ok(None);
    }
    let paid_asset = payment.amount.asset;
    let received_minor = payment.amount_received_minor;
    let credited_minor = payment.credit_for_received_minor(received_minor);
    let builder = match &payment.settlement {
        None => LedgerTransactionBuilder::new().transfer(
            AccountKind::Pending,
            AccountKind::External,
            paid_asset,
            received_minor,
        ),
        Some(settlement) => LedgerTransactionBuilder::new()
            .transfer(AccountKind::Pending, AccountKind::FxClearing, settlement.asset, credited_minor)
            .transfer(AccountKind::FxClearing, AccountKind::External, paid_asset, received_minor),
    };
    let transaction = builder.finish(ids.next_id("ltx"), &payment.id, reason);
    balances.apply(&transaction)?;
    Ok(Some(transaction))
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
    if !(payment.status.awaits_payer() || payment.status == PaymentStatus::Processing) {
        return Err(payment.refuse("failure"));
    }
    let reversal = return_received(payment, "payment_intent.payment_failed", balances, ids)?;
    let mut next = payment.clone();
    next.status = PaymentStatus::Failed;
    next.next_action = None;
    next.auto_settle_at_ms = None;
    next.failure_reason = Some(reason.to_owned());
    next.updated_at_ms = now_ms;
    Ok((next, reversal))
}

/// Only a payment still waiting for the payer can be canceled; what part of it was received
/// goes back to the payer.
pub fn cancel_payment_intent(
    payment: &PaymentIntent,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, Option<LedgerTransaction>), EngineError> {
    if !payment.status.awaits_payer() {
        return Err(payment.refuse("cancel"));
    }
    let reversal = return_received(payment, "payment_intent.canceled", balances, ids)?;
    let mut next = payment.clone();
    next.status = PaymentStatus::Canceled;
    next.next_action = None;
    next.auto_settle_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok((next, reversal))
}

/// The intent waited for the payer past its expiry: it is `expired`, its payment instructions
/// are withdrawn, and what part of it was received goes back to the payer.
pub fn expire_payment_intent(
    payment: &PaymentIntent,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, Option<LedgerTransaction>), EngineError> {
    if !payment.status.awaits_payer() {
        return Err(payment.refuse("expiry"));
    }
    if !payment.lapsed_at(now_ms) {
        return Err(EngineError::invalid("expires_at_ms", format!("{} has not reached its expiry", payment.id)));
    }
    let reversal = return_received(payment, "payment_intent.expired", balances, ids)?;
    let mut next = payment.clone();
    next.status = PaymentStatus::Expired;
    next.next_action = None;
    next.auto_settle_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok((next, reversal))
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
            expires_in_ms: None,
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
        let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
        let (canceled, reversal) = cancel_payment_intent(&created, &mut balances, &mut ids, 1).unwrap();
        assert_eq!(canceled.status, PaymentStatus::Canceled);
        assert!(reversal.is_none(), "nothing was received, nothing goes back");
        assert_eq!(cancel_payment_intent(&canceled, &mut balances, &mut ids, 2).unwrap_err().code(), "invalid_state");
    }

    fn ngn(amount_minor: i64) -> Money {
        Money { asset: Asset::lookup("NGN").unwrap(), amount_minor }
    }

    fn waiting_ngn(amount_minor: i64, expires_in_ms: Option<i64>) -> PaymentIntent {
        let mut new = request("NGN", amount_minor, PaymentMethod::BankTransfer, Rail::Rubies);
        new.expires_in_ms = expires_in_ms;
        create_payment_intent(&scope(), new, &PaymentRules::default(), "pi_9".into(), 0).unwrap()
    }

    #[test]
    fn two_partial_receipts_wait_in_pending_then_settle_what_was_received() {
        let (mut ids, mut balances, fees) = (SequentialIds::default(), Balances::default(), FeeSchedule::default());
        let ngn_asset = Asset::lookup("NGN").unwrap();
        let created = waiting_ngn(1_000_000, None);
        let (partial, first) = receive_payment(&created, ngn(600_000), &fees, &mut balances, &mut ids, 1).unwrap();
        assert_eq!(
            (partial.status, partial.amount_received_minor, partial.amount_remaining_minor()),
            (PaymentStatus::PartiallyPaid, 600_000, 400_000)
        );
        assert_eq!(first.reason, "payment_intent.partially_paid");
        assert!(partial.next_action.is_some(), "the payer still needs the instructions for the rest");
        assert_eq!(balances.get(AccountKind::Pending, ngn_asset), 600_000);
        assert_eq!(balances.get(AccountKind::Available, ngn_asset), 0, "nothing is credited before the amount arrives");
        let (processing, _) = mark_processing(&partial, &mut balances, &mut ids, 2).unwrap();
        assert_eq!((processing.amount_received_minor, processing.fee_minor), (1_000_000, created.fee_minor));
        let (succeeded, _) = mark_succeeded(&processing, &mut balances, &mut ids, 3).unwrap();
        assert_eq!(balances.get(AccountKind::Available, ngn_asset), 1_000_000 - created.fee_minor);
        assert_eq!(succeeded.amount_paid_minor(), 1_000_000);
    }

    #[test]
    fn an_over_payment_is_credited_whole_with_the_fee_on_what_was_received() {
        let (mut ids, mut balances, fees) = (SequentialIds::default(), Balances::default(), FeeSchedule::default());
        let created = waiting_ngn(1_000_000, None);
        let (processing, _) = receive_payment(&created, ngn(1_500_000), &fees, &mut balances, &mut ids, 1).unwrap();
        assert_eq!(processing.status, PaymentStatus::Processing);
        assert_eq!(processing.excess_received_minor(), 500_000);
        assert_eq!(processing.fee_minor, 7_500, "0.5% of what was received");
        let (succeeded, _) = mark_succeeded(&processing, &mut balances, &mut ids, 2).unwrap();
        assert_eq!(balances.get(AccountKind::Available, Asset::lookup("NGN").unwrap()), 1_500_000 - 7_500);
        assert_eq!(succeeded.refundable_minor(), 1_500_000, "refunds may give the excess back");
    }

    #[test]
    fn receipts_are_bounded_positive_and_in_the_paid_currency() {
        let (mut ids, mut balances, fees) = (SequentialIds::default(), Balances::default(), FeeSchedule::default());
        let created = waiting_ngn(1_000, None);
        let refuse = |received: Money, balances: &mut Balances, ids: &mut SequentialIds| {
            let error = receive_payment(&created, received, &fees, balances, ids, 1).unwrap_err();
            (error.code(), error.param())
        };
        assert_eq!(refuse(ngn(0), &mut balances, &mut ids), ("invalid_request", Some("amount.amount")));
        assert_eq!(refuse(ngn(-5), &mut balances, &mut ids), ("invalid_request", Some("amount.amount")));
        assert_eq!(refuse(ngn(10_001), &mut balances, &mut ids), ("invalid_request", Some("amount.amount")));
        assert_eq!(refuse(ngn(i64::MAX), &mut balances, &mut ids), ("invalid_request", Some("amount.amount")));
        let usd = Money { asset: Asset::lookup("USD").unwrap(), amount_minor: 1_000 };
        assert_eq!(refuse(usd, &mut balances, &mut ids), ("invalid_request", Some("amount.currency")));
        assert_eq!(balances, Balances::default(), "a refused receipt moves nothing");
        assert!(
            receive_payment(&created, ngn(10_000), &fees, &mut balances, &mut ids, 1).is_ok(),
            "ten times is the most"
        );
    }

    #[test]
    fn a_lapsed_intent_refuses_payment_and_expiry_returns_what_it_received() {
        let (mut ids, mut balances, fees) = (SequentialIds::default(), Balances::default(), FeeSchedule::default());
        let ngn_asset = Asset::lookup("NGN").unwrap();
        let created = waiting_ngn(1_000_000, Some(60_000));
        assert_eq!(created.expires_at_ms, Some(60_000));
        assert_eq!(
            expire_payment_intent(&created, &mut balances, &mut ids, 59_999).unwrap_err().code(),
            "invalid_request"
        );
        let (partial, _) = receive_payment(&created, ngn(250_000), &fees, &mut balances, &mut ids, 59_999).unwrap();
        // At its expiry, before any sweep: no receipt, not even exactly what remains.
        let late = receive_payment(&partial, ngn(750_000), &fees, &mut balances, &mut ids, 60_000).unwrap_err();
        assert_eq!(late.to_string(), "payment_intent pi_9 is expired; payment is not possible in that status");
        assert_eq!(mark_processing(&partial, &mut balances, &mut ids, 60_000).unwrap_err().code(), "invalid_state");
        let (expired, reversal) = expire_payment_intent(&partial, &mut balances, &mut ids, 60_000).unwrap();
        assert_eq!((expired.status, expired.next_action.clone()), (PaymentStatus::Expired, None));
        assert_eq!(reversal.unwrap().reason, "payment_intent.expired");
        assert_eq!(balances.get(AccountKind::Pending, ngn_asset), 0);
        assert_eq!(balances.get(AccountKind::External, ngn_asset), 0, "the payer has it back");
        assert_eq!((expired.amount_received_minor, expired.amount_paid_minor()), (250_000, 0));
        assert_eq!(
            expire_payment_intent(&expired, &mut balances, &mut ids, 60_001).unwrap_err().code(),
            "invalid_state"
        );
        // A processing payment received its amount in time: it no longer expires.
        let other = waiting_ngn(1_000, Some(1_000));
        let (processing, _) = mark_processing(&other, &mut balances, &mut ids, 999).unwrap();
        assert!(!processing.lapsed_at(5_000));
        assert!(mark_succeeded(&processing, &mut balances, &mut ids, 5_000).is_ok());
    }

    #[test]
    fn expiry_is_bounded() {
        for bad in [0, -1, PAYMENT_INTENT_EXPIRY_MIN_MS - 1, PAYMENT_INTENT_EXPIRY_MAX_MS + 1, i64::MAX] {
            let mut new = request("NGN", 100, PaymentMethod::Card, Rail::Card);
            new.expires_in_ms = Some(bad);
            check_refused(new, "expires_in_ms");
        }
    }

    #[test]
    fn split_crypto_receipts_credit_exactly_what_one_receipt_would() {
        let (mut ids, mut balances, fees) = (SequentialIds::default(), Balances::default(), FeeSchedule::default());
        let ngn_asset = Asset::lookup("NGN").unwrap();
        let mut crypto = request("USDC", 100_000_000, PaymentMethod::Crypto, Rail::Partna);
        crypto.network = Some(Network::Tron);
        crypto.settle_as = Some(ngn_asset);
        let created = create_payment_intent(&scope(), crypto, &PaymentRules::default(), "pi_c".into(), 0).unwrap();
        let usdc = |amount_minor| Money { asset: Asset::lookup("USDC").unwrap(), amount_minor };
        let mut current = created.clone();
        for part in [33_333_333, 33_333_333] {
            current = receive_payment(&current, usdc(part), &fees, &mut balances, &mut ids, 1).unwrap().0;
        }
        let (processing, _) = mark_processing(&current, &mut balances, &mut ids, 2).unwrap();
        assert_eq!(balances.get(AccountKind::Pending, ngn_asset), created.settlement.unwrap().amount_minor);
        assert_eq!(processing.credit_amount_minor(), 15_500_000);
        assert_eq!(processing.fee_minor, created.fee_minor);
    }
}
