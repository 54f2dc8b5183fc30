//! The scheduler under stuck work: a step that fails forever (an error, or an engine assertion
//! that panics) is retried with backoff and parked, and meanwhile every other merchant's
//! settlements and approval expiries still run on time, with a bounded log.
//!
//! Stuck work is made by editing the SQLite file the way damage or a bug would: payments whose
//! fee exceeds their amount (settling them trips an engine assertion), payments marked canceled
//! but still due to settle (a typed refusal), payouts larger than what the merchant reserved.

use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harepay::app::App;
use harepay::app::scheduler::ScheduledWorkReport;
use harepay::engine::SequentialIds;
use harepay::engine::payment::{NewPaymentIntent, PaymentMethod};
use harepay::engine::principal::Principal;
use harepay::engine::rail::Rail;
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::limits::{SCHEDULER_EXPIRY_BATCH_MAX_STEPS, SCHEDULER_TEST_RAIL_BATCH_MAX_STEPS};
use harepay::ops::ReadOperation;
use harepay::ops::audit::list_audit_log::{ListAuditLog, ListAuditLogArgs};
use harepay::ops::audit::list_events::{ListEvents, ListEventsArgs};
use harepay::ops::payments::create_payment_intent::CreatePaymentIntentCommand;
use harepay::ops::payments::get_payment::{GetPayment, GetPaymentArgs};
use harepay::store::ScheduledStep;
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::app_layer::{ManualClock, context, ngn, write};
use crate::backend::DirectConnection;
use crate::support::{Client, Harepay, MAKER_KEY};

/// Opens the database file behind harepay's back, as an attacker with disk access or a bug would.
fn tamper(db: &std::path::Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(db).expect("open the database file");
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    connection
}

/// Inserts `count` copies of a row of `table` (new ids `{prefix}{n}`), each changed by `edit`,
/// an `UPDATE template SET …` with `?1` bound to the copy's number.
fn clone_rows(db: &std::path::Path, table: &str, template_id: &str, prefix: &str, count: usize, edit: &str) {
    let mut connection = tamper(db);
    let transaction = connection.transaction().unwrap();
    transaction
        .execute(&format!("CREATE TEMP TABLE template AS SELECT * FROM {table} WHERE id = ?1"), [template_id])
        .unwrap();
    for n in 0..count as i64 {
        transaction.execute("UPDATE template SET seq = NULL, id = ?1", [format!("{prefix}{n:04}")]).unwrap();
        transaction.execute(edit, [n]).unwrap();
        transaction.execute(&format!("INSERT INTO {table} SELECT * FROM template"), []).unwrap();
    }
    transaction.execute("DROP TABLE template", []).unwrap();
    transaction.commit().unwrap();
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    tamper(db).query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Polls `condition` every 100 ms until it holds; fails after `timeout`.
async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves `key` on stdio with extra environment, keeping every stderr line.
async fn connect_capturing_stderr(
    harepay: &Harepay,
    key: &str,
    environment: &[(&str, &str)],
) -> (Client, Arc<Mutex<Vec<String>>>) {
    let mut command = harepay.command(key, &[]);
    for (name, value) in environment {
        command.env(name, value);
    }
    let (transport, stderr) =
        TokioChildProcess::builder(command).stderr(Stdio::piped()).spawn().expect("spawn harepay stdio");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut reader = BufReader::new(stderr.expect("stderr is piped")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let service = ().serve(transport).await.expect("MCP handshake");
    (Client { service }, lines)
}

/// Sets merchant A (the demo merchant) up with real objects to copy: a payment awaiting the
/// payer and a payout awaiting approval. The scheduler does nothing yet (auto-settle off).
async fn merchant_a_templates(harepay: &Harepay) -> (String, String) {
    let a = harepay.connect_env(MAKER_KEY, &[("HAREPAY_APPROVAL_THRESHOLDS", "NGN=100000")]).await;
    a.fund_ngn(1_000_000, "fund-a").await;
    let payout = a.payout(500_000, "payout-a").await;
    assert_eq!(payout["object"]["status"], "pending_approval", "{payout}");
    let payout_id = payout["object"]["id"].as_str().unwrap().to_owned();
    let payment_id = a.create_payment(10_000, "pay-a").await;
    a.close().await;
    (payment_id, payout_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_work_of_one_merchant_neither_starves_another_nor_floods_the_log() {
    if crate::backend::skip_on_postgres(
        "stuck work is made by copying rows in SQLite's file with SQLite's SQL; postgres_scheduler covers the steps' exactly-once taking",
    ) {
        return;
    }
    let harepay = Harepay::new();
    let (payment_template, payout_template) = merchant_a_templates(&harepay).await;
    // More stuck items of each kind than one batch takes, all older than anything else.
    let stuck_payments = SCHEDULER_TEST_RAIL_BATCH_MAX_STEPS as usize + 50;
    let stuck_payouts = SCHEDULER_TEST_RAIL_BATCH_MAX_STEPS as usize + 50;
    let stuck_approvals = SCHEDULER_EXPIRY_BATCH_MAX_STEPS as usize + 50;
    // Even copies panic (a fee above the amount trips the engine's transfer assertion); odd
    // copies are canceled yet due to settle (a typed invalid_state refusal).
    clone_rows(
        &harepay.db,
        "payment_intents",
        &payment_template,
        "pi_stuck_",
        stuck_payments,
        "UPDATE template SET auto_settle_at_ms = 1 + ?1, \
         status = CASE WHEN ?1 % 2 = 0 THEN 'requires_action' ELSE 'canceled' END, \
         fee_minor = CASE WHEN ?1 % 2 = 0 THEN amount_minor + 1 ELSE fee_minor END",
    );
    // Payouts far larger than A ever reserved: releasing or paying them cannot balance.
    clone_rows(
        &harepay.db,
        "payouts",
        &payout_template,
        "po_stuck_expiry_",
        stuck_approvals,
        "UPDATE template SET approval_expires_at_ms = 1 + ?1, amount_minor = 1000000000000000",
    );
    clone_rows(
        &harepay.db,
        "payouts",
        &payout_template,
        "po_stuck_rail_",
        stuck_payouts,
        "UPDATE template SET status = 'processing', approval_threshold_minor = NULL, approval_expires_at_ms = NULL, \
         simulate_at_ms = 1 + ?1, amount_minor = 1000000000000000",
    );
    let stuck_total = (stuck_payments + stuck_payouts + stuck_approvals) as i64;

    // Merchant B, served by a process whose scheduler meets all that stuck work.
    let b_key = harepay.create_key(&["--owner", "bea", "--new-merchant", "Bea Ltd"]);
    let started = Instant::now();
    let (b, stderr) = connect_capturing_stderr(
        &harepay,
        &b_key,
        &[
            ("HAREPAY_TEST_AUTO_SETTLE_MS", "300"),
            ("HAREPAY_APPROVAL_THRESHOLDS", "NGN=100000"),
            ("HAREPAY_APPROVAL_EXPIRY_MS", "2000"),
            ("HAREPAY_SCHEDULER_RETRY", "attempts=4,base_ms=500,max_ms=1000"),
        ],
    )
    .await;

    // B's payment settles by itself while A's stuck settlements are due.
    let payment_id = b.create_payment(1_000_000, "pay-b").await;
    wait_until(Duration::from_secs(20), "B's payment to settle", || async {
        b.call("get_payment", json!({"id": payment_id})).await["payment_intent"]["status"] == "succeeded"
    })
    .await;
    // B's approval expires on time while A's stuck expiries are due.
    let payout = b.payout(500_000, "payout-b").await;
    assert_eq!(payout["object"]["status"], "pending_approval", "{payout}");
    let payout_id = payout["object"]["id"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(20), "B's approval to expire", || async {
        let payout = b.call("get_payout", json!({"id": payout_id})).await;
        payout["status"] == "canceled" && payout["cancellation_reason"] == "approval_expired"
    })
    .await;
    let payout = b.call("get_payout", json!({"id": payout_id})).await;
    let open_ms = payout["updated_at_ms"].as_i64().unwrap() - payout["created_at_ms"].as_i64().unwrap();
    assert!(open_ms >= 2_000, "expired {open_ms} ms after creation, before its window closed");
    assert_eq!(b.balance("NGN").await.2, 0, "the expiry released B's reserved funds");

    // A's stuck items are retried with exactly the policy's backoff, then all parked.
    let retries = |sql: &str| count(&harepay.db, sql);
    wait_until(Duration::from_secs(90), "every stuck step to be parked", || async {
        let wrong_backoffs = retries(
            "SELECT COUNT(*) FROM scheduled_step_retries WHERE next_attempt_at_ms IS NOT NULL AND \
             next_attempt_at_ms - last_attempt_at_ms != MIN(500 * (1 << (attempts - 1)), 1000)",
        );
        assert_eq!(wrong_backoffs, 0, "a retry was scheduled off the backoff policy");
        retries("SELECT COUNT(*) FROM scheduled_step_retries WHERE next_attempt_at_ms IS NULL") == stuck_total
    })
    .await;
    assert_eq!(retries("SELECT COUNT(*) FROM scheduled_step_retries"), stuck_total, "only A's stuck steps failed");
    assert_eq!(retries("SELECT MIN(attempts) = 4 AND MAX(attempts) = 4 FROM scheduled_step_retries"), 1);
    let parked_by_step = |step: &str| {
        retries(&format!(
            "SELECT COUNT(*) FROM scheduled_step_retries WHERE step = '{step}' AND next_attempt_at_ms IS NULL"
        ))
    };
    assert_eq!(parked_by_step("settle_test_payment"), stuck_payments as i64);
    assert_eq!(parked_by_step("advance_test_payout"), stuck_payouts as i64);
    assert_eq!(parked_by_step("expire_approval"), stuck_approvals as i64);
    let panicked = retries("SELECT COUNT(*) FROM scheduled_step_retries WHERE last_error LIKE 'panicked: %'");
    assert!(panicked >= (stuck_payments / 2) as i64, "the engine assertions were caught per step: {panicked}");
    // Each parked step has one audit record by harepay and one event, committed with it.
    assert_eq!(
        retries("SELECT COUNT(*) FROM audit_log WHERE actor_owner = 'harepay' AND outcome = 'parked'"),
        stuck_total
    );
    assert_eq!(retries("SELECT COUNT(*) FROM events WHERE type = 'scheduler.step_parked'"), stuck_total);
    // Parked means parked: nothing is tried again.
    let attempts_parked = retries("SELECT SUM(attempts) FROM scheduled_step_retries");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(retries("SELECT SUM(attempts) FROM scheduled_step_retries"), attempts_parked);
    // The log stayed bounded: one line per kind and 10 s, panics reported through it.
    let elapsed_s = started.elapsed().as_secs() as usize;
    let lines = stderr.lock().unwrap().clone();
    b.close().await;
    let scheduler_lines: Vec<&String> = lines.iter().filter(|line| line.contains("scheduled step")).collect();
    assert!(
        scheduler_lines.len() <= 2 * (elapsed_s / 10 + 1),
        "{} scheduler log lines in {elapsed_s} s:\n{}",
        scheduler_lines.len(),
        scheduler_lines.iter().take(20).map(|line| line.as_str()).collect::<Vec<_>>().join("\n")
    );
    assert!(scheduler_lines.iter().any(|line| line.contains("parked")), "a parked step is logged: {lines:?}");
    assert!(!lines.iter().any(|line| line.contains("panicked at")), "a caught step panic is not printed raw");
    assert!(lines.len() <= 40, "stderr grew to {} lines", lines.len());

    // A sees what happened to its objects; the operator sees every parked step in `verify`.
    let a = harepay.connect(MAKER_KEY).await;
    let events = a.call("list_events", json!({"type": "scheduler.step_parked", "limit": 1})).await;
    let event = &events["data"][0];
    assert_eq!(event["data"]["object"], "scheduled_step", "{event}");
    assert_eq!(event["data"]["attempts"], 4, "{event}");
    assert!(event["data"]["last_error"].as_str().unwrap().chars().count() <= 301, "{event}");
    let audit = a.call("list_audit_log", json!({"limit": 1})).await;
    assert_eq!(audit["data"][0]["actor"], "harepay", "{audit}");
    assert_eq!(audit["data"][0]["outcome"], "parked", "{audit}");
    a.close().await;
    let verify = harepay.cli(&["verify"]);
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "parked steps are not a ledger fault: {report}");
    let listed = report.lines().filter(|line| line.starts_with("PARKED ")).count();
    assert_eq!(listed, harepay::limits::SCHEDULER_PARKED_STEPS_LISTED_MAX as usize);
    assert!(report.contains("PARKED expire_approval of po_stuck_expiry_0000 (mch_demo test) after 4 tries"));
    assert!(report.contains(&format!("… and {} more parked steps", stuck_total - 100)), "{report}");
}

fn due_payment_request() -> CreatePaymentIntentCommand {
    CreatePaymentIntentCommand(NewPaymentIntent {
        amount: ngn(100_000),
        network: None,
        method: PaymentMethod::BankTransfer,
        rail: Rail::Rubies,
        settle_as: None,
        customer: None,
        description: None,
        metadata: Default::default(),
        expires_in_ms: None,
    })
}

struct InjectedClock {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    clock: Arc<ManualClock>,
    app: App,
    maker: Principal,
    /// Dropped after the app (fields drop in order).
    _database: Option<crate::backend::TestDatabase>,
}

const START_MS: i64 = 1_000_000;
const AUTO_SETTLE_MS: i64 = 1_000;

/// An app on a fresh database whose test payments fall due `AUTO_SETTLE_MS` after creation.
async fn injected_clock() -> InjectedClock {
    let dir = tempfile::tempdir().unwrap();
    let (db, database) = crate::backend::installation_database(dir.path(), "scheduler.db");
    let store = crate::backend::open_store_on(&db);
    let clock = Arc::new(ManualClock(AtomicI64::new(START_MS)));
    let rules = PaymentRules { test_auto_settle_after_ms: Some(AUTO_SETTLE_MS as u64), ..PaymentRules::default() };
    let app = App::with_store(store, rules, clock.clone(), Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate(MAKER_KEY).await.unwrap();
    InjectedClock { _dir: dir, db, clock, app, maker, _database: database }
}

impl InjectedClock {
    async fn create_payment(&self, key: &str) -> String {
        let created = write(&self.app, &self.maker, "create_payment_intent", key, due_payment_request()).await;
        created["id"].as_str().unwrap().to_owned()
    }

    fn set_now(&self, now_ms: i64) {
        self.clock.0.store(now_ms, Ordering::SeqCst);
    }

    async fn tick(&self, policy: &RetryPolicy) -> ScheduledWorkReport {
        self.app.run_scheduled_work(policy).await.unwrap()
    }

    async fn status(&self, payment_id: &str) -> String {
        let args = GetPaymentArgs { id: payment_id.to_owned() };
        GetPayment::run(&context(&self.app), &self.maker, args).await.unwrap().payment_intent.status
    }
}

#[tokio::test]
async fn a_failing_step_waits_exactly_its_backoff_then_is_parked_with_an_audit_record_and_an_event() {
    let test = injected_clock().await;
    let stuck = test.create_payment("stuck").await;
    let changed = DirectConnection::open(&test.db)
        .execute("UPDATE payment_intents SET status = 'canceled' WHERE id = $1", &[&stuck]);
    assert_eq!(changed, 1);
    let policy = RetryPolicy { max_attempts: 4, backoff_base_ms: 1_000, backoff_max_ms: 3_000 };

    let mut now_ms = START_MS + AUTO_SETTLE_MS;
    for (attempts, wait_ms) in [(1, 1_000), (2, 2_000), (3, 3_000)] {
        test.set_now(now_ms);
        let report = test.tick(&policy).await;
        let [failure] = &report.failures[..] else { panic!("one failure expected: {report:?}") };
        assert_eq!((failure.step, failure.attempts), (ScheduledStep::SettleTestPayment, attempts));
        assert_eq!(failure.next_attempt_at_ms, Some(now_ms + wait_ms), "attempt {attempts}");
        assert!(failure.error.contains("canceled"), "{}", failure.error);
        // One millisecond early: not tried.
        test.set_now(now_ms + wait_ms - 1);
        assert_eq!(test.tick(&policy).await, ScheduledWorkReport::default(), "retried before its backoff");
        now_ms += wait_ms;
    }
    test.set_now(now_ms);
    let report = test.tick(&policy).await;
    let [parked] = &report.failures[..] else { panic!("one failure expected: {report:?}") };
    assert_eq!((parked.attempts, parked.next_attempt_at_ms), (4, None));

    // Parked: never picked again, however long we wait.
    test.set_now(now_ms + 30 * 24 * 60 * 60 * 1000);
    assert_eq!(test.tick(&policy).await, ScheduledWorkReport::default());
    let (listed, count) = test.app.parked_steps(10).await.unwrap();
    assert_eq!(count, 1);
    assert_eq!(
        (listed[0].object_id.as_str(), listed[0].attempts, listed[0].last_attempt_at_ms),
        (stuck.as_str(), 4, now_ms)
    );

    let args = ListAuditLogArgs { limit: None, starting_after: None };
    let audit = ListAuditLog::run(&context(&test.app), &test.maker, args).await.unwrap().data;
    let record = audit.iter().find(|record| record.outcome == "parked").expect("an audit record of the parking");
    assert_eq!(record.actor, "harepay");
    assert_eq!(record.tool, "settle_test_payment");
    assert_eq!(record.object_id.as_deref(), Some(stuck.as_str()));
    assert_eq!(record.error_type.as_deref(), Some("invalid_state"));
    let args = ListEventsArgs {
        event_type: Some("scheduler.step_parked".into()),
        object_id: None,
        limit: None,
        starting_after: None,
    };
    let events = ListEvents::run(&context(&test.app), &test.maker, args).await.unwrap().data;
    let [event] = &events[..] else { panic!("one parked event expected: {events:?}") };
    let payload = Value::Object(event.data.clone());
    assert_eq!(payload["object_id"], stuck.as_str());
    assert_eq!(payload["step"], "settle_test_payment");
    assert_eq!(payload["attempts"], 4);
    assert_eq!(payload["error_type"], "invalid_state");
    assert_eq!(payload["parked_at_ms"], now_ms);
}

#[tokio::test]
async fn a_panicking_step_undoes_only_itself_and_a_step_that_recovers_forgets_its_failures() {
    let test = injected_clock().await;
    let panicking = test.create_payment("panics").await;
    let healthy = test.create_payment("healthy").await;
    let mut database = DirectConnection::open(&test.db);
    let fee_minor = database.query_i64("SELECT fee_minor FROM payment_intents WHERE id = $1", &[&panicking]);
    database.execute("UPDATE payment_intents SET fee_minor = amount_minor + 1 WHERE id = $1", &[&panicking]);
    let policy = RetryPolicy { max_attempts: 3, backoff_base_ms: 1_000, backoff_max_ms: 1_000 };

    test.set_now(START_MS + AUTO_SETTLE_MS);
    let report = test.tick(&policy).await;
    assert_eq!(report.steps_done, 1, "{report:?}");
    let [failure] = &report.failures[..] else { panic!("one failure expected: {report:?}") };
    assert_eq!(failure.object_id, panicking);
    assert!(failure.error.starts_with("panicked: a transfer amount is never negative"), "{}", failure.error);
    assert_eq!(test.status(&healthy).await, "succeeded", "its neighbour in the batch committed");
    assert_eq!(test.status(&panicking).await, "requires_action", "the panicking step left nothing");
    assert!(test.app.verify_ledger().await.unwrap().is_sound());

    // Repaired before its next try: it settles, and its retry record is gone.
    database.execute(&format!("UPDATE payment_intents SET fee_minor = {fee_minor} WHERE id = $1"), &[&panicking]);
    test.set_now(START_MS + AUTO_SETTLE_MS + 1_000);
    let report = test.tick(&policy).await;
    assert_eq!((report.steps_done, report.failures.len()), (1, 0), "{report:?}");
    assert_eq!(test.status(&panicking).await, "succeeded");
    assert_eq!(database.query_i64("SELECT COUNT(*) FROM scheduled_step_retries", &[]), 0);
    assert_eq!(test.app.parked_steps(10).await.unwrap().1, 0);
}
