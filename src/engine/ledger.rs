//! Double-entry ledger. Every movement of money is one `LedgerTransaction` whose postings sum to
//! zero for each asset. Merchant accounts (available, pending, reserved) may never go negative;
//! the system accounts (external, fees, fx_clearing) balance them and may.

use std::collections::BTreeMap;

use crate::engine::error::EngineError;
use crate::engine::money::{Asset, AssetRef, checked_add_minor};

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

/// A merchant's balances for the assets a decision touches, loaded before deciding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    by_account: BTreeMap<(AccountKind, &'static str), i64>,
}

impl Balances {
    pub fn set(&mut self, account: AccountKind, asset: AssetRef, amount_minor: i64) {
        assert!(account.is_merchant_balance());
        self.by_account.insert((account, asset.code), amount_minor);
    }

    pub fn get(&self, account: AccountKind, asset: AssetRef) -> i64 {
        self.by_account.get(&(account, asset.code)).copied().unwrap_or(0)
    }

    pub fn assets(&self) -> impl Iterator<Item = AssetRef> + '_ {
        let mut codes: Vec<&'static str> = self.by_account.keys().map(|(_, code)| *code).collect();
        codes.dedup();
        codes.into_iter().map(Asset::from_stored_code)
    }

    /// Checks that `transaction` keeps every merchant balance at or above zero, and applies it.
    /// Nothing changes when it would not: the caller gets `insufficient_funds`.
    pub fn apply(&mut self, transaction: &LedgerTransaction) -> Result<(), EngineError> {
        transaction.assert_balanced();
        let mut next = self.by_account.clone();
        for posting in transaction.postings.iter().filter(|p| p.account.is_merchant_balance()) {
            let balance = next.entry((posting.account, posting.asset.code)).or_insert(0);
            *balance = checked_add_minor(*balance, posting.amount_minor)?;
        }
        for posting in transaction.postings.iter().filter(|p| p.account.is_merchant_balance()) {
            let after_minor = next[&(posting.account, posting.asset.code)];
            if after_minor < 0 {
                // Only `available` can be drawn down by a request; the other merchant accounts
                // are drawn down only by amounts the engine itself put there.
                assert_eq!(
                    posting.account,
                    AccountKind::Available,
                    "{} would go negative in {}: the engine moved money it did not hold",
                    posting.account.code(),
                    posting.asset.code
                );
                let available_minor = self.get(AccountKind::Available, posting.asset);
                let requested_minor = available_minor - after_minor;
                return Err(EngineError::InsufficientFunds {
                    asset: posting.asset.code,
                    available_minor,
                    requested_minor,
                    available_display: posting.asset.display(available_minor),
                    requested_display: posting.asset.display(requested_minor),
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
}
