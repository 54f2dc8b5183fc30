//! The scheduler's due steps on PostgreSQL, across processes: a write session (a scheduler batch)
//! takes the steps it returns (their rows locked until it ends, `SKIP LOCKED`), so a second
//! server's batch leaves out what the first is working on instead of doing it again, takes only
//! what is still due once the first has committed, and takes over what a batch that died held.

use std::collections::BTreeMap;

use harepay::engine::money::{Asset, Money};
use harepay::engine::payout::{Destination, Payout, PayoutStatus};
use harepay::engine::principal::{Mode, Scope};
use harepay::engine::rail::Rail;
use harepay::store::postgres::PostgresStore;
use harepay::store::{DueStep, ScheduledStep, StepRetry, Store};

use crate::backend::fresh_postgres_database;

const NOW_MS: i64 = 1_000;

fn test_scope(merchant_id: &str) -> Scope {
    Scope { merchant_id: merchant_id.into(), mode: Mode::Test }
}

fn test_payout(merchant_id: &str, id: &str, simulate_at_ms: i64) -> Payout {
    Payout {
        id: id.into(),
        scope: test_scope(merchant_id),
        amount: Money::new(Asset::lookup("NGN").unwrap(), 1_000).unwrap(),
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
        simulate_at_ms: Some(simulate_at_ms),
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn ids(due_steps: Vec<DueStep>) -> Vec<String> {
    due_steps.into_iter().map(|due| due.object_id).collect()
}

#[test]
fn a_due_step_is_taken_by_one_batch_at_a_time_and_released_when_its_batch_ends() {
    let Some(url) = fresh_postgres_database() else { return };
    let (first, second) = (PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap());
    let mut session = first.begin_write().unwrap();
    for (merchant, id) in [("mch_a", "po_a1"), ("mch_b", "po_b1"), ("mch_a", "po_a2")] {
        session.insert_payout(&test_payout(merchant, id, 10)).unwrap();
    }
    session.commit().unwrap();

    let mut batch = first.begin_write().unwrap();
    assert_eq!(ids(batch.due_test_payouts(NOW_MS, 2).unwrap()), ["po_a1", "po_b1"], "merchants in turns");
    let rival = second.begin_write().unwrap();
    assert_eq!(
        ids(rival.due_test_payouts(NOW_MS, 10).unwrap()),
        ["po_a2"],
        "the rival batch leaves out what the first holds, without waiting for it"
    );
    let looking = second.begin_read().unwrap();
    assert_eq!(ids(looking.due_test_payouts(NOW_MS, 10).unwrap()).len(), 3, "a read only looks: it takes nothing");
    drop(looking);

    // The first batch moves po_a1 on (its next step later) and fails po_b1 (retry later).
    let mut moved = batch.get_payout_for_update(&test_scope("mch_a"), "po_a1").unwrap().unwrap();
    moved.status = PayoutStatus::Processing;
    moved.simulate_at_ms = Some(NOW_MS + 5_000);
    batch.update_payout(&moved).unwrap();
    batch
        .record_step_failure(&StepRetry {
            step: ScheduledStep::AdvanceTestPayout,
            object_id: "po_b1".into(),
            scope: test_scope("mch_b"),
            attempts: 1,
            last_error: "rail down".into(),
            last_attempt_at_ms: NOW_MS,
            next_attempt_at_ms: Some(NOW_MS + 60_000),
        })
        .unwrap();
    batch.commit().unwrap();
    drop(rival);

    let rival = second.begin_write().unwrap();
    assert_eq!(
        ids(rival.due_test_payouts(NOW_MS, 10).unwrap()),
        ["po_a2"],
        "once the first batch committed, what it did is no longer due: neither moved twice nor retried early"
    );
    // A batch that ends without committing (its process died: the server drops its connection
    // and locks) gives its steps back.
    drop(rival);
    let after_the_crash = first.begin_write().unwrap();
    assert_eq!(ids(after_the_crash.due_test_payouts(NOW_MS, 10).unwrap()), ["po_a2"]);
    drop(after_the_crash);
    let retry_due_ms = NOW_MS + 60_000;
    let later = second.begin_write().unwrap();
    assert_eq!(ids(later.due_test_payouts(retry_due_ms, 10).unwrap()), ["po_b1", "po_a2", "po_a1"]);
}
