//! What the PostgreSQL session does to save round trips, attacked: it remembers the balance rows
//! it holds locked (and their balances) instead of asking again, sends a savepoint's RELEASE
//! with the next savepoint statement, and inside a savepoint sends its begin and the writes whose
//! answers decide nothing with the next statement that needs an answer (or the savepoint's end). A savepoint rolled back must make it forget what it knew
//! (else an overflow check would pass on a stale balance, or a read would show an undone posting);
//! a savepoint released but not yet sent must behave as released (a later rollback of a sibling
//! keeps it, a failure after it is undone by the enclosing rollback). Skipped loudly without a
//! cluster.

use harepay::engine::ledger::{AccountKind, LedgerAccount, LedgerTransaction, LedgerTransactionBuilder};
use harepay::engine::money::{Asset, AssetRef};
use std::collections::BTreeMap;

use crate::postgres_ledger::{event, event_ids};

use harepay::engine::money::Money;
use harepay::engine::payout::{Destination, Payout, PayoutStatus};
use harepay::engine::principal::{Mode, Scope};
use harepay::engine::rail::Rail;
use harepay::store::postgres::PostgresStore;
use harepay::store::{AuditRecord, IdempotencyRecord, MerchantRecord, Store, StoreError, StoreWrite};

fn scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

fn ngn() -> AssetRef {
    Asset::lookup("NGN").unwrap()
}

fn store() -> Option<PostgresStore> {
    let url = crate::backend::fresh_postgres_database()?;
    Some(PostgresStore::open(&url).unwrap())
}

fn transfer(id: &str, from: AccountKind, to: AccountKind, amount_minor: i64) -> LedgerTransaction {
    LedgerTransactionBuilder::new().transfer(from, to, ngn(), amount_minor).finish(id.into(), "po_1", "test")
}

fn committed_balance(store: &dyn Store, account: AccountKind) -> i64 {
    store.begin_read().unwrap().balances(&scope(), &[ngn()]).unwrap().get(LedgerAccount::Fixed(account), ngn())
}

/// `available_minor` available, and a row in every other fixed account, so that the session can
/// hold every balance of the asset locked.
fn fund_every_account(store: &dyn Store, available_minor: i64) {
    let mut builder =
        LedgerTransactionBuilder::new().transfer(AccountKind::External, AccountKind::Available, ngn(), available_minor);
    for account in
        [AccountKind::Pending, AccountKind::Reserved, AccountKind::Fees, AccountKind::FxClearing, AccountKind::Owed]
    {
        builder = builder.transfer(AccountKind::External, account, ngn(), 1);
    }
    let funding = builder.finish("ltx_fund".into(), "funding", "test");
    let mut session = store.begin_write().unwrap();
    session.post_ledger_transaction(&scope(), &funding, 0).unwrap();
    session.commit().unwrap();
}

#[test]
fn an_overflow_check_after_a_rolled_back_savepoint_uses_the_balance_as_it_is_again() {
    let Some(store) = store() else { return };
    let near_max_minor = i64::MAX - 10;
    fund_every_account(&store, near_max_minor);
    let mut session = store.begin_write().unwrap();
    session.balances_for_update(&scope(), &[ngn()]).unwrap();
    // Inside a savepoint that is undone: 20 leaves the available balance (then i64::MAX - 30).
    let undone: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.post_ledger_transaction(
            &scope(),
            &transfer("ltx_out", AccountKind::Available, AccountKind::Reserved, 20),
            1,
        )?;
        Err(StoreError::Backend("undo it".into()))
    });
    assert!(undone.is_err());
    // 15 more would fit the undone balance but not the real one (i64::MAX - 10): refused before
    // anything is written, so the session goes on and commits.
    let refused = session.post_ledger_transaction(
        &scope(),
        &transfer("ltx_in", AccountKind::External, AccountKind::Available, 15),
        2,
    );
    assert!(matches!(refused, Err(StoreError::BalanceOverflow(_))), "got {refused:?}");
    let after = session.balances_for_update(&scope(), &[ngn()]).unwrap();
    assert_eq!(after.get(LedgerAccount::Fixed(AccountKind::Available), ngn()), near_max_minor);
    assert_eq!(after.get(LedgerAccount::Fixed(AccountKind::Reserved), ngn()), 1);
    session
        .post_ledger_transaction(&scope(), &transfer("ltx_ok", AccountKind::Available, AccountKind::Reserved, 5), 3)
        .unwrap();
    session.commit().unwrap();
    assert_eq!(committed_balance(&store, AccountKind::Available), near_max_minor - 5);
    assert_eq!(committed_balance(&store, AccountKind::Reserved), 6);
    assert!(store.begin_read().unwrap().verify_ledger(None).unwrap().is_sound());
}

#[test]
fn balances_read_again_from_locked_rows_show_the_sessions_postings_and_not_undone_ones() {
    let Some(store) = store() else { return };
    fund_every_account(&store, 1_000);
    let mut session = store.begin_write().unwrap();
    // Every balance of the asset is now locked by this session.
    session.balances_for_update(&scope(), &[ngn()]).unwrap();
    session
        .post_ledger_transaction(&scope(), &transfer("ltx_1", AccountKind::Available, AccountKind::Reserved, 100), 1)
        .unwrap();
    let kept = session.balances_for_update(&scope(), &[ngn()]).unwrap();
    assert_eq!(kept.get(LedgerAccount::Fixed(AccountKind::Available), ngn()), 900);
    assert_eq!(kept.get(LedgerAccount::Fixed(AccountKind::Reserved), ngn()), 101);
    let undone: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.post_ledger_transaction(&scope(), &transfer("ltx_2", AccountKind::Available, AccountKind::Pending, 300), 2)?;
        let inside = tx.balances_for_update(&scope(), &[ngn()])?;
        assert_eq!(inside.get(LedgerAccount::Fixed(AccountKind::Available), ngn()), 600);
        Err(StoreError::Backend("undo it".into()))
    });
    assert!(undone.is_err());
    let after = session.balances_for_update(&scope(), &[ngn()]).unwrap();
    assert_eq!(after.get(LedgerAccount::Fixed(AccountKind::Available), ngn()), 900);
    assert_eq!(after.get(LedgerAccount::Fixed(AccountKind::Pending), ngn()), 1);
    // A transaction id posted already is refused and changes nothing the session knows.
    let again = session.post_ledger_transaction(
        &scope(),
        &transfer("ltx_1", AccountKind::Available, AccountKind::Reserved, 100),
        3,
    );
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "got {again:?}");
    let after_conflict = session.balances_for_update(&scope(), &[ngn()]).unwrap();
    assert_eq!(after_conflict.get(LedgerAccount::Fixed(AccountKind::Available), ngn()), 900);
    session.commit().unwrap();
    assert_eq!(committed_balance(&store, AccountKind::Available), 900);
    assert_eq!(committed_balance(&store, AccountKind::Pending), 1);
    assert!(store.begin_read().unwrap().verify_ledger(None).unwrap().is_sound());
}

fn merchant(id: &str) -> MerchantRecord {
    MerchantRecord { id: id.into(), name: id.into(), created_at_ms: 0 }
}

/// A statement PostgreSQL itself refuses (TEXT cannot hold NUL), which aborts the transaction
/// until a savepoint is rolled back; a duplicate would not, being answered without an error.
fn refused_by_postgres(tx: &mut dyn StoreWrite) -> Result<(), StoreError> {
    tx.insert_merchant(&MerchantRecord { id: "mch_nul".into(), name: "a\0b".into(), created_at_ms: 0 })
}

#[test]
fn a_released_savepoint_not_yet_sent_is_kept_by_a_later_rollback_and_a_failure_after_it_is_undone() {
    let Some(store) = store() else { return };
    let mut session = store.begin_write().unwrap();
    let outer: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.in_savepoint(|tx| tx.insert_merchant(&merchant("mch_kept")))?;
        let refused: Result<(), StoreError> = tx.in_savepoint(|tx| {
            tx.insert_merchant(&merchant("mch_undone"))?;
            Err(StoreError::Backend("undo it".into()))
        });
        assert!(refused.is_err());
        Ok(())
    });
    outer.unwrap();
    // A failed statement right after a released savepoint, undone by the savepoint around both:
    // the session goes on and commits the rest.
    let undone: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.in_savepoint(|tx| tx.insert_merchant(&merchant("mch_in_undone")))?;
        refused_by_postgres(tx)
    });
    assert!(matches!(undone, Err(StoreError::Corrupt(_))), "got {undone:?}");
    session.insert_merchant(&merchant("mch_after")).unwrap();
    session.commit().unwrap();
    let read = store.begin_read().unwrap();
    for (id, present) in [("mch_kept", true), ("mch_undone", false), ("mch_in_undone", false), ("mch_after", true)] {
        assert_eq!(read.merchant_exists(id).unwrap(), present, "{id}");
    }
}

#[test]
fn a_failure_inside_a_released_savepoint_body_that_was_swallowed_refuses_the_commit() {
    let Some(store) = store() else { return };
    let mut session = store.begin_write().unwrap();
    session.insert_merchant(&merchant("mch_1")).unwrap();
    // The body swallows the failed statement and returns Ok: the release cannot be honoured.
    let released: Result<(), StoreError> = session.in_savepoint(|tx| {
        let _ = refused_by_postgres(tx);
        Ok(())
    });
    assert!(released.is_err(), "the release of an aborted savepoint must fail");
    assert!(session.commit().is_err(), "nothing may commit after a failure nobody undid");
    assert!(!store.begin_read().unwrap().merchant_exists("mch_1").unwrap());
}

/// A write sent ahead fails only when the savepoint ends (a duplicate event id: a unique
/// violation nobody waited for): the savepoint is undone whole, its caller gets the failure, and
/// the session commits what came before and after it.
#[test]
fn a_write_sent_ahead_that_fails_undoes_its_savepoint_and_the_session_commits_the_rest() {
    let Some(store) = store() else { return };
    let mut session = store.begin_write().unwrap();
    session.in_savepoint(|tx| tx.append_event(&event("evt_first"))).unwrap();
    let refused: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.append_event(&event("evt_undone"))?;
        // Queued, not sent: it cannot fail here.
        tx.append_event(&event("evt_first"))
    });
    assert!(refused.is_err(), "the duplicate must fail the savepoint that made it");
    session.in_savepoint(|tx| tx.append_event(&event("evt_after"))).unwrap();
    session.commit().unwrap();
    assert_eq!(event_ids(&store), ["evt_after", "evt_first"]);
}

/// The same failure reaches the next statement that needs an answer (a read): it answers with
/// the failure, and the caller's rollback of the savepoint undoes it.
#[test]
fn a_write_sent_ahead_that_fails_is_the_next_reads_failure_and_a_rollback_undoes_it() {
    let Some(store) = store() else { return };
    let mut session = store.begin_write().unwrap();
    session.in_savepoint(|tx| tx.append_event(&event("evt_first"))).unwrap();
    let refused: Result<bool, StoreError> = session.in_savepoint(|tx| {
        tx.append_event(&event("evt_first"))?;
        tx.event_exists(&scope(), "evt_first")
    });
    assert!(refused.is_err(), "the read carries the failed write: {refused:?}");
    assert!(
        !matches!(refused, Err(StoreError::Conflict { .. })),
        "a write's duplicate is not the read's conflict: {refused:?}"
    );
    session.in_savepoint(|tx| tx.append_event(&event("evt_after"))).unwrap();
    session.commit().unwrap();
    assert_eq!(event_ids(&store), ["evt_after", "evt_first"]);
}

/// A read in a savepoint sees the writes made before it in the same savepoint, though they were
/// not sent when they were made.
#[test]
fn a_read_sees_the_writes_sent_ahead_before_it() {
    let Some(store) = store() else { return };
    let mut session = store.begin_write().unwrap();
    let seen = session
        .in_savepoint(|tx| {
            tx.append_event(&event("evt_1"))?;
            tx.event_exists(&scope(), "evt_1")
        })
        .unwrap();
    assert!(seen);
    session.commit().unwrap();
    assert_eq!(event_ids(&store), ["evt_1"]);
}

/// The danger of a savepoint whose begin is not sent yet: its begin carries the RELEASE of the
/// command before it. A body that fails before any statement must leave that command kept (a
/// rollback sent to "the most recent savepoint" would undo the previous command instead), and
/// costs no round trip.
#[test]
fn a_savepoint_refused_before_any_statement_keeps_the_command_released_before_it() {
    let Some(store) = store() else { return };
    let mut session = store.begin_write().unwrap();
    session.in_savepoint(|tx| tx.append_event(&event("evt_kept"))).unwrap();
    let before = store.round_trips();
    let refused: Result<(), StoreError> =
        session.in_savepoint(|_| Err(StoreError::Backend("refused before any statement".into())));
    assert!(refused.is_err());
    assert_eq!(store.round_trips(), before, "nothing was sent for a savepoint that did nothing");
    let nested: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.in_savepoint(|_| Err::<(), _>(StoreError::Backend("refused too".into()))).unwrap_err();
        tx.append_event(&event("evt_nested"))
    });
    nested.unwrap();
    session.in_savepoint(|tx| tx.append_event(&event("evt_last"))).unwrap();
    session.commit().unwrap();
    assert_eq!(event_ids(&store), ["evt_kept", "evt_last", "evt_nested"]);
}

/// A savepoint begun inside one whose writes are queued sends them first: a failure of theirs is
/// the enclosing savepoint's, undone with it, and never taken for the inner one's.
#[test]
fn a_savepoint_begun_after_queued_writes_sends_them_first_and_their_failure_is_the_enclosing_ones() {
    let Some(store) = store() else { return };
    let mut session = store.begin_write().unwrap();
    session.in_savepoint(|tx| tx.append_event(&event("evt_first"))).unwrap();
    let outer: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.append_event(&event("evt_first"))?;
        tx.in_savepoint(|tx| tx.append_event(&event("evt_inner")))
    });
    assert!(outer.is_err(), "the queued duplicate fails when the inner savepoint begins");
    // An inner savepoint whose own write fails is undone; the outer one goes on and is kept.
    let kept: Result<(), StoreError> = session.in_savepoint(|tx| {
        tx.append_event(&event("evt_outer"))?;
        let inner: Result<(), StoreError> = tx.in_savepoint(|tx| tx.append_event(&event("evt_first")));
        assert!(inner.is_err());
        Ok(())
    });
    kept.unwrap();
    session.commit().unwrap();
    assert_eq!(event_ids(&store), ["evt_first", "evt_outer"]);
}

fn payout(id: &str) -> Payout {
    Payout {
        id: id.into(),
        scope: scope(),
        amount: Money::new(ngn(), 100).unwrap(),
        rail: Rail::Rubies,
        destination: Destination::Bank { account_no: "0123456789".into(), bank_code: "058".into(), account_name: None },
        description: None,
        metadata: BTreeMap::new(),
        status: PayoutStatus::Pending,
        created_by_key_id: "key_1".into(),
        created_by_owner: "alice".into(),
        approval: None,
        failure_reason: None,
        cancellation_reason: None,
        simulate_at_ms: None,
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

/// What a confirmed payout does in its savepoint, in the app's order.
fn payout_command(tx: &mut dyn StoreWrite, id: &str) -> Result<(), StoreError> {
    let key = format!("key-{id}");
    assert!(tx.get_idempotency(&scope(), &key)?.is_none());
    tx.balances_for_update(&scope(), &[ngn()])?;
    tx.insert_payout(&payout(id))?;
    tx.post_ledger_transaction(
        &scope(),
        &transfer(&format!("ltx_{id}"), AccountKind::Available, AccountKind::Reserved, 100),
        1,
    )?;
    tx.append_event(&event(&format!("evt_{id}")))?;
    tx.append_audit(&AuditRecord {
        id: format!("aud_{id}"),
        scope: scope(),
        key_id: "key_1".into(),
        actor_owner: "alice".into(),
        tool: "create_payout".into(),
        outcome: "executed".into(),
        error_type: None,
        object_id: Some(id.into()),
        idempotency_key: Some(key.clone()),
        detail: "pay out".into(),
        created_at_ms: 1,
        request_id: None,
    })?;
    tx.insert_idempotency(&IdempotencyRecord {
        scope: scope(),
        key,
        operation: "create_payout".into(),
        request_sha256_hex: "sha".into(),
        object_id: Some(id.into()),
        response_json: "{}".into(),
        created_at_ms: 1,
    })
}

/// The round trips a payout costs once its group holds the balance rows: its savepoint's begin
/// goes with the idempotency read, and its five writes with the idempotency insert (whose
/// conflict answer is awaited): two. Everything it wrote is committed and the ledger balances.
#[test]
fn a_payout_in_a_group_costs_two_round_trips_to_the_store() {
    let Some(store) = store() else { return };
    fund_every_account(&store, 1_000);
    let mut session = store.begin_write().unwrap();
    session.in_savepoint(|tx| payout_command(tx, "po_1")).unwrap();
    let before = store.round_trips();
    for id in ["po_2", "po_3", "po_4"] {
        session.in_savepoint(|tx| payout_command(tx, id)).unwrap();
    }
    assert_eq!(store.round_trips() - before, 6, "two round trips per payout");
    session.commit().unwrap();
    assert_eq!(committed_balance(&store, AccountKind::Available), 600);
    assert_eq!(committed_balance(&store, AccountKind::Reserved), 401);
    assert_eq!(event_ids(&store), ["evt_po_1", "evt_po_2", "evt_po_3", "evt_po_4"]);
    let read = store.begin_read().unwrap();
    for id in ["po_1", "po_2", "po_3", "po_4"] {
        assert!(read.get_payout(&scope(), id).unwrap().is_some(), "{id}");
        assert!(read.get_idempotency(&scope(), &format!("key-{id}")).unwrap().is_some(), "{id}");
    }
    assert!(read.verify_ledger(None).unwrap().is_sound());
}

/// `available_minor` available and no other balance row: the rows a payout moves or reads are
/// missing until it makes them.
fn fund_available_only(store: &dyn Store, available_minor: i64) {
    let funding = transfer("ltx_fund", AccountKind::External, AccountKind::Available, available_minor);
    let mut session = store.begin_write().unwrap();
    session.post_ledger_transaction(&scope(), &funding, 0).unwrap();
    session.commit().unwrap();
}

/// With every balance row but `available` (and `external`) missing, a group still pays two round
/// trips per payout after its first: the rows found missing while the available row is held read
/// as zero, and the reserved row the first payout makes holds what it posted.
#[test]
fn a_payout_in_a_group_costs_two_round_trips_though_balance_rows_are_missing() {
    let Some(store) = store() else { return };
    fund_available_only(&store, 1_000);
    let mut session = store.begin_write().unwrap();
    session.in_savepoint(|tx| payout_command(tx, "po_1")).unwrap();
    let before = store.round_trips();
    for id in ["po_2", "po_3"] {
        session.in_savepoint(|tx| payout_command(tx, id)).unwrap();
    }
    assert_eq!(store.round_trips() - before, 4, "two round trips per payout");
    let seen = session.balances_for_update(&scope(), &[ngn()]).unwrap();
    assert_eq!(seen.get(LedgerAccount::Fixed(AccountKind::Reserved), ngn()), 300);
    session.commit().unwrap();
    assert_eq!(committed_balance(&store, AccountKind::Available), 700);
    assert_eq!(committed_balance(&store, AccountKind::Reserved), 300);
    assert!(store.begin_read().unwrap().verify_ledger(None).unwrap().is_sound());
}

fn two_stores() -> Option<(PostgresStore, PostgresStore, String)> {
    let url = crate::backend::fresh_postgres_database()?;
    Some((PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap(), url))
}

/// The available row guards the creation of its asset's rows: while one process holds it (its
/// decision found `pending` missing and reads it as zero from then on), another process's posting
/// that would make `pending` waits, though it touches no other row the first one holds (it comes
/// from a customer's prepaid account, which a payout decision does not lock); so the first one's
/// zero stays true until it commits.
#[test]
fn a_row_found_missing_cannot_be_made_by_another_process_while_the_finder_holds_the_available_row() {
    let Some((first, second, url)) = two_stores() else { return };
    fund_available_only(&first, 1_000);
    let prepaid = LedgerAccount::customer_prepaid("cus_1");
    let mut funding = first.begin_write().unwrap();
    let top_up = LedgerTransactionBuilder::new().transfer(AccountKind::External, prepaid.clone(), ngn(), 100).finish(
        "ltx_top_up".into(),
        "cus_1",
        "test",
    );
    funding.post_ledger_transaction(&scope(), &top_up, 0).unwrap();
    funding.commit().unwrap();

    let mut holding = first.begin_write().unwrap();
    let found = holding.balances_for_update(&scope(), &[ngn()]).unwrap();
    assert_eq!(found.get(LedgerAccount::Fixed(AccountKind::Pending), ngn()), 0);
    std::thread::scope(|threads| {
        let crediting = threads.spawn(|| {
            let mut session = second.begin_write().unwrap();
            let credit = LedgerTransactionBuilder::new()
                .transfer(prepaid.clone(), AccountKind::Pending, ngn(), 50)
                .finish("ltx_credit".into(), "cus_1", "test");
            session.post_ledger_transaction(&scope(), &credit, 1).unwrap();
            session.commit().unwrap();
        });
        crate::backend::wait_for_a_lock_wait(&url);
        let again = holding.balances_for_update(&scope(), &[ngn()]).unwrap();
        assert_eq!(again.get(LedgerAccount::Fixed(AccountKind::Pending), ngn()), 0, "still missing: it waits");
        holding
            .post_ledger_transaction(&scope(), &transfer("ltx_own", AccountKind::External, AccountKind::Pending, 30), 2)
            .unwrap();
        let own = holding.balances_for_update(&scope(), &[ngn()]).unwrap();
        assert_eq!(own.get(LedgerAccount::Fixed(AccountKind::Pending), ngn()), 30);
        holding.commit().unwrap();
        crediting.join().unwrap();
    });
    assert_eq!(committed_balance(&first, AccountKind::Pending), 80);
    // (The prepaid account's customer is not stored, which verification reports; the balances
    // themselves match their postings.)
    let report = first.begin_read().unwrap().verify_ledger(None).unwrap();
    assert!(report.balance_mismatches.is_empty() && report.negative_balances.is_empty(), "{report:?}");
}

/// The other way round: a process waiting for the available row sees, once it holds it, the rows
/// the holder made (its lock's second statement takes its snapshot after the wait), instead of
/// remembering them as missing.
#[test]
fn a_process_that_waited_for_the_available_row_sees_the_rows_the_holder_made() {
    let Some((first, second, url)) = two_stores() else { return };
    fund_available_only(&first, 1_000);
    let mut holding = first.begin_write().unwrap();
    holding.balances_for_update(&scope(), &[ngn()]).unwrap();
    holding
        .post_ledger_transaction(&scope(), &transfer("ltx_made", AccountKind::External, AccountKind::Pending, 50), 1)
        .unwrap();
    std::thread::scope(|threads| {
        let waiting = threads.spawn(|| {
            let mut session = second.begin_write().unwrap();
            let seen = session
                .in_savepoint(|tx| tx.balances_for_update(&scope(), &[ngn()]))
                .unwrap()
                .get(LedgerAccount::Fixed(AccountKind::Pending), ngn());
            let seen_again = session
                .in_savepoint(|tx| tx.balances_for_update(&scope(), &[ngn()]))
                .unwrap()
                .get(LedgerAccount::Fixed(AccountKind::Pending), ngn());
            session.commit().unwrap();
            (seen, seen_again)
        });
        crate::backend::wait_for_a_lock_wait(&url);
        holding.commit().unwrap();
        assert_eq!(waiting.join().unwrap(), (50, 50), "the holder's row, seen once the lock is held");
    });
}

/// The queue of writes sent ahead is bounded: a savepoint that makes more writes than it holds
/// (`POSTGRES_DEFERRED_WRITES_MAX`) sends them in pipelines of that size, and all are kept.
#[test]
fn a_savepoint_with_more_writes_than_the_queue_holds_sends_them_in_bounded_pipelines() {
    let Some(store) = store() else { return };
    let queue_max = harepay::limits::POSTGRES_DEFERRED_WRITES_MAX;
    let writes = 2 * queue_max + queue_max / 2;
    let ids: Vec<String> = (0..writes).map(|index| format!("evt_{index:04}")).collect();
    let mut session = store.begin_write().unwrap();
    // Its statement prepared first (a round trip of its own, once per connection).
    session.in_savepoint(|tx| tx.append_event(&event("evt_warm"))).unwrap();
    let before = store.round_trips();
    session
        .in_savepoint(|tx| {
            for id in &ids {
                tx.append_event(&event(id))?;
            }
            Ok::<(), StoreError>(())
        })
        .unwrap();
    // The savepoint's begin and the writes fill the queue twice; the rest go with its end.
    assert_eq!(store.round_trips() - before, 3);
    session.commit().unwrap();
    let read = store.begin_read().unwrap();
    assert!(ids.iter().all(|id| read.event_exists(&scope(), id).unwrap()));
}
