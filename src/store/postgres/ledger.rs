//! The ledger's SQL: balances, postings and their verification.
//!
//! Across processes:
//! - A decision's balances (`…_for_update`) are locked with `SELECT … FOR UPDATE`: the scope's
//!   fixed accounts in the assets, and the customers' prepaid accounts. Every locker takes rows in
//!   the order of their key in bytes (`COLLATE "C"`), so two decisions over one balance run one
//!   after the other and do not deadlock on each other's rows. A missing row reads as zero: only
//!   a credit creates one, which makes a decision taken without it more cautious, never wrong.
//! - `post_ledger_transaction` locks the rows it changes (in the same order), checks in Rust that
//!   every new balance fits i64, and only then writes, so a refusal leaves nothing and does not
//!   abort the session. Balances change by atomic deltas (`balance_minor + delta`), never by a
//!   value computed from an earlier read, so no process's update is lost. A row that a concurrent
//!   credit created after the check can still overflow; PostgreSQL then refuses the statement
//!   (numeric out of range, `BalanceOverflow`) and the caller's savepoint undoes the rest.
//! - The session remembers the balance rows it holds locked (`PgSession::locked_balances`) and
//!   their balances as they are now (a write's new balances come back from the statement), so a
//!   later posting over them skips asking again. Safe because nobody else can change a row this
//!   session holds locked; a savepoint rolled back (which releases its locks) forgets them all.
//! - The available row guards: every locker of balance rows first locks the available rows of
//!   their assets in a statement of its own (`available` sorts first, so the lock order holds),
//!   then the rows themselves in a second statement, sent in the same round trip. So while a
//!   session holds an available row locked, no other session can create a row of that asset in
//!   the scope; and the second statement, whose snapshot is taken once the lock is held, sees
//!   every row made by whoever held it before. A row found missing then stays missing: it reads
//!   as zero without asking again (`PgSession::missing_balances`), and a row the session creates
//!   holds exactly what it posted. (While the available row itself does not exist yet, nothing is
//!   remembered as missing.)
//! - Verification reads one snapshot and sums in NUMERIC, exactly.
//!
//! BIGINT holds nothing but integers: SQLite's non-integer checks and its quarantine (migration
//! 5) have no counterpart here, and the report's `non_integer_values` is always empty.

use std::collections::HashMap;
use std::sync::LazyLock;

use postgres::Row;
use postgres::types::ToSql;

use crate::engine::ledger::{AccountKind, Balances, LedgerAccount, LedgerTransaction, balance_after, net_changes};
use crate::engine::money::AssetRef;
use crate::engine::principal::Scope;
use crate::store::codecs::account_label;
use crate::store::postgres::rows::{asset_of, get};
use crate::store::postgres::session::{BalanceKey, PgSession};
use crate::store::{BalanceMismatch, BalanceRow, LedgerRead, LedgerReport, LedgerWrite, StoreError, StoreResult};

/// The stored balances of the scope's accounts among `accounts` in `assets`.
const SCOPE_BALANCES_SQL: &str = "SELECT account, asset, balance_minor FROM account_balances \
     WHERE merchant_id = $1 AND mode = $2 AND asset = ANY($3) AND account = ANY($4)";

/// A ledger transaction in one statement: the transaction row, unless its id exists (then
/// nothing at all is written); its postings in the transaction's order; and each balance change
/// as an atomic delta, in the lock order (the caller's), so that rows created here are taken in
/// it too. Answers one marker row (no account) when the transaction was inserted, and each
/// changed balance as it is now; no row at all when the id existed.
const WRITE_TRANSACTION_SQL: &str = "WITH new_transaction AS ( \
       INSERT INTO ledger_transactions (id, merchant_id, mode, reference_id, reason, created_at_ms) \
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id), \
     new_postings AS ( \
       INSERT INTO ledger_postings (transaction_id, merchant_id, mode, account, asset, amount_minor) \
       SELECT new_transaction.id, $2, $3, posting.account, posting.asset, posting.amount_minor \
       FROM new_transaction, unnest($7::text[], $8::text[], $9::bigint[]) WITH ORDINALITY \
         AS posting(account, asset, amount_minor, position) ORDER BY posting.position), \
     changed_balances AS ( \
       INSERT INTO account_balances (merchant_id, mode, account, asset, balance_minor) \
       SELECT $2, $3, change.account, change.asset, change.delta_minor \
       FROM new_transaction, unnest($10::text[], $11::text[], $12::bigint[]) WITH ORDINALITY \
         AS change(account, asset, delta_minor, position) ORDER BY change.position \
       ON CONFLICT (merchant_id, mode, account, asset) \
       DO UPDATE SET balance_minor = account_balances.balance_minor + EXCLUDED.balance_minor \
       RETURNING account, asset, balance_minor) \
     SELECT NULL::text AS account, NULL::text AS asset, NULL::bigint AS balance_minor FROM new_transaction \
     UNION ALL SELECT account, asset, balance_minor FROM changed_balances";

/// `WRITE_TRANSACTION_SQL` for a write sent ahead (`PgSession::defers_writes`): a transaction id
/// posted already is a unique violation, an error, where that one writes nothing and answers no row.
static WRITE_TRANSACTION_AHEAD_SQL: LazyLock<String> = LazyLock::new(|| {
    let ahead = WRITE_TRANSACTION_SQL.replacen(" ON CONFLICT DO NOTHING RETURNING id", " RETURNING id", 1);
    assert_ne!(ahead, WRITE_TRANSACTION_SQL, "the transaction's insert is the one that may write nothing");
    ahead
});

/// The lock order every locker of balance rows uses: the key, in bytes.
const BALANCE_LOCK_ORDER_SQL: &str = "ORDER BY account COLLATE \"C\", asset COLLATE \"C\"";

impl LedgerRead for PgSession<'_> {
    fn balances(&self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances> {
        self.scope_balances(scope, assets, &[], false)
    }

    fn balances_with_customers(
        &self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances> {
        self.scope_balances(scope, assets, customer_ids, false)
    }

    fn customer_prepaid_balances(&self, scope: &Scope, customer_id: &str) -> StoreResult<Vec<(AssetRef, i64)>> {
        let account_code = LedgerAccount::customer_prepaid(customer_id).code();
        let rows = self.db().query(
            "SELECT asset, balance_minor FROM account_balances WHERE merchant_id = $1 AND mode = $2 AND account = $3 \
             ORDER BY asset COLLATE \"C\"",
            &[&scope.merchant_id, &scope.mode.code(), &account_code.as_ref()],
        )?;
        rows.iter().map(|row| Ok((asset_of(&get::<String>(row, "asset")?)?, get(row, "balance_minor")?))).collect()
    }

    fn list_balance_rows(&self, scope: &Scope) -> StoreResult<Vec<BalanceRow>> {
        let rows = self.db().query(
            "SELECT asset, account, balance_minor FROM account_balances WHERE merchant_id = $1 AND mode = $2 \
             AND account IN ('available', 'pending', 'reserved', 'owed') \
             ORDER BY asset COLLATE \"C\", account COLLATE \"C\"",
            &[&scope.merchant_id, &scope.mode.code()],
        )?;
        rows.iter()
            .map(|row| {
                let account: String = get(row, "account")?;
                Ok(BalanceRow {
                    asset: asset_of(&get::<String>(row, "asset")?)?,
                    account: AccountKind::parse(&account)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown account {account:?}")))?,
                    balance_minor: get(row, "balance_minor")?,
                })
            })
            .collect()
    }

    fn verify_ledger(&self, scope: Option<&Scope>) -> StoreResult<LedgerReport> {
        let merchant_id = scope.map(|scope| scope.merchant_id.as_str());
        let mode = scope.map(|scope| scope.mode.code());
        let in_scope = (merchant_id, mode);
        let mut report = LedgerReport {
            transaction_count: self.count_in_scope("ledger_transactions", in_scope)?,
            posting_count: self.count_in_scope("ledger_postings", in_scope)?,
            ..LedgerReport::default()
        };
        self.check_postings(in_scope, &mut report)?;
        self.check_balances(in_scope, &mut report)?;
        self.check_customer_accounts(in_scope, &mut report)?;
        Ok(report)
    }
}

impl LedgerWrite for PgSession<'_> {
    fn balances_for_update(&mut self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances> {
        self.scope_balances(scope, assets, &[], true)
    }

    fn balances_with_customers_for_update(
        &mut self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances> {
        self.scope_balances(scope, assets, customer_ids, true)
    }

    fn post_ledger_transaction(
        &mut self,
        scope: &Scope,
        transaction: &LedgerTransaction,
        now_ms: i64,
    ) -> StoreResult<()> {
        transaction.assert_balanced();
        let changes = self.checked_balance_changes(scope, transaction)?;
        self.write_transaction(scope, transaction, &changes, now_ms)
    }
}

/// One account's change in one asset, with the balance it had when it was locked (`None`: no
/// row yet).
struct BalanceChange {
    account_code: String,
    asset_code: &'static str,
    change_minor: i128,
    stored_minor: Option<i64>,
}

fn balance_key(scope: &Scope, account_code: String, asset_code: String) -> BalanceKey {
    (scope.merchant_id.clone(), scope.mode.code().to_owned(), account_code, asset_code)
}

/// A sum PostgreSQL computed in NUMERIC and sent as text.
fn numeric_sum(row: &Row, column: &str) -> StoreResult<i128> {
    let text: String = get(row, column)?;
    text.parse().map_err(|_| StoreError::Corrupt(format!("column {column}: {text:?} is not an integer sum")))
}

/// Rows of one scope, or of all when both parameters are null.
const IN_SCOPE_SQL: &str = "($1::text IS NULL OR merchant_id = $1::text) AND ($2::text IS NULL OR mode = $2::text)";

type InScope<'a> = (Option<&'a str>, Option<&'a str>);

impl PgSession<'_> {
    /// The scope's seven fixed accounts in each asset, and each customer's prepaid account in
    /// each asset, zero where none is stored: everything a decision over them may move. With
    /// `lock`, the stored rows stay locked until the session ends.
    fn scope_balances(
        &self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
        lock: bool,
    ) -> StoreResult<Balances> {
        let mut balances = Balances::default();
        let mut accounts_by_code: HashMap<String, LedgerAccount> = HashMap::new();
        let fixed = AccountKind::ALL.into_iter().map(LedgerAccount::Fixed);
        let customers = customer_ids.iter().map(|customer_id| LedgerAccount::customer_prepaid(customer_id));
        for account in fixed.chain(customers) {
            for asset in assets {
                balances.set(account.clone(), asset, 0);
            }
            accounts_by_code.insert(account.code().into_owned(), account);
        }
        if lock && self.all_locked_already(scope, assets, &accounts_by_code, &mut balances) {
            return Ok(balances);
        }
        let asset_codes: Vec<&str> = assets.iter().map(|asset| asset.code).collect();
        let account_codes: Vec<&str> = accounts_by_code.keys().map(String::as_str).collect();
        let sql = if lock {
            self.lock_available_rows_first(scope, &asset_codes)?;
            format!("{SCOPE_BALANCES_SQL} {BALANCE_LOCK_ORDER_SQL} FOR UPDATE")
        } else {
            SCOPE_BALANCES_SQL.to_owned()
        };
        let rows = self.db().query(&sql, &[&scope.merchant_id, &scope.mode.code(), &asset_codes, &account_codes])?;
        for row in rows {
            let account_code: String = get(&row, "account")?;
            let asset_code: String = get(&row, "asset")?;
            let balance_minor: i64 = get(&row, "balance_minor")?;
            let account = accounts_by_code.get(&account_code).cloned().expect("the query asked for these accounts");
            balances.set(account, asset_of(&asset_code)?, balance_minor);
            if lock {
                self.remember_locked_balance(scope, account_code, asset_code, balance_minor);
            }
        }
        if lock {
            for asset in assets {
                self.remember_missing_balances(scope, asset, &account_codes);
            }
        }
        Ok(balances)
    }

    /// Locks every balance the transaction changes and checks that each new one fits i64,
    /// before anything is written.
    fn checked_balance_changes(
        &self,
        scope: &Scope,
        transaction: &LedgerTransaction,
    ) -> StoreResult<Vec<BalanceChange>> {
        let mode = scope.mode.code();
        let mut changes: Vec<BalanceChange> = net_changes(&transaction.postings)
            .into_iter()
            .map(|change| BalanceChange {
                account_code: change.account.code().into_owned(),
                asset_code: change.asset.code,
                change_minor: change.change_minor,
                stored_minor: None,
            })
            .collect();
        changes.sort_by(|left, right| {
            (left.account_code.as_str(), left.asset_code).cmp(&(right.account_code.as_str(), right.asset_code))
        });
        let already_locked: Option<Vec<i64>> =
            changes.iter().map(|change| self.locked_balance(scope, &change.account_code, change.asset_code)).collect();
        match already_locked {
            // Every row is locked by this session already, and known as it is now: no need to ask.
            Some(stored) => {
                for (change, stored_minor) in changes.iter_mut().zip(stored) {
                    change.stored_minor = Some(stored_minor);
                }
            }
            None => self.lock_changed_balances(scope, &mut changes)?,
        }
        for change in &mut changes {
            let before_minor = change.stored_minor.unwrap_or(0);
            if balance_after(before_minor, change.change_minor).is_none() {
                return Err(StoreError::BalanceOverflow(format!(
                    "{} holds {before_minor}; moving it by {} in {} would leave the i64 range",
                    account_label(&scope.merchant_id, mode, &change.account_code, change.asset_code),
                    change.change_minor,
                    transaction.id
                )));
            }
        }
        Ok(changes)
    }

    /// When this session holds every one of the rows locked already (none is missing, so none can
    /// appear meanwhile), fills `balances` from what it knows of them and says so: asking again
    /// would lock nothing more and read the same values.
    fn all_locked_already(
        &self,
        scope: &Scope,
        assets: &[AssetRef],
        accounts_by_code: &HashMap<String, LedgerAccount>,
        balances: &mut Balances,
    ) -> bool {
        let mut known = Vec::with_capacity(assets.len() * accounts_by_code.len());
        for (account_code, account) in accounts_by_code {
            for asset in assets {
                match self.locked_balance(scope, account_code, asset.code) {
                    Some(balance_minor) => known.push((account, asset, balance_minor)),
                    None if self.is_missing(scope, account_code, asset.code) => known.push((account, asset, 0)),
                    None => return false,
                }
            }
        }
        for (account, asset, balance_minor) in known {
            balances.set(account.clone(), asset, balance_minor);
        }
        true
    }

    /// Locks the rows of `changes`, and the available row of each of their assets (the available
    /// row guards: module docs), in the lock order, and notes their stored balances.
    fn lock_changed_balances(&self, scope: &Scope, changes: &mut [BalanceChange]) -> StoreResult<()> {
        let account_codes: Vec<&str> = changes.iter().map(|change| change.account_code.as_str()).collect();
        let asset_codes: Vec<&str> = changes.iter().map(|change| change.asset_code).collect();
        self.lock_available_rows_first(scope, &asset_codes)?;
        let rows = self.db().query(
            &format!(
                "SELECT account, asset, balance_minor FROM account_balances WHERE merchant_id = $1 AND mode = $2 \
                 AND ((account, asset) IN (SELECT * FROM unnest($3::text[], $4::text[])) \
                   OR (account = '{AVAILABLE}' AND asset = ANY($4::text[]))) \
                 {BALANCE_LOCK_ORDER_SQL} FOR UPDATE",
                AVAILABLE = AccountKind::Available.code()
            ),
            &[&scope.merchant_id, &scope.mode.code(), &account_codes, &asset_codes],
        )?;
        let mut stored: HashMap<(String, String), i64> = HashMap::new();
        for row in rows {
            let (account_code, asset_code, balance_minor): (String, String, i64) =
                (get(&row, "account")?, get(&row, "asset")?, get(&row, "balance_minor")?);
            self.remember_locked_balance(scope, account_code.clone(), asset_code.clone(), balance_minor);
            stored.insert((account_code, asset_code), balance_minor);
        }
        for change in changes {
            change.stored_minor = stored.get(&(change.account_code.clone(), change.asset_code.to_owned())).copied();
        }
        Ok(())
    }

    /// The first statement of every balance lock (module docs, "the available row guards"):
    /// inside a savepoint it goes in the same round trip as the lock that follows.
    fn lock_available_rows_first(&self, scope: &Scope, asset_codes: &[&str]) -> StoreResult<()> {
        let sql = format!(
            "SELECT 1 FROM account_balances WHERE merchant_id = $1 AND mode = $2 AND account = '{}' \
             AND asset = ANY($3::text[]) ORDER BY asset COLLATE \"C\" FOR UPDATE",
            AccountKind::Available.code()
        );
        let params: [&(dyn ToSql + Sync); 3] = [&scope.merchant_id, &scope.mode.code(), &asset_codes];
        if self.defers_writes() {
            return self.db().defer(&sql, &params);
        }
        self.db().execute(&sql, &params).map(drop)
    }

    /// Right after a lock of `account_codes` in `asset`: notes the rows it did not find (so did
    /// not remember as locked) as missing, when it found the asset's available row, which guards
    /// their creation. (Only a write session remembers locks.)
    fn remember_missing_balances(&self, scope: &Scope, asset: &AssetRef, account_codes: &[&str]) {
        if !self.holds_available_balance_lock(scope, asset) {
            return;
        }
        for account_code in account_codes {
            if self.locked_balance(scope, account_code, asset.code).is_none() {
                self.missing_balances.borrow_mut().insert(balance_key(
                    scope,
                    (*account_code).to_owned(),
                    asset.code.to_owned(),
                ));
            }
        }
    }

    fn is_missing(&self, scope: &Scope, account_code: &str, asset_code: &str) -> bool {
        self.missing_balances.borrow().contains(&balance_key(scope, account_code.to_owned(), asset_code.to_owned()))
    }

    /// A balance row this session holds locked, as it is now (`PgSession::locked_balances`).
    fn locked_balance(&self, scope: &Scope, account_code: &str, asset_code: &str) -> Option<i64> {
        let key = balance_key(scope, account_code.to_owned(), asset_code.to_owned());
        self.locked_balances.borrow().get(&key).copied()
    }

    fn remember_locked_balance(&self, scope: &Scope, account_code: String, asset_code: String, balance_minor: i64) {
        if self.is_write {
            let key = balance_key(scope, account_code, asset_code);
            self.missing_balances.borrow_mut().remove(&key);
            self.locked_balances.borrow_mut().insert(key, balance_minor);
        }
    }

    /// Whether this session holds the scope's available balance in `asset` locked: every payout
    /// decision over that balance locks it first, so while it is held none can run elsewhere.
    pub(super) fn holds_available_balance_lock(&self, scope: &Scope, asset: AssetRef) -> bool {
        self.locked_balance(scope, AccountKind::Available.code(), asset.code).is_some()
    }

    /// The transaction, its postings and the balance changes that fit i64, in one statement (one
    /// round trip); then, only if the transaction was new, the changes too large for i64, in
    /// NUMERIC (possible only on a stored balance, locked by `checked_balance_changes`). A
    /// transaction id already posted writes nothing and is a `Conflict`.
    fn write_transaction(
        &self,
        scope: &Scope,
        transaction: &LedgerTransaction,
        changes: &[BalanceChange],
        now_ms: i64,
    ) -> StoreResult<()> {
        let mode = scope.mode.code();
        let posting_accounts: Vec<String> =
            transaction.postings.iter().map(|posting| posting.account.code().into_owned()).collect();
        let posting_assets: Vec<&str> = transaction.postings.iter().map(|posting| posting.asset.code).collect();
        let posting_amounts: Vec<i64> = transaction.postings.iter().map(|posting| posting.amount_minor).collect();
        let (mut change_accounts, mut change_assets, mut change_deltas) = (Vec::new(), Vec::new(), Vec::new());
        let mut beyond_i64 = Vec::new();
        for change in changes {
            match i64::try_from(change.change_minor) {
                Ok(delta_minor) => {
                    change_accounts.push(change.account_code.as_str());
                    change_assets.push(change.asset_code);
                    change_deltas.push(delta_minor);
                }
                Err(_) => beyond_i64.push(change),
            }
        }
        let params: [&(dyn ToSql + Sync); 12] = [
            &transaction.id,
            &scope.merchant_id,
            &mode,
            &transaction.reference_id,
            &transaction.reason,
            &now_ms,
            &posting_accounts,
            &posting_assets,
            &posting_amounts,
            &change_accounts,
            &change_assets,
            &change_deltas,
        ];
        if beyond_i64.is_empty() && self.defers_writes() {
            self.db().defer(&WRITE_TRANSACTION_AHEAD_SQL, &params)?;
            // The rows locked before stay locked, moved by what was checked to fit. A row that did
            // not exist holds what was posted when this session holds its asset's available row
            // (which guards its creation); otherwise another process may have made it meanwhile,
            // so it is asked for when next needed.
            for change in changes {
                let stored_minor = match change.stored_minor {
                    Some(stored_minor) => Some(stored_minor),
                    None if self.locked_balance(scope, AccountKind::Available.code(), change.asset_code).is_some() => {
                        Some(0)
                    }
                    None => {
                        let key = balance_key(scope, change.account_code.clone(), change.asset_code.to_owned());
                        self.missing_balances.borrow_mut().remove(&key);
                        None
                    }
                };
                if let Some(stored_minor) = stored_minor {
                    let balance_minor = balance_after(stored_minor, change.change_minor).expect("checked to fit i64");
                    self.remember_locked_balance(
                        scope,
                        change.account_code.clone(),
                        change.asset_code.to_owned(),
                        balance_minor,
                    );
                }
            }
            return Ok(());
        }
        let rows = self.db().query(WRITE_TRANSACTION_SQL, &params)?;
        if rows.is_empty() {
            return Err(StoreError::Conflict { what: StoreError::object_of_table("ledger_transactions") });
        }
        for row in rows.iter() {
            // The marker row (no account) says the transaction was inserted; every other row is
            // a balance the statement changed, now locked by this session, as it is now.
            if let Some(account_code) = get::<Option<String>>(row, "account")? {
                self.remember_locked_balance(scope, account_code, get(row, "asset")?, get(row, "balance_minor")?);
            }
        }
        for change in beyond_i64 {
            self.db().execute(
                "UPDATE account_balances SET balance_minor = (balance_minor::numeric + $5::text::numeric)::bigint \
                 WHERE merchant_id = $1 AND mode = $2 AND account = $3 AND asset = $4",
                &[
                    &scope.merchant_id,
                    &mode,
                    &change.account_code,
                    &change.asset_code,
                    &change.change_minor.to_string(),
                ],
            )?;
            let key = balance_key(scope, change.account_code.clone(), change.asset_code.to_owned());
            self.locked_balances.borrow_mut().remove(&key);
        }
        Ok(())
    }

    fn count_in_scope(&self, table: &str, in_scope: InScope<'_>) -> StoreResult<i64> {
        let row = self.db().query_one(
            &format!("SELECT COUNT(*) AS count FROM {table} WHERE {IN_SCOPE_SQL}"),
            &[&in_scope.0, &in_scope.1],
        )?;
        get(&row, "count")
    }

    /// Each transaction and each asset sums to zero.
    fn check_postings(&self, in_scope: InScope<'_>, report: &mut LedgerReport) -> StoreResult<()> {
        let unbalanced_transactions = self.db().query(
            &format!(
                "SELECT transaction_id, asset, SUM(amount_minor)::text AS sum_minor FROM ledger_postings \
                 WHERE {IN_SCOPE_SQL} GROUP BY transaction_id, asset HAVING SUM(amount_minor) <> 0 \
                 ORDER BY transaction_id COLLATE \"C\", asset COLLATE \"C\""
            ),
            &[&in_scope.0, &in_scope.1],
        )?;
        for row in unbalanced_transactions {
            report.unbalanced_transactions.push((
                get(&row, "transaction_id")?,
                get(&row, "asset")?,
                numeric_sum(&row, "sum_minor")?,
            ));
        }
        let unbalanced_assets = self.db().query(
            &format!(
                "SELECT asset, SUM(amount_minor)::text AS sum_minor FROM ledger_postings WHERE {IN_SCOPE_SQL} \
                 GROUP BY asset HAVING SUM(amount_minor) <> 0 ORDER BY asset COLLATE \"C\""
            ),
            &[&in_scope.0, &in_scope.1],
        )?;
        for row in unbalanced_assets {
            report.unbalanced_assets.push((get(&row, "asset")?, numeric_sum(&row, "sum_minor")?));
        }
        Ok(())
    }

    /// Each stored balance against its postings' sum (and each account with postings but no
    /// balance), merchant and customer balances against zero, and that each account is one
    /// harepay writes.
    fn check_balances(&self, in_scope: InScope<'_>, report: &mut LedgerReport) -> StoreResult<()> {
        let rows = self.db().query(
            &format!(
                "WITH sums AS (SELECT merchant_id, mode, account, asset, SUM(amount_minor) AS postings_sum_minor \
                   FROM ledger_postings WHERE {IN_SCOPE_SQL} GROUP BY merchant_id, mode, account, asset), \
                 stored AS (SELECT merchant_id, mode, account, asset, balance_minor FROM account_balances \
                   WHERE {IN_SCOPE_SQL}) \
                 SELECT merchant_id, mode, account, asset, stored.balance_minor, \
                   COALESCE(sums.postings_sum_minor, 0)::text AS postings_sum_minor \
                 FROM stored FULL OUTER JOIN sums USING (merchant_id, mode, account, asset) \
                 ORDER BY stored.balance_minor IS NULL, merchant_id COLLATE \"C\", mode COLLATE \"C\", \
                   account COLLATE \"C\", asset COLLATE \"C\""
            ),
            &[&in_scope.0, &in_scope.1],
        )?;
        for row in rows {
            let (merchant_id, mode, account, asset): (String, String, String, String) =
                (get(&row, "merchant_id")?, get(&row, "mode")?, get(&row, "account")?, get(&row, "asset")?);
            let postings_sum_minor = numeric_sum(&row, "postings_sum_minor")?;
            let label = account_label(&merchant_id, &mode, &account, &asset);
            let Some(balance_minor) = get::<Option<i64>>(&row, "balance_minor")? else {
                report.balance_mismatches.push(BalanceMismatch {
                    account: label,
                    stored_minor: None,
                    postings_sum_minor,
                });
                continue;
            };
            let known = LedgerAccount::parse(&account);
            if known.is_none() {
                report.unknown_accounts.push(format!("{label} (not an account harepay writes)"));
            }
            if i128::from(balance_minor) != postings_sum_minor {
                report.balance_mismatches.push(BalanceMismatch {
                    account: label,
                    stored_minor: Some(balance_minor),
                    postings_sum_minor,
                });
            }
            if known.is_some_and(|account| account.has_floor()) && balance_minor < 0 {
                report.negative_balances.push((merchant_id, mode, account, asset, balance_minor));
            }
        }
        Ok(())
    }

    /// Every customer prepaid account belongs to a customer of its own merchant and mode: one
    /// that does not (a hand edit, a row copied across scopes) is reported.
    fn check_customer_accounts(&self, in_scope: InScope<'_>, report: &mut LedgerReport) -> StoreResult<()> {
        let prefix = LedgerAccount::customer_prepaid("").code();
        let rows = self.db().query(
            &format!(
                "SELECT merchant_id, mode, account, asset FROM account_balances AS balance WHERE {IN_SCOPE_SQL} \
                 AND substr(account, 1, length($3::text)) = $3::text AND NOT EXISTS (SELECT 1 FROM customers AS customer \
                 WHERE customer.id = substr(balance.account, length($3::text) + 1) \
                 AND customer.merchant_id = balance.merchant_id AND customer.mode = balance.mode) \
                 ORDER BY merchant_id COLLATE \"C\", mode COLLATE \"C\", account COLLATE \"C\", asset COLLATE \"C\""
            ),
            &[&in_scope.0, &in_scope.1, &prefix.as_ref()],
        )?;
        for row in rows {
            let label = account_label(
                &get::<String>(&row, "merchant_id")?,
                &get::<String>(&row, "mode")?,
                &get::<String>(&row, "account")?,
                &get::<String>(&row, "asset")?,
            );
            report.unknown_accounts.push(format!("{label} (no such customer in that merchant and mode)"));
        }
        Ok(())
    }
}
