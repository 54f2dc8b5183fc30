//! The ledger and idempotency keys across processes on PostgreSQL: two `PostgresStore`s on one
//! database stand for two harepay processes. A decision's balances are locked until it commits,
//! so a second decision over the same balance waits and sees the first one's posting (a debit
//! the balance covers once is applied once, however many processes try); balance rows are locked
//! in one order whatever order a caller names the assets in (no deadlock); an idempotency key
//! raced by two processes is stored once, and the losing session keeps its other work; and a
//! net change beyond i64 on a stored balance is applied exactly. Skipped loudly without a
//! cluster.

use std::sync::Barrier;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use harepay::engine::ledger::{AccountKind, Balances, LedgerAccount, LedgerTransaction, LedgerTransactionBuilder};
use harepay::engine::money::{Asset, AssetRef};
use harepay::engine::principal::{Mode, Scope};
use harepay::store::postgres::PostgresStore;
use harepay::store::{EventFilter, EventRecord, IdempotencyRecord, PageRequest, Store, StoreError, StoreWrite};

/// How long the first process holds its locks while the second asks for them: long enough that
/// a second process that did not wait would read the balance before the first one's debit.
const FIRST_PROCESS_HOLDS_MS: u64 = 300;

fn scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

fn ngn() -> AssetRef {
    Asset::lookup("NGN").unwrap()
}

fn btc() -> AssetRef {
    Asset::lookup("BTC").unwrap()
}

/// Two stores on one fresh database: two processes sharing it.
fn two_processes() -> Option<(PostgresStore, PostgresStore)> {
    let url = crate::backend::fresh_postgres_database()?;
    Some((PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap()))
}

fn transfer(
    id: &str,
    from: impl Into<LedgerAccount>,
    to: impl Into<LedgerAccount>,
    asset: AssetRef,
    amount_minor: i64,
) -> LedgerTransaction {
    LedgerTransactionBuilder::new().transfer(from, to, asset, amount_minor).finish(id.into(), "po_1", "test")
}

fn post(store: &dyn Store, transaction: &LedgerTransaction) {
    let mut session = store.begin_write().unwrap();
    session.post_ledger_transaction(&scope(), transaction, 0).unwrap();
    session.commit().unwrap();
}

fn balance(store: &dyn Store, account: impl Into<LedgerAccount>, asset: AssetRef) -> i64 {
    let account = account.into();
    let customers: Vec<&str> = account.customer_id().into_iter().collect();
    store.begin_read().unwrap().balances_with_customers(&scope(), &[asset], &customers).unwrap().get(account, asset)
}

/// What the engine does with what it read: debits `amount_minor` from `account` only when the
/// locked balance covers it. Returns the balance it read and whether it debited.
fn debit_if_covered(
    session: &mut dyn StoreWrite,
    balances: &Balances,
    account: &LedgerAccount,
    id: &str,
    amount_minor: i64,
) -> (i64, bool) {
    let seen_minor = balances.get(account.clone(), ngn());
    let covered = seen_minor >= amount_minor;
    if covered {
        let debit = transfer(id, account.clone(), AccountKind::External, ngn(), amount_minor);
        session.post_ledger_transaction(&scope(), &debit, 1).unwrap();
    }
    (seen_minor, covered)
}

fn locked_balances(session: &mut dyn StoreWrite, account: &LedgerAccount) -> Balances {
    match account.customer_id() {
        Some(customer_id) => session.balances_with_customers_for_update(&scope(), &[ngn()], &[customer_id]).unwrap(),
        None => session.balances_for_update(&scope(), &[ngn()]).unwrap(),
    }
}

/// The first process locks `account` (holding 100) and debits 80 after a pause; the second asks
/// for the same balance meanwhile. It must wait, and then see 20: had it read 100, it would
/// debit too and take the balance below zero.
fn second_process_waits_for_the_first_debit(account: LedgerAccount) {
    let Some((first, second)) = two_processes() else { return };
    post(&first, &transfer("ltx_credit", AccountKind::External, account.clone(), ngn(), 100));
    let (locked, first_has_locked) = mpsc::channel();
    let seen_by_second = thread::scope(|threads| {
        threads.spawn(|| {
            let mut session = first.begin_write().unwrap();
            let balances = locked_balances(&mut *session, &account);
            locked.send(()).unwrap();
            thread::sleep(Duration::from_millis(FIRST_PROCESS_HOLDS_MS));
            assert_eq!(debit_if_covered(&mut *session, &balances, &account, "ltx_first", 80), (100, true));
            session.commit().unwrap();
        });
        let (second, account) = (&second, &account);
        let waiting = threads.spawn(move || {
            first_has_locked.recv().unwrap();
            let mut session = second.begin_write().unwrap();
            let balances = locked_balances(&mut *session, account);
            let outcome = debit_if_covered(&mut *session, &balances, account, "ltx_second", 80);
            session.commit().unwrap();
            outcome
        });
        waiting.join().unwrap()
    });
    assert_eq!(seen_by_second, (20, false), "the second process read the balance before the first one's debit");
    assert_eq!(balance(&second, account, ngn()), 20);
    let report = second.begin_read().unwrap().verify_ledger(None).unwrap();
    assert_eq!(report.transaction_count, 2, "exactly one debit");
    assert!(report.balance_mismatches.is_empty() && report.negative_balances.is_empty(), "{report:?}");
}

#[test]
fn a_second_process_waits_for_the_first_debit_of_a_balance_and_sees_it() {
    second_process_waits_for_the_first_debit(LedgerAccount::Fixed(AccountKind::Available));
}

#[test]
fn a_second_process_waits_for_the_first_debit_of_a_customer_prepaid_balance_and_sees_it() {
    second_process_waits_for_the_first_debit(LedgerAccount::customer_prepaid("cus_1"));
}

/// Six sessions, three on each process, all at once, each debiting 30 from 100 when covered:
/// exactly three debit, and the balance ends at 10.
#[test]
fn concurrent_debits_from_two_processes_never_overdraw_a_balance() {
    let Some((first, second)) = two_processes() else { return };
    post(&first, &transfer("ltx_credit", AccountKind::External, AccountKind::Available, ngn(), 100));
    let attempts = 6;
    let start = Barrier::new(attempts);
    let debited = thread::scope(|threads| {
        let handles: Vec<_> = (0..attempts)
            .map(|attempt| {
                let (store, start) = (if attempt % 2 == 0 { &first } else { &second }, &start);
                threads.spawn(move || {
                    let mut session = store.begin_write().unwrap();
                    start.wait();
                    let account = LedgerAccount::Fixed(AccountKind::Available);
                    let balances = locked_balances(&mut *session, &account);
                    let (_, debited) =
                        debit_if_covered(&mut *session, &balances, &account, &format!("ltx_{attempt}"), 30);
                    session.commit().unwrap();
                    debited
                })
            })
            .collect();
        handles.into_iter().map(|handle| usize::from(handle.join().unwrap())).sum::<usize>()
    });
    assert_eq!(debited, 3);
    assert_eq!(balance(&first, AccountKind::Available, ngn()), 10);
    assert!(first.begin_read().unwrap().verify_ledger(None).unwrap().is_sound());
}

/// Sessions name the same two assets in opposite orders and move money in both while holding
/// the locks: rows are locked in one order whatever the caller's, so none deadlocks (PostgreSQL
/// would end one with a deadlock error, `Contention`).
#[test]
fn sessions_naming_assets_in_opposite_orders_do_not_deadlock() {
    let Some((first, second)) = two_processes() else { return };
    post(&first, &transfer("ltx_ngn", AccountKind::External, AccountKind::Available, ngn(), 1_000));
    post(&first, &transfer("ltx_btc", AccountKind::External, AccountKind::Available, btc(), 1_000));
    let sessions = 4;
    let rounds = 10;
    let start = Barrier::new(sessions);
    thread::scope(|threads| {
        for session_index in 0..sessions {
            let store = if session_index % 2 == 0 { &first } else { &second };
            let start = &start;
            threads.spawn(move || {
                start.wait();
                for round in 0..rounds {
                    let assets = if session_index % 2 == 0 { [ngn(), btc()] } else { [btc(), ngn()] };
                    let mut session = store.begin_write().unwrap();
                    session.balances_for_update(&scope(), &assets).unwrap();
                    for asset in assets {
                        let id = format!("ltx_{session_index}_{round}_{}", asset.code);
                        let move_out = transfer(&id, AccountKind::Available, AccountKind::Reserved, asset, 1);
                        session.post_ledger_transaction(&scope(), &move_out, 1).unwrap();
                    }
                    session.commit().unwrap();
                }
            });
        }
    });
    let moved = i64::try_from(sessions * rounds).unwrap();
    for asset in [ngn(), btc()] {
        assert_eq!(balance(&first, AccountKind::Available, asset), 1_000 - moved);
        assert_eq!(balance(&first, AccountKind::Reserved, asset), moved);
    }
    assert!(first.begin_read().unwrap().verify_ledger(None).unwrap().is_sound());
}

/// Two postings of i64::MAX into one account make a net change beyond i64; on a balance holding
/// -i64::MAX the result fits, and is stored exactly.
#[test]
fn a_net_change_beyond_i64_on_a_stored_balance_is_applied_exactly() {
    let Some((first, _)) = two_processes() else { return };
    post(&first, &transfer("ltx_out", AccountKind::Available, AccountKind::External, ngn(), i64::MAX));
    let back = LedgerTransactionBuilder::new()
        .transfer(AccountKind::External, AccountKind::Available, ngn(), i64::MAX)
        .transfer(AccountKind::External, AccountKind::Available, ngn(), i64::MAX)
        .finish("ltx_back".into(), "po_1", "test");
    post(&first, &back);
    assert_eq!(balance(&first, AccountKind::Available, ngn()), i64::MAX);
    assert_eq!(balance(&first, AccountKind::External, ngn()), -i64::MAX);
    let report = first.begin_read().unwrap().verify_ledger(None).unwrap();
    assert!(report.balance_mismatches.is_empty() && report.unbalanced_assets.is_empty(), "{report:?}");
}

fn idempotency_record(key: &str, operation: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: scope(),
        key: key.into(),
        operation: operation.into(),
        request_sha256_hex: format!("sha-{operation}"),
        object_id: Some(format!("obj_{operation}")),
        response_json: "{}".into(),
        created_at_ms: 1,
    }
}

pub(crate) fn event(id: &str) -> EventRecord {
    EventRecord {
        id: id.into(),
        scope: scope(),
        event_type: "payout.created".into(),
        object_id: "po_1".into(),
        payload_json: "{}".into(),
        created_at_ms: 1,
    }
}

/// The ids of the events committed in the scope, sorted.
pub(crate) fn event_ids(store: &dyn Store) -> Vec<String> {
    let page = PageRequest { limit: 100, starting_after: None };
    let events = store.begin_read().unwrap().list_events(&scope(), &EventFilter::default(), &page).unwrap();
    let mut ids: Vec<String> = events.items.into_iter().map(|event| event.id).collect();
    ids.sort();
    ids
}

/// What a command does in its savepoint: an event, then its idempotency record.
fn save_with_key(session: &mut dyn StoreWrite, operation: &str) -> Result<(), StoreError> {
    session.in_savepoint(|tx| {
        tx.append_event(&event(&format!("evt_command_{operation}")))?;
        tx.insert_idempotency(&idempotency_record("idem_1", operation))
    })
}

/// The first process stores the key and holds its transaction open; the second stores the same
/// key meanwhile. It waits for the first to end, then gets `Conflict` without its session being
/// aborted: its savepoint undoes its command, and its other work commits.
#[test]
fn an_idempotency_key_stored_by_another_process_is_a_conflict_and_the_loser_keeps_its_other_work() {
    let Some((first, second)) = two_processes() else { return };
    let (stored, first_has_stored) = mpsc::channel();
    let second_outcome = thread::scope(|threads| {
        threads.spawn(|| {
            let mut session = first.begin_write().unwrap();
            save_with_key(&mut *session, "first").unwrap();
            stored.send(()).unwrap();
            thread::sleep(Duration::from_millis(FIRST_PROCESS_HOLDS_MS));
            session.commit().unwrap();
        });
        let second = &second;
        threads
            .spawn(move || {
                first_has_stored.recv().unwrap();
                let mut session = second.begin_write().unwrap();
                session.append_event(&event("evt_other_work")).unwrap();
                let outcome = save_with_key(&mut *session, "second");
                let seen = session.get_idempotency(&scope(), "idem_1").unwrap().map(|record| record.operation);
                session.commit().unwrap();
                (outcome, seen)
            })
            .join()
            .unwrap()
    });
    let (outcome, seen) = second_outcome;
    assert!(matches!(outcome, Err(StoreError::Conflict { what: "idempotency key" })), "{outcome:?}");
    assert_eq!(seen.as_deref(), Some("first"), "after the conflict the winner's record is visible");
    let record = first.begin_read().unwrap().get_idempotency(&scope(), "idem_1").unwrap().unwrap();
    assert_eq!(record.operation, "first");
    assert_eq!(
        event_ids(&first),
        ["evt_command_first", "evt_other_work"],
        "the loser's command is undone, not its other work"
    );
}

/// Both processes store one key at once: one wins, one gets `Conflict`; both sessions commit.
#[test]
fn an_idempotency_key_raced_by_two_processes_is_stored_once() {
    let Some((first, second)) = two_processes() else { return };
    let start = Barrier::new(2);
    let outcomes: Vec<(String, Result<(), StoreError>)> = thread::scope(|threads| {
        let handles: Vec<_> = [("first", &first), ("second", &second)]
            .into_iter()
            .map(|(operation, store)| {
                let start = &start;
                threads.spawn(move || {
                    let mut session = store.begin_write().unwrap();
                    start.wait();
                    let outcome = save_with_key(&mut *session, operation);
                    session.commit().unwrap();
                    (operation.to_owned(), outcome)
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    let winners: Vec<&str> =
        outcomes.iter().filter(|(_, outcome)| outcome.is_ok()).map(|(operation, _)| operation.as_str()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let loser = outcomes.iter().find(|(_, outcome)| outcome.is_err()).unwrap();
    assert!(matches!(loser.1, Err(StoreError::Conflict { what: "idempotency key" })), "{outcomes:?}");
    let record = first.begin_read().unwrap().get_idempotency(&scope(), "idem_1").unwrap().unwrap();
    assert_eq!(record.operation, winners[0]);
    assert_eq!(event_ids(&second), [format!("evt_command_{}", winners[0])]);
}

/// The first process stores the key and then rolls back: the second, waiting on it, stores the
/// key itself.
#[test]
fn an_idempotency_key_whose_first_writer_rolls_back_is_taken_by_the_waiting_process() {
    let Some((first, second)) = two_processes() else { return };
    let (stored, first_has_stored) = mpsc::channel();
    let outcome = thread::scope(|threads| {
        threads.spawn(|| {
            let mut session = first.begin_write().unwrap();
            save_with_key(&mut *session, "first").unwrap();
            stored.send(()).unwrap();
            thread::sleep(Duration::from_millis(FIRST_PROCESS_HOLDS_MS));
            drop(session);
        });
        let second = &second;
        threads
            .spawn(move || {
                first_has_stored.recv().unwrap();
                let mut session = second.begin_write().unwrap();
                let outcome = save_with_key(&mut *session, "second");
                session.commit().unwrap();
                outcome
            })
            .join()
            .unwrap()
    });
    assert!(outcome.is_ok(), "{outcome:?}");
    let record = first.begin_read().unwrap().get_idempotency(&scope(), "idem_1").unwrap().unwrap();
    assert_eq!(record.operation, "second");
}

/// A key already stored is refused as `Conflict` without a failed statement: the session goes on
/// and commits even when no savepoint surrounds the insert (PostgreSQL would otherwise refuse
/// every later statement of the transaction).
#[test]
fn an_idempotency_conflict_does_not_abort_the_session() {
    let Some((first, second)) = two_processes() else { return };
    let mut session = first.begin_write().unwrap();
    session.insert_idempotency(&idempotency_record("idem_1", "first")).unwrap();
    session.commit().unwrap();
    let mut session = second.begin_write().unwrap();
    let refused = session.insert_idempotency(&idempotency_record("idem_1", "second"));
    assert!(matches!(refused, Err(StoreError::Conflict { what: "idempotency key" })), "{refused:?}");
    session.append_event(&event("evt_after_the_conflict")).unwrap();
    session.commit().unwrap();
    assert_eq!(event_ids(&first), ["evt_after_the_conflict"]);
}

mod store_at_the_edges {
    //! The store's own guard on PostgreSQL, without the engine in front: random transactions near
    //! the i64 limits. An accepted one moves each stored balance by exactly its postings; a refused
    //! one (`BalanceOverflow`) writes nothing and leaves the session usable; `verify_ledger`
    //! stays sound. One database; each case is its own merchant.

    use std::collections::BTreeMap;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use harepay::engine::ledger::{AccountKind, LedgerAccount, LedgerTransactionBuilder};
    use harepay::engine::money::Asset;
    use harepay::engine::principal::{Mode, Scope};
    use harepay::store::postgres::PostgresStore;
    use harepay::store::{Store, StoreError};
    use proptest::prelude::*;

    fn edge_amount() -> impl Strategy<Value = i64> {
        prop_oneof![Just(i64::MAX), (i64::MAX - 1_000)..=i64::MAX, Just(1_i64 << 62), 0_i64..1_000, 0_i64..=i64::MAX]
    }

    fn transfer() -> impl Strategy<Value = (AccountKind, AccountKind, &'static str, i64)> {
        let account = || prop::sample::select(AccountKind::ALL.to_vec());
        (account(), account(), prop::sample::select(vec!["NGN", "BTC"]), edge_amount())
    }

    /// The shared database, or None (skipped loudly) without a cluster.
    fn database_url() -> Option<&'static str> {
        static URL: OnceLock<Option<String>> = OnceLock::new();
        URL.get_or_init(crate::backend::fresh_postgres_database).as_deref()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn stored_balances_never_leave_i64_and_refusals_write_nothing(
            transactions in prop::collection::vec(prop::collection::vec(transfer(), 1..=3), 1..24),
        ) {
            let Some(url) = database_url() else { return Ok(()) };
            static CASE: AtomicU64 = AtomicU64::new(0);
            let store = PostgresStore::open(url).unwrap();
            let scope = Scope { merchant_id: format!("mch_edge_{}", CASE.fetch_add(1, Ordering::Relaxed)), mode: Mode::Test };
            let assets = [Asset::lookup("NGN").unwrap(), Asset::lookup("BTC").unwrap()];
            let mut model: BTreeMap<(LedgerAccount, &str), i128> = BTreeMap::new();
            let mut accepted = 0;
            for (index, transfers) in transactions.into_iter().enumerate() {
                let mut builder = LedgerTransactionBuilder::new();
                for (from, to, code, amount_minor) in transfers {
                    builder = builder.transfer(from, to, Asset::lookup(code).unwrap(), amount_minor);
                }
                let transaction = builder.finish(format!("ltx_{}_{index}", scope.merchant_id), "pi_edge", "edge");
                let mut after = model.clone();
                for posting in &transaction.postings {
                    *after.entry((posting.account.clone(), posting.asset.code)).or_default() +=
                        i128::from(posting.amount_minor);
                }
                let fits = after.values().all(|balance| i64::try_from(*balance).is_ok());
                let mut session = store.begin_write().unwrap();
                match session.post_ledger_transaction(&scope, &transaction, 0) {
                    Ok(()) => {
                        prop_assert!(fits, "the store accepted an overflow: {:?}", transaction.postings);
                        model = after;
                        if !transaction.postings.is_empty() {
                            accepted += 1;
                        }
                    }
                    Err(error) => {
                        prop_assert!(!fits, "refused without cause: {}", error);
                        prop_assert!(matches!(error, StoreError::BalanceOverflow(_)), "{}", error);
                    }
                }
                session.commit().unwrap();
                let balances = store.begin_read().unwrap().balances(&scope, &assets).unwrap();
                for asset in assets {
                    let mut sum = 0_i128;
                    for account in AccountKind::ALL.map(LedgerAccount::from) {
                        let stored = i128::from(balances.get(account.clone(), asset));
                        prop_assert_eq!(stored, model.get(&(account, asset.code)).copied().unwrap_or(0));
                        sum += stored;
                    }
                    prop_assert_eq!(sum, 0, "{} does not sum to zero", asset.code);
                }
            }
            let report = store.begin_read().unwrap().verify_ledger(Some(&scope)).unwrap();
            // Floors are the engine's rule, and the engine is not in front here: merchant balances
            // may be negative. Everything the store owns must hold.
            let balanced = report.unbalanced_transactions.is_empty() && report.unbalanced_assets.is_empty();
            let consistent = report.balance_mismatches.is_empty()
                && report.non_integer_values.is_empty()
                && report.unknown_accounts.is_empty();
            prop_assert!(balanced && consistent, "{:?}", report.problems());
            prop_assert_eq!(report.transaction_count, accepted, "a refused transaction left a record");
        }
    }
}
