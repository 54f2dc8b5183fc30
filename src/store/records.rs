//! What the store loads and saves besides the engine's own types: merchants, keys, idempotency,
//! audit and event records, list pages and filters, the ledger report and the scheduler's steps.
//! Plain data, the same for every backend.

use crate::engine::invoice::InvoiceStatus;
use crate::engine::ledger::AccountKind;
use crate::engine::money::AssetRef;
use crate::engine::payment::PaymentStatus;
use crate::engine::payout::PayoutStatus;
use crate::engine::principal::{Mode, Role, Scope};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantRecord {
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
}

/// An API key as stored: the secret itself is never kept, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub mode: Mode,
    pub role: Role,
    pub owner: String,
    /// What `owner` is compared by (`engine::identity::owner_skeleton`): spend limits and
    /// maker-checker treat look-alike names as one person.
    pub owner_skeleton: String,
    pub key_sha256_hex: String,
    /// The last four characters, so people can tell keys apart.
    pub key_last4: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    /// When the key stops working; `None`: never.
    pub expires_at_ms: Option<i64>,
    /// The key that made this one through a tool; `None`: the operator's command line.
    pub created_by_key_id: Option<String>,
    /// A key made through a tool answers to its creator's owner (whose skeleton it carries), so
    /// that a key minted for a made-up name is not a second person; `None`: `owner` itself.
    pub accountable_owner: Option<String>,
}

/// What an idempotency key produced the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub scope: Scope,
    pub key: String,
    /// The tool the key was first used with.
    pub operation: String,
    /// SHA-256 of the canonical request, so a reuse with other arguments is detected.
    pub request_sha256_hex: String,
    pub object_id: Option<String>,
    /// The result as first returned, replayed verbatim.
    pub response_json: String,
    pub created_at_ms: i64,
}

/// One write attempt: executed, previewed, replayed or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub scope: Scope,
    pub key_id: String,
    pub actor_owner: String,
    pub tool: String,
    pub outcome: String,
    pub error_type: Option<String>,
    pub object_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub detail: String,
    pub created_at_ms: i64,
    /// The HTTP request (`X-Request-Id`) the attempt came in; none on stdio and for harepay's own
    /// decisions.
    pub request_id: Option<String>,
}

/// An event in the outbox, written with the state change it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: String,
    pub scope: Scope,
    pub event_type: String,
    pub object_id: String,
    pub payload_json: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// Return items older than this id (lists are newest first).
    pub starting_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    pub status: Option<PaymentStatus>,
    pub customer: Option<String>,
    pub created_gte_ms: Option<i64>,
    pub created_lt_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutFilter {
    pub status: Option<PayoutStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Customers whose email is this address, compared without regard to ASCII case.
    pub email: Option<String>,
    /// Only archived (true) or only active (false) customers; all when `None`.
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceFilter {
    pub product_id: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub customer_id: Option<String>,
}

/// What `invoice_totals` adds up: every invoice of the scope, or one customer's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceTotalsFilter {
    pub customer_id: Option<String>,
}

/// The invoices of one status and currency, added up. Sums are i128: many invoices of the
/// largest amount add up to more than an i64 holds, and a total must never be wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceTotalsRow {
    pub status: InvoiceStatus,
    pub currency: AssetRef,
    pub count: i64,
    pub total_minor: i128,
    pub amount_paid_minor: i128,
    /// The sum of each invoice's `max(0, total − amount_paid)`.
    pub amount_remaining_minor: i128,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub object_id: Option<String>,
}

/// One merchant balance row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub asset: AssetRef,
    pub account: AccountKind,
    pub balance_minor: i64,
}

/// What `verify_ledger` found. Empty lists mean the ledger is sound. Every sum is taken in i128
/// over the stored rows, so a verification cannot itself overflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerReport {
    pub transaction_count: i64,
    pub posting_count: i64,
    /// (transaction id, asset, sum) for transactions whose postings do not sum to zero.
    pub unbalanced_transactions: Vec<(String, String, i128)>,
    /// (asset, sum) where all postings of an asset do not sum to zero.
    pub unbalanced_assets: Vec<(String, i128)>,
    /// (merchant, mode, account, asset, balance) for merchant balances below zero.
    pub negative_balances: Vec<(String, String, String, String, i64)>,
    /// Stored balances that differ from the sum of their account's postings.
    pub balance_mismatches: Vec<BalanceMismatch>,
    /// Balances and postings that are not integers, in the ledger tables or in the quarantine
    /// where migration 5 put those it found.
    pub non_integer_values: Vec<NonIntegerValue>,
    /// Accounts harepay does not know, in words: a code it does not write, or a customer prepaid
    /// account whose customer is not in that merchant and mode.
    pub unknown_accounts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceMismatch {
    /// "merchant mode account asset", e.g. "mch_1 test external NGN".
    pub account: String,
    /// `None` when the account has postings but no stored balance (or one that is not an integer).
    pub stored_minor: Option<i64>,
    pub postings_sum_minor: i128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonIntegerValue {
    /// Where it is, in words: "balance of mch_1 test external NGN", "posting 42 of ltx_…",
    /// with "(quarantined by migration 5)" when it was moved out of the ledger tables.
    pub location: String,
    /// The SQLite type and the value as stored, e.g. "real -9.22337203685478e+18".
    pub stored: String,
}

impl LedgerReport {
    pub fn is_sound(&self) -> bool {
        self.unbalanced_transactions.is_empty()
            && self.unbalanced_assets.is_empty()
            && self.negative_balances.is_empty()
            && self.balance_mismatches.is_empty()
            && self.non_integer_values.is_empty()
            && self.unknown_accounts.is_empty()
    }

    /// What is wrong, one sentence per problem; empty when sound.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (transaction, asset, sum) in &self.unbalanced_transactions {
            problems.push(format!("transaction {transaction} sums to {sum} in {asset}, not zero"));
        }
        for (asset, sum) in &self.unbalanced_assets {
            problems.push(format!("postings in {asset} sum to {sum}, not zero"));
        }
        for (merchant, mode, account, asset, balance) in &self.negative_balances {
            problems.push(format!("{merchant} {mode} {account} {asset} is negative ({balance})"));
        }
        for mismatch in &self.balance_mismatches {
            let stored =
                mismatch.stored_minor.map_or_else(|| "no integer balance".to_owned(), |minor| minor.to_string());
            problems.push(format!(
                "{} is stored as {stored} but its postings sum to {}",
                mismatch.account, mismatch.postings_sum_minor
            ));
        }
        for value in &self.non_integer_values {
            problems.push(format!("{} is not an integer: {}", value.location, value.stored));
        }
        for account in &self.unknown_accounts {
            problems.push(format!("unknown ledger account {account}"));
        }
        problems
    }
}

/// The kinds of work the scheduler finds due. Each kind has its own due query and its own retry
/// records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScheduledStep {
    /// A payout awaiting approval whose approval window has closed (every mode).
    ExpireApproval,
    /// A test-mode payment the simulated payer settles.
    SettleTestPayment,
    /// A test-mode payout the simulated rail moves one step on.
    AdvanceTestPayout,
    /// A payment intent still waiting for the payer whose expiry has come (every mode).
    ExpirePayment,
    /// An open invoice whose `expires_at` has come (every mode).
    ExpireInvoice,
    /// A subscription whose current period has ended in its merchant's billing time.
    CloseSubscriptionPeriod,
    /// A dispute still needing a response at its evidence due date, closed as lost (every mode).
    CloseOverdueDispute,
}

impl ScheduledStep {
    pub const ALL: [ScheduledStep; 7] = [
        ScheduledStep::ExpireApproval,
        ScheduledStep::SettleTestPayment,
        ScheduledStep::AdvanceTestPayout,
        ScheduledStep::ExpirePayment,
        ScheduledStep::ExpireInvoice,
        ScheduledStep::CloseSubscriptionPeriod,
        ScheduledStep::CloseOverdueDispute,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ScheduledStep::ExpireApproval => "expire_approval",
            ScheduledStep::SettleTestPayment => "settle_test_payment",
            ScheduledStep::AdvanceTestPayout => "advance_test_payout",
            ScheduledStep::ExpirePayment => "expire_payment",
            ScheduledStep::ExpireInvoice => "expire_invoice",
            ScheduledStep::CloseSubscriptionPeriod => "close_subscription_period",
            ScheduledStep::CloseOverdueDispute => "close_overdue_dispute",
        }
    }

    pub fn parse(code: &str) -> Option<ScheduledStep> {
        ScheduledStep::ALL.into_iter().find(|step| step.code() == code)
    }
}

/// A step that is due: the object it acts on and how often it has failed so far. The object
/// itself is loaded by the step, so that an object that cannot be loaded fails only its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueStep {
    pub object_id: String,
    pub scope: Scope,
    pub failed_attempts: u32,
}

/// A scheduled step that failed: when it is tried again, or that it is parked. Removed when the
/// step succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRetry {
    pub step: ScheduledStep,
    pub object_id: String,
    pub scope: Scope,
    /// Failed tries in a row.
    pub attempts: u32,
    pub last_error: String,
    pub last_attempt_at_ms: i64,
    /// `None` once parked: the due queries no longer return the step.
    pub next_attempt_at_ms: Option<i64>,
}
