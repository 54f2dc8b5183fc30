//! Property tests: random command sequences against the pure engine never unbalance the ledger,
//! never take a merchant balance below zero, and never refund more than was credited.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::engine::SequentialIds;
use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction, sum_by_asset};
use crate::engine::money::{Asset, Money, Network};
use crate::engine::payment::{
    self, NewPaymentIntent, PaymentIntent, PaymentMethod, PaymentRules, PaymentStatus, Rail,
};
use crate::engine::principal::{Mode, Scope};
use crate::limits::AMOUNT_MAX_MINOR;

#[derive(Debug, Clone)]
enum Step {
    Create { kind: u8, amount_minor: i64 },
    Process { index: usize },
    Succeed { index: usize },
    Fail { index: usize },
    Cancel { index: usize },
    Refund { index: usize, amount_minor: Option<i64> },
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![1_i64..1_000, 1_i64..10_000_000_000, Just(AMOUNT_MAX_MINOR), (AMOUNT_MAX_MINOR - 1000)..=AMOUNT_MAX_MINOR]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0_u8..5, amount()).prop_map(|(kind, amount_minor)| Step::Create { kind, amount_minor }),
        1 => any::<usize>().prop_map(|index| Step::Process { index }),
        4 => any::<usize>().prop_map(|index| Step::Succeed { index }),
        1 => any::<usize>().prop_map(|index| Step::Fail { index }),
        1 => any::<usize>().prop_map(|index| Step::Cancel { index }),
        4 => (any::<usize>(), prop::option::of(prop_oneof![amount(), 1_i64..100_000])).prop_map(|(index, amount_minor)| Step::Refund { index, amount_minor }),
    ]
}

fn request(kind: u8, amount_minor: i64) -> NewPaymentIntent {
    let (code, method, rail, network, settle_as) = match kind {
        0 => ("NGN", PaymentMethod::BankTransfer, Rail::Rubies, None, None),
        1 => ("NGN", PaymentMethod::Card, Rail::Card, None, None),
        2 => ("USD", PaymentMethod::Card, Rail::Card, None, None),
        3 => ("USDC", PaymentMethod::Crypto, Rail::Partna, Some(Network::Tron), Some("NGN")),
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
    }
}

/// One of the three most recent payments, so that steps mostly act on payments that can move.
fn pick(payments: &[PaymentIntent], index: usize) -> Option<usize> {
    (!payments.is_empty()).then(|| payments.len() - 1 - index % payments.len().min(3))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_command_sequences_keep_the_ledger_sound(steps in prop::collection::vec(step(), 1..80)) {
        let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
        let rules = PaymentRules::default();
        let mut ids = SequentialIds::default();
        let mut balances = Balances::default();
        let mut payments: Vec<PaymentIntent> = Vec::new();
        let mut journal: Vec<LedgerTransaction> = Vec::new();
        let mut refunded_by_payment: BTreeMap<String, i64> = BTreeMap::new();

        for step in steps {
            let before = balances.clone();
            let outcome: Result<Option<LedgerTransaction>, _> = match step {
                Step::Create { kind, amount_minor } => {
                    match payment::create_payment_intent(&scope, request(kind, amount_minor), &rules, ids_next(&mut ids), 0) {
                        Ok(created) => { payments.push(created); Ok(None) }
                        Err(error) => Err(error),
                    }
                }
                Step::Process { index } => match pick(&payments, index) {
                    None => continue,
                    Some(i) => payment::mark_processing(&payments[i], &mut balances, &mut ids, 1)
                        .map(|(next, transaction)| { payments[i] = next; Some(transaction) }),
                },
                Step::Succeed { index } => match pick(&payments, index) {
                    None => continue,
                    Some(i) => {
                        // Like the simulator: a waiting payment passes through processing first.
                        if payments[i].status == PaymentStatus::RequiresAction {
                            let (next, transaction) = payment::mark_processing(&payments[i], &mut balances, &mut ids, 1)
                                .expect("processing a waiting payment always succeeds");
                            payments[i] = next;
                            journal.push(transaction);
                        }
                        payment::mark_succeeded(&payments[i], &mut balances, &mut ids, 2)
                            .map(|(next, transaction)| { payments[i] = next; Some(transaction) })
                    }
                },
                Step::Fail { index } => match pick(&payments, index) {
                    None => continue,
                    Some(i) => payment::mark_failed(&payments[i], "test", &mut balances, &mut ids, 3)
                        .map(|(next, transaction)| { payments[i] = next; transaction }),
                },
                Step::Cancel { index } => match pick(&payments, index) {
                    None => continue,
                    Some(i) => payment::cancel_payment_intent(&payments[i], 4).map(|next| { payments[i] = next; None }),
                },
                Step::Refund { index, amount_minor } => match pick(&payments, index) {
                    None => continue,
                    Some(i) => payment::refund_payment(&payments[i], amount_minor, None, &mut balances, &mut ids, 5)
                        .map(|(next, refund, transaction)| {
                            *refunded_by_payment.entry(next.id.clone()).or_default() += refund.amount.amount_minor;
                            payments[i] = next;
                            Some(transaction)
                        }),
                },
            };
            match outcome {
                Ok(Some(transaction)) => journal.push(transaction),
                Ok(None) => {}
                // A refused command changes nothing.
                Err(_) => prop_assert_eq!(&balances, &before),
            }
            for asset in balances.assets() {
                for account in [AccountKind::Available, AccountKind::Pending, AccountKind::Reserved] {
                    prop_assert!(balances.get(account, asset) >= 0, "{} {} negative", account.code(), asset.code);
                }
            }
        }

        if std::env::var_os("HAREPAY_PROPTEST_TRACE").is_some() { eprintln!("journal={} refunds={}", journal.len(), refunded_by_payment.len()); }
        // Every asset's postings sum to zero across the whole journal.
        let all_postings: Vec<_> = journal.iter().flat_map(|t| t.postings.clone()).collect();
        for (asset, sum) in sum_by_asset(&all_postings) {
            prop_assert_eq!(sum, 0, "asset {} unbalanced", asset);
        }
        // The merchant balances are exactly the sum of their postings.
        let mut from_postings: BTreeMap<(AccountKind, &str), i128> = BTreeMap::new();
        for posting in all_postings.iter().filter(|p| p.account.is_merchant_balance()) {
            *from_postings.entry((posting.account, posting.asset.code)).or_default() += i128::from(posting.amount_minor);
        }
        for ((account, code), sum) in from_postings {
            prop_assert_eq!(i128::from(balances.get(account, Asset::lookup(code).unwrap())), sum);
        }
        // Refunds never exceed what a payment credited, and only succeeded payments refund.
        for payment in &payments {
            let refunded = refunded_by_payment.get(&payment.id).copied().unwrap_or(0);
            prop_assert_eq!(refunded, payment.amount_refunded_minor);
            prop_assert!(refunded <= payment.credit_amount_minor());
            if refunded > 0 {
                prop_assert_eq!(payment.status, PaymentStatus::Succeeded);
            }
        }
    }
}

fn ids_next(ids: &mut SequentialIds) -> String {
    crate::engine::IdSource::next_id(ids, "pi")
}
