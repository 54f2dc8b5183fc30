//! The ledger's SQL: balances, postings and their verification.
//!
//! Balance arithmetic happens here in Rust, never in SQL: SQLite turns an integer sum that
//! overflows into a REAL without a word. A value that is not an integer (from an older harepay,
//! or a hand edit) is reported, never converted.

use std::collections::BTreeMap;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};

use crate::engine::ledger::{AccountKind, Balances, LedgerAccount, LedgerTransaction, balance_after, net_changes};
use crate::engine::money::AssetRef;
use crate::engine::principal::Scope;
use crate::store::codecs::account_label;
use crate::store::sqlite::rows::asset_of;
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{
    BalanceMismatch, BalanceRow, LedgerRead, LedgerReport, LedgerWrite, NonIntegerValue, StoreError, StoreResult,
};

impl<T: HasConnection> LedgerRead for T {
    fn balances(&self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances> {
        scope_balances(self.connection(), scope, assets, &[])
    }

    fn balances_with_customers(
        &self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances> {
        scope_balances(self.connection(), scope, assets, customer_ids)
    }

    fn customer_prepaid_balances(&self, scope: &Scope, customer_id: &str) -> StoreResult<Vec<(AssetRef, i64)>> {
        customer_prepaid_rows(self.connection(), scope, customer_id)
    }

    fn list_balance_rows(&self, scope: &Scope) -> StoreResult<Vec<BalanceRow>> {
        merchant_balance_rows(self.connection(), scope)
    }

    fn verify_ledger(&self, scope: Option<&Scope>) -> StoreResult<LedgerReport> {
        verify_ledger(self.connection(), scope)
    }
}

impl LedgerWrite for SqliteWrite<'_> {
    fn balances_for_update(&mut self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances> {
        // The write transaction holds SQLite's only write lock: no other session moves them.
        scope_balances(&self.connection, scope, assets, &[])
    }

    fn balances_with_customers_for_update(
        &mut self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances> {
        scope_balances(&self.connection, scope, assets, customer_ids)
    }

    fn post_ledger_transaction(
        &mut self,
        scope: &Scope,
        transaction: &LedgerTransaction,
        now_ms: i64,
    ) -> StoreResult<()> {
        post_ledger_transaction(&self.connection, scope, transaction, now_ms)
    }
}

/// An integer column, or what is stored there instead, in words ("real -9.2e18").
fn stored_integer(row: &Row<'_>, column: &str) -> rusqlite::Result<Result<i64, String>> {
    Ok(match row.get_ref(column)? {
        ValueRef::Integer(value) => Ok(value),
        ValueRef::Real(value) => Err(format!("real {value:?}")),
        ValueRef::Text(text) => {
            Err(format!("text {:?}", String::from_utf8_lossy(text).chars().take(40).collect::<String>()))
        }
        ValueRef::Blob(bytes) => Err(format!("blob of {} bytes", bytes.len())),
        ValueRef::Null => Err("null".to_owned()),
    })
}

/// The stored balances of one scope's fixed accounts in one asset, by account. Refuses a balance
/// that is not an integer, and an asset with values in the quarantine: its balances cannot be
/// trusted, and moving money on top of them would bury the problem. Customer prepaid accounts are
/// loaded one by one (`stored_customer_balance`): a scope may have very many.
fn stored_balances(connection: &Connection, scope: &Scope, asset: AssetRef) -> StoreResult<BTreeMap<AccountKind, i64>> {
    let mode = scope.mode.code();
    refuse_quarantined(connection, scope, asset)?;
    let mut statement = connection.prepare_cached(
        "SELECT account, balance_minor FROM account_balances WHERE merchant_id = ?1 AND mode = ?2 AND asset = ?3 \
         AND account IN ('available', 'pending', 'reserved', 'external', 'fees', 'fx_clearing', 'owed')",
    )?;
    let rows = statement.query_map(params![scope.merchant_id, mode, asset.code], |row| {
        Ok((row.get::<_, String>("account")?, stored_integer(row, "balance_minor")?))
    })?;
    let mut balances = BTreeMap::new();
    for row in rows {
        let (account_code, balance) = row?;
        let account = AccountKind::parse(&account_code)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown account {account_code:?}")))?;
        let balance_minor = balance.map_err(|stored| {
            StoreError::Corrupt(format!(
                "the balance of {} is not an integer ({stored})",
                account_label(&scope.merchant_id, mode, &account_code, asset.code)
            ))
        })?;
        balances.insert(account, balance_minor);
    }
    Ok(balances)
}

/// One customer's prepaid balance in one asset (zero when it has none yet).
fn stored_customer_balance(
    connection: &Connection,
    scope: &Scope,
    customer_id: &str,
    asset: AssetRef,
) -> StoreResult<i64> {
    let mode = scope.mode.code();
    refuse_quarantined(connection, scope, asset)?;
    let account_code = LedgerAccount::customer_prepaid(customer_id).code();
    let mut statement = connection.prepare_cached(
        "SELECT balance_minor FROM account_balances WHERE merchant_id = ?1 AND mode = ?2 AND account = ?3 AND asset = ?4",
    )?;
    let mut rows = statement.query(params![scope.merchant_id, mode, account_code, asset.code])?;
    let Some(row) = rows.next()? else { return Ok(0) };
    stored_integer(row, "balance_minor")?.map_err(|stored| {
        StoreError::Corrupt(format!(
            "the balance of {} is not an integer ({stored})",
            account_label(&scope.merchant_id, mode, &account_code, asset.code)
        ))
    })
}

/// Every prepaid balance one customer has a row for, by asset.
fn customer_prepaid_rows(
    connection: &Connection,
    scope: &Scope,
    customer_id: &str,
) -> StoreResult<Vec<(AssetRef, i64)>> {
    let mode = scope.mode.code();
    let account_code = LedgerAccount::customer_prepaid(customer_id).code();
    let mut statement = connection.prepare_cached(
        "SELECT asset, balance_minor FROM account_balances WHERE merchant_id = ?1 AND mode = ?2 AND account = ?3 \
         ORDER BY asset",
    )?;
    let rows = statement.query_map(params![scope.merchant_id, mode, account_code], |row| {
        Ok((row.get::<_, String>("asset")?, stored_integer(row, "balance_minor")?))
    })?;
    let mut balances = Vec::new();
    for row in rows {
        let (asset, balance) = row?;
        let balance_minor = balance.map_err(|stored| {
            StoreError::Corrupt(format!(
                "the balance of {} is not an integer ({stored})",
                account_label(&scope.merchant_id, mode, &account_code, &asset)
            ))
        })?;
        balances.push((asset_of(&asset)?, balance_minor));
    }
    Ok(balances)
}

/// Refuses to move money in an asset of a scope whose ledger values were quarantined.
fn refuse_quarantined(connection: &Connection, scope: &Scope, asset: AssetRef) -> StoreResult<()> {
    let mode = scope.mode.code();
    let quarantined: i64 = connection
        .prepare_cached("SELECT COUNT(*) FROM ledger_quarantine WHERE merchant_id = ?1 AND mode = ?2 AND asset = ?3")?
        .query_row(params![scope.merchant_id, mode, asset.code], |row| row.get(0))?;
    if quarantined > 0 {
        return Err(StoreError::Corrupt(format!(
            "{quarantined} ledger value(s) of {} {mode} in {} are not integers and were quarantined; \
             no money moves in {} for this merchant until they are repaired (see harepay verify)",
            scope.merchant_id, asset.code, asset.code
        )));
    }
    Ok(())
}

/// The scope's seven fixed accounts in each asset, and each customer's prepaid account in each
/// asset, zero where none is stored: everything a decision over them may move.
fn scope_balances(
    connection: &Connection,
    scope: &Scope,
    assets: &[AssetRef],
    customer_ids: &[&str],
) -> StoreResult<Balances> {
    let mut balances = Balances::default();
    for asset in assets {
        let stored = stored_balances(connection, scope, asset)?;
        for account in AccountKind::ALL {
            balances.set(account, asset, stored.get(&account).copied().unwrap_or(0));
        }
        for customer_id in customer_ids {
            let balance_minor = stored_customer_balance(connection, scope, customer_id, asset)?;
            balances.set(LedgerAccount::customer_prepaid(customer_id), asset, balance_minor);
        }
    }
    Ok(balances)
}

fn merchant_balance_rows(connection: &Connection, scope: &Scope) -> StoreResult<Vec<BalanceRow>> {
    let mode = scope.mode.code();
    let mut statement = connection.prepare_cached(
        "SELECT asset, account, balance_minor FROM account_balances WHERE merchant_id = ?1 AND mode = ?2 \
         AND account IN ('available', 'pending', 'reserved', 'owed') ORDER BY asset, account",
    )?;
    let rows = statement.query_map(params![scope.merchant_id, mode], |row| {
        Ok((row.get::<_, String>("asset")?, row.get::<_, String>("account")?, stored_integer(row, "balance_minor")?))
    })?;
    let mut balance_rows = Vec::new();
    for row in rows {
        let (asset, account, balance) = row?;
        let balance_minor = balance.map_err(|stored| {
            StoreError::Corrupt(format!(
                "the balance of {} is not an integer ({stored})",
                account_label(&scope.merchant_id, mode, &account, &asset)
            ))
        })?;
        balance_rows.push(BalanceRow {
            asset: asset_of(&asset)?,
            account: AccountKind::parse(&account)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown account {account:?}")))?,
            balance_minor,
        });
    }
    Ok(balance_rows)
}

/// Computes every new balance first and writes only when all of them fit, so a refused
/// transaction leaves nothing behind, even without the caller's savepoint.
fn post_ledger_transaction(
    connection: &Connection,
    scope: &Scope,
    transaction: &LedgerTransaction,
    now_ms: i64,
) -> StoreResult<()> {
    transaction.assert_balanced();
    let mode = scope.mode.code();
    let mut stored_by_asset: BTreeMap<&'static str, BTreeMap<AccountKind, i64>> = BTreeMap::new();
    let mut new_balances = Vec::new();
    for change in net_changes(&transaction.postings) {
        // The fixed accounts of the asset are loaded (and its quarantine checked) for every
        // asset the transaction touches, a customer's prepaid account on its own.
        let stored = match stored_by_asset.entry(change.asset.code) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(stored_balances(connection, scope, change.asset)?)
            }
        };
        let before_minor = match &change.account {
            LedgerAccount::Fixed(kind) => stored.get(kind).copied().unwrap_or(0),
            LedgerAccount::CustomerPrepaid { customer_id } => {
                stored_customer_balance(connection, scope, customer_id, change.asset)?
            }
        };
        let after_minor = balance_after(before_minor, change.change_minor).ok_or_else(|| {
            StoreError::BalanceOverflow(format!(
                "{} holds {before_minor}; moving it by {} in {} would leave the i64 range",
                account_label(&scope.merchant_id, mode, &change.account.code(), change.asset.code),
                change.change_minor,
                transaction.id
            ))
        })?;
        new_balances.push((change.account, change.asset, after_minor));
    }
    connection
        .prepare_cached(
            "INSERT INTO ledger_transactions (id, merchant_id, mode, reference_id, reason, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            transaction.id,
            scope.merchant_id,
            mode,
            transaction.reference_id,
            transaction.reason,
            now_ms
        ])?;
    let mut insert_posting = connection.prepare_cached(
        "INSERT INTO ledger_postings (transaction_id, merchant_id, mode, account, asset, amount_minor) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for posting in &transaction.postings {
        insert_posting.execute(params![
            transaction.id,
            scope.merchant_id,
            mode,
            posting.account.code(),
            posting.asset.code,
            posting.amount_minor
        ])?;
    }
    let mut upsert_balance = connection.prepare_cached(
        "INSERT INTO account_balances (merchant_id, mode, account, asset, balance_minor) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (merchant_id, mode, account, asset) DO UPDATE SET balance_minor = excluded.balance_minor",
    )?;
    for (account, asset, balance_minor) in new_balances {
        upsert_balance.execute(params![scope.merchant_id, mode, account.code(), asset.code, balance_minor])?;
    }
    Ok(())
}

/// (merchant, mode, account, asset): one ledger account as the tables name it.
type AccountKey = (String, String, String, String);

/// Streams every posting and balance once, summing in i128 in Rust: SQLite's SUM raises an error
/// on i64 overflow (partial sums included), which would turn a problem into a failure to report.
/// Checks the whole ledger, or with `scope` one merchant's in one mode (every transaction
/// belongs to one scope, so a scope's postings sum to zero per asset on their own).
fn verify_ledger(connection: &Connection, scope: Option<&Scope>) -> StoreResult<LedgerReport> {
    let merchant_id = scope.map(|scope| scope.merchant_id.as_str());
    let mode = scope.map(|scope| scope.mode.code());
    let count = |table: &str| -> rusqlite::Result<i64> {
        connection.query_row(
            &format!("SELECT COUNT(*) FROM {table} WHERE {IN_SCOPE_SQL}"),
            params![merchant_id, mode],
            |row| row.get(0),
        )
    };
    let mut report = LedgerReport {
        transaction_count: count("ledger_transactions")?,
        posting_count: count("ledger_postings")?,
        ..LedgerReport::default()
    };
    let postings_sum_by_account = check_postings(connection, (merchant_id, mode), &mut report)?;
    check_balances(connection, (merchant_id, mode), postings_sum_by_account, &mut report)?;
    check_customer_accounts(connection, (merchant_id, mode), &mut report)?;
    report_quarantine(connection, (merchant_id, mode), &mut report)?;
    Ok(report)
}

/// Rows of one scope, or of all when both parameters are null.
const IN_SCOPE_SQL: &str = "(?1 IS NULL OR merchant_id = ?1) AND (?2 IS NULL OR mode = ?2)";

/// Checks each transaction and each asset sums to zero; returns the postings' sum per account.
fn check_postings(
    connection: &Connection,
    scope: (Option<&str>, Option<&str>),
    report: &mut LedgerReport,
) -> StoreResult<BTreeMap<AccountKey, i128>> {
    // Ordered by transaction (the index has it), so one transaction's sums are in hand at a time.
    let mut statement = connection.prepare(&format!(
        "SELECT seq, transaction_id, merchant_id, mode, account, asset, amount_minor FROM ledger_postings \
         WHERE {IN_SCOPE_SQL} ORDER BY transaction_id, seq"
    ))?;
    let mut rows = statement.query(params![scope.0, scope.1])?;
    let mut sum_by_account: BTreeMap<AccountKey, i128> = BTreeMap::new();
    let mut sum_by_asset: BTreeMap<String, i128> = BTreeMap::new();
    let mut current_transaction: Option<(String, BTreeMap<String, i128>)> = None;
    while let Some(row) = rows.next()? {
        let transaction_id: String = row.get("transaction_id")?;
        let asset: String = row.get("asset")?;
        let amount_minor = match stored_integer(row, "amount_minor")? {
            Ok(amount_minor) => i128::from(amount_minor),
            Err(stored) => {
                let seq: i64 = row.get("seq")?;
                report
                    .non_integer_values
                    .push(NonIntegerValue { location: format!("posting {seq} of {transaction_id}"), stored });
                continue;
            }
        };
        if current_transaction.as_ref().is_some_and(|(id, _)| *id != transaction_id) {
            report_unbalanced_transaction(current_transaction.take(), report);
        }
        let (_, sums) = current_transaction.get_or_insert_with(|| (transaction_id, BTreeMap::new()));
        *sums.entry(asset.clone()).or_default() += amount_minor;
        *sum_by_asset.entry(asset.clone()).or_default() += amount_minor;
        let key = (row.get("merchant_id")?, row.get("mode")?, row.get("account")?, asset);
        *sum_by_account.entry(key).or_default() += amount_minor;
    }
    report_unbalanced_transaction(current_transaction, report);
    report.unbalanced_assets.extend(sum_by_asset.into_iter().filter(|(_, sum)| *sum != 0));
    Ok(sum_by_account)
}

fn report_unbalanced_transaction(transaction: Option<(String, BTreeMap<String, i128>)>, report: &mut LedgerReport) {
    let Some((transaction_id, sums)) = transaction else { return };
    for (asset, sum) in sums.into_iter().filter(|(_, sum)| *sum != 0) {
        report.unbalanced_transactions.push((transaction_id.clone(), asset, sum));
    }
}

/// Checks each stored balance against its postings, merchant and customer balances against zero,
/// and that each account is one harepay writes.
fn check_balances(
    connection: &Connection,
    scope: (Option<&str>, Option<&str>),
    mut postings_sum_by_account: BTreeMap<AccountKey, i128>,
    report: &mut LedgerReport,
) -> StoreResult<()> {
    let mut statement = connection.prepare(&format!(
        "SELECT merchant_id, mode, account, asset, balance_minor FROM account_balances WHERE {IN_SCOPE_SQL}"
    ))?;
    let mut rows = statement.query(params![scope.0, scope.1])?;
    while let Some(row) = rows.next()? {
        let key: AccountKey = (row.get("merchant_id")?, row.get("mode")?, row.get("account")?, row.get("asset")?);
        let postings_sum_minor = postings_sum_by_account.remove(&key).unwrap_or(0);
        let (merchant_id, mode, account, asset) = &key;
        let label = account_label(merchant_id, mode, account, asset);
        match stored_integer(row, "balance_minor")? {
            Ok(balance_minor) => {
                let known = LedgerAccount::parse(account);
                if known.is_none() {
                    report.unknown_accounts.push(format!("{label} (not an account harepay writes)"));
                }
                if known.is_some_and(|account| account.has_floor()) && balance_minor < 0 {
                    report.negative_balances.push((
                        merchant_id.clone(),
                        mode.clone(),
                        account.clone(),
                        asset.clone(),
                        balance_minor,
                    ));
                }
                if i128::from(balance_minor) != postings_sum_minor {
                    report.balance_mismatches.push(BalanceMismatch {
                        account: label,
                        stored_minor: Some(balance_minor),
                        postings_sum_minor,
                    });
                }
            }
            Err(stored) => {
                report.non_integer_values.push(NonIntegerValue { location: format!("balance of {label}"), stored })
            }
        }
    }
    for ((merchant_id, mode, account, asset), postings_sum_minor) in postings_sum_by_account {
        report.balance_mismatches.push(BalanceMismatch {
            account: account_label(&merchant_id, &mode, &account, &asset),
            stored_minor: None,
            postings_sum_minor,
        });
    }
    Ok(())
}

/// Every customer prepaid account belongs to a customer of its own merchant and mode: one that
/// does not (a hand edit, a row copied across scopes) is reported.
fn check_customer_accounts(
    connection: &Connection,
    scope: (Option<&str>, Option<&str>),
    report: &mut LedgerReport,
) -> StoreResult<()> {
    let prefix = LedgerAccount::customer_prepaid("").code();
    let mut statement = connection.prepare(&format!(
        "SELECT merchant_id, mode, account, asset FROM account_balances AS balance WHERE {IN_SCOPE_SQL} \
         AND substr(account, 1, length(?3)) = ?3 AND NOT EXISTS (SELECT 1 FROM customers AS customer \
         WHERE customer.id = substr(balance.account, length(?3) + 1) AND customer.merchant_id = balance.merchant_id \
         AND customer.mode = balance.mode) ORDER BY merchant_id, mode, account, asset"
    ))?;
    let mut rows = statement.query(params![scope.0, scope.1, prefix])?;
    while let Some(row) = rows.next()? {
        let label = account_label(
            &row.get::<_, String>("merchant_id")?,
            &row.get::<_, String>("mode")?,
            &row.get::<_, String>("account")?,
            &row.get::<_, String>("asset")?,
        );
        report.unknown_accounts.push(format!("{label} (no such customer in that merchant and mode)"));
    }
    Ok(())
}

fn report_quarantine(
    connection: &Connection,
    scope: (Option<&str>, Option<&str>),
    report: &mut LedgerReport,
) -> StoreResult<()> {
    let mut statement = connection.prepare(&format!(
        "SELECT source_table, merchant_id, mode, account, asset, transaction_id, posting_seq, stored_type, \
         stored_value FROM ledger_quarantine WHERE {IN_SCOPE_SQL} ORDER BY seq"
    ))?;
    let mut rows = statement.query(params![scope.0, scope.1])?;
    while let Some(row) = rows.next()? {
        let label = account_label(
            &row.get::<_, String>("merchant_id")?,
            &row.get::<_, String>("mode")?,
            &row.get::<_, String>("account")?,
            &row.get::<_, String>("asset")?,
        );
        let location = match row.get::<_, String>("source_table")?.as_str() {
            "ledger_postings" => format!(
                "posting {} of {} ({label})",
                row.get::<_, Option<i64>>("posting_seq")?.unwrap_or_default(),
                row.get::<_, Option<String>>("transaction_id")?.unwrap_or_default()
            ),
            _ => format!("balance of {label}"),
        };
        report.non_integer_values.push(NonIntegerValue {
            location: format!("{location} (quarantined by migration 5)"),
            stored: format!("{} {}", row.get::<_, String>("stored_type")?, row.get::<_, String>("stored_value")?),
        });
    }
    Ok(())
}
