//! PostgreSQL: usage events, period closes and test clocks across processes. Two
//! `PostgresStore`s on one fresh database stand for two harepay processes.

use std::collections::BTreeMap;
use std::time::Duration;

use harepay::engine::catalog::{self, NewPrice, PriceModel};
use harepay::engine::customer::{self, NewCustomer};
use harepay::engine::interval::Interval;
use harepay::engine::money::Asset;
use harepay::engine::principal::{Mode, Scope};
use harepay::engine::subscription::{self, NewSubscription};
use harepay::store::postgres::PostgresStore;
use harepay::store::{PeriodCloseRecord, Store, StoreError, StoreWrite, UsageEventRecord};

use crate::backend::fresh_postgres_database;

/// Long enough for a session that is not blocked to finish its statement many times over.
const BLOCKED_FOR: Duration = Duration::from_millis(400);

fn test_scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

/// Two stores on a fresh database holding subscription `sub_1`.
fn two_processes_with_a_subscription() -> Option<(PostgresStore, PostgresStore)> {
    let url = fresh_postgres_database()?;
    let (first, second) = (PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap());
    let scope = test_scope();
    let request = NewCustomer { email: "ada@example.com".into(), name: None, phone: None, metadata: BTreeMap::new() };
    let customer = customer::create_customer(&scope, request, "cus_1".into(), 0).unwrap();
    let price_request = NewPrice {
        product_id: None,
        model: PriceModel::Usage,
        currency: Asset::lookup("NGN").unwrap(),
        unit_amount_minor: 100,
        included_units: 0,
        auto_charge: false,
        interval: Interval::from_alias("monthly").unwrap(),
        trial_period_days: 0,
        active: true,
    };
    let price = catalog::create_price(&scope, price_request, None, "price_1".into(), 0).unwrap();
    let subscription = subscription::create_subscription(
        &scope,
        &customer,
        &price,
        NewSubscription { metadata: BTreeMap::new() },
        "sub_1".into(),
        0,
    )
    .unwrap();
    let mut session = first.begin_write().unwrap();
    session.insert_customer(&customer).unwrap();
    session.insert_price(&price).unwrap();
    session.insert_subscription(&subscription).unwrap();
    session.commit().unwrap();
    Some((first, second))
}

fn usage_event(event_id: &str) -> UsageEventRecord {
    UsageEventRecord {
        subscription_id: "sub_1".into(),
        event_id: event_id.into(),
        quantity: 3,
        period_start_ms: 0,
        created_at_ms: 0,
    }
}

fn period_close(period_start_ms: i64) -> PeriodCloseRecord {
    PeriodCloseRecord {
        subscription_id: "sub_1".into(),
        period_start_ms,
        period_end_ms: period_start_ms + 1,
        invoice_id: None,
        closed_at_ms: 0,
    }
}

/// Runs `first_write` in a session of `first` left open, then `racing` in a session of `second`
/// on another thread: `racing` must wait until the first session commits. Returns what `racing`
/// returned, after committing its session.
fn race<T: Send>(
    first: &PostgresStore,
    second: &PostgresStore,
    first_write: impl FnOnce(&mut dyn StoreWrite),
    racing: impl FnOnce(&mut dyn StoreWrite) -> T + Send,
) -> T {
    let mut holding = first.begin_write().unwrap();
    first_write(&mut *holding);
    std::thread::scope(|threads| {
        let waiting = threads.spawn(|| {
            let mut session = second.begin_write().unwrap();
            let outcome = racing(&mut *session);
            session.commit().unwrap();
            outcome
        });
        std::thread::sleep(BLOCKED_FOR);
        assert!(!waiting.is_finished(), "the second process did not wait for the first one's commit");
        holding.commit().unwrap();
        waiting.join().unwrap()
    })
}

/// The same usage event reported through two processes at once: counted once. The second insert
/// waits, then is a `Conflict` that leaves its transaction usable (the caller answers with the
/// event already counted, in the same transaction).
#[test]
fn a_usage_event_counted_by_another_process_meanwhile_is_a_conflict_that_leaves_the_transaction_usable() {
    let Some((first, second)) = two_processes_with_a_subscription() else { return };
    let refused = race(
        &first,
        &second,
        |session| session.insert_usage_event(&usage_event("evt_1")).unwrap(),
        |session| {
            let refused = session.insert_usage_event(&usage_event("evt_1"));
            session.insert_usage_event(&usage_event("evt_2")).unwrap();
            refused
        },
    );
    assert!(matches!(refused, Err(StoreError::Conflict { what: "usage event" })), "{refused:?}");
    let read = first.begin_read().unwrap();
    assert!(read.get_usage_event("sub_1", "evt_1").unwrap().is_some());
    assert!(read.get_usage_event("sub_1", "evt_2").unwrap().is_some(), "the transaction after the conflict committed");
}

/// A period closed by two processes at once is closed once; the second is refused as a `Conflict`
/// that leaves its transaction usable.
#[test]
fn a_period_closed_by_another_process_meanwhile_is_a_conflict_that_leaves_the_transaction_usable() {
    let Some((first, second)) = two_processes_with_a_subscription() else { return };
    let refused = race(
        &first,
        &second,
        |session| session.insert_period_close(&period_close(0)).unwrap(),
        |session| {
            let refused = session.insert_period_close(&period_close(0));
            session.insert_period_close(&period_close(10)).unwrap();
            refused
        },
    );
    assert!(matches!(refused, Err(StoreError::Conflict { what: "period close" })), "{refused:?}");
    let closes = first.begin_read().unwrap().list_period_closes("sub_1", 10).unwrap();
    assert_eq!(closes.iter().map(|close| close.period_start_ms).collect::<Vec<_>>(), [10, 0]);
}

/// Two advances of one merchant's test clock, each reading the offset and writing it moved on: the
/// second must not build on the offset the first is replacing (one advance would be lost). Both
/// read it in their write (`FOR SHARE`); each write then needs the row alone, so one of them is
/// refused as `Contention` (a deadlock PostgreSQL breaks) and the other's advance stands whole.
#[test]
fn two_advances_of_a_test_clock_at_once_never_lose_one() {
    let Some((first, second)) = two_processes_with_a_subscription() else { return };
    let mut setup = first.begin_write().unwrap();
    setup.set_test_clock_offset("mch_1", 1_000, 0).unwrap();
    setup.commit().unwrap();

    let advance = |store: &PostgresStore, by_ms: i64, other_has_read: &std::sync::Barrier| {
        let mut session = store.begin_write().unwrap();
        let offset_ms = session.test_clock_offset_ms("mch_1").unwrap();
        other_has_read.wait();
        session.set_test_clock_offset("mch_1", offset_ms + by_ms, 0)?;
        session.commit()?;
        Ok::<i64, StoreError>(offset_ms + by_ms)
    };
    let both_read = std::sync::Barrier::new(2);
    let (day, hour) = std::thread::scope(|threads| {
        let day = threads.spawn(|| advance(&first, 86_400_000, &both_read));
        let hour = threads.spawn(|| advance(&second, 3_600_000, &both_read));
        (day.join().unwrap(), hour.join().unwrap())
    });
    let stored = first.begin_read().unwrap().test_clock_offset_ms("mch_1").unwrap();
    match (day, hour) {
        (Ok(day), Err(StoreError::Contention(_))) => assert_eq!(stored, day),
        (Err(StoreError::Contention(_)), Ok(hour)) => assert_eq!(stored, hour),
        outcomes => panic!("one advance must win whole and the other be refused: {outcomes:?}"),
    }
}
