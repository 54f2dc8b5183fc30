//! Double-entry ledger. Every movement of money is one `LedgerTransaction` whose postings sum to
//! zero for each asset. Merchant accounts (available, pending, reserved) may never go negative;
//! the system accounts (external, fees, fx_clearing) balance them and may. Customer prepaid
//! accounts (one per customer and asset, inside the merchant's scope) hold what a customer paid in
//! advance and may never go negative either. No balance, merchant, customer or system, may leave
//! the i64 range: a transaction that would take one there is refused whole.

use std::borrow::Cow;
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
    /// What the merchant owes: the part of a disputed amount its available balance could not
    /// cover when the dispute opened. Zero or below (below zero is a debt), so it has no floor;
    /// dispute steps pay it back from `available` as soon as there is some.
    Owed,
}

impl AccountKind {
    pub const ALL: [AccountKind; 7] = [
        AccountKind::Available,
        AccountKind::Pending,
        AccountKind::Reserved,
        AccountKind::External,
        AccountKind::Fees,
        AccountKind::FxClearing,
        AccountKind::Owed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AccountKind::Available => "available",
            AccountKind::Pending => "pending",
            AccountKind::Reserved => "reserved",
            AccountKind::External => "external",
            AccountKind::Fees => "fees",
            AccountKind::FxClearing => "fx_clearing",
            AccountKind::Owed => "owed",
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

/// One account of a merchant's ledger in one mode: one of the seven fixed kinds, or a customer's
/// prepaid balance. Stored by its `code`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccount {
    /// One of the merchant's or the system's fixed accounts.
    Fixed(AccountKind),
    /// What a customer paid in advance: held for them, spent on their invoices (auto-charge) and
    /// never below zero. Created by its first posting.
    CustomerPrepaid { customer_id: String },
}

/// How a customer prepaid account's code starts; the customer id follows.
const CUSTOMER_PREPAID_CODE_PREFIX: &str = "customer_prepaid:";

impl LedgerAccount {
    pub fn customer_prepaid(customer_id: &str) -> LedgerAccount {
        LedgerAccount::CustomerPrepaid { customer_id: customer_id.to_owned() }
    }

    /// The account as stored and reported: `available`, …, or `customer_prepaid:cus_…`.
    pub fn code(&self) -> Cow<'static, str> {
        match self {
            LedgerAccount::Fixed(kind) => Cow::Borrowed(kind.code()),
            LedgerAccount::CustomerPrepaid { customer_id } => {
                Cow::Owned(format!("{CUSTOMER_PREPAID_CODE_PREFIX}{customer_id}"))
            }
        }
    }

    /// The account a stored code names; `None` for a code harepay does not write (a customer id
    /// is `cus_` and ASCII letters, digits or underscores).
    pub fn parse(code: &str) -> Option<LedgerAccount> {
        if let Some(customer_id) = code.strip_prefix(CUSTOMER_PREPAID_CODE_PREFIX) {
            let well_formed = customer_id.starts_with("cus_")
                && customer_id.len() <= crate::limits::OBJECT_ID_MAX_CHARS
                && customer_id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
            return well_formed.then(|| LedgerAccount::customer_prepaid(customer_id));
        }
        AccountKind::parse(code).map(LedgerAccount::Fixed)
    }

    /// Whether the account may never go below zero: the merchant's balances and customers'
    /// prepaid balances. The system accounts balance them and have no floor.
    pub fn has_floor(&self) -> bool {
        match self {
            LedgerAccount::Fixed(kind) => kind.is_merchant_balance(),
            LedgerAccount::CustomerPrepaid { .. } => true,
        }
    }

    pub fn customer_id(&self) -> Option<&str> {
        match self {
            LedgerAccount::CustomerPrepaid { customer_id } => Some(customer_id),
            LedgerAccount::Fixed(_) => None,
        }
    }
}

impl From<AccountKind> for LedgerAccount {
    fn from(kind: AccountKind) -> LedgerAccount {
        LedgerAccount::Fixed(kind)
    }
}

/// One leg: `amount_minor` is added to the account's balance (negative takes away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: LedgerAccount,
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
    pub fn transfer(
        mut self,
        from: impl Into<LedgerAccount>,
        to: impl Into<LedgerAccount>,
        asset: AssetRef,
        amount_minor: i64,
    ) -> Self {
        assert!(amount_minor >= 0, "a transfer amount is never negative");
        if amount_minor > 0 {
            self.postings.push(Posting { account: from.into(), asset, amount_minor: -amount_minor });
            self.postings.push(Posting { account: to.into(), asset, amount_minor });
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetChange {
    pub account: LedgerAccount,
    pub asset: AssetRef,
    pub change_minor: i128,
}

/// The net change of every account the postings touch, ordered by account and asset. Summing
/// first means a transaction that adds and takes from one account is judged by its result.
pub fn net_changes(postings: &[Posting]) -> Vec<NetChange> {
    let mut by_account: BTreeMap<(&LedgerAccount, &'static str), NetChange> = BTreeMap::new();
    for posting in postings {
        by_account
            .entry((&posting.account, posting.asset.code))
            .or_insert_with(|| NetChange { account: posting.account.clone(), asset: posting.asset, change_minor: 0 })
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

/// The balances of every account, merchant and system, for the assets a decision touches, and of
/// the customer prepaid accounts it touches, loaded before deciding. A fixed account not loaded
/// reads as zero, so the loader must load all seven kinds: a missing system account would let
/// `apply` miss an overflow there. A customer account must be loaded (`set`, zero included)
/// before a transaction touches it: `apply` treats one it was not given as a bug.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    by_account: BTreeMap<(LedgerAccount, &'static str), i64>,
}

impl Balances {
    pub fn set(&mut self, account: impl Into<LedgerAccount>, asset: AssetRef, amount_minor: i64) {
        self.by_account.insert((account.into(), asset.code), amount_minor);
    }

    pub fn get(&self, account: impl Into<LedgerAccount>, asset: AssetRef) -> i64 {
        self.by_account.get(&(account.into(), asset.code)).copied().unwrap_or(0)
    }

    /// A customer's prepaid balance in `asset` (zero when it has none).
    pub fn customer_prepaid(&self, customer_id: &str, asset: AssetRef) -> i64 {
        self.get(LedgerAccount::customer_prepaid(customer_id), asset)
    }

    /// Each asset that has a balance, once.
    pub fn assets(&self) -> impl Iterator<Item = AssetRef> + '_ {
        let codes: BTreeSet<&'static str> = self.by_account.keys().map(|(_, code)| *code).collect();
        codes.into_iter().map(Asset::from_stored_code)
    }

    /// Checks that `transaction` leaves every balance inside i64 and every merchant and customer
    /// balance at or above zero, and applies it. Nothing changes when it would not: the caller
    /// gets `balance_overflow`, `insufficient_funds` or `insufficient_prepaid_balance`.
    pub fn apply(&mut self, transaction: &LedgerTransaction) -> Result<(), EngineError> {
        transaction.assert_balanced();
        let changes = net_changes(&transaction.postings);
        let mut next = self.by_account.clone();
        for change in &changes {
            let key = (change.account.clone(), change.asset.code);
            if let LedgerAccount::CustomerPrepaid { customer_id } = &change.account {
                assert!(
                    self.by_account.contains_key(&key),
                    "the prepaid account of {customer_id} in {} was not loaded before a decision moved it",
                    change.asset.code
                );
            }
            let before_minor = self.by_account.get(&key).copied().unwrap_or(0);
            let after_minor =
                balance_after(before_minor, change.change_minor).ok_or_else(|| EngineError::BalanceOverflow {
                    account: match change.account {
                        LedgerAccount::Fixed(kind) => kind.code(),
                        LedgerAccount::CustomerPrepaid { .. } => "customer prepaid",
                    },
                    currency: change.asset.code,
                    balance_display: change.asset.display(before_minor),
                    change_display: display_change(change.asset, change.change_minor),
                    limit_display: change.asset.display(i64::MAX),
                })?;
            next.insert(key, after_minor);
        }
        for change in changes.iter().filter(|change| change.account.has_floor()) {
            let after_minor = next[&(change.account.clone(), change.asset.code)];
            if after_minor < 0 {
                return Err(self.below_floor(change));
            }
        }
        self.by_account = next;
        Ok(())
    }

    /// The refusal of a change that would take an account with a floor below zero.
    fn below_floor(&self, change: &NetChange) -> EngineError {
        let balance_minor = self.get(change.account.clone(), change.asset);
        let requested_minor = i64::try_from(-change.change_minor).unwrap_or(i64::MAX);
        match &change.account {
            LedgerAccount::CustomerPrepaid { customer_id } => EngineError::InsufficientPrepaidBalance {
                customer_id: customer_id.clone(),
                asset: change.asset.code,
                balance_minor,
                requested_minor,
                balance_display: change.asset.display(balance_minor),
                requested_display: change.asset.display(requested_minor),
            },
            LedgerAccount::Fixed(kind) => {
                // Only `available` can be drawn down by a request; the other merchant accounts
                // are drawn down only by amounts the engine itself put there.
                assert_eq!(
                    *kind,
                    AccountKind::Available,
                    "{} would go negative in {}: the engine moved money it did not hold",
                    kind.code(),
                    change.asset.code
                );
                EngineError::InsufficientFunds {
                    asset: change.asset.code,
                    available_minor: balance_minor,
                    requested_minor,
                    available_display: change.asset.display(balance_minor),
                    requested_display: change.asset.display(requested_minor),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ngn() -> AssetRef {
        Asset::lookup("NGN").unwrap()
    }

    #[test]
    fn account_codes_round_trip_and_only_harepay_s_codes_parse() {
        for account in [
            LedgerAccount::Fixed(AccountKind::Available),
            LedgerAccount::Fixed(AccountKind::FxClearing),
            LedgerAccount::customer_prepaid("cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"),
        ] {
            assert_eq!(LedgerAccount::parse(&account.code()), Some(account));
        }
        assert_eq!(LedgerAccount::customer_prepaid("cus_1").code(), "customer_prepaid:cus_1");
        let too_long = format!("customer_prepaid:cus_{}", "1".repeat(61));
        for code in ["", "cash", "customer_prepaid:", "customer_prepaid:pi_1", "customer_prepaid:cus_1 ", &too_long] {
            assert_eq!(LedgerAccount::parse(code), None, "{code:?}");
        }
        assert!(LedgerAccount::customer_prepaid("cus_1").has_floor());
        assert!(LedgerAccount::Fixed(AccountKind::Reserved).has_floor());
        assert!(!LedgerAccount::Fixed(AccountKind::External).has_floor());
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
            postings: vec![Posting { account: AccountKind::Available.into(), asset: ngn(), amount_minor: 1 }],
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
