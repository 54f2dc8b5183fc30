//! The embedded SQLite backend: one file, WAL, `synchronous=FULL` (a commit survives power loss).
//! One writer connection behind a mutex; readers get their own connections and see a snapshot.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::engine::ledger::{Balances, LedgerTransaction};
use crate::engine::money::{Asset, AssetRef, Money, Network};
use crate::engine::payment::{
    NextAction, PaymentIntent, PaymentMethod, PaymentStatus, Refund, RefundStatus, Settlement,
};
use crate::engine::payout::{Payout, SpendLimit};
use crate::engine::principal::{Mode, Role, Scope};
use crate::engine::rail::Rail;
use crate::store::{
    ApiKeyRecord, AuditRecord, BalanceRow, DueStep, EventFilter, EventRecord, IdempotencyRecord, LedgerReport,
    MerchantRecord, Page, PageRequest, PaymentFilter, PayoutFilter, ScheduledStep, StepRetry, Store, StoreError,
    StoreRead, StoreResult, StoreWrite,
};
use crate::store::{sqlite_ledger, sqlite_payouts, sqlite_scheduler};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_v2.sql")),
    (3, include_str!("schema_v3.sql")),
    (4, include_str!("schema_v4.sql")),
    (5, include_str!("schema_v5.sql")),
    (6, include_str!("schema_v6.sql")),
];

/// How long a connection waits for another process's lock (the CLI and a server on one file).
const BUSY_TIMEOUT_MS: u64 = 5_000;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    idle_readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", parent.display())))?;
        }
        let writer = Connection::open(path)?;
        writer.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        // The savepoint journal in memory. The writer opens a savepoint per command, and SQLite
        // copies every page a savepoint touches into that journal; by default it spills to a
        // temporary file past 64 KiB (a few commands), written for every command after that
        // and deleted at the end of every group. Durability is unaffected: the journal only
        // undoes a savepoint inside a transaction that has not committed.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        apply_migrations(&writer)?;
        Ok(SqliteStore { path: path.to_owned(), writer: Mutex::new(writer), idle_readers: Mutex::new(Vec::new()) })
    }

    fn open_reader(&self) -> StoreResult<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        connection.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        Ok(connection)
    }
}

fn apply_migrations(connection: &Connection) -> StoreResult<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |row| row.get(0),
        )?;
        if !applied {
            connection.execute_batch(&format!(
                "BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations (version, applied_at_ms) VALUES ({version}, CAST(unixepoch('subsec') * 1000 AS INTEGER)); COMMIT;"
            ))?;
        }
    }
    fill_owner_skeletons(connection)
}

/// Keys made before version 6 get their owner's skeleton; it is derived, so doing this on every
/// start is harmless and finds nothing to do once done.
fn fill_owner_skeletons(connection: &Connection) -> StoreResult<()> {
    let missing: Vec<(String, String)> = connection
        .prepare("SELECT id, owner FROM api_keys WHERE owner_skeleton IS NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (key_id, owner) in missing {
        connection.execute(
            "UPDATE api_keys SET owner_skeleton = ?2 WHERE id = ?1",
            params![key_id, crate::engine::identity::owner_skeleton(&owner)],
        )?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn begin_read(&self) -> StoreResult<Box<dyn StoreRead + '_>> {
        let pooled = self.idle_readers.lock().expect("reader pool lock").pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => self.open_reader()?,
        };
        connection.execute_batch("BEGIN")?;
        Ok(Box::new(SqliteRead { store: self, connection: Some(connection) }))
    }

    fn begin_write(&self) -> StoreResult<Box<dyn StoreWrite + '_>> {
        let guard = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteWrite { connection: guard, finished: false, savepoint_depth: 0 }))
    }
}

struct SqliteRead<'s> {
    store: &'s SqliteStore,
    connection: Option<Connection>,
}

impl Drop for SqliteRead<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && connection.execute_batch("COMMIT").is_ok()
        {
            self.store.idle_readers.lock().expect("reader pool lock").push(connection);
        }
    }
}

struct SqliteWrite<'s> {
    connection: MutexGuard<'s, Connection>,
    finished: bool,
    savepoint_depth: u32,
}

impl Drop for SqliteWrite<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Not committed: nothing of this session may persist.
            let _ = self.connection.execute_batch("ROLLBACK");
        }
    }
}

/// Both session kinds read through the same code.
trait HasConnection {
    fn connection(&self) -> &Connection;
}

impl HasConnection for SqliteRead<'_> {
    fn connection(&self) -> &Connection {
        self.connection.as_ref().expect("connection present until drop")
    }
}

impl HasConnection for SqliteWrite<'_> {
    fn connection(&self) -> &Connection {
        &self.connection
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

fn asset_of(code: &str) -> StoreResult<AssetRef> {
    Asset::lookup(code).ok_or_else(|| corrupt("asset", code))
}

const PAYMENT_COLUMNS: &str = "id, merchant_id, mode, amount_minor, asset, network, method, rail, settle_asset, \
     settle_amount_minor, settle_rate, customer, description, metadata_json, status, next_action_json, fee_minor, \
     amount_refunded_minor, failure_reason, auto_settle_at_ms, created_at_ms, updated_at_ms";

/// `INSERT INTO payment_intents (PAYMENT_COLUMNS) VALUES (?1, …)`, built once.
static INSERT_PAYMENT_SQL: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=PAYMENT_COLUMNS.split(", ").count()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO payment_intents ({PAYMENT_COLUMNS}) VALUES ({})", placeholders.join(", "))
});

/// `UPDATE payment_intents SET column = ?n, … WHERE id = ?1`, built once.
static UPDATE_PAYMENT_SQL: LazyLock<String> = LazyLock::new(|| {
    let assignments: Vec<String> =
        PAYMENT_COLUMNS.split(", ").enumerate().skip(1).map(|(i, column)| format!("{column} = ?{}", i + 1)).collect();
    format!("UPDATE payment_intents SET {} WHERE id = ?1", assignments.join(", "))
});

fn payment_from_row(row: &Row<'_>) -> rusqlite::Result<PaymentIntent> {
    let text = |column: &str| row.get::<_, String>(column);
    let optional_text = |column: &str| row.get::<_, Option<String>>(column);
    let (mode, asset, method, rail, status) =
        (text("mode")?, text("asset")?, text("method")?, text("rail")?, text("status")?);
    let network = match optional_text("network")? {
        Some(code) => Some(parsed(Network::parse(&code), "network", &code)?),
        None => None,
    };
    let settlement = match (optional_text("settle_asset")?, row.get::<_, Option<i64>>("settle_amount_minor")?) {
        (Some(code), Some(amount_minor)) => Some(Settlement {
            asset: parsed(Asset::lookup(&code), "asset", &code)?,
            amount_minor,
            rate_text: optional_text("settle_rate")?.unwrap_or_default(),
        }),
        _ => None,
    };
    let metadata_json = text("metadata_json")?;
    let next_action = match optional_text("next_action_json")? {
        Some(json) => Some(parsed(next_action_from_json(&json), "next_action", &json)?),
        None => None,
    };
    Ok(PaymentIntent {
        id: text("id")?,
        scope: Scope { merchant_id: text("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? },
        amount: Money {
            asset: parsed(Asset::lookup(&asset), "asset", &asset)?,
            amount_minor: row.get("amount_minor")?,
        },
        network,
        method: parsed(PaymentMethod::parse(&method), "method", &method)?,
        rail: parsed(Rail::parse(&rail), "rail", &rail)?,
        settlement,
        customer: optional_text("customer")?,
        description: optional_text("description")?,
        metadata: parsed(serde_json::from_str(&metadata_json).ok(), "metadata", &metadata_json)?,
        status: parsed(PaymentStatus::parse(&status), "payment status", &status)?,
        next_action,
        fee_minor: row.get("fee_minor")?,
        amount_refunded_minor: row.get("amount_refunded_minor")?,
        failure_reason: optional_text("failure_reason")?,
        auto_settle_at_ms: row.get("auto_settle_at_ms")?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

fn next_action_to_json(action: &NextAction) -> String {
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

fn next_action_from_json(json: &str) -> Option<NextAction> {
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

fn query_payments(
    connection: &Connection,
    where_sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<PaymentIntent>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payment_intents WHERE {where_sql}");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(values, payment_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Applies `limit + 1` to learn `has_more` without a second query.
pub(super) fn into_page<T>(mut items: Vec<T>, limit: u32) -> Page<T> {
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Page { items, has_more }
}

/// A stored value that does not parse is corruption; report it from inside a row mapping.
pub(super) fn parsed<T>(value: Option<T>, what: &str, raw: &str) -> rusqlite::Result<T> {
    value.ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown {what} {raw:?}").into(),
        )
    })
}

fn api_key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let mode: String = row.get(3)?;
    let role: String = row.get(4)?;
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        merchant_id: row.get(1)?,
        merchant_name: row.get(2)?,
        mode: parsed(Mode::parse(&mode), "mode", &mode)?,
        role: parsed(Role::parse(&role), "role", &role)?,
        owner: row.get(5)?,
        key_sha256_hex: row.get(6)?,
        key_last4: row.get(7)?,
        created_at_ms: row.get(8)?,
        revoked_at_ms: row.get(9)?,
    })
}

const API_KEY_SELECT: &str = "SELECT k.id, k.merchant_id, m.name, k.mode, k.role, k.owner, k.key_sha256_hex, \
     k.key_last4, k.created_at_ms, k.revoked_at_ms FROM api_keys k JOIN merchants m ON m.id = k.merchant_id";

/// Events and audit records are always read within one scope, so the scope comes from the query.
fn event_from_row(row: &Row<'_>, scope: &Scope) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: row.get(0)?,
        scope: scope.clone(),
        event_type: row.get(1)?,
        object_id: row.get(2)?,
        payload_json: row.get(3)?,
        created_at_ms: row.get(4)?,
    })
}

fn audit_from_row(row: &Row<'_>, scope: &Scope) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.get(0)?,
        scope: scope.clone(),
        key_id: row.get(1)?,
        actor_owner: row.get(2)?,
        tool: row.get(3)?,
        outcome: row.get(4)?,
        error_type: row.get(5)?,
        object_id: row.get(6)?,
        idempotency_key: row.get(7)?,
        detail: row.get(8)?,
        created_at_ms: row.get(9)?,
    })
}

impl<T: HasConnection> StoreRead for T {
    fn count_merchants(&self) -> StoreResult<i64> {
        Ok(self.connection().query_row("SELECT COUNT(*) FROM merchants", [], |row| row.get(0))?)
    }

    fn merchant_exists(&self, merchant_id: &str) -> StoreResult<bool> {
        Ok(self.connection().query_row(
            "SELECT EXISTS (SELECT 1 FROM merchants WHERE id = ?1)",
            [merchant_id],
            |row| row.get(0),
        )?)
    }

    fn find_api_key_by_hash(&self, key_sha256_hex: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} WHERE k.key_sha256_hex = ?1");
        Ok(self.connection().prepare_cached(&sql)?.query_row([key_sha256_hex], api_key_from_row).optional()?)
    }

    fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} ORDER BY k.created_at_ms, k.id");
        let mut statement = self.connection().prepare_cached(&sql)?;
        let rows = statement.query_map([], api_key_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn get_payment(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let mode = scope.mode.code();
        let mut found = query_payments(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 AND id = ?3",
            &[&scope.merchant_id, &mode, &id],
        )?;
        Ok(found.pop())
    }

    fn list_payments(
        &self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<PaymentIntent>> {
        let mode = scope.mode.code();
        let status = filter.status.map(|status| status.code());
        let limit_plus_one = i64::from(page.limit) + 1;
        let items = query_payments(
            self.connection(),
            "merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR status = ?3) \
             AND (?4 IS NULL OR customer = ?4) \
             AND (?5 IS NULL OR created_at_ms >= ?5) \
             AND (?6 IS NULL OR created_at_ms < ?6) \
             AND (?7 IS NULL OR seq < (SELECT seq FROM payment_intents WHERE id = ?7)) \
             ORDER BY seq DESC LIMIT ?8",
            &[
                &scope.merchant_id,
                &mode,
                &status,
                &filter.customer,
                &filter.created_gte_ms,
                &filter.created_lt_ms,
                &page.starting_after,
                &limit_plus_one,
            ],
        )?;
        Ok(into_page(items, page.limit))
    }

    fn list_refunds_for_payment(&self, scope: &Scope, payment_intent_id: &str) -> StoreResult<Vec<Refund>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT id, amount_minor, asset, reason, status, created_at_ms FROM refunds \
             WHERE merchant_id = ?1 AND mode = ?2 AND payment_intent_id = ?3 ORDER BY seq",
        )?;
        let rows = statement.query_map(params![scope.merchant_id, scope.mode.code(), payment_intent_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })?;
        let mut refunds = Vec::new();
        for row in rows {
            let (id, amount_minor, asset, reason, status, created_at_ms) = row?;
            refunds.push(Refund {
                id,
                scope: scope.clone(),
                payment_intent_id: payment_intent_id.to_owned(),
                amount: Money { asset: asset_of(&asset)?, amount_minor },
                reason,
                status: RefundStatus::parse(&status).ok_or_else(|| corrupt("refund status", &status))?,
                created_at_ms,
            });
        }
        Ok(refunds)
    }

    fn due_test_payments(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        sqlite_scheduler::due_steps(self.connection(), ScheduledStep::SettleTestPayment, now_ms, limit)
    }

    fn balances(&self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances> {
        sqlite_ledger::balances(self.connection(), scope, assets)
    }

    fn list_balance_rows(&self, scope: &Scope) -> StoreResult<Vec<BalanceRow>> {
        sqlite_ledger::list_balance_rows(self.connection(), scope)
    }

    fn get_idempotency(&self, scope: &Scope, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let found = self
            .connection()
            .prepare_cached(
                "SELECT operation, request_sha256_hex, object_id, response_json, created_at_ms FROM idempotency_records \
                 WHERE merchant_id = ?1 AND mode = ?2 AND key = ?3",
            )?
            .query_row(params![scope.merchant_id, scope.mode.code(), key], |row| {
                Ok(IdempotencyRecord {
                    scope: scope.clone(),
                    key: key.to_owned(),
                    operation: row.get(0)?,
                    request_sha256_hex: row.get(1)?,
                    object_id: row.get(2)?,
                    response_json: row.get(3)?,
                    created_at_ms: row.get(4)?,
                })
            })
            .optional()?;
        Ok(found)
    }

    fn event_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        Ok(self
            .connection()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3)")?
            .query_row(params![scope.merchant_id, scope.mode.code(), id], |row| row.get(0))?)
    }

    fn list_events(&self, scope: &Scope, filter: &EventFilter, page: &PageRequest) -> StoreResult<Page<EventRecord>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT id, type, object_id, payload_json, created_at_ms FROM events \
             WHERE merchant_id = ?1 AND mode = ?2 AND (?3 IS NULL OR type = ?3) AND (?4 IS NULL OR object_id = ?4) \
             AND (?5 IS NULL OR seq < (SELECT seq FROM events WHERE id = ?5)) ORDER BY seq DESC LIMIT ?6",
        )?;
        let rows = statement.query_map(
            params![
                scope.merchant_id,
                scope.mode.code(),
                filter.event_type,
                filter.object_id,
                page.starting_after,
                i64::from(page.limit) + 1
            ],
            |row| event_from_row(row, scope),
        )?;
        Ok(into_page(rows.collect::<rusqlite::Result<Vec<_>>>()?, page.limit))
    }

    fn audit_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        Ok(self
            .connection()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM audit_log WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3)")?
            .query_row(params![scope.merchant_id, scope.mode.code(), id], |row| row.get(0))?)
    }

    fn list_audit(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<AuditRecord>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT id, key_id, actor_owner, tool, outcome, error_type, object_id, idempotency_key, \
             detail, created_at_ms FROM audit_log WHERE merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR seq < (SELECT seq FROM audit_log WHERE id = ?3)) ORDER BY seq DESC LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![scope.merchant_id, scope.mode.code(), page.starting_after, i64::from(page.limit) + 1],
            |row| audit_from_row(row, scope),
        )?;
        Ok(into_page(rows.collect::<rusqlite::Result<Vec<_>>>()?, page.limit))
    }

    fn verify_ledger(&self) -> StoreResult<LedgerReport> {
        sqlite_ledger::verify_ledger(self.connection())
    }

    fn get_payout(&self, scope: &Scope, id: &str) -> StoreResult<Option<Payout>> {
        sqlite_payouts::get_payout(self.connection(), scope, id)
    }

    fn list_payouts(&self, scope: &Scope, filter: &PayoutFilter, page: &PageRequest) -> StoreResult<Page<Payout>> {
        let items = sqlite_payouts::list_payouts(self.connection(), scope, filter, page)?;
        Ok(into_page(items, page.limit))
    }

    fn due_test_payouts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        sqlite_scheduler::due_steps(self.connection(), ScheduledStep::AdvanceTestPayout, now_ms, limit)
    }

    fn expired_approvals(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueStep>> {
        sqlite_scheduler::due_steps(self.connection(), ScheduledStep::ExpireApproval, now_ms, limit)
    }

    fn parked_steps(&self, limit: u32) -> StoreResult<(Vec<StepRetry>, i64)> {
        sqlite_scheduler::parked_steps(self.connection(), limit)
    }

    fn owner_payout_spend_since(
        &self,
        scope: &Scope,
        owner_skeleton: &str,
        asset: AssetRef,
        since_ms: i64,
        amount_range_minor: std::ops::Range<i64>,
    ) -> StoreResult<(u32, i64)> {
        sqlite_payouts::owner_payout_spend_since(
            self.connection(),
            scope,
            owner_skeleton,
            asset,
            since_ms,
            amount_range_minor,
        )
    }

    fn merchant_payout_spend_since(&self, scope: &Scope, asset: AssetRef, since_ms: i64) -> StoreResult<i64> {
        sqlite_payouts::merchant_payout_spend_since(self.connection(), scope, asset, since_ms)
    }

    fn owner_spend_limits(&self, scope: &Scope, owner_skeleton: &str) -> StoreResult<Vec<(AssetRef, SpendLimit)>> {
        sqlite_payouts::owner_spend_limits(self.connection(), scope, owner_skeleton)
    }
}

fn payment_params(payment: &PaymentIntent) -> Vec<Box<dyn rusqlite::ToSql>> {
    let metadata_json = serde_json::to_string(&payment.metadata).expect("string map serializes");
    vec![
        Box::new(payment.id.clone()),
        Box::new(payment.scope.merchant_id.clone()),
        Box::new(payment.scope.mode.code()),
        Box::new(payment.amount.amount_minor),
        Box::new(payment.amount.asset.code),
        Box::new(payment.network.map(|n| n.code())),
        Box::new(payment.method.code()),
        Box::new(payment.rail.code()),
        Box::new(payment.settlement.as_ref().map(|s| s.asset.code)),
        Box::new(payment.settlement.as_ref().map(|s| s.amount_minor)),
        Box::new(payment.settlement.as_ref().map(|s| s.rate_text.clone())),
        Box::new(payment.customer.clone()),
        Box::new(payment.description.clone()),
        Box::new(metadata_json),
        Box::new(payment.status.code()),
        Box::new(payment.next_action.as_ref().map(next_action_to_json)),
        Box::new(payment.fee_minor),
        Box::new(payment.amount_refunded_minor),
        Box::new(payment.failure_reason.clone()),
        Box::new(payment.auto_settle_at_ms),
        Box::new(payment.created_at_ms),
        Box::new(payment.updated_at_ms),
    ]
}

impl StoreWrite for SqliteWrite<'_> {
    fn savepoint(&mut self) -> StoreResult<()> {
        self.connection.execute_batch("SAVEPOINT command")?;
        self.savepoint_depth += 1;
        Ok(())
    }

    fn release_savepoint(&mut self) -> StoreResult<()> {
        assert!(self.savepoint_depth > 0, "release without a savepoint");
        self.connection.execute_batch("RELEASE command")?;
        self.savepoint_depth -= 1;
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        assert!(self.savepoint_depth > 0, "rollback without a savepoint");
        self.connection.execute_batch("ROLLBACK TO command; RELEASE command")?;
        self.savepoint_depth -= 1;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        assert_eq!(self.savepoint_depth, 0, "commit with an open savepoint");
        self.connection.execute_batch("COMMIT")?;
        self.finished = true;
        Ok(())
    }

    fn insert_merchant(&mut self, merchant: &MerchantRecord) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO merchants (id, name, created_at_ms) VALUES (?1, ?2, ?3)",
            params![merchant.id, merchant.name, merchant.created_at_ms],
        )?;
        Ok(())
    }

    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO api_keys (id, merchant_id, mode, role, owner, key_sha256_hex, key_last4, created_at_ms, revoked_at_ms, \
             owner_skeleton) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                key.id,
                key.merchant_id,
                key.mode.code(),
                key.role.code(),
                key.owner,
                key.key_sha256_hex,
                key.key_last4,
                key.created_at_ms,
                key.revoked_at_ms,
                crate::engine::identity::owner_skeleton(&key.owner)
            ],
        )?;
        Ok(())
    }

    fn revoke_api_key(&mut self, key_id: &str, now_ms: i64) -> StoreResult<bool> {
        let changed = self.connection.execute(
            "UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
            params![key_id, now_ms],
        )?;
        Ok(changed == 1)
    }

    fn insert_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        let values = payment_params(payment);
        self.connection.prepare_cached(&INSERT_PAYMENT_SQL)?.execute(rusqlite::params_from_iter(values.iter()))?;
        Ok(())
    }

    fn update_payment(&mut self, payment: &PaymentIntent) -> StoreResult<()> {
        let values = payment_params(payment);
        let changed =
            self.connection.prepare_cached(&UPDATE_PAYMENT_SQL)?.execute(rusqlite::params_from_iter(values.iter()))?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("payment {} to update does not exist", payment.id)));
        }
        Ok(())
    }

    fn insert_refund(&mut self, refund: &Refund) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO refunds (id, merchant_id, mode, payment_intent_id, amount_minor, asset, reason, status, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                refund.id,
                refund.scope.merchant_id,
                refund.scope.mode.code(),
                refund.payment_intent_id,
                refund.amount.amount_minor,
                refund.amount.asset.code,
                refund.reason,
                refund.status.code(),
                refund.created_at_ms
            ])?;
        Ok(())
    }

    fn post_ledger_transaction(
        &mut self,
        scope: &Scope,
        transaction: &LedgerTransaction,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlite_ledger::post_ledger_transaction(&self.connection, scope, transaction, now_ms)
    }

    fn insert_idempotency(&mut self, record: &IdempotencyRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO idempotency_records (merchant_id, mode, key, operation, request_sha256_hex, object_id, \
                 response_json, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                record.scope.merchant_id,
                record.scope.mode.code(),
                record.key,
                record.operation,
                record.request_sha256_hex,
                record.object_id,
                record.response_json,
                record.created_at_ms
            ])?;
        Ok(())
    }

    fn append_audit(&mut self, record: &AuditRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO audit_log (id, merchant_id, mode, key_id, actor_owner, tool, outcome, error_type, object_id, \
                 idempotency_key, detail, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                record.id,
                record.scope.merchant_id,
                record.scope.mode.code(),
                record.key_id,
                record.actor_owner,
                record.tool,
                record.outcome,
                record.error_type,
                record.object_id,
                record.idempotency_key,
                record.detail,
                record.created_at_ms
            ])?;
        Ok(())
    }

    fn insert_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        sqlite_payouts::insert_payout(&self.connection, payout)
    }

    fn update_payout(&mut self, payout: &Payout) -> StoreResult<()> {
        sqlite_payouts::update_payout(&self.connection, payout)
    }

    fn set_spend_limit(&mut self, key_id: &str, asset: AssetRef, limit: SpendLimit) -> StoreResult<()> {
        sqlite_payouts::set_spend_limit(&self.connection, key_id, asset, limit)
    }

    fn record_step_failure(&mut self, retry: &StepRetry) -> StoreResult<()> {
        sqlite_scheduler::record_step_failure(&self.connection, retry)
    }

    fn clear_step_retry(&mut self, step: ScheduledStep, object_id: &str) -> StoreResult<()> {
        sqlite_scheduler::clear_step_retry(&self.connection, step, object_id)
    }

    fn append_event(&mut self, record: &EventRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO events (id, merchant_id, mode, type, object_id, payload_json, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                record.id,
                record.scope.merchant_id,
                record.scope.mode.code(),
                record.event_type,
                record.object_id,
                record.payload_json,
                record.created_at_ms
            ])?;
        Ok(())
    }
}

/// The physical limit of durable commits on this disk, for the benchmark: opens a fresh database
/// at `path` with harepay's settings (WAL, `synchronous=FULL`), creates one bare table and
/// commits `commits` one-row INSERTs, each in its own transaction. Returns the time the commits
/// took (table creation excluded).
pub fn measure_bare_commits(path: &Path, commits: usize) -> StoreResult<std::time::Duration> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS bare_commits (seq INTEGER PRIMARY KEY, value INTEGER NOT NULL)")?;
    let mut insert = connection.prepare("INSERT INTO bare_commits (value) VALUES (?1)")?;
    let started = std::time::Instant::now();
    for value in 0..commits {
        connection.execute_batch("BEGIN IMMEDIATE")?;
        insert.execute([value as i64])?;
        connection.execute_batch("COMMIT")?;
    }
    Ok(started.elapsed())
}
