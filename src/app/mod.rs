//! The app layer: load → decide (engine) → commit. It alone opens transactions. Writes go to the
//! single writer thread (see `writer`), which commits them in groups; reads run on pooled read
//! connections on tokio's blocking threads.

pub mod commands;
pub mod error;
pub mod keys;
pub mod scheduler;
pub mod write;
mod writer;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

use crate::app::error::AppError;
use crate::app::keys::{AdminCommand, sha256_hex};
use crate::app::write::{ToolWrite, WriteOutcome, WriteRequest};
pub use crate::app::writer::WriterStats;
use crate::app::writer::{WriteJob, run_writer};
use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::money::AssetRef;
use crate::engine::payment::{PaymentIntent, Refund};
use crate::engine::principal::{Principal, Scope};
use crate::engine::rules::PaymentRules;
use crate::store::sqlite::SqliteStore;
use crate::store::{
    ApiKeyRecord, AuditRecord, BalanceRow, EventFilter, EventRecord, LedgerReport, Page, PageRequest, PaymentFilter,
    Store, StoreRead,
};

/// The time, injected so that tests and simulations control it.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
        i64::try_from(since_epoch.as_millis()).expect("milliseconds fit in i64")
    }
}

/// Production ids: the type prefix and a time-ordered UUID v7 (`pi_019…`).
#[derive(Debug, Default)]
pub struct UuidIds;

impl IdSource for UuidIds {
    fn next_id(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
    }
}

#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    store: Arc<dyn Store>,
    rules: Arc<PaymentRules>,
    jobs: Mutex<mpsc::Sender<WriteJob>>,
    /// Idempotency keys whose first request is being applied right now.
    keys_in_flight: Mutex<HashSet<(Scope, String)>>,
    clock: Arc<dyn Clock>,
    writer_stats: Arc<WriterStats>,
}

/// Removes an in-flight key when the request ends, however it ends.
struct InFlightGuard<'a> {
    app: &'a AppInner,
    entry: (Scope, String),
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.app.keys_in_flight.lock().expect("in-flight lock").remove(&self.entry);
    }
}

impl App {
    /// Opens the SQLite database at `path` and starts the writer thread.
    pub fn open_sqlite(path: &Path, rules: PaymentRules) -> Result<App, AppError> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path)?);
        Ok(App::with_store(store, rules, Arc::new(SystemClock)))
    }

    pub fn with_store(store: Arc<dyn Store>, rules: PaymentRules, clock: Arc<dyn Clock>) -> App {
        let rules = Arc::new(rules);
        let (sender, receiver) = mpsc::channel();
        let writer_store = store.clone();
        let writer_rules = rules.clone();
        let writer_clock = clock.clone();
        let writer_stats = Arc::new(WriterStats::default());
        let stats = writer_stats.clone();
        std::thread::Builder::new()
            .name("harepay-writer".to_owned())
            .spawn(move || run_writer(writer_store, writer_rules, writer_clock, receiver, stats))
            .expect("spawn the writer thread");
        App {
            inner: Arc::new(AppInner {
                store,
                rules,
                jobs: Mutex::new(sender),
                keys_in_flight: Mutex::new(HashSet::new()),
                clock,
                writer_stats,
            }),
        }
    }

    /// Group-commit counters since this process started.
    pub fn writer_stats(&self) -> &WriterStats {
        &self.inner.writer_stats
    }

    pub fn rules(&self) -> &PaymentRules {
        &self.inner.rules
    }

    async fn submit(&self, request: WriteRequest) -> Result<WriteOutcome, AppError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .jobs
            .lock()
            .expect("job queue lock")
            .send(WriteJob { request, reply })
            .map_err(|_| AppError::Internal { detail: "the writer thread has stopped".to_owned() })?;
        answer.await.map_err(|_| AppError::Internal { detail: "the writer dropped a request".to_owned() })?
    }

    /// Runs `read` on a blocking thread against one consistent snapshot.
    async fn read<T, F>(&self, read: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StoreRead) -> Result<T, AppError> + Send + 'static,
    {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || {
            let session = store.begin_read()?;
            read(&*session)
        })
        .await
        .map_err(|error| AppError::Internal { detail: format!("read task failed: {error}") })?
    }

    pub async fn bootstrap_demo_if_empty(&self) -> Result<bool, AppError> {
        match self.submit(WriteRequest::Admin(AdminCommand::BootstrapDemoIfEmpty)).await? {
            WriteOutcome::Done { detail } => Ok(detail == "created"),
            other => Err(AppError::Internal { detail: format!("admin command answered {other:?}") }),
        }
    }

    pub async fn admin(&self, command: AdminCommand) -> Result<String, AppError> {
        match self.submit(WriteRequest::Admin(command)).await? {
            WriteOutcome::Done { detail } => Ok(detail),
            other => Err(AppError::Internal { detail: format!("admin command answered {other:?}") }),
        }
    }

    /// Resolves a secret key to its principal; unknown and revoked keys are refused alike.
    pub async fn authenticate(&self, secret_key: &str) -> Result<Principal, AppError> {
        let key_hash = sha256_hex(secret_key);
        let record = self.read(move |store| Ok(store.find_api_key_by_hash(&key_hash)?)).await?;
        match record {
            Some(record) if record.revoked_at_ms.is_none() => Ok(principal_of(record)),
            _ => Err(AppError::AuthenticationFailed),
        }
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, AppError> {
        self.read(|store| Ok(store.list_api_keys()?)).await
    }

    /// Applies a tool's write. Keys that may not write, and keys already in flight, are refused
    /// here and the refusal is audited.
    pub async fn execute(&self, write: ToolWrite) -> Result<WriteOutcome, AppError> {
        let allowed_roles = write.command.allowed_roles();
        if !allowed_roles.contains(&write.actor.role) {
            let allowed: Vec<&str> = allowed_roles.iter().map(|role| role.code()).collect();
            let error = AppError::Forbidden {
                message: format!(
                    "a {} key cannot call {}; it is for {} keys",
                    write.actor.role.code(),
                    write.tool,
                    allowed.join(" or ")
                ),
            };
            return Err(self.refuse(&write, error).await);
        }
        let _guard = match (&write.idempotency, write.confirm) {
            (Some(idempotency), true) => {
                let entry = (write.actor.scope.clone(), idempotency.key.clone());
                let newly_inserted = self.inner.keys_in_flight.lock().expect("in-flight lock").insert(entry.clone());
                if !newly_inserted {
                    let error = AppError::IdempotencyKeyInUse { key: idempotency.key.clone() };
                    return Err(self.refuse(&write, error).await);
                }
                Some(InFlightGuard { app: &self.inner, entry })
            }
            _ => None,
        };
        self.submit(WriteRequest::Tool(write)).await
    }

    /// Writes the audit record of a write attempt refused before it reached the engine.
    pub async fn record_refusal(
        &self,
        actor: &Principal,
        tool: &str,
        idempotency_key: Option<String>,
        error_type: String,
        message: String,
    ) {
        let request = WriteRequest::RecordRefusal {
            actor: actor.clone(),
            tool: tool.to_owned(),
            idempotency_key,
            error_type,
            message,
        };
        if let Err(audit_error) = self.submit(request).await {
            tracing::error!(%audit_error, "could not audit a refused write");
        }
    }

    async fn refuse(&self, write: &ToolWrite, error: AppError) -> AppError {
        let key = write.idempotency.as_ref().map(|i| i.key.clone());
        self.record_refusal(&write.actor, write.tool, key, error.code().to_owned(), error.to_string()).await;
        error
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub async fn get_payment(
        &self,
        principal: &Principal,
        id: String,
    ) -> Result<(PaymentIntent, Vec<Refund>), AppError> {
        let scope = principal.scope.clone();
        self.read(move |store| {
            let payment = store
                .get_payment(&scope, &id)?
                .ok_or(EngineError::NotFound { object: "payment_intent", id: id.clone() })?;
            let refunds = store.list_refunds_for_payment(&scope, &id)?;
            Ok((payment, refunds))
        })
        .await
    }

    pub async fn list_payments(
        &self,
        principal: &Principal,
        filter: PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<PaymentIntent>, AppError> {
        let scope = principal.scope.clone();
        self.read(move |store| {
            if let Some(cursor) = &page.starting_after
                && store.get_payment(&scope, cursor)?.is_none()
            {
                return Err(unknown_cursor(cursor));
            }
            Ok(store.list_payments(&scope, &filter, &page)?)
        })
        .await
    }

    /// Merchant balances; all assets that ever moved when `asset` is `None`.
    pub async fn balances(&self, principal: &Principal, asset: Option<AssetRef>) -> Result<Vec<BalanceRow>, AppError> {
        let scope = principal.scope.clone();
        self.read(move |store| {
            let rows = store.list_balance_rows(&scope)?;
            Ok(rows.into_iter().filter(|row| asset.is_none_or(|asset| row.asset.code == asset.code)).collect())
        })
        .await
    }

    pub async fn get_payout(
        &self,
        principal: &Principal,
        id: String,
    ) -> Result<crate::engine::payout::Payout, AppError> {
        let scope = principal.scope.clone();
        self.read(move |store| {
            Ok(store.get_payout(&scope, &id)?.ok_or(EngineError::NotFound { object: "payout", id: id.clone() })?)
        })
        .await
    }

    pub async fn list_payouts(
        &self,
        principal: &Principal,
        filter: crate::store::PayoutFilter,
        page: PageRequest,
    ) -> Result<Page<crate::engine::payout::Payout>, AppError> {
        let scope = principal.scope.clone();
        self.read(move |store| {
            if let Some(cursor) = &page.starting_after
                && store.get_payout(&scope, cursor)?.is_none()
            {
                return Err(unknown_cursor(cursor));
            }
            Ok(store.list_payouts(&scope, &filter, &page)?)
        })
        .await
    }

    /// The spend limits that bind this key, per currency with a limit: the strictest set on any
    /// key of its owner, and what the owner spent through all their keys in the last 24 hours.
    pub async fn spend_limits(
        &self,
        principal: &Principal,
    ) -> Result<Vec<(AssetRef, crate::engine::payout::SpendLimit, i64)>, AppError> {
        let scope = principal.scope.clone();
        let owner_skeleton = crate::engine::identity::owner_skeleton(&principal.owner);
        let since_ms = self.now_ms() - crate::limits::SPEND_LIMIT_WINDOW_MS;
        self.read(move |store| {
            let mut limits = Vec::new();
            for (asset, limit) in store.owner_spend_limits(&scope, &owner_skeleton)? {
                let (_, spent_minor) =
                    store.owner_payout_spend_since(&scope, &owner_skeleton, asset, since_ms, 1..i64::MAX)?;
                limits.push((asset, limit, spent_minor));
            }
            Ok(limits)
        })
        .await
    }

    pub async fn list_events(
        &self,
        principal: &Principal,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<EventRecord>, AppError> {
        let scope = principal.scope.clone();
        self.read(move |store| {
            if let Some(cursor) = &page.starting_after
                && !store.event_exists(&scope, cursor)?
            {
                return Err(unknown_cursor(cursor));
            }
            Ok(store.list_events(&scope, &filter, &page)?)
        })
        .await
    }

    pub async fn list_audit(&self, principal: &Principal, page: PageRequest) -> Result<Page<AuditRecord>, AppError> {
        let scope = principal.scope.clone();
        self.read(move |store| {
            if let Some(cursor) = &page.starting_after
                && !store.audit_exists(&scope, cursor)?
            {
                return Err(unknown_cursor(cursor));
            }
            Ok(store.list_audit(&scope, &page)?)
        })
        .await
    }

    pub async fn verify_ledger(&self) -> Result<LedgerReport, AppError> {
        self.read(|store| Ok(store.verify_ledger()?)).await
    }
}

fn unknown_cursor(cursor: &str) -> AppError {
    AppError::invalid(
        "starting_after",
        format!("starting_after {} is not an object in this list", crate::limits::echo(cursor)),
    )
}

fn principal_of(record: ApiKeyRecord) -> Principal {
    Principal {
        key_id: record.id,
        scope: Scope { merchant_id: record.merchant_id, mode: record.mode },
        merchant_name: record.merchant_name,
        role: record.role,
        owner: record.owner,
    }
}
