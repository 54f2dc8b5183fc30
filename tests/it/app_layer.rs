//! The app layer in process: an injected clock (time-dependent rules without sleeping) and the
//! group commit seen from its callers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use harepay::app::write::{Command, IdempotencyInput, SimulatedOutcome, ToolWrite, WriteOutcome};
use harepay::app::{App, Clock};
use harepay::engine::money::{Asset, Money};
use harepay::engine::payment::{NewPaymentIntent, PaymentMethod};
use harepay::engine::payout::{Destination, NewPayout, PayoutStatus};
use harepay::engine::principal::Principal;
use harepay::engine::rail::Rail;
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::store::sqlite::SqliteStore;

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

pub async fn write(app: &App, actor: &Principal, tool: &'static str, key: &str, command: Command) -> serde_json::Value {
    let idempotency = IdempotencyInput { key: key.to_owned(), request_sha256_hex: key.to_owned() };
    let write = ToolWrite { actor: actor.clone(), tool, confirm: true, idempotency: Some(idempotency), command };
    match app.execute(write).await.unwrap_or_else(|e| panic!("{tool}: {e}")) {
        WriteOutcome::Executed { response_json } => serde_json::from_str(&response_json).unwrap(),
        other => panic!("{tool}: {other:?}"),
    }
}

/// Credits the merchant with a settled NGN bank-transfer payment of `amount_minor` (less fees).
async fn settled_payment(app: &App, maker: &Principal, amount_minor: i64) {
    let request = NewPaymentIntent {
        amount: ngn(amount_minor),
        network: None,
        method: PaymentMethod::BankTransfer,
        rail: Rail::Rubies,
        settle_as: None,
        customer: None,
        description: None,
        metadata: Default::default(),
    };
    let payment = write(app, maker, "create_payment_intent", "pay-1", Command::CreatePaymentIntent(request)).await;
    let payment_intent_id = payment["id"].as_str().unwrap().to_owned();
    let settle = Command::SimulatePayment { payment_intent_id, outcome: SimulatedOutcome::Succeeded };
    write(app, maker, "simulate_payment", "settle-1", settle).await;
}

#[tokio::test]
async fn an_approval_expires_after_72_hours_of_injected_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("clock.db")).unwrap());
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let mut rules = PaymentRules::default();
    rules.approvals.threshold_minor_by_asset.insert("NGN", 100_000);
    let app = App::with_store(store, rules, clock.clone());
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();

    settled_payment(&app, &maker, 1_000_000).await;
    let payout = write(
        &app,
        &maker,
        "create_payout",
        "payout-1",
        Command::CreatePayout(NewPayout {
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
    assert_eq!(app.get_payout(&maker, id.clone()).await.unwrap().status, PayoutStatus::PendingApproval);

    clock.0.fetch_add(1, Ordering::SeqCst);
    app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
    let expired = app.get_payout(&maker, id.clone()).await.unwrap();
    assert_eq!(expired.status, PayoutStatus::Canceled);
    assert_eq!(expired.cancellation_reason.as_deref(), Some("approval_expired"));
    let balances = app.balances(&maker, Some(Asset::lookup("NGN").unwrap())).await.unwrap();
    let reserved = balances.iter().find(|row| row.account.code() == "reserved").unwrap();
    assert_eq!(reserved.balance_minor, 0, "the expiry released the funds");
    assert!(app.verify_ledger().await.unwrap().is_sound());
}

/// Concurrent commands share durable commits, and a refused command in a group does not undo
/// its neighbours.
#[tokio::test]
async fn a_group_commit_isolates_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("group.db")).unwrap());
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let app = App::with_store(store, PaymentRules::default(), clock);
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
            let command = Command::CreatePayout(NewPayout {
                amount: ngn(10_000),
                rail: Rail::Rubies,
                destination: Destination::Bank { account_no, bank_code: "058".into(), account_name: None },
                description: None,
                metadata: Default::default(),
            });
            let key = format!("payout-{index}");
            let idempotency = IdempotencyInput { key: key.clone(), request_sha256_hex: key };
            let write = ToolWrite {
                actor: maker,
                tool: "create_payout",
                confirm: true,
                idempotency: Some(idempotency),
                command,
            };
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
            Ok(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((executed, refused), (48, 16));
    let groups = app.writer_stats().groups_committed.load(Ordering::SeqCst) - groups_before;
    assert!(groups < 64, "64 concurrent commands took {groups} commits: no grouping happened");
    let balances = app.balances(&maker, Some(Asset::lookup("NGN").unwrap())).await.unwrap();
    let reserved = balances.iter().find(|row| row.account.code() == "reserved").unwrap();
    assert_eq!(reserved.balance_minor, 48 * 10_000);
    assert!(app.verify_ledger().await.unwrap().is_sound());
}

/// Every refusal path of the app layer bounds what the audit log keeps, whatever reaches it: an
/// oversized idempotency key becomes a prefix and its SHA-256, a long detail is cut.
#[tokio::test]
async fn the_audit_log_keeps_a_bounded_record_of_any_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("audit.db")).unwrap());
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let app = App::with_store(store, PaymentRules::default(), clock);
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();
    let huge_key = "k".repeat(1 << 20);

    // A refusal recorded before the engine (the tool layer's path).
    app.record_refusal(&maker, "create_payout", Some(huge_key.clone()), "invalid_request".into(), "m".repeat(1 << 20))
        .await;
    // A write the engine refuses, and one refused before it reaches the writer (an approver key
    // may not cancel).
    let missing = format!("po_{}", "x".repeat(1 << 20));
    let idempotency = IdempotencyInput { key: huge_key.clone(), request_sha256_hex: "h".into() };
    let write = ToolWrite {
        actor: maker.clone(),
        tool: "cancel_payout",
        confirm: true,
        idempotency: Some(idempotency.clone()),
        command: Command::CancelPayout { payout_id: missing.clone() },
    };
    let error = app.execute(write).await.expect_err("no such payout");
    assert_eq!(error.code(), "not_found");
    assert!(error.to_string().len() < 200, "the message quotes a short prefix: {} bytes", error.to_string().len());
    let approver = app.authenticate("sk_test_demo_approver").await.unwrap();
    let write = ToolWrite {
        actor: approver,
        tool: "cancel_payout",
        confirm: true,
        idempotency: Some(idempotency),
        command: Command::CancelPayout { payout_id: missing },
    };
    assert_eq!(app.execute(write).await.expect_err("approvers do not cancel").code(), "forbidden");

    let page = harepay::store::PageRequest { limit: 10, starting_after: None };
    let records = app.list_audit(&maker, page).await.unwrap().items;
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
