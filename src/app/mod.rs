//! The app layer: load → decide (engine) → commit. It alone opens transactions. Writes go to the
//! single writer thread (see `writer`), which commits them in groups; reads run on pooled read
//! connections on tokio's blocking threads.

pub mod billing;
pub(crate) mod catalog;
pub(crate) mod customers;
pub(crate) mod disputes;
pub mod error;
pub mod invoices;
pub mod keys;
pub mod scheduler;
pub(crate) mod subscriptions;
pub(crate) mod transitions;
pub mod webhooks;
pub mod write;
mod writer;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

use crate::app::error::AppError;
use crate::app::keys::{AdminCommand, sha256_hex};
use crate::app::write::{AuditEntry, ToolWrite, WriteCommand, WriteOutcome, apply_tool_write};
pub use crate::app::writer::{WriteContext, WriterStats};
use crate::app::writer::{WriteJob, run_writer};
use crate::engine::IdSource;
use crate::engine::permission::{role_may, roles_allowed};
use crate::engine::principal::{Principal, Scope};
use crate::engine::rules::PaymentRules;
use crate::store::{ApiKeyRecord, BackgroundJob, Database, LedgerReport, Store, StoreRead, StoreWrite};

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
    /// Set by `shutdown`: later writes are refused rather than queued behind the close.
    shutting_down: AtomicBool,
    /// At most one readiness check runs at a time; callers in between share its answer.
    readiness: tokio::sync::Mutex<Option<(std::time::Instant, Result<(), String>)>>,
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
    /// Opens the SQLite database at `path` and starts the writer thread, on the system clock
    /// with time-ordered UUID ids.
    pub fn open_sqlite(path: &Path, rules: PaymentRules) -> Result<App, AppError> {
        App::open(&Database::Sqlite(path.to_owned()), rules)
    }

    /// Opens `database` (SQLite or PostgreSQL) and starts the writer thread, on the system clock
    /// with time-ordered UUID ids.
    pub fn open(database: &Database, rules: PaymentRules) -> Result<App, AppError> {
        // The operator reads why (a PostgreSQL server that refuses, a database that does not
        // exist): the error itself says only "internal error", as it must to a client.
        let store = database.open().inspect_err(|error| tracing::error!(%error, "cannot open the database"))?;
        Ok(App::with_store(store, rules, Arc::new(SystemClock), Box::new(UuidIds)))
    }

    /// An app on `store` whose time comes from `clock` and whose new object ids from `ids` (the
    /// writer thread owns it): with a manual clock and `SequentialIds`, a run is deterministic.
    pub fn with_store(
        store: Arc<dyn Store>,
        rules: PaymentRules,
        clock: Arc<dyn Clock>,
        ids: Box<dyn IdSource + Send>,
    ) -> App {
        let rules = Arc::new(rules);
        let (sender, receiver) = mpsc::channel();
        let writer_store = store.clone();
        let writer_rules = rules.clone();
        let writer_clock = clock.clone();
        let writer_stats = Arc::new(WriterStats::default());
        let stats = writer_stats.clone();
        std::thread::Builder::new()
            .name("harepay-writer".to_owned())
            .spawn(move || run_writer(writer_store, writer_rules, writer_clock, ids, receiver, stats))
            .expect("spawn the writer thread");
        App {
            inner: Arc::new(AppInner {
                store,
                rules,
                jobs: Mutex::new(sender),
                keys_in_flight: Mutex::new(HashSet::new()),
                clock,
                writer_stats,
                shutting_down: AtomicBool::new(false),
                readiness: tokio::sync::Mutex::new(None),
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

    /// Runs `work` on the writer thread inside the next group's transaction and answers once
    /// that group is durable. `work` gets its own savepoint only if it takes one; a refusal it
    /// returns does not undo its neighbours' work, a panic undoes the whole group.
    pub(crate) async fn submit<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn StoreWrite, &mut WriteContext<'_>) -> Result<T, AppError> + Send + 'static,
    {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(AppError::Internal { detail: "the server is shutting down".to_owned() });
        }
        let (answer_sender, answer) = oneshot::channel();
        let job: WriteJob = Box::new(move |session, context| {
            let result = work(session, context);
            Box::new(move |commit: Result<(), AppError>| {
                let _ = answer_sender.send(commit.and(result));
            })
        });
        self.inner
            .jobs
            .lock()
            .expect("job queue lock")
            .send(job)
            .map_err(|_| AppError::Internal { detail: "the writer thread has stopped".to_owned() })?;
        answer.await.map_err(|_| AppError::Internal { detail: "the writer dropped a request".to_owned() })?
    }

    /// Runs `read` on a blocking thread against one consistent snapshot.
    pub(crate) async fn read<T, F>(&self, read: F) -> Result<T, AppError>
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
        let detail = self.admin(AdminCommand::BootstrapDemoIfEmpty).await?;
        Ok(detail == "created")
    }

    /// Key management (`harepay keys …`); answers in words.
    pub async fn admin(&self, command: AdminCommand) -> Result<String, AppError> {
        self.submit(move |session, context| crate::app::keys::apply_admin(session, context, command)).await
    }

    /// Resolves a secret key to its principal; unknown and revoked keys are refused alike, an
    /// expired one as `key_expired` (from its expiry on, by the injected clock).
    pub async fn authenticate(&self, secret_key: &str) -> Result<Principal, AppError> {
        let key_hash = sha256_hex(secret_key);
        let record = self.read(move |store| Ok(store.find_api_key_by_hash(&key_hash)?)).await?;
        match record {
            Some(record) if record.revoked_at_ms.is_none() => {
                if crate::engine::api_key::is_expired(record.expires_at_ms, self.now_ms()) {
                    let expired_at_ms = record.expires_at_ms.unwrap_or_default();
                    return Err(AppError::KeyExpired { expired_at_ms });
                }
                Ok(principal_of(record))
            }
            _ => Err(AppError::AuthenticationFailed),
        }
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, AppError> {
        self.read(|store| Ok(store.list_api_keys()?)).await
    }

    /// Applies an operation's write. A key whose role may not take the action, and a key
    /// already in flight, are refused here, and the refusal is audited.
    pub async fn execute<C: WriteCommand>(&self, write: ToolWrite<C>) -> Result<WriteOutcome<C::View>, AppError> {
        if !role_may(write.actor.role, write.action) {
            let allowed: Vec<&str> = roles_allowed(write.action).into_iter().map(|role| role.code()).collect();
            let error = AppError::Forbidden {
                message: format!(
                    "a {} key cannot call {}; it is for {} keys",
                    write.actor.role.code(),
                    write.operation,
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
        self.submit(move |session, context| apply_tool_write(session, context, write)).await
    }

    /// Writes the audit record of a write attempt refused before it reached the writer.
    pub async fn record_refusal(
        &self,
        actor: &Principal,
        operation: &str,
        idempotency_key: Option<String>,
        error_type: String,
        message: String,
    ) {
        let mut entry = AuditEntry::new(actor, operation, "refused", message);
        entry.error_type = Some(error_type);
        entry.idempotency_key = idempotency_key;
        let written = self
            .submit(move |session, context| {
                session.append_audit(&entry.into_record(context))?;
                Ok(())
            })
            .await;
        if let Err(audit_error) = written {
            tracing::error!(%audit_error, "could not audit a refused write");
        }
    }

    async fn refuse<C>(&self, write: &ToolWrite<C>, error: AppError) -> AppError {
        let key = write.idempotency.as_ref().map(|i| i.key.clone());
        self.record_refusal(&write.actor, write.operation, key, error.code().to_owned(), error.to_string()).await;
        error
    }

    /// Whether this process can take writes: the writer thread answers and the database takes a
    /// write transaction (an empty one: nothing to sync). Checks run one at a time and an answer
    /// is shared for `READINESS_CHECK_REUSE_MS`, so a flood of probes costs the writer nothing
    /// more; a check that takes over `READINESS_CHECK_TIMEOUT_MS` is a "no".
    pub async fn readiness(&self) -> Result<(), String> {
        use crate::limits::{READINESS_CHECK_REUSE_MS, READINESS_CHECK_TIMEOUT_MS};
        let mut last = self.inner.readiness.lock().await;
        if let Some((checked_at, answer)) = last.as_ref()
            && checked_at.elapsed() < std::time::Duration::from_millis(READINESS_CHECK_REUSE_MS)
        {
            return answer.clone();
        }
        let timeout = std::time::Duration::from_millis(READINESS_CHECK_TIMEOUT_MS);
        let answer = match tokio::time::timeout(timeout, self.submit(|_, _| Ok(()))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("the database does not take writes: {}", error.code())),
            Err(_) => Err(format!("the writer did not answer within {READINESS_CHECK_TIMEOUT_MS} ms")),
        };
        *last = Some((std::time::Instant::now(), answer.clone()));
        answer
    }

    /// Ends writing for this process: later writes are refused, every write queued before is
    /// committed (the queue is first in, first out), and the store is closed cleanly.
    pub async fn shutdown(&self) -> Result<(), AppError> {
        let barrier = self.submit(|_, _| Ok(())).await;
        self.inner.shutting_down.store(true, Ordering::Release);
        barrier?;
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|error| AppError::Internal { detail: format!("close task failed: {error}") })??;
        Ok(())
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Whether this process runs `job` now (one process per database does; see
    /// `Store::holds_lease`). A database that cannot say counts as no: the job waits a tick.
    pub async fn holds_lease(&self, job: BackgroundJob) -> bool {
        let store = self.inner.store.clone();
        match tokio::task::spawn_blocking(move || store.holds_lease(job)).await {
            Ok(Ok(held)) => held,
            Ok(Err(error)) => {
                tracing::warn!(%error, ?job, "cannot tell whether this process runs a background job; skipping a tick");
                false
            }
            Err(error) => {
                tracing::warn!(%error, ?job, "the lease check did not finish");
                false
            }
        }
    }

    /// The whole ledger: the operator's check (`harepay verify`). A key sees its own scope's
    /// through `system_status`.
    pub async fn verify_ledger(&self) -> Result<LedgerReport, AppError> {
        self.read(|store| Ok(store.verify_ledger(None)?)).await
    }
}

fn principal_of(record: ApiKeyRecord) -> Principal {
    Principal {
        key_id: record.id,
        scope: Scope { merchant_id: record.merchant_id, mode: record.mode },
        merchant_name: record.merchant_name,
        role: record.role,
        accountable_owner: record.accountable_owner.unwrap_or_else(|| record.owner.clone()),
        owner: record.owner,
        owner_skeleton: record.owner_skeleton,
        request_id: None,
        expires_at_ms: record.expires_at_ms,
    }
}
