//! PostgreSQL: disputes across processes. Two `PostgresStore`s on one fresh database stand for two
//! harepay processes.

use std::time::Duration;

use harepay::engine::dispute::{Dispute, DisputeEvidence, DisputeReason, DisputeStatus};
use harepay::engine::money::{Asset, Money};
use harepay::engine::principal::{Mode, Scope};
use harepay::store::postgres::PostgresStore;
use harepay::store::{Store, StoreError};

use crate::backend::fresh_postgres_database;

/// Long enough for a session that is not blocked to finish its statement many times over.
const BLOCKED_FOR: Duration = Duration::from_millis(400);

fn test_scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

fn dispute(id: &str, payment_intent_id: &str) -> Dispute {
    Dispute {
        id: id.into(),
        scope: test_scope(),
        payment_intent_id: payment_intent_id.into(),
        amount: Money { asset: Asset::lookup("NGN").unwrap(), amount_minor: 5_000 },
        amount_owed_minor: 0,
        reason: DisputeReason::Fraudulent,
        status: DisputeStatus::NeedsResponse,
        evidence: DisputeEvidence::default(),
        evidence_submitted_at_ms: None,
        evidence_due_by_ms: 1_000,
        simulated_outcome: None,
        created_at_ms: 0,
        updated_at_ms: 0,
        closed_at_ms: None,
    }
}

/// Two processes open a dispute on the same payment at once. The second insert waits for the
/// first to commit, then is refused as `Conflict { what: "dispute" }`, and its transaction is
/// still usable: what it did before and after the refusal commits (PostgreSQL would otherwise
/// refuse everything after an error until a rollback).
#[test]
fn a_second_dispute_of_a_payment_from_another_process_is_a_conflict_that_leaves_the_transaction_usable() {
    let Some(url) = fresh_postgres_database() else { return };
    let (first, second) = (PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap());
    let mut opening = first.begin_write().unwrap();
    opening.insert_dispute(&dispute("dp_1", "pi_1")).unwrap();
    std::thread::scope(|threads| {
        let racing = threads.spawn(|| {
            let mut session = second.begin_write().unwrap();
            session.insert_dispute(&dispute("dp_0", "pi_0")).unwrap();
            let refused = session.insert_dispute(&dispute("dp_2", "pi_1"));
            let seen = session.get_dispute_for_payment_for_update(&test_scope(), "pi_1").unwrap();
            session.insert_dispute(&dispute("dp_3", "pi_3")).unwrap();
            session.commit().unwrap();
            (refused, seen.map(|dispute| dispute.id))
        });
        std::thread::sleep(BLOCKED_FOR);
        assert!(!racing.is_finished(), "the second dispute was inserted beside the first, uncommitted");
        opening.commit().unwrap();
        let (refused, seen) = racing.join().unwrap();
        assert!(matches!(refused, Err(StoreError::Conflict { what: "dispute" })), "{refused:?}");
        assert_eq!(seen.as_deref(), Some("dp_1"));
    });
    let read = first.begin_read().unwrap();
    for (payment, expected) in [("pi_0", "dp_0"), ("pi_1", "dp_1"), ("pi_3", "dp_3")] {
        assert_eq!(read.get_dispute_for_payment(&test_scope(), payment).unwrap().unwrap().id, expected);
    }
}
