//! Property tests of receipts: whatever the payer sends against whatever was requested (less,
//! more, in pieces, refused), the ledger stays balanced per asset, no merchant balance goes
//! below zero, and the merchant is credited exactly what was received less the fee, or, when the
//! intent ends unpaid, nothing, with everything it received back with the payer.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::engine::SequentialIds;
use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction, sum_by_asset};
use crate::engine::money::{Asset, Money, Network};
use crate::engine::payment::{self, NewPaymentIntent, PaymentIntent, PaymentMethod, PaymentStatus};
use crate::engine::principal::{Mode, Scope};
use crate::engine::rail::Rail;
use crate::engine::rules::PaymentRules;
use crate::limits::{AMOUNT_MAX_MINOR, PAYMENT_RECEIVED_MAX_MULTIPLE};

/// How the intent ends after its receipts.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// What remains arrives exactly (when anything remains), then it settles.
    Settle,
    Expire,
    Cancel,
    Fail,
}

fn requested() -> impl Strategy<Value = i64> {
    prop_oneof![1_i64..1_000, 1_000_i64..10_000_000_000, (AMOUNT_MAX_MINOR - 1_000)..=AMOUNT_MAX_MINOR]
}

/// A receipt as a share of the amount requested (per mille, so that over-payments and pieces
/// are common), or an arbitrary value, refused or not.
#[derive(Debug, Clone, Copy)]
enum Receipt {
    PerMille(u32),
    Raw(i64),
}

fn receipt() -> impl Strategy<Value = Receipt> {
    prop_oneof![
        4 => (1_u32..3_000).prop_map(Receipt::PerMille),
        1 => prop_oneof![Just(0_i64), Just(-1_i64), 1_i64..100, Just(i64::MAX), Just(AMOUNT_MAX_MINOR)]
            .prop_map(Receipt::Raw),
    ]
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![4 => Just(Ending::Settle), 1 => Just(Ending::Expire), 1 => Just(Ending::Cancel), 1 => Just(Ending::Fail)]
}

fn new_intent(kind: u8, amount_minor: i64) -> NewPaymentIntent {
    let (code, method, rail, network, settle_as) = match kind {
        0 => ("NGN", PaymentMethod::BankTransfer, Rail::Rubies, None, None),
        1 => ("NGN", PaymentMethod::Card, Rail::Card, None, None),
        2 => ("USDC", PaymentMethod::Crypto, Rail::Partna, Some(Network::Tron), Some("NGN")),
        _ => ("BTC", PaymentMethod::Crypto, Rail::Partna, Some(Network::Bitcoin), None),
    };
    NewPaymentIntent {
        amount: Money::new(Asset::lookup(code).unwrap(), amount_minor).unwrap(),
        network,
        method,
        rail,
        settle_as: settle_as.map(|code| Asset::lookup(code).unwrap()),
        customer: None,
        description: None,
        metadata: BTreeMap::new(),
        expires_in_ms: Some(60_000),
    }
}

fn merchant_balances_are_never_negative(balances: &Balances) -> Result<(), TestCaseError> {
    for asset in balances.assets() {
        for account in [AccountKind::Available, AccountKind::Pending, AccountKind::Reserved] {
            prop_assert!(balances.get(account, asset) >= 0, "{} {} negative", account.code(), asset.code);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_receipts_keep_the_ledger_balanced_and_credit_received_less_fee(
        kind in 0_u8..4,
        requested_minor in requested(),
        receipts in prop::collection::vec(receipt(), 0..6),
        ending in ending(),
    ) {
        let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
        let mut rules = PaymentRules::default();
        rules.fx.parse_overrides("USDC/NGN=1550.25").unwrap();
        let created = match payment::create_payment_intent(&scope, new_intent(kind, requested_minor), &rules, "pi_1".into(), 0) {
            Ok(created) => created,
            // Too small to credit one minor unit at the rate, or too large once converted.
            Err(error) => { prop_assert_eq!(error.code(), "invalid_request"); return Ok(()); }
        };
        let (paid_asset, credit_asset) = (created.amount.asset, created.credit_asset());
        let mut ids = SequentialIds::default();
        let mut balances = Balances::default();
        let mut journal: Vec<LedgerTransaction> = Vec::new();
        let mut current: PaymentIntent = created.clone();
        let mut accepted_minor: i64 = 0;

        for receipt in receipts {
            if current.status != PaymentStatus::RequiresAction && current.status != PaymentStatus::PartiallyPaid {
                break;
            }
            let amount_minor = match receipt {
                Receipt::PerMille(per_mille) => {
                    i64::try_from(i128::from(requested_minor) * i128::from(per_mille) / 1_000).unwrap().max(1)
                }
                Receipt::Raw(raw) => raw,
            };
            let before = balances.clone();
            let received = Money { asset: paid_asset, amount_minor };
            match payment::receive_payment(&current, received, &rules.fees, &mut balances, &mut ids, 1) {
                Ok((next, transaction)) => {
                    prop_assert!(amount_minor >= 1);
                    accepted_minor += amount_minor;
                    prop_assert!(accepted_minor <= requested_minor.saturating_mul(PAYMENT_RECEIVED_MAX_MULTIPLE));
                    prop_assert_eq!(next.amount_received_minor, accepted_minor);
                    let expected = if accepted_minor >= requested_minor { PaymentStatus::Processing } else { PaymentStatus::PartiallyPaid };
                    prop_assert_eq!(next.status, expected);
                    journal.push(transaction);
                    current = next;
                }
                Err(error) => {
                    prop_assert_eq!(error.code(), "invalid_request", "{}", error);
                    prop_assert_eq!(&balances, &before, "a refused receipt moved money");
                }
            }
            merchant_balances_are_never_negative(&balances)?;
            // What is held is exactly what the whole received so far credits: pieces change nothing.
            prop_assert_eq!(balances.get(AccountKind::Pending, credit_asset), current.credit_for_received_minor(accepted_minor));
        }

        let ended = match ending {
            Ending::Settle => {
                if current.status.awaits_payer() {
                    let (next, transaction) = payment::mark_processing(&current, &mut balances, &mut ids, 2).unwrap();
                    journal.push(transaction);
                    current = next;
                }
                let (next, transaction) = payment::mark_succeeded(&current, &mut balances, &mut ids, 3).unwrap();
                journal.push(transaction);
                next
            }
            Ending::Expire => match payment::expire_payment_intent(&current, &mut balances, &mut ids, 60_000) {
                Ok((next, reversal)) => { journal.extend(reversal); next }
                Err(_) => { prop_assert_eq!(current.status, PaymentStatus::Processing); current }
            },
            Ending::Cancel => match payment::cancel_payment_intent(&current, &mut balances, &mut ids, 4) {
                Ok((next, reversal)) => { journal.extend(reversal); next }
                Err(_) => { prop_assert_eq!(current.status, PaymentStatus::Processing); current }
            },
            Ending::Fail => {
                let (next, reversal) = payment::mark_failed(&current, "test", &mut balances, &mut ids, 4).unwrap();
                journal.extend(reversal);
                next
            }
        };
        merchant_balances_are_never_negative(&balances)?;

        // Per asset, the journal's postings sum to zero, and so do the balances.
        let all_postings: Vec<_> = journal.iter().flat_map(|transaction| transaction.postings.clone()).collect();
        for (asset, sum) in sum_by_asset(&all_postings) {
            prop_assert_eq!(sum, 0, "asset {} unbalanced", asset);
        }
        for asset in balances.assets() {
            let sum: i128 = AccountKind::ALL.iter().map(|account| i128::from(balances.get(*account, asset))).sum();
            prop_assert_eq!(sum, 0, "{} balances do not sum to zero", asset.code);
        }

        let available_minor = balances.get(AccountKind::Available, credit_asset);
        match ended.status {
            PaymentStatus::Succeeded => {
                let received_minor = ended.amount_received_minor;
                prop_assert_eq!(received_minor, accepted_minor.max(requested_minor));
                let credited_minor = ended.credit_for_received_minor(received_minor);
                let expected_fee_minor = if credited_minor == created.requested_credit_minor() {
                    created.fee_minor
                } else {
                    rules.fees.fee_minor(ended.rail, credit_asset, credited_minor)
                };
                prop_assert_eq!(ended.fee_minor, expected_fee_minor);
                // The merchant is credited exactly what was received, less the fee.
                prop_assert_eq!(available_minor, credited_minor - ended.fee_minor);
                prop_assert_eq!(balances.get(AccountKind::Fees, credit_asset), ended.fee_minor);
                prop_assert_eq!(balances.get(AccountKind::Pending, credit_asset), 0);
                prop_assert_eq!(balances.get(AccountKind::External, paid_asset), -received_minor);
                prop_assert_eq!(ended.excess_received_minor(), (received_minor - requested_minor).max(0));
                prop_assert_eq!(ended.refundable_minor(), credited_minor);
            }
            PaymentStatus::Processing => {
                prop_assert_eq!(balances.get(AccountKind::Pending, credit_asset), ended.credit_for_received_minor(accepted_minor));
            }
            PaymentStatus::Expired | PaymentStatus::Canceled | PaymentStatus::Failed => {
                // Everything went back: the merchant holds nothing, the payer has it all again.
                for asset in [paid_asset, credit_asset] {
                    for account in AccountKind::ALL {
                        prop_assert_eq!(balances.get(account, asset), 0, "{} {}", account.code(), asset.code);
                    }
                }
                prop_assert_eq!(ended.amount_paid_minor(), 0);
                prop_assert_eq!(ended.amount_received_minor, accepted_minor, "the receipts stay on record");
            }
            other => prop_assert!(false, "an ending left the intent {:?}", other),
        }
    }
}
