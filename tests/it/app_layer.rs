//! The app layer in process: an injected clock and id source (time-dependent rules without
//! sleeping, runs that repeat exactly) and the group commit seen from its callers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use harepay::app::scheduler::IdempotencyRetention;
use harepay::app::write::{IdempotencyInput, ToolWrite, WriteCommand, WriteOutcome};
use harepay::app::{App, Clock};
use harepay::engine::SequentialIds;
use harepay::engine::money::{Asset, Money};
use harepay::engine::payment::{NewPaymentIntent, PaymentMethod};
use harepay::engine::payout::{Destination, NewPayout};
use harepay::engine::permission::Action;
use harepay::engine::principal::Principal;
use harepay::engine::rail::Rail;
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::ops::account::get_balance::{GetBalance, GetBalanceArgs};
use harepay::ops::args::{PageLimit, StrictInteger};
use harepay::ops::audit::list_audit_log::{ListAuditLog, ListAuditLogArgs};
use harepay::ops::audit::list_events::{ListEvents, ListEventsArgs};
use harepay::ops::payments::create_payment_intent::CreatePaymentIntentCommand;
use harepay::ops::payments::list_payments::{ListPayments, ListPaymentsArgs};
use harepay::ops::payments::simulate_payment::{SimulatePaymentCommand, SimulatedOutcome};
use harepay::ops::payouts::approve_payout::ApprovePayoutCommand;
use harepay::ops::payouts::cancel_payout::CancelPayoutCommand;
use harepay::ops::payouts::create_payout::CreatePayoutCommand;
use harepay::ops::payouts::get_payout::{GetPayout, PayoutIdArgs};
use harepay::ops::{OpContext, ReadOperation};
use harepay::views::{PaymentIntentView, PayoutView};

/// A clock the test moves by hand.
pub struct ManualClock(pub AtomicI64);

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const HOUR_MS: i64 = 60 * 60 * 1000;

pub fn ngn(amount_minor: i64) -> Money {
    Money::new(Asset::lookup("NGN").unwrap(), amount_minor).unwrap()
}

/// A confirmed write by a maker, with `key` as its idempotency key.
pub fn tool_write<C>(actor: &Principal, operation: &'static str, key: &str, command: C) -> ToolWrite<C> {
    let idempotency = IdempotencyInput { key: key.to_owned(), request_sha256_hex: key.to_owned() };
    ToolWrite {
        actor: actor.clone(),
        operation,
        action: Action::Initiate,
        confirm: true,
        idempotency: Some(idempotency),
        description: operation.to_owned(),
        command,
    }
}

/// Runs a confirmed write that must execute; its result as the caller gets it.
pub async fn write<C: WriteCommand>(
    app: &App,
    actor: &Principal,
    operation: &'static str,
    key: &str,
    command: C,
) -> serde_json::Value {
    match app.execute(tool_write(actor, operation, key, command)).await.unwrap_or_else(|e| panic!("{operation}: {e}")) {
        WriteOutcome::Executed { view } => serde_json::to_value(view).unwrap(),
        other => panic!("{operation}: {:?}", other.outcome()),
    }
}

pub fn context(app: &App) -> OpContext {
    OpContext { app: app.clone(), visibility: Default::default() }
}

async fn get_payout(app: &App, maker: &Principal, id: &str) -> PayoutView {
    GetPayout::run(&context(app), maker, PayoutIdArgs { id: id.to_owned() }).await.unwrap()
}

async fn reserved_ngn(app: &App, maker: &Principal) -> i64 {
    let args = GetBalanceArgs { asset: "NGN".to_owned() };
    GetBalance::run(&context(app), maker, args).await.unwrap().reserved.amount
}

/// An NGN bank-transfer payment intent of `amount_minor`.
fn bank_transfer(amount_minor: i64) -> NewPaymentIntent {
    NewPaymentIntent {
        amount: ngn(amount_minor),
        network: None,
        method: PaymentMethod::BankTransfer,
        rail: Rail::Rubies,
        settle_as: None,
        customer: None,
        description: None,
        metadata: Default::default(),
        expires_in_ms: None,
    }
}

/// Credits the merchant with a settled NGN bank-transfer payment of `amount_minor` (less fees).
async fn settled_payment(app: &App, maker: &Principal, amount_minor: i64) {
    let request = bank_transfer(amount_minor);
    let payment = write(app, maker, "create_payment_intent", "pay-1", CreatePaymentIntentCommand(request)).await;
    let payment_intent_id = payment["id"].as_str().unwrap().to_owned();
    let settle = SimulatePaymentCommand { payment_intent_id, outcome: SimulatedOutcome::Succeeded, received: None };
    write(app, maker, "simulate_payment", "settle-1", settle).await;
}

#[tokio::test]
async fn an_approval_expires_after_72_hours_of_injected_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("clock.db"));
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let mut rules = PaymentRules::default();
    rules.approvals.threshold_minor_by_asset.insert("NGN", 100_000);
    let app = App::with_store(store, rules, clock.clone(), Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();

    settled_payment(&app, &maker, 1_000_000).await;
    let payout = write(
        &app,
        &maker,
        "create_payout",
        "payout-1",
        CreatePayoutCommand(NewPayout {
            amount: ngn(500_000),
            rail: Rail::Rubies,
            destination: Destination::Bank {
                account_no: "0123456789".into(),
                bank_code: "058".into(),
                account_name: None,
            },
            description: None,
            metadata: Default::default(),
        }),
    )
    .await;
    assert_eq!(payout["status"], "pending_approval");
    let id = payout["id"].as_str().unwrap().to_owned();

    // One millisecond short of 72 hours: the scheduler leaves it alone.
    clock.0.fetch_add(72 * HOUR_MS - 1, Ordering::SeqCst);
    app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
    assert_eq!(get_payout(&app, &maker, &id).await.status, "pending_approval");

    clock.0.fetch_add(1, Ordering::SeqCst);
    app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
    let expired = get_payout(&app, &maker, &id).await;
    assert_eq!(expired.status, "canceled");
    assert_eq!(expired.cancellation_reason.as_deref(), Some("approval_expired"));
    assert_eq!(reserved_ngn(&app, &maker).await, 0, "the expiry released the funds");
    assert!(app.verify_ledger().await.unwrap().is_sound());
}

/// Concurrent commands share durable commits, and a refused command in a group does not undo
/// its neighbours.
#[tokio::test]
async fn a_group_commit_isolates_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("group.db"));
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let app = App::with_store(store, PaymentRules::default(), clock, Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();
    settled_payment(&app, &maker, 10_000_000).await;
    let groups_before = app.writer_stats().groups_committed.load(Ordering::SeqCst);

    // 64 payouts at once; every fourth goes to an invalid account and is refused.
    let mut submitted = tokio::task::JoinSet::new();
    for index in 0..64 {
        let (app, maker) = (app.clone(), maker.clone());
        submitted.spawn(async move {
            let account_no = if index % 4 == 0 { "123".to_owned() } else { "0123456789".to_owned() };
            let command = CreatePayoutCommand(NewPayout {
                amount: ngn(10_000),
                rail: Rail::Rubies,
                destination: Destination::Bank { account_no, bank_code: "058".into(), account_name: None },
                description: None,
                metadata: Default::default(),
            });
            let write = tool_write(&maker, "create_payout", &format!("payout-{index}"), command);
            (index, app.execute(write).await)
        });
    }
    let (mut executed, mut refused) = (0, 0);
    while let Some(joined) = submitted.join_next().await {
        let (index, outcome) = joined.unwrap();
        match outcome {
            Ok(WriteOutcome::Executed { .. }) => executed += 1,
            Err(error) => {
                assert_eq!(index % 4, 0, "only the invalid ones are refused: {error}");
                assert_eq!(error.code(), "invalid_request");
                refused += 1;
            }
            Ok(other) => panic!("{:?}", other.outcome()),
        }
    }
    assert_eq!((executed, refused), (48, 16));
    let groups = app.writer_stats().groups_committed.load(Ordering::SeqCst) - groups_before;
    assert!(groups < 64, "64 concurrent commands took {groups} commits: no grouping happened");
    assert_eq!(reserved_ngn(&app, &maker).await, 48 * 10_000);
    assert!(app.verify_ledger().await.unwrap().is_sound());
}

/// Every refusal path of the app layer bounds what the audit log keeps, whatever reaches it: an
/// oversized idempotency key becomes a prefix and its SHA-256, a long detail is cut.
#[tokio::test]
async fn the_audit_log_keeps_a_bounded_record_of_any_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("audit.db"));
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let app = App::with_store(store, PaymentRules::default(), clock, Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();
    let huge_key = "k".repeat(1 << 20);

    // A refusal recorded before the engine (the tool layer's path).
    app.record_refusal(&maker, "create_payout", Some(huge_key.clone()), "invalid_request".into(), "m".repeat(1 << 20))
        .await;
    // A write the engine refuses, and one refused before it reaches the writer (an approver key
    // may not cancel).
    let missing = format!("po_{}", "x".repeat(1 << 20));
    let write = tool_write(&maker, "cancel_payout", &huge_key, CancelPayoutCommand { payout_id: missing.clone() });
    let error = app.execute(write).await.expect_err("no such payout");
    assert_eq!(error.code(), "not_found");
    assert!(error.to_string().len() < 200, "the message quotes a short prefix: {} bytes", error.to_string().len());
    let approver = app.authenticate("sk_test_demo_approver").await.unwrap();
    let write = tool_write(&approver, "cancel_payout", &huge_key, CancelPayoutCommand { payout_id: missing });
    assert_eq!(app.execute(write).await.expect_err("approvers do not cancel").code(), "forbidden");

    let args = ListAuditLogArgs { limit: None, starting_after: None };
    let records = ListAuditLog::run(&context(&app), &maker, args).await.unwrap().data;
    assert_eq!(records.len(), 3, "{records:?}");
    let expected_hash = harepay::app::keys::sha256_hex(&huge_key);
    for record in records {
        assert_eq!(record.outcome, "refused");
        let key = record.idempotency_key.expect("the key is recorded");
        assert!(key.starts_with(&"k".repeat(32)) && key.ends_with(&expected_hash), "{key}");
        assert!(key.chars().count() < 128, "{} characters", key.chars().count());
        assert!(record.detail.chars().count() <= harepay::limits::AUDIT_DETAIL_MAX_CHARS, "{}", record.detail.len());
    }
}

/// An app on a fresh database with a manual clock at `start_ms` and sequential ids.
async fn deterministic_app(dir: &tempfile::TempDir, start_ms: i64) -> (App, Arc<ManualClock>, Principal) {
    let store = crate::backend::open_store(&dir.path().join("app.db"));
    let clock = Arc::new(ManualClock(AtomicI64::new(start_ms)));
    let app = App::with_store(store, PaymentRules::default(), clock.clone(), Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();
    (app, clock, maker)
}

fn payment_request(amount_minor: i64) -> CreatePaymentIntentCommand {
    CreatePaymentIntentCommand(NewPaymentIntent {
        amount: ngn(amount_minor),
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

/// A confirmed write with an idempotency key whose request hash is `request`.
fn keyed(
    maker: &Principal,
    key: &str,
    request: &str,
    command: CreatePaymentIntentCommand,
) -> ToolWrite<CreatePaymentIntentCommand> {
    let mut write = tool_write(maker, "create_payment_intent", key, command);
    write.idempotency = Some(IdempotencyInput { key: key.to_owned(), request_sha256_hex: request.to_owned() });
    write
}

async fn keyed_write(
    app: &App,
    maker: &Principal,
    key: &str,
    request: &str,
    command: CreatePaymentIntentCommand,
) -> WriteOutcome<PaymentIntentView> {
    app.execute(keyed(maker, key, request, command)).await.unwrap_or_else(|error| panic!("{key}: {error}"))
}

fn object_id(outcome: &WriteOutcome<PaymentIntentView>) -> String {
    match outcome {
        WriteOutcome::Executed { view } => view.id.clone(),
        WriteOutcome::Replayed { stored_json } => {
            serde_json::from_str::<serde_json::Value>(stored_json).unwrap()["id"].as_str().unwrap().to_owned()
        }
        WriteOutcome::Preview { .. } => panic!("a preview"),
    }
}

async fn events(app: &App, maker: &Principal) -> Vec<harepay::ops::audit::list_events::EventView> {
    let args = ListEventsArgs {
        event_type: None,
        object_id: None,
        limit: Some(PageLimit(StrictInteger(100.into()))),
        starting_after: None,
    };
    ListEvents::run(&context(app), maker, args).await.unwrap().data
}

async fn audit_log(app: &App, maker: &Principal) -> Vec<harepay::ops::audit::list_audit_log::AuditEntryView> {
    let args = ListAuditLogArgs { limit: Some(PageLimit(StrictInteger(100.into()))), starting_after: None };
    ListAuditLog::run(&context(app), maker, args).await.unwrap().data
}

async fn payment_count(app: &App, maker: &Principal) -> usize {
    let args: ListPaymentsArgs = serde_json::from_value(serde_json::json!({"limit": 100})).unwrap();
    ListPayments::run(&context(app), maker, args).await.unwrap().data.len()
}

/// With the clock and the id source injected, the same commands give the same objects, events
/// and audit records, id for id and millisecond for millisecond.
#[tokio::test]
async fn the_same_commands_on_an_injected_clock_and_ids_give_the_same_records() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let (app, clock, maker) = deterministic_app(&dir, 5_000_000).await;
        settled_payment(&app, &maker, 1_000_000).await;
        clock.0.fetch_add(1_234, Ordering::SeqCst);
        let payout = write(
            &app,
            &maker,
            "create_payout",
            "payout-1",
            CreatePayoutCommand(NewPayout {
                amount: ngn(50_000),
                rail: Rail::Rubies,
                destination: Destination::Bank {
                    account_no: "0123456789".into(),
                    bank_code: "058".into(),
                    account_name: None,
                },
                description: None,
                metadata: Default::default(),
            }),
        )
        .await;
        runs.push((payout, events(&app, &maker).await, audit_log(&app, &maker).await));
    }
    let (payout, events, audit) = &runs[0];
    assert!(payout["id"].as_str().unwrap().starts_with("po_"), "{payout}");
    assert!(events.len() >= 4 && audit.len() == 3, "{events:?} {audit:?}");
    assert_eq!(runs[0], runs[1], "two runs of the same commands differ");
}

/// Idempotency records are kept for the retention (a retry replays, other arguments are refused)
/// and purged after it by the scheduler's purge, oldest first; a purged key is new again.
#[tokio::test]
async fn an_idempotency_key_replays_within_its_retention_and_is_new_after_it() {
    let start_ms = 10 * HOUR_MS;
    let dir = tempfile::tempdir().unwrap();
    let (app, clock, maker) = deterministic_app(&dir, start_ms).await;
    let retention = IdempotencyRetention::default();
    assert_eq!(retention.hours(), 24);
    assert!(IdempotencyRetention::from_hours(23).is_err(), "less than a day is refused");

    let old_id = object_id(&keyed_write(&app, &maker, "order-old", "first", payment_request(1_000)).await);
    clock.0.store(start_ms + HOUR_MS, Ordering::SeqCst);
    let young_id = object_id(&keyed_write(&app, &maker, "order-young", "first", payment_request(2_000)).await);

    // Exactly the retention old: kept.
    clock.0.store(start_ms + retention.ms(), Ordering::SeqCst);
    assert_eq!(app.purge_idempotency_records(retention).await.unwrap(), 0);
    let replayed = keyed_write(&app, &maker, "order-old", "first", payment_request(1_000)).await;
    assert!(matches!(replayed, WriteOutcome::Replayed { .. }), "{:?}", replayed.outcome());
    assert_eq!(object_id(&replayed), old_id);
    let reuse = keyed(&maker, "order-old", "other", payment_request(3_000));
    assert_eq!(app.execute(reuse).await.unwrap_err().code(), "idempotency_key_reused");

    // One millisecond older than the retention: purged, and the key is new.
    clock.0.store(start_ms + retention.ms() + 1, Ordering::SeqCst);
    assert_eq!(app.purge_idempotency_records(retention).await.unwrap(), 1, "only the old record");
    assert_eq!(app.purge_idempotency_records(retention).await.unwrap(), 0);
    let reused = keyed_write(&app, &maker, "order-old", "other", payment_request(3_000)).await;
    assert!(matches!(reused, WriteOutcome::Executed { .. }), "{:?}", reused.outcome());
    assert_ne!(object_id(&reused), old_id, "a new payment");
    let young = keyed_write(&app, &maker, "order-young", "first", payment_request(2_000)).await;
    assert!(matches!(young, WriteOutcome::Replayed { .. }), "the younger key still replays: {:?}", young.outcome());
    assert_eq!(object_id(&young), young_id);
    assert_eq!(payment_count(&app, &maker).await, 3, "each replay created nothing");
}

/// Another writer stores the same idempotency key between this command's lookup and its insert
/// (a database shared by several instances; here a trigger plays the other writer). The command
/// is undone and answered `idempotency_key_in_use`, audited as refused, never an internal error,
/// and the writer keeps serving: a retry once the race is over executes.
#[tokio::test]
async fn an_idempotency_key_stored_meanwhile_is_in_use_not_an_internal_error() {
    if crate::backend::skip_on_postgres(
        "a SQLite trigger plays the other writer; postgres_ledger races two processes' stores for the same key",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, _clock, maker) = deterministic_app(&dir, 1_000_000).await;
    let database = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    database
        .execute_batch(
            "CREATE TRIGGER another_writer_takes_the_key AFTER INSERT ON payment_intents BEGIN \
               INSERT INTO idempotency_records (merchant_id, mode, key, operation, request_sha256_hex, object_id, \
                 response_json, created_at_ms) \
               VALUES (NEW.merchant_id, NEW.mode, 'race-1', 'create_payment_intent', 'race', 'pi_other', '{}', 0); \
             END;",
        )
        .unwrap();
    let write = keyed(&maker, "race-1", "race", payment_request(1_000));
    let error = app.execute(write).await.expect_err("the key was taken meanwhile");
    assert_eq!(error.code(), "idempotency_key_in_use", "{error}");
    assert_eq!(payment_count(&app, &maker).await, 0);
    let audit = audit_log(&app, &maker).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].outcome.as_str(), audit[0].error_type.as_deref()),
        ("refused", Some("idempotency_key_in_use"))
    );

    database.execute_batch("DROP TRIGGER another_writer_takes_the_key").unwrap();
    let retried = keyed_write(&app, &maker, "race-1", "race", payment_request(1_000)).await;
    assert!(matches!(retried, WriteOutcome::Executed { .. }), "{:?}", retried.outcome());
    assert!(app.verify_ledger().await.unwrap().is_sound());
}

/// A payout counts against a rolling-day limit from its creation until a day after its release:
/// payouts left waiting for approval over several days cannot be released together beyond one
/// day's limit.
#[tokio::test]
async fn waiting_payouts_count_against_the_daily_limit_until_a_day_after_their_release() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("window.db"));
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let mut rules = PaymentRules::default();
    rules.approvals.threshold_minor_by_asset.insert("NGN", 100_000);
    rules.approvals.parse_merchant_daily_limits("NGN=1000000").unwrap();
    rules.approvals.expiry_ms = 72 * HOUR_MS;
    let app = App::with_store(store, rules, clock.clone(), Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();
    let approver = app.authenticate("sk_test_demo_approver").await.unwrap();
    settled_payment(&app, &maker, 10_000_000).await;
    let payout = |amount_minor| {
        CreatePayoutCommand(NewPayout {
            amount: ngn(amount_minor),
            rail: Rail::Rubies,
            destination: Destination::Bank {
                account_no: "0123456789".into(),
                bank_code: "058".into(),
                account_name: None,
            },
            description: None,
            metadata: Default::default(),
        })
    };
    let first = write(&app, &maker, "create_payout", "day-1-a", payout(500_000)).await;
    write(&app, &maker, "create_payout", "day-1-b", payout(500_000)).await;
    // A day and an hour later the two still wait: they still count, the day's limit is used up.
    clock.0.fetch_add(25 * HOUR_MS, Ordering::SeqCst);
    let refused = app.execute(tool_write(&maker, "create_payout", "day-2-a", payout(500_000))).await;
    assert_eq!(refused.expect_err("the waiting payouts count").code(), "limit_exceeded");
    // The first is released now: it counts until a day after its release.
    let mut approve = tool_write(
        &approver,
        "approve_payout",
        "approve-1",
        ApprovePayoutCommand { payout_id: first["id"].as_str().unwrap().to_owned(), reason: None },
    );
    approve.action = Action::DecideApproval;
    app.execute(approve).await.expect("approved");
    clock.0.fetch_add(23 * HOUR_MS, Ordering::SeqCst);
    let refused = app.execute(tool_write(&maker, "create_payout", "day-2-b", payout(1))).await;
    assert_eq!(refused.expect_err("released within the day, waiting still").code(), "limit_exceeded");
    clock.0.fetch_add(2 * HOUR_MS, Ordering::SeqCst);
    // A day after the release only the one still waiting counts.
    write(&app, &maker, "create_payout", "day-3-a", payout(500_000)).await;
    assert!(app.verify_ledger().await.unwrap().is_sound());
}

/// A flood of writes at once: the writer's groups never hold more commands than the store takes
/// in one transaction (on PostgreSQL 64, the subtransactions a server process keeps in shared
/// memory), and every write is answered.
#[tokio::test]
async fn a_flood_of_writes_is_grouped_within_what_the_store_takes_in_one_transaction() {
    const WRITES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("flood.db"));
    let group_commands_max = store.group_commands_max();
    let expected_max = if crate::backend::on_postgres() {
        harepay::limits::POSTGRES_GROUP_COMMIT_MAX_COMMANDS
    } else {
        harepay::limits::GROUP_COMMIT_MAX_COMMANDS
    };
    assert_eq!(group_commands_max, expected_max);
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let app = App::with_store(store, PaymentRules::default(), clock, Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();
    let mut writes = tokio::task::JoinSet::new();
    for index in 0..WRITES {
        let (app, maker) = (app.clone(), maker.clone());
        writes.spawn(async move {
            let request = bank_transfer(1_000);
            write(&app, &maker, "create_payment_intent", &format!("flood-{index}"), CreatePaymentIntentCommand(request))
                .await
        });
    }
    let answered = writes.join_all().await;
    assert_eq!(answered.len(), WRITES);
    let largest_group = app.writer_stats().largest_group.load(Ordering::Relaxed);
    assert!(largest_group > 1, "the flood was grouped");
    assert!(largest_group as usize <= group_commands_max, "a group of {largest_group} > {group_commands_max}");
}
