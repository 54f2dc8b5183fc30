//! Payouts and their maker-checker approval.
//!
//! ```text
//!            ┌──────────────► pending ──► processing ──► paid
//! create ────┤ (below threshold)  │             └──────► failed      (funds released)
//!            │                    └──► canceled                       (funds released)
//!            └──► pending_approval ──approve──► processing
//!                        ├──reject / expire / cancel──► canceled      (funds released)
//! ```
//! Creating a payout moves its amount from `available` to `reserved`, or fails with
//! `insufficient_funds`; paid moves it from `reserved` to `external`; every other end releases
//! it back to `available`. The approver must be a different person than the maker: the owners
//! of the two keys must not look alike (`identity::same_owner`), whatever their roles.
//!
//! A payout waits for a checker when it meets its currency's threshold, or when it is just under
//! the threshold and, with the same person's other payouts just under it in the rolling day, it
//! reaches the threshold (structuring: a large payout split into parts).

use std::collections::BTreeMap;

use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::identity::same_owner;
use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction, LedgerTransactionBuilder};
use crate::engine::money::{Asset, AssetRef, Money, Network, checked_add_minor};
use crate::engine::permission::{Action, role_may};
use crate::engine::principal::{Principal, Scope};
use crate::engine::rail::{Rail, simulated_step_at_ms};
use crate::limits::{BANK_ACCOUNT_NAME_MAX_CHARS, BANK_ACCOUNT_NO_MAX_CHARS, BANK_CODE_MAX_CHARS, echo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A bank account. NGN accounts are 10-digit NUBANs with a 3–6 digit bank code.
    Bank {
        account_no: String,
        bank_code: String,
        account_name: Option<String>,
    },
    CryptoWallet {
        address: String,
        network: Network,
    },
}

impl Destination {
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Bank { .. } => "bank",
            Destination::CryptoWallet { .. } => "crypto_wallet",
        }
    }

    /// Short, non-sensitive form for messages and the audit log: the last four characters.
    pub fn describe(&self) -> String {
        let tail = |text: &str| text.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>();
        match self {
            Destination::Bank { account_no, bank_code, .. } => {
                format!("bank {bank_code} account …{}", tail(account_no))
            }
            Destination::CryptoWallet { address, network } => format!("{} wallet …{}", network.code(), tail(address)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayoutStatus {
    PendingApproval,
    Pending,
    Processing,
    Paid,
    Failed,
    Canceled,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 6] = [
        PayoutStatus::PendingApproval,
        PayoutStatus::Pending,
        PayoutStatus::Processing,
        PayoutStatus::Paid,
        PayoutStatus::Failed,
        PayoutStatus::Canceled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PayoutStatus::PendingApproval => "pending_approval",
            PayoutStatus::Pending => "pending",
            PayoutStatus::Processing => "processing",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Canceled => "canceled",
        }
    }

    pub fn parse(code: &str) -> Option<PayoutStatus> {
        PayoutStatus::ALL.into_iter().find(|status| status.code() == code)
    }

    /// Whether the payout's amount still counts against spend limits: it left, or may still leave.
    pub fn counts_against_limits(self) -> bool {
        !matches!(self, PayoutStatus::Failed | PayoutStatus::Canceled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalDecision {
    Approved,
    Rejected,
    Expired,
}

impl ApprovalDecision {
    pub fn code(self) -> &'static str {
        match self {
            ApprovalDecision::Approved => "approved",
            ApprovalDecision::Rejected => "rejected",
            ApprovalDecision::Expired => "expired",
        }
    }

    pub fn parse(code: &str) -> Option<ApprovalDecision> {
        [ApprovalDecision::Approved, ApprovalDecision::Rejected, ApprovalDecision::Expired]
            .into_iter()
            .find(|decision| decision.code() == code)
    }
}

/// Why a payout waits for a checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalTrigger {
    /// The payout is at or above its currency's threshold.
    Threshold,
    /// The payout is just under the threshold, and with the same person's other payouts just
    /// under it in the rolling day it reaches the threshold: a large payout split into parts.
    Structuring,
}

impl ApprovalTrigger {
    pub fn code(self) -> &'static str {
        match self {
            ApprovalTrigger::Threshold => "threshold",
            ApprovalTrigger::Structuring => "structuring",
        }
    }

    pub fn parse(code: &str) -> Option<ApprovalTrigger> {
        [ApprovalTrigger::Threshold, ApprovalTrigger::Structuring].into_iter().find(|trigger| trigger.code() == code)
    }
}

/// The checker's side of a payout that needed approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The threshold the payout met (alone, or with the parts it was split from), in minor units
    /// of its currency.
    pub threshold_minor: i64,
    pub trigger: ApprovalTrigger,
    pub expires_at_ms: i64,
    pub decision: Option<ApprovalDecision>,
    /// Key id and owner of the approver; `None` for an expiry.
    pub decided_by_key_id: Option<String>,
    pub decided_by_owner: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub id: String,
    pub scope: Scope,
    pub amount: Money,
    pub rail: Rail,
    pub destination: Destination,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub status: PayoutStatus,
    pub created_by_key_id: String,
    pub created_by_owner: String,
    pub approval: Option<Approval>,
    pub failure_reason: Option<String>,
    pub cancellation_reason: Option<String>,
    /// Test mode only: when the simulated rail moves this payout on.
    pub simulate_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Payout {
    fn refuse(&self, action: &'static str) -> EngineError {
        EngineError::InvalidState { object: "payout", id: self.id.clone(), status: self.status.code(), action }
    }
}

/// Thresholds and expiry of maker-checker approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Payouts at or above the threshold of their currency need approval. A currency without a
    /// threshold never does.
    pub threshold_minor_by_asset: BTreeMap<&'static str, i64>,
    /// How long a pending approval holds its funds before it expires.
    pub expiry_ms: i64,
    /// The most a merchant may pay out per currency in a rolling day, all keys together. A
    /// currency without an entry has no merchant-wide limit.
    pub merchant_max_per_day_minor_by_asset: BTreeMap<&'static str, i64>,
}

impl Default for ApprovalPolicy {
    /// Roughly US$300–5,000 equivalents; deployments set their own with HAREPAY_APPROVAL_THRESHOLDS.
    fn default() -> Self {
        let mut policy = ApprovalPolicy {
            threshold_minor_by_asset: BTreeMap::new(),
            expiry_ms: crate::limits::APPROVAL_EXPIRY_DEFAULT_MS,
            merchant_max_per_day_minor_by_asset: BTreeMap::new(),
        };
        policy
            .parse_thresholds(
                "NGN=50000000,USD=500000,EUR=500000,GBP=500000,KES=50000000,GHS=5000000,ZAR=10000000,CAD=500000,\
                 JMD=50000000,XOF=3000000,USDC=5000000000,USDT=5000000000,BTC=10000000",
            )
            .expect("default thresholds parse");
        policy
    }
}

impl ApprovalPolicy {
    /// Parses `NGN=50000000,USD=500000` (minor units), replacing the named currencies.
    pub fn parse_thresholds(&mut self, text: &str) -> Result<(), String> {
        parse_minor_by_asset(text, "threshold", &mut self.threshold_minor_by_asset)
    }

    /// Parses merchant-wide daily payout limits, `NGN=500000000,USD=5000000` (minor units).
    pub fn parse_merchant_daily_limits(&mut self, text: &str) -> Result<(), String> {
        parse_minor_by_asset(text, "merchant daily limit", &mut self.merchant_max_per_day_minor_by_asset)
    }

    pub fn threshold_minor(&self, asset: AssetRef) -> Option<i64> {
        self.threshold_minor_by_asset.get(asset.code).copied()
    }

    pub fn merchant_max_per_day_minor(&self, asset: AssetRef) -> Option<i64> {
        self.merchant_max_per_day_minor_by_asset.get(asset.code).copied()
    }

    /// Whether `amount` is just under its currency's threshold: below it, and at least
    /// `STRUCTURING_BAND_PERCENT` of it. Only such payouts can be parts of a split.
    pub fn is_just_under_threshold(&self, amount: Money) -> bool {
        self.threshold_minor(amount.asset).is_some_and(|threshold_minor| {
            let band_floor_minor =
                i128::from(threshold_minor) * i128::from(crate::limits::STRUCTURING_BAND_PERCENT) / 100;
            amount.amount_minor < threshold_minor && i128::from(amount.amount_minor) >= band_floor_minor
        })
    }
}

fn parse_minor_by_asset(text: &str, what: &str, into: &mut BTreeMap<&'static str, i64>) -> Result<(), String> {
    for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        let (code, minor) = entry.split_once('=').ok_or(format!("{what} {entry:?} needs CURRENCY=minor_units"))?;
        let asset = Asset::lookup(code).ok_or(format!("unknown currency {code:?} in {what}"))?;
        let minor: i64 = minor
            .parse()
            .ok()
            .filter(|m| (1..=crate::limits::AMOUNT_MAX_MINOR).contains(m))
            .ok_or(format!("{what} {entry:?} must be a positive integer of minor units"))?;
        into.insert(asset.code, minor);
    }
    Ok(())
}

/// A key's spend limits for one currency. `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpendLimit {
    pub max_per_payout_minor: Option<i64>,
    pub max_per_day_minor: Option<i64>,
}

/// What the engine needs to know about recent payouts in the payout's currency, in the rolling
/// 24 hours before now, failed and canceled ones excluded. The app loads only what the policy
/// needs; what it does not load stays zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpendSoFar {
    /// By the maker's owner, through any of their keys (needed with a daily spend limit).
    pub owner_last_24h_minor: i64,
    /// By the whole merchant (needed with a merchant daily limit).
    pub merchant_last_24h_minor: i64,
    /// The owner's payouts just under the approval threshold (needed when this payout is just
    /// under it too): how many, and their total.
    pub owner_just_under_count: u32,
    pub owner_just_under_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayout {
    pub amount: Money,
    pub rail: Rail,
    pub destination: Destination,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// Checks a destination's shape for its currency and rail.
pub fn validate_destination(amount: Money, rail: Rail, destination: &Destination) -> Result<(), EngineError> {
    let asset = amount.asset;
    match destination {
        Destination::Bank { account_no, bank_code, account_name } => {
            if asset.is_crypto() {
                return Err(EngineError::invalid(
                    "destination.kind",
                    format!("{} pays out to a crypto_wallet, not a bank", asset.code),
                ));
            }
            if !matches!(rail, Rail::Rubies | Rail::Partna) {
                return Err(EngineError::invalid("rail", "bank payouts go over rail rubies or partna"));
            }
            if asset.code == "NGN" {
                if account_no.len() != 10 || !account_no.chars().all(|c| c.is_ascii_digit()) {
                    return Err(EngineError::invalid(
                        "destination.account_no",
                        format!("NGN bank accounts are 10-digit NUBANs, got {}", echo(account_no)),
                    ));
                }
            } else if !(6..=BANK_ACCOUNT_NO_MAX_CHARS).contains(&account_no.len())
                || !account_no.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(EngineError::invalid(
                    "destination.account_no",
                    format!("account_no must be 6 to {BANK_ACCOUNT_NO_MAX_CHARS} letters or digits"),
                ));
            }
            if !(3..=BANK_CODE_MAX_CHARS).contains(&bank_code.len()) || !bank_code.chars().all(|c| c.is_ascii_digit()) {
                return Err(EngineError::invalid(
                    "destination.bank_code",
                    format!("bank_code must be 3 to {BANK_CODE_MAX_CHARS} digits, got {}", echo(bank_code)),
                ));
            }
            if let Some(name) = account_name
                && (name.trim().is_empty() || name.chars().count() > BANK_ACCOUNT_NAME_MAX_CHARS)
            {
                return Err(EngineError::invalid(
                    "destination.account_name",
                    format!("account_name must be 1 to {BANK_ACCOUNT_NAME_MAX_CHARS} characters"),
                ));
            }
        }
        Destination::CryptoWallet { address, network } => {
            if !asset.is_crypto() {
                return Err(EngineError::invalid(
                    "destination.kind",
                    format!("{} pays out to a bank, not a crypto_wallet", asset.code),
                ));
            }
            if rail != Rail::Partna {
                return Err(EngineError::invalid("rail", "crypto payouts go over rail partna"));
            }
            if !asset.supports_network(*network) {
                return Err(EngineError::invalid(
                    "destination.network",
                    format!("{} is not carried on {}", asset.code, network.code()),
                ));
            }
            if !address_has_network_shape(address, *network) {
                return Err(EngineError::invalid(
                    "destination.address",
                    format!("{} is not a {} address", echo(address), network.code()),
                ));
            }
        }
    }
    Ok(())
}

fn is_base58(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l'))
}

/// Address shapes: TRON `T` + 33 base58; ETHEREUM and BASE `0x` + 40 hex; SOLANA 32–44 base58;
/// BITCOIN bech32 `bc1…` (14–74 chars) or legacy `1…`/`3…` base58 (26–35). Shape only: a
/// checksum needs the chain's own library and is the rail's to verify.
pub fn address_has_network_shape(address: &str, network: Network) -> bool {
    match network {
        Network::Tron => address.len() == 34 && address.starts_with('T') && is_base58(address),
        Network::Ethereum | Network::Base => {
            address.len() == 42 && address.starts_with("0x") && address[2..].chars().all(|c| c.is_ascii_hexdigit())
        }
        Network::Solana => (32..=44).contains(&address.len()) && is_base58(address),
        Network::Bitcoin => {
            let bech32 = address.starts_with("bc1")
                && (14..=74).contains(&address.len())
                && address[3..].chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
                && !address[3..].chars().any(|c| matches!(c, '1' | 'b' | 'i' | 'o'));
            let legacy = (address.starts_with('1') || address.starts_with('3'))
                && (26..=35).contains(&address.len())
                && is_base58(address);
            bech32 || legacy
        }
    }
}

/// What `create_payout` decided: the payout and the reservation of its funds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedPayout {
    pub payout: Payout,
    pub reservation: LedgerTransaction,
    pub approval_required: bool,
}

#[allow(clippy::too_many_arguments)]
pub fn create_payout(
    maker: &Principal,
    request: NewPayout,
    policy: &ApprovalPolicy,
    limit: SpendLimit,
    spent: SpendSoFar,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
    test_simulate_after_ms: Option<u64>,
) -> Result<CreatedPayout, EngineError> {
    if !role_may(maker.role, Action::Initiate) {
        return Err(EngineError::Forbidden { message: format!("a {} key cannot create payouts", maker.role.code()) });
    }
    validate_destination(request.amount, request.rail, &request.destination)?;
    let amount = request.amount;
    check_spend_limits(amount, limit, spent)?;
    check_merchant_daily_limit(amount, policy, spent)?;
    let id = ids.next_id("po");
    let reservation = LedgerTransactionBuilder::new()
        .transfer(AccountKind::Available, AccountKind::Reserved, amount.asset, amount.amount_minor)
        .finish(ids.next_id("ltx"), &id, "payout.created");
    balances.apply(&reservation)?;
    let trigger = approval_trigger(amount, policy, spent)?;
    let approval_required = trigger.is_some();
    let approval = trigger.zip(policy.threshold_minor(amount.asset)).map(|(trigger, threshold_minor)| Approval {
        threshold_minor,
        trigger,
        expires_at_ms: now_ms.saturating_add(policy.expiry_ms),
        decision: None,
        decided_by_key_id: None,
        decided_by_owner: None,
        decided_at_ms: None,
        reason: None,
    });
    let simulate_at_ms =
        simulated_step_at_ms(maker.scope.mode, test_simulate_after_ms, now_ms).filter(|_| !approval_required);
    let payout = Payout {
        id,
        scope: maker.scope.clone(),
        amount,
        rail: request.rail,
        destination: request.destination,
        description: request.description,
        metadata: request.metadata,
        status: if approval_required { PayoutStatus::PendingApproval } else { PayoutStatus::Pending },
        created_by_key_id: maker.key_id.clone(),
        created_by_owner: maker.accountable_owner.clone(),
        approval,
        failure_reason: None,
        cancellation_reason: None,
        simulate_at_ms,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    };
    Ok(CreatedPayout { payout, reservation, approval_required })
}

/// Why a payout needs a checker, if it does: its size, or its place in a split.
fn approval_trigger(
    amount: Money,
    policy: &ApprovalPolicy,
    spent: SpendSoFar,
) -> Result<Option<ApprovalTrigger>, EngineError> {
    let Some(threshold_minor) = policy.threshold_minor(amount.asset) else { return Ok(None) };
    if amount.amount_minor >= threshold_minor {
        return Ok(Some(ApprovalTrigger::Threshold));
    }
    if policy.is_just_under_threshold(amount) {
        let parts_minor = checked_add_minor(spent.owner_just_under_minor, amount.amount_minor)?;
        if parts_minor >= threshold_minor {
            return Ok(Some(ApprovalTrigger::Structuring));
        }
    }
    Ok(None)
}

/// `limit` is the strictest limit on any of the maker's owner's keys, and `spent` counts all of
/// the owner's keys, so a second key of the same person does not double an allowance.
fn check_spend_limits(amount: Money, limit: SpendLimit, spent: SpendSoFar) -> Result<(), EngineError> {
    if let Some(max_minor) = limit.max_per_payout_minor
        && amount.amount_minor > max_minor
    {
        return Err(limit_exceeded(
            "max_per_payout",
            "the key's owner, per payout",
            amount.asset,
            max_minor,
            max_minor,
        ));
    }
    if let Some(max_minor) = limit.max_per_day_minor {
        check_daily(amount, max_minor, spent.owner_last_24h_minor, "max_per_day", "the key's owner, all their keys")?;
    }
    Ok(())
}

fn check_merchant_daily_limit(amount: Money, policy: &ApprovalPolicy, spent: SpendSoFar) -> Result<(), EngineError> {
    match policy.merchant_max_per_day_minor(amount.asset) {
        Some(max_minor) => check_daily(
            amount,
            max_minor,
            spent.merchant_last_24h_minor,
            "merchant_max_per_day",
            "the whole merchant, all keys",
        ),
        None => Ok(()),
    }
}

fn check_daily(
    amount: Money,
    max_minor: i64,
    spent_minor: i64,
    limit: &'static str,
    applies_to: &'static str,
) -> Result<(), EngineError> {
    let after_minor = checked_add_minor(spent_minor, amount.amount_minor)?;
    if after_minor > max_minor {
        let remaining_minor = max_minor.saturating_sub(spent_minor).max(0);
        return Err(limit_exceeded(limit, applies_to, amount.asset, max_minor, remaining_minor));
    }
    Ok(())
}

fn limit_exceeded(
    limit: &'static str,
    applies_to: &'static str,
    asset: AssetRef,
    max_minor: i64,
    remaining_minor: i64,
) -> EngineError {
    EngineError::LimitExceeded {
        limit,
        applies_to,
        currency: asset.code,
        limit_display: asset.display(max_minor),
        remaining_minor,
        remaining_display: asset.display(remaining_minor),
    }
}

fn release(
    payout: &Payout,
    reason: &'static str,
    ids: &mut dyn IdSource,
    balances: &mut Balances,
) -> Result<LedgerTransaction, EngineError> {
    let transaction = LedgerTransactionBuilder::new()
        .transfer(AccountKind::Reserved, AccountKind::Available, payout.amount.asset, payout.amount.amount_minor)
        .finish(ids.next_id("ltx"), &payout.id, reason);
    balances.apply(&transaction)?;
    Ok(transaction)
}

/// The checker approves: the payout goes to the rail. Refused for the maker's own owner, for
/// roles other than approver and admin, and once the approval has expired.
pub fn approve_payout(
    payout: &Payout,
    approver: &Principal,
    reason: Option<String>,
    now_ms: i64,
    test_simulate_after_ms: Option<u64>,
) -> Result<Payout, EngineError> {
    let approval = check_checker(payout, approver, now_ms, "approve")?;
    let mut next = payout.clone();
    next.approval = Some(Approval {
        decision: Some(ApprovalDecision::Approved),
        decided_by_key_id: Some(approver.key_id.clone()),
        decided_by_owner: Some(approver.owner.clone()),
        decided_at_ms: Some(now_ms),
        reason,
        ..approval
    });
    next.status = PayoutStatus::Processing;
    next.simulate_at_ms = simulated_step_at_ms(payout.scope.mode, test_simulate_after_ms, now_ms);
    next.updated_at_ms = now_ms;
    Ok(next)
}

/// The checker rejects: the payout is canceled and its funds released.
pub fn reject_payout(
    payout: &Payout,
    approver: &Principal,
    reason: String,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Payout, LedgerTransaction), EngineError> {
    let approval = check_checker(payout, approver, now_ms, "reject")?;
    let transaction = release(payout, "payout.rejected", ids, balances)?;
    let mut next = payout.clone();
    next.approval = Some(Approval {
        decision: Some(ApprovalDecision::Rejected),
        decided_by_key_id: Some(approver.key_id.clone()),
        decided_by_owner: Some(approver.owner.clone()),
        decided_at_ms: Some(now_ms),
        reason: Some(reason.clone()),
        ..approval
    });
    next.status = PayoutStatus::Canceled;
    next.cancellation_reason = Some(format!("rejected: {reason}"));
    next.simulate_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok((next, transaction))
}

fn check_checker(
    payout: &Payout,
    approver: &Principal,
    now_ms: i64,
    action: &'static str,
) -> Result<Approval, EngineError> {
    if !role_may(approver.role, Action::DecideApproval) {
        return Err(EngineError::Forbidden {
            message: format!(
                "only an approver or admin key can {action} payouts; this key is {}",
                approver.role.code()
            ),
        });
    }
    if approver.scope != payout.scope {
        return Err(EngineError::NotFound { object: "payout", id: payout.id.clone() });
    }
    let Some(approval) = payout.approval.clone().filter(|_| payout.status == PayoutStatus::PendingApproval) else {
        return Err(payout.refuse(action));
    };
    let same_person = same_owner(&approver.owner, &payout.created_by_owner)
        || same_owner(&approver.accountable_owner, &payout.created_by_owner);
    if approver.key_id == payout.created_by_key_id || same_person {
        return Err(EngineError::Forbidden {
            message: format!(
                "self-approval is not allowed: {} was created by {}, and this key's owner {}{} is that person or a look-alike name; a different person must {action} it",
                payout.id,
                payout.created_by_owner,
                approver.owner,
                if approver.accountable_owner == approver.owner {
                    String::new()
                } else {
                    format!(" (a key made by {})", approver.accountable_owner)
                }
            ),
        });
    }
    if now_ms >= approval.expires_at_ms {
        return Err(EngineError::ApprovalExpired { payout_id: payout.id.clone() });
    }
    Ok(approval)
}

/// A pending approval past its expiry: canceled, funds released.
pub fn expire_approval(
    payout: &Payout,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Payout, LedgerTransaction), EngineError> {
    let approval = match &payout.approval {
        Some(approval) if payout.status == PayoutStatus::PendingApproval && now_ms >= approval.expires_at_ms => {
            approval.clone()
        }
        _ => return Err(payout.refuse("expiry")),
    };
    let transaction = release(payout, "payout.expired", ids, balances)?;
    let mut next = payout.clone();
    next.approval =
        Some(Approval { decision: Some(ApprovalDecision::Expired), decided_at_ms: Some(now_ms), ..approval });
    next.status = PayoutStatus::Canceled;
    next.cancellation_reason = Some("approval_expired".to_owned());
    next.updated_at_ms = now_ms;
    Ok((next, transaction))
}

/// The maker (or an admin) takes back a payout the rail has not picked up yet.
pub fn cancel_payout(
    payout: &Payout,
    actor: &Principal,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Payout, LedgerTransaction), EngineError> {
    if !role_may(actor.role, Action::Initiate) {
        return Err(EngineError::Forbidden { message: format!("a {} key cannot cancel payouts", actor.role.code()) });
    }
    if !matches!(payout.status, PayoutStatus::Pending | PayoutStatus::PendingApproval) {
        return Err(payout.refuse("cancel"));
    }
    let transaction = release(payout, "payout.canceled", ids, balances)?;
    let mut next = payout.clone();
    next.status = PayoutStatus::Canceled;
    next.cancellation_reason = Some(format!("canceled by {}", actor.owner));
    next.simulate_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok((next, transaction))
}

/// The rail picked the payout up.
pub fn mark_payout_processing(
    payout: &Payout,
    now_ms: i64,
    next_step_at_ms: Option<i64>,
) -> Result<Payout, EngineError> {
    if payout.status != PayoutStatus::Pending {
        return Err(payout.refuse("processing"));
    }
    let mut next = payout.clone();
    next.status = PayoutStatus::Processing;
    next.simulate_at_ms = next_step_at_ms;
    next.updated_at_ms = now_ms;
    Ok(next)
}

/// The rail delivered the money: reserved funds leave.
pub fn mark_payout_paid(
    payout: &Payout,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Payout, LedgerTransaction), EngineError> {
    if payout.status != PayoutStatus::Processing {
        return Err(payout.refuse("paid"));
    }
    let transaction = LedgerTransactionBuilder::new()
        .transfer(AccountKind::Reserved, AccountKind::External, payout.amount.asset, payout.amount.amount_minor)
        .finish(ids.next_id("ltx"), &payout.id, "payout.paid");
    balances.apply(&transaction)?;
    let mut next = payout.clone();
    next.status = PayoutStatus::Paid;
    next.simulate_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok((next, transaction))
}

/// The rail could not deliver: reserved funds return to available.
pub fn mark_payout_failed(
    payout: &Payout,
    reason: &str,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Payout, LedgerTransaction), EngineError> {
    if payout.status != PayoutStatus::Processing {
        return Err(payout.refuse("failure"));
    }
    let transaction = release(payout, "payout.failed", ids, balances)?;
    let mut next = payout.clone();
    next.status = PayoutStatus::Failed;
    next.failure_reason = Some(reason.to_owned());
    next.simulate_at_ms = None;
    next.updated_at_ms = now_ms;
    Ok((next, transaction))
}

/// Test-mode destinations that the simulated rail fails, so failures can be exercised.
pub fn simulated_rail_fails(destination: &Destination) -> bool {
    match destination {
        Destination::Bank { account_no, .. } => account_no == "0000000000",
        Destination::CryptoWallet { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SequentialIds;
    use crate::engine::principal::Role;
    use crate::engine::principal::test_principal as principal;

    fn ngn(amount_minor: i64) -> Money {
        Money::new(Asset::lookup("NGN").unwrap(), amount_minor).unwrap()
    }

    fn bank_payout(amount_minor: i64) -> NewPayout {
        NewPayout {
            amount: ngn(amount_minor),
            rail: Rail::Rubies,
            destination: Destination::Bank {
                account_no: "0123456789".into(),
                bank_code: "0001".into(),
                account_name: None,
            },
            description: None,
            metadata: BTreeMap::new(),
        }
    }

    fn funded(amount_minor: i64) -> Balances {
        let mut balances = Balances::default();
        balances.set(AccountKind::Available, Asset::lookup("NGN").unwrap(), amount_minor);
        balances
    }

    fn policy(threshold_minor: i64) -> ApprovalPolicy {
        let mut policy = ApprovalPolicy::default();
        policy.threshold_minor_by_asset.insert("NGN", threshold_minor);
        policy
    }

    fn create(amount_minor: i64, threshold_minor: i64, balances: &mut Balances) -> Result<CreatedPayout, EngineError> {
        let maker = principal("key_m", "alice", Role::Maker);
        create_payout(
            &maker,
            bank_payout(amount_minor),
            &policy(threshold_minor),
            SpendLimit::default(),
            SpendSoFar::default(),
            balances,
            &mut SequentialIds::default(),
            0,
            None,
        )
    }

    #[test]
    fn the_threshold_is_inclusive() {
        let mut balances = funded(1_000_000);
        assert_eq!(create(999, 1_000, &mut balances).unwrap().payout.status, PayoutStatus::Pending);
        assert_eq!(create(1_000, 1_000, &mut balances).unwrap().payout.status, PayoutStatus::PendingApproval);
        assert_eq!(create(1_001, 1_000, &mut balances).unwrap().payout.status, PayoutStatus::PendingApproval);
        let ngn = Asset::lookup("NGN").unwrap();
        assert_eq!(balances.get(AccountKind::Reserved, ngn), 3_000);
        assert_eq!(balances.get(AccountKind::Available, ngn), 997_000);
    }

    #[test]
    fn a_payout_above_the_available_balance_reserves_nothing() {
        let mut balances = funded(500);
        assert_eq!(create(501, 1_000, &mut balances).unwrap_err().code(), "insufficient_funds");
        assert_eq!(balances, funded(500));
    }

    #[test]
    fn self_approval_is_refused_for_every_role() {
        let mut balances = funded(10_000);
        let created = create(5_000, 1_000, &mut balances).unwrap().payout;
        for role in Role::ALL {
            let same_owner = principal("key_other", "alice", role);
            let error = approve_payout(&created, &same_owner, None, 1, None).unwrap_err();
            assert_eq!(error.code(), "forbidden", "{role:?}");
        }
        let maker = principal("key_m2", "bob", Role::Maker);
        assert_eq!(approve_payout(&created, &maker, None, 1, None).unwrap_err().code(), "forbidden");
        let approver = principal("key_a", "carol", Role::Approver);
        let approved = approve_payout(&created, &approver, Some("ok".into()), 1, None).unwrap();
        assert_eq!(approved.status, PayoutStatus::Processing);
        assert_eq!(approved.approval.unwrap().decided_by_owner.as_deref(), Some("carol"));
    }

    #[test]
    fn reject_and_expiry_release_the_funds() {
        let ngn = Asset::lookup("NGN").unwrap();
        let mut balances = funded(10_000);
        let mut ids = SequentialIds::default();
        let created = create(5_000, 1_000, &mut balances).unwrap().payout;
        let approver = principal("key_a", "carol", Role::Approver);
        let (rejected, _) =
            reject_payout(&created, &approver, "unknown vendor".into(), &mut balances, &mut ids, 1).unwrap();
        assert_eq!(rejected.status, PayoutStatus::Canceled);
        assert_eq!(balances.get(AccountKind::Available, ngn), 10_000);

        let created = create(5_000, 1_000, &mut balances).unwrap().payout;
        let expires_at_ms = created.approval.as_ref().unwrap().expires_at_ms;
        assert_eq!(
            expire_approval(&created, &mut balances, &mut ids, expires_at_ms - 1).unwrap_err().code(),
            "invalid_state"
        );
        assert_eq!(
            approve_payout(&created, &approver, None, expires_at_ms, None).unwrap_err().code(),
            "approval_expired"
        );
        let (expired, _) = expire_approval(&created, &mut balances, &mut ids, expires_at_ms).unwrap();
        assert_eq!(expired.cancellation_reason.as_deref(), Some("approval_expired"));
        assert_eq!(balances.get(AccountKind::Available, ngn), 10_000);
        assert_eq!(balances.get(AccountKind::Reserved, ngn), 0);
    }

    #[test]
    fn spend_limits_name_the_limit_and_what_remains() {
        let maker = principal("key_m", "alice", Role::Maker);
        let limit = SpendLimit { max_per_payout_minor: Some(10_000), max_per_day_minor: Some(25_000) };
        let attempt = |amount_minor, spent_minor| {
            create_payout(
                &maker,
                bank_payout(amount_minor),
                &ApprovalPolicy::default(),
                limit,
                SpendSoFar { owner_last_24h_minor: spent_minor, ..SpendSoFar::default() },
                &mut funded(1_000_000),
                &mut SequentialIds::default(),
                0,
                None,
            )
        };
        assert!(attempt(10_000, 15_000).is_ok());
        match attempt(10_001, 0).unwrap_err() {
            EngineError::LimitExceeded { limit, remaining_minor, .. } => {
                assert_eq!((limit, remaining_minor), ("max_per_payout", 10_000));
            }
            other => panic!("{other:?}"),
        }
        match attempt(10_000, 15_001).unwrap_err() {
            EngineError::LimitExceeded { limit, remaining_minor, .. } => {
                assert_eq!((limit, remaining_minor), ("max_per_day", 9_999));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn look_alike_owners_cannot_approve_each_other() {
        let mut balances = funded(10_000);
        let created = create(5_000, 1_000, &mut balances).unwrap().payout;
        for look_alike in ["Alice", " alice", "ali\u{200B}ce", "ＡＬＩＣＥ", "\u{0430}lice"] {
            let approver = principal("key_a", look_alike, Role::Approver);
            let error = approve_payout(&created, &approver, None, 1, None).unwrap_err();
            assert_eq!(error.code(), "forbidden", "{look_alike:?}");
            let error = reject_payout(
                &created,
                &approver,
                "no".into(),
                &mut balances.clone(),
                &mut SequentialIds::default(),
                1,
            )
            .unwrap_err();
            assert_eq!(error.code(), "forbidden", "{look_alike:?}");
        }
    }

    fn create_with(
        amount_minor: i64,
        policy: &ApprovalPolicy,
        spent: SpendSoFar,
    ) -> Result<CreatedPayout, EngineError> {
        let maker = principal("key_m", "alice", Role::Maker);
        create_payout(
            &maker,
            bank_payout(amount_minor),
            policy,
            SpendLimit::default(),
            spent,
            &mut funded(10_000_000),
            &mut SequentialIds::default(),
            0,
            None,
        )
    }

    #[test]
    fn a_payout_split_just_under_the_threshold_waits_for_approval() {
        let policy = policy(100_000);
        // Alone, just under the threshold: no approval.
        let alone = create_with(99_999, &policy, SpendSoFar::default()).unwrap();
        assert!(!alone.approval_required);
        // The second part of a split: with the first it reaches the threshold.
        let earlier = SpendSoFar { owner_just_under_count: 1, owner_just_under_minor: 60_000, ..SpendSoFar::default() };
        let second = create_with(60_000, &policy, earlier).unwrap();
        assert!(second.approval_required);
        assert_eq!(second.payout.status, PayoutStatus::PendingApproval);
        assert_eq!(second.payout.approval.unwrap().trigger, ApprovalTrigger::Structuring);
        // Below the band (under a quarter of the threshold) a payout is not a part, however many came before.
        let many = SpendSoFar { owner_just_under_count: 9, owner_just_under_minor: 900_000, ..SpendSoFar::default() };
        assert!(!create_with(24_999, &policy, many).unwrap().approval_required);
        assert!(create_with(25_000, &policy, many).unwrap().approval_required);
        // At the threshold the trigger is the threshold itself.
        let at = create_with(100_000, &policy, SpendSoFar::default()).unwrap();
        assert_eq!(at.payout.approval.unwrap().trigger, ApprovalTrigger::Threshold);
    }

    #[test]
    fn the_merchant_daily_limit_counts_every_key() {
        let mut policy = policy(1_000_000);
        policy.parse_merchant_daily_limits("NGN=300000").unwrap();
        let spent = SpendSoFar { merchant_last_24h_minor: 250_000, ..SpendSoFar::default() };
        assert!(create_with(50_000, &policy, spent).is_ok());
        match create_with(50_001, &policy, spent).unwrap_err() {
            EngineError::LimitExceeded { limit, remaining_minor, .. } => {
                assert_eq!((limit, remaining_minor), ("merchant_max_per_day", 50_000));
            }
            other => panic!("{other:?}"),
        }
        assert!(policy.parse_merchant_daily_limits("NGN=0").is_err());
        assert!(policy.parse_merchant_daily_limits("XYZ=5").is_err());
    }

    #[test]
    fn destinations_are_validated_per_currency_and_network() {
        let check = |amount: Money, rail, destination: Destination| {
            validate_destination(amount, rail, &destination).map_err(|e| e.param())
        };
        let bank = |account_no: &str, bank_code: &str| Destination::Bank {
            account_no: account_no.into(),
            bank_code: bank_code.into(),
            account_name: None,
        };
        assert_eq!(check(ngn(1), Rail::Rubies, bank("0123456789", "058")), Ok(()));
        assert_eq!(check(ngn(1), Rail::Rubies, bank("012345678", "058")), Err(Some("destination.account_no")));
        assert_eq!(check(ngn(1), Rail::Rubies, bank("01234567a9", "058")), Err(Some("destination.account_no")));
        assert_eq!(check(ngn(1), Rail::Rubies, bank("0123456789", "58")), Err(Some("destination.bank_code")));
        assert_eq!(check(ngn(1), Rail::Card, bank("0123456789", "058")), Err(Some("rail")));
        let usdc = Money::new(Asset::lookup("USDC").unwrap(), 1).unwrap();
        let wallet = |address: &str, network| Destination::CryptoWallet { address: address.into(), network };
        let tron = format!("T{}", "A".repeat(33));
        let eth = format!("0x{}", "ab".repeat(20));
        assert_eq!(check(usdc, Rail::Partna, wallet(&tron, Network::Tron)), Ok(()));
        assert_eq!(check(usdc, Rail::Partna, wallet(&eth, Network::Base)), Ok(()));
        assert_eq!(check(usdc, Rail::Partna, wallet(&eth, Network::Tron)), Err(Some("destination.address")));
        assert_eq!(check(usdc, Rail::Partna, wallet(&tron, Network::Bitcoin)), Err(Some("destination.network")));
        assert_eq!(check(usdc, Rail::Partna, bank("0123456789", "058")), Err(Some("destination.kind")));
        assert_eq!(check(ngn(1), Rail::Partna, wallet(&tron, Network::Tron)), Err(Some("destination.kind")));
        let btc = Money::new(Asset::lookup("BTC").unwrap(), 1).unwrap();
        assert_eq!(
            check(btc, Rail::Partna, wallet("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Network::Bitcoin)),
            Ok(())
        );
        assert_eq!(check(btc, Rail::Partna, wallet("bc1QAR0", Network::Bitcoin)), Err(Some("destination.address")));
    }
}
