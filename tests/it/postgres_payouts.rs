//! Payouts on PostgreSQL, across processes: two `PostgresStore`s on one database stand for two
//! harepay servers. A spend decision (`…_spend_since_for_update`) locks the merchant's balance
//! rows before it sums, so a second decision waits for the first to commit and counts its
//! payout; the sums are exact past i64 and saturate as on SQLite.

use std::collections::BTreeMap;

use harepay::engine::ledger::{AccountKind, LedgerTransaction, LedgerTransactionBuilder};
use harepay::engine::money::{Asset, AssetRef, Money};
use harepay::engine::payout::{
    Approval, ApprovalDecision, ApprovalTrigger, Destination, Payout, PayoutStatus, SpendLimit,
};
use harepay::engine::principal::{Mode, Role, Scope};
use harepay::engine::rail::Rail;
use harepay::store::postgres::PostgresStore;
use harepay::store::{ApiKeyRecord, MerchantRecord, PageRequest, PayoutFilter, Store, StoreError, StoreWrite};

use crate::backend::{fresh_postgres_database, wait_for_a_lock_wait};

const OWNER: &str = "alice";

fn scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Live }
}

fn ngn() -> AssetRef {
    Asset::lookup("NGN").unwrap()
}

/// Two stores (two servers' pools) on one fresh database, or None (skipped loudly) without a
/// cluster.
fn two_stores_on_one_database() -> Option<(PostgresStore, PostgresStore, String)> {
    let url = fresh_postgres_database()?;
    let first = PostgresStore::open(&url).expect("open the first store");
    let second = PostgresStore::open(&url).expect("open the second store");
    Some((first, second, url))
}

/// A merchant, one key of `OWNER`'s, and `funded_minor` available to pay out.
fn seed(store: &dyn Store, funded_minor: i64) {
    let mut session = store.begin_write().unwrap();
    session.insert_merchant(&MerchantRecord { id: "mch_1".into(), name: "One".into(), created_at_ms: 0 }).unwrap();
    session
        .insert_api_key(&ApiKeyRecord {
            id: "key_alice".into(),
            merchant_id: "mch_1".into(),
            merchant_name: "One".into(),
            mode: Mode::Live,
            role: Role::Maker,
            owner: OWNER.into(),
            owner_skeleton: OWNER.into(),
            key_sha256_hex: "aa".into(),
            key_last4: "aaaa".into(),
            created_at_ms: 0,
            revoked_at_ms: None,
            expires_at_ms: None,
            created_by_key_id: None,
            accountable_owner: None,
        })
        .unwrap();
    if funded_minor > 0 {
        let funding = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::Available, ngn(), funded_minor)
            .finish("ltx_fund".into(), "funding", "test");
        session.post_ledger_transaction(&scope(), &funding, 0).unwrap();
    }
    session.commit().unwrap();
}

fn payout(id: &str, amount_minor: i64, created_at_ms: i64) -> Payout {
    Payout {
        id: id.into(),
        scope: scope(),
        amount: Money::new(ngn(), amount_minor).unwrap(),
        rail: Rail::Rubies,
        destination: Destination::Bank { account_no: "0123456789".into(), bank_code: "058".into(), account_name: None },
        description: Some("supplier".into()),
        metadata: BTreeMap::from([("order".to_owned(), "42".to_owned())]),
        status: PayoutStatus::Pending,
        created_by_key_id: "key_alice".into(),
        created_by_owner: OWNER.into(),
        approval: None,
        failure_reason: None,
        cancellation_reason: None,
        simulate_at_ms: None,
        created_at_ms,
        updated_at_ms: created_at_ms,
    }
}

fn reservation(payout: &Payout) -> LedgerTransaction {
    LedgerTransactionBuilder::new()
        .transfer(AccountKind::Available, AccountKind::Reserved, payout.amount.asset, payout.amount.amount_minor)
        .finish(format!("ltx_{}", payout.id), &payout.id, "payout.created")
}

/// What a payout decision does once it has decided: the payout and its reservation.
fn create(session: &mut dyn StoreWrite, payout: &Payout) {
    session.insert_payout(payout).unwrap();
    session.post_ledger_transaction(&scope(), &reservation(payout), payout.created_at_ms).unwrap();
}

/// Two servers decide on one owner's daily spend at once. The first locks and creates a payout;
/// the second's plain sum cannot see it yet, but its decision read waits for the first to commit
/// and then counts it, so two payouts that each fit a daily limit cannot together exceed it.
#[test]
fn a_second_spend_decision_waits_for_the_first_and_counts_its_payout() {
    let Some((first, second, url)) = two_stores_on_one_database() else { return };
    seed(&first, 1_000_000);
    let owner_spend = |session: &mut dyn StoreWrite| {
        session.owner_payout_spend_since_for_update(&scope(), OWNER, ngn(), 0, 1..i64::MAX).unwrap()
    };

    let mut deciding = first.begin_write().unwrap();
    assert_eq!(owner_spend(deciding.as_mut()), (0, 0));
    create(deciding.as_mut(), &payout("po_first", 400_000, 10));

    let racing = std::thread::scope(|threads| {
        let racing = threads.spawn(|| {
            let mut session = second.begin_write().unwrap();
            let plain = session.owner_payout_spend_since(&scope(), OWNER, ngn(), 0, 1..i64::MAX).unwrap();
            let decided = owner_spend(session.as_mut());
            let merchant = session.merchant_payout_spend_since_for_update(&scope(), ngn(), 0).unwrap();
            create(session.as_mut(), &payout("po_second", 300_000, 20));
            session.commit().unwrap();
            (plain, decided, merchant)
        });
        wait_for_a_lock_wait(&url);
        deciding.commit().unwrap();
        racing.join().unwrap()
    });
    let (plain, decided, merchant) = racing;
    assert_eq!(plain, (0, 0), "an uncommitted payout is invisible to a plain sum: the lock is what orders them");
    assert_eq!(decided, (1, 400_000), "the second decision counted the first one's payout");
    assert_eq!(merchant, 400_000);

    let read = second.begin_read().unwrap();
    assert_eq!(read.owner_payout_spend_since(&scope(), OWNER, ngn(), 0, 1..i64::MAX).unwrap(), (2, 700_000));
    let balances = read.balances(&scope(), &[ngn()]).unwrap();
    assert_eq!(balances.get(AccountKind::Reserved, ngn()), 700_000);
    assert_eq!(balances.get(AccountKind::Available, ngn()), 300_000);
}

/// A payout decision holds its payout: a second server's decision about the same payout waits
/// for the first and then sees what it committed.
#[test]
fn a_payout_read_for_update_waits_for_the_decision_holding_it() {
    let Some((first, second, url)) = two_stores_on_one_database() else { return };
    seed(&first, 1_000_000);
    let mut session = first.begin_write().unwrap();
    create(session.as_mut(), &payout("po_1", 500_000, 10));
    session.commit().unwrap();

    let mut deciding = first.begin_write().unwrap();
    let mut held = deciding.get_payout_for_update(&scope(), "po_1").unwrap().unwrap();
    held.status = PayoutStatus::Canceled;
    held.cancellation_reason = Some("requested".into());
    held.updated_at_ms = 30;
    deciding.update_payout(&held).unwrap();
    let seen_by_second = std::thread::scope(|threads| {
        let racing = threads.spawn(|| {
            let mut session = second.begin_write().unwrap();
            session.get_payout_for_update(&scope(), "po_1").unwrap().unwrap()
        });
        wait_for_a_lock_wait(&url);
        deciding.commit().unwrap();
        racing.join().unwrap()
    });
    assert_eq!(seen_by_second, held, "the second decision sees the first one's outcome, not the payout before it");
}

/// The largest amount a payout can have (2^53 - 1 minor units).
const MAXIMAL_MINOR: i64 = (1 << 53) - 1;

/// Payouts round-trip with their approval, list newest first by status, and the spend sums count
/// what a rolling day counts: exactly, and saturated at i64's largest value beyond it (1,025
/// maximal payouts, cycled through a balance, add up to more), never through a float.
#[test]
fn payouts_round_trip_and_spend_sums_are_exact_and_saturate_past_i64() {
    let Some((store, _, _)) = two_stores_on_one_database() else { return };
    seed(&store, 0);
    let mut waiting = payout("po_waiting", MAXIMAL_MINOR, 5);
    waiting.status = PayoutStatus::PendingApproval;
    waiting.approval = Some(Approval {
        threshold_minor: 1_000_000,
        trigger: ApprovalTrigger::Structuring,
        expires_at_ms: 1_000,
        decision: None,
        decided_by_key_id: None,
        decided_by_owner: None,
        decided_at_ms: None,
        reason: None,
    });
    let big = payout("po_big", MAXIMAL_MINOR, 200);
    let small = payout("po_small", 7, 300);
    let mut failed = payout("po_failed", 5, 400);
    failed.status = PayoutStatus::Failed;
    failed.failure_reason = Some("bank said no".into());
    let mut session = store.begin_write().unwrap();
    for payout in [&waiting, &big, &small, &failed] {
        session.insert_payout(payout).unwrap();
    }
    session.commit().unwrap();

    let read = store.begin_read().unwrap();
    assert_eq!(read.get_payout(&scope(), "po_waiting").unwrap(), Some(waiting.clone()));
    let test_scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
    assert_eq!(read.get_payout(&test_scope, "po_waiting").unwrap(), None, "another mode sees nothing");
    let first_page = PageRequest { limit: 2, starting_after: None };
    let page = read.list_payouts(&scope(), &PayoutFilter::default(), &first_page).unwrap();
    assert_eq!(page.items.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["po_failed", "po_small"]);
    assert!(page.has_more);
    let after = PageRequest { limit: 10, starting_after: Some("po_small".into()) };
    let page = read.list_payouts(&scope(), &PayoutFilter::default(), &after).unwrap();
    assert_eq!(page.items.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["po_big", "po_waiting"]);
    assert!(!page.has_more);
    let waiting_only = PayoutFilter { status: Some(PayoutStatus::PendingApproval) };
    let page = read.list_payouts(&scope(), &waiting_only, &first_page).unwrap();
    assert_eq!(page.items, vec![waiting.clone()]);

    // Since 100: the waiting one (however old), the big and the small one; not the failed one.
    let all = 1..i64::MAX;
    let exact_minor = 2 * MAXIMAL_MINOR + 7;
    assert_eq!(read.owner_payout_spend_since(&scope(), OWNER, ngn(), 100, all.clone()).unwrap(), (3, exact_minor));
    assert_eq!(read.merchant_payout_spend_since(&scope(), ngn(), 100).unwrap(), exact_minor);
    assert_eq!(read.owner_payout_spend_since(&scope(), OWNER, ngn(), 250, 1..100).unwrap(), (1, 7));
    assert_eq!(read.owner_payout_spend_since(&scope(), "bob", ngn(), 0, all.clone()).unwrap(), (0, 0));
    drop(read);

    // Approved later: it counts from its decision, not its creation.
    let mut session = store.begin_write().unwrap();
    let mut approved = session.get_payout_for_update(&scope(), "po_waiting").unwrap().unwrap();
    approved.status = PayoutStatus::Pending;
    let approval = approved.approval.as_mut().unwrap();
    approval.decision = Some(ApprovalDecision::Approved);
    approval.decided_by_key_id = Some("key_bob".into());
    approval.decided_by_owner = Some("bob".into());
    approval.decided_at_ms = Some(500);
    approval.reason = Some("known supplier".into());
    session.update_payout(&approved).unwrap();
    let missing = payout("po_missing", 1, 0);
    assert!(matches!(session.update_payout(&missing), Err(StoreError::Corrupt(_))), "an update never inserts");
    session.commit().unwrap();
    let read = store.begin_read().unwrap();
    assert_eq!(read.get_payout(&scope(), "po_waiting").unwrap(), Some(approved));
    assert_eq!(read.merchant_payout_spend_since(&scope(), ngn(), 450).unwrap(), MAXIMAL_MINOR);
    assert_eq!(read.merchant_payout_spend_since(&scope(), ngn(), 600).unwrap(), 0);
    drop(read);

    // 1,023 more maximal payouts since 100: 1,025 of them in all, past i64.
    let mut session = store.begin_write().unwrap();
    for index in 0..1_023 {
        session.insert_payout(&payout(&format!("po_cycle_{index}"), MAXIMAL_MINOR, 700)).unwrap();
    }
    session.commit().unwrap();
    let read = store.begin_read().unwrap();
    assert_eq!(read.owner_payout_spend_since(&scope(), OWNER, ngn(), 100, all).unwrap(), (1_026, i64::MAX));
    assert_eq!(read.merchant_payout_spend_since(&scope(), ngn(), 100).unwrap(), i64::MAX);
    assert_eq!(read.merchant_payout_spend_since(&scope(), ngn(), 700).unwrap(), 1_023 * MAXIMAL_MINOR, "exact below");
}

fn limit(max_per_payout_minor: i64) -> SpendLimit {
    SpendLimit { max_per_payout_minor: Some(max_per_payout_minor), max_per_day_minor: None }
}

fn alices_limit(session: &dyn harepay::store::StoreRead) -> Option<i64> {
    let limits = session.owner_spend_limits(&scope(), OWNER).unwrap();
    limits.into_iter().find(|(asset, _)| asset.code == "NGN").and_then(|(_, limit)| limit.max_per_payout_minor)
}

/// A write session reads an owner's spend limits once (a group's commands were all sent before
/// it began). What another process committed before the session's first read is seen; what this
/// session changes is seen at once; what a rolled-back savepoint changed is forgotten.
#[test]
fn spend_limits_read_once_per_write_session_are_never_older_than_its_first_read_nor_its_own_changes() {
    let Some((first, second, _url)) = two_stores_on_one_database() else { return };
    seed(&first, 0);
    let mut lowering = first.begin_write().unwrap();
    lowering.set_spend_limit("key_alice", ngn(), limit(500)).unwrap();
    lowering.commit().unwrap();

    let mut session = second.begin_write().unwrap();
    assert_eq!(alices_limit(&*session), Some(500), "the other process's committed limit");
    session.set_spend_limit("key_alice", ngn(), limit(300)).unwrap();
    assert_eq!(alices_limit(&*session), Some(300), "this session's own change, at once");
    let undone: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.set_spend_limit("key_alice", ngn(), limit(100))?;
        assert_eq!(alices_limit(&*tx), Some(100));
        Err(StoreError::Backend("undo it".into()))
    });
    assert!(undone.is_err());
    assert_eq!(alices_limit(&*session), Some(300), "the undone change is forgotten");
    session.commit().unwrap();
    assert_eq!(alices_limit(&*second.begin_read().unwrap()), Some(300));
}
