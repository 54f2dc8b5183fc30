//! What the PostgreSQL session does to save round trips, attacked: it remembers the balance rows
//! it holds locked (and their balances) instead of asking again, and sends a savepoint's RELEASE
//! with the next savepoint statement. A savepoint rolled back must make it forget what it knew
//! (else an overflow check would pass on a stale balance, or a read would show an undone posting);
//! a savepoint released but not yet sent must behave as released (a later rollback of a sibling
//! keeps it, a failure after it is undone by the enclosing rollback). Skipped loudly without a
//! cluster.

use harepay::engine::ledger::{AccountKind, LedgerAccount, LedgerTransaction, LedgerTransactionBuilder};
use harepay::engine::money::{Asset, AssetRef};
use harepay::engine::principal::{Mode, Scope};
use harepay::store::postgres::PostgresStore;
use harepay::store::{MerchantRecord, Store, StoreError, StoreWrite};

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
