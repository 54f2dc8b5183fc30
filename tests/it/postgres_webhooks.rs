//! PostgreSQL: webhook fan-out and endpoints across processes. Two `PostgresStore`s on one fresh
//! database stand for two harepay processes; each session is a transaction of one of them.

use std::time::{Duration, Instant};

use harepay::engine::principal::{Mode, Scope};
use harepay::engine::webhook::{EndpointStatus, EventSelection, WebhookEndpoint};
use harepay::limits::WEBHOOK_FANOUT_BATCH_MAX_EVENTS;
use harepay::store::postgres::PostgresStore;
use harepay::store::{EventRecord, Store, StoreWrite};

use crate::backend::fresh_postgres_database;

/// Long enough for a session that is not blocked to finish its statement many times over.
const BLOCKED_FOR: Duration = Duration::from_millis(400);

fn two_processes() -> Option<(PostgresStore, PostgresStore)> {
    let url = fresh_postgres_database()?;
    Some((PostgresStore::open(&url).unwrap(), PostgresStore::open(&url).unwrap()))
}

fn test_scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

fn append(session: &mut dyn StoreWrite, id: &str) {
    let record = EventRecord {
        id: id.into(),
        scope: test_scope(),
        event_type: "payment_intent.succeeded".into(),
        object_id: "pi_1".into(),
        payload_json: "{}".into(),
        created_at_ms: 0,
    };
    session.append_event(&record).unwrap();
}

/// One fan-out pass as `app::webhooks::fan_out` makes it: the events after the cursor, and the
/// cursor moved to the last of them, in one write. Returns the events' ids.
fn fan_out(store: &dyn Store) -> Vec<String> {
    let mut session = store.begin_write().unwrap();
    let cursor = session.webhook_fanout_cursor().unwrap();
    let events = session.events_after(cursor, WEBHOOK_FANOUT_BATCH_MAX_EVENTS).unwrap();
    if let Some(last) = events.last() {
        session.set_webhook_fanout_cursor(last.seq).unwrap();
    }
    session.commit().unwrap();
    events.into_iter().map(|event| event.id).collect()
}

/// Fan-out passes until `count` events came out (or a generous deadline): a transaction running
/// anywhere on the cluster, another test's included, holds events back until it ends.
fn fan_out_until(store: &dyn Store, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut fanned_out = Vec::new();
    while fanned_out.len() < count && Instant::now() < deadline {
        fanned_out.extend(fan_out(store));
        std::thread::sleep(Duration::from_millis(20));
    }
    fanned_out
}

fn endpoint(id: &str) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.into(),
        scope: test_scope(),
        url: "https://hooks.example.com/harepay".into(),
        events: EventSelection::All,
        secret_sealed: vec![1, 2, 3],
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        consecutive_failures: 0,
        after_event_seq: 0,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

/// Session 1 writes event A and stays open; session 2 writes B and commits. A has the smaller seq;
/// a cursor moved past B would never come back for A. The fan-out takes neither while A's
/// transaction runs (B's is newer than it), then both, A first.
#[test]
fn the_fan_out_waits_for_an_event_whose_transaction_is_still_open() {
    let Some((first, second)) = two_processes() else { return };
    let mut open = first.begin_write().unwrap();
    append(&mut *open, "evt_a");
    let mut other = second.begin_write().unwrap();
    append(&mut *other, "evt_b");
    other.commit().unwrap();

    assert_eq!(fan_out(&second), Vec::<String>::new(), "nothing passes the open transaction's event");
    open.commit().unwrap();
    assert_eq!(fan_out_until(&second, 2), ["evt_a", "evt_b"]);
    assert_eq!(fan_out(&first), Vec::<String>::new(), "each event is fanned out once");
}

/// The order a seq cursor gets wrong even with the running-transaction filter: session 2 began
/// writing first (an older transaction), session 1 then drew seq for A, session 2 drew a larger
/// seq for B and committed. B's transaction is older than every running one, so B goes out now;
/// A must still go out once its transaction commits, though its seq is smaller than B's.
#[test]
fn an_event_with_a_smaller_seq_from_a_younger_transaction_is_not_skipped() {
    let Some((first, second)) = two_processes() else { return };
    let mut older = second.begin_write().unwrap();
    append(&mut *older, "evt_c");
    let mut younger = first.begin_write().unwrap();
    append(&mut *younger, "evt_a");
    append(&mut *older, "evt_b");
    older.commit().unwrap();

    assert_eq!(fan_out_until(&second, 2), ["evt_c", "evt_b"]);
    younger.commit().unwrap();
    assert_eq!(fan_out_until(&second, 1), ["evt_a"], "the event with the smaller seq is fanned out once it commits");
    assert_eq!(fan_out(&second), Vec::<String>::new());
}

/// Two fan-outs at once (a delivery lease changing hands): the second waits on the cursor until
/// the first commits, then starts where the first stopped, so no event is fanned out twice.
#[test]
fn a_second_fan_out_waits_for_the_first_and_starts_where_it_stopped() {
    let Some((first, second)) = two_processes() else { return };
    let mut writer = first.begin_write().unwrap();
    append(&mut *writer, "evt_1");
    writer.commit().unwrap();

    let mut running = first.begin_write().unwrap();
    let cursor = running.webhook_fanout_cursor().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Vec::new();
    while events.is_empty() && Instant::now() < deadline {
        // Each statement sees the transactions that ended meanwhile anywhere on the cluster.
        events = running.events_after(cursor, WEBHOOK_FANOUT_BATCH_MAX_EVENTS).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(events.len(), 1);
    running.set_webhook_fanout_cursor(events[0].seq).unwrap();
    std::thread::scope(|threads| {
        let waiting = threads.spawn(|| fan_out(&second));
        std::thread::sleep(BLOCKED_FOR);
        assert!(!waiting.is_finished(), "the second fan-out read the cursor while the first held it");
        running.commit().unwrap();
        assert_eq!(waiting.join().unwrap(), Vec::<String>::new(), "the second fan-out repeated the first's events");
    });
}

/// The endpoint cap is a count read in the creating transaction: two processes creating the
/// scope's last allowed endpoint at once must not both see room. The second count waits for the
/// first creation to commit, then counts it.
#[test]
fn counting_a_scopes_endpoints_in_a_write_waits_for_a_concurrent_creation() {
    let Some((first, second)) = two_processes() else { return };
    let mut creating = first.begin_write().unwrap();
    assert!(creating.list_webhook_endpoints(&test_scope()).unwrap().is_empty());
    creating.insert_webhook_endpoint(&endpoint("we_1")).unwrap();
    std::thread::scope(|threads| {
        let counting = threads.spawn(|| {
            let session = second.begin_write().unwrap();
            session.list_webhook_endpoints(&test_scope()).unwrap().len()
        });
        std::thread::sleep(BLOCKED_FOR);
        assert!(!counting.is_finished(), "the second count ran beside an uncommitted creation");
        creating.commit().unwrap();
        assert_eq!(counting.join().unwrap(), 1, "the second count saw the first creation");
    });
    // A read session does not lock: it counts what is committed.
    assert_eq!(second.begin_read().unwrap().list_webhook_endpoints(&test_scope()).unwrap().len(), 1);
}

/// An attempt's recorder and a delete of the endpoint read-modify-write the same row: the second
/// waits for the first and reads what it wrote, so a delete is never undone by a stale write.
#[test]
fn an_endpoint_read_in_a_write_waits_for_a_concurrent_change_and_sees_it() {
    let Some((first, second)) = two_processes() else { return };
    let mut setup = first.begin_write().unwrap();
    setup.insert_webhook_endpoint(&endpoint("we_1")).unwrap();
    setup.commit().unwrap();

    let mut deleting = first.begin_write().unwrap();
    let mut deleted = deleting.get_webhook_endpoint(&test_scope(), "we_1").unwrap().unwrap();
    deleted.status = EndpointStatus::Deleted;
    deleting.update_webhook_endpoint(&deleted).unwrap();
    std::thread::scope(|threads| {
        let recording = threads.spawn(|| {
            let session = second.begin_write().unwrap();
            session.get_webhook_endpoint(&test_scope(), "we_1").unwrap().unwrap().status
        });
        std::thread::sleep(BLOCKED_FOR);
        assert!(!recording.is_finished(), "the endpoint was read beside an uncommitted change");
        deleting.commit().unwrap();
        assert_eq!(recording.join().unwrap(), EndpointStatus::Deleted);
    });
}
