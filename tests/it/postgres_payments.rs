//! Payments across processes on PostgreSQL: two `PostgresStore`s on one database stand for two
//! harepay processes. A decision reads its payment with `get_payment_for_update`, so a second
//! process deciding on the same payment waits for the first to commit and then sees its state,
//! never the one before. Skipped loudly without a cluster.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use harepay::engine::SequentialIds;
use harepay::engine::ledger::Balances;
use harepay::engine::money::{Asset, Money};
use harepay::engine::payment::{self, NewPaymentIntent, PaymentIntent, PaymentMethod, PaymentStatus};
use harepay::engine::principal::{Mode, Scope};
use harepay::engine::rail::Rail;
use harepay::engine::rules::PaymentRules;
use harepay::store::postgres::PostgresStore;
use harepay::store::{MerchantRecord, Store, StoreError};

/// How long the first process holds the payment while the second asks for it: long enough that
/// a second process that did not wait would read the payment before the first one's change.
const FIRST_PROCESS_HOLDS_MS: u64 = 300;

fn scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

fn new_payment(id: &str) -> PaymentIntent {
    let request = NewPaymentIntent {
        amount: Money::new(Asset::lookup("NGN").unwrap(), 1_000).unwrap(),
        network: None,
        method: PaymentMethod::BankTransfer,
        rail: Rail::Rubies,
        settle_as: None,
        customer: None,
        description: None,
        metadata: BTreeMap::new(),
        expires_in_ms: None,
    };
    payment::create_payment_intent(&scope(), request, &PaymentRules::default(), id.to_owned(), 10).unwrap()
}

#[test]
fn a_second_process_waits_for_the_first_decision_on_a_payment_and_sees_it() {
    let Some(url) = crate::backend::fresh_postgres_database() else { return };
    let (first, second) = (PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap());
    let mut session = first.begin_write().unwrap();
    session.insert_merchant(&MerchantRecord { id: "mch_1".into(), name: "One".into(), created_at_ms: 0 }).unwrap();
    session.insert_payment(&new_payment("pi_1")).unwrap();
    session.commit().unwrap();
    let (locked, first_has_locked) = mpsc::channel();
    let seen_by_second = thread::scope(|threads| {
        threads.spawn(|| {
            let mut session = first.begin_write().unwrap();
            let current = session.get_payment_for_update(&scope(), "pi_1").unwrap().unwrap();
            locked.send(()).unwrap();
            thread::sleep(Duration::from_millis(FIRST_PROCESS_HOLDS_MS));
            let mut ids = SequentialIds::default();
            let (processing, _) = payment::mark_processing(&current, &mut Balances::default(), &mut ids, 11).unwrap();
            session.update_payment(&processing).unwrap();
            session.commit().unwrap();
        });
        let second = &second;
        threads
            .spawn(move || {
                first_has_locked.recv().unwrap();
                let mut session = second.begin_write().unwrap();
                let seen = session.get_payment_for_update(&scope(), "pi_1").unwrap().unwrap().status;
                session.commit().unwrap();
                seen
            })
            .join()
            .unwrap()
    });
    assert_eq!(
        seen_by_second,
        PaymentStatus::Processing,
        "the second process read the payment before the first's change"
    );
}

/// A payment id stored by another process is `Conflict`, and the session goes on.
#[test]
fn a_payment_id_stored_by_another_process_is_a_conflict_that_does_not_abort_the_session() {
    let Some(url) = crate::backend::fresh_postgres_database() else { return };
    let (first, second) = (PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap());
    let mut session = first.begin_write().unwrap();
    session.insert_payment(&new_payment("pi_1")).unwrap();
    session.commit().unwrap();
    let mut session = second.begin_write().unwrap();
    let refused = session.insert_payment(&new_payment("pi_1"));
    assert!(matches!(refused, Err(StoreError::Conflict { what: "payment intent" })), "{refused:?}");
    session.insert_payment(&new_payment("pi_2")).unwrap();
    session.commit().unwrap();
    assert!(first.begin_read().unwrap().get_payment(&scope(), "pi_2").unwrap().is_some());
}
