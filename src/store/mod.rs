//! Persistence behind a trait. All SQL lives below this folder: the SQLite backend now,
//! a PostgreSQL backend for multi-instance deployments later.
//!
//! Architecture Invariant: the store never decides. It loads and saves engine types and the
//! records below; whether a change is allowed is the engine's call, and only the app layer opens
//! write sessions (`begin_write`), so it alone decides what commits together.

pub mod sqlite;
mod sqlite_ledger;
mod sqlite_payouts;
mod sqlite_scheduler;

use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction};
use crate::engine::money::AssetRef;
use crate::engine::payment::{PaymentIntent, PaymentStatus, Refund};
use crate::engine::payout::{Payout, PayoutStatus, SpendLimit};
use crate::engine::principal::{Mode, Role, Scope};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// A posting would take a stored balance outside i64. The engine refuses such a posting
    /// first; this is the store's own guard, so the database never holds an overflowed sum.
    #[error("ledger posting refused: {0}")]
    BalanceOverflow(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

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
    pub key_sha256_hex: String,
    /// The last four characters, so people can tell keys apart.
    pub key_last4: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
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
}

impl ScheduledStep {
    pub const ALL: [ScheduledStep; 3] =
        [ScheduledStep::ExpireApproval, ScheduledStep::SettleTestPayment, ScheduledStep::AdvanceTestPayout];

    pub fn code(self) -> &'static str {
        match self {
            ScheduledStep::ExpireApproval => "expire_approval",
            ScheduledStep::SettleTestPayment => "settle_test_payment",
            ScheduledStep::AdvanceTestPayout => "advance_test_payout",
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

/// Reads, all within one consistent snapshot.
pub trait StoreRead {
    fn count_merchants(&self) -> StoreResult<i64>;
    fn merchant_exists(&self, merchant_id: &str) -> StoreResult<bool>;
    fn find_api_key_by_hash(&self, key_sha256_hex: &str) -> StoreResult<Option<ApiKeyRecord>>;
    fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    fn get_payment(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>>;
    fn list_payments(
        &self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<PaymentIntent>>;
    fn list_refunds_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Vec<Refund>>;
    /// Payments the test-mode simulator should settle (`auto_settle_at_ms <= now_ms`), at most
    /// `limit`: merchants in turns (every merchant's oldest step, then every merchant's second,
    /// and so on), without steps that wait for a retry or are parked.
    fn due_test_payments(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Every balance of the scope, merchant and system accounts, in the given assets. Refuses
    /// (`Corrupt`) when one is not an integer or the asset has values in the quarantine.
    fn balances(&self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances>;
    fn list_balance_rows(&self, scope: &Scope) -> StoreResult<Vec<BalanceRow>>;
    fn get_idempotency(&self, scope: &Scope, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
    fn event_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool>;
    fn list_events(&self, scope: &Scope, filter: &EventFilter, page: &PageRequest) -> StoreResult<Page<EventRecord>>;
    fn audit_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool>;
    fn list_audit(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<AuditRecord>>;
    /// The whole ledger (`None`, the operator's view), or one merchant's in one mode.
    fn verify_ledger(&self, scope: Option<&Scope>) -> StoreResult<LedgerReport>;
    fn get_payout(&self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>>;
    fn list_payouts(&self, scope: &Scope, filter: &PayoutFilter, page: &PageRequest) -> StoreResult<Page<Payout>>;
    /// Test-mode payouts the simulated rail should move on (`simulate_at_ms <= now_ms`), as
    /// `due_test_payments` picks them.
    fn due_test_payouts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Payouts still pending approval whose approval window has closed, as `due_test_payments`
    /// picks them.
    fn expired_approvals(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Parked scheduled steps, oldest first, and how many there are in all.
    fn parked_steps(&self, limit: u32) -> StoreResult<(Vec<StepRetry>, i64)>;
    /// How many payouts in `asset` the owner (any of their keys in this scope, by the owner's
    /// skeleton) created at or after `since_ms` with an amount in `amount_range_minor`, and their
    /// sum; failed and canceled ones excluded.
    fn owner_payout_spend_since(
        &self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)>;
    /// Sum of the merchant's payouts in `asset` created at or after `since_ms`, failed and
    /// canceled ones excluded.
    fn merchant_payout_spend_since(&self, scope: &Scope, asset: AssetRef, since_ms: i64) -> StoreResult<i64>;
    /// Per currency, the strictest spend limit set on any active key of the owner in this scope.
    fn owner_spend_limits(&self, scope: &Scope, owner_skeleton: &str) -> StoreResult<Vec<(AssetRef, SpendLimit)>>;
}

/// A write session: one transaction, with savepoints so that one command of a group commit can
/// be undone without undoing its neighbours. Dropping it without `commit` rolls everything back.
pub trait StoreWrite: StoreRead {
    fn savepoint(&mut self) -> StoreResult<()>;
    fn release_savepoint(&mut self) -> StoreResult<()>;
    fn rollback_to_savepoint(&mut self) -> StoreResult<()>;
    fn commit(self: Box<Self>) -> StoreResult<()>;

    fn insert_merchant(&mut self, merchant: &MerchantRecord) -> StoreResult<()>;
    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// Returns false when no such unrevoked key exists.
    fn revoke_api_key(&mut self, key_id: &str, now_ms: i64) -> StoreResult<bool>;
    fn insert_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()>;
    fn update_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()>;
    fn insert_refund(&mut self, refund: &Refund) -> StoreResult<()>;
    /// Records the transaction and its postings and updates the stored balances. Refuses, having
    /// written nothing, when a balance would leave i64 (`BalanceOverflow`) or is not an integer.
    fn post_ledger_transaction(
        &mut self,
        scope: &Scope,
        transaction: &LedgerTransaction,
        now_ms: i64,
    ) -> StoreResult<()>;
    fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> StoreResult<()>;
    fn append_audit(&mut self, record: &AuditRecord) -> StoreResult<()>;
    fn append_event(&mut self, record: &EventRecord) -> StoreResult<()>;
    fn insert_payout(&mut self, payout: &Payout) -> StoreResult<()>;
    fn update_payout(&mut self, payout: &Payout) -> StoreResult<()>;
    fn set_spend_limit(&mut self, key_id: &str, asset: AssetRef, limit: SpendLimit) -> StoreResult<()>;
    /// Saves (inserts or replaces) the retry record of a failed scheduled step.
    fn record_step_failure(&mut self, retry: &StepRetry) -> StoreResult<()>;
    /// Forgets a step's failures once it succeeded.
    fn clear_step_retry(&mut self, step: ScheduledStep, object_id: &str) -> StoreResult<()>;
}

/// A storage backend.
pub trait Store: Send + Sync + 'static {
    fn begin_read(&self) -> StoreResult<Box<dyn StoreRead + '_>>;
    fn begin_write(&self) -> StoreResult<Box<dyn StoreWrite + '_>>;
}
