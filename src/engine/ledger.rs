//! Double-entry ledger. Every movement of money is one `LedgerTransaction` whose postings sum to
//! zero for each asset. Merchant accounts (available, pending, reserved) may never go negative;
//! the system accounts (external, fees, fx_clearing) balance them and may. No balance, merchant
//! or system, may leave the i64 range: a transaction that would take one there is refused whole.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::error::EngineError;
use crate::engine::money::{Asset, AssetRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountKind {
    /// Merchant money that can be paid out or refunded.
    Available,
    /// Merchant money received but not yet settled.
    Pending,
    /// Merchant money held for payouts in flight or awaiting approval.
    Reserved,
    /// The world outside harepay: payers, banks, chains. Goes negative as money comes in.
    External,
    /// Fees harepay earned.
    Fees,
    /// Currency conversion: one leg per asset, so each asset still sums to zero.
    FxClearing,
}

impl AccountKind {
    pub const ALL: [AccountKind; 6] = [
        AccountKind::Available,
        AccountKind::Pending,
        AccountKind::Reserved,
        AccountKind::External,
        AccountKind::Fees,
        AccountKind::FxClearing,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AccountKind::Available => "available",
            AccountKind::Pending => "pending",
            AccountKind::Reserved => "reserved",
            AccountKind::External => "external",
            AccountKind::Fees => "fees",
            AccountKind::FxClearing => "fx_clearing",
        }
    }

    pub fn parse(code: &str) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// Merchant balances have a floor of zero; system accounts have none.
    pub fn is_merchant_balance(self) -> bool {
        matches!(self, AccountKind::Available | AccountKind::Pending | AccountKind::Reserved)
    }
}

/// One leg: `amount_minor` is added to the account's balance (negative takes away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountKind,
    pub asset: AssetRef,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTransaction {
    pub id: String,
    /// The object whose state change caused this movement (`pi_…`, `re_…`).
    pub reference_id: String,
    /// What happened, e.g. `payment_intent.succeeded`.
    pub reason: &'static str,
    pub postings: Vec<Posting>,
}

impl LedgerTransaction {
    /// Panics unless every asset's postings sum to zero: an unbalanced transaction is a bug in
    /// the engine, never a consequence of input.
    pub fn assert_balanced(&self) {
        for (asset_code, sum_minor) in sum_by_asset(&self.postings) {
            assert_eq!(sum_minor, 0, "ledger transaction {} is unbalanced in {asset_code}", self.id);
        }
    }
}

/// Per-asset sums of postings, in i128 so that the check itself cannot overflow.
pub fn sum_by_asset(postings: &[Posting]) -> BTreeMap<&'static str, i128> {
    let mut sums = BTreeMap::new();
    for posting in postings {
        *sums.entry(posting.asset.code).or_insert(0_i128) += i128::from(posting.amount_minor);
    }
    sums
}

/// Builds a transaction out of transfers, each of which is balanced by construction.
#[derive(Debug, Default)]
pub struct LedgerTransactionBuilder {
    postings: Vec<Posting>,
}

impl LedgerTransactionBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves `amount_minor` of `asset` from one account to another. Zero transfers are skipped.
    pub fn transfer(mut self, from: AccountKind, to: AccountKind, asset: AssetRef, amount_minor: i64) -> Self {
        assert!(amount_minor >= 0, "a transfer amount is never negative");
        if amount_minor > 0 {
            self.postings.push(Posting { account: from, asset, amount_minor: -amount_minor });
            self.postings.push(Posting { account: to, asset, amount_minor });
        }
        self
    }

    pub fn finish(self, id: String, reference_id: &str, reason: &'static str) -> LedgerTransaction {
        let transaction =
            LedgerTransaction { id, reference_id: reference_id.to_owned(), reason, postings: self.postings };
        transaction.assert_balanced();
        transaction
    }
}

/// What a transaction does to one account: the sum of its postings there, in i128 so that the
/// sum itself cannot overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetChange {
    pub account: AccountKind,
    pub asset: AssetRef,
    pub change_minor: i128,
}

/// The net change of every account the postings touch, ordered by account and asset. Summing
/// first means a transaction that adds and takes from one account is judged by its result.
pub fn net_changes(postings: &[Posting]) -> Vec<NetChange> {
    let mut by_account: BTreeMap<(AccountKind, &'static str), NetChange> = BTreeMap::new();
    for posting in postings {
        by_account
            .entry((posting.account, posting.asset.code))
            .or_insert(NetChange { account: posting.account, asset: posting.asset, change_minor: 0 })
            .change_minor += i128::from(posting.amount_minor);
    }
    by_account.into_values().collect()
}

/// The balance after a change, or `None` when it does not fit the i64 a balance is stored in.
pub fn balance_after(before_minor: i64, change_minor: i128) -> Option<i64> {
    i64::try_from(i128::from(before_minor).checked_add(change_minor)?).ok()
}

/// A net change for a message: in the asset's units when it fits an i64, as it usually does.
fn display_change(asset: AssetRef, change_minor: i128) -> String {
    match i64::try_from(change_minor) {
        Ok(change_minor) => asset.display(change_minor),
        Err(_) => format!("{change_minor} minor units"),
    }
}

/// The balances of every account, merchant and system, for the assets a decision touches,
/// loaded before deciding. An account not loaded reads as zero, so the loader must load all
/// six kinds: a missing system account would let `apply` miss an overflow there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    by_account: BTreeMap<(AccountKind, &'static str), i64>,
}

impl Balances {
    pub fn set(&mut self, account: AccountKind, asset: AssetRef, amount_minor: i64) {
        self.by_account.insert((account, asset.code), amount_minor);
    }

    pub fn get(&self, account: AccountKind, asset: AssetRef) -> i64 {
        self.by_account.get(&(account, asset.code)).copied().unwrap_or(0)
    }

    /// Each asset that has a balance, once.
    pub fn assets(&self) -> impl Iterator<Item = AssetRef> + '_ {
        let codes: BTreeSet<&'static str> = self.by_account.keys().map(|(_, code)| *code).collect();
        codes.into_iter().map(Asset::from_stored_code)
    }

    /// Checks that `transaction` leaves every balance inside i64 and every merchant balance at
    /// or above zero, and applies it. Nothing changes when it would not: the caller gets
    /// `balance_overflow` or `insufficient_funds`.
    pub fn apply(&mut self, transaction: &LedgerTransaction) -> Result<(), EngineError> {
        transaction.assert_balanced();
        let changes = net_changes(&transaction.postings);
        let mut next = self.by_account.clone();
        for change in &changes {
            let before_minor = self.get(change.account, change.asset);
            let after_minor =
                balance_after(before_minor, change.change_minor).ok_or_else(|| EngineError::BalanceOverflow {
                    account: change.account.code(),
                    currency: change.asset.code,
                    balance_display: change.asset.display(before_minor),
                    change_display: display_change(change.asset, change.change_minor),
                    limit_display: change.asset.display(i64::MAX),
                })?;
            next.insert((change.account, change.asset.code), after_minor);
        }
        for change in changes.iter().filter(|change| change.account.is_merchant_balance()) {
            let after_minor = next[&(change.account, change.asset.code)];
            if after_minor < 0 {
                // Only `available` can be drawn down by a request; the other merchant accounts
                // are drawn down only by amounts the engine itself put there.
                assert_eq!(
                    change.account,
                    AccountKind::Available,
                    "{} would go negative in {}: the engine moved money it did not hold",
                    change.account.code(),
                    change.asset.code
                );
                let available_minor = self.get(AccountKind::Available, change.asset);
                let requested_minor = i64::try_from(-change.change_minor).unwrap_or(i64::MAX);
                return Err(EngineError::InsufficientFunds {
                    asset: change.asset.code,
                    available_minor,
                    requested_minor,
                    available_display: change.asset.display(available_minor),
                    requested_display: change.asset.display(requested_minor),
                });
            }
        }
        self.by_account = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ngn() -> AssetRef {
        Asset::lookup("NGN").unwrap()
    }

    #[test]
    fn transfers_are_balanced_and_skip_zero() {
        let transaction = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::Pending, ngn(), 500)
            .transfer(AccountKind::Pending, AccountKind::Fees, ngn(), 0)
            .finish("ltx_1".into(), "pi_1", "test");
        assert_eq!(transaction.postings.len(), 2);
        assert_eq!(sum_by_asset(&transaction.postings)["NGN"], 0);
    }

    #[test]
    #[should_panic(expected = "unbalanced")]
    fn an_unbalanced_transaction_is_a_bug() {
        let transaction = LedgerTransaction {
            id: "ltx_1".into(),
            reference_id: "pi_1".into(),
            reason: "test",
            postings: vec![Posting { account: AccountKind::Available, asset: ngn(), amount_minor: 1 }],
        };
        transaction.assert_balanced();
    }

    #[test]
    fn overdrawing_available_is_refused_and_changes_nothing() {
        let mut balances = Balances::default();
        balances.set(AccountKind::Available, ngn(), 100);
        let refund = LedgerTransactionBuilder::new()
            .transfer(AccountKind::Available, AccountKind::External, ngn(), 101)
            .finish("ltx_1".into(), "re_1", "test");
        let error = balances.apply(&refund).unwrap_err();
        assert_eq!(error.code(), "insufficient_funds");
        assert_eq!(balances.get(AccountKind::Available, ngn()), 100);
        let smaller = LedgerTransactionBuilder::new()
            .transfer(AccountKind::Available, AccountKind::External, ngn(), 100)
            .finish("ltx_2".into(), "re_1", "test");
        balances.apply(&smaller).unwrap();
        assert_eq!(balances.get(AccountKind::Available, ngn()), 0);
    }

    #[test]
    fn a_system_account_that_would_overflow_is_refused_whole() {
        let mut balances = Balances::default();
        balances.set(AccountKind::External, ngn(), i64::MIN + 10);
        let payment = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::Pending, ngn(), 11)
            .finish("ltx_1".into(), "pi_1", "test");
        let before = balances.clone();
        let error = balances.apply(&payment).unwrap_err();
        assert_eq!(error.code(), "balance_overflow");
        assert_eq!(error.param(), Some("amount"));
        let message = error.to_string();
        assert!(message.contains("external") && message.contains("NGN"), "{message}");
        assert_eq!(balances, before, "a refused transaction changes nothing, not even the pending leg");
        let fitting = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::Pending, ngn(), 10)
            .finish("ltx_2".into(), "pi_1", "test");
        balances.apply(&fitting).unwrap();
        assert_eq!(balances.get(AccountKind::External, ngn()), i64::MIN);
        assert_eq!(balances.get(AccountKind::Pending, ngn()), 10);
    }

    #[test]
    fn a_merchant_account_that_would_overflow_is_refused_with_the_same_error() {
        let mut balances = Balances::default();
        balances.set(AccountKind::Available, ngn(), i64::MAX);
        let fee_credit = LedgerTransactionBuilder::new()
            .transfer(AccountKind::Fees, AccountKind::Available, ngn(), 1)
            .finish("ltx_1".into(), "pi_1", "test");
        assert_eq!(balances.apply(&fee_credit).unwrap_err().code(), "balance_overflow");
        assert_eq!(balances.get(AccountKind::Fees, ngn()), 0);
    }

    #[test]
    fn an_account_is_judged_by_its_net_change_in_a_transaction() {
        // +MAX then -MAX on an account holding 1: each leg alone would overflow, the result is 1.
        let mut balances = Balances::default();
        balances.set(AccountKind::FxClearing, ngn(), 1);
        let round_trip = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::FxClearing, ngn(), i64::MAX)
            .transfer(AccountKind::FxClearing, AccountKind::External, ngn(), i64::MAX)
            .finish("ltx_1".into(), "pi_1", "test");
        balances.apply(&round_trip).unwrap();
        assert_eq!(balances.get(AccountKind::FxClearing, ngn()), 1);
        assert_eq!(balances.get(AccountKind::External, ngn()), 0);
    }
}
