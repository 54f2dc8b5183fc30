//! Prepaid balances: what a customer paid in advance, one ledger account per customer and
//! currency (`LedgerAccount::CustomerPrepaid`) inside the merchant's scope, never below zero.
//!
//! ```text
//! top-up (test mode):  external ──► customer_prepaid:cus_…
//! charge (auto-charge): customer_prepaid:cus_… ──► available
//! ```
//! A charge is what an auto-charged invoice posts in the same transaction as the invoice: the
//! customer's money becomes the merchant's. Both go through `Balances::apply`, so a charge the
//! prepaid balance cannot cover is `insufficient_prepaid_balance` and changes nothing.

use crate::engine::customer::Customer;
use crate::engine::error::EngineError;
use crate::engine::ledger::{AccountKind, Balances, LedgerAccount, LedgerTransaction, LedgerTransactionBuilder};
use crate::engine::money::Money;
use crate::engine::principal::Mode;

/// The ledger reason of a top-up.
pub const TOPUP_REASON: &str = "prepaid.topped_up";

/// The ledger reason of a charge to a prepaid balance.
pub const CHARGE_REASON: &str = "prepaid.charged";

/// Credits `amount` to the customer's prepaid balance, funded from outside harepay. Test mode
/// only: in live mode a real payment funds a top-up, and harepay has no live rail to take it yet,
/// so a live top-up is `test_mode_only` rather than money made up. Refused for an archived
/// customer. `balances` must hold the scope's accounts and the customer's prepaid account in the
/// asset (`balances_with_customers…`); it is updated as the store will be.
pub fn topup(
    customer: &Customer,
    amount: Money,
    balances: &mut Balances,
    transaction_id: String,
) -> Result<LedgerTransaction, EngineError> {
    if customer.scope.mode != Mode::Test {
        return Err(EngineError::TestModeOnly {
            action: "topup_prepaid without a payment (a live top-up is funded by a real payment, which harepay cannot take yet)",
        });
    }
    customer.ensure_active("topup_prepaid")?;
    let transaction = LedgerTransactionBuilder::new()
        .transfer(
            AccountKind::External,
            LedgerAccount::customer_prepaid(&customer.id),
            amount.asset,
            amount.amount_minor,
        )
        .finish(transaction_id, &customer.id, TOPUP_REASON);
    balances.apply(&transaction)?;
    Ok(transaction)
}

/// Whether the customer's prepaid balance covers `amount` now: the auto-charge decision (an open
/// invoice when it does not).
pub fn covers(balances: &Balances, customer_id: &str, amount: Money) -> bool {
    balances.customer_prepaid(customer_id, amount.asset) >= amount.amount_minor
}

/// Moves `amount` from the customer's prepaid balance to the merchant's available balance, for
/// the object `reference_id` (an invoice). `insufficient_prepaid_balance` and nothing changed
/// when the balance cannot cover it.
pub fn charge(
    customer_id: &str,
    amount: Money,
    balances: &mut Balances,
    transaction_id: String,
    reference_id: &str,
) -> Result<LedgerTransaction, EngineError> {
    let transaction = LedgerTransactionBuilder::new()
        .transfer(
            LedgerAccount::customer_prepaid(customer_id),
            AccountKind::Available,
            amount.asset,
            amount.amount_minor,
        )
        .finish(transaction_id, reference_id, CHARGE_REASON);
    balances.apply(&transaction)?;
    Ok(transaction)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::customer::{NewCustomer, archive_customer, create_customer};
    use crate::engine::ledger::sum_by_asset;
    use crate::engine::money::Asset;
    use crate::engine::principal::Scope;

    fn customer(mode: Mode) -> Customer {
        let scope = Scope { merchant_id: "mch_1".into(), mode };
        let request =
            NewCustomer { email: "ada@example.com".into(), name: None, phone: None, metadata: BTreeMap::new() };
        create_customer(&scope, request, "cus_1".into(), 0).unwrap()
    }

    fn ngn(amount_minor: i64) -> Money {
        Money::new(Asset::lookup("NGN").unwrap(), amount_minor).unwrap()
    }

    /// The scope's fixed accounts at zero and the customer's prepaid account at `prepaid_minor`.
    fn loaded(prepaid_minor: i64) -> Balances {
        let mut balances = Balances::default();
        let asset = Asset::lookup("NGN").unwrap();
        for kind in AccountKind::ALL {
            balances.set(kind, asset, 0);
        }
        balances.set(LedgerAccount::customer_prepaid("cus_1"), asset, prepaid_minor);
        balances
    }

    #[test]
    fn a_top_up_credits_the_prepaid_account_against_external() {
        let mut balances = loaded(0);
        let transaction = topup(&customer(Mode::Test), ngn(100_000), &mut balances, "ltx_1".into()).unwrap();
        assert_eq!(sum_by_asset(&transaction.postings)["NGN"], 0);
        assert_eq!(transaction.reference_id, "cus_1");
        let asset = Asset::lookup("NGN").unwrap();
        assert_eq!(balances.customer_prepaid("cus_1", asset), 100_000);
        assert_eq!(balances.get(AccountKind::External, asset), -100_000);
        assert_eq!(
            balances.get(AccountKind::Available, asset),
            0,
            "a top-up is the customer's money, not the merchant's"
        );
    }

    #[test]
    fn live_mode_and_archived_customers_are_refused_and_change_nothing() {
        let mut balances = loaded(0);
        let error = topup(&customer(Mode::Live), ngn(100), &mut balances, "ltx_1".into()).unwrap_err();
        assert_eq!(error.code(), "test_mode_only");
        let archived = archive_customer(&customer(Mode::Test), 5).unwrap();
        let error = topup(&archived, ngn(100), &mut balances, "ltx_2".into()).unwrap_err();
        assert_eq!(error.code(), "invalid_state");
        assert_eq!(balances, loaded(0));
    }

    #[test]
    fn a_charge_moves_prepaid_to_available_and_never_overdraws() {
        let asset = Asset::lookup("NGN").unwrap();
        let mut balances = loaded(30_000);
        assert!(covers(&balances, "cus_1", ngn(30_000)));
        assert!(!covers(&balances, "cus_1", ngn(30_001)));
        let before = balances.clone();
        let error = charge("cus_1", ngn(30_001), &mut balances, "ltx_1".into(), "in_1").unwrap_err();
        assert_eq!((error.code(), error.param()), ("insufficient_prepaid_balance", Some("amount")));
        assert!(error.to_string().contains("cus_1") && error.to_string().contains("₦300.00"), "{error}");
        assert_eq!(balances, before);
        charge("cus_1", ngn(30_000), &mut balances, "ltx_2".into(), "in_1").unwrap();
        assert_eq!(balances.customer_prepaid("cus_1", asset), 0);
        assert_eq!(balances.get(AccountKind::Available, asset), 30_000);
    }

    #[test]
    fn a_prepaid_balance_that_would_overflow_is_refused_whole() {
        let asset = Asset::lookup("NGN").unwrap();
        let mut balances = loaded(i64::MAX - 5);
        let before = balances.clone();
        let error = topup(&customer(Mode::Test), ngn(6), &mut balances, "ltx_1".into()).unwrap_err();
        assert_eq!(error.code(), "balance_overflow");
        assert_eq!(balances, before);
        topup(&customer(Mode::Test), ngn(5), &mut balances, "ltx_2".into()).unwrap();
        assert_eq!(balances.customer_prepaid("cus_1", asset), i64::MAX);
    }

    #[test]
    #[should_panic(expected = "was not loaded")]
    fn moving_a_prepaid_account_that_was_not_loaded_is_a_bug() {
        let mut balances = Balances::default();
        let _ = topup(&customer(Mode::Test), ngn(1), &mut balances, "ltx_1".into());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Step {
            Topup { customer: usize, amount_minor: i64 },
            Charge { customer: usize, amount_minor: i64 },
        }

        fn any_step() -> impl Strategy<Value = Step> {
            let amount = prop_oneof![1_i64..1_000, Just(crate::limits::AMOUNT_MAX_MINOR)];
            prop_oneof![
                (0_usize..2, amount.clone())
                    .prop_map(|(customer, amount_minor)| Step::Topup { customer, amount_minor }),
                (0_usize..2, amount).prop_map(|(customer, amount_minor)| Step::Charge { customer, amount_minor }),
            ]
        }

        proptest! {
            /// Any run of top-ups and charges over two customers: every prepaid balance stays at
            /// or above zero and equals its top-ups less its charges, the asset sums to zero, and
            /// a refused step (a charge beyond the balance) changes nothing.
            #[test]
            fn prepaid_balances_never_go_below_zero_and_always_balance(steps in prop::collection::vec(any_step(), 1..60)) {
                let asset = Asset::lookup("NGN").unwrap();
                let ids = ["cus_1", "cus_2"];
                let mut balances = loaded(0);
                balances.set(LedgerAccount::customer_prepaid("cus_2"), asset, 0);
                let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
                let mut expected = [0_i128; 2];
                for (index, step) in steps.into_iter().enumerate() {
                    let before = balances.clone();
                    let transaction_id = format!("ltx_{index}");
                    let (customer, amount_minor, result) = match step {
                        Step::Topup { customer, amount_minor } => {
                            let mut holder = super::customer(Mode::Test);
                            holder.id = ids[customer].to_owned();
                            holder.scope = scope.clone();
                            (customer, i128::from(amount_minor), topup(&holder, ngn(amount_minor), &mut balances, transaction_id))
                        }
                        Step::Charge { customer, amount_minor } => {
                            let result = charge(ids[customer], ngn(amount_minor), &mut balances, transaction_id, "in_1");
                            (customer, -i128::from(amount_minor), result)
                        }
                    };
                    match result {
                        Ok(_) => expected[customer] += amount_minor,
                        Err(error) => {
                            prop_assert_eq!(&balances, &before);
                            let after = expected[customer] + amount_minor;
                            let cause = if after < 0 { "insufficient_prepaid_balance" } else { "balance_overflow" };
                            prop_assert_eq!(error.code(), cause);
                        }
                    }
                    let mut sum = 0_i128;
                    for (holder, id) in ids.iter().enumerate() {
                        let prepaid = balances.customer_prepaid(id, asset);
                        prop_assert!(prepaid >= 0);
                        prop_assert_eq!(i128::from(prepaid), expected[holder]);
                        sum += i128::from(prepaid);
                    }
                    for kind in AccountKind::ALL {
                        sum += i128::from(balances.get(kind, asset));
                    }
                    prop_assert_eq!(sum, 0);
                }
            }
        }
    }
}
