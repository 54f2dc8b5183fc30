//! Persistence behind traits. All SQL lives below this folder: the embedded SQLite backend
//! (`sqlite/`, the default) and the PostgreSQL backend (`postgres/`) for several server processes
//! sharing one database.
//!
//! Architecture Invariant: the store never decides. It loads and saves engine types and the
//! records in `records`; whether a change is allowed is the engine's call, and only the app layer
//! opens write sessions (`begin_write`), so it alone decides what commits together.
//!
//! The traits are small and per object (`PaymentsRead`, `LedgerWrite`, …); `StoreRead` and
//! `StoreWrite` gather them, so a caller holds one session and a backend implements one object
//! area per file. What every backend must guarantee is written in ARCHITECTURE.md ("What the
//! store guarantees"); `tests/it/store.rs` holds each backend to it.

pub mod billing;
mod codecs;
mod database;
mod disputes;
pub mod postgres;
mod records;
mod rows;
mod savepoint;
pub mod sqlite;
mod webhooks;

pub use database::Database;
pub use disputes::{DisputeFilter, DisputesRead, DisputesWrite};
pub use records::{
    ApiKeyRecord, AuditRecord, BalanceMismatch, BalanceRow, CustomerFilter, DueStep, EventFilter, EventRecord,
    IdempotencyRecord, InvoiceFilter, InvoiceTotalsFilter, InvoiceTotalsRow, LedgerReport, MerchantRecord,
    NonIntegerValue, Page, PageRequest, PaymentFilter, PayoutFilter, PriceFilter, ProductFilter, ScheduledStep,
    StepRetry,
};

pub use billing::{
    DueSubscription, PeriodCloseRecord, SubscriptionFilter, SubscriptionsRead, SubscriptionsWrite, UsageEventRecord,
};
pub use webhooks::{
    DueWebhookDelivery, FanoutEvent, WebhookAttemptRecord, WebhookDeliveryFilter, WebhookDeliveryRecord, WebhooksRead,
    WebhooksWrite,
};

use crate::engine::catalog::{Price, Product};
use crate::engine::customer::Customer;
use crate::engine::invoice::Invoice;
use crate::engine::ledger::{Balances, LedgerTransaction};
use crate::engine::money::AssetRef;
use crate::engine::payment::{PaymentIntent, Refund};
use crate::engine::payout::{Payout, SpendLimit};
use crate::engine::principal::Scope;

/// What can go wrong in a backend, in words every backend can say. No backend's own error type
/// appears here: the app layer reacts to these four kinds, whatever the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not do what was asked: a lost connection, an IO error, a lock not granted
    /// in time. Nothing of the session was saved; the request may be tried again.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A unique constraint refused a row: `what` already exists (e.g. "idempotency key"). The
    /// caller decides what that means (a duplicate idempotency key is a replay or a key in use).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// Stored data is not what harepay writes (an unknown code, a value of the wrong type), or
    /// the database refused a row as invalid.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// A posting would take a stored balance outside i64. The engine refuses such a posting
    /// first; this is the store's own guard, so the database never holds an overflowed sum.
    #[error("ledger posting refused: {0}")]
    BalanceOverflow(String),
    /// Another session held what this one needed (PostgreSQL: a deadlock, a serialization
    /// failure, a lock not granted in time). What failed was not kept; trying again may succeed.
    #[error("the database was busy with a concurrent change: {0}")]
    Contention(String),
}

impl StoreError {
    /// The object a table's unique constraint protects, in the words `Conflict` uses.
    pub(crate) fn object_of_table(table: &str) -> &'static str {
        match table {
            "idempotency_records" => "idempotency key",
            "merchants" => "merchant",
            "api_keys" => "API key",
            "payment_intents" => "payment intent",
            "refunds" => "refund",
            "payouts" => "payout",
            "customers" => "customer",
            "disputes" => "dispute",
            "products" => "product",
            "prices" => "price",
            "invoices" => "invoice",
            "invoice_lines" => "invoice line",
            "ledger_transactions" => "ledger transaction",
            "events" => "event",
            "audit_log" => "audit record",
            "usage_events" => "usage event",
            "subscription_period_closes" => "period close",
            _ => "row",
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Merchants and their API keys.
pub trait MerchantKeysRead {
    fn count_merchants(&self) -> StoreResult<i64>;
    fn merchant_exists(&self, merchant_id: &str) -> StoreResult<bool>;
    fn find_api_key_by_hash(&self, key_sha256_hex: &str) -> StoreResult<Option<ApiKeyRecord>>;
    fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// One scope's keys, newest first, revoked and expired ones included.
    fn list_api_keys_page(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<ApiKeyRecord>>;
    /// Keys of the merchant, both modes, neither revoked nor expired at `now_ms`.
    fn count_active_api_keys(&self, merchant_id: &str, now_ms: i64) -> StoreResult<i64>;
    /// When the merchant's keys made through tools (both modes, revoked ones included) were
    /// created, from `since_ms` (exclusive), newest first, at most `limit`.
    fn api_key_creations_by_tools_since(&self, merchant_id: &str, since_ms: i64, limit: u32) -> StoreResult<Vec<i64>>;
}

pub trait MerchantKeysWrite {
    fn insert_merchant(&mut self, merchant: &MerchantRecord) -> StoreResult<()>;
    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// Returns false when no such unrevoked key exists.
    fn revoke_api_key(&mut self, key_id: &str, now_ms: i64) -> StoreResult<bool>;
}

/// Payment intents and their refunds.
pub trait PaymentsRead {
    fn get_payment(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>>;
    fn list_payments(
        &self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<PaymentIntent>>;
    fn list_refunds_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Vec<Refund>>;
}

pub trait PaymentsWrite {
    /// `get_payment` for a decision that changes the payment: `SELECT … FOR UPDATE` on
    /// PostgreSQL; on SQLite the single write transaction already holds the lock.
    fn get_payment_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>>;
    fn insert_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()>;
    fn update_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()>;
    fn insert_refund(&mut self, refund: &Refund) -> StoreResult<()>;
}

/// Payouts, the spend they add up to, and the spend limits of keys.
pub trait PayoutsRead {
    fn get_payout(&self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>>;
    fn list_payouts(&self, scope: &Scope, filter: &PayoutFilter, page: &PageRequest) -> StoreResult<Page<Payout>>;
    /// How many payouts in `asset` of the owner (any of their keys in this scope, by the owner's
    /// skeleton) with an amount in `amount_range_minor` count against a rolling day that starts at
    /// `since_ms`, and their sum. A payout counts from its creation until a day after its release:
    /// created since `since_ms`, still waiting for approval, or approved since `since_ms`. Failed
    /// and canceled ones never count.
    fn owner_payout_spend_since(
        &self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)>;
    /// Sum of the merchant's payouts in `asset` that count against a rolling day that starts at
    /// `since_ms`, as `owner_payout_spend_since` counts them.
    fn merchant_payout_spend_since(&self, scope: &Scope, asset: AssetRef, since_ms: i64) -> StoreResult<i64>;
    /// Per currency, the strictest spend limit set on any key of the owner in this scope, revoked
    /// keys included: a limit binds the person, and rotating a key does not lift it.
    fn owner_spend_limits(&self, scope: &Scope, owner_skeleton: &str) -> StoreResult<Vec<(AssetRef, SpendLimit)>>;
}

/// The `…_for_update` reads are for decisions: what they return cannot change under the caller
/// until its session ends. On SQLite the single write transaction (`BEGIN IMMEDIATE`) already
/// holds the database's write lock, so they are the plain reads. On PostgreSQL they lock what a
/// concurrent decision would change: `SELECT … FOR UPDATE` on the row; for the spend sums
/// (aggregates take no row locks) the merchant's balance rows of `asset` first, which every
/// payout that adds to the spend also changes.
pub trait PayoutsWrite {
    fn get_payout_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>>;
    fn owner_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)>;
    fn merchant_payout_spend_since_for_update(
        &mut self,
        scope: &Scope,
        asset: AssetRef,
        since_ms: i64,
    ) -> StoreResult<i64>;
    fn insert_payout(&mut self, payout: &Payout) -> StoreResult<()>;
    fn update_payout(&mut self, payout: &Payout) -> StoreResult<()>;
    fn set_spend_limit(&mut self, key_id: &str, asset: AssetRef, limit: SpendLimit) -> StoreResult<()>;
}

/// Customers of a merchant in one mode (their prepaid balances are ledger accounts: `LedgerRead`).
pub trait CustomersRead {
    fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>>;
    /// Newest first.
    fn list_customers(&self, scope: &Scope, filter: &CustomerFilter, page: &PageRequest)
    -> StoreResult<Page<Customer>>;
}

pub trait CustomersWrite {
    /// `get_customer` for a decision that changes the customer or its prepaid balance.
    fn get_customer_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>>;
    fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()>;
    fn update_customer(&mut self, customer: &Customer) -> StoreResult<()>;
}

/// Products and prices.
pub trait CatalogRead {
    fn get_product(&self, scope: &Scope, id: &str) -> StoreResult<Option<Product>>;
    fn list_products(&self, scope: &Scope, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Page<Product>>;
    fn get_price(&self, scope: &Scope, id: &str) -> StoreResult<Option<Price>>;
    fn list_prices(&self, scope: &Scope, filter: &PriceFilter, page: &PageRequest) -> StoreResult<Page<Price>>;
}

/// Prices are immutable: there is no update, only `mark_price_used` (the backend refuses any
/// other change of a stored price).
pub trait CatalogWrite {
    fn get_product_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Product>>;
    fn get_price_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Price>>;
    fn insert_product(&mut self, product: &Product) -> StoreResult<()>;
    fn insert_price(&mut self, price: &Price) -> StoreResult<()>;
    /// Records that a subscription uses the price; it stays used.
    fn mark_price_used(&mut self, scope: &Scope, id: &str) -> StoreResult<()>;
}

/// Invoices with their lines, per merchant and mode.
pub trait InvoicesRead {
    fn get_invoice(&self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>>;
    /// The invoice a payment intent collects, if it collects one.
    fn get_invoice_by_payment_intent(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Option<Invoice>>;
    /// Newest first.
    fn list_invoices(&self, scope: &Scope, filter: &InvoiceFilter, page: &PageRequest) -> StoreResult<Page<Invoice>>;
    /// Counts and sums by status and currency, in one query in the database (never by paging),
    /// exact whatever their size; ordered by status, then currency.
    fn invoice_totals(&self, scope: &Scope, filter: &InvoiceTotalsFilter) -> StoreResult<Vec<InvoiceTotalsRow>>;
}

/// An invoice's lines are written once, with it; `update_invoice` changes the rest.
pub trait InvoicesWrite {
    /// `get_invoice` for a decision that changes the invoice.
    fn get_invoice_for_update(&mut self, scope: &Scope, id: &str) -> StoreResult<Option<Invoice>>;
    fn insert_invoice(&mut self, invoice: &Invoice) -> StoreResult<()>;
    /// Saves the invoice's state: status, amount paid, dates, payment intent and metadata. Its
    /// lines, scope, customer, currency and creation time are written once and never change.
    fn update_invoice(&mut self, invoice: &Invoice) -> StoreResult<()>;
}

/// Balances, postings and their verification.
pub trait LedgerRead {
    /// Every balance of the scope, merchant and system accounts, in the given assets. Refuses
    /// (`Corrupt`) when one is not an integer or the asset has values in the quarantine.
    fn balances(&self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances>;
    /// `balances` and the prepaid accounts of `customer_ids` in the same assets (zero where a
    /// customer has none yet): what a decision that moves a customer's prepaid money loads.
    fn balances_with_customers(
        &self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances>;
    /// A customer's prepaid balance in each asset it has an account in (ever credited), by asset.
    fn customer_prepaid_balances(&self, scope: &Scope, customer_id: &str) -> StoreResult<Vec<(AssetRef, i64)>>;
    fn list_balance_rows(&self, scope: &Scope) -> StoreResult<Vec<BalanceRow>>;
    /// Checks the whole ledger; what it finds is reported, never raised as an error.
    /// The whole ledger (`None`, the operator's view), or one merchant's in one mode.
    fn verify_ledger(&self, scope: Option<&Scope>) -> StoreResult<LedgerReport>;
}

pub trait LedgerWrite {
    /// `balances` for a decision that moves money: `SELECT … FOR UPDATE` on PostgreSQL (the
    /// scope's balance rows in `assets`; a missing row is a zero balance, and a concurrent credit
    /// only makes a decision taken on it more cautious); on SQLite the single write transaction
    /// already holds the lock.
    fn balances_for_update(&mut self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances>;
    /// `balances_with_customers` for a decision: on PostgreSQL the customers' prepaid rows are
    /// locked with the scope's.
    fn balances_with_customers_for_update(
        &mut self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances>;
    /// Records the transaction and its postings and updates the stored balances. Refuses, having
    /// written nothing, when a balance would leave i64 (`BalanceOverflow`) or is not an integer.
    fn post_ledger_transaction(
        &mut self,
        scope: &Scope,
        transaction: &LedgerTransaction,
        now_ms: i64,
    ) -> StoreResult<()>;
}

/// What an idempotency key produced the first time.
pub trait IdempotencyRead {
    fn get_idempotency(&self, scope: &Scope, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
    /// Whether any record was created before `created_before_ms` (in any scope), so that an idle
    /// purge costs one read.
    fn idempotency_records_created_before_exist(&self, created_before_ms: i64) -> StoreResult<bool>;
}

pub trait IdempotencyWrite {
    /// Refuses a key already stored in the scope with `Conflict { what: "idempotency key" }`,
    /// having written nothing.
    fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> StoreResult<()>;
    /// Deletes records created before `created_before_ms`, oldest first, at most `limit` of them;
    /// returns how many. A deleted key can be stored again.
    fn purge_idempotency_records_created_before(&mut self, created_before_ms: i64, limit: u32) -> StoreResult<u32>;
}

/// The audit log: every write attempt, whatever its outcome.
pub trait AuditRead {
    fn audit_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool>;
    fn list_audit(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<AuditRecord>>;
}

pub trait AuditWrite {
    fn append_audit(&mut self, record: &AuditRecord) -> StoreResult<()>;
}

/// The event outbox, written with the state changes it reports.
pub trait EventsRead {
    fn event_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool>;
    fn list_events(&self, scope: &Scope, filter: &EventFilter, page: &PageRequest) -> StoreResult<Page<EventRecord>>;
}

pub trait EventsWrite {
    fn append_event(&mut self, record: &EventRecord) -> StoreResult<()>;
}

/// What the scheduler finds due, and the retry records of steps that failed.
pub trait SchedulerRead {
    /// Payments the test-mode simulator should settle (`auto_settle_at_ms <= now_ms`), at most
    /// `limit`: merchants in turns (every merchant's oldest step, then every merchant's second,
    /// and so on), without steps that wait for a retry or are parked.
    fn due_test_payments(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Test-mode payouts the simulated rail should move on (`simulate_at_ms <= now_ms`), as
    /// `due_test_payments` picks them.
    fn due_test_payouts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Payouts still pending approval whose approval window has closed, as `due_test_payments`
    /// picks them.
    fn expired_approvals(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Payment intents still waiting for the payer (`requires_action`, `partially_paid`) whose
    /// `expires_at_ms` has come, in every mode, as `due_test_payments` picks them.
    fn expired_payment_intents(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Open invoices whose `expires_at_ms` has come, in every mode, as `due_test_payments`
    /// picks them.
    fn expired_invoices(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// Disputes still `needs_response` whose `evidence_due_by_ms` has come, in every mode, as
    /// `due_test_payments` picks them.
    fn overdue_disputes(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>>;
    /// One scope's open invoices whose `expires_at_ms` is at or before `until_ms` (its billing
    /// time, for `advance_test_clock`), oldest first, at most `limit`; those waiting for a retry
    /// (at real time `now_ms`) or parked are left out.
    fn expired_invoices_in_scope(
        &self,
        scope: &Scope,
        until_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DueStep>>;
    /// Parked scheduled steps, oldest first, and how many there are in all.
    fn parked_steps(&self, limit: u32) -> StoreResult<(Vec<StepRetry>, i64)>;
}

pub trait SchedulerWrite {
    /// Saves (inserts or replaces) the retry record of a failed scheduled step.
    fn record_step_failure(&mut self, retry: &StepRetry) -> StoreResult<()>;
    /// Forgets a step's failures once it succeeded.
    fn clear_step_retry(&mut self, step: ScheduledStep, object_id: &str) -> StoreResult<()>;
}

/// Reads, all within one consistent snapshot: every per-object read trait.
pub trait StoreRead:
    MerchantKeysRead
    + PaymentsRead
    + PayoutsRead
    + CustomersRead
    + CatalogRead
    + InvoicesRead
    + DisputesRead
    + LedgerRead
    + IdempotencyRead
    + AuditRead
    + EventsRead
    + SchedulerRead
    + SubscriptionsRead
    + WebhooksRead
{
}

impl<T> StoreRead for T where
    T: MerchantKeysRead
        + PaymentsRead
        + PayoutsRead
        + CustomersRead
        + CatalogRead
        + InvoicesRead
        + DisputesRead
        + LedgerRead
        + IdempotencyRead
        + AuditRead
        + EventsRead
        + SchedulerRead
        + SubscriptionsRead
        + WebhooksRead
{
}

/// A write session: one transaction that sees its own writes. Dropping it without `commit` rolls
/// everything back. Part of it can be undone with `in_savepoint` (see `savepoint`), so that one
/// command of a group commit can fail without undoing its neighbours.
pub trait StoreWrite:
    StoreRead
    + MerchantKeysWrite
    + PaymentsWrite
    + PayoutsWrite
    + CustomersWrite
    + CatalogWrite
    + InvoicesWrite
    + DisputesWrite
    + LedgerWrite
    + IdempotencyWrite
    + AuditWrite
    + EventsWrite
    + SchedulerWrite
    + SubscriptionsWrite
    + WebhooksWrite
{
    /// Makes the session durable; refuses (and keeps nothing) when a savepoint is still open or
    /// could not be undone.
    fn commit(self: Box<Self>) -> StoreResult<()>;

    /// Opens, releases or rolls back the innermost savepoint. Only `in_savepoint` can make a
    /// `SavepointStep`, so savepoints always come in pairs and are never left open.
    fn savepoint(&mut self, step: SavepointStep) -> StoreResult<()>;
}

/// One step of a savepoint's life, as a backend carries it out (`StoreWrite::savepoint`). Only
/// the store makes them (the field is private to it and its backends), so outside the store the only way to a
/// savepoint is `in_savepoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavepointStep(SavepointAction);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SavepointAction {
    /// Opens a savepoint inside the innermost open one (or the session).
    Begin,
    /// Keeps what the innermost savepoint did, as part of what encloses it, and closes it.
    Release,
    /// Undoes what the innermost savepoint did and closes it.
    RollBack,
}

/// A storage backend.
pub trait Store: Send + Sync + 'static {
    fn begin_read(&self) -> StoreResult<Box<dyn StoreRead + '_>>;
    fn begin_write(&self) -> StoreResult<Box<dyn StoreWrite + '_>>;
    /// Called at shutdown once no write is in flight: leaves the database as a clean close would
    /// (SQLite: the write-ahead log folded into the database file). Later writes still work.
    fn close(&self) -> StoreResult<()>;

    /// How many commands the writer may run in one transaction, each in its own savepoint.
    fn group_commands_max(&self) -> usize;

    /// Whether this process may run `job` now: one process at a time per database runs each
    /// background job, so that several servers on one database do not all pick the same due
    /// items (each item's write re-decides under its row lock, so a second runner would change
    /// nothing, but it would contend and log refusals). SQLite: always (a file has one server).
    /// PostgreSQL: a session-level advisory lock held on a connection of its own for as long as
    /// the process lives; the server releases it when the process dies, and another takes over.
    fn holds_lease(&self, job: BackgroundJob) -> StoreResult<bool> {
        let _ = job;
        Ok(true)
    }
}

/// The background jobs one process at a time runs per database (`Store::holds_lease`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackgroundJob {
    /// Settlements, payout steps, expiries, billing runs, overdue disputes, the idempotency purge.
    Scheduler,
    /// Webhook fan-out and delivery.
    WebhookDelivery,
}
