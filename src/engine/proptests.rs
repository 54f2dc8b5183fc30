//! Property tests: random command sequences against the pure engine never unbalance the ledger,
//! never take a merchant balance below zero, and never refund more than was credited.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::engine::SequentialIds;
use crate::engine::ledger::{
    AccountKind, Balances, LedgerAccount, LedgerTransaction, LedgerTransactionBuilder, sum_by_asset,
};
use crate::engine::money::{Asset, Money, Network};
use crate::engine::payment::{self, NewPaymentIntent, PaymentIntent, PaymentMethod, PaymentStatus};
use crate::engine::payout::{
    self, ApprovalPolicy, Destination, NewPayout, Payout, PayoutStatus, SpendLimit, SpendSoFar,
};
use crate::engine::principal::{Mode, Role, Scope};
use crate::engine::rail::Rail;
use crate::engine::rules::PaymentRules;
use crate::limits::AMOUNT_MAX_MINOR;

#[derive(Debug, Clone)]
enum Step {
    Create { kind: u8, amount_minor: i64 },
    Process { index: usize },
    Succeed { index: usize },
    Fail { index: usize },
    Cancel { index: usize },
    Refund { index: usize, amount_minor: Option<i64> },
    Payout { amount_minor: i64 },
    Approve { index: usize, by_maker: bool },
    Reject { index: usize },
    Expire { index: usize },
    CancelPayout { index: usize },
    RailPays { index: usize },
    RailFails { index: usize },
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        1_i64..1_000,
        1_i64..10_000_000_000,
        Just(AMOUNT_MAX_MINOR),
        (AMOUNT_MAX_MINOR - 1000)..=AMOUNT_MAX_MINOR
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0_u8..5, amount()).prop_map(|(kind, amount_minor)| Step::Create { kind, amount_minor }),
        1 => any::<usize>().prop_map(|index| Step::Process { index }),
        4 => any::<usize>().prop_map(|index| Step::Succeed { index }),
        1 => any::<usize>().prop_map(|index| Step::Fail { index }),
        1 => any::<usize>().prop_map(|index| Step::Cancel { index }),
        4 => (any::<usize>(), prop::option::of(prop_oneof![amount(), 1_i64..100_000])).prop_map(|(index, amount_minor)| Step::Refund { index, amount_minor }),
        4 => prop_oneof![1_i64..2_000_000, amount()].prop_map(|amount_minor| Step::Payout { amount_minor }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(index, by_maker)| Step::Approve { index, by_maker }),
        1 => any::<usize>().prop_map(|index| Step::Reject { index }),
        1 => any::<usize>().prop_map(|index| Step::Expire { index }),
        1 => any::<usize>().prop_map(|index| Step::CancelPayout { index }),
        2 => any::<usize>().prop_map(|index| Step::RailPays { index }),
        1 => any::<usize>().prop_map(|index| Step::RailFails { index }),
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
        expires_in_ms: None,
    }
}

/// One of the three most recent items, so that steps mostly act on objects that can move.
fn pick<T>(items: &[T], index: usize) -> Option<usize> {
    (!items.is_empty()).then(|| items.len() - 1 - index % items.len().min(3))
}

use crate::engine::principal::test_principal as principal;

/// Payouts in NGN to a bank; approval from ₦5,000.00 and a daily limit of ₦50,000.00 for the maker.
const PAYOUT_THRESHOLD_MINOR: i64 = 500_000;
const DAILY_LIMIT_MINOR: i64 = 5_000_000;
const APPROVAL_EXPIRY_MS: i64 = 1_000;

fn new_payout(amount_minor: i64) -> NewPayout {
    NewPayout {
        amount: Money::new(Asset::lookup("NGN").unwrap(), amount_minor).unwrap(),
        rail: Rail::Rubies,
        destination: Destination::Bank { account_no: "0123456789".into(), bank_code: "058".into(), account_name: None },
        description: None,
        metadata: BTreeMap::new(),
    }
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
        let mut payouts: Vec<Payout> = Vec::new();
        let maker = principal("key_maker", "alice", Role::Maker);
        let approver = principal("key_approver", "bob", Role::Approver);
        let mut policy = ApprovalPolicy { expiry_ms: APPROVAL_EXPIRY_MS, ..ApprovalPolicy::default() };
        policy.threshold_minor_by_asset.insert("NGN", PAYOUT_THRESHOLD_MINOR);
        let limit = SpendLimit { max_per_payout_minor: None, max_per_day_minor: Some(DAILY_LIMIT_MINOR) };
        // Time advances with every step, so approvals expire within a run.
        let mut now_ms = 0_i64;

        for step in steps {
            now_ms += 100;
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
                    Some(i) => payment::cancel_payment_intent(&payments[i], &mut balances, &mut ids, 4)
                        .map(|(next, transaction)| { payments[i] = next; transaction }),
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
                Step::Payout { amount_minor } => {
                    let counted = || payouts.iter().filter(|p| p.status.counts_against_limits());
                    let just_under = || counted().filter(|p| policy.is_just_under_threshold(p.amount));
                    let spent = SpendSoFar {
                        owner_last_24h_minor: counted().map(|p| p.amount.amount_minor).sum(),
                        merchant_last_24h_minor: 0,
                        owner_just_under_count: just_under().count() as u32,
                        owner_just_under_minor: just_under().map(|p| p.amount.amount_minor).sum(),
                    };
                    let split_reaches_threshold = policy.is_just_under_threshold(new_payout(amount_minor).amount)
                        && spent.owner_just_under_minor + amount_minor >= PAYOUT_THRESHOLD_MINOR;
                    match payout::create_payout(&maker, new_payout(amount_minor), &policy, limit, spent, &mut balances, &mut ids, now_ms, None) {
                        Ok(created) => {
                            prop_assert_eq!(
                                created.approval_required,
                                amount_minor >= PAYOUT_THRESHOLD_MINOR || split_reaches_threshold
                            );
                            payouts.push(created.payout);
                            Ok(Some(created.reservation))
                        }
                        Err(error) => Err(error),
                    }
                }
                Step::Approve { index, by_maker } => match pick(&payouts, index) {
                    None => continue,
                    Some(i) => {
                        let actor = if by_maker { &maker } else { &approver };
                        let result = payout::approve_payout(&payouts[i], actor, None, now_ms, None);
                        if by_maker {
                            prop_assert!(result.is_err(), "the maker approved their own payout");
                        }
                        result.map(|next| { payouts[i] = next; None })
                    }
                },
                Step::Reject { index } => match pick(&payouts, index) {
                    None => continue,
                    Some(i) => payout::reject_payout(&payouts[i], &approver, "no".into(), &mut balances, &mut ids, now_ms)
                        .map(|(next, transaction)| { payouts[i] = next; Some(transaction) }),
                },
                Step::Expire { index } => match pick(&payouts, index) {
                    None => continue,
                    Some(i) => payout::expire_approval(&payouts[i], &mut balances, &mut ids, now_ms)
                        .map(|(next, transaction)| { payouts[i] = next; Some(transaction) }),
                },
                Step::CancelPayout { index } => match pick(&payouts, index) {
                    None => continue,
                    Some(i) => payout::cancel_payout(&payouts[i], &maker, &mut balances, &mut ids, now_ms)
                        .map(|(next, transaction)| { payouts[i] = next; Some(transaction) }),
                },
                Step::RailPays { index } => match pick(&payouts, index) {
                    None => continue,
                    Some(i) => {
                        if payouts[i].status == PayoutStatus::Pending {
                            payouts[i] = payout::mark_payout_processing(&payouts[i], now_ms, None).expect("pending moves on");
                        }
                        payout::mark_payout_paid(&payouts[i], &mut balances, &mut ids, now_ms)
                            .map(|(next, transaction)| { payouts[i] = next; Some(transaction) })
                    }
                },
                Step::RailFails { index } => match pick(&payouts, index) {
                    None => continue,
                    Some(i) => payout::mark_payout_failed(&payouts[i], "test", &mut balances, &mut ids, now_ms)
                        .map(|(next, transaction)| { payouts[i] = next; Some(transaction) }),
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
                prop_assert_eq!(sum_of_balances(&balances, asset), 0, "{} does not sum to zero", asset.code);
            }
        }

        if std::env::var_os("HAREPAY_PROPTEST_TRACE").is_some() { eprintln!("journal={} refunds={} payouts={}", journal.len(), refunded_by_payment.len(), payouts.len()); }
        // Every asset's postings sum to zero across the whole journal.
        let all_postings: Vec<_> = journal.iter().flat_map(|t| t.postings.clone()).collect();
        for (asset, sum) in sum_by_asset(&all_postings) {
            prop_assert_eq!(sum, 0, "asset {} unbalanced", asset);
        }
        // Every balance, merchant and system, is exactly the sum of its postings.
        let mut from_postings: BTreeMap<(LedgerAccount, &str), i128> = BTreeMap::new();
        for posting in &all_postings {
            *from_postings.entry((posting.account.clone(), posting.asset.code)).or_default() += i128::from(posting.amount_minor);
        }
        for ((account, code), sum) in from_postings {
            prop_assert_eq!(i128::from(balances.get(account, Asset::lookup(code).unwrap())), sum);
        }
        // Reserved money is exactly what open payouts hold.
        let ngn = Asset::lookup("NGN").unwrap();
        let open_minor: i64 = payouts
            .iter()
            .filter(|p| matches!(p.status, PayoutStatus::Pending | PayoutStatus::PendingApproval | PayoutStatus::Processing))
            .map(|p| p.amount.amount_minor)
            .sum();
        prop_assert_eq!(balances.get(AccountKind::Reserved, ngn), open_minor);
        // The maker's daily limit holds, and nothing the maker approved went through.
        let counted_minor: i64 = payouts.iter().filter(|p| p.status.counts_against_limits()).map(|p| p.amount.amount_minor).sum();
        prop_assert!(counted_minor <= DAILY_LIMIT_MINOR);
        for payout in &payouts {
            if let Some(approval) = &payout.approval {
                prop_assert_ne!(approval.decided_by_owner.as_deref(), Some("alice"));
            }
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

/// One edge-of-range transfer: `amount` is clamped to what a pending or reserved source holds,
/// because only `available` may be drawn down by a request (the engine asserts the others).
#[derive(Debug, Clone)]
struct EdgeTransfer {
    from: AccountKind,
    to: AccountKind,
    asset_code: &'static str,
    amount_minor: i64,
}

fn edge_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MAX),
        (i64::MAX - 1_000)..=i64::MAX,
        Just(1_i64 << 62),
        Just(AMOUNT_MAX_MINOR),
        0_i64..1_000,
        0_i64..=i64::MAX,
    ]
}

fn edge_transfer() -> impl Strategy<Value = EdgeTransfer> {
    let account = || prop::sample::select(AccountKind::ALL.to_vec());
    (account(), account(), prop::sample::select(vec!["NGN", "USDC"]), edge_amount())
        .prop_map(|(from, to, asset_code, amount_minor)| EdgeTransfer { from, to, asset_code, amount_minor })
}

fn sum_of_balances(balances: &Balances, asset: &'static Asset) -> i128 {
    AccountKind::ALL.iter().map(|account| i128::from(balances.get(*account, asset))).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Transactions of one to three transfers near the i64 limits, on every account kind: an
    /// applied one moves each balance by exactly its postings (nothing wraps) and keeps merchant
    /// balances at or above zero; a refused one is refused exactly when some balance would leave
    /// i64 or `available` would go below zero, and changes nothing. Every asset sums to zero.
    #[test]
    fn balances_at_the_i64_edges_never_wrap_and_refusals_change_nothing(
        transactions in prop::collection::vec(prop::collection::vec(edge_transfer(), 1..=3), 1..40),
    ) {
        let mut balances = Balances::default();
        let mut ids = SequentialIds::default();
        for transfers in transactions {
            let mut builder = LedgerTransactionBuilder::new();
            for transfer in &transfers {
                let asset = Asset::lookup(transfer.asset_code).unwrap();
                let amount_minor = match transfer.from {
                    AccountKind::Pending | AccountKind::Reserved => {
                        transfer.amount_minor.min(balances.get(transfer.from, asset)).max(0)
                    }
                    _ => transfer.amount_minor,
                };
                // Pending and reserved are drawn down by one transfer at most per transaction, so
                // the clamp above is exact.
                if matches!(transfer.from, AccountKind::Pending | AccountKind::Reserved)
                    && transfers.iter().filter(|other| other.from == transfer.from && other.asset_code == transfer.asset_code).count() > 1
                {
                    continue;
                }
                builder = builder.transfer(transfer.from, transfer.to, asset, amount_minor);
            }
            let transaction = builder.finish(crate::engine::IdSource::next_id(&mut ids, "ltx"), "pi_1", "edge");
            // What the transaction would leave, computed independently in i128.
            let mut expected: BTreeMap<(LedgerAccount, &str), i128> = BTreeMap::new();
            for posting in &transaction.postings {
                *expected
                    .entry((posting.account.clone(), posting.asset.code))
                    .or_insert_with(|| i128::from(balances.get(posting.account.clone(), posting.asset))) +=
                    i128::from(posting.amount_minor);
            }
            let outside_i64 = expected.values().any(|after| i64::try_from(*after).is_err());
            let available = LedgerAccount::Fixed(AccountKind::Available);
            let overdrawn = expected.iter().any(|((account, _), after)| *account == available && *after < 0);
            let before = balances.clone();
            match balances.apply(&transaction) {
                Ok(()) => {
                    prop_assert!(!outside_i64 && !overdrawn, "applied {:?}", transaction.postings);
                    for ((account, code), after) in &expected {
                        prop_assert_eq!(i128::from(balances.get(account.clone(), Asset::lookup(code).unwrap())), *after);
                    }
                }
                Err(error) => {
                    prop_assert_eq!(&balances, &before, "a refusal changed balances");
                    if outside_i64 {
                        prop_assert_eq!(error.code(), "balance_overflow");
                    } else {
                        prop_assert!(overdrawn, "refused without cause: {}", error);
                        prop_assert_eq!(error.code(), "insufficient_funds");
                    }
                }
            }
            for asset in balances.assets() {
                prop_assert_eq!(sum_of_balances(&balances, asset), 0, "{} does not sum to zero", asset.code);
                for account in [AccountKind::Available, AccountKind::Pending, AccountKind::Reserved] {
                    prop_assert!(balances.get(account, asset) >= 0);
                }
            }
        }
    }
}

fn ids_next(ids: &mut SequentialIds) -> String {
    crate::engine::IdSource::next_id(ids, "pi")
}
